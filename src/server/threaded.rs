//! The thread-per-connection polling server: blocking `std::net`, one OS thread for each
//! accepted connection, like the Python experiment's `ThreadingHTTPServer`. It is the
//! contrast to the single-threaded event loop: simple to read, but every open connection
//! costs a thread and its stack.
//!
//! Each connection thread reads into the shared sans-I/O [`RequestParser`], answers each
//! complete request with [`polling::handle`] (the room sits behind one `Mutex`), and keeps
//! the connection alive as HTTP/1.x allows. It serves polling only: `/ws` is refused with
//! 501, since WebSocket support lives in the event-loop server (`pushpull serve`).
//!
//! The listen backlog is [`ThreadedConfig::backlog`] (see [`super::listen`]); a burst of
//! connections beyond it makes clients wait for handshake retransmissions.
//!
//! [`ThreadedHandle::shutdown`] stops accepting, then waits up to [`SHUTDOWN_GRACE`] for
//! the requests in progress (from their first byte to their response) to be answered;
//! each of those answers says `Connection: close`. Idle keep-alive connections are left
//! to end with the process.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use crate::chat::{DEFAULT_LOG_CAPACITY, Room, polling};
use crate::http::{HttpError, Limits, Parsed, Request, RequestParser, Response, error_response};
use crate::server::SHUTDOWN_GRACE;
use crate::stats::Stats;

/// Default for [`ThreadedConfig::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may wait for a client that does not read (the event loop's
/// default `write_stall_timeout` too).
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 8 * 1024;
/// The interim response to `Expect: 100-continue` (RFC 9110 §15.2.1).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// How long, and how much, to drain from a client after answering and closing, so the
/// kernel does not reset the connection before the client reads the answer
/// (RFC 9112 §9.6).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_MAX_BYTES: usize = 64 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// How long shutdown waits for the connection that wakes the accept loop.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);
/// How often shutdown looks whether the requests in progress have been answered.
const IN_FLIGHT_CHECK: Duration = Duration::from_millis(10);
/// The WebSocket path, which this server refuses.
const WS_PATH: &str = "/ws";
const NO_WEBSOCKET: &str = "this server has no WebSocket support; use pushpull serve";

/// Settings for [`ThreadedServer`].
#[derive(Debug, Clone)]
pub struct ThreadedConfig {
    pub limits: Limits,
    /// Messages the room keeps for pollers.
    pub log_capacity: usize,
    /// Silence the per-message `[server] Name: text` log line.
    pub quiet: bool,
    /// A request partway in must complete within this (else 408), and an idle keep-alive
    /// connection is closed after it (default 10 s).
    pub request_timeout: Duration,
    /// Length of the kernel's accept queue (see [`super::listen`]).
    pub backlog: u32,
}

impl Default for ThreadedConfig {
    fn default() -> Self {
        ThreadedConfig {
            limits: Limits::default(),
            log_capacity: DEFAULT_LOG_CAPACITY,
            quiet: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            backlog: super::DEFAULT_BACKLOG,
        }
    }
}

/// What every connection thread shares.
#[derive(Debug)]
struct Shared {
    room: Mutex<Room>,
    stats: Arc<Stats>,
    limits: Limits,
    request_timeout: Duration,
    /// Requests between their first byte and their response written (see [`InFlight`]).
    in_flight: AtomicUsize,
    /// A shutdown began: every answer from now on closes its connection.
    stopping: AtomicBool,
}

