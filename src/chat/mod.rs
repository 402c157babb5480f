//! The chat room: message JSON, the bounded log, and the polling endpoints. Nothing here
//! touches a socket; both servers call in with parsed requests.
//!
//! - [`message`]: [`ClientMessage`] (what clients post) and [`StoredMessage`] (with its id).
//! - [`history`]: [`ChatLog`], the bounded ring pollers read, and [`Gap`].
//! - [`polling`]: the `/messages` endpoints, shared by both servers.

pub mod history;
pub mod message;
pub mod polling;

use std::sync::Arc;

use log::info;

pub use history::{ChatLog, DEFAULT_LOG_CAPACITY, Gap};
pub use message::{ClientMessage, StoredMessage, parse_client_message};

use crate::stats::Stats;

/// The room: the log plus the counters it bumps.
#[derive(Debug)]
pub struct Room {
    pub log: ChatLog,
    stats: Arc<Stats>,
    quiet: bool,
}

impl Room {
    /// A room keeping the latest `capacity` messages; `quiet` silences the per-message log.
    pub fn new(capacity: usize, stats: Arc<Stats>, quiet: bool) -> Self {
        Room {
            log: ChatLog::new(capacity),
            stats,
            quiet,
        }
    }

    /// Store a message, count it, and log `[server] Name: text` as the Python server did.
    pub fn post(&mut self, message: ClientMessage) -> StoredMessage {
        let stored = self.log.append(message).clone();
        Stats::add(&self.stats.messages_posted, 1);
        if !self.quiet {
            info!("[server] {}: {}", stored.name, stored.text);
        }
        stored
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
}
