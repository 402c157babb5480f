//! The WebSocket connection state machine (RFC 6455 §5, §7), for both roles.
//!
//! A [`Connection`] owns the bytes in both directions and nothing else: the
//! caller feeds it what the socket read ([`Connection::receive`]), pulls
//! events ([`Connection::next_event`]) until `None`, writes what
//! [`Connection::take_output`] hands out, and closes TCP when
//! [`Connection::should_close_tcp`] says so.
//!
//! Reading works frame by frame. The header is decoded once it is complete;
//! a data frame's payload is then moved into the message buffer as it arrives,
//! unmasked there in place and, for text, checked for UTF-8 at once, so a bad
//! byte fails the connection before the frame or message ends (RFC 6455 §8.1).
//! A control frame (at most 125 bytes) is handled once it is all here.
//!
//! With permessage-deflate negotiated ([`Connection::with_deflate`]), a
//! message whose first frame has RSV1 set is inflated piece by piece as its
//! payload arrives (RFC 7692 §7.2.2); the size limit and the UTF-8 check apply
//! to the inflated bytes. Every text and binary message we send is compressed,
//! but for frames from [`Connection::send_shared`], which stay as encoded.
//!
//! The closing handshake (RFC 6455 §7.1.2-§7.1.4, §5.5.1):
//!
//! ```text
//!               close()                   peer's Close
//!   Open ------------------> CloseSent -----------------> HandshakeDone
//!     |                          |                              ^
//!     |                          | close_timeout passes         |
//!     |                          v                              |
//!     |                       TimedOut                          |
//!     +---- peer's Close (we echo it at once) ------------------+
//! ```
//!
//! Failing the connection (RFC 6455 §7.1.7) goes to `Failed` from any reading
//! state; a Close with the error's code is queued if we had not sent one.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, trace};

use super::close::{CloseCode, encode_close_body, parse_close_body};
use super::deflate::{DeflateParams, PerMessageDeflate};
use super::error::ProtocolError;
use super::frame::{
    FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, Opcode, RSV1, encode_frame_with_rsv_into,
};
use super::mask::{MASK_KEY_LEN, apply_mask};
use super::utf8::Utf8Validator;

#[cfg(test)]
mod tests;

/// Default for [`Config::max_message_size`]: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// Default for [`Config::max_fragments`]: Autobahn case 9.x sends up to 65536.
pub const DEFAULT_MAX_FRAGMENTS: usize = 1 << 17;
/// Default for [`Config::close_timeout`].
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Queued frames are appended to the last output chunk while it stays below
/// this size, so that a burst of small frames leaves in few writes.
const COALESCE_LIMIT: usize = 64 << 10;
/// The most message buffer reserved on the word of a frame header alone,
/// before its payload has arrived.
const MAX_PREALLOCATION: u64 = 1 << 20;

/// Which end of the connection we are; it decides masking (RFC 6455 §5.1) and
/// who closes TCP first (§7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// Limits and timers, with documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The largest message accepted, all fragments together (1009 beyond).
    pub max_message_size: usize,
    /// The most fragments one message may arrive in (1009 beyond).
    pub max_fragments: usize,
    /// How long to wait for the peer's Close after sending ours, and (client)
    /// for the server to close TCP after the closing handshake.
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }
}

/// Bytes to write, in order. `Shared` chunks are broadcast frames encoded once
/// and queued on many connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Chunk {
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_ref().is_empty()
    }
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Owned(bytes) => bytes,
            Self::Shared(bytes) => bytes,
        }
    }
}

/// What the peer's bytes amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Binary(Vec<u8>),
    /// The Pong reply (same payload, RFC 6455 §5.5.2) is already queued.
    /// Pings and Pongs arriving after we sent a Close are discarded unreported.
    Ping(Vec<u8>),
    /// Unsolicited pongs are just reported; nothing else happens (§5.5.3).
    Pong(Vec<u8>),
    /// The closing handshake finished or the peer's Close arrived; if we had
    /// not sent a Close, the echo reply (same code, RFC 6455 §5.5.1) is
    /// already queued. `code` is `None` for an empty Close.
    Close {
        code: Option<u16>,
        reason: String,
    },
    /// We failed the connection (RFC 6455 §7.1.7): a Close with
    /// `error.close_code()` is queued (unless we had already sent a Close);
    /// the caller logs it once and closes TCP when
    /// [`Connection::should_close_tcp`] says so. No events follow.
    Failed(ProtocolError),
}