/// One request in progress, counted in [`Shared::in_flight`] for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A bound, not yet accepting, threaded server.
#[derive(Debug)]
pub struct ThreadedServer {
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl ThreadedServer {
    /// Bind `addr` (port 0 picks a free port) with fresh counters.
    pub fn bind(addr: SocketAddr, config: ThreadedConfig) -> io::Result<Self> {
        ThreadedServer::bind_with_stats(addr, config, Arc::new(Stats::new()))
    }

    /// Bind `addr`, counting into `stats` (e.g. an experiment's own counters).
    pub fn bind_with_stats(
        addr: SocketAddr,
        config: ThreadedConfig,
        stats: Arc<Stats>,
    ) -> io::Result<Self> {
        let listener = super::listen(addr, config.backlog)?;
        let addr = listener.local_addr()?;
        let room = Room::new(config.log_capacity, Arc::clone(&stats), config.quiet);
        let shared = Arc::new(Shared {
            room: Mutex::new(room),
            stats,
            limits: config.limits,
            request_timeout: config.request_timeout,
            in_flight: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        });
        Ok(ThreadedServer {
            listener,
            addr,
            shared,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.shared.stats)
    }

    /// Accept on a background thread until [`ThreadedHandle::shutdown`].
    pub fn spawn(self) -> io::Result<ThreadedHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let handle_stop = Arc::clone(&stop);
        let (addr, shared) = (self.addr, Arc::clone(&self.shared));
        info!("threaded server listening on http://{addr} (one thread per connection)");

        let thread = thread::Builder::new()
            .name("threaded-accept".into())
            .spawn(move || accept_loop(&self.listener, &self.shared, &stop))?;
        Ok(ThreadedHandle {
            addr,
            shared,
            stop: handle_stop,
            thread: Some(thread),
        })
    }
}

/// A running [`ThreadedServer`]. Dropping it shuts the server down too.
#[derive(Debug)]
pub struct ThreadedHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ThreadedHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.shared.stats)
    }

    /// Stop accepting, then wait up to [`SHUTDOWN_GRACE`] for the requests in progress to
    /// be answered (see the module docs).
    pub fn shutdown(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if self.thread.is_none() {
            return;
        }
        info!("threaded server on {} shutting down", self.addr);
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.stop_accepting();

        let give_up_at = Instant::now() + SHUTDOWN_GRACE;
        let mut unanswered = self.shared.in_flight.load(Ordering::SeqCst);
        while unanswered > 0 && Instant::now() < give_up_at {
            thread::sleep(IN_FLIGHT_CHECK);
            unanswered = self.shared.in_flight.load(Ordering::SeqCst);
        }
        info!(
            "threaded server on {} stopped: {unanswered} requests left unanswered",
            self.addr
        );
    }

    fn stop_accepting(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);

        // `accept` blocks; one connection of our own wakes it to see the flag.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        if let Err(err) = TcpStream::connect_timeout(&wake, WAKE_TIMEOUT) {
            warn!("cannot wake the accept loop at {wake}: {err}");
            return;
        }
        let _ = thread.join();
    }
}

impl Drop for ThreadedHandle {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match stream {
            Ok(stream) => start_connection(stream, shared),
            // Out of descriptors or memory, or a connection reset while queued: log it,
            // pause briefly in case the condition persists, and keep accepting.
            Err(err) => {
                warn!("accept failed: {err}");
                thread::sleep(ACCEPT_ERROR_PAUSE);
            }
        }
    }
}

fn start_connection(stream: TcpStream, shared: &Arc<Shared>) {
    Stats::add(&shared.stats.connections_opened, 1);
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "unknown peer".into(), |a| a.to_string());

    // Responses are small and written whole; Nagle would only delay them.
    if let Err(err) = stream.set_nodelay(true) {
        debug!("{peer}: cannot set TCP_NODELAY: {err}");
    }
    // A client that stops reading must not hold this thread forever: a write that makes
    // no progress for this long fails, and the connection ends as an abnormal drop.
    if let Err(err) = stream.set_write_timeout(Some(WRITE_STALL_TIMEOUT)) {
        debug!("{peer}: cannot set a write timeout: {err}");
    }

    let thread_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("threaded-conn".into())
        .spawn(move || serve_connection(stream, &thread_shared, &peer));
    if let Err(err) = spawned {
        warn!("cannot start a connection thread, dropping the connection: {err}");
        Stats::add(&shared.stats.connections_closed, 1);
    }
}

/// How a connection ended, for the close log line.
#[derive(Debug)]
enum Ending {
    ClientClosed,
    ClientClosedMidRequest,
    IdleTimeout,
    ServerClosed,
    Refused(HttpError),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::ClientClosed => f.write_str("client closed"),
            Ending::ClientClosedMidRequest => f.write_str("client closed mid-request"),
            Ending::IdleTimeout => f.write_str("idle timeout"),
            Ending::ServerClosed => f.write_str("closed after the response"),
            Ending::Refused(err) => write!(f, "refused with {}: {err}", err.status()),
        }
    }
}

fn serve_connection(mut stream: TcpStream, shared: &Shared, peer: &str) {
    debug!("{peer}: connection open");
    match Connection::new(shared).serve(&mut stream) {
        Ok(Ending::ClientClosedMidRequest) => {
            debug!("{peer}: connection dropped abnormally (client closed mid-request)")
        }
        Ok(ending) => debug!("{peer}: connection closed cleanly ({ending})"),
        Err(err) => debug!("{peer}: connection dropped abnormally ({err})"),
    }
    Stats::add(&shared.stats.connections_closed, 1);
}

/// One connection's parser and request deadline.
struct Connection<'a> {
    shared: &'a Shared,
    parser: RequestParser,
    /// When the request partway in must be complete; `None` between requests.
    deadline: Option<Instant>,
    /// Counts the request partway in, for as long as `deadline` is set.
    partway: Option<InFlight<'a>>,
}

impl<'a> Connection<'a> {
    fn new(shared: &'a Shared) -> Self {
        Connection {
            shared,
            parser: RequestParser::new(shared.limits),
            deadline: None,
            partway: None,
        }
    }

    /// Read, answer, repeat, until either side closes.
    fn serve(&mut self, stream: &mut TcpStream) -> io::Result<Ending> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if let Some(ending) = self.answer_complete(stream)? {
                return Ok(ending);
            }

