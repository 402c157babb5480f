//! A sans-I/O HTTP/1.1 response parser (RFC 9112), used by the polling client.
//!
//! Bytes go in as they arrive from the socket, in pieces of any size
//! ([`ResponseParser::feed`]); whole responses come out
//! ([`ResponseParser::next_response`]). The head is parsed by `httparse`; the
//! body is framed by `Transfer-Encoding: chunked` (decoded by the shared
//! [`ChunkedDecoder`]), by `Content-Length`, or by the end of the connection,
//! in that order of precedence (RFC 9112 §6.3).
//! "Not enough bytes yet" is `Ok(None)`, never an error.

use std::fmt;

use super::chunked::{ChunkedDecoder, ChunkedError, ChunkedLimits};
use super::{Header, headers_from_httparse};

/// Largest response head accepted: status line plus header fields.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Most header fields accepted in one response head.
pub const MAX_HEADERS: usize = 64;

/// Default largest body accepted (a long poll answer is a few hundred KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The status of a protocol switch, which ends HTTP on the connection.
const STATUS_SWITCHING_PROTOCOLS: u16 = 101;

/// Statuses whose responses never carry content (RFC 9112 §6.3 rule 1).
const STATUS_NO_CONTENT: u16 = 204;
const STATUS_NOT_MODIFIED: u16 = 304;

/// One complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// The minor version of HTTP/1.x: 0 or 1.
    pub minor_version: u8,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    /// Whether the connection may carry another request (RFC 9112 §9.3).
    pub keep_alive: bool,
}

impl Response {
    /// The first value of the header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }
}

