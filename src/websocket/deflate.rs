//! permessage-deflate (RFC 7692): negotiating it in the opening handshake and
//! compressing and decompressing whole messages with it.
//!
//! The DEFLATE algorithm itself comes from `flate2` (with its `zlib-rs`
//! backend, which supports window sizes below 32 KiB); what lives here is the
//! extension: the `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1), the
//! four parameters of RFC 7692 §7.1, and the framing of RFC 7692 §7.2 (a sync
//! flush whose trailing `00 00 ff ff` is left off the wire).
//!
//! Who uses which half of the negotiated [`DeflateParams`]:
//!
//! ```text
//!                compresses with          decompresses with
//!   server       server_* parameters      client_* parameters
//!   client       client_* parameters      server_* parameters
//! ```

use std::fmt;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::connection::Role;
use super::error::ProtocolError;

/// RFC 7692 §5: the extension's registered name.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// RFC 7692 §7.2.1: a sync flush ends with an empty stored block, these four
/// bytes, which the sender removes and the receiver puts back (§7.2.2).
pub const SYNC_FLUSH_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// RFC 7692 §7.1.2: the LZ77 window is 2^8 to 2^15 bytes.
pub const MIN_WINDOW_BITS: u8 = 8;
pub const MAX_WINDOW_BITS: u8 = 15;

/// RFC 7692 §7.2.1: the payload is raw DEFLATE (RFC 1951), without the zlib
/// header and checksum (RFC 1950).
const ZLIB_HEADER: bool = false;

/// zlib (and zlib-rs) cannot run a raw DEFLATE stream with a 256-byte window,
/// so 8 is run as 9. That stays within what the peer can decode: a zlib
/// encoder never reaches back further than its window less 262 bytes, and
/// 512 - 262 = 250 fits the 256-byte window the peer keeps.
const SMALLEST_ZLIB_WINDOW_BITS: u8 = 9;

/// Inflated bytes are produced at most this many at a time, so a small
/// compressed frame that inflates to gigabytes (a "decompression bomb") is
/// caught by the message size limit after one step, not after it filled memory.
pub const INFLATE_CHUNK: usize = 16 << 10;

/// What our client offers (RFC 7692 §7.1): it accepts any window the server
/// asks it to compress with (`client_max_window_bits` without a value,
/// §7.1.2.2), and hints that it will not take its context over from one
/// message to the next (`client_no_context_takeover`, §7.1.1.2), which it
/// then honours, so the server may ask for that too.
pub const CLIENT_OFFER: &str =
    "permessage-deflate; client_no_context_takeover; client_max_window_bits";

/// The parameters both ends agreed on (RFC 7692 §7.1); absent ones take the
/// defaults: context taken over, 15-bit windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

/// One element of a `Sec-WebSocket-Extensions` list (RFC 6455 §9.1): a name
/// and its parameters, each with or without a value (quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    pub params: Vec<(String, Option<String>)>,
}

/// Why an extension header or a permessage-deflate element was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiationError(pub String);

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NegotiationError {}

fn refuse<T>(reason: impl Into<String>) -> Result<T, NegotiationError> {
    Err(NegotiationError(reason.into()))
}

// ----- the header grammar ------------------------------------------------------

/// Parse one or more `Sec-WebSocket-Extensions` values (RFC 6455 §9.1):
///
/// ```text
/// extension-list = 1#extension
/// extension      = extension-token *( ";" extension-param )
/// extension-param = token [ "=" ( token | quoted-string ) ]
/// ```
///
/// Several header lines are one list, in order (RFC 9110 §5.3).
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Extension>, NegotiationError> {
    let mut extensions = Vec::new();
    for value in values {
        let Ok(text) = std::str::from_utf8(value) else {
            return refuse("Sec-WebSocket-Extensions is not ASCII");
        };
        let mut cursor = Cursor { rest: text };
        loop {
            cursor.skip_space();

            // RFC 9110 §5.6.1: empty list elements are allowed and ignored.
            if cursor.eat(',') {
                continue;
            }
            if cursor.rest.is_empty() {
                break;
            }
            extensions.push(cursor.extension()?);
            cursor.skip_space();
            if !cursor.rest.is_empty() && !cursor.eat(',') {
                return refuse(format!("unexpected {:?} in extension list", cursor.rest));
            }
        }
    }
    Ok(extensions)
}

