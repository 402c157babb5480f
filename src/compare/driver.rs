//! The contract between the experiment and whatever drives the simulated clients.
//!
//! The experiment hands a [`LoadDriver`] a [`LoadPlan`] and a set of [`LiveCounters`]; the
//! driver runs every client from its own event loop on the calling thread, bumps the live
//! counters as it goes (the experiment samples them once a second), and hands back one
//! [`ClientRecord`] per client. Everything the report says about the clients' side comes
//! from these records: nothing is estimated.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::procfs::CpuTime;

/// How the simulated clients talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// `GET /messages?since=N` every interval, `POST /messages` to send.
    Polling,
    /// One WebSocket per client on `/ws`; the server pushes every message.
    WebSocket,
}

/// One run's workload.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub server: SocketAddr,
    pub transport: Transport,
    /// Polling only: reuse one connection for every poll instead of one per poll.
    pub keep_alive: bool,
    pub clients: usize,
    /// Clients send messages during this long, measured from the start of the run.
    pub send_for: Duration,
    /// After sending stops, clients keep receiving this long so that the last messages
    /// reach everyone; then every client closes.
    pub drain: Duration,
    /// Polling only: time between one poll's start and the next.
    pub poll_interval: Duration,
    /// Each client's gap between messages is drawn uniformly from `send_mean ± send_jitter`,
    /// and its first message comes after a uniform draw in `[0, send_mean)`.
    pub send_mean: Duration,
    pub send_jitter: Duration,
    /// Local addresses to bind client sockets to, round-robin by client, so that one
    /// address's ephemeral ports do not run out. Empty: let the kernel choose.
    pub source_ips: Vec<IpAddr>,
    /// Seed for the send schedule, so that a run can be repeated.
    pub seed: u64,
}

/// Counters the driver bumps while it runs; the experiment reads them once a second.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// TCP connections the clients completed (connect succeeded).
    pub connections_opened: AtomicU64,
    /// HTTP requests written (polls and posts), or WebSocket messages sent.
    pub requests: AtomicU64,
    pub empty_polls: AtomicU64,
    /// Bytes written to and read from client sockets: headers, frames and bodies.
    pub bytes_written: AtomicU64,
    pub bytes_read: AtomicU64,
    pub messages_sent: AtomicU64,
    /// Messages from another client received.
    pub receipts: AtomicU64,
    /// Connects or requests that failed (refused, reset, no free port, ...).
    pub errors: AtomicU64,
}

impl LiveCounters {
    pub fn snapshot(&self) -> LiveSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        LiveSnapshot {
            connections_opened: read(&self.connections_opened),
            requests: read(&self.requests),
            empty_polls: read(&self.empty_polls),
            bytes_written: read(&self.bytes_written),
            bytes_read: read(&self.bytes_read),
            messages_sent: read(&self.messages_sent),
            receipts: read(&self.receipts),
            errors: read(&self.errors),
        }
    }
}

/// A plain copy of [`LiveCounters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LiveSnapshot {
    pub connections_opened: u64,
    pub requests: u64,
    pub empty_polls: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub messages_sent: u64,
    pub receipts: u64,
    pub errors: u64,
}

/// One received chat message as the receiving client saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Receipt {
    /// The id the server gave the message.
    pub id: u64,
    /// The sending client's name.
    pub sender: String,
    /// The sender's clock at sending, Unix milliseconds, as embedded in the message.
    pub sent_at_ms: f64,
    /// The receiver's clock when the message was parsed, Unix milliseconds.
    pub received_at_ms: f64,
}

/// Failures one client met, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ClientErrors {
    /// `EADDRNOTAVAIL` on connect: no free ephemeral port for this source address.
    pub addr_not_available: u64,
    /// `ECONNREFUSED`: nothing listening, or the accept queue overflowed with
    /// `tcp_abort_on_overflow`.
    pub refused: u64,
    /// Resets, unexpected closes, malformed answers and timeouts.
    pub other: u64,
    /// The last error's text, for the report.
    pub last: Option<String>,
}

impl ClientErrors {
    pub fn total(&self) -> u64 {
        self.addr_not_available + self.refused + self.other
    }
}

/// Everything one simulated client did during a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientRecord {
    /// The name the client sends as (unique within a run).
    pub name: String,
    pub connections_opened: u64,
    pub requests: u64,
    pub empty_polls: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
    /// The `sent_at` of every message the client sent, Unix milliseconds.
    pub sent_at_ms: Vec<f64>,
    /// Every message from another client it received (its own are left out).
    pub receipts: Vec<Receipt>,
    /// When the client was in the room, Unix milliseconds: for WebSockets from the
    /// handshake's completion to the close, for polling from its first answered poll to its
    /// last. `None` if it never got in.
    pub online_ms: Option<(f64, f64)>,
    pub errors: ClientErrors,
    /// Chat lines the client never got posted: a post failed, or the line was still queued
    /// (behind a slow connect) when the run ended. A measured cost, not a broken run.
    pub lines_unsent: u64,
}

/// What a driver hands back from one run.
#[derive(Debug, Default)]
pub struct DriverRun {
    /// One record per client, in client order.
    pub records: Vec<ClientRecord>,
    /// CPU time of any helper threads the driver used besides the calling thread (whose
    /// own time the experiment measures); counted as the generator's.
    pub helper_cpu: Option<CpuTime>,
}

/// Runs the simulated clients of one [`LoadPlan`] on the calling thread.
pub trait LoadDriver: Sync {
    /// Run the plan to its end (`send_for + drain`), bumping `live` as it goes. An `Err` is
    /// a failure to run at all (e.g. no event loop); failures of single connections are
    /// counted in the records instead.
    fn run(&self, plan: &LoadPlan, live: &Arc<LiveCounters>) -> io::Result<DriverRun>;
}
