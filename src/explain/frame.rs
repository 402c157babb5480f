//! Explaining one WebSocket frame field by field (RFC 6455 §5).

use std::borrow::Cow;

use crate::websocket::close::{CLOSE_CODE_LEN, CloseCode, parse_close_body};
use crate::websocket::frame::MAX_CONTROL_PAYLOAD;
use crate::websocket::utf8::Utf8Validator;
use crate::websocket::{DeflateParams, FrameHeader, Opcode, ProtocolError, Role};

use super::deflate::{self, Inflater, Source};
use super::layout::{Out, byte_bits, hex};

/// Byte 0: FIN, RSV1-3 and the opcode; byte 1: MASK and the 7-bit length.
const FIN_BIT: u8 = 0b1000_0000;
const RSV_SHIFT: u32 = 4;
const RSV_BITS: u8 = 0b0111_0000;
const OPCODE_BITS: u8 = 0b0000_1111;
/// RSV1 in the 3-bit RSV field: what permessage-deflate uses (RFC 7692 §6).
const RSV1: u8 = 0b100;
const MASK_BIT: u8 = 0b1000_0000;
const LEN7_BITS: u8 = 0b0111_1111;
/// 7-bit length values announcing a 16-bit and a 64-bit length.
const LEN16_MARKER: u8 = 126;
const LEN64_MARKER: u8 = 127;
/// Bytes before the extended length.
const BASE_HEADER_LEN: usize = 2;
/// The most payload bytes shown in hex, and as text.
const MAX_SHOWN: usize = 64;

const SEC_FRAMING: &str = "RFC 6455 §5.2";
const SEC_FAIL: &str = "RFC 6455 §7.1.7";

/// What the frames before this one left open: the message being fragmented
/// (RFC 6455 §5.4), its UTF-8 state (§8.1), and the receiver's DEFLATE
/// window if permessage-deflate was agreed (RFC 7692 §7.2.2).
#[derive(Debug)]
pub struct FrameContext {
    /// The side that sent the frames.
    pub sender: Role,
    /// Frames explained so far.
    pub count: usize,
    /// The message whose fragments are arriving.
    open_message: Option<OpenMessage>,
    utf8: Utf8Validator,
    /// permessage-deflate as agreed: RSV1 marks a compressed message.
    inflater: Option<Inflater>,
    /// The opening handshake was in the bytes, so what it agreed is known.
    handshake_seen: bool,
}

/// A data message whose last frame has not come yet.
#[derive(Debug, Clone, Copy)]
struct OpenMessage {
    is_text: bool,
    /// RSV1 was set on its first frame (RFC 7692 §6).
    compressed: bool,
}

impl FrameContext {
    pub fn new(sender: Role) -> Self {
        Self {
            sender,
            count: 0,
            open_message: None,
            utf8: Utf8Validator::new(),
            inflater: None,
            handshake_seen: false,
        }
    }

    /// The extension the frames are read under from now on: `None` for
    /// none. A handshake in the bytes overrides what `--deflate` assumed.
    pub fn agree(&mut self, deflate: Option<DeflateParams>, source: Source) {
        self.inflater = deflate.map(|params| Inflater::new(self.sender, params, source));
        self.handshake_seen |= source != Source::Flag;
    }

    fn arrow(&self) -> &'static str {
        match self.sender {
            Role::Client => "client → server",
            Role::Server => "server → client",
        }
    }

    fn receiver(&self) -> &'static str {
        match self.sender {
            Role::Client => "the server",
            Role::Server => "the client",
        }
    }
}

/// A rule a frame broke, as an explanation names it: the words, the RFC
/// sections, and the error whose close code the receiver must send (the one
/// mapping, [`ProtocolError::close_code`]).
#[derive(Debug)]
pub struct Broken {
    pub rule: String,
    pub section: &'static str,
    pub error: ProtocolError,
}

impl From<ProtocolError> for Broken {
    fn from(error: ProtocolError) -> Self {
        Self {
            rule: error.to_string(),
            section: rule_section(&error),
            error,
        }
    }
}

