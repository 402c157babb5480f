//! The single-threaded server: one thread, one `mio::Poll`, every connection.
//!
//! It serves the polling endpoints (`/messages`), the WebSocket chat room (`/ws`) and the
//! WebSocket echo endpoint (`/echo`) from the same loop. The protocol work is done by the
//! sans-I/O cores in [`crate::http`] and [`crate::websocket`]; this file only moves bytes
//! between them and the sockets, and decides when to stop reading, write or close.
//!
//! mio's readiness events are edge-triggered: after a readable event we must read until the
//! socket is empty (`WouldBlock`, or a short read: see [`ReadUntil`]), or remember that it
//! may still hold data. A connection that always has more to read gets [`READ_BUDGET`] bytes
//! per turn and is put on a resume list, so one busy peer cannot starve the rest.
//!
//! A stop ([`StopHandle::request_stop`], from a signal handler or [`EventLoopHandle`]) is
//! graceful: the listener closes, every WebSocket gets a Close with 1001 "going away"
//! after what is already queued for it, every HTTP connection is closed once its last
//! response is written, and the loop keeps running until they have all ended or
//! [`SHUTDOWN_GRACE`] has passed; what is left then is dropped.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::chat::{self, Room};
use crate::http::request::{Limits, Parsed, Request, RequestParser};
use crate::http::response::{Response, error_response};
use crate::server::SHUTDOWN_GRACE;
use crate::server::out_queue::OutQueue;
use crate::server::page;
use crate::stats::Stats;
use crate::websocket::trace::{Direction, FrameScanner, LOG_TARGET as TRACE_TARGET};
use crate::websocket::trace::{http_head_line, request_head_line};
use crate::websocket::{self, CloseCode, Event, Opcode};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection tokens start here; token `FIRST_CONN + i` is slot `i`.
const FIRST_CONN: usize = 2;

/// Bytes read from one connection per turn of the loop before others get their turn.
const READ_BUDGET: usize = 256 * 1024;
/// Size of the one read buffer shared by all connections.
const READ_CHUNK: usize = 64 * 1024;
/// A connection with this much unsent output stops being read until it drains, so a peer that
/// pipelines requests without reading answers cannot grow our memory.
const OUTPUT_HIGH_WATER: usize = 1024 * 1024;
/// A chat member whose unsent output passes this is dropped as too slow to keep up: holding
/// every broadcast for it forever would make our memory grow with its backlog.
const SLOW_CONSUMER_LIMIT: usize = 16 * 1024 * 1024;
/// How often deadlines (request timeouts, close timeouts, idle keep-alive) are checked.
const TIMER_TICK: Duration = Duration::from_millis(50);
/// How long accepting pauses after the process ran out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How long a closing HTTP connection keeps draining the client's unread bytes.
const LINGER: Duration = Duration::from_secs(2);
/// Why an HTTP connection whose client sent FIN partway through a request is dropped.
const MID_REQUEST_EOF: &str = "client closed mid-request";
/// The 100 Continue interim response (RFC 9110 §15.2.1).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// The reason in the Close frame a shutdown sends with 1001.
const SHUTDOWN_REASON: &str = "server shutting down";

/// Settings of the event-loop server.
#[derive(Clone)]
pub struct EventLoopConfig {
    pub limits: Limits,
    /// How many chat messages the polling log keeps.
    pub log_capacity: usize,
    /// Don't log each chat message.
    pub quiet: bool,
    /// Limits for `/echo` (the conformance endpoint: 16 MiB messages by default).
    pub echo: websocket::Config,
    /// Limits for `/ws` (chat messages are small).
    pub chat: websocket::Config,
    /// A request that has started arriving must be complete within this (408 otherwise).
    pub request_timeout: Duration,
    /// An HTTP keep-alive connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// A connection with output queued that the peer has not taken any of for this long
    /// is dropped: a client that stops reading must not hold its answers in our memory.
    pub write_stall_timeout: Duration,
    /// `--trace`: log one line per HTTP head and WebSocket frame, each way.
    pub trace: bool,
    /// `--fixed-clock`: stamp every `Date` header with this instant instead of the current
    /// time, so that two seeded demo runs put identical bytes on the wire. Demonstrations
    /// only; `None` (the current time) otherwise.
    pub fixed_date: Option<SystemTime>,
    /// Length of the kernel's accept queue (see [`super::listen`]).
    pub backlog: u32,
    /// Accept a client's permessage-deflate offer (RFC 7692) on `/echo` and
    /// `/ws`; `serve --no-deflate` turns it off.
    pub deflate: bool,
}

impl Default for EventLoopConfig {
    fn default() -> Self {
        let chat = websocket::Config {
            max_message_size: 64 * 1024,
            max_fragments: 1024,
            ..websocket::Config::default()
        };
        EventLoopConfig {
            limits: Limits::default(),
            log_capacity: 10_000,
            quiet: false,
            echo: websocket::Config::default(),
            chat,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_stall_timeout: Duration::from_secs(30),
            trace: false,
            fixed_date: None,
            backlog: super::DEFAULT_BACKLOG,
            deflate: true,
        }
    }
}

/// Which WebSocket endpoint a connection was upgraded on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Endpoint {
    Echo,
    Chat,
}

