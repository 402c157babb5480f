//! The WebSocket chat client as a sans-I/O state machine.
//!
//! One connection carries both directions: chat lines go out as text frames
//! holding a [`ClientMessage`], and the server pushes each stored message as a
//! text frame holding a [`StoredMessage`]. Pings are answered by the
//! [`Connection`] itself. When the connection is lost the client reconnects
//! on the [`Backoff`] schedule, and says which of the two cases it is in.
//!
//! ```text
//!   Idle --timer--> Connecting --connected--> Handshaking --101--> Open
//!    ^                  |                          |                 |
//!    +-- unreachable ---+--------------------------+    dropped -----+
//! ```

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::backoff::{Backoff, ReconnectCause};
use super::machine::{ChatClient, ClientEvent, Command, Now, RequestKind};
use super::seeded::{FIXED_CLOCK_UNIX_MS, SeededKeys};
use super::url::Url;
use crate::chat::{ClientMessage, StoredMessage};
use crate::websocket::handshake::{ClientHandshake, KEY_LEN};
use crate::websocket::mask::MASK_KEY_LEN;
use crate::websocket::{Chunk, Config, Connection, DeflateParams, Event, Role};

/// How long the TCP connect plus the opening handshake may take.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Most chat lines kept while disconnected; older ones are dropped first.
pub const MAX_OUTBOX: usize = 64;

/// Close code sent when the user stops the client (RFC 6455 §7.4.1: normal).
const CLOSE_NORMAL: u16 = 1000;

/// Largest server reply kept in a log line.
const LOG_PREVIEW_CHARS: usize = 80;

/// Source of handshake nonces; tests pass a fixed one.
pub type KeySource = Box<dyn FnMut() -> [u8; KEY_LEN] + Send>;

/// Source of frame masking keys (RFC 6455 §5.3); tests pass a fixed one.
pub type MaskKeySource = fn() -> [u8; MASK_KEY_LEN];

/// What a WebSocket chat client needs to know.
#[derive(Debug, Clone)]
pub struct WsClientConfig {
    /// The sender name put in every message.
    pub name: String,
    /// The server's WebSocket URL, e.g. `ws://127.0.0.1:8080/ws`.
    pub url: Url,
    /// Limits and timers of the WebSocket connection.
    pub websocket: Config,
    /// Reconnect after the connection is lost (off: finish instead).
    pub reconnect: bool,
    /// Stamp every message with [`FIXED_CLOCK_UNIX_MS`] instead of the wall
    /// clock, for reproducible captures (latencies then mean nothing).
    pub fixed_clock: bool,
    /// Offer permessage-deflate (RFC 7692) in the opening handshake. Off by
    /// default: the chat's short messages gain little, and `compare`
    /// measures the uncompressed protocol.
    pub offer_deflate: bool,
}

impl WsClientConfig {
    pub fn new(name: &str, url: Url) -> Self {
        WsClientConfig {
            name: name.to_string(),
            url,
            websocket: Config::default(),
            reconnect: true,
            fixed_clock: false,
            offer_deflate: false,
        }
    }
}

enum Phase {
    /// Waiting until `connect_at` to open a connection.
    Idle { connect_at: Instant },
    /// A TCP connect was requested.
    Connecting { deadline: Instant },
    /// The upgrade request was written; collecting the response head.
    Handshaking {
        handshake: ClientHandshake,
        received: Vec<u8>,
        deadline: Instant,
    },
    /// The WebSocket is up.
    Open { connection: Connection },
    /// Stopped for good.
    Finished,
}

/// A WebSocket chat client.
pub struct WsClient {
    config: WsClientConfig,
    phase: Phase,
    backoff: Backoff,
    stopping: bool,
    outbox: VecDeque<String>,
    output: VecDeque<Vec<u8>>,
    commands: VecDeque<Command>,
    events: VecDeque<ClientEvent>,
    keys: KeySource,
    mask_keys: Option<MaskKeySource>,
    /// `--seed`: masking keys from a seeded stream (see [`SeededKeys`]).
    seeded_masks: Option<Arc<Mutex<SeededKeys>>>,
}