/// How much of `buf` the frame at its start takes: `None` if the frame is not
/// all here yet, `Some(Err)` if its length cannot be decoded (then the rest of
/// the stream cannot be framed).
pub fn frame_extent(buf: &[u8]) -> Option<Result<usize, ProtocolError>> {
    match FrameHeader::parse(buf) {
        Ok(None) => None,
        Err(error) => Some(Err(error)),
        Ok(Some((header, header_len))) => {
            let total = usize::try_from(header.payload_len)
                .ok()
                .and_then(|len| len.checked_add(header_len))?;
            (buf.len() >= total).then_some(Ok(total))
        }
    }
}

/// Explain the frame at the start of `buf`: one that [`frame_extent`] found
/// complete or undecodable, or at the end of the input whatever is there (a
/// header that breaks a rule is judged without its payload). Returns false
/// if a rule was broken.
pub fn explain_frame(ctx: &mut FrameContext, buf: &[u8], note: &str, out: &mut Out) -> bool {
    let Some(&byte0) = buf.first() else {
        return true;
    };
    ctx.count += 1;
    let parsed = FrameHeader::parse(buf);
    let size = match &parsed {
        Ok(Some((h, n))) => format!("{} bytes", *n as u64 + h.payload_len),
        Ok(None) => "header not complete".into(),
        Err(_) => "cannot be framed".into(),
    };
    out.line(&format!(
        "frame {} ({}), {size}{note}",
        ctx.count,
        ctx.arrow()
    ));

    // One byte alone: what it says can still be read.
    let Some(&byte1) = buf.get(1) else {
        return match explain_byte0(ctx, byte0, out) {
            Ok(()) => {
                out.line("  (the bytes end inside the header)");
                true
            }
            Err(error) => {
                fail(ctx, &error, out);
                false
            }
        };
    };

    let result = explain_byte0(ctx, byte0, out)
        .and_then(|()| explain_byte1(ctx, byte1, out).map_err(Broken::from))
        .and_then(|()| match parsed {
            Err(error) => {
                explain_bad_length(buf, byte1, out);
                Err(error.into())
            }
            Ok(Some((header, header_len))) => explain_rest(ctx, &header, buf, header_len, out),
            Ok(None) => {
                out.line("  (the bytes end inside the header)");
                Ok(())
            }
        });

    match result {
        Ok(()) => true,
        Err(error) => {
            fail(ctx, &error, out);
            false
        }
    }
}

/// Name the broken rule and the close code the receiver must fail with.
fn fail(ctx: &FrameContext, broken: &Broken, out: &mut Out) {
    let code = broken.error.close_code();
    let answer = format!(
        "{} must fail the connection with {} ({})",
        ctx.receiver(),
        code,
        close_code_meaning(code.0)
    );
    out.broken(&broken.rule, broken.section, &answer, SEC_FAIL);
}

fn explain_byte0(ctx: &mut FrameContext, byte0: u8, out: &mut Out) -> Result<(), Broken> {
    out.line(&format!("  byte 0 = {}", byte_bits(byte0)));
    let fin = byte0 & FIN_BIT != 0;
    let fin_meaning = match fin {
        true => "final fragment of the message",
        false => "more fragments of this message follow",
    };
    out.bits(
        "FIN",
        &u8::from(fin).to_string(),
        fin_meaning,
        "RFC 6455 §5.2, §5.4",
    );

    // RFC 6455 §5.2: RSV1-3 must be 0 unless an extension says otherwise;
    // permessage-deflate says RSV1 marks a compressed message (RFC 7692 §6),
    // which depends on the opcode, so that row comes first then.
    let rsv = (byte0 & RSV_BITS) >> RSV_SHIFT;
    let opcode = Opcode::from_bits(byte0);
    let compressed = match ctx.inflater.is_some() {
        true => {
            let verdict = deflate::explain_rsv(rsv, opcode, out);
            explain_opcode(byte0, opcode, out);
            verdict?
        }
        false => {
            explain_rsv_without_extension(ctx, rsv, out)?;
            explain_opcode(byte0, opcode, out);
            false
        }
    };
    check_opcode(ctx, opcode, fin, compressed).map_err(Broken::from)
}