/// How far one read of a connection goes (it always stops at the budget).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ReadUntil {
    /// Until a read returns fewer bytes than asked for. Linux's TCP receive
    /// copies until the buffer is full or the receive queue is empty, so a
    /// short read left nothing behind; bytes that arrive later wake the
    /// socket, and epoll reports an edge-triggered registration again. The
    /// read that would only return `WouldBlock` is skipped, one syscall per
    /// message. This rests on Linux's epoll edge semantics (tokio reasons the
    /// same way on Linux).
    ShortRead,
    /// Until `WouldBlock` or the end of the stream. Used after a read-closed
    /// or error event, whose FIN or reset sits behind the data and raises no
    /// second event, and for resumed reads, which no event announced.
    WouldBlock,
}

/// What a connection's deadline check found due.
enum Deadline {
    None,
    /// A request began arriving and is not complete in time (RFC 9110 §15.5.9: 408).
    RequestTimeout,
    /// A keep-alive connection sat unused too long.
    Idle,
    /// A closing connection drained the client's input long enough.
    LingerOver,
    /// Output has been queued for `write_stall_timeout` without the peer taking any.
    WriteStalled,
    /// We sent a WebSocket Close and the peer never answered (RFC 6455 §7.1.1).
    CloseTimeout,
}

/// What protocol a connection speaks now.
enum Protocol {
    Http(HttpState),
    WebSocket(WsState),
}

struct HttpState {
    parser: RequestParser,
    /// When the request now arriving began (for the 408 deadline).
    request_started: Option<Instant>,
}

struct WsState {
    ws: websocket::Connection,
    endpoint: Endpoint,
    /// Frame counters already added to the shared stats.
    frames_in_counted: u64,
    frames_out_counted: u64,
    /// Why we failed the connection, if we did (RFC 6455 §7.1.7); logged at close.
    failure: Option<String>,
    /// Bytes of the 101 response still queued ahead of the first frames. They are HTTP,
    /// so the WebSocket byte counter skips them as they are written.
    handshake_unsent: usize,
}

struct Conn {
    socket: TcpStream,
    peer: SocketAddr,
    protocol: Protocol,
    out: OutQueue,
    /// Whether write interest is registered (only while output is pending).
    write_interest: bool,
    /// Close TCP once the output queue is flushed.
    close_after_flush: bool,
    /// The peer has sent FIN.
    peer_closed: bool,
    /// Our side is shut for writing after a final HTTP response; until this time we read
    /// and discard what the client still sends, then close (see `linger`).
    lingering_until: Option<Instant>,
    last_activity: Instant,
    /// Broadcast output is queued and the connection is on the end-of-turn flush list.
    flush_at_end_of_turn: bool,
    /// Since when output has been waiting without the socket taking any of it.
    stalled_since: Option<Instant>,
    /// Only with `--trace`: finds frame boundaries in each direction.
    trace: Option<Box<TraceState>>,
}

/// What `--trace` keeps per connection: one frame scanner each way, so that
/// a connection without tracing pays nothing but a `None`.
struct TraceState {
    label: String,
    received: FrameScanner,
    sent: FrameScanner,
}

impl TraceState {
    fn new(peer: SocketAddr) -> Self {
        Self {
            label: peer.to_string(),
            received: FrameScanner::new(),
            sent: FrameScanner::new(),
        }
    }

    /// Log the frames these WebSocket bytes complete.
    fn frames(&mut self, dir: Direction, bytes: &[u8]) {
        let scanner = match dir {
            Direction::Received => &mut self.received,
            Direction::Sent => &mut self.sent,
        };
        for found in scanner.feed(bytes) {
            match found {
                Ok(frame) => info!(target: TRACE_TARGET, "{}", frame.line(dir, &self.label)),
                Err(e) => info!(target: TRACE_TARGET, "{} conn {}  {e}", dir.mark(), self.label),
            }
        }
    }

    /// Log an HTTP head: `bytes` start with it (a body may follow).
    fn head(&self, dir: Direction, bytes: &[u8]) {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(bytes.len());
        info!(target: TRACE_TARGET, "{}", http_head_line(dir, &self.label, &bytes[..end]));
    }
}

/// A shutdown under way: when it stops waiting, and how the connections open at its
/// start have ended so far.
struct Draining {
    give_up_at: Instant,
    closed_cleanly: usize,
    dropped: usize,
}

/// Asks a running loop, from any thread, to shut down gracefully.
#[derive(Clone)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Start the graceful shutdown described in the module docs; returns at once.
    pub fn request_stop(&self) -> io::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake()
    }
}

/// A running event-loop server, bound and ready.
pub struct EventLoopServer {
    poll: Poll,
    /// `None` once a shutdown began: no connection is accepted after that.
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    config: EventLoopConfig,
    slots: Vec<Option<Conn>>,
    free_slots: Vec<usize>,
    /// Slots closed during this turn; reusable only after the turn, so that a stale event
    /// for a closed token never reaches the connection that takes its slot.
    closed_this_turn: Vec<usize>,
    /// Connections whose read budget ran out while the socket still had data.
    resume_reads: VecDeque<usize>,
    /// Connections a broadcast queued frames for during this turn (see `broadcast`).
    end_of_turn_flushes: Vec<usize>,
    room: Room,
    stats: Arc<Stats>,
    read_buf: Vec<u8>,
    accept_paused_until: Option<Instant>,
    stopper: StopHandle,
    draining: Option<Draining>,
}