impl WsClient {
    /// A client that will connect on the first timer at or after `now`.
    pub fn new(config: WsClientConfig, now: Now) -> Self {
        let keys: KeySource = Box::new(ClientHandshake::random_key);
        Self::with_keys(config, now, keys, None)
    }

    /// A client with given handshake nonces and, if `mask_keys` is set,
    /// given masking keys, for tests that need predictable bytes.
    pub fn with_keys(
        config: WsClientConfig,
        now: Now,
        keys: KeySource,
        mask_keys: Option<MaskKeySource>,
    ) -> Self {
        WsClient {
            config,
            phase: Phase::Idle {
                connect_at: now.instant,
            },
            backoff: Backoff::new(),
            stopping: false,
            outbox: VecDeque::new(),
            output: VecDeque::new(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
            keys,
            mask_keys,
            seeded_masks: None,
        }
    }

    /// A client whose nonces and masking keys all come from one stream
    /// seeded with `seed`: predictable on purpose, for demonstrations only
    /// (RFC 6455 §10.3 requires unpredictable masking keys).
    pub fn with_seed(config: WsClientConfig, now: Now, seed: u64) -> Self {
        let stream = Arc::new(Mutex::new(SeededKeys::new(seed)));
        let nonces = Arc::clone(&stream);
        let keys: KeySource = Box::new(move || lock(&nonces).nonce());
        let mut client = Self::with_keys(config, now, keys, None);
        client.seeded_masks = Some(stream);
        client
    }

    /// Whether the WebSocket is open.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    /// The connection was lost or never made: schedule the next attempt, or
    /// finish when stopping or when reconnecting is off.
    fn lose_connection(&mut self, cause: ReconnectCause, now: Now, why: &str) {
        if self.stopping || !self.config.reconnect {
            info!("{}: connection ended ({why})", self.config.name);
            self.phase = Phase::Finished;
            return;
        }

        let delay = self.backoff.next_delay(cause);
        match cause {
            ReconnectCause::Unreachable => info!(
                "{}: server unreachable ({why}); retrying in {} s",
                self.config.name,
                delay.as_secs()
            ),
            ReconnectCause::Dropped => info!(
                "{}: connection dropped ({why}); reconnecting in {} s",
                self.config.name,
                delay.as_secs()
            ),
        }
        self.events.push_back(ClientEvent::Reconnecting {
            cause,
            retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        });
        self.phase = Phase::Idle {
            connect_at: now.instant + delay,
        };
    }

    /// Reads the handshake response head; on success the WebSocket opens and
    /// any bytes after the head are its first frames.
    fn on_handshake_bytes(&mut self, bytes: &[u8], now: Now) {
        let Phase::Handshaking {
            handshake,
            received,
            ..
        } = &mut self.phase
        else {
            return;
        };
        received.extend_from_slice(bytes);

        let accepted = match handshake.check_response_negotiated(received) {
            Ok(None) => return,
            Ok(Some(accepted)) => accepted,
            Err(error) => {
                debug!("{}: handshake refused: {error}", self.config.name);
                self.commands.push_back(Command::CloseTcp);
                self.lose_connection(ReconnectCause::Unreachable, now, &error.to_string());
                return;
            }
        };
        let rest = received.split_off(accepted.head_len.min(received.len()));
        self.open(now, accepted.deflate);
        if !rest.is_empty() {
            self.on_frame_bytes(&rest, now);
        }
    }

    /// The handshake succeeded: start the WebSocket connection, with
    /// permessage-deflate if the server accepted our offer of it.
    fn open(&mut self, now: Now, deflate: Option<DeflateParams>) {
        let config = self.config.websocket.clone();
        let connection = match (&self.seeded_masks, self.mask_keys) {
            (Some(stream), _) => {
                let stream = Arc::clone(stream);
                let keys = Box::new(move || lock(&stream).mask_key());
                Connection::with_mask_keys(Role::Client, config, keys)
            }
            (None, Some(keys)) => Connection::with_mask_keys(Role::Client, config, Box::new(keys)),
            (None, None) => Connection::new(Role::Client, config),
        };
        let connection = match deflate {
            Some(params) => connection.with_deflate(params),
            None => connection,
        };
        info!("{}: connected to {}", self.config.name, self.config.url);
        self.backoff.reset();
        self.phase = Phase::Open { connection };
        self.events.push_back(ClientEvent::Connected);

        if self.stopping {
            self.close_connection();
        } else {
            self.flush_outbox(now);
        }
    }

    fn on_frame_bytes(&mut self, bytes: &[u8], now: Now) {
        let Phase::Open { connection } = &mut self.phase else {
            return;
        };
        connection.receive(bytes);
        self.drain_connection(now);
    }

    /// Handles the connection's events and output, and notices when it is
    /// time to close TCP.
    fn drain_connection(&mut self, now: Now) {
        let Phase::Open { connection } = &mut self.phase else {
            return;
        };
        let mut texts = Vec::new();
        while let Some(event) = connection.next_event() {
            match event {
                Event::Text(text) => texts.push(text),
                Event::Binary(data) => {
                    debug!(
                        "{}: ignored a {}-byte binary message",
                        self.config.name,
                        data.len()
                    )
                }
                Event::Ping(_) | Event::Pong(_) => {}
                Event::Close { code, reason } => {
                    // RFC 6455 §7.1.5: a Close with no code means 1005 (no status received).
                    let code = code.map_or("no code (1005)".to_string(), |c| c.to_string());
                    info!("{}: server sent Close {code} {reason:?}", self.config.name)
                }
                Event::Failed(error) => warn!("{}: protocol error: {error}", self.config.name),
            }
        }
        while let Some(chunk) = connection.take_output() {
            self.output.push_back(chunk_bytes(chunk));
        }
        let done = connection.should_close_tcp();

        for text in texts {
            self.on_text(&text, now);
        }
        if done {
            self.commands.push_back(Command::CloseTcp);
            self.lose_connection(ReconnectCause::Dropped, now, "closing handshake done");
        }
    }

    /// A text message from the server: a stored message, or an error reply.
    fn on_text(&mut self, text: &str, now: Now) {
        if let Ok(message) = serde_json::from_str::<StoredMessage>(text) {
            self.events.push_back(ClientEvent::Received {
                message,
                at: now.unix_ms,
            });
            return;
        }
        let error = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_string));
        match error {
            Some(error) => self.events.push_back(ClientEvent::ServerError(error)),
            None => debug!(
                "{}: ignored a text message that is not a chat message: {:?}",
                self.config.name,
                text.chars().take(LOG_PREVIEW_CHARS).collect::<String>()
            ),
        }
    }

    /// Sends every queued chat line, stamping each with the current time.
    fn flush_outbox(&mut self, now: Now) {
        let Phase::Open { connection } = &mut self.phase else {
            return;
        };
        while let Some(text) = self.outbox.pop_front() {
            let message = ClientMessage {
                name: self.config.name.clone(),
                text,
                sent_at: match self.config.fixed_clock {
                    true => FIXED_CLOCK_UNIX_MS,
                    false => now.unix_ms,
                },
            };
            let json = serde_json::to_string(&message).unwrap_or_default();
            if let Err(error) = connection.send_text(&json) {
                debug!("{}: message not sent: {error:?}", self.config.name);
                self.events
                    .push_back(ClientEvent::Dropped { text: message.text });
                continue;
            }
            self.events.push_back(ClientEvent::MessageSent {
                text: message.text,
                sent_at: message.sent_at,
            });
        }
        self.drain_connection(now);
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2).
    fn close_connection(&mut self) {
        if let Phase::Open { connection } = &mut self.phase {
            connection.close(CLOSE_NORMAL, "bye");
            while let Some(chunk) = connection.take_output() {
                self.output.push_back(chunk_bytes(chunk));
            }
        }
    }
}