/// A position in one header value.
struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn extension(&mut self) -> Result<Extension, NegotiationError> {
        let name = self.token()?;
        let mut params = Vec::new();
        loop {
            self.skip_space();
            if !self.eat(';') {
                break;
            }
            self.skip_space();
            let param = self.token()?;
            self.skip_space();
            let value = match self.eat('=') {
                true => {
                    self.skip_space();
                    Some(self.token_or_quoted()?)
                }
                false => None,
            };
            params.push((param, value));
        }
        Ok(Extension { name, params })
    }

    /// RFC 9110 §5.6.2: a token is one or more tchar.
    fn token(&mut self) -> Result<String, NegotiationError> {
        let len = self
            .rest
            .find(|c: char| !is_tchar(c))
            .unwrap_or(self.rest.len());
        if len == 0 {
            return refuse(format!("expected a token at {:?}", self.rest));
        }
        let (token, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(token.to_owned())
    }

    /// RFC 9110 §5.6.4: a quoted-string, with `\` escaping the next character.
    fn token_or_quoted(&mut self) -> Result<String, NegotiationError> {
        if !self.eat('"') {
            return self.token();
        }
        let mut value = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                c => value.push(c),
            }
        }
        refuse("unterminated quoted-string in extension parameter")
    }
}

/// RFC 9110 §5.6.2: `tchar`, the characters a token is made of.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

// ----- the permessage-deflate parameters --------------------------------------------

/// A permessage-deflate element, its parameters checked (RFC 7692 §7.1).
/// `client_max_window_bits` is `Some(None)` when present without a value,
/// which only an offer may do (§7.1.2.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Element {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<Option<u8>>,
}

impl Element {
    /// RFC 7692 §7.1: an element with an unknown parameter, a parameter given
    /// twice, or a value that breaks the parameter's rule is invalid.
    fn parse(extension: &Extension) -> Result<Self, NegotiationError> {
        let mut element = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in &extension.params {
            if seen.contains(&name.as_str()) {
                return refuse(format!("{name} given twice (RFC 7692 §7.1)"));
            }
            seen.push(name);
            element.set(name, value.as_deref())?;
        }
        Ok(element)
    }

    fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), NegotiationError> {
        match (name, value) {
            // RFC 7692 §7.1.1: the no_context_takeover parameters have no value.
            ("server_no_context_takeover", None) => self.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => self.client_no_context_takeover = true,
            // RFC 7692 §7.1.2.1: server_max_window_bits always has a value.
            ("server_max_window_bits", Some(bits)) => {
                self.server_max_window_bits = Some(parse_window_bits(bits)?)
            }
            // RFC 7692 §7.1.2.2: client_max_window_bits may come without one.
            ("client_max_window_bits", None) => self.client_max_window_bits = Some(None),
            ("client_max_window_bits", Some(bits)) => {
                self.client_max_window_bits = Some(Some(parse_window_bits(bits)?))
            }
            (name, _) => return refuse(format!("parameter {name} not valid here (RFC 7692 §7.1)")),
        }
        Ok(())
    }
}

/// RFC 7692 §7.1.2: a window size is a decimal 8 to 15 without leading zeros
/// (the ABNF `%x38-39 / "1" %x30-35`), quoted or not.
fn parse_window_bits(text: &str) -> Result<u8, NegotiationError> {
    let bits = match text {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => text.parse().unwrap_or(0),
        _ => 0,
    };
    if !(MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits) {
        return refuse(format!(
            "window bits {text:?} not in 8..15 (RFC 7692 §7.1.2)"
        ));
    }
    Ok(bits)
}

/// The server's choice (RFC 7692 §5.1): the first permessage-deflate offer it
/// can accept, the parameters agreed and the value of the response header.
/// Other extensions are ignored (we support none), and so is an offer with an
/// invalid parameter (§5.1: the server declines it). A header that breaks
/// the list grammar declines every offer in it.
pub fn accept_offer<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Option<(DeflateParams, String)> {
    let extensions = match parse_extensions(values) {
        Ok(extensions) => extensions,
        Err(error) => {
            log::debug!("extension offers ignored: {error}");
            return None;
        }
    };
    extensions
        .iter()
        .filter(|extension| extension.name.eq_ignore_ascii_case(EXTENSION_NAME))
        .find_map(|offer| match Element::parse(offer) {
            Ok(element) => Some(answer_offer(element)),
            Err(error) => {
                log::debug!("permessage-deflate offer declined: {error}");
                None
            }
        })
}