/// The RSV bits when no extension is known to be agreed: all must be 0.
fn explain_rsv_without_extension(
    ctx: &FrameContext,
    rsv: u8,
    out: &mut Out,
) -> Result<(), ProtocolError> {
    let rsv_meaning = match rsv {
        0 => "no extension negotiated, so all must be 0",
        _ => "set, but no extension was negotiated",
    };
    out.bits("RSV1-3", &format!("{rsv:03b}"), rsv_meaning, SEC_FRAMING);
    if rsv == 0 {
        return Ok(());
    }

    // Without the handshake, RSV1 may well be a compressed message.
    if rsv & RSV1 != 0 && !ctx.handshake_seen {
        deflate::hint_flag(out);
    }
    Err(ProtocolError::ReservedBitsSet(rsv))
}

fn explain_opcode(byte0: u8, opcode: Opcode, out: &mut Out) {
    let bits = format!("{:#x}", byte0 & OPCODE_BITS);
    out.bits(
        "opcode",
        &bits,
        opcode_meaning(opcode),
        "RFC 6455 §5.2, §11.8",
    );
}

/// The rules on the opcode: known (§5.2), control frames whole (§5.5), and
/// fragments of one message at a time (§5.4).
fn check_opcode(
    ctx: &mut FrameContext,
    opcode: Opcode,
    fin: bool,
    compressed: bool,
) -> Result<(), ProtocolError> {
    if let Opcode::Reserved(bits) = opcode {
        return Err(ProtocolError::ReservedOpcode(bits));
    }
    if opcode.is_control() {
        return match fin {
            true => Ok(()),
            false => Err(ProtocolError::FragmentedControlFrame),
        };
    }
    match (opcode, ctx.open_message) {
        (Opcode::Continuation, None) => Err(ProtocolError::ContinuationWithoutMessage),
        (Opcode::Continuation, Some(_)) => Ok(()),
        (_, Some(_)) => Err(ProtocolError::MessageStartedDuringFragments),
        (opcode, None) => {
            ctx.open_message = Some(OpenMessage {
                is_text: opcode == Opcode::Text,
                compressed,
            });
            ctx.utf8 = Utf8Validator::new();
            Ok(())
        }
    }
}

fn explain_byte1(ctx: &FrameContext, byte1: u8, out: &mut Out) -> Result<(), ProtocolError> {
    out.line(&format!("  byte 1 = {}", byte_bits(byte1)));
    let masked = byte1 & MASK_BIT != 0;
    let mask_meaning = match (ctx.sender, masked) {
        (Role::Client, true) => "client frames must be masked",
        (Role::Client, false) => "not masked, but client frames must be",
        (Role::Server, false) => "server frames are never masked",
        (Role::Server, true) => "masked, but server frames must not be",
    };
    out.bits(
        "MASK",
        &u8::from(masked).to_string(),
        mask_meaning,
        "RFC 6455 §5.1",
    );

    // RFC 6455 §5.1: clients mask every frame, servers none.
    match (ctx.sender, masked) {
        (Role::Client, false) => return Err(ProtocolError::UnmaskedClientFrame),
        (Role::Server, true) => return Err(ProtocolError::MaskedServerFrame),
        _ => {}
    }

    let len7 = byte1 & LEN7_BITS;
    let len_meaning = match len7 {
        LEN16_MARKER => "126: a 16-bit length follows",
        LEN64_MARKER => "127: a 64-bit length follows",
        _ => "7-bit length (0..125)",
    };
    out.bits("length", &len7.to_string(), len_meaning, SEC_FRAMING);
    Ok(())
}

/// Show the extended length bytes of a header whose length broke a rule.
fn explain_bad_length(buf: &[u8], byte1: u8, out: &mut Out) {
    let len_bytes = match byte1 & LEN7_BITS {
        LEN16_MARKER => 2,
        _ => 8,
    };
    let ext = buf
        .get(BASE_HEADER_LEN..BASE_HEADER_LEN + len_bytes)
        .unwrap_or_default();
    let value = ext.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    out.line(&format!("  bytes 2-{} = {}", 1 + len_bytes, hex(ext)));
    out.bits(
        "length",
        &value.to_string(),
        "extended length as sent",
        SEC_FRAMING,
    );
}