/// Why a response was refused. Every variant means the connection is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// The status line, a header field or a trailer line is not valid HTTP/1.x.
    MalformedHead(String),
    /// The head is longer than [`MAX_HEAD_BYTES`] or has more than
    /// [`MAX_HEADERS`] fields; or a trailer line or the trailer section is
    /// longer than [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// `Content-Length` is not a decimal number (RFC 9112 §6.3 rule 5).
    InvalidContentLength,
    /// Several `Content-Length` fields disagree (RFC 9112 §6.3 rule 5).
    ConflictingContentLength,
    /// A chunk-size line is not hexadecimal digits and extensions, or is
    /// longer than [`MAX_HEAD_BYTES`] (RFC 9112 §7.1).
    InvalidChunkSize,
    /// Chunk data is not followed by CRLF (RFC 9112 §7.1).
    ChunkDataWithoutCrlf,
    /// The body is larger than the configured limit.
    BodyTooLarge,
    /// The connection ended in the middle of a response (RFC 9112 §8).
    IncompleteAtEof,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::MalformedHead(why) => write!(f, "malformed response head: {why}"),
            ResponseError::HeadTooLarge => write!(
                f,
                "response head over {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} fields"
            ),
            ResponseError::InvalidContentLength => write!(f, "invalid Content-Length"),
            ResponseError::ConflictingContentLength => {
                write!(f, "conflicting Content-Length fields")
            }
            ResponseError::InvalidChunkSize => write!(f, "invalid chunk size line"),
            ResponseError::ChunkDataWithoutCrlf => write!(f, "chunk data not followed by CRLF"),
            ResponseError::BodyTooLarge => write!(f, "response body over the size limit"),
            ResponseError::IncompleteAtEof => write!(f, "connection closed mid-response"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// A chunked body the decoder refused, as the response parser reports it.
impl From<ChunkedError> for ResponseError {
    fn from(err: ChunkedError) -> Self {
        match err {
            ChunkedError::SizeLineTooLong
            | ChunkedError::SizeNotHexadecimal
            | ChunkedError::JunkAfterSize
            | ChunkedError::SizeOverflow => ResponseError::InvalidChunkSize,
            ChunkedError::DataLongerThanSize => ResponseError::ChunkDataWithoutCrlf,
            ChunkedError::TrailerLineTooLong | ChunkedError::TrailerSectionTooLarge => {
                ResponseError::HeadTooLarge
            }
            ChunkedError::TrailerNotAField => ResponseError::MalformedHead(err.to_string()),
            ChunkedError::BodyTooLarge => ResponseError::BodyTooLarge,
        }
    }
}

/// How the body of the current response is delimited.
#[derive(Debug)]
enum Framing {
    /// `Content-Length`: this many bytes are still to come.
    Length(usize),
    /// The chunked coding (RFC 9112 §7.1).
    Chunked(ChunkedDecoder),
    /// No length given: the body runs until the server closes (RFC 9112 §6.3 rule 8).
    UntilClose,
}

/// A response whose head has been parsed and whose body is being read.
#[derive(Debug)]
struct Partial {
    response: Response,
    framing: Framing,
}

/// Incremental parser for a sequence of responses on one connection.
#[derive(Debug)]
pub struct ResponseParser {
    buf: Vec<u8>,
    partial: Option<Partial>,
    max_body: usize,
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseParser {
    /// A parser with the default body limit.
    pub fn new() -> Self {
        Self::with_max_body(DEFAULT_MAX_BODY_BYTES)
    }

    /// A parser refusing bodies over `max_body` bytes.
    pub fn with_max_body(max_body: usize) -> Self {
        ResponseParser {
            buf: Vec::new(),
            partial: None,
            max_body,
        }
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether the parser is between responses with nothing buffered.
    pub fn is_idle(&self) -> bool {
        self.partial.is_none() && self.buf.is_empty()
    }

    /// Take the bytes buffered after the last complete response: after a 101
    /// they belong to the protocol switched to (WebSocket frames that came
    /// in the same read as the head). The parser is left empty.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The next complete response, `Ok(None)` if more bytes are needed.
    ///
    /// Interim 1xx responses other than 101 are skipped (RFC 9110 §15.2: a
    /// client must accept them before the final response).
    pub fn next_response(&mut self) -> Result<Option<Response>, ResponseError> {
        loop {
            if self.partial.is_none() && !self.parse_head()? {
                return Ok(None);
            }
            let Some(response) = self.read_body()? else {
                return Ok(None);
            };
            if is_interim(response.status) {
                log::debug!("skipping interim response {}", response.status);
                continue;
            }
            return Ok(Some(response));
        }
    }

    /// The connection reached end of file: completes a body delimited by the
    /// close, or reports a response cut short.
    pub fn on_eof(&mut self) -> Result<Option<Response>, ResponseError> {
        match self.partial.take() {
            Some(Partial {
                mut response,
                framing: Framing::UntilClose,
            }) => {
                response.body.append(&mut self.buf);
                Ok(Some(response))
            }
            Some(_) => Err(ResponseError::IncompleteAtEof),
            None if self.buf.is_empty() => Ok(None),
            None => Err(ResponseError::IncompleteAtEof),
        }
    }

    /// Parses a head from the buffer. `Ok(false)` means it is not complete.
    fn parse_head(&mut self) -> Result<bool, ResponseError> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut fields);
        let consumed = match parsed.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD_BYTES => {
                return Err(ResponseError::HeadTooLarge);
            }
            Ok(httparse::Status::Partial) => return Ok(false),
            Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::HeadTooLarge),
            Err(e) => return Err(ResponseError::MalformedHead(e.to_string())),
        };
        if consumed > MAX_HEAD_BYTES {
            return Err(ResponseError::HeadTooLarge);
        }

        let response = Response {
            status: parsed.code.unwrap_or_default(),
            reason: parsed.reason.unwrap_or_default().to_string(),
            minor_version: parsed.version.unwrap_or_default(),
            headers: headers_from_httparse(parsed.headers),
            body: Vec::new(),
            keep_alive: false,
        };
        self.buf.drain(..consumed);
        let partial = framed(response, self.max_body)?;
        if matches!(partial.framing, Framing::Length(n) if n > self.max_body) {
            return Err(ResponseError::BodyTooLarge);
        }
        self.partial = Some(partial);
        Ok(true)
    }

    /// Moves body bytes from the buffer; returns the response once complete.
    fn read_body(&mut self) -> Result<Option<Response>, ResponseError> {
        let Some(partial) = self.partial.as_mut() else {
            return Ok(None);
        };
        let done = match &mut partial.framing {
            Framing::Length(remaining) => {
                take_up_to(&mut self.buf, remaining, &mut partial.response.body);
                *remaining == 0
            }
            Framing::Chunked(decoder) => {
                decoder.decode(&mut self.buf, &mut partial.response.body)?
            }
            Framing::UntilClose => {
                partial.response.body.append(&mut self.buf);
                false
            }
        };
        if partial.response.body.len() > self.max_body {
            return Err(ResponseError::BodyTooLarge);
        }
        Ok(if done {
            self.partial.take().map(|p| p.response)
        } else {
            None
        })
    }
}

fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != STATUS_SWITCHING_PROTOCOLS
}

/// Decides how the body is delimited and whether the connection persists
/// (RFC 9112 §6.3 for the body, §9.3 for persistence).
fn framed(mut response: Response, max_body: usize) -> Result<Partial, ResponseError> {
    let persistent = wants_persistence(&response);

    // RFC 9112 §6.3 rule 1: 1xx, 204 and 304 responses end at the head.
    let no_content = (100..200).contains(&response.status)
        || response.status == STATUS_NO_CONTENT
        || response.status == STATUS_NOT_MODIFIED;
    let framing = if no_content {
        Framing::Length(0)
    } else if let Some(codings) = header_values(&response, "transfer-encoding") {
        // RFC 9112 §6.3 rules 3 and 4: Transfer-Encoding overrides Content-Length;
        // unless chunked is the final coding, the body runs until close.
        if last_coding_is_chunked(&codings) {
            Framing::Chunked(ChunkedDecoder::new(chunked_limits(max_body)))
        } else {
            Framing::UntilClose
        }
    } else if let Some(length) = content_length(&response)? {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };

    response.keep_alive = persistent && !matches!(framing, Framing::UntilClose);
    Ok(Partial { response, framing })
}

/// RFC 9112 §9.3: HTTP/1.1 persists unless `Connection: close`; HTTP/1.0
/// persists only with `Connection: keep-alive`.
fn wants_persistence(response: &Response) -> bool {
    let has = |token: &str| {
        response
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    if response.minor_version >= 1 {
        !has("close")
    } else {
        has("keep-alive")
    }
}

/// All values of a header joined by commas, or `None` if absent.
fn header_values(response: &Response, name: &str) -> Option<Vec<u8>> {
    let values: Vec<&[u8]> = response
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_slice())
        .collect();
    (!values.is_empty()).then(|| values.join(&b','))
}

fn last_coding_is_chunked(codings: &[u8]) -> bool {
    codings
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .rfind(|c| !c.is_empty())
        .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
}

/// RFC 9112 §6.3 rule 5: an invalid Content-Length, or several that differ,
/// make the response unrecoverable.
fn content_length(response: &Response) -> Result<Option<usize>, ResponseError> {
    let Some(values) = header_values(response, "content-length") else {
        return Ok(None);
    };
    let mut length = None;
    for item in values.split(|&b| b == b',') {
        let digits = item.trim_ascii();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(ResponseError::InvalidContentLength);
        }
        let n: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(ResponseError::InvalidContentLength)?;
        if length.is_some_and(|l| l != n) {
            return Err(ResponseError::ConflictingContentLength);
        }
        length = Some(n);
    }
    Ok(length)
}

/// Moves up to `*remaining` bytes from the front of `buf` to `out`.
fn take_up_to(buf: &mut Vec<u8>, remaining: &mut usize, out: &mut Vec<u8>) {
    let n = (*remaining).min(buf.len());
    out.extend(buf.drain(..n));
    *remaining -= n;
}