/// The connection as the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    /// We sent a Close and await the peer's.
    Closing,
    /// The closing handshake is over, failed, timed out, or TCP was closed.
    Closed,
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// A Close was already sent: no data after it (RFC 6455 §5.5.1).
    Closing,
    /// The peer closed TCP; nothing more can be delivered.
    PeerClosedTcp,
    /// A Ping payload over 125 bytes (RFC 6455 §5.5).
    ControlFrameTooLong,
    /// `send_shared` needs the server role: client frames are masked with a
    /// fresh key each, so they cannot be shared (RFC 6455 §5.3).
    SharedFrameNeedsServerRole,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closing => "a Close frame was already sent",
            Self::PeerClosedTcp => "the peer closed the TCP connection",
            Self::ControlFrameTooLong => "control frame payload exceeds 125 bytes",
            Self::SharedFrameNeedsServerRole => "shared frames are for the server role only",
        })
    }
}

impl std::error::Error for SendError {}

/// Where we are in the closing handshake (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    CloseSent,
    HandshakeDone,
    Failed,
    TimedOut,
}

/// What one step of reading produced.
enum Step {
    NeedMore,
    Continue,
    Event(Event),
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes not yet read.
    remaining: u64,
    /// Position within the masking key of the next payload byte.
    mask_phase: usize,
}

/// A text or binary message whose frames are arriving.
#[derive(Debug)]
struct Message {
    is_text: bool,
    /// RSV1 was set on its first frame: its payload is DEFLATE data
    /// (RFC 7692 §6), and `wire_len` counts those bytes as they arrive.
    compressed: bool,
    wire_len: u64,
    /// A binary message's bytes so far.
    data: Vec<u8>,
    /// A text message's validated text so far; a code point cut off at the end
    /// of a piece waits in `utf8` until its last byte arrives.
    text: String,
    utf8: Utf8Validator,
    fragments: usize,
}

/// The source of client masking keys.
pub type MaskKeys = Box<dyn FnMut() -> [u8; MASK_KEY_LEN] + Send>;

/// One WebSocket connection after the opening handshake, sans I/O.
pub struct Connection {
    role: Role,
    config: Config,
    mask_keys: MaskKeys,
    phase: Phase,
    /// When we give up on the peer; set when our Close is queued.
    deadline: Option<Instant>,
    /// Client only: the server did not close TCP within close_timeout.
    gave_up_waiting: bool,
    peer_closed_tcp: bool,

    /// Received bytes; those before `input_start` are consumed.
    input: Vec<u8>,
    input_start: usize,
    frame: Option<InFrame>,
    message: Option<Message>,
    /// permessage-deflate, when the opening handshake negotiated it (boxed:
    /// most connections go without, and should not carry its size).
    deflate: Option<Box<PerMessageDeflate>>,

    output: VecDeque<Chunk>,
    frames_in: u64,
    frames_out: u64,
}

impl Connection {
    /// A connection in `role`. A client masks its frames with keys from the
    /// thread-local CSPRNG (RFC 6455 §5.3: keys must be unpredictable).
    pub fn new(role: Role, config: Config) -> Self {
        Self::with_mask_keys(role, config, Box::new(rand::random))
    }

    /// A connection that takes client masking keys from `keys` (for tests and
    /// reproducible traces; a server never calls it).
    pub fn with_mask_keys(role: Role, config: Config, keys: MaskKeys) -> Self {
        Self {
            role,
            config,
            mask_keys: keys,
            phase: Phase::Open,
            deadline: None,
            gave_up_waiting: false,
            peer_closed_tcp: false,
            input: Vec::new(),
            input_start: 0,
            frame: None,
            message: None,
            deflate: None,
            output: VecDeque::new(),
            frames_in: 0,
            frames_out: 0,
        }
    }

    /// Use permessage-deflate with the parameters the opening handshake
    /// agreed on (RFC 7692); call before any byte is received or sent.
    pub fn with_deflate(mut self, params: DeflateParams) -> Self {
        self.deflate = Some(Box::new(PerMessageDeflate::new(self.role, params)));
        self
    }

    /// The permessage-deflate parameters in use, if it was negotiated.
    pub fn deflate_params(&self) -> Option<DeflateParams> {
        self.deflate.as_ref().map(|deflate| deflate.params())
    }

