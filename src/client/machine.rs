//! The vocabulary shared by the two sans-I/O chat clients and the driver that
//! runs them.
//!
//! A client state machine never touches a socket. Its I/O shell (the
//! [`driver`](super::driver)) tells it what happened — a timer fired, a TCP
//! connection opened or failed, bytes arrived, the connection ended — and
//! then drains three queues: bytes to write ([`ChatClient::take_output`]),
//! requests to open or close TCP ([`ChatClient::next_command`]), and what the
//! user should learn ([`ChatClient::next_event`]).

use std::io;
use std::time::Instant;

use super::backoff::ReconnectCause;
use super::latency::unix_ms_now;
use crate::chat::StoredMessage;

/// Both clocks at one moment: the monotonic one for timers, the wall clock
/// for `sent_at` and latency (they are compared across processes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub instant: Instant,
    /// Wall clock, Unix milliseconds.
    pub unix_ms: f64,
}

impl Now {
    /// The current time on both clocks.
    pub fn system() -> Now {
        Now {
            instant: Instant::now(),
            unix_ms: unix_ms_now(),
        }
    }
}

/// A request from a client to its I/O shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Open a new TCP connection to the client's server; answer with
    /// [`ChatClient::on_connected`] or [`ChatClient::on_connect_failed`].
    Connect,
    /// Close the current TCP connection (or abandon the connect under way)
    /// once the output already taken is written. No `on_closed` follows.
    CloseTcp,
}

/// Which HTTP request a client wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `GET /messages?since=N`.
    Poll,
    /// `POST /messages`.
    Post,
    /// The WebSocket opening handshake.
    Upgrade,
}

/// What a client reports as it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A chat message arrived; `at` is the wall clock at receipt (Unix ms).
    Received { message: StoredMessage, at: f64 },
    /// A message sent before this client started, from the server's log
    /// (the first poll catches up on it). Not a receipt: its latency would
    /// measure how late the client joined.
    History { message: StoredMessage },
    /// A chat message was handed to TCP (a POST request or a text frame).
    MessageSent { text: String, sent_at: f64 },
    /// An HTTP request was written.
    RequestSent(RequestKind),
    /// A poll came back with no new messages.
    EmptyPoll,
    /// A poll got 410 Gone: `missed` messages fell out of the server's log
    /// before this client saw them.
    Gap { missed: u64, oldest_id: u64 },
    /// A poll got 410 Gone because the server knows no id as high as
    /// `last_seen` (its newest is `newest_id`): it restarted and numbers from 1
    /// again. The client starts over from the server's oldest message.
    Reset { last_seen: u64, newest_id: u64 },
    /// The WebSocket handshake completed.
    Connected,
    /// The connection is gone and a new one will be tried after `retry_in_ms`.
    Reconnecting {
        cause: ReconnectCause,
        retry_in_ms: u64,
    },
    /// The server answered with an error (`{"error": ...}` or an HTTP error).
    ServerError(String),
    /// A message to send was dropped: the outbox was full or the server
    /// could not be reached.
    Dropped { text: String },
}

/// A sans-I/O chat client, as the driver sees it.
pub trait ChatClient {
    /// Time passed: act on any deadline at or before `now`.
    fn on_timer(&mut self, now: Now);

    /// The TCP connection asked for with [`Command::Connect`] is open.
    fn on_connected(&mut self, now: Now);

    /// The TCP connection asked for could not be opened.
    fn on_connect_failed(&mut self, now: Now, error: &io::Error);

    /// Bytes arrived on the connection.
    fn on_bytes(&mut self, bytes: &[u8], now: Now);

    /// The peer closed the connection, or it failed (reset, read error).
    fn on_eof(&mut self, now: Now);

    /// Queue a chat line for sending; `sent_at` is stamped when it is
    /// actually written, so time spent waiting for a connection is not
    /// counted as latency.
    fn send(&mut self, text: String, now: Now);

    /// Stop: close politely, then report [`ChatClient::is_finished`].
    fn shutdown(&mut self, now: Now);

    /// Whether the client has stopped for good and needs no more input.
    fn is_finished(&self) -> bool;

    /// The earliest time [`ChatClient::on_timer`] should be called.
    fn next_deadline(&self) -> Option<Instant>;

    /// Next bytes to write, in order.
    fn take_output(&mut self) -> Option<Vec<u8>>;

    /// Next request to the I/O shell.
    fn next_command(&mut self) -> Option<Command>;

    /// Next event to report.
    fn next_event(&mut self) -> Option<ClientEvent>;
}