/// A chunked body's lines and trailer section are held to the head's limit.
fn chunked_limits(max_body: usize) -> ChunkedLimits {
    ChunkedLimits {
        max_line: MAX_HEAD_BYTES,
        max_trailer_bytes: MAX_HEAD_BYTES,
        max_body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` one byte at a time and collects every response.
    fn parse_bytewise(input: &[u8]) -> Result<Vec<Response>, ResponseError> {
        let mut parser = ResponseParser::new();
        let mut out = Vec::new();
        for &b in input {
            parser.feed(&[b]);
            while let Some(r) = parser.next_response()? {
                out.push(r);
            }
        }
        out.extend(parser.on_eof()?);
        Ok(out)
    }

    #[test]
    fn rfc9112_section6_3_content_length_body_fed_one_byte_at_a_time() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                      Content-Length: 2\r\n\r\n[]";
        let responses = parse_bytewise(input).unwrap();
        assert_eq!(responses.len(), 1);
        let r = &responses[0];
        assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
        assert_eq!(r.body, b"[]");
        assert!(r.keep_alive);
        assert_eq!(r.header("content-type"), Some(&b"application/json"[..]));
    }

    #[test]
    fn incomplete_head_is_not_an_error() {
        let mut parser = ResponseParser::new();
        parser.feed(b"HTTP/1.1 200 OK\r\nContent-Le");
        assert_eq!(parser.next_response(), Ok(None));
        assert!(!parser.is_idle());
    }

    #[test]
    fn rfc9112_section7_1_chunked_body_with_extension_and_trailer() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                      4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: y\r\n\r\n";
        let responses = parse_bytewise(input).unwrap();
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].body, b"Wikipedia");
        assert!(responses[0].keep_alive);
    }

    #[test]
    fn rfc9112_section7_1_chunk_data_must_end_with_crlf() {
        let mut parser = ResponseParser::new();
        parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY");
        assert_eq!(
            parser.next_response(),
            Err(ResponseError::ChunkDataWithoutCrlf)
        );
    }

    #[test]
    fn rfc9112_section7_1_chunk_size_must_be_hex() {
        let mut parser = ResponseParser::new();
        parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        assert_eq!(parser.next_response(), Err(ResponseError::InvalidChunkSize));
    }

    #[test]
    fn rfc9112_section9_3_keep_alive_carries_two_responses_in_one_read() {
        let mut parser = ResponseParser::new();
        parser.feed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA\
              HTTP/1.1 201 Created\r\nContent-Length: 1\r\nConnection: close\r\n\r\nB",
        );
        let first = parser.next_response().unwrap().unwrap();
        let second = parser.next_response().unwrap().unwrap();
        assert_eq!(
            (first.status, first.body.as_slice(), first.keep_alive),
            (200, &b"A"[..], true)
        );
        assert_eq!((second.status, second.keep_alive), (201, false));
        assert!(parser.is_idle());
    }

    #[test]
    fn rfc9112_section9_3_http10_closes_unless_keep_alive() {
        let closed = parse_bytewise(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert!(!closed[0].keep_alive);
        let kept = parse_bytewise(
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert!(kept[0].keep_alive);
    }

    #[test]
    fn rfc9112_section6_3_body_without_length_runs_until_close() {
        let responses = parse_bytewise(b"HTTP/1.1 200 OK\r\n\r\n[1,2]").unwrap();
        assert_eq!(responses[0].body, b"[1,2]");
        assert!(!responses[0].keep_alive);
    }

    #[test]
    fn rfc9112_section6_3_no_content_statuses_have_no_body() {
        let mut parser = ResponseParser::new();
        parser.feed(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(parser.next_response().unwrap().unwrap().status, 204);
        assert_eq!(parser.next_response().unwrap().unwrap().status, 200);
    }

    #[test]
    fn rfc9110_section15_2_interim_responses_are_skipped() {
        let responses = parse_bytewise(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].status, 201);
    }

    #[test]
    fn rfc9112_section6_3_conflicting_or_invalid_content_length_is_refused() {
        let cases: &[(&[u8], ResponseError)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ResponseError::ConflictingContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                ResponseError::InvalidContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                ResponseError::InvalidContentLength,
            ),
        ];
        for (input, expected) in cases {
            let mut parser = ResponseParser::new();
            parser.feed(input);
            assert_eq!(parser.next_response().as_ref(), Err(expected));
        }
        let mut same = ResponseParser::new();
        same.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx");
        assert_eq!(same.next_response().unwrap().unwrap().body, b"x");
    }

    #[test]
    fn eof_mid_body_is_reported() {
        let mut parser = ResponseParser::new();
        parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
        assert_eq!(parser.next_response(), Ok(None));
        assert_eq!(parser.on_eof(), Err(ResponseError::IncompleteAtEof));
    }

    #[test]
    fn oversized_head_and_body_are_refused() {
        let mut parser = ResponseParser::new();
        parser.feed(b"HTTP/1.1 200 OK\r\nX: ");
        parser.feed(&vec![b'a'; MAX_HEAD_BYTES]);
        assert_eq!(parser.next_response(), Err(ResponseError::HeadTooLarge));

        let mut small = ResponseParser::with_max_body(3);
        small.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd");
        assert_eq!(small.next_response(), Err(ResponseError::BodyTooLarge));

        let mut chunked = ResponseParser::with_max_body(3);
        chunked.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n");
        assert_eq!(chunked.next_response(), Err(ResponseError::BodyTooLarge));
    }

    #[test]
    fn garbage_status_line_is_malformed() {
        let mut parser = ResponseParser::new();
        parser.feed(b"HTTP/9 OK\r\n\r\n");
        assert!(matches!(
            parser.next_response(),
            Err(ResponseError::MalformedHead(_))
        ));
    }
}