    /// Append bytes the socket read. Ignored once the connection no longer
    /// reads (it failed, the peer's Close arrived, or TCP is closed). Call
    /// [`Self::next_event`] until `None` afterwards.
    pub fn receive(&mut self, bytes: &[u8]) {
        if !self.is_reading() {
            trace!(
                "< {} bytes ignored: connection no longer reads",
                bytes.len()
            );
            return;
        }
        self.compact_input();
        self.input.extend_from_slice(bytes);
    }

    /// The next event from the buffered bytes; `None` means more bytes are
    /// needed (or the connection no longer reads).
    pub fn next_event(&mut self) -> Option<Event> {
        while self.is_reading() {
            match self.read_step() {
                Ok(Step::NeedMore) => return None,
                Ok(Step::Continue) => {}
                Ok(Step::Event(event)) => return Some(event),
                Err(error) => return Some(self.fail_connection(error)),
            }
        }
        None
    }

    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.check_can_send()?;
        self.queue_frame(Opcode::Text, text.as_bytes());
        Ok(())
    }

    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.check_can_send()?;
        self.queue_frame(Opcode::Binary, data);
        Ok(())
    }

    /// Queue a Ping; its payload must fit a control frame (RFC 6455 §5.5).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlFrameTooLong);
        }
        self.check_can_send()?;
        self.queue_frame(Opcode::Ping, payload);
        Ok(())
    }

    /// Queue a frame encoded once by [`encode_frame`](super::encode_frame)
    /// (unmasked) and shared by many connections (broadcast). Server role
    /// only: server frames are unmasked, so identical for every recipient.
    pub fn send_shared(&mut self, frame: Arc<[u8]>) -> Result<(), SendError> {
        if self.role != Role::Server {
            return Err(SendError::SharedFrameNeedsServerRole);
        }
        self.check_can_send()?;
        trace!("> shared frame of {} bytes", frame.len());
        self.output.push_back(Chunk::Shared(frame));
        self.frames_out += 1;
        Ok(())
    }

    /// Start the closing handshake (RFC 6455 §7.1.2). Does nothing once a
    /// Close was sent. A code that may not be sent (1005, 1006, 1015 or any
    /// other [`CloseCode::is_valid_on_wire`] rejects) gives a Close without a
    /// code; a reason over 123 bytes is cut at a character boundary.
    pub fn close(&mut self, code: u16, reason: &str) {
        if self.phase != Phase::Open {
            debug!("close({code}) ignored: a Close was already sent");
            return;
        }
        if !CloseCode(code).is_valid_on_wire() {
            debug!("close code {code} may not be sent (RFC 6455 §7.4.1); sending no code");
        }
        self.queue_close(Some(code), reason);
    }

    /// Fail the connection for a reason the application found, e.g.
    /// [`ProtocolError::UnsupportedDataType`] (1003): queue a Close with the
    /// error's code if none was sent, and ignore all further input.
    pub fn fail(&mut self, error: ProtocolError) {
        if self.is_reading() {
            self.fail_connection(error);
        }
    }

    /// The next bytes to write, in order.
    pub fn take_output(&mut self) -> Option<Chunk> {
        self.output.pop_front()
    }

    /// Whether bytes are waiting to be written (ask for write readiness only
    /// while this holds).
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    pub fn state(&self) -> State {
        if self.peer_closed_tcp {
            return State::Closed;
        }
        match self.phase {
            Phase::Open => State::Open,
            Phase::CloseSent => State::Closing,
            Phase::HandshakeDone | Phase::Failed | Phase::TimedOut => State::Closed,
        }
    }

    /// Whether both Close frames crossed (RFC 6455 §7.1.4: "The WebSocket
    /// Closing Handshake is Completed"). [`State::Closed`] alone does not say
    /// so: a failed connection, a peer that never answered our Close and a
    /// peer that dropped TCP are closed too, and each of those is abnormal.
    pub fn closing_handshake_completed(&self) -> bool {
        self.phase == Phase::HandshakeDone
    }

    /// True once we should close TCP, and only when no output is queued (the
    /// caller must also have written any chunk it took). Server: as soon as
    /// the closing handshake is done. Client: RFC 6455 §7.1.1 has the server
    /// close TCP first, so only once close_timeout passed after the handshake
    /// ([`Self::on_timeout`]). Either role: after failing the connection,
    /// after the peer never answered our Close, and after the peer closed TCP.
    pub fn should_close_tcp(&self) -> bool {
        if self.peer_closed_tcp {
            return true;
        }
        if self.has_output() {
            return false;
        }
        match self.phase {
            Phase::Open | Phase::CloseSent => false,
            Phase::Failed | Phase::TimedOut => true,
            Phase::HandshakeDone => self.role == Role::Server || self.gave_up_waiting,
        }
    }

    /// When we give up on the peer, while we wait for one: for its Close
    /// after ours, or (client) for the server to close TCP after the closing
    /// handshake. Call [`Self::on_timeout`] then.
    pub fn close_deadline(&self) -> Option<Instant> {
        if self.peer_closed_tcp {
            return None;
        }
        match self.phase {
            Phase::CloseSent => self.deadline,
            Phase::HandshakeDone if self.role == Role::Client && !self.gave_up_waiting => {
                self.deadline
            }
            _ => None,
        }
    }

    /// The clock reached `now`: if it is past [`Self::close_deadline`], stop
    /// waiting for the peer; [`Self::should_close_tcp`] then turns true.
    pub fn on_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.close_deadline() else {
            return;
        };
        if now < deadline {
            return;
        }

        if self.phase == Phase::CloseSent {
            debug!("peer sent no Close within {:?}", self.config.close_timeout);
            self.phase = Phase::TimedOut;
            self.drop_input();
        } else {
            debug!(
                "server kept TCP open {:?} after closing",
                self.config.close_timeout
            );
            self.gave_up_waiting = true;
        }
    }

    /// The peer closed TCP. Returns whether that was clean: after both Close
    /// frames crossed (RFC 6455 §7.1.4); otherwise the close was abnormal
    /// (1006, §7.1.5). Queued output stays but cannot be delivered.
    pub fn on_eof(&mut self) -> bool {
        let clean = self.phase == Phase::HandshakeDone;
        if !clean {
            debug!("peer closed TCP in phase {:?}", self.phase);
        }
        self.peer_closed_tcp = true;
        self.drop_input();
        clean
    }

    /// Frames received whole so far (data and control).
    pub fn frames_in(&self) -> u64 {
        self.frames_in
    }

    /// Frames queued for sending so far (shared ones included).
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    pub fn role(&self) -> Role {
        self.role
    }

    // ----- reading ---------------------------------------------------------

    fn is_reading(&self) -> bool {
        !self.peer_closed_tcp && matches!(self.phase, Phase::Open | Phase::CloseSent)
    }

    /// Drop consumed bytes when that is cheap: always when all were consumed,
    /// otherwise when the unread rest is no longer than the consumed prefix,
    /// so each byte is moved at most once on average.
    fn compact_input(&mut self) {
        let unread = self.input.len() - self.input_start;
        if unread == 0 {
            self.input.clear();
            self.input_start = 0;
        } else if self.input_start >= unread {
            self.input.drain(..self.input_start);
            self.input_start = 0;
        }
    }

    fn drop_input(&mut self) {
        self.input = Vec::new();
        self.input_start = 0;
        self.frame = None;
        self.message = None;
    }

    fn read_step(&mut self) -> Result<Step, ProtocolError> {
        match self.frame {
            None => self.read_header(),
            Some(frame) if frame.header.opcode.is_control() => self.read_control(frame),
            Some(frame) => self.read_data(frame),
        }
    }

    fn read_header(&mut self) -> Result<Step, ProtocolError> {
        let Some((header, header_len)) = FrameHeader::parse(&self.input[self.input_start..])?
        else {
            return Ok(Step::NeedMore);
        };
        self.input_start += header_len;

        self.check_frame_header(&header)?;
        if !header.opcode.is_control() {
            self.start_data_frame(&header)?;
        }
        self.frame = Some(InFrame {
            header,
            remaining: header.payload_len,
            mask_phase: 0,
        });
        Ok(Step::Continue)
    }

    /// The rules a header must follow whatever the state of the message.
    fn check_frame_header(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        // RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension was negotiated.
        // RFC 7692 §6: permessage-deflate sets RSV1 on the first frame of a
        // compressed message only: never on a continuation or control frame.
        let first_data_frame = matches!(header.opcode, Opcode::Text | Opcode::Binary);
        let allowed = match self.deflate.is_some() && first_data_frame {
            true => RSV1,
            false => 0,
        };
        if header.rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBitsSet(header.rsv));
        }

        // RFC 6455 §5.2: an unknown opcode MUST fail the connection.
        if let Opcode::Reserved(bits) = header.opcode {
            return Err(ProtocolError::ReservedOpcode(bits));
        }

        // RFC 6455 §5.5: control frames MUST NOT be fragmented.
        if header.opcode.is_control() && !header.fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }

        // RFC 6455 §5.5: control frames MUST have a payload of 125 bytes or less.
        if header.opcode.is_control() && header.payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(ProtocolError::ControlFrameTooLong(header.payload_len));
        }

        // RFC 6455 §5.1: clients mask every frame, servers none.
        match (self.role, header.mask) {
            (Role::Server, None) => Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, Some(_)) => Err(ProtocolError::MaskedServerFrame),
            _ => Ok(()),
        }
    }

    /// Track a data frame's place in its message (RFC 6455 §5.4) and check the
    /// limits as soon as the length is known, before any payload is buffered.
    fn start_data_frame(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        // RFC 6455 §5.5.1: after sending Close we discard data frames, so
        // there is no message to track.
        if self.phase != Phase::Open {
            return Ok(());
        }

        match (header.opcode, self.message.as_mut()) {
            // RFC 6455 §5.4: a continuation needs a message to continue.
            (Opcode::Continuation, None) => Err(ProtocolError::ContinuationWithoutMessage),
            (Opcode::Continuation, Some(message)) => {
                message.add_fragment(header.payload_len, &self.config)
            }
            // RFC 6455 §5.4: fragments of different messages MUST NOT interleave.
            (_, Some(_)) => Err(ProtocolError::MessageStartedDuringFragments),
            (opcode, None) => {
                let compressed = header.rsv & RSV1 != 0;
                let mut message = Message::new(opcode == Opcode::Text, compressed);
                message.add_fragment(header.payload_len, &self.config)?;
                self.message = Some(message);
                Ok(())
            }
        }
    }

    /// Move the payload bytes that are here into the message.
    fn read_data(&mut self, mut frame: InFrame) -> Result<Step, ProtocolError> {
        let unread = &mut self.input[self.input_start..];
        let take = usize::try_from(frame.remaining).map_or(unread.len(), |r| r.min(unread.len()));
        let frame_done = take as u64 == frame.remaining;

        if let Some(message) = self.message.as_mut() {
            let piece = &mut unread[..take];
            let ends_message = frame_done && frame.header.fin;
            if let Some(key) = frame.header.mask {
                apply_mask(piece, key, frame.mask_phase);
            }
            match (message.compressed, self.deflate.as_mut()) {
                (true, Some(inflater)) => {
                    message.inflate(piece, inflater, ends_message, self.config.max_message_size)?
                }
                _ => message.append(piece, ends_message)?,
            }
        }
        self.input_start += take;
        frame.remaining -= take as u64;
        frame.mask_phase = (frame.mask_phase + take) % MASK_KEY_LEN;

        if !frame_done {
            self.frame = Some(frame);
            return Ok(Step::NeedMore);
        }
        self.end_frame(&frame.header);

        if !frame.header.fin {
            return Ok(Step::Continue);
        }
        match self.message.take() {
            Some(message) => message.into_event().map(Step::Event),
            None => Ok(Step::Continue),
        }
    }

    /// Handle a control frame once all of it is here (at most 125 bytes).
    fn read_control(&mut self, frame: InFrame) -> Result<Step, ProtocolError> {
        let len = frame.remaining as usize;
        let end = self.input_start + len;
        let Some(payload) = self.input.get(self.input_start..end) else {
            return Ok(Step::NeedMore);
        };

        let mut payload = payload.to_vec();
        if let Some(key) = frame.header.mask {
            apply_mask(&mut payload, key, 0);
        }
        self.input_start = end;
        self.end_frame(&frame.header);

        match frame.header.opcode {
            Opcode::Ping => Ok(self.on_ping(payload)),
            Opcode::Pong => Ok(self.on_pong(payload)),
            Opcode::Close => self.on_close(&payload),
            // Data and reserved opcodes never reach here (check_frame_header).
            other => Err(ProtocolError::ReservedOpcode(other.bits())),
        }
    }

    fn end_frame(&mut self, header: &FrameHeader) {
        self.frame = None;
        self.frames_in += 1;
        trace!(
            "< {:?} fin={} len={}",
            header.opcode, header.fin, header.payload_len
        );
    }

    /// RFC 6455 §5.5.2: answer a Ping with a Pong carrying the same payload.
    fn on_ping(&mut self, payload: Vec<u8>) -> Step {
        // RFC 6455 §5.5.1: nothing may follow our Close, not even a Pong.
        if self.phase != Phase::Open {
            return Step::Continue;
        }
        self.queue_frame(Opcode::Pong, &payload);
        Step::Event(Event::Ping(payload))
    }

    /// RFC 6455 §5.5.3: a Pong needs no answer.
    fn on_pong(&mut self, payload: Vec<u8>) -> Step {
        if self.phase != Phase::Open {
            return Step::Continue;
        }
        Step::Event(Event::Pong(payload))
    }

    /// RFC 6455 §5.5.1: the peer's Close ends reading; if we had not sent a
    /// Close, we answer with one echoing its code.
    fn on_close(&mut self, payload: &[u8]) -> Result<Step, ProtocolError> {
        let body = parse_close_body(payload)?;
        trace!("< Close code={:?} reason={:?}", body.code, body.reason);

        if self.phase == Phase::Open {
            self.queue_close(body.code, "");
        }
        self.phase = Phase::HandshakeDone;
        self.drop_input();

        // RFC 6455 §7.1.1: the server now closes TCP; a client gives it
        // close_timeout to do so.
        if self.role == Role::Client {
            self.deadline = Some(Instant::now() + self.config.close_timeout);
        }
        Ok(Step::Event(Event::Close {
            code: body.code,
            reason: body.reason,
        }))
    }

    /// RFC 6455 §7.1.7: queue a Close with the error's code (unless one was
    /// sent) and stop reading.
    fn fail_connection(&mut self, error: ProtocolError) -> Event {
        // Not logged here: the caller logs the Failed event once, with its context.
        if self.phase == Phase::Open {
            self.queue_close(Some(error.close_code().0), &error.to_string());
        }
        self.phase = Phase::Failed;
        self.drop_input();
        Event::Failed(error)
    }

    // ----- writing ---------------------------------------------------------

    fn check_can_send(&self) -> Result<(), SendError> {
        if self.phase != Phase::Open {
            return Err(SendError::Closing);
        }
        if self.peer_closed_tcp {
            return Err(SendError::PeerClosedTcp);
        }
        Ok(())
    }

    /// Queue our Close and start waiting for the peer's (RFC 6455 §7.1.2).
    /// Any message being received is dropped: data after our Close is
    /// discarded (§5.5.1).
    fn queue_close(&mut self, code: Option<u16>, reason: &str) {
        let body = encode_close_body(code, reason);
        self.queue_frame(Opcode::Close, &body);
        self.phase = Phase::CloseSent;
        self.deadline = Some(Instant::now() + self.config.close_timeout);
        self.message = None;
    }

    /// Encode a frame onto the output queue. With permessage-deflate, a data
    /// message is compressed and marked with RSV1 (RFC 7692 §6, §7.2.1);
    /// control frames never are (§6.1).
    fn queue_frame(&mut self, opcode: Opcode, payload: &[u8]) {
        let is_data = matches!(opcode, Opcode::Text | Opcode::Binary);
        match self.deflate.as_mut() {
            Some(deflate) if is_data => {
                let compressed = deflate.compress(payload);
                self.queue_encoded_frame(opcode, RSV1, &compressed);
            }
            _ => self.queue_encoded_frame(opcode, 0, payload),
        }
    }

    /// Encode a frame, masked if we are the client (RFC 6455 §5.3), appended
    /// to the last output chunk while that stays small.
    fn queue_encoded_frame(&mut self, opcode: Opcode, rsv: u8, payload: &[u8]) {
        let mask = match self.role {
            Role::Client => Some((self.mask_keys)()),
            Role::Server => None,
        };

        let frame_len = MAX_HEADER_LEN + payload.len();
        let mut buf = match self.output.pop_back() {
            Some(Chunk::Owned(buf)) if buf.len() + frame_len <= COALESCE_LIMIT => buf,
            Some(other) => {
                self.output.push_back(other);
                Vec::with_capacity(frame_len)
            }
            None => Vec::with_capacity(frame_len),
        };
        encode_frame_with_rsv_into(&mut buf, opcode, true, rsv, payload, mask);
        self.output.push_back(Chunk::Owned(buf));

        self.frames_out += 1;
        trace!("> {opcode:?} rsv={rsv:#05b} len={}", payload.len());
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("peer_closed_tcp", &self.peer_closed_tcp)
            .field("unread", &(self.input.len() - self.input_start))
            .field("queued_chunks", &self.output.len())
            .finish_non_exhaustive()
    }
}

