//! `pushpull autobahn-client`: our WebSocket client against Autobahn's
//! fuzzingserver (as run by `kosoku -m fuzzingserver`).
//!
//! The fuzzingserver protocol, one WebSocket connection per step:
//!
//! 1. `/getCaseCount`: the server sends one text message, the number of
//!    cases N in decimal, and closes.
//! 2. `/runCase?case=n&agent=AGENT` for n in 1..=N: the test itself. The
//!    client echoes every text and binary message back unchanged until the
//!    connection closes; everything else (pings, UTF-8 checks, failing with
//!    the right close code) is the [`Connection`]'s job.
//! 3. `/updateReports?agent=AGENT`: the server writes its reports. It may
//!    drop this connection without a Close frame, which counts as success.
//!
//! Every connection offers permessage-deflate (RFC 7692) unless
//! `--no-deflate` says otherwise; sections 12 and 13 test it.
//!
//! The cases run one after another, so this mode uses plain blocking sockets;
//! the chat clients' event-driven [`driver`](super::driver) is not needed.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::url::{Scheme, Url, UrlError};
use crate::websocket::handshake::ClientHandshake;
use crate::websocket::{Config, Connection, Event, Role};

/// Largest message the cases may send (section 9 goes up to 16 MiB).
pub const AUTOBAHN_MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Longest one case may take before it is abandoned (section 9 cases take
/// seconds; this bounds a stalled server).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Size of one socket read.
const READ_BUFFER: usize = 64 * 1024;

/// Characters allowed unescaped in a query value (RFC 3986 §2.3 unreserved).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutobahnSummary {
    pub cases: u32,
    /// Messages echoed over all cases.
    pub echoed: u64,
}

/// How one WebSocket session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionEnd {
    /// Text messages received, in order (only kept when asked for).
    texts: Vec<String>,
    echoed: u64,
    /// Whether the closing handshake completed before TCP closed.
    clean: bool,
}

/// Runs every case the fuzzingserver at `base` offers, then asks it to
/// write its reports. With `deflate`, each connection offers
/// permessage-deflate.
pub fn run(base: &Url, agent: &str, deflate: bool) -> io::Result<AutobahnSummary> {
    if base.scheme != Scheme::Ws {
        return Err(UrlError::UnknownScheme(base.scheme.as_str().into()).into());
    }
    let agent = percent_encode(agent);

    let count = case_count(base, deflate)?;
    info!("fuzzingserver offers {count} cases");

    let mut echoed = 0;
    for case in 1..=count {
        let url = base.with_path(&format!("/runCase?case={case}&agent={agent}"));
        let end = session(&url, false, deflate)?;
        debug!(
            "case {case}: echoed {}, clean close: {}",
            end.echoed, end.clean
        );
        echoed += end.echoed;
    }

    let url = base.with_path(&format!("/updateReports?agent={agent}"));
    session(&url, false, deflate)?;
    info!("ran {count} cases, echoed {echoed} messages; reports updated");
    Ok(AutobahnSummary {
        cases: count,
        echoed,
    })
}

/// Step 1: the number of cases, sent as the one text message of the
/// `/getCaseCount` connection.
fn case_count(base: &Url, deflate: bool) -> io::Result<u32> {
    let end = session(&base.with_path("/getCaseCount"), true, deflate)?;
    let text = end.texts.first().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "getCaseCount sent no message")
    })?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("getCaseCount sent {text:?}, not a number"),
        )
    })
}

/// One WebSocket connection: open it, echo data messages until it closes.
/// With `keep_texts` the texts are returned instead of echoed.
fn session(url: &Url, keep_texts: bool, deflate: bool) -> io::Result<SessionEnd> {
    let (mut stream, mut connection) = open(url, deflate)?;
    let deadline = Instant::now() + CASE_TIMEOUT;
    let mut end = SessionEnd {
        texts: Vec::new(),
        echoed: 0,
        clean: false,
    };
    let mut buf = vec![0; READ_BUFFER];

    loop {
        handle_events(&mut connection, &mut end, keep_texts);
        if let Err(error) = flush(&mut stream, &mut connection) {
            // The peer is gone; what it sent is all there is.
            debug!("{url}: write failed: {error}");
            end.clean = connection.on_eof();
        }
        if connection.should_close_tcp() {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(end);
        }
        if Instant::now() >= deadline {
            warn!("{url}: gave up after {CASE_TIMEOUT:?}");
            return Ok(end);
        }
        read_some(&mut stream, &mut connection, &mut buf, deadline, &mut end)?;
    }
}

