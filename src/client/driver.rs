//! One mio event loop that runs many sans-I/O chat clients.
//!
//! The driver owns every socket and timer; the clients ([`ChatClient`]) own
//! every protocol decision. One thread drives hundreds of clients: there is
//! no thread per client, no busy loop (the thread sleeps in `epoll` until a
//! socket is ready or the earliest deadline), and each client's unwritten
//! bytes are bounded. Timers live in one min-heap keyed by deadline.
//!
//! Per client it counts what the experiment compares (TCP connections,
//! requests, empty polls, bytes on the socket, messages), and it hands every
//! [`ClientEvent`] — receipts included — to an observer callback, so a caller
//! can print them (the `chat` command) or record them (the experiment).
//!
//! A run ends when it is told to stop ([`DriverHandle::stop`]), when its
//! duration is over, or when every client's script is done; the clients are
//! then shut down politely and given [`DriverConfig::shutdown_grace`] to
//! finish.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use log::{debug, info};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::{Domain, Protocol, Type};

use super::machine::{ChatClient, ClientEvent, Command, Now, RequestKind};
use super::schedule::{Pacer, Schedule};
use super::trace::ConnectionTrace;
use crate::websocket::trace::LOG_TARGET as TRACE_TARGET;

/// The token of the waker that control messages use.
const WAKER_TOKEN: Token = Token(usize::MAX);

/// Readiness events handled per wakeup.
const EVENT_CAPACITY: usize = 1024;

/// Size of one socket read (shared by all clients).
const READ_BUFFER: usize = 64 * 1024;

/// Unwritten bytes kept per client before the driver stops taking more from
/// its state machine (backpressure instead of unbounded buffering).
pub const MAX_WRITE_BUFFER: usize = 256 * 1024;

/// Bytes read from one client per turn of the loop, so one busy connection
/// cannot starve the others. A client cut off at this budget is read again on
/// the next turn (see [`Driver::run_resumed_reads`]).
const READ_BUDGET: usize = 16 * READ_BUFFER;

/// What the driver counts for one client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCounters {
    /// TCP connections established.
    pub connections_opened: u64,
    /// TCP connects that failed.
    pub connect_failures: u64,
    /// HTTP requests written (polls, posts, WebSocket handshakes).
    pub requests_sent: u64,
    /// Of those, polls (`GET /messages`).
    pub polls_sent: u64,
    /// Polls answered with no new message.
    pub empty_polls: u64,
    /// Bytes written to the socket, headers and frames included.
    pub bytes_written: u64,
    /// Bytes read from the socket, headers and frames included.
    pub bytes_read: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Messages lost to 410 Gone gaps.
    pub messages_missed: u64,
    /// Lines that were never sent (full outbox, failed post, shutdown).
    pub messages_dropped: u64,
}

/// How long a run lasts and how it ends.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Stop this long after the start (`None`: until stopped or scripts end).
    pub duration: Option<Duration>,
    /// After the last script line, wait this long for the last messages.
    pub linger: Duration,
    /// After asking the clients to stop, how long they may take.
    pub shutdown_grace: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            duration: None,
            linger: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(3),
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One entry per client, in the order they were added.
    pub clients: Vec<ClientCounters>,
    pub elapsed: Duration,
}

impl RunReport {
    /// The counters of all clients added up.
    pub fn total(&self) -> ClientCounters {
        let mut sum = ClientCounters::default();
        for c in &self.clients {
            sum.connections_opened += c.connections_opened;
            sum.connect_failures += c.connect_failures;
            sum.requests_sent += c.requests_sent;
            sum.polls_sent += c.polls_sent;
            sum.empty_polls += c.empty_polls;
            sum.bytes_written += c.bytes_written;
            sum.bytes_read += c.bytes_read;
            sum.messages_sent += c.messages_sent;
            sum.messages_received += c.messages_received;
            sum.messages_missed += c.messages_missed;
            sum.messages_dropped += c.messages_dropped;
        }
        sum
    }
}

