//! The HTTP polling chat client as a sans-I/O state machine.
//!
//! Every `interval` it asks `GET /messages?since=N`, N being the highest id it
//! has seen; chat lines go out as `POST /messages`. One request is in flight
//! at a time, posts first. As in the original experiment each request opens
//! a new TCP connection (`Connection: close`), unless `keep_alive` is set, in
//! which case one connection is reused while the server keeps it open.
//!
//! The next poll is due `interval` after the previous poll's answer, the way
//! a loop of "poll, then sleep" behaves, except after an answer the server
//! capped (it carries a `rel="next"` link, see [`crate::chat::polling`]): then
//! more messages are waiting and the next poll goes out at once, so a client
//! joining a long log catches up page by page without waiting in between.
//!
//! A 410 Gone answer says where to resume. Either the server's bounded log no
//! longer holds message N+1: the client reports how many it missed and resumes
//! from the oldest message still there. Or N is newer than anything the server
//! holds, because the server restarted and numbers from 1 again: the client
//! reports the reset and starts over from the oldest message, instead of
//! skipping the new server's messages up to its old N.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use serde::Deserialize;

use super::machine::{ChatClient, ClientEvent, Command, Now, RequestKind};
use super::url::Url;
use crate::chat::{ClientMessage, StoredMessage};
use crate::http::response_parser::{Response, ResponseError, ResponseParser};

/// The poll interval of the original experiment.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

/// How long a connect plus request plus response may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Most chat lines waiting to be posted; older ones are dropped first.
pub const MAX_OUTBOX: usize = 64;

/// The polling endpoint, below the URL's path.
const MESSAGES_PATH: &str = "/messages";

const STATUS_OK: u16 = 200;
const STATUS_CREATED: u16 = 201;
/// The poll's `since` fell out of the server's bounded log.
const STATUS_GONE: u16 = 410;

/// Largest part of an error body kept in a log line.
const LOG_PREVIEW_CHARS: usize = 120;

/// What a polling chat client needs to know.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// The sender name put in every message.
    pub name: String,
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: Url,
    /// Time from one poll's answer to the next poll.
    pub interval: Duration,
    /// Reuse one TCP connection instead of one per request.
    pub keep_alive: bool,
}

impl PollerConfig {
    pub fn new(name: &str, url: Url) -> Self {
        PollerConfig {
            name: name.to_string(),
            url,
            interval: DEFAULT_INTERVAL,
            keep_alive: false,
        }
    }
}

/// One HTTP request of the chat.
#[derive(Debug, Clone, PartialEq)]
enum Request {
    Poll { since: u64 },
    Post { text: String },
}

#[derive(Debug)]
enum Phase {
    /// No request in flight.
    Idle,
    /// A TCP connect was requested for this request.
    Connecting { request: Request, deadline: Instant },
    /// The request was written; reading the answer.
    Waiting {
        request: Request,
        /// Whether the request went out on a kept-alive connection.
        reused: bool,
        /// Whether any byte of the answer has arrived.
        answered: bool,
        deadline: Instant,
    },
    /// Stopped for good.
    Finished,
}

/// The body of a 410 Gone answer.
#[derive(Deserialize)]
struct GoneBody {
    oldest_id: u64,
    /// Absent from servers older than this client.
    newest_id: Option<u64>,
}

/// A polling chat client.
#[derive(Debug)]
pub struct Poller {
    config: PollerConfig,
    phase: Phase,
    /// Highest message id seen.
    since: u64,
    /// Wall clock when the client started: older messages are history.
    started_unix_ms: f64,
    next_poll: Instant,
    /// Whether an idle kept-alive connection is open.
    connected: bool,
    /// Consecutive failed requests, to log an outage once.
    failures: u32,
    parser: ResponseParser,
    outbox: VecDeque<String>,
    output: VecDeque<Vec<u8>>,
    commands: VecDeque<Command>,
    events: VecDeque<ClientEvent>,
}