/// Handle to a server running on its own thread.
pub struct EventLoopHandle {
    local_addr: SocketAddr,
    stats: Arc<Stats>,
    stopper: StopHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl EventLoopHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// The server thread's id in the kernel's terms is not exposed by std; the experiment
    /// measures CPU time through [`std::thread::Thread`] names instead.
    pub fn thread(&self) -> Option<&std::thread::Thread> {
        self.thread.as_ref().map(|t| t.thread())
    }

    /// Shut the server down gracefully and wait for its thread: open connections get
    /// [`SHUTDOWN_GRACE`] to end cleanly, then are dropped.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        self.stopper.request_stop()?;
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for EventLoopHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

impl EventLoopServer {
    /// Bind the listening socket and prepare the loop.
    pub fn bind(addr: SocketAddr, config: EventLoopConfig) -> io::Result<Self> {
        let poll = Poll::new()?;
        let std_listener = super::listen(addr, config.backlog)?;
        std_listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(std_listener);
        let local_addr = listener.local_addr()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let stopper = StopHandle {
            stop: Arc::new(AtomicBool::new(false)),
            waker: Arc::new(Waker::new(poll.registry(), WAKER)?),
        };
        let stats = Arc::new(Stats::default());
        let room = Room::new(config.log_capacity, Arc::clone(&stats), config.quiet);
        Ok(EventLoopServer {
            poll,
            listener: Some(listener),
            local_addr,
            config,
            slots: Vec::new(),
            free_slots: Vec::new(),
            closed_this_turn: Vec::new(),
            resume_reads: VecDeque::new(),
            end_of_turn_flushes: Vec::new(),
            room,
            stats,
            read_buf: vec![0; READ_CHUNK],
            accept_paused_until: None,
            stopper,
            draining: None,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// What stops [`Self::run`] gracefully from another thread (a signal handler).
    pub fn stop_handle(&self) -> StopHandle {
        self.stopper.clone()
    }

    /// Run the loop on a new thread named `event-loop`.
    pub fn spawn(self) -> io::Result<EventLoopHandle> {
        let local_addr = self.local_addr;
        let stats = self.stats();
        let stopper = self.stop_handle();
        let thread = std::thread::Builder::new()
            .name("event-loop".into())
            .spawn(move || self.run())?;
        Ok(EventLoopHandle {
            local_addr,
            stats,
            stopper,
            thread: Some(thread),
        })
    }

    /// Run the loop on this thread until stopped and shut down (see the module docs).
    pub fn run(mut self) -> io::Result<()> {
        info!("event-loop server listening on {}", self.local_addr);
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TIMER_TICK;

        while !self.shutdown_over() {
            // Resumed readers mean there is work now: poll without sleeping.
            let timeout = if self.resume_reads.is_empty() {
                next_tick.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }

            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    Token(t) => self.on_ready(t - FIRST_CONN, event),
                }
            }
            self.run_resumed_reads();
            self.flush_broadcasts();

            if Instant::now() >= next_tick {
                self.check_deadlines(Instant::now());
                next_tick = Instant::now() + TIMER_TICK;
            }
            self.free_slots.append(&mut self.closed_this_turn);
        }
        self.drop_the_rest();
        Ok(())
    }

    // ---- shutting down ---------------------------------------------------------------------

    /// Whether the loop is done: a stop was asked for, and every connection has ended or the
    /// grace time is over. The first call after the stop request starts the shutdown.
    fn shutdown_over(&mut self) -> bool {
        if self.draining.is_none() {
            if !self.stopper.stop.load(Ordering::SeqCst) {
                return false;
            }
            self.begin_shutdown();
        }
        let all_ended = self.slots.iter().all(Option::is_none);
        let now = Instant::now();
        all_ended || self.draining.as_ref().is_some_and(|d| now >= d.give_up_at)
    }

    fn begin_shutdown(&mut self) {
        let open = self.slots.iter().flatten().count();
        info!(
            "event-loop server on {} shutting down: ending {open} connections, \
             waiting up to {SHUTDOWN_GRACE:?}",
            self.local_addr
        );
        // Dropping the listener closes it: a new client is refused at once instead of
        // waiting in the accept queue for a server that will never accept it.
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.draining = Some(Draining {
            give_up_at: Instant::now() + SHUTDOWN_GRACE,
            closed_cleanly: 0,
            dropped: 0,
        });
        for slot in 0..self.slots.len() {
            self.end_gracefully(slot);
        }
    }

    /// Start ending one connection without losing what was already queued for it.
    fn end_gracefully(&mut self, slot: usize) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        match &mut conn.protocol {
            // RFC 6455 §7.4.1: 1001, "going away", is the code for a server going down.
            // The Close goes after the frames already queued (broadcasts included), and
            // the peer's Close in reply completes the handshake (§7.1.2); data the peer
            // sends meanwhile is discarded (§5.5.1).
            Protocol::WebSocket(state) => {
                state.ws.close(CloseCode::GOING_AWAY.0, SHUTDOWN_REASON);
                self.collect_ws_output(slot);
            }
            // Answer no new request: the connection stops being read and closes (the
            // staged close of `finish`) once the responses queued so far are written.
            Protocol::Http(_) => conn.close_after_flush = true,
        }
        self.flush(slot);
    }