/// A message to a running driver from another thread.
#[derive(Debug)]
enum Control {
    /// Send a chat line from client `index`.
    Send {
        index: usize,
        text: String,
    },
    /// Client `index` has no more lines: end the run like a finished script.
    Finish {
        index: usize,
    },
    Stop,
}

/// Talks to a running driver from other threads (stdin, Ctrl-C, a test).
#[derive(Clone)]
pub struct DriverHandle {
    sender: Sender<Control>,
    waker: Arc<Waker>,
}

impl DriverHandle {
    /// Has client `index` send `text`. Fails once the driver has ended.
    pub fn send_line(&self, index: usize, text: String) -> io::Result<()> {
        self.control(Control::Send { index, text })
    }

    /// Client `index` will send no more lines (end of stdin): once every
    /// client is done, the run ends after [`DriverConfig::linger`].
    pub fn finish(&self, index: usize) -> io::Result<()> {
        self.control(Control::Finish { index })
    }

    /// Ends the run: the clients close politely, then `run` returns.
    pub fn stop(&self) -> io::Result<()> {
        self.control(Control::Stop)
    }

    fn control(&self, message: Control) -> io::Result<()> {
        self.sender
            .send(message)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the driver has ended"))?;
        self.waker.wake()
    }
}

/// Called with each client's index and every event it reports.
pub type Observer = Box<dyn FnMut(usize, &ClientEvent) + Send>;

/// A trace for a connection just opened, labelled with the client's own
/// address: the label `serve --trace` gives the same connection.
fn connection_trace(stream: &TcpStream) -> ConnectionTrace {
    let label = stream
        .local_addr()
        .map_or_else(|_| "?".to_string(), |addr| addr.to_string());
    ConnectionTrace::new(label)
}

fn log_trace(lines: Vec<String>) {
    for line in lines {
        info!(target: TRACE_TARGET, "{line}");
    }
}

/// `EINPROGRESS`: a non-blocking connect has started and will finish later.
const EINPROGRESS: i32 = 115;

/// Start a non-blocking connect to `addr`, from `source` when one is given.
fn connect_from(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr);
    };
    let socket =
        socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
}

/// A TCP connection of one client.
struct Socket {
    stream: TcpStream,
    /// The connect has not completed yet.
    connecting: bool,
    /// Bytes taken from the client but not yet written.
    unwritten: Vec<u8>,
    /// Whether writable readiness is registered.
    wants_write: bool,
    /// Only with [`Driver::set_trace`]: follows the bytes both ways.
    trace: Option<Box<ConnectionTrace>>,
}

/// One client and its I/O state.
struct Slot {
    client: Box<dyn ChatClient + Send>,
    addr: SocketAddr,
    /// The local address to connect from, if not the kernel's choice.
    source: Option<IpAddr>,
    socket: Option<Socket>,
    pacer: Pacer,
    /// The next scheduled line and when it is due.
    next_line: Option<(Instant, String)>,
    /// The script has no more lines (never true for manual or random).
    script_done: bool,
    /// The earliest deadline pushed on the heap and not yet fired.
    armed: Option<Instant>,
    /// The client is on the driver's resume list (its last read hit the budget).
    resume_read: bool,
    counters: ClientCounters,
}

/// How far [`Driver::read_socket`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadUntil {
    /// Until a read comes back shorter than asked for: the receive queue was
    /// empty then, and whatever arrives later raises a new edge.
    ShortRead,
    /// Until `WouldBlock` or the end of the stream: the peer closed or reset
    /// the connection (a FIN behind the data raises no second event), or this
    /// read resumes one the budget cut off.
    WouldBlock,
}

/// Runs many chat clients on one thread.
pub struct Driver {
    poll: Poll,
    waker: Arc<Waker>,
    sender: Sender<Control>,
    control: Receiver<Control>,
    slots: Vec<Slot>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    observer: Observer,
    config: DriverConfig,
    read_buf: Vec<u8>,
    /// `chat --trace`: log each HTTP head and frame of every connection.
    trace: bool,
    /// Bytes per client per turn ([`READ_BUDGET`]; tests lower it).
    read_budget: usize,
    /// Clients cut off by the read budget with data possibly left unread.
    /// mio is edge-triggered: no event will announce those bytes again, so the
    /// next turn polls without sleeping and reads them.
    resume_reads: Vec<usize>,
}