/// Everything after byte 1: extended length, key, payload and its meaning.
fn explain_rest(
    ctx: &mut FrameContext,
    header: &FrameHeader,
    buf: &[u8],
    header_len: usize,
    out: &mut Out,
) -> Result<(), Broken> {
    explain_extended_length(header, buf, out);
    if header.opcode.is_control() && header.payload_len > MAX_CONTROL_PAYLOAD as u64 {
        return Err(ProtocolError::ControlFrameTooLong(header.payload_len).into());
    }

    let have = buf.len().saturating_sub(header_len) as u64;
    let cut = have < header.payload_len;
    let end = header_len + have.min(header.payload_len) as usize;
    let raw = buf.get(header_len..end).unwrap_or_default();
    let mut payload = raw.to_vec();
    if let Some(key) = header.mask {
        out.field(2, "masking key", &hex(&key), "RFC 6455 §5.3");
        out.hex_rows("payload masked", raw, MAX_SHOWN, "");
        crate::websocket::mask::apply_mask(&mut payload, key, 0);
        out.hex_rows("unmasked", &payload, MAX_SHOWN, "RFC 6455 §5.3");
    } else {
        out.hex_rows("payload", &payload, MAX_SHOWN, "");
    }

    // The bytes end inside the payload: say so rather than judge half a body.
    if cut {
        let what = format!(
            "{have} of {} bytes here; the rest is missing",
            header.payload_len
        );
        out.field(2, "cut short", &what, "");
        return Ok(());
    }

    match header.opcode {
        Opcode::Text | Opcode::Continuation => explain_data(ctx, header, &payload, out),
        Opcode::Binary => explain_data(ctx, header, &payload, out),
        Opcode::Close => explain_close(&payload, out).map_err(Broken::from),
        Opcode::Ping => {
            let what = "the receiver answers with a Pong, same payload";
            out.field(2, "ping", what, "RFC 6455 §5.5.2");
            Ok(())
        }
        Opcode::Pong => {
            let what = "answers a Ping, or is a heartbeat (ignored)";
            out.field(2, "pong", what, "RFC 6455 §5.5.3");
            Ok(())
        }
        Opcode::Reserved(bits) => Err(ProtocolError::ReservedOpcode(bits).into()),
    }
}

fn explain_extended_length(header: &FrameHeader, buf: &[u8], out: &mut Out) {
    let (len_bytes, meaning) = match header.payload_len {
        0..=125 => return,
        126..=0xFFFF => (2, "16-bit extended length (126..65535)"),
        _ => (8, "64-bit extended length (65536..2^63-1)"),
    };
    let ext = buf
        .get(BASE_HEADER_LEN..BASE_HEADER_LEN + len_bytes)
        .unwrap_or_default();
    out.line(&format!("  bytes 2-{} = {}", 1 + len_bytes, hex(ext)));
    out.bits(
        "length",
        &header.payload_len.to_string(),
        meaning,
        SEC_FRAMING,
    );
}

/// A compressed message is inflated first (RFC 7692 §7.2.2). Text is
/// checked as UTF-8 across fragments (RFC 6455 §8.1); binary is anything.
/// Closes the message on FIN.
fn explain_data(
    ctx: &mut FrameContext,
    header: &FrameHeader,
    payload: &[u8],
    out: &mut Out,
) -> Result<(), Broken> {
    let message = ctx.open_message.unwrap_or(OpenMessage {
        is_text: false,
        compressed: false,
    });
    if header.fin {
        ctx.open_message = None;
    }
    let payload = match (message.compressed, ctx.inflater.as_mut()) {
        (true, Some(inflater)) => {
            if header.opcode != Opcode::Continuation {
                inflater.start_message(out);
            }
            Cow::Owned(inflater.inflate(payload, header.fin, out)?)
        }
        _ => Cow::Borrowed(payload),
    };

    if !message.is_text {
        let what = match header.fin {
            true => "binary data, any bytes allowed; message complete",
            false => "binary data, any bytes allowed; message continues",
        };
        out.field(2, "binary", what, "RFC 6455 §5.6");
        return Ok(());
    }

    // RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection.
    let valid = ctx.utf8.feed(&payload).is_ok() && (!header.fin || ctx.utf8.finish().is_ok());
    if !valid {
        return Err(ProtocolError::InvalidUtf8Text.into());
    }
    let shown = String::from_utf8_lossy(&payload[..payload.len().min(MAX_SHOWN)]);
    let verdict = match header.fin {
        true => "valid UTF-8, message complete",
        false => "valid UTF-8 so far, message continues",
    };
    out.field(
        2,
        "text",
        &format!("{shown:?}, {verdict}"),
        "RFC 6455 §5.6, §8.1",
    );
    Ok(())
}