    /// The grace time is over (or nothing is left): drop what remains and report.
    fn drop_the_rest(&mut self) {
        for slot in 0..self.slots.len() {
            self.drop_connection(slot, "shutdown grace time over");
        }
        let (cleanly, dropped) = self
            .draining
            .as_ref()
            .map_or((0, 0), |d| (d.closed_cleanly, d.dropped));
        info!(
            "event-loop server on {} stopped: {cleanly} connections closed cleanly, \
             {dropped} dropped",
            self.local_addr
        );
    }

    // ---- accepting ------------------------------------------------------------------------

    fn accept_all(&mut self) {
        if self.accept_paused_until.is_some_and(|t| Instant::now() < t) {
            return;
        }
        self.accept_paused_until = None;
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((socket, peer)) => self.add_connection(socket, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of file descriptors (EMFILE/ENFILE): the pending connections stay in
                // the listen queue; try again shortly instead of spinning on the error.
                Err(e) => {
                    warn!("accept failed: {e}; pausing accepts for {ACCEPT_PAUSE:?}");
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    fn add_connection(&mut self, mut socket: TcpStream, peer: SocketAddr) {
        Stats::add(&self.stats.connections_opened, 1);

        // Small frames and responses must leave at once, not wait for an ACK (Nagle).
        if let Err(e) = socket.set_nodelay(true) {
            debug!("{peer}: TCP_NODELAY failed: {e}");
        }
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let token = Token(slot + FIRST_CONN);
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut socket, token, Interest::READABLE)
        {
            warn!("{peer}: register failed: {e}");
            self.free_slots.push(slot);
            return;
        }
        debug!("{peer}: connection opened");
        self.slots[slot] = Some(Conn {
            socket,
            peer,
            protocol: Protocol::Http(HttpState {
                parser: RequestParser::new(self.config.limits),
                request_started: None,
            }),
            out: OutQueue::default(),
            write_interest: false,
            close_after_flush: false,
            peer_closed: false,
            lingering_until: None,
            last_activity: Instant::now(),
            flush_at_end_of_turn: false,
            stalled_since: None,
            trace: self.config.trace.then(|| Box::new(TraceState::new(peer))),
        });
    }

    // ---- readiness ------------------------------------------------------------------------

    fn on_ready(&mut self, slot: usize, event: &mio::event::Event) {
        if self.conn(slot).is_none() {
            return;
        }
        if event.is_writable() {
            self.flush(slot);
        }
        if event.is_read_closed() || event.is_error() {
            self.read_some(slot, ReadUntil::WouldBlock);
        } else if event.is_readable() {
            self.read_some(slot, ReadUntil::ShortRead);
        }
    }

    fn run_resumed_reads(&mut self) {
        for _ in 0..self.resume_reads.len() {
            let Some(slot) = self.resume_reads.pop_front() else {
                break;
            };
            // No event came with these: nothing says the queue was emptied since.
            self.read_some(slot, ReadUntil::WouldBlock);
        }
    }

    /// Read up to the budget, handing each chunk to the connection's protocol.
    fn read_some(&mut self, slot: usize, until: ReadUntil) {
        // The shared buffer is taken out while protocol code (which needs `self`) runs.
        let mut buf = std::mem::take(&mut self.read_buf);
        self.read_with(slot, &mut buf, until);
        self.read_buf = buf;
    }

    fn read_with(&mut self, slot: usize, buf: &mut [u8], until: ReadUntil) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            if conn.lingering_until.is_some() {
                return self.discard_input(slot, buf);
            }
            if conn.close_after_flush || conn.peer_closed {
                return;
            }
            // Too much unsent output: stop reading until the peer takes it (see flush).
            if conn.out.pending() >= OUTPUT_HIGH_WATER {
                return;
            }
            if budget == 0 {
                self.resume_reads.push_back(slot);
                return;
            }

            let want = budget.min(buf.len());
            match conn.socket.read(&mut buf[..want]) {
                Ok(0) => return self.on_peer_eof(slot),
                Ok(n) => {
                    budget -= n;
                    conn.last_activity = Instant::now();
                    self.on_bytes(slot, &buf[..n]);
                    // A short read emptied the receive queue, and a later arrival
                    // raises a new edge: skip the read that could only say
                    // WouldBlock (see `ReadUntil`). Whatever `on_bytes` did to
                    // the connection, no unread byte is left behind.
                    if until == ReadUntil::ShortRead && n < want {
                        return;
                    }
                }
                // Drained: the next arrival raises a new edge.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Reset or another socket error: the peer is gone without a goodbye.
                Err(e) => return self.drop_connection(slot, &format!("read error: {e}")),
            }
        }
    }

    /// Read and drop what a lingering connection's client still sends; close on its FIN.
    fn discard_input(&mut self, slot: usize, buf: &mut [u8]) {
        let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        for _ in 0..READ_BUDGET / READ_CHUNK {
            match conn.socket.read(buf) {
                Ok(0) => return self.close_connection(slot, "client closed after the response"),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    return self.close_connection(slot, "client went away after the response");
                }
            }
        }
        self.resume_reads.push_back(slot);
    }