/// The answer to one valid offer. We can compress with any window and drop
/// our context whenever asked, so we grant the server_* parameters as
/// offered (RFC 7692 §7.1.1.1, §7.1.2.1). We ask nothing of the client: our
/// inflater keeps a full 15-bit window, and the client may take its context
/// over (a `client_no_context_takeover` in the offer is only a hint,
/// §7.1.1.2; a value of `client_max_window_bits` is one we need not answer,
/// §7.1.2.2).
fn answer_offer(offer: Element) -> (DeflateParams, String) {
    let mut response = EXTENSION_NAME.to_owned();
    let mut params = DeflateParams::default();
    if offer.server_no_context_takeover {
        params.server_no_context_takeover = true;
        response.push_str("; server_no_context_takeover");
    }
    if let Some(bits) = offer.server_max_window_bits {
        params.server_max_window_bits = bits;
        response.push_str(&format!("; server_max_window_bits={bits}"));
    }
    (params, response)
}

/// The client's check of the server's response to [`CLIENT_OFFER`]
/// (RFC 7692 §5.1, §7.1): `Ok(None)` when the server declined (no extension
/// header); an error, which must fail the connection, when the response is
/// not a valid answer to our offer.
pub fn check_response<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<DeflateParams>, NegotiationError> {
    let agreed = agreed_params(values)?;

    // RFC 7692 §7.1.1.2: we offered client_no_context_takeover as a hint,
    // and keep to it whatever the server answered.
    Ok(agreed.map(|params| DeflateParams {
        client_no_context_takeover: true,
        ..params
    }))
}

/// The parameters a server's response sets, read as any client must read
/// them (RFC 7692 §7.1): `Ok(None)` when no extension was selected, an
/// error, which fails the connection, for a response that selects another
/// extension, more than one, or breaks a parameter's rule. Unlike
/// [`check_response`] it adds nothing of our own client's choosing, so
/// `pushpull explain` can read what two other peers agreed.
pub fn agreed_params<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<DeflateParams>, NegotiationError> {
    let extensions = parse_extensions(values)?;
    let element = match extensions.as_slice() {
        [] => return Ok(None),
        [only] if only.name.eq_ignore_ascii_case(EXTENSION_NAME) => Element::parse(only)?,
        [only] => return refuse(format!("server selected {} we did not offer", only.name)),
        _ => return refuse("server selected more extensions than we offered (RFC 6455 §9.1)"),
    };

    // RFC 7692 §7.1.2.2: in a response client_max_window_bits needs a value.
    let client_bits = match element.client_max_window_bits {
        Some(None) => return refuse("client_max_window_bits without a value in a response"),
        Some(Some(bits)) => bits,
        None => MAX_WINDOW_BITS,
    };
    Ok(Some(DeflateParams {
        server_no_context_takeover: element.server_no_context_takeover,
        client_no_context_takeover: element.client_no_context_takeover,
        server_max_window_bits: element.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        client_max_window_bits: client_bits,
    }))
}

/// Check one permessage-deflate element of an offer the way a server must
/// (RFC 7692 §7): an unknown parameter, one given twice, or a value that
/// breaks its rule makes the server decline the offer.
pub fn check_offer(offer: &Extension) -> Result<(), NegotiationError> {
    Element::parse(offer).map(|_| ())
}

// ----- compressing and decompressing --------------------------------------------

/// The compressor and decompressor of one connection (RFC 7692 §7.2).
pub struct PerMessageDeflate {
    params: DeflateParams,
    compressor: Compress,
    decompressor: Decompress,
    /// RFC 7692 §7.2.1: without context takeover each message starts afresh.
    reset_compressor: bool,
    reset_decompressor: bool,
    /// The peer's DEFLATE stream ended with a final block (BFINAL set).
    stream_ended: bool,
    /// Where inflated bytes land before they go to the message.
    chunk: Vec<u8>,
}