impl Message {
    fn new(is_text: bool, compressed: bool) -> Self {
        Self {
            is_text,
            compressed,
            wire_len: 0,
            data: Vec::new(),
            text: String::new(),
            utf8: Utf8Validator::new(),
            fragments: 0,
        }
    }

    /// Count a new fragment of `payload_len` bytes against the limits
    /// (RFC 6455 §10.4: an endpoint must protect itself from huge messages).
    fn add_fragment(&mut self, payload_len: u64, config: &Config) -> Result<(), ProtocolError> {
        self.fragments += 1;
        if self.fragments > config.max_fragments {
            return Err(ProtocolError::TooManyFragments {
                limit: config.max_fragments,
            });
        }

        // A compressed message counts its wire bytes here and its inflated
        // bytes as they come out (`inflate`); neither may pass the limit.
        let so_far = match self.compressed {
            true => self.wire_len,
            false => self.len() as u64,
        };
        let total = so_far.saturating_add(payload_len);
        if total > config.max_message_size as u64 {
            return Err(ProtocolError::MessageTooBig {
                limit: config.max_message_size,
            });
        }
        if self.compressed {
            self.wire_len = total;
            return Ok(());
        }

        // Text already arriving in pieces grows `text`; anything else `data`.
        let reserve = payload_len.min(MAX_PREALLOCATION) as usize;
        match self.text.capacity() > 0 {
            true => self.text.reserve(reserve),
            false => self.data.reserve(reserve),
        }
        Ok(())
    }

