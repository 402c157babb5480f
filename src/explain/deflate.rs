//! permessage-deflate (RFC 7692) in an explanation: the offer and the answer
//! of the opening handshake parameter by parameter, what RSV1 means once the
//! extension is agreed, and compressed messages inflated step by step.
//!
//! The inflating is the crate's own codec ([`PerMessageDeflate`]), the one
//! the server runs: one per direction, standing in for the receiver, so the
//! window carries over from message to message exactly as the agreed
//! parameters say (RFC 7692 §7.1.1).

use crate::websocket::connection::DEFAULT_MAX_MESSAGE_SIZE;
use crate::websocket::deflate::{
    DeflateParams, EXTENSION_NAME, Extension, PerMessageDeflate, SYNC_FLUSH_TAIL, check_offer,
    parse_extensions,
};
use crate::websocket::{Opcode, ProtocolError, Role};

use super::frame::Broken;
use super::layout::{Out, hex};

/// RSV1 in the 3-bit RSV field, RSV1 highest (RFC 7692 §6 calls it the
/// "Per-Message Compressed" bit).
const RSV1: u8 = 0b100;
/// Inflated bytes shown per frame.
const MAX_SHOWN: usize = 64;
/// The most one message may inflate to: the server's own default limit, so a
/// small frame that inflates to gigabytes stops the explanation as it would
/// stop the server (RFC 6455 §10.4).
const MAX_INFLATED: usize = DEFAULT_MAX_MESSAGE_SIZE;

const SEC_RSV1: &str = "RFC 7692 §6";
const SEC_RSV1_ONLY_FIRST: &str = "RFC 7692 §6.1";
const SEC_COMPRESS: &str = "RFC 7692 §7.2.1";
const SEC_DECOMPRESS: &str = "RFC 7692 §7.2.2";

/// Where the agreed parameters come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The server's 101 in these bytes.
    Handshake,
    /// Only the client's request is in these bytes: taken as answered the
    /// way `pushpull serve` answers it.
    OurServersAnswer,
    /// `--deflate`: no handshake, the default parameters.
    Flag,
}

/// The receiver's view of one direction's compressed messages.
#[derive(Debug)]
pub struct Inflater {
    params: DeflateParams,
    source: Source,
    sender: Role,
    codec: PerMessageDeflate,
    /// Compressed messages begun so far in this direction.
    messages: usize,
    /// Bytes the open message has inflated to so far.
    inflated: usize,
}