impl PerMessageDeflate {
    /// The codec for `role` with the agreed parameters (see the module table).
    pub fn new(role: Role, params: DeflateParams) -> Self {
        let (ours, theirs) = match role {
            Role::Server => (params.server_max_window_bits, params.client_max_window_bits),
            Role::Client => (params.client_max_window_bits, params.server_max_window_bits),
        };
        let (reset_ours, reset_theirs) = match role {
            Role::Server => (
                params.server_no_context_takeover,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_no_context_takeover,
                params.server_no_context_takeover,
            ),
        };
        Self {
            params,
            compressor: Compress::new_with_window_bits(
                Compression::default(),
                ZLIB_HEADER,
                ours.max(SMALLEST_ZLIB_WINDOW_BITS),
            ),
            decompressor: Decompress::new_with_window_bits(
                ZLIB_HEADER,
                theirs.max(SMALLEST_ZLIB_WINDOW_BITS),
            ),
            reset_compressor: reset_ours,
            reset_decompressor: reset_theirs,
            stream_ended: false,
            chunk: vec![0; INFLATE_CHUNK],
        }
    }

    pub fn params(&self) -> DeflateParams {
        self.params
    }

    /// A whole message's payload, compressed (RFC 7692 §7.2.1): DEFLATE
    /// blocks ending in a sync flush, whose empty stored block `00 00 ff ff`
    /// is removed.
    pub fn compress(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let start_in = self.compressor.total_in();
        loop {
            let consumed = (self.compressor.total_in() - start_in) as usize;
            let input = payload.get(consumed..).unwrap_or_default();
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            // Only a misuse of the stream can make compress_vec fail; our
            // stream is always in a valid state, so that cannot happen here.
            let _ = self
                .compressor
                .compress_vec(input, &mut out, FlushCompress::Sync);

            // Done once all input is in and the flush did not fill the buffer.
            let all_in = (self.compressor.total_in() - start_in) as usize == payload.len();
            if all_in && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&SYNC_FLUSH_TAIL) {
            out.truncate(out.len() - SYNC_FLUSH_TAIL.len());
        }

        if self.reset_compressor {
            self.compressor.reset();
        }
        out
    }

    /// Inflate one piece of a compressed message, handing the output to `sink`
    /// in chunks of at most [`INFLATE_CHUNK`] bytes. `sink` returning an error
    /// (message too big, bad UTF-8) stops inflating at once.
    pub fn decompress(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        loop {
            // RFC 7692 §7.2.3.4: a sender may end a message with a final
            // block; whatever follows it in the message decodes to nothing.
            if self.stream_ended {
                return Ok(());
            }

            let before_in = self.decompressor.total_in();
            let before_out = self.decompressor.total_out();
            let status = self
                .decompressor
                .decompress(input, &mut self.chunk, FlushDecompress::None)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            let consumed = (self.decompressor.total_in() - before_in) as usize;
            let produced = (self.decompressor.total_out() - before_out) as usize;
            input = input.get(consumed..).unwrap_or_default();
            sink(self.chunk.get(..produced).unwrap_or_default())?;

            if status == Status::StreamEnd {
                self.stream_ended = true;
                return Ok(());
            }
            // A full chunk may have more output waiting even with no input
            // left; a chunk with room to spare means inflate wants input.
            if produced < self.chunk.len() {
                if input.is_empty() {
                    return Ok(());
                }
                if consumed == 0 {
                    return Err(ProtocolError::InvalidCompressedData);
                }
            }
        }
    }

    /// The message's last frame was inflated: put back the sync flush tail
    /// (RFC 7692 §7.2.2) so the last block completes, then start afresh if the
    /// peer does not take its context over. After a final block zlib cannot
    /// go on with the same window, so the next message starts afresh too (a
    /// peer that still refers back to it fails with 1007).
    pub fn finish_message(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        self.decompress(&SYNC_FLUSH_TAIL, sink)?;
        if self.reset_decompressor || self.stream_ended {
            self.decompressor.reset(ZLIB_HEADER);
            self.stream_ended = false;
        }
        Ok(())
    }
}

impl fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