    /// Payload bytes received so far.
    fn len(&self) -> usize {
        self.data.len() + self.text.len() + self.utf8.pending_len()
    }

    /// Inflate unmasked payload bytes of a compressed message into it
    /// (RFC 7692 §7.2.2), a bounded chunk at a time. The size limit applies
    /// to the inflated bytes, so a small frame that would inflate to a huge
    /// message fails with 1009 before it fills memory (RFC 6455 §10.4); text
    /// is checked as the inflated bytes arrive (RFC 6455 §8.1).
    fn inflate(
        &mut self,
        piece: &[u8],
        inflater: &mut PerMessageDeflate,
        ends_message: bool,
        max_message_size: usize,
    ) -> Result<(), ProtocolError> {
        let mut sink = |bytes: &[u8]| {
            if self.len().saturating_add(bytes.len()) > max_message_size {
                return Err(ProtocolError::MessageTooBig {
                    limit: max_message_size,
                });
            }
            self.append(bytes, false)
        };
        inflater.decompress(piece, &mut sink)?;
        if ends_message {
            inflater.finish_message(&mut sink)?;
        }
        Ok(())
    }

    /// Add unmasked payload bytes to the message. Text is checked as it
    /// arrives, so invalid UTF-8 fails the connection at once (RFC 6455 §8.1),
    /// and it is checked only once.
    fn append(&mut self, piece: &[u8], ends_message: bool) -> Result<(), ProtocolError> {
        // A whole message in one piece (the common case for chat) is kept as
        // bytes and checked once when it becomes a `String` in `into_event`.
        let whole_message = ends_message && self.text.is_empty() && self.utf8.pending_len() == 0;
        if !self.is_text || whole_message {
            self.data.extend_from_slice(piece);
            return Ok(());
        }

        // A text message in pieces: the validator appends what it has checked
        // to the message's `String`, so nothing is checked twice. The first
        // piece takes over the (still empty) buffer reserved in `data`.
        if self.text.capacity() == 0 && self.data.is_empty() {
            self.text = String::from_utf8(std::mem::take(&mut self.data)).unwrap_or_default();
        }
        self.utf8
            .feed_into(piece, &mut self.text)
            .map_err(|_| ProtocolError::InvalidUtf8Text)
    }

    fn into_event(self) -> Result<Event, ProtocolError> {
        if !self.is_text {
            return Ok(Event::Binary(self.data));
        }
        if self.text.is_empty() && self.utf8.pending_len() == 0 {
            return String::from_utf8(self.data)
                .map(Event::Text)
                .map_err(|_| ProtocolError::InvalidUtf8Text);
        }
        // A message must not end inside a code point.
        self.utf8
            .finish()
            .map_err(|_| ProtocolError::InvalidUtf8Text)?;
        Ok(Event::Text(self.text))
    }
}