    fn on_bytes(&mut self, slot: usize, bytes: &[u8]) {
        let is_http = matches!(
            self.conn(slot).map(|c| &c.protocol),
            Some(Protocol::Http(_))
        );
        if is_http {
            self.on_http_bytes(slot, bytes);
        } else {
            self.on_ws_bytes(slot, bytes);
        }
        self.flush(slot);
    }

    fn on_peer_eof(&mut self, slot: usize) {
        let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        conn.peer_closed = true;
        match &mut conn.protocol {
            Protocol::Http(_) => {
                // A half-closed HTTP client may still want the answers already queued.
                conn.close_after_flush = true;
                self.flush(slot);
            }
            Protocol::WebSocket(state) => {
                let clean = state.ws.on_eof();
                let endpoint = state.endpoint;
                if clean {
                    self.close_connection(slot, &format!("{endpoint:?} closed cleanly"));
                } else {
                    self.drop_connection(slot, "peer closed TCP without a closing handshake");
                }
            }
        }
    }

    // ---- HTTP ----------------------------------------------------------------------------

    fn on_http_bytes(&mut self, slot: usize, bytes: &[u8]) {
        let Some(state) = self.http_state(slot) else {
            return;
        };
        state.parser.push(bytes);
        loop {
            let Some(state) = self.http_state(slot) else {
                return;
            };
            if state.request_started.is_none() && !state.parser.is_idle() {
                state.request_started = Some(Instant::now());
            }
            let next = state.parser.next();
            match next {
                Ok(None) => return,
                Ok(Some(Parsed::Continue)) => self.queue(slot, CONTINUE.to_vec()),
                Ok(Some(Parsed::Request(request))) => {
                    if let Some(state) = self.http_state(slot) {
                        state.request_started = None;
                    }
                    if !self.on_request(slot, request) {
                        return;
                    }
                }
                Err(err) => {
                    debug!(
                        "{}: bad request ({}): {err}",
                        self.peer_label(slot),
                        err.status()
                    );
                    self.respond(slot, error_response(&err), false);
                    return;
                }
            }
        }
    }

    /// Answer one request. Returns whether more requests may follow on this connection.
    fn on_request(&mut self, slot: usize, request: Request) -> bool {
        Stats::add(&self.stats.http_requests, 1);
        if let Some(trace) = self.conn(slot).and_then(|c| c.trace.as_ref()) {
            let line = request_head_line(Direction::Received, &trace.label, &request.head);
            info!(target: TRACE_TARGET, "{line}");
        }
        let head_only = request.head.method == "HEAD";

        match request.head.path() {
            "/ws" => return self.upgrade(slot, &request, Endpoint::Chat),
            "/echo" => return self.upgrade(slot, &request, Endpoint::Echo),
            _ => {}
        }

        let handled = match request.head.path() {
            "/" => chat::polling::Handled {
                response: page::serve(&request),
                posted: None,
            },
            _ => chat::polling::handle(&request, &mut self.room),
        };
        let response = handled.response.for_request(&request.head);
        let more = !response.close;
        self.respond(slot, response, head_only);
        if let Some(message) = handled.posted {
            self.broadcast(&message);
        }
        more
    }

    /// Count and queue a response; a response that closes the connection ends reading
    /// from it. Every answer goes through here, so each 4xx/5xx is counted once.
    fn respond(&mut self, slot: usize, response: Response, head_only: bool) {
        self.stats.count_answer(response.status);
        let bytes = match self.config.fixed_date {
            Some(date) => response.encode_dated(head_only, date),
            None => response.encode(head_only),
        };
        self.queue(slot, bytes);
        if response.close
            && let Some(conn) = self.conn_mut(slot)
        {
            conn.close_after_flush = true;
        }
    }

    /// The opening handshake, server side (RFC 6455 §4.2).
    fn upgrade(&mut self, slot: usize, request: &Request, endpoint: Endpoint) -> bool {
        let accept = match websocket::handshake::check_upgrade_request(&request.head) {
            Ok(accept) => accept,
            Err(err) => {
                debug!("{}: {err}", self.peer_label(slot));
                let mut response = chat::polling::error(err.status, &err.reason);
                // RFC 6455 §4.4: tell the client which version we speak.
                if err.is_version_mismatch() {
                    response = response.header("Sec-WebSocket-Version", "13");
                }
                response.close = true;
                self.respond(slot, response, false);
                return false;
            }
        };

        let config = match endpoint {
            Endpoint::Echo => self.config.echo.clone(),
            Endpoint::Chat => self.config.chat.clone(),
        };
        let Some(Protocol::Http(state)) = self.conn_mut(slot).map(|c| &mut c.protocol) else {
            return false;
        };
        // Bytes that came in the same read as the head are the first frame bytes.
        let early_frames = state.parser.take_buffered();
        if let Some(trace) = self.conn_mut(slot).and_then(|c| c.trace.as_mut()) {
            trace.frames(Direction::Received, &early_frames);
        }
        // RFC 7692 §5.1: accept the first permessage-deflate offer we can.
        let deflate = match self.config.deflate {
            true => websocket::handshake::negotiate_deflate(&request.head),
            false => None,
        };
        let mut ws = websocket::Connection::new(websocket::Role::Server, config);
        if let Some((params, _)) = deflate {
            ws = ws.with_deflate(params);
        }
        ws.receive(&early_frames);

        let extensions = deflate.as_ref().map(|(_, response)| response.as_str());
        let switching_protocols =
            websocket::handshake::switching_protocols_with_extensions(&accept, extensions);
        let handshake_unsent = switching_protocols.len();
        self.queue(slot, switching_protocols);
        let Some(conn) = self.conn_mut(slot) else {
            return false;
        };
        let peer = conn.peer;
        conn.protocol = Protocol::WebSocket(WsState {
            ws,
            endpoint,
            frames_in_counted: 0,
            frames_out_counted: 0,
            failure: None,
            handshake_unsent,
        });
        self.stats.ws_open.fetch_add(1, Ordering::Relaxed);
        match deflate {
            Some((_, response)) => info!("{peer}: WebSocket open on {endpoint:?} with {response}"),
            None => info!("{peer}: WebSocket open on {endpoint:?}"),
        }
        self.stats
            .ws_bytes_in
            .fetch_add(early_frames.len() as u64, Ordering::Relaxed);
        self.drive_ws(slot);
        false
    }