impl Driver {
    pub fn new(config: DriverConfig) -> io::Result<Driver> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        let (sender, control) = mpsc::channel();
        Ok(Driver {
            poll,
            waker,
            sender,
            control,
            slots: Vec::new(),
            timers: BinaryHeap::new(),
            observer: Box::new(|_, _| {}),
            config,
            read_buf: vec![0; READ_BUFFER],
            trace: false,
            read_budget: READ_BUDGET,
            resume_reads: Vec::new(),
        })
    }

    /// Adds a client that talks to `addr` and sends on `schedule`; returns
    /// its index (for [`DriverHandle::send_line`] and the report).
    pub fn add_client(
        &mut self,
        client: Box<dyn ChatClient + Send>,
        addr: SocketAddr,
        schedule: Schedule,
    ) -> usize {
        self.slots.push(Slot {
            client,
            addr,
            source: None,
            socket: None,
            pacer: Pacer::new(schedule),
            next_line: None,
            script_done: false,
            armed: None,
            resume_read: false,
            counters: ClientCounters::default(),
        });
        self.slots.len() - 1
    }

    /// Makes client `index` connect from `source` (a loopback address such as 127.0.0.7)
    /// instead of the address the kernel would pick. Each local address has its own range
    /// of ephemeral ports, so spreading many short-lived connections over several source
    /// addresses keeps TIME_WAIT from exhausting the ports of one.
    pub fn set_source(&mut self, index: usize, source: IpAddr) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.source = Some(source);
        }
    }

    /// Logs one line per HTTP head and WebSocket frame each client sends or
    /// receives (`chat --trace`), with the client's address as the
    /// connection label.
    pub fn set_trace(&mut self, on: bool) {
        self.trace = on;
    }

    /// Sets the callback that receives every client event.
    pub fn set_observer(&mut self, observer: Observer) {
        self.observer = observer;
    }

    /// A handle for other threads.
    pub fn handle(&self) -> DriverHandle {
        DriverHandle {
            sender: self.sender.clone(),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Runs until stopped, the duration ends, or every script is done.
    pub fn run(mut self) -> io::Result<RunReport> {
        let started = Instant::now();
        let mut ending = Ending::new(&self.config, started);
        for index in 0..self.slots.len() {
            self.plan_next_line(index, started);
            self.service(index, Now::system());
        }

        let mut events = Events::with_capacity(EVENT_CAPACITY);
        loop {
            let next_timer = self.timers.peek().map(|Reverse((at, _))| *at);
            let mut wake = [next_timer, ending.next_wake()].into_iter().flatten().min();
            // Unread bytes left by the budget are work to do now: poll, don't sleep.
            if !self.resume_reads.is_empty() {
                wake = Some(Instant::now());
            }
            self.wait(&mut events, wake)?;

            for event in events.iter() {
                if event.token() != WAKER_TOKEN {
                    self.on_ready(event.token().0, event);
                }
            }
            self.run_resumed_reads();
            let stop_requested = self.drain_control();
            self.fire_timers(Instant::now());

            let now = Instant::now();
            if ending.begins(now, stop_requested, self.all_scripts_done()) {
                info!("stopping {} clients", self.slots.len());
                self.shutdown_all();
            }
            let all_finished = self.slots.iter().all(|s| s.client.is_finished());
            if all_finished || ending.grace_over(now) {
                break;
            }
        }

        Ok(RunReport {
            clients: self.slots.into_iter().map(|s| s.counters).collect(),
            elapsed: started.elapsed(),
        })
    }

    /// Sleeps until a socket is ready, the waker fires, or `wake` passes.
    fn wait(&mut self, events: &mut Events, wake: Option<Instant>) -> io::Result<()> {
        let timeout = wake.map(|at| round_up_to_ms(at.saturating_duration_since(Instant::now())));
        match self.poll.poll(events, timeout) {
            Ok(()) => Ok(()),
            // A signal (Ctrl-C) interrupted the wait; its handler wakes us
            // through the waker if it wants the run to end.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                events.clear();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Handles messages from [`DriverHandle`]s; returns whether to stop.
    fn drain_control(&mut self) -> bool {
        let mut stop = false;
        loop {
            match self.control.try_recv() {
                Ok(Control::Send { index, text }) => {
                    if let Some(slot) = self.slots.get_mut(index) {
                        slot.client.send(text, Now::system());
                        self.service(index, Now::system());
                    }
                }
                Ok(Control::Finish { index }) => {
                    if let Some(slot) = self.slots.get_mut(index) {
                        slot.script_done = true;
                    }
                }
                Ok(Control::Stop) => stop = true,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return stop,
            }
        }
    }

    fn all_scripts_done(&self) -> bool {
        !self.slots.is_empty() && self.slots.iter().all(|s| s.script_done)
    }

    fn shutdown_all(&mut self) {
        for index in 0..self.slots.len() {
            if let Some(slot) = self.slots.get_mut(index) {
                slot.next_line = None;
                slot.client.shutdown(Now::system());
            }
            self.service(index, Now::system());
        }
    }

    /// Fires every timer that is due. Deadlines re-armed while firing wait
    /// for the next turn of the loop, so this always ends.
    fn fire_timers(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(Reverse((at, index))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            // A later, earlier push for this client made this entry stale.
            if let Some(slot) = self.slots.get_mut(index)
                && slot.armed == Some(at)
            {
                slot.armed = None;
                due.push(index);
            }
        }

        for index in due {
            self.send_due_line(index, now);
            if let Some(slot) = self.slots.get_mut(index) {
                slot.client.on_timer(Now::system());
            }
            self.service(index, Now::system());
        }
    }

    /// Sends the scheduled line if it is due, and plans the next one.
    fn send_due_line(&mut self, index: usize, now: Instant) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        match slot.next_line.take() {
            Some((due, text)) if due <= now => {
                slot.client.send(text, Now::system());
                self.plan_next_line(index, due);
            }
            other => slot.next_line = other,
        }
    }

    /// Asks the client's pacer for its next line, due `delay` after `from`.
    fn plan_next_line(&mut self, index: usize, from: Instant) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        match slot.pacer.next(rand::random::<f64>()) {
            Some(planned) => slot.next_line = Some((from + planned.delay, planned.text)),
            None => slot.script_done = !slot.pacer.is_manual(),
        }
    }

    /// A socket of client `index` is ready.
    fn on_ready(&mut self, index: usize, event: &mio::event::Event) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let Some(socket) = slot.socket.as_mut() else {
            return;
        };

        if socket.connecting {
            match connect_result(&socket.stream) {
                ConnectResult::Pending => return,
                ConnectResult::Connected => {
                    socket.connecting = false;
                    // Chat lines are small and latency-bound: no Nagle delay.
                    if let Err(e) = socket.stream.set_nodelay(true) {
                        debug!("TCP_NODELAY not set: {e}");
                    }
                    slot.counters.connections_opened += 1;
                    if self.trace {
                        socket.trace = Some(Box::new(connection_trace(&socket.stream)));
                    }
                    slot.client.on_connected(Now::system());
                }
                ConnectResult::Failed(error) => {
                    self.drop_socket(index);
                    if let Some(slot) = self.slots.get_mut(index) {
                        slot.counters.connect_failures += 1;
                        slot.client.on_connect_failed(Now::system(), &error);
                    }
                    self.service(index, Now::system());
                    return;
                }
            }
        }

        if event.is_readable() {
            let until = if event.is_read_closed() || event.is_error() {
                ReadUntil::WouldBlock
            } else {
                ReadUntil::ShortRead
            };
            self.read_socket(index, until);
        }
        if event.is_writable() {
            self.write_socket(index);
        }
        self.service(index, Now::system());
    }

    /// Reads again from the clients the budget cut off on the last turn. Those
    /// cut off again wait for the next turn, so this always ends.
    fn run_resumed_reads(&mut self) {
        for index in std::mem::take(&mut self.resume_reads) {
            if let Some(slot) = self.slots.get_mut(index) {
                slot.resume_read = false;
            }
            self.read_socket(index, ReadUntil::WouldBlock);
            self.service(index, Now::system());
        }
    }

    /// Reads what the socket has, up to the budget, feeding the client; EOF or
    /// an error ends the connection.
    fn read_socket(&mut self, index: usize, until: ReadUntil) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let mut budget = self.read_budget;
        loop {
            let Some(socket) = slot.socket.as_mut().filter(|s| !s.connecting) else {
                return;
            };
            if budget == 0 {
                // Bytes may be left, and no new edge will tell: read on the next turn.
                if !slot.resume_read {
                    slot.resume_read = true;
                    self.resume_reads.push(index);
                }
                return;
            }

            let want = budget.min(self.read_buf.len());
            let buf = self.read_buf.get_mut(..want).unwrap_or_default();
            match socket.stream.read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    budget -= n;
                    slot.counters.bytes_read += n as u64;
                    let bytes = self.read_buf.get(..n).unwrap_or_default();
                    if let Some(trace) = socket.trace.as_mut() {
                        log_trace(trace.received(bytes));
                    }
                    slot.client.on_bytes(bytes, Now::system());
                    // A short read emptied the receive queue: Linux's TCP receive
                    // copies until the buffer is full or the queue is empty. Bytes
                    // that arrive later wake the socket's waiters, and epoll reports
                    // an edge-triggered registration again, so the next read, which
                    // could only say WouldBlock, is skipped (a syscall per message
                    // saved). This relies on Linux's epoll edge semantics (the same
                    // reasoning tokio applies on Linux), and not after a close: the
                    // FIN behind the data was announced by the event already used.
                    if until == ReadUntil::ShortRead && n < want {
                        return;
                    }
                }
                // Drained: mio wakes us when more arrives.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Reset or another failure: the connection is gone.
                Err(e) => {
                    debug!("client {index}: read failed: {e}");
                    break;
                }
            }
        }

        // End of stream or a failed read: the connection is over.
        self.drop_socket(index);
        if let Some(slot) = self.slots.get_mut(index) {
            slot.client.on_eof(Now::system());
        }
    }

    /// Writes unwritten bytes until the socket would block.
    fn write_socket(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let Some(socket) = slot.socket.as_mut() else {
            return;
        };
        if socket.connecting {
            return;
        }
        while !socket.unwritten.is_empty() {
            match socket.stream.write(&socket.unwritten) {
                Ok(0) => break,
                Ok(n) => {
                    slot.counters.bytes_written += n as u64;
                    if let Some(trace) = socket.trace.as_mut() {
                        log_trace(trace.sent(socket.unwritten.get(..n).unwrap_or_default()));
                    }
                    socket.unwritten.drain(..n);
                }
                // The send buffer is full: wait for writable readiness.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Broken pipe or reset: reading will report the end.
                Err(e) => {
                    debug!("client {index}: write failed: {e}");
                    socket.unwritten.clear();
                    return;
                }
            }
        }
    }

    /// Moves the client's output, commands and events along until it has
    /// nothing more to do right now, then re-arms its timer and interest.
    fn service(&mut self, index: usize, now: Now) {
        loop {
            let moved = self.move_output(index);
            self.write_socket(index);
            let commanded = self.run_commands(index, now);
            let reported = self.report_events(index);
            if !moved && !commanded && !reported {
                break;
            }
        }
        self.arm_timer(index);
        self.update_interest(index);
    }

    /// Takes output from the client into the socket's buffer, up to the
    /// bound. Returns whether anything moved.
    fn move_output(&mut self, index: usize) -> bool {
        let Some(slot) = self.slots.get_mut(index) else {
            return false;
        };
        let mut moved = false;
        loop {
            let room = slot
                .socket
                .as_ref()
                .is_some_and(|s| s.unwritten.len() < MAX_WRITE_BUFFER);
            if !room && slot.socket.is_some() {
                return moved;
            }
            let Some(bytes) = slot.client.take_output() else {
                return moved;
            };
            moved = true;
            match slot.socket.as_mut() {
                Some(socket) => socket.unwritten.extend(bytes),
                None => debug!("client {index}: {} bytes with no connection", bytes.len()),
            }
        }
    }

    /// Carries out connect and close requests. Returns whether there were any.
    fn run_commands(&mut self, index: usize, now: Now) -> bool {
        let mut any = false;
        loop {
            let Some(command) = self
                .slots
                .get_mut(index)
                .and_then(|s| s.client.next_command())
            else {
                return any;
            };
            any = true;
            match command {
                Command::Connect => self.connect(index, now),
                Command::CloseTcp => self.drop_socket(index),
            }
        }
    }

    /// Starts a non-blocking connect for client `index`.
    fn connect(&mut self, index: usize, now: Now) {
        self.drop_socket(index);
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let registered = connect_from(slot.addr, slot.source).and_then(|mut stream| {
            self.poll.registry().register(
                &mut stream,
                Token(index),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match registered {
            Ok(stream) => {
                slot.socket = Some(Socket {
                    stream,
                    connecting: true,
                    unwritten: Vec::new(),
                    wants_write: true,
                    trace: None,
                })
            }
            Err(error) => {
                slot.counters.connect_failures += 1;
                slot.client.on_connect_failed(now, &error);
            }
        }
    }

    /// Closes client `index`'s connection, if any, after one last attempt
    /// to write what is buffered.
    fn drop_socket(&mut self, index: usize) {
        self.write_socket(index);
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if let Some(mut socket) = slot.socket.take() {
            if !socket.unwritten.is_empty() {
                debug!(
                    "client {index}: closing with {} bytes unwritten",
                    socket.unwritten.len()
                );
            }
            let _ = self.poll.registry().deregister(&mut socket.stream);
        }
    }

    /// Counts the client's events and passes them to the observer.
    fn report_events(&mut self, index: usize) -> bool {
        let Some(slot) = self.slots.get_mut(index) else {
            return false;
        };
        let mut any = false;
        while let Some(event) = slot.client.next_event() {
            any = true;
            count(&mut slot.counters, &event);
            (self.observer)(index, &event);
        }
        any
    }

    /// Pushes the client's earliest deadline on the heap unless an earlier
    /// one is already there.
    fn arm_timer(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let line_due = slot.next_line.as_ref().map(|(due, _)| *due);
        let Some(wanted) = [slot.client.next_deadline(), line_due]
            .into_iter()
            .flatten()
            .min()
        else {
            return;
        };
        if slot.armed.is_none_or(|armed| wanted < armed) {
            slot.armed = Some(wanted);
            self.timers.push(Reverse((wanted, index)));
        }
    }

    /// Registers writable interest only while bytes wait (or a connect is
    /// under way), so an idle socket does not wake the loop.
    fn update_interest(&mut self, index: usize) {
        let Some(socket) = self.slots.get_mut(index).and_then(|s| s.socket.as_mut()) else {
            return;
        };
        let wants_write = socket.connecting || !socket.unwritten.is_empty();
        if wants_write == socket.wants_write {
            return;
        }
        let interest = if wants_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        match self
            .poll
            .registry()
            .reregister(&mut socket.stream, Token(index), interest)
        {
            Ok(()) => socket.wants_write = wants_write,
            Err(e) => debug!("client {index}: reregister failed: {e}"),
        }
    }
}

/// The clock side of a run: when it starts to end, and when it must be over.
struct Ending {
    /// End of the configured duration.
    stop_at: Option<Instant>,
    linger: Duration,
    grace: Duration,
    /// When every script had sent its last line.
    scripts_done_at: Option<Instant>,
    /// Set once shutdown began: the clients must be finished by then.
    shutdown_by: Option<Instant>,
}

impl Ending {
    fn new(config: &DriverConfig, started: Instant) -> Ending {
        Ending {
            stop_at: config.duration.map(|d| started + d),
            linger: config.linger,
            grace: config.shutdown_grace,
            scripts_done_at: None,
            shutdown_by: None,
        }
    }

    /// The next moment this needs the loop awake for.
    fn next_wake(&self) -> Option<Instant> {
        let linger_over = self.scripts_done_at.map(|t| t + self.linger);
        match self.shutdown_by {
            Some(deadline) => Some(deadline),
            None => [self.stop_at, linger_over].into_iter().flatten().min(),
        }
    }

    /// Whether shutdown starts now (true once per run).
    fn begins(&mut self, now: Instant, stop_requested: bool, scripts_done: bool) -> bool {
        if self.shutdown_by.is_some() {
            return false;
        }
        if scripts_done && self.scripts_done_at.is_none() {
            self.scripts_done_at = Some(now);
        }
        let time_up = self.stop_at.is_some_and(|t| now >= t)
            || self.scripts_done_at.is_some_and(|t| now >= t + self.linger);
        if stop_requested || time_up {
            self.shutdown_by = Some(now + self.grace);
        }
        self.shutdown_by.is_some()
    }

    /// Whether the clients have had all the time they get to finish.
    fn grace_over(&self, now: Instant) -> bool {
        self.shutdown_by.is_some_and(|deadline| now >= deadline)
    }
}

enum ConnectResult {
    Pending,
    Connected,
    Failed(io::Error),
}

/// After writable readiness on a connecting socket: did the connect work?
/// (mio's `TcpStream::connect` contract: check `take_error`, then
/// `peer_addr`; `NotConnected` means the wakeup was spurious.)
fn connect_result(stream: &TcpStream) -> ConnectResult {
    match stream.take_error() {
        Ok(Some(error)) | Err(error) => return ConnectResult::Failed(error),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => ConnectResult::Connected,
        Err(e) if e.kind() == io::ErrorKind::NotConnected => ConnectResult::Pending,
        Err(e) => ConnectResult::Failed(e),
    }
}

fn count(counters: &mut ClientCounters, event: &ClientEvent) {
    match event {
        ClientEvent::Received { .. } => counters.messages_received += 1,
        ClientEvent::MessageSent { .. } => counters.messages_sent += 1,
        ClientEvent::RequestSent(kind) => {
            counters.requests_sent += 1;
            if *kind == RequestKind::Poll {
                counters.polls_sent += 1;
            }
        }
        ClientEvent::EmptyPoll => counters.empty_polls += 1,
        ClientEvent::Gap { missed, .. } => counters.messages_missed += missed,
        ClientEvent::Dropped { .. } => counters.messages_dropped += 1,
        ClientEvent::History { .. }
        | ClientEvent::Reset { .. }
        | ClientEvent::Connected
        | ClientEvent::Reconnecting { .. }
        | ClientEvent::ServerError(_) => {}
    }
}

/// Rounds up to whole milliseconds: epoll sleeps in milliseconds, and
/// rounding down would wake the loop just before a deadline, over and over.
fn round_up_to_ms(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(
            round_up_to_ms(Duration::from_micros(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        assert_eq!(round_up_to_ms(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn run_ends_after_the_linger_once_every_script_is_done() {
        let start = Instant::now();
        let config = DriverConfig {
            duration: None,
            linger: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(3),
        };
        let mut ending = Ending::new(&config, start);
        assert_eq!(ending.next_wake(), None);
        assert!(!ending.begins(start, false, true));
        assert_eq!(ending.next_wake(), Some(start + Duration::from_secs(2)));

        let later = start + Duration::from_secs(2);
        assert!(ending.begins(later, false, true));
        assert!(
            !ending.begins(later, false, true),
            "shutdown begins only once"
        );
        assert!(!ending.grace_over(later));
        assert!(ending.grace_over(later + Duration::from_secs(3)));
    }

    #[test]
    fn stop_request_or_duration_begins_shutdown_at_once() {
        let start = Instant::now();
        let config = DriverConfig {
            duration: Some(Duration::from_secs(1)),
            ..DriverConfig::default()
        };
        let mut stopped = Ending::new(&config, start);
        assert!(stopped.begins(start, true, false));

        let mut timed = Ending::new(&config, start);
        assert!(!timed.begins(start, false, false));
        assert!(timed.begins(start + Duration::from_secs(1), false, false));
    }

    #[test]
    fn report_total_adds_every_client() {
        let one = ClientCounters {
            requests_sent: 2,
            bytes_read: 10,
            ..ClientCounters::default()
        };
        let report = RunReport {
            clients: vec![one.clone(), one],
            elapsed: Duration::ZERO,
        };
        let total = report.total();
        assert_eq!((total.requests_sent, total.bytes_read), (4, 20));
    }

    /// Connects once and counts the bytes it receives; finished once it has
    /// `expected` of them, or when shut down.
    struct CountingClient {
        expected: usize,
        received: usize,
        commands: VecDeque<Command>,
        finished: bool,
    }

    impl ChatClient for CountingClient {
        fn on_timer(&mut self, _now: Now) {}
        fn on_connected(&mut self, _now: Now) {}
        fn on_connect_failed(&mut self, _now: Now, error: &io::Error) {
            panic!("connect failed: {error}");
        }
        fn on_bytes(&mut self, bytes: &[u8], _now: Now) {
            self.received += bytes.len();
            self.finished = self.received >= self.expected;
        }
        fn on_eof(&mut self, _now: Now) {
            self.finished = true;
        }
        fn send(&mut self, _text: String, _now: Now) {}
        fn shutdown(&mut self, _now: Now) {
            self.finished = true;
        }
        fn is_finished(&self) -> bool {
            self.finished
        }
        fn next_deadline(&self) -> Option<Instant> {
            None
        }
        fn take_output(&mut self) -> Option<Vec<u8>> {
            None
        }
        fn next_command(&mut self) -> Option<Command> {
            self.commands.pop_front()
        }
        fn next_event(&mut self) -> Option<ClientEvent> {
            None
        }
    }

    #[test]
    fn bytes_left_by_the_read_budget_are_read_without_new_data_arriving() {
        const BUDGET: usize = 1024;
        const PAYLOAD: usize = 64 * BUDGET;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (done, wait_done) = mpsc::channel::<()>();

        // The peer writes far more than one turn's budget in one go, then stays
        // silent with the connection open: no later arrival raises a new edge.
        let peer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(&[b'x'; PAYLOAD]).unwrap();
            let _ = wait_done.recv_timeout(Duration::from_secs(10));
        });

        let mut driver = Driver::new(DriverConfig {
            duration: Some(Duration::from_secs(5)),
            ..DriverConfig::default()
        })
        .unwrap();
        driver.read_budget = BUDGET;
        let client = CountingClient {
            expected: PAYLOAD,
            received: 0,
            commands: VecDeque::from([Command::Connect]),
            finished: false,
        };
        driver.add_client(Box::new(client), addr, Schedule::Manual);
        let report = driver.run().unwrap();
        done.send(()).unwrap();
        peer.join().unwrap();

        assert_eq!(report.clients[0].bytes_read, PAYLOAD as u64);
        assert!(
            report.elapsed < Duration::from_secs(5),
            "the run should end once the client has every byte, not at its duration: {:?}",
            report.elapsed
        );
    }

    #[test]
    fn a_close_right_behind_the_data_is_seen_after_a_short_read() {
        const PAYLOAD: usize = 100;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();

        // Data and FIN arrive together: the short read that takes the data
        // leaves the FIN, which no later event will announce again.
        let peer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(&[b'x'; PAYLOAD]).unwrap();
        });

        let mut driver = Driver::new(DriverConfig {
            duration: Some(Duration::from_secs(5)),
            ..DriverConfig::default()
        })
        .unwrap();
        // Finished by the end of the stream only, never by the byte count.
        let client = CountingClient {
            expected: usize::MAX,
            received: 0,
            commands: VecDeque::from([Command::Connect]),
            finished: false,
        };
        driver.add_client(Box::new(client), addr, Schedule::Manual);
        let report = driver.run().unwrap();
        peer.join().unwrap();

        assert_eq!(report.clients[0].bytes_read, PAYLOAD as u64);
        assert!(
            report.elapsed < Duration::from_secs(5),
            "the client should see the end of the stream, not run out its duration: {:?}",
            report.elapsed
        );
    }
}
