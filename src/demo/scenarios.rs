//! The scripted exchanges, one function per scenario. Each opens its own TCP
//! connection(s), writes exactly the scripted bytes, checks the server's
//! answers and waits for the server to close TCP before the next one starts.

use std::io;

use super::Demo;
use super::record::{ConnectionRecord, HttpRecord};
use super::wire::Wire;
use crate::chat::ClientMessage;
use crate::client::latency::unix_ms_now;
use crate::client::seeded::FIXED_CLOCK_UNIX_MS;
use crate::websocket::close::{CLOSE_CODE_LEN, encode_close_body};
use crate::websocket::handshake::{ClientHandshake, WEBSOCKET_VERSION};
use crate::websocket::{CloseCode, Opcode};

/// The echo endpoint (messages up to 16 MiB by default): frames come back as sent.
pub const ECHO_PATH: &str = "/echo";
/// The chat room's WebSocket endpoint.
pub const CHAT_PATH: &str = "/ws";
/// The polling endpoint.
pub const MESSAGES_PATH: &str = "/messages";
/// The sender name of every demo chat message.
pub const DEMO_NAME: &str = "demo";
/// A version RFC 6455 does not define (drafts used 8), answered with 426 (§4.4).
pub const UNSUPPORTED_VERSION: &str = "8";
/// The three payload length encodings (RFC 6455 §5.2): the largest 7-bit
/// length, the smallest 16-bit one, and one that needs 64 bits.
pub const LENGTHS: [usize; 3] = [125, 126, 65_536];
/// The binary message: a few bytes that are not UTF-8 text.
pub const BINARY_PAYLOAD: [u8; 8] = [0x00, 0x01, 0x02, 0x03, 0x80, 0xfe, 0xff, 0x7f];
/// The reason sent with the close code in the closing-handshake scenario.
pub const CLOSE_REASON: &str = "bye";

/// HTTP status of a refused version (RFC 6455 §4.4).
const STATUS_UPGRADE_REQUIRED: &str = " 426 ";
/// The statuses of a poll and of a stored post.
const STATUS_OK: &str = " 200 ";
const STATUS_CREATED: &str = " 201 ";

/// The opening handshake on `/ws` and one chat message, pushed back by the room.
pub fn handshake(demo: &mut Demo) -> io::Result<()> {
    let mut wire = open(demo, "handshake", CHAT_PATH)?;
    let json = demo.chat_json("hello over a WebSocket");
    wire.send_frame(Opcode::Text, true, json.as_bytes())?;

    // The room answers with the stored message: the same fields plus its id.
    let pushed = wire.expect_frame(Opcode::Text)?;
    expect(
        pushed.payload.starts_with(b"{\"id\":"),
        "the room pushes the stored message",
    )?;
    demo.keep(close(wire, CloseCode::NORMAL.0, "")?);
    Ok(())
}

/// A handshake asking for another version: 426 and the version we speak.
pub fn bad_version(demo: &mut Demo) -> io::Result<()> {
    let mut wire = demo.connect("bad-version")?;
    let handshake = ClientHandshake::new(&demo.options.host, ECHO_PATH, wire.nonce());
    let request = String::from_utf8_lossy(&handshake.request()).replace(
        &format!("Sec-WebSocket-Version: {WEBSOCKET_VERSION}"),
        &format!("Sec-WebSocket-Version: {UNSUPPORTED_VERSION}"),
    );
    wire.send_http(request.as_bytes(), b"")?;

    let response = wire.read_http()?;
    expect_status(&response, STATUS_UPGRADE_REQUIRED)?;
    demo.keep(wire.expect_eof()?);
    Ok(())
}

/// "Hello" in two frames with a ping between them: control frames may come
/// in the middle of a fragmented message (RFC 6455 §5.4, §5.5).
pub fn fragmented(demo: &mut Demo) -> io::Result<()> {
    let mut wire = open(demo, "fragmented", ECHO_PATH)?;
    wire.send_frame(Opcode::Text, false, b"Hel")?;
    wire.send_frame(Opcode::Ping, true, b"still there?")?;

    // The pong answers at once, in the middle of the message. Waiting for it
    // before the last fragment also keeps the capture the same every run:
    // the pong and the echo always leave in separate segments.
    let pong = wire.expect_frame(Opcode::Pong)?;
    expect(
        pong.payload == b"still there?",
        "the pong carries the ping's payload",
    )?;
    wire.send_frame(Opcode::Continuation, true, b"lo")?;
    let echo = wire.expect_frame(Opcode::Text)?;
    expect(echo.payload == b"Hello", "the echo is the whole message")?;
    demo.keep(close(wire, CloseCode::NORMAL.0, "")?);
    Ok(())
}

/// Text messages of 125, 126 and 65,536 bytes: 7-bit, 16-bit and 64-bit
/// payload lengths (RFC 6455 §5.2).
pub fn lengths(demo: &mut Demo) -> io::Result<()> {
    let mut wire = open(demo, "lengths", ECHO_PATH)?;
    for len in LENGTHS {
        let text = filler(len);
        wire.send_frame(Opcode::Text, true, text.as_bytes())?;
        let echo = wire.expect_frame(Opcode::Text)?;
        expect(
            echo.payload == text.as_bytes(),
            "the echo has the same length and text",
        )?;
    }
    demo.keep(close(wire, CloseCode::NORMAL.0, "")?);
    Ok(())
}