    // ---- WebSocket -----------------------------------------------------------------------

    fn on_ws_bytes(&mut self, slot: usize, bytes: &[u8]) {
        self.stats
            .ws_bytes_in
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if let Some(trace) = self.conn_mut(slot).and_then(|c| c.trace.as_mut()) {
            trace.frames(Direction::Received, bytes);
        }
        if let Some(state) = self.ws_state(slot) {
            state.ws.receive(bytes);
        }
        self.drive_ws(slot);
    }

    /// Handle every event the buffered bytes produce, then move output to the socket queue.
    fn drive_ws(&mut self, slot: usize) {
        loop {
            let Some(state) = self.ws_state(slot) else {
                return;
            };
            let Some(event) = state.ws.next_event() else {
                break;
            };
            let endpoint = state.endpoint;
            self.on_ws_event(slot, endpoint, event);
        }
        self.collect_ws_output(slot);
    }

    fn on_ws_event(&mut self, slot: usize, endpoint: Endpoint, event: Event) {
        match (endpoint, event) {
            (Endpoint::Echo, Event::Text(text)) => self.ws_send(slot, |ws| ws.send_text(&text)),
            (Endpoint::Echo, Event::Binary(data)) => self.ws_send(slot, |ws| ws.send_binary(&data)),
            (Endpoint::Chat, Event::Text(text)) => self.on_chat_text(slot, &text),
            (Endpoint::Chat, Event::Binary(_)) => {
                // RFC 6455 §7.4.1: 1003, a data type this endpoint cannot accept.
                // Logged once, in the connection's end line (see `remove`): the
                // server ended it, whether or not the peer answers our Close.
                if let Some(state) = self.ws_state(slot) {
                    state.ws.close(1003, "the chat accepts text messages only");
                    state.failure = Some("binary message refused (close code 1003)".into());
                }
            }
            (_, Event::Ping(_)) | (_, Event::Pong(_)) => {}
            (_, Event::Close { code, reason }) => {
                debug!(
                    "{}: peer sent Close {code:?} {reason:?}",
                    self.peer_label(slot)
                );
            }
            (_, Event::Failed(err)) => {
                // Logged once, in the connection's end line (see `remove`).
                if let Some(state) = self.ws_state(slot) {
                    state.failure = Some(format!("{err} (close code {})", err.close_code()));
                }
            }
        }
    }

    fn ws_send(
        &mut self,
        slot: usize,
        send: impl FnOnce(&mut websocket::Connection) -> Result<(), websocket::SendError>,
    ) {
        if let Some(state) = self.ws_state(slot) {
            // A refused send only means we are already closing: nothing to deliver then.
            let _ = send(&mut state.ws);
        }
    }

    fn on_chat_text(&mut self, slot: usize, text: &str) {
        match chat::parse_client_message(text.as_bytes()) {
            Ok(message) => {
                let stored = self.room.post(message);
                self.broadcast(&stored);
            }
            Err(reason) => {
                // Bad chat JSON is answered to this client alone; the connection stays open.
                let reply = serde_json::json!({ "error": reason }).to_string();
                self.ws_send(slot, |ws| ws.send_text(&reply));
            }
        }
    }

    /// Push a stored message to every open `/ws` member: encoded once, shared by all.
    ///
    /// The frame is queued, not written: every member is flushed once at the end of this
    /// turn of the loop (`flush_broadcasts`). A lone message waits only for the rest of the
    /// turn, and when several messages arrive in one turn each member gets them in one
    /// vectored write instead of one write per message. A write to a loopback socket costs
    /// microseconds of kernel time, so without this the loop's work would grow with
    /// messages x members and fall behind once messages arrive faster than it can write.
    fn broadcast(&mut self, message: &chat::StoredMessage) {
        let json = match serde_json::to_vec(message) {
            Ok(json) => json,
            Err(e) => return warn!("cannot encode message {}: {e}", message.id),
        };
        let frame: Arc<[u8]> = websocket::encode_frame(Opcode::Text, true, &json, None).into();

        for slot in 0..self.slots.len() {
            let Some(state) = self.ws_state(slot) else {
                continue;
            };
            if state.endpoint != Endpoint::Chat {
                continue;
            }
            if state.ws.send_shared(Arc::clone(&frame)).is_err() {
                continue;
            }
            self.collect_ws_output(slot);
            if let Some(conn) = self.conn_mut(slot)
                && !conn.flush_at_end_of_turn
            {
                conn.flush_at_end_of_turn = true;
                self.end_of_turn_flushes.push(slot);
            }
        }
    }