            // The deadline runs from the first byte of a request to its last.
            if self.parser.is_idle() {
                self.deadline = None;
                self.partway = None;
            } else if self.deadline.is_none() {
                self.deadline = Some(Instant::now() + self.shared.request_timeout);
                self.partway = Some(InFlight::enter(&self.shared.in_flight));
            }
            let wait = self
                .deadline
                .map_or(self.shared.request_timeout, |deadline| {
                    deadline.saturating_duration_since(Instant::now())
                });

            match read_with_timeout(stream, &mut chunk, wait)? {
                Some(0) if self.parser.is_idle() => return Ok(Ending::ClientClosed),
                Some(0) => return Ok(Ending::ClientClosedMidRequest),
                Some(n) => self.parser.push(&chunk[..n]),
                None if self.parser.is_idle() => return Ok(Ending::IdleTimeout),
                None => {
                    self.partway = None;
                    return refuse(stream, self.shared, &HttpError::RequestTimeout);
                }
            }
        }
    }

    /// Answer every request the parser can complete from what is buffered. `Some` when
    /// the connection is to close.
    fn answer_complete(&mut self, stream: &mut TcpStream) -> io::Result<Option<Ending>> {
        loop {
            let parsed = match self.parser.next() {
                Ok(Some(parsed)) => parsed,
                Ok(None) => return Ok(None),
                // A refused request is no longer in flight: no shutdown waits for it.
                Err(err) => {
                    self.partway = None;
                    return refuse(stream, self.shared, &err).map(Some);
                }
            };
            match parsed {
                Parsed::Continue => stream.write_all(CONTINUE)?,
                Parsed::Request(request) => {
                    self.deadline = None;
                    // In flight until answered, whether or not it arrived in one read.
                    let answering = self
                        .partway
                        .take()
                        .unwrap_or_else(|| InFlight::enter(&self.shared.in_flight));
                    let keep_open = respond(stream, self.shared, &request)?;
                    drop(answering);
                    if !keep_open {
                        linger_close(stream);
                        return Ok(Some(Ending::ServerClosed));
                    }
                }
            }
        }
    }
}

/// One read bounded by `wait`: `Some(n)` bytes (0 at end of stream), `None` on timeout.
fn read_with_timeout(
    stream: &mut TcpStream,
    chunk: &mut [u8],
    wait: Duration,
) -> io::Result<Option<usize>> {
    // A zero timeout is refused by `set_read_timeout`; the deadline has passed anyway.
    if wait.is_zero() {
        return Ok(None);
    }
    stream.set_read_timeout(Some(wait))?;
    loop {
        match stream.read(chunk) {
            Ok(n) => return Ok(Some(n)),
            // A timed-out blocking read reports WouldBlock on Unix, TimedOut on Windows.
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(None);
            }
            // A signal interrupted the read before any byte arrived: just read again.
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Answer one request. Returns whether the connection stays open.
fn respond(stream: &mut TcpStream, shared: &Shared, request: &Request) -> io::Result<bool> {
    Stats::add(&shared.stats.http_requests, 1);

    let response = match request.head.path() == WS_PATH {
        true => polling::error(501, NO_WEBSOCKET),
        false => {
            let mut room = shared.room.lock().unwrap_or_else(PoisonError::into_inner);
            polling::handle(request, &mut room).response
        }
    };
    let mut response = response.for_request(&request.head);
    // Shutting down: this answer is the connection's last (RFC 9112 §9.6).
    if shared.stopping.load(Ordering::SeqCst) {
        response.close = true;
    }

    send(stream, shared, &response, request.head.method == "HEAD")?;
    Ok(!response.close)
}

/// Answer a refused request with its error status and close.
fn refuse(stream: &mut TcpStream, shared: &Shared, err: &HttpError) -> io::Result<Ending> {
    send(stream, shared, &error_response(err), false)?;
    linger_close(stream);
    Ok(Ending::Refused(err.clone()))
}

/// Count and write one response. Every answer goes through here, so each 4xx/5xx is
/// counted once, as the event loop counts them.
fn send(
    stream: &mut TcpStream,
    shared: &Shared,
    response: &Response,
    head_only: bool,
) -> io::Result<()> {
    shared.stats.count_answer(response.status);
    stream.write_all(&response.encode(head_only))
}

/// Close our side, then read and discard what the client still sends for a short while:
/// closing with unread bytes makes the kernel send RST, which can destroy the response
/// before the client reads it (RFC 9112 §9.6).
fn linger_close(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let give_up = Instant::now() + LINGER_TIME;
    let mut chunk = [0u8; READ_CHUNK];
    let mut drained = 0;
    while drained < LINGER_MAX_BYTES {
        let wait = give_up.saturating_duration_since(Instant::now());
        match read_with_timeout(stream, &mut chunk, wait) {
            Ok(Some(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}