/// One binary message (opcode 2): bytes that are not text.
pub fn binary(demo: &mut Demo) -> io::Result<()> {
    let mut wire = open(demo, "binary", ECHO_PATH)?;
    wire.send_frame(Opcode::Binary, true, &BINARY_PAYLOAD)?;
    let echo = wire.expect_frame(Opcode::Binary)?;
    expect(
        echo.payload == BINARY_PAYLOAD,
        "the echo has the same bytes",
    )?;
    demo.keep(close(wire, CloseCode::NORMAL.0, "")?);
    Ok(())
}

/// The closing handshake with a code and a reason (RFC 6455 §5.5.1, §7):
/// the server echoes the code and closes TCP first.
pub fn close_handshake(demo: &mut Demo) -> io::Result<()> {
    let wire = open(demo, "close", ECHO_PATH)?;
    demo.keep(close(wire, CloseCode::NORMAL.0, CLOSE_REASON)?);
    Ok(())
}

/// An unmasked client frame (RFC 6455 §5.1: the server MUST close the
/// connection) earns a Close with 1002, then the server closes TCP.
pub fn protocol_error(demo: &mut Demo) -> io::Result<()> {
    let mut wire = open(demo, "protocol-error", ECHO_PATH)?;
    wire.send_frame_with(Opcode::Text, true, b"not masked", None)?;

    let close = wire.expect_frame(Opcode::Close)?;
    let code = close
        .payload
        .first_chunk::<CLOSE_CODE_LEN>()
        .map(|c| u16::from_be_bytes(*c));
    expect(
        code == Some(CloseCode::PROTOCOL_ERROR.0),
        "the server closes with 1002",
    )?;
    demo.keep(wire.expect_eof()?);
    Ok(())
}

/// Polling, one TCP connection per request: an empty poll, a post, and the
/// poll that returns it. On a fresh server the first poll is empty.
pub fn polling(demo: &mut Demo) -> io::Result<()> {
    let poll = format!("{MESSAGES_PATH}?since=0");
    let empty = http_exchange(demo, "GET", &poll, "")?;
    expect_status(&empty, STATUS_OK)?;

    let json = demo.chat_json("hello by polling");
    let posted = http_exchange(demo, "POST", MESSAGES_PATH, &json)?;
    expect_status(&posted, STATUS_CREATED)?;

    let full = http_exchange(demo, "GET", &poll, "")?;
    expect_status(&full, STATUS_OK)?;
    expect(
        full.body.contains("hello by polling"),
        "the second poll returns the post",
    )
}

/// Connect and complete the opening handshake on `path`.
fn open(demo: &mut Demo, scenario: &str, path: &str) -> io::Result<Wire> {
    let mut wire = demo.connect(scenario)?;
    let handshake = ClientHandshake::new(&demo.options.host, path, wire.nonce());
    wire.send_http(&handshake.request(), b"")?;
    wire.read_head_with(|inbox| {
        handshake
            .check_response(inbox)
            .map_err(|e| io::Error::other(format!("handshake refused: {e}")))
    })?;
    Ok(wire)
}

/// Send a Close, read the server's, and wait for the server to close TCP.
fn close(mut wire: Wire, code: u16, reason: &str) -> io::Result<ConnectionRecord> {
    wire.send_frame(Opcode::Close, true, &encode_close_body(Some(code), reason))?;
    let echo = wire.expect_frame(Opcode::Close)?;
    let echoed = echo
        .payload
        .first_chunk::<CLOSE_CODE_LEN>()
        .map(|c| u16::from_be_bytes(*c));
    expect(echoed == Some(code), "the server echoes our close code")?;
    wire.expect_eof()
}

/// One HTTP request on its own connection (`Connection: close`).
fn http_exchange(
    demo: &mut Demo,
    method: &str,
    target: &str,
    body: &str,
) -> io::Result<HttpRecord> {
    let mut wire = demo.connect("polling")?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\n",
        demo.options.host
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    wire.send_http(head.as_bytes(), body.as_bytes())?;

    let response = wire.read_http()?;
    demo.keep(wire.expect_eof()?);
    Ok(response)
}

impl Demo {
    /// A chat message from [`DEMO_NAME`], stamped now or with the fixed clock.
    fn chat_json(&self, text: &str) -> String {
        let message = ClientMessage {
            name: DEMO_NAME.to_string(),
            text: text.to_string(),
            sent_at: match self.options.fixed_clock {
                true => FIXED_CLOCK_UNIX_MS,
                false => unix_ms_now(),
            },
        };
        serde_json::to_string(&message).unwrap_or_default()
    }
}

/// `len` bytes of readable text: the alphabet over and over.
pub fn filler(len: usize) -> String {
    (b'a'..=b'z').cycle().take(len).map(char::from).collect()
}

fn expect_status(response: &HttpRecord, status: &str) -> io::Result<()> {
    let first = response.head.lines().next().unwrap_or("");
    expect(
        first.contains(status),
        &format!("the server answers{status}(got {first:?})"),
    )
}

fn expect(ok: bool, what: &str) -> io::Result<()> {
    match ok {
        true => Ok(()),
        false => Err(io::Error::other(format!("demo expectation failed: {what}"))),
    }
}