/// Connects, sends the opening handshake and reads its response; bytes that
/// followed the response head are fed to the new connection.
fn open(url: &Url, deflate: bool) -> io::Result<(TcpStream, Connection)> {
    let mut stream = TcpStream::connect(url.socket_addr()?)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(CASE_TIMEOUT))?;

    let mut handshake =
        ClientHandshake::new(&url.host_header(), &url.path, ClientHandshake::random_key());
    if deflate {
        handshake = handshake.offering_deflate();
    }
    stream.write_all(&handshake.request())?;

    let mut received = Vec::new();
    let mut buf = vec![0; READ_BUFFER];
    let accepted = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(buf.get(..n).unwrap_or_default());
        match handshake.check_response_negotiated(&received) {
            Ok(Some(accepted)) => break accepted,
            Ok(None) => continue,
            Err(error) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    error.to_string(),
                ));
            }
        }
    };

    let config = Config {
        max_message_size: AUTOBAHN_MAX_MESSAGE,
        ..Config::default()
    };
    let mut connection = Connection::new(Role::Client, config);
    if let Some(params) = accepted.deflate {
        debug!("{url}: permessage-deflate agreed: {params:?}");
        connection = connection.with_deflate(params);
    }
    connection.receive(received.get(accepted.head_len..).unwrap_or_default());
    Ok((stream, connection))
}

/// Echoes data messages; control frames are answered by the connection.
fn handle_events(connection: &mut Connection, end: &mut SessionEnd, keep_texts: bool) {
    while let Some(event) = connection.next_event() {
        let sent = match event {
            Event::Text(text) if keep_texts => {
                end.texts.push(text);
                continue;
            }
            Event::Text(text) => connection.send_text(&text),
            Event::Binary(data) => connection.send_binary(&data),
            Event::Ping(_) | Event::Pong(_) => continue,
            Event::Close { code, reason } => {
                debug!("server closed with {code:?} {reason:?}");
                continue;
            }
            Event::Failed(error) => {
                debug!("failed the connection: {error}");
                continue;
            }
        };
        match sent {
            Ok(()) => end.echoed += 1,
            Err(error) => debug!("echo not sent: {error:?}"),
        }
    }
}

/// Writes everything the connection has queued.
fn flush(stream: &mut TcpStream, connection: &mut Connection) -> io::Result<()> {
    while let Some(chunk) = connection.take_output() {
        stream.write_all(chunk.as_ref())?;
    }
    Ok(())
}

/// One blocking read, bounded by the connection's close deadline and the
/// case deadline, fed to the connection.
fn read_some(
    stream: &mut TcpStream,
    connection: &mut Connection,
    buf: &mut [u8],
    deadline: Instant,
    end: &mut SessionEnd,
) -> io::Result<()> {
    let now = Instant::now();
    let wake = connection
        .close_deadline()
        .map_or(deadline, |d| d.min(deadline));
    // A zero timeout means "block forever" to the OS, so wait at least 1 ms.
    let timeout = wake
        .saturating_duration_since(now)
        .max(Duration::from_millis(1));
    stream.set_read_timeout(Some(timeout))?;

    match stream.read(buf) {
        Ok(0) => end.clean = connection.on_eof(),
        Ok(n) => connection.receive(buf.get(..n).unwrap_or_default()),
        // The read timed out: a close deadline may have passed.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            connection.on_timeout(Instant::now())
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        // Reset by the peer: the same as an unclean end of file.
        Err(e) => {
            debug!("read failed: {e}");
            end.clean = connection.on_eof();
        }
    }
    Ok(())
}

/// Escapes a query value (RFC 3986 §2.1 percent-encoding).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if is_unreserved(b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3986_section2_1_agent_is_percent_encoded() {
        assert_eq!(percent_encode("pushpull"), "pushpull");
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn http_base_url_is_refused() {
        let url = Url::parse("http://127.0.0.1:9/").unwrap();
        assert!(run(&url, "x", true).is_err());
    }
}