    /// Write what broadcasts queued during this turn, one flush per connection.
    fn flush_broadcasts(&mut self) {
        let mut slots = std::mem::take(&mut self.end_of_turn_flushes);
        for &slot in &slots {
            if let Some(conn) = self.conn_mut(slot) {
                conn.flush_at_end_of_turn = false;
                self.flush(slot);
            }
        }
        // Keep the allocation for the next turn.
        slots.clear();
        self.end_of_turn_flushes = slots;
    }

    /// Move the connection's queued frames to the socket queue and account for them.
    fn collect_ws_output(&mut self, slot: usize) {
        let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Protocol::WebSocket(state) = &mut conn.protocol else {
            return;
        };
        while let Some(chunk) = state.ws.take_output() {
            if let Some(trace) = conn.trace.as_mut() {
                trace.frames(Direction::Sent, chunk.as_ref());
            }
            conn.out.push(chunk);
        }

        let frames_in = state.ws.frames_in();
        let frames_out = state.ws.frames_out();
        let new_in = frames_in - state.frames_in_counted;
        let new_out = frames_out - state.frames_out_counted;
        state.frames_in_counted = frames_in;
        state.frames_out_counted = frames_out;
        if state.ws.should_close_tcp() {
            conn.close_after_flush = true;
        }
        let backlog = conn.out.pending();
        let endpoint = state.endpoint;
        self.stats.ws_frames_in.fetch_add(new_in, Ordering::Relaxed);
        self.stats
            .ws_frames_out
            .fetch_add(new_out, Ordering::Relaxed);

        if endpoint == Endpoint::Chat && backlog > SLOW_CONSUMER_LIMIT {
            self.drop_connection(slot, "too slow to take broadcasts; output backlog full");
        }
    }

    // ---- writing and closing -------------------------------------------------------------

    fn queue(&mut self, slot: usize, bytes: Vec<u8>) {
        if let Some(conn) = self.conn_mut(slot) {
            if let Some(trace) = &conn.trace {
                trace.head(Direction::Sent, &bytes);
            }
            conn.out.push_bytes(bytes);
        }
    }

    /// Write what is queued; ask for write readiness only while bytes remain.
    fn flush(&mut self, slot: usize) {
        let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let was_backlogged = conn.out.pending() >= OUTPUT_HIGH_WATER;
        let written = match conn.out.flush_to(&mut conn.socket) {
            Ok(n) => n,
            Err(e) => return self.drop_connection(slot, &format!("write error: {e}")),
        };
        if let Protocol::WebSocket(state) = &mut conn.protocol {
            let handshake = written.min(state.handshake_unsent);
            state.handshake_unsent -= handshake;
            self.stats
                .ws_bytes_out
                .fetch_add((written - handshake) as u64, Ordering::Relaxed);
        }

        let token = Token(slot + FIRST_CONN);
        let pending = !conn.out.is_empty();
        conn.stalled_since = match (pending, written) {
            (false, _) => None,
            (true, 0) => conn.stalled_since.or(Some(Instant::now())),
            (true, _) => Some(Instant::now()),
        };
        if pending != conn.write_interest {
            let interest = if pending {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) = self
                .poll
                .registry()
                .reregister(&mut conn.socket, token, interest)
            {
                return self.drop_connection(slot, &format!("reregister failed: {e}"));
            }
            conn.write_interest = pending;
        }

        if !pending && conn.close_after_flush {
            return self.finish(slot);
        }
        // Reading paused on a full queue: the socket may hold data no event will announce.
        if was_backlogged && conn.out.pending() < OUTPUT_HIGH_WATER {
            self.resume_reads.push_back(slot);
        }
    }

    /// Everything is written and the connection is to end.
    ///
    /// A WebSocket (or an HTTP client that already sent FIN) is closed at once; a FIN that
    /// came partway through a request makes that an abnormal drop. Any other HTTP
    /// connection is shut for writing first and lingers: closing a socket that still has
    /// unread input makes the kernel send RST, which can destroy the response before the
    /// client has read it (RFC 9112 §9.6 describes this staged close).
    fn finish(&mut self, slot: usize) {
        let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let (is_http, mid_request) = match &conn.protocol {
            Protocol::Http(state) => (true, !state.parser.is_idle()),
            Protocol::WebSocket(_) => (false, false),
        };
        // A client whose FIN cut a request short abandoned it: an abnormal end, however
        // orderly the answers to its earlier requests were (the threaded server agrees).
        if conn.peer_closed && mid_request {
            return self.drop_connection(slot, MID_REQUEST_EOF);
        }
        if !is_http || conn.peer_closed {
            return self.close_connection(slot, "done");
        }
        if conn.lingering_until.is_none() {
            let _ = conn.socket.shutdown(std::net::Shutdown::Write);
            conn.lingering_until = Some(Instant::now() + LINGER);
            self.resume_reads.push_back(slot);
        }
    }