impl Poller {
    /// A client whose first poll is due at `now`.
    pub fn new(config: PollerConfig, now: Now) -> Self {
        Poller {
            config,
            phase: Phase::Idle,
            since: 0,
            started_unix_ms: now.unix_ms,
            next_poll: now.instant,
            connected: false,
            failures: 0,
            parser: ResponseParser::new(),
            outbox: VecDeque::new(),
            output: VecDeque::new(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The highest message id seen so far.
    pub fn since(&self) -> u64 {
        self.since
    }

    /// Starts the next request if none is in flight and one is due.
    fn advance(&mut self, now: Now) {
        if !matches!(self.phase, Phase::Idle) {
            return;
        }
        let request = if let Some(text) = self.outbox.pop_front() {
            Request::Post { text }
        } else if now.instant >= self.next_poll {
            Request::Poll { since: self.since }
        } else {
            return;
        };

        if self.connected {
            self.write_request(request, true, now);
        } else {
            self.commands.push_back(Command::Connect);
            self.phase = Phase::Connecting {
                request,
                deadline: now.instant + REQUEST_TIMEOUT,
            };
        }
    }

    /// Encodes and queues a request; a post is stamped with `sent_at` now.
    fn write_request(&mut self, request: Request, reused: bool, now: Now) {
        let target = messages_target(&self.config.url);
        let host = self.config.url.host_header();
        let connection = if self.config.keep_alive {
            "keep-alive"
        } else {
            "close"
        };
        let fields = format!("Host: {host}\r\nConnection: {connection}\r\n");
        let (bytes, kind) = match &request {
            Request::Poll { since } => {
                let bytes = format!("GET {target}?since={since} HTTP/1.1\r\n{fields}\r\n");
                (bytes.into_bytes(), RequestKind::Poll)
            }
            Request::Post { text } => {
                let bytes = self.encode_post(&target, &fields, text, now);
                (bytes, RequestKind::Post)
            }
        };

        self.output.push_back(bytes);
        self.events.push_back(ClientEvent::RequestSent(kind));
        self.connected = false;
        self.phase = Phase::Waiting {
            request,
            reused,
            answered: false,
            deadline: now.instant + REQUEST_TIMEOUT,
        };
    }

    /// `POST` with the message JSON; `fields` are the header fields every
    /// request carries.
    fn encode_post(&mut self, target: &str, fields: &str, text: &str, now: Now) -> Vec<u8> {
        let message = ClientMessage {
            name: self.config.name.clone(),
            text: text.to_string(),
            sent_at: now.unix_ms,
        };
        let body = serde_json::to_vec(&message).unwrap_or_default();
        self.events.push_back(ClientEvent::MessageSent {
            text: message.text,
            sent_at: message.sent_at,
        });

        let mut bytes = format!(
            "POST {target} HTTP/1.1\r\n{fields}Content-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend(body);
        bytes
    }

    /// Reads as many answers as the buffered bytes hold (normally one).
    fn read_responses(&mut self, now: Now) {
        loop {
            match self.parser.next_response() {
                Ok(Some(response)) => self.on_response(response, now),
                Ok(None) => return,
                Err(error) => return self.on_broken_response(&error, now),
            }
        }
    }

    /// A complete answer to the request in flight.
    fn on_response(&mut self, response: Response, now: Now) {
        let Phase::Waiting { request, .. } = std::mem::replace(&mut self.phase, Phase::Idle) else {
            debug!("{}: answer with no request in flight", self.config.name);
            self.drop_connection();
            return;
        };
        self.failures = 0;

        match request {
            Request::Poll { .. } => self.on_poll_answer(&response, now),
            Request::Post { .. } if response.status == STATUS_CREATED => {}
            Request::Post { text } => {
                self.report_error("post", &response);
                self.events.push_back(ClientEvent::Dropped { text });
            }
        }

        if self.config.keep_alive && response.keep_alive {
            self.connected = true;
        } else {
            self.drop_connection();
        }
        self.advance(now);
    }

    fn on_poll_answer(&mut self, response: &Response, now: Now) {
        self.next_poll = now.instant + self.config.interval;
        match response.status {
            STATUS_OK => {
                self.on_messages(&response.body, now);
                if has_next_link(response) {
                    self.next_poll = now.instant;
                }
            }
            STATUS_GONE => self.on_gone(&response.body, now),
            _ => self.report_error("poll", response),
        }
    }

    /// 200: a JSON array of the messages after `since`.
    fn on_messages(&mut self, body: &[u8], now: Now) {
        let messages: Vec<StoredMessage> = match serde_json::from_slice(body) {
            Ok(messages) => messages,
            Err(error) => {
                warn!(
                    "{}: poll answer is not a message list: {error}",
                    self.config.name
                );
                return;
            }
        };
        let mut new = 0;
        for message in messages {
            // A message at or below `since` was already delivered.
            if message.id <= self.since {
                continue;
            }
            self.since = message.id;
            new += 1;
            let event = if message.sent_at < self.started_unix_ms {
                ClientEvent::History { message }
            } else {
                ClientEvent::Received {
                    message,
                    at: now.unix_ms,
                }
            };
            self.events.push_back(event);
        }
        if new == 0 {
            self.events.push_back(ClientEvent::EmptyPoll);
        }
    }

    /// 410: resume before `oldest_id` at once. Either messages
    /// `since+1 .. oldest_id-1` are gone, or `since` is past the server's
    /// newest id and the client starts over from the server's oldest message.
    fn on_gone(&mut self, body: &[u8], now: Now) {
        let Ok(GoneBody {
            oldest_id,
            newest_id,
        }) = serde_json::from_slice(body)
        else {
            warn!("{}: 410 answer without oldest_id", self.config.name);
            return;
        };
        let resume = oldest_id.saturating_sub(1);

        if resume < self.since {
            let newest_id = newest_id.unwrap_or(resume);
            warn!(
                "{}: the server knows ids up to {newest_id}, not {}: it restarted; \
                 starting over from id {oldest_id}",
                self.config.name, self.since
            );
            self.events.push_back(ClientEvent::Reset {
                last_seen: self.since,
                newest_id,
            });
        } else {
            let missed = resume - self.since;
            warn!(
                "{}: missed {missed} messages (the server's log now starts at id {oldest_id})",
                self.config.name
            );
            self.events
                .push_back(ClientEvent::Gap { missed, oldest_id });
        }
        self.since = resume;
        self.next_poll = now.instant;
    }

    fn report_error(&mut self, what: &str, response: &Response) {
        let body = String::from_utf8_lossy(&response.body);
        let preview: String = body.chars().take(LOG_PREVIEW_CHARS).collect();
        warn!(
            "{}: {what} answered {}: {preview}",
            self.config.name, response.status
        );
        self.events.push_back(ClientEvent::ServerError(format!(
            "{} {preview}",
            response.status
        )));
    }

    /// The answer could not be read: give up on the connection and on this
    /// request; a poll is retried at the next interval.
    fn on_broken_response(&mut self, error: &ResponseError, now: Now) {
        debug!("{}: bad answer: {error}", self.config.name);
        self.drop_connection();
        self.fail_request(&error.to_string(), now);
    }

    /// The request in flight failed. A post's text is reported as dropped.
    fn fail_request(&mut self, why: &str, now: Now) {
        let request = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Connecting { request, .. } | Phase::Waiting { request, .. } => request,
            other => {
                self.phase = other;
                return;
            }
        };
        if self.failures == 0 {
            info!(
                "{}: request failed ({why}); retrying every poll",
                self.config.name
            );
        }
        self.failures = self.failures.saturating_add(1);
        if let Request::Post { text } = request {
            self.events.push_back(ClientEvent::Dropped { text });
        }
        self.next_poll = now.instant + self.config.interval;
    }

    /// Asks to close TCP and forgets the connection's parser state.
    fn drop_connection(&mut self) {
        self.commands.push_back(Command::CloseTcp);
        self.connected = false;
        self.parser = ResponseParser::new();
    }
}

/// Whether the answer links to a next page (RFC 8288 §3): the server capped
/// it, and more messages are waiting.
fn has_next_link(response: &Response) -> bool {
    let Some(link) = response.header("Link") else {
        return false;
    };
    let link = String::from_utf8_lossy(link).to_ascii_lowercase();
    link.contains("rel=\"next\"") || link.contains("rel=next")
}

/// The path of `/messages` below the URL's path (`http://h/chat` →
/// `/chat/messages`).
fn messages_target(url: &Url) -> String {
    let base = url.path.split('?').next().unwrap_or("");
    format!("{}{MESSAGES_PATH}", base.trim_end_matches('/'))
}

impl ChatClient for Poller {
    fn on_timer(&mut self, now: Now) {
        let expired = match &self.phase {
            Phase::Connecting { deadline, .. } | Phase::Waiting { deadline, .. } => {
                *deadline <= now.instant
            }
            _ => false,
        };
        if expired {
            self.output.clear();
            self.drop_connection();
            self.fail_request("timed out", now);
        }
        self.advance(now);
    }

    fn on_connected(&mut self, now: Now) {
        if let Phase::Connecting { request, .. } = std::mem::replace(&mut self.phase, Phase::Idle) {
            self.parser = ResponseParser::new();
            self.write_request(request, false, now);
        }
    }

    fn on_connect_failed(&mut self, now: Now, error: &io::Error) {
        if matches!(self.phase, Phase::Connecting { .. }) {
            self.fail_request(&error.to_string(), now);
        }
    }

    fn on_bytes(&mut self, bytes: &[u8], now: Now) {
        if let Phase::Waiting { answered, .. } = &mut self.phase {
            *answered = true;
        }
        self.parser.feed(bytes);
        self.read_responses(now);
    }

    fn on_eof(&mut self, now: Now) {
        self.output.clear();
        self.connected = false;
        let final_response = self.parser.on_eof();
        self.parser = ResponseParser::new();
        match final_response {
            Ok(Some(response)) => return self.on_response(response, now),
            Ok(None) => {}
            Err(error) => debug!("{}: {error}", self.config.name),
        }

        match &mut self.phase {
            // RFC 9112 §9.3.1: a kept-alive connection the server closed
            // before answering may be retried on a new one.
            Phase::Waiting {
                request,
                reused: true,
                answered: false,
                ..
            } => {
                let request = request.clone();
                self.phase = Phase::Connecting {
                    request,
                    deadline: now.instant + REQUEST_TIMEOUT,
                };
                self.commands.push_back(Command::Connect);
            }
            Phase::Waiting { .. } => self.fail_request("connection closed before the answer", now),
            _ => {}
        }
    }

    fn send(&mut self, text: String, now: Now) {
        if self.outbox.len() >= MAX_OUTBOX
            && let Some(oldest) = self.outbox.pop_front()
        {
            self.events.push_back(ClientEvent::Dropped { text: oldest });
        }
        self.outbox.push_back(text);
        self.advance(now);
    }

    fn shutdown(&mut self, _now: Now) {
        if !matches!(self.phase, Phase::Idle | Phase::Finished) || self.connected {
            self.commands.push_back(Command::CloseTcp);
        }
        for text in self.outbox.drain(..) {
            self.events.push_back(ClientEvent::Dropped { text });
        }
        self.connected = false;
        self.phase = Phase::Finished;
    }

    fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Idle => Some(self.next_poll),
            Phase::Connecting { deadline, .. } | Phase::Waiting { deadline, .. } => Some(*deadline),
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