/// A Close body: empty, or a 2-byte code and a UTF-8 reason (RFC 6455 §5.5.1).
fn explain_close(payload: &[u8], out: &mut Out) -> Result<(), ProtocolError> {
    if payload.is_empty() {
        let what = "no body: no status code (reported to the API as 1005)";
        out.field(2, "close", what, "RFC 6455 §5.5.1");
        return Ok(());
    }
    let Some((code_bytes, reason)) = payload.split_first_chunk::<CLOSE_CODE_LEN>() else {
        return Err(ProtocolError::ClosePayloadTooShort);
    };

    let code = u16::from_be_bytes(*code_bytes);
    let value = format!("{} = {code}, {}", hex(code_bytes), close_code_meaning(code));
    out.field(2, "close code", &value, "RFC 6455 §7.4");
    let body = parse_close_body(payload)?;

    let what = match reason.is_empty() {
        true => "(none)".to_string(),
        false => format!("{:?}, valid UTF-8", body.reason),
    };
    out.field(2, "reason", &what, "RFC 6455 §5.5.1");
    let echo = "a Close is answered by a Close; then the server closes TCP";
    out.field(2, "closing", echo, "RFC 6455 §7.1.1");
    Ok(())
}

fn opcode_meaning(opcode: Opcode) -> &'static str {
    match opcode {
        Opcode::Continuation => "continuation of a fragmented message",
        Opcode::Text => "text frame",
        Opcode::Binary => "binary frame",
        Opcode::Close => "close (control frame)",
        Opcode::Ping => "ping (control frame)",
        Opcode::Pong => "pong (control frame)",
        Opcode::Reserved(bits) if bits & 0x8 != 0 => "reserved control opcode",
        Opcode::Reserved(_) => "reserved data opcode",
    }
}

/// What a close code means (RFC 6455 §7.4.1, §7.4.2, IANA registry §11.7).
pub fn close_code_meaning(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1007 => "invalid payload data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "mandatory extension",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        1004 | 1005 | 1006 | 1015 => "reserved, never sent in a Close frame",
        3000..=3999 => "registered for libraries and frameworks",
        4000..=4999 => "for private use",
        _ if CloseCode(code).is_valid_on_wire() => "registered",
        _ => "not a code allowed on the wire",
    }
}

/// The section of RFC 6455 (or RFC 7692) each rule comes from.
pub fn rule_section(error: &ProtocolError) -> &'static str {
    match error {
        ProtocolError::ReservedBitsSet(_)
        | ProtocolError::ReservedOpcode(_)
        | ProtocolError::LengthTopBitSet
        | ProtocolError::NonMinimalLength { .. } => SEC_FRAMING,
        ProtocolError::FragmentedControlFrame | ProtocolError::ControlFrameTooLong(_) => {
            "RFC 6455 §5.5"
        }
        ProtocolError::UnmaskedClientFrame | ProtocolError::MaskedServerFrame => "RFC 6455 §5.1",
        ProtocolError::ContinuationWithoutMessage
        | ProtocolError::MessageStartedDuringFragments => "RFC 6455 §5.4",
        ProtocolError::InvalidUtf8Text => "RFC 6455 §8.1",
        ProtocolError::ClosePayloadTooShort | ProtocolError::InvalidUtf8CloseReason => {
            "RFC 6455 §5.5.1"
        }
        ProtocolError::InvalidCloseCode(_) => "RFC 6455 §7.4",
        ProtocolError::MessageTooBig { .. } | ProtocolError::TooManyFragments { .. } => {
            "RFC 6455 §10.4"
        }
        ProtocolError::UnsupportedDataType => "RFC 6455 §7.4.1",
        ProtocolError::InvalidCompressedData => "RFC 7692 §7.2.2",
    }
}