impl Inflater {
    /// The codec of the side that receives what `sender` sends: it
    /// decompresses with the sender's half of the parameters.
    pub fn new(sender: Role, params: DeflateParams, source: Source) -> Self {
        let receiver = match sender {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        Self {
            params,
            source,
            sender,
            codec: PerMessageDeflate::new(receiver, params),
            messages: 0,
            inflated: 0,
        }
    }

    /// The sender's window bits and whether it drops its context, with the
    /// names of the two parameters that set them.
    fn senders_half(&self) -> SendersHalf {
        match self.sender {
            Role::Client => SendersHalf {
                who: "client",
                window_bits: self.params.client_max_window_bits,
                window_param: "client_max_window_bits",
                window_cite: "RFC 7692 §7.1.2.2",
                no_takeover: self.params.client_no_context_takeover,
                takeover_param: "client_no_context_takeover",
                takeover_cite: "RFC 7692 §7.1.1.2",
            },
            Role::Server => SendersHalf {
                who: "server",
                window_bits: self.params.server_max_window_bits,
                window_param: "server_max_window_bits",
                window_cite: "RFC 7692 §7.1.2.1",
                no_takeover: self.params.server_no_context_takeover,
                takeover_param: "server_no_context_takeover",
                takeover_cite: "RFC 7692 §7.1.1.1",
            },
        }
    }

    /// The first frame of a compressed message: what it is and which window
    /// it is inflated with.
    pub fn start_message(&mut self, out: &mut Out) {
        self.messages += 1;
        self.inflated = 0;
        let half = self.senders_half();
        // Where the parameters come from, once per direction (the request
        // alone already said it was taken as accepted).
        let origin = match self.source {
            Source::Handshake => Some(("agreed", "permessage-deflate, in the 101 above")),
            Source::Flag => Some(("assumed", "permessage-deflate, defaults (--deflate)")),
            Source::OurServersAnswer => None,
        };
        if let Some((label, what)) = origin.filter(|_| self.messages == 1) {
            out.field(2, label, what, "RFC 7692 §7.1");
        }

        let what = format!(
            "raw DEFLATE, compressed message {} from the {}",
            self.messages, half.who
        );
        out.field(2, "compressed", &what, SEC_COMPRESS);
        let window = format!(
            "2^{bits} = {} bytes ({}={bits})",
            1u32 << half.window_bits,
            half.window_param,
            bits = half.window_bits
        );
        out.field(2, "window", &window, half.window_cite);
        let context = match (half.no_takeover, self.messages) {
            (true, _) => format!("empty at each message ({})", half.takeover_param),
            (false, 1) => "kept for later messages (context takeover)".to_string(),
            (false, 2) => "holds the earlier compressed message too".to_string(),
            (false, n) => format!("holds the {} earlier compressed messages too", n - 1),
        };
        out.field(2, "context", &context, half.takeover_cite);
    }

    /// Inflate one frame's payload of a compressed message; on its last
    /// frame put back the tail the sender removed first.
    pub fn inflate(&mut self, payload: &[u8], fin: bool, out: &mut Out) -> Result<Vec<u8>, Broken> {
        let mut inflated = Vec::new();
        let so_far = self.inflated;
        let mut sink = |chunk: &[u8]| {
            if so_far + inflated.len() + chunk.len() > MAX_INFLATED {
                return Err(ProtocolError::MessageTooBig {
                    limit: MAX_INFLATED,
                });
            }
            inflated.extend_from_slice(chunk);
            Ok(())
        };
        let mut result = self.codec.decompress(payload, &mut sink);
        if fin && result.is_ok() {
            result = self.codec.finish_message(&mut sink);
        }
        self.inflated += inflated.len();

        let sizes = format!("{} bytes → {} bytes", payload.len(), inflated.len());
        match fin {
            true => {
                let tail = format!(
                    "{}: the end of a sync flush, left off",
                    hex(&SYNC_FLUSH_TAIL)
                );
                out.field(2, "1. append", &tail, SEC_DECOMPRESS);
                out.field(
                    2,
                    "2. inflate",
                    &format!("{sizes} (with the tail)"),
                    SEC_DECOMPRESS,
                );
            }
            false => {
                let what = format!("{sizes}; the tail comes after the last frame");
                out.field(2, "1. inflate", &what, SEC_DECOMPRESS);
            }
        }
        if let Err(error) = result {
            let why = match error {
                ProtocolError::MessageTooBig { .. } => "stopped: the message grows too big",
                _ => "failed: not a DEFLATE stream this window can decode",
            };
            out.field(2, "", why, "");
            return Err(error.into());
        }
        out.hex_rows("inflated", &inflated, MAX_SHOWN, "");
        Ok(inflated)
    }
}

/// The sender's half of [`DeflateParams`], with the parameter names.
struct SendersHalf {
    who: &'static str,
    window_bits: u8,
    window_param: &'static str,
    window_cite: &'static str,
    no_takeover: bool,
    takeover_param: &'static str,
    takeover_cite: &'static str,
}

/// The RSV bits of a frame once permessage-deflate is agreed: whether the
/// frame starts a compressed message, or the rule it breaks.
pub fn explain_rsv(rsv: u8, opcode: Opcode, out: &mut Out) -> Result<bool, Broken> {
    let bits = format!("{rsv:03b}");
    let first_frame = matches!(opcode, Opcode::Text | Opcode::Binary);
    let frame = match opcode {
        Opcode::Continuation => "a continuation frame",
        Opcode::Reserved(_) => "a frame with a reserved opcode",
        _ => "a control frame",
    };

    // RFC 6455 §5.2: permessage-deflate gives RSV2 and RSV3 no meaning.
    if rsv & !RSV1 != 0 {
        let what = "RSV2/RSV3 set: permessage-deflate uses RSV1 only";
        out.bits("RSV1-3", &bits, what, "RFC 6455 §5.2");
        return Err(ProtocolError::ReservedBitsSet(rsv).into());
    }
    match (rsv == RSV1, first_frame) {
        (true, true) => {
            let what = "RSV1: the message is compressed";
            out.bits("RSV1-3", &bits, what, SEC_RSV1);
            Ok(true)
        }
        (false, true) => {
            out.bits("RSV1-3", &bits, "RSV1 clear: not compressed", SEC_RSV1);
            Ok(false)
        }
        (false, false) => {
            let what = "0: RSV1 marks a message's first frame only";
            out.bits("RSV1-3", &bits, what, SEC_RSV1_ONLY_FIRST);
            Ok(false)
        }
        // RFC 7692 §6.1: RSV1 on a control frame or on a later fragment
        // fails the connection.
        (true, false) => {
            out.bits(
                "RSV1-3",
                &bits,
                &format!("RSV1 set on {frame}"),
                SEC_RSV1_ONLY_FIRST,
            );
            Err(Broken {
                rule: format!("RSV1 on {frame}: only a message's first frame may carry it"),
                section: "RFC 7692 §6.1, RFC 6455 §5.2",
                error: ProtocolError::ReservedBitsSet(rsv),
            })
        }
    }
}

/// The hint under an RSV1 that no extension allows, when the bytes hold no
/// handshake to say whether one was agreed.
pub fn hint_flag(out: &mut Out) {
    let what = "RSV1 marks permessage-deflate data; --deflate reads it so";
    out.field(2, "compressed?", what, SEC_RSV1);
}

/// Each element of a request's `Sec-WebSocket-Extensions` value, and each
/// permessage-deflate parameter in it, as an offer (RFC 7692 §5, §7.1).
pub fn explain_offers(value: &[u8], out: &mut Out) {
    let extensions = match parse_extensions([value]) {
        Ok(extensions) => extensions,
        Err(error) => {
            let what = format!("does not parse ({error}): the server ignores it");
            out.field(2, "", &what, "RFC 6455 §9.1");
            return;
        }
    };
    for extension in &extensions {
        if !extension.name.eq_ignore_ascii_case(EXTENSION_NAME) {
            let what = format!("offer of {}: unknown here, so ignored", extension.name);
            out.field(2, "", &what, "RFC 6455 §9.1");
            continue;
        }
        out.field(2, "", "offer of permessage-deflate", "RFC 7692 §7");
        for (name, value) in &extension.params {
            let (what, cite) = offer_meaning(name, value.as_deref());
            out.field(4, &param_text(name, value.as_deref()), &what, cite);
        }
        if let Err(error) = check_offer(extension) {
            let what = format!("the server must decline this offer: {error}");
            out.field(4, "", &what, "RFC 7692 §7");
        }
    }
}

/// What a parameter means in an offer (RFC 7692 §7.1).
fn offer_meaning(name: &str, value: Option<&str>) -> (String, &'static str) {
    match (name, value) {
        ("server_no_context_takeover", _) => (
            "server, please empty your window per message".into(),
            "RFC 7692 §7.1.1.1",
        ),
        ("client_no_context_takeover", _) => (
            "hint: the client empties its window per message".into(),
            "RFC 7692 §7.1.1.2",
        ),
        ("server_max_window_bits", Some(bits)) => (
            format!("server, please keep to a 2^{bits}-byte window"),
            "RFC 7692 §7.1.2.1",
        ),
        ("client_max_window_bits", None) => (
            "the server may choose the client's window".into(),
            "RFC 7692 §7.1.2.2",
        ),
        ("client_max_window_bits", Some(bits)) => (
            format!("the client keeps to a 2^{bits}-byte window"),
            "RFC 7692 §7.1.2.2",
        ),
        _ => ("not a permessage-deflate parameter".into(), "RFC 7692 §7.1"),
    }
}

/// Each parameter the server's answer sets, absent ones with their default
/// (RFC 7692 §7.1), and what RSV1 means from now on.
pub fn explain_agreed(extension: &Extension, params: &DeflateParams, out: &mut Out) {
    out.field(2, "", "permessage-deflate agreed", "RFC 7692 §7");
    let present = |name: &str| extension.params.iter().any(|(n, _)| n == name);
    let takeover = |no_takeover: bool, who: &str| match no_takeover {
        true => format!("the {who} empties its window per message"),
        false => format!("the {who} may refer back to earlier messages"),
    };
    let window = |bits: u8| format!("{bits}: a window of {} bytes", 1u32 << bits);
    let rows = [
        (
            "server_no_context_takeover",
            takeover(params.server_no_context_takeover, "server"),
            "RFC 7692 §7.1.1.1",
        ),
        (
            "client_no_context_takeover",
            takeover(params.client_no_context_takeover, "client"),
            "RFC 7692 §7.1.1.2",
        ),
        (
            "server_max_window_bits",
            window(params.server_max_window_bits),
            "RFC 7692 §7.1.2.1",
        ),
        (
            "client_max_window_bits",
            window(params.client_max_window_bits),
            "RFC 7692 §7.1.2.2",
        ),
    ];
    for (name, what, cite) in rows {
        let label = match present(name) {
            true => name.to_string(),
            false => format!("({name})"),
        };
        out.field(4, &label, &what, cite);
    }
    if rows_absent(extension) {
        out.field(2, "", "(in brackets: absent, so the default)", "");
    }
    let what = "from now on RSV1 marks a compressed message";
    out.field(2, "", what, SEC_RSV1);
}

/// Whether the answer leaves any of the four parameters out.
fn rows_absent(extension: &Extension) -> bool {
    extension.params.len() < 4
}

/// `name` or `name=value`, as the parameter was written.
fn param_text(name: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!("{name}={value}"),
        None => name.to_string(),
    }
}