/// The seeded stream, even if a thread panicked while holding it (its state
/// is a single integer, always valid).
fn lock(stream: &Mutex<SeededKeys>) -> std::sync::MutexGuard<'_, SeededKeys> {
    stream.lock().unwrap_or_else(PoisonError::into_inner)
}

fn chunk_bytes(chunk: Chunk) -> Vec<u8> {
    match chunk {
        Chunk::Owned(bytes) => bytes,
        Chunk::Shared(bytes) => bytes.to_vec(),
    }
}

impl ChatClient for WsClient {
    fn on_timer(&mut self, now: Now) {
        match &mut self.phase {
            Phase::Idle { connect_at } if *connect_at <= now.instant => {
                self.commands.push_back(Command::Connect);
                self.phase = Phase::Connecting {
                    deadline: now.instant + OPEN_TIMEOUT,
                };
            }
            Phase::Connecting { deadline } | Phase::Handshaking { deadline, .. }
                if *deadline <= now.instant =>
            {
                self.output.clear();
                self.commands.push_back(Command::CloseTcp);
                self.lose_connection(ReconnectCause::Unreachable, now, "opening timed out");
            }
            Phase::Open { connection } => {
                connection.on_timeout(now.instant);
                self.drain_connection(now);
            }
            _ => {}
        }
    }