    fn check_deadlines(&mut self, now: Instant) {
        for slot in 0..self.slots.len() {
            match self.deadline_action(slot, now) {
                Deadline::None => {}
                Deadline::RequestTimeout => {
                    let body = serde_json::json!({"error": "request not received in time"});
                    let mut response = Response::json(408, &body);
                    response.close = true;
                    self.respond(slot, response, false);
                    self.flush(slot);
                }
                Deadline::Idle => self.close_connection(slot, "idle keep-alive timeout"),
                Deadline::LingerOver => self.close_connection(slot, "linger time over"),
                Deadline::WriteStalled => {
                    self.drop_connection(slot, "the peer stopped reading what we send")
                }
                Deadline::CloseTimeout => {
                    if let Some(state) = self.ws_state(slot) {
                        state.ws.on_timeout(now);
                    }
                    // RFC 6455 §7.1.1: waiting is over; the handshake never completed, so
                    // this end is abnormal however orderly our own Close was.
                    self.drop_connection(slot, "the peer never answered our Close");
                }
            }
        }
    }

    fn deadline_action(&mut self, slot: usize, now: Instant) -> Deadline {
        let (request_timeout, idle_timeout, write_stall_timeout) = (
            self.config.request_timeout,
            self.config.idle_timeout,
            self.config.write_stall_timeout,
        );
        let Some(conn) = self.conn_mut(slot) else {
            return Deadline::None;
        };
        let idle_for = now - conn.last_activity;
        let nothing_queued = conn.out.is_empty();
        let closing = conn.close_after_flush;
        if conn.lingering_until.is_some_and(|t| now >= t) {
            return Deadline::LingerOver;
        }
        if conn
            .stalled_since
            .is_some_and(|t| now - t > write_stall_timeout)
        {
            return Deadline::WriteStalled;
        }
        match &mut conn.protocol {
            Protocol::Http(state) => {
                let started = state.request_started;
                if !closing && started.is_some_and(|t| now - t > request_timeout) {
                    state.request_started = None;
                    Deadline::RequestTimeout
                } else if state.parser.is_idle() && nothing_queued && idle_for > idle_timeout {
                    Deadline::Idle
                } else {
                    Deadline::None
                }
            }
            Protocol::WebSocket(state) => match state.ws.close_deadline() {
                Some(deadline) if now >= deadline => Deadline::CloseTimeout,
                _ => Deadline::None,
            },
        }
    }

    /// Close after an orderly end (HTTP done, WebSocket closing handshake finished).
    fn close_connection(&mut self, slot: usize, why: &str) {
        self.remove(slot, why, true);
    }

    /// Close after an error or a vanished peer.
    fn drop_connection(&mut self, slot: usize, why: &str) {
        self.remove(slot, why, false);
    }

    fn remove(&mut self, slot: usize, why: &str, clean: bool) {
        let Some(mut conn) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.socket);
        self.closed_this_turn.push(slot);
        Stats::add(&self.stats.connections_closed, 1);

        // RFC 6455 §7.1.4: a WebSocket ends cleanly only once both Close frames crossed.
        let clean = match &conn.protocol {
            Protocol::Http(_) => clean,
            Protocol::WebSocket(state) => clean && state.ws.closing_handshake_completed(),
        };
        if let Some(draining) = self.draining.as_mut() {
            match clean {
                true => draining.closed_cleanly += 1,
                false => draining.dropped += 1,
            }
        }

        // HTTP ends are logged at debug: a poller opens one connection per request.
        let Protocol::WebSocket(state) = &conn.protocol else {
            return match clean {
                true => debug!("{}: HTTP connection closed cleanly ({why})", conn.peer),
                false => debug!("{}: HTTP connection dropped abnormally ({why})", conn.peer),
            };
        };
        self.stats.ws_open.fetch_sub(1, Ordering::Relaxed);
        // Why we closed (if we did), then how the connection ended.
        let failed = match &state.failure {
            Some(failure) => format!(" failed: {failure};"),
            None => String::new(),
        };
        if clean {
            info!(
                "{}: WebSocket {:?}{failed} closed cleanly",
                conn.peer, state.endpoint
            );
        } else {
            info!(
                "{}: WebSocket {:?}{failed} dropped abnormally: {why}",
                conn.peer, state.endpoint
            );
        }
    }

    // ---- slot access ---------------------------------------------------------------------

    /// The peer's address for a log line.
    fn peer_label(&self, slot: usize) -> String {
        self.conn(slot)
            .map_or_else(|| format!("slot {slot}"), |c| c.peer.to_string())
    }

    fn conn(&self, slot: usize) -> Option<&Conn> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    fn conn_mut(&mut self, slot: usize) -> Option<&mut Conn> {
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    fn http_state(&mut self, slot: usize) -> Option<&mut HttpState> {
        match &mut self.conn_mut(slot)?.protocol {
            Protocol::Http(state) => Some(state),
            Protocol::WebSocket(_) => None,
        }
    }

    fn ws_state(&mut self, slot: usize) -> Option<&mut WsState> {
        match &mut self.conn_mut(slot)?.protocol {
            Protocol::WebSocket(state) => Some(state),
            Protocol::Http(_) => None,
        }
    }
}