    fn on_connected(&mut self, now: Now) {
        if !matches!(self.phase, Phase::Connecting { .. }) {
            return;
        }
        let url = &self.config.url;
        let mut handshake = ClientHandshake::new(&url.host_header(), &url.path, (self.keys)());
        if self.config.offer_deflate {
            handshake = handshake.offering_deflate();
        }
        self.output.push_back(handshake.request());
        self.events
            .push_back(ClientEvent::RequestSent(RequestKind::Upgrade));
        self.phase = Phase::Handshaking {
            handshake,
            received: Vec::new(),
            deadline: now.instant + OPEN_TIMEOUT,
        };
    }

    fn on_connect_failed(&mut self, now: Now, error: &io::Error) {
        if matches!(self.phase, Phase::Connecting { .. }) {
            self.lose_connection(ReconnectCause::Unreachable, now, &error.to_string());
        }
    }

    fn on_bytes(&mut self, bytes: &[u8], now: Now) {
        match self.phase {
            Phase::Handshaking { .. } => self.on_handshake_bytes(bytes, now),
            Phase::Open { .. } => self.on_frame_bytes(bytes, now),
            _ => debug!(
                "{}: {} bytes with no connection",
                self.config.name,
                bytes.len()
            ),
        }
    }

    fn on_eof(&mut self, now: Now) {
        // Bytes not yet written belonged to the lost connection.
        self.output.clear();
        match &mut self.phase {
            Phase::Connecting { .. } | Phase::Handshaking { .. } => {
                self.lose_connection(ReconnectCause::Unreachable, now, "closed during handshake")
            }
            Phase::Open { connection } => {
                let clean = connection.on_eof();
                let why = if clean {
                    "closed cleanly"
                } else {
                    "closed abnormally, 1006"
                };
                self.lose_connection(ReconnectCause::Dropped, now, why);
            }
            Phase::Idle { .. } | Phase::Finished => {}
        }
    }

    fn send(&mut self, text: String, now: Now) {
        if self.outbox.len() >= MAX_OUTBOX
            && let Some(oldest) = self.outbox.pop_front()
        {
            self.events.push_back(ClientEvent::Dropped { text: oldest });
        }
        self.outbox.push_back(text);
        self.flush_outbox(now);
    }

    fn shutdown(&mut self, _now: Now) {
        self.stopping = true;
        match self.phase {
            Phase::Open { .. } => self.close_connection(),
            Phase::Connecting { .. } | Phase::Handshaking { .. } => {
                self.commands.push_back(Command::CloseTcp);
                self.phase = Phase::Finished;
            }
            Phase::Idle { .. } | Phase::Finished => self.phase = Phase::Finished,
        }
    }

    fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Idle { connect_at } => Some(*connect_at),
            Phase::Connecting { deadline } | Phase::Handshaking { deadline, .. } => Some(*deadline),
            Phase::Open { connection } => connection.close_deadline(),
            Phase::Finished => None,
        }
    }

    fn take_output(&mut self) -> Option<Vec<u8>> {
        self.output.pop_front()
    }

    fn next_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    fn next_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
