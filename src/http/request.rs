//! A sans-I/O HTTP/1.1 request parser (RFC 9112): bytes in, requests out.
//!
//! The parser never blocks and never needs a whole request at once. The caller appends
//! whatever it read with [`RequestParser::push`] and calls [`RequestParser::next`] until it
//! answers `Ok(None)` ("need more bytes"). Several pipelined requests in one read come back
//! one per call, in order. Both servers drive the same parser.
//!
//! The head is located by a line scanner that enforces the length limits as bytes arrive,
//! then handed whole to `httparse`. The body is framed by Content-Length or decoded from the
//! chunked transfer coding (RFC 9112 §7.1) by the shared [`ChunkedDecoder`]; no other
//! transfer coding is implemented.

use super::chunked::{ChunkedDecoder, ChunkedLimits};
use super::{CRLF, HttpError, RequestHead, headers_from_httparse, strip_cr};

/// Default for [`Limits::max_head_bytes`]: request line plus headers.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 8 * 1024;
/// Default for [`Limits::max_headers`].
pub const DEFAULT_MAX_HEADERS: usize = 64;
/// Default for [`Limits::max_line`].
pub const DEFAULT_MAX_LINE: usize = 4 * 1024;
/// Default for [`Limits::max_body`].
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// Methods whose requests carry content, so a missing length is refused with 411 rather than
/// read as an empty body (RFC 9112 §6.3 rule 7 would allow the latter).
const METHODS_WITH_CONTENT: [&str; 3] = ["POST", "PUT", "PATCH"];

/// How much a client may send before it is refused. Every limit is checked while the bytes
/// arrive, so a client cannot make the parser buffer more than about `max_head_bytes` of head
/// or `max_body` of body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus header section, in bytes (default 8 KiB). Over it: 431.
    pub max_head_bytes: usize,
    /// Header fields in one request (default 64). Over it: 431.
    pub max_headers: usize,
    /// The request line, any header or trailer line, any chunk-size line, in bytes without
    /// the CR LF (default 4 KiB). Over it: 414 for the request line, 431 for a header line.
    pub max_line: usize,
    /// The decoded body, in bytes (default 64 KiB). Over it: 413.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_line: DEFAULT_MAX_LINE,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// One complete request: its head and its decoded body (empty when it had none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub head: RequestHead,
    pub body: Vec<u8>,
}

impl Request {
    /// Whether the connection stays open after this request; see [`RequestHead::keep_alive`].
    pub fn keep_alive(&self) -> bool {
        self.head.keep_alive()
    }
}

/// What [`RequestParser::next`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The head asked `Expect: 100-continue` and the body has not arrived: the caller writes
    /// `HTTP/1.1 100 Continue\r\n\r\n` now (RFC 9110 §10.1.1). Returned once per request.
    Continue,
    Request(Request),
}

/// Where the scan for the end of the head has got to, so that bytes fed one at a time are
/// each looked at once.
#[derive(Debug, Default)]
struct HeadScan {
    /// Bytes of the buffer already scanned.
    scanned: usize,
    /// Offset of the line being scanned.
    line_start: usize,
    /// Complete lines seen; the first is the request line.
    lines: usize,
}

/// How the body of the current request is delimited (RFC 9112 §6.3).
#[derive(Debug)]
enum Framing {
    /// Content-Length: this many bytes still to come.
    Length(usize),
    Chunked(ChunkedDecoder),
}

/// A request whose head has been parsed and whose body is arriving.
#[derive(Debug)]
struct Incoming {
    head: RequestHead,
    body: Vec<u8>,
    framing: Framing,
    continue_due: bool,
}

#[derive(Debug)]
enum State {
    Head,
    Body(Incoming),
    /// A request was refused; the connection is unusable and answers the same error.
    Failed(HttpError),
}

/// The incremental request parser. See the module docs.
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    buf: Vec<u8>,
    scan: HeadScan,
    state: State,
}

impl RequestParser {
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            buf: Vec::new(),
            scan: HeadScan::default(),
            state: State::Head,
        }
    }

    /// Append bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next thing the buffered bytes complete, `Ok(None)` when more bytes are needed.
    ///
    /// After an error the parser stays failed and returns that error again: the caller
    /// answers with [`crate::http::error_response`] and closes the connection.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Parsed>, HttpError> {
        if let State::Failed(err) = &self.state {
            return Err(err.clone());
        }

        // The I/O shell logs the refusal, once, with the peer's address.
        let result = self.advance();
        if let Err(err) = &result {
            self.state = State::Failed(err.clone());
        }
        result
    }

    /// No part of a request is buffered: the connection is between requests. A server's
    /// request deadline (408) applies only while this is false.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && self.buf.is_empty()
    }

    /// Take the bytes buffered after the last complete request, e.g. WebSocket frames that
    /// arrived in the same read as the upgrade request. Call it right after `next` returned
    /// that request; the parser is left empty.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.scan = HeadScan::default();
        std::mem::take(&mut self.buf)
    }

    fn advance(&mut self) -> Result<Option<Parsed>, HttpError> {
        if matches!(self.state, State::Head) {
            let Some(end) = self.scan_head()? else {
                return Ok(None);
            };
            let incoming = self.start_request(end)?;
            self.state = State::Body(incoming);
        }
        self.read_body()
    }

    /// Look for the empty line that ends the head, checking line and head lengths on the
    /// way. Returns the offset just past that empty line.
    fn scan_head(&mut self) -> Result<Option<usize>, HttpError> {
        if !self.skip_leading_empty_lines() {
            return Ok(None);
        }

        while let Some(pos) = self.buf[self.scan.scanned..]
            .iter()
            .position(|&b| b == b'\n')
        {
            let newline = self.scan.scanned + pos;
            let line = strip_cr(&self.buf[self.scan.line_start..newline]);
            self.scan.scanned = newline + 1;

            // RFC 9112 §2.1: the head ends at the first empty line.
            if line.is_empty() {
                return match newline + 1 > self.limits.max_head_bytes {
                    true => Err(HttpError::HeadTooLarge),
                    false => Ok(Some(newline + 1)),
                };
            }
            self.check_line_length(line.len())?;
            // RFC 9112 §3: a request line that cannot be valid is refused as soon as
            // it is complete, not once the rest of the head (or the deadline) arrives.
            if self.scan.lines == 0 {
                check_request_line(&self.buf[..=newline])?;
            }
            self.scan.lines += 1;
            self.scan.line_start = newline + 1;
        }
        self.scan.scanned = self.buf.len();

        // The line still open may already be too long, and so may the head.
        let open_line = strip_cr(&self.buf[self.scan.line_start..]).len();
        self.check_line_length(open_line)?;
        if self.buf.len() > self.limits.max_head_bytes {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(None)
    }

    /// RFC 9112 §2.2: a server SHOULD ignore empty lines received before the request line.
    /// Returns false when the buffer holds nothing but the start of such a line.
    fn skip_leading_empty_lines(&mut self) -> bool {
        if self.scan.scanned > 0 {
            return true;
        }
        loop {
            if self.buf.starts_with(CRLF) {
                self.buf.drain(..CRLF.len());
            } else if self.buf.starts_with(b"\n") {
                self.buf.drain(..1);
            } else {
                return !self.buf.is_empty() && self.buf != b"\r";
            }
        }
    }

    fn check_line_length(&self, len: usize) -> Result<(), HttpError> {
        if len <= self.limits.max_line {
            return Ok(());
        }

        // RFC 9112 §3: a request-target longer than the server will parse gets 414.
        match self.scan.lines {
            0 => Err(HttpError::RequestLineTooLong),
            _ => Err(HttpError::HeaderLineTooLong),
        }
    }

    /// Parse the head in `buf[..end]`, work out the body framing and drop the head bytes.
    fn start_request(&mut self, end: usize) -> Result<Incoming, HttpError> {
        let head = parse_head(&self.buf[..end], self.limits.max_headers)?;
        self.buf.drain(..end);
        self.scan = HeadScan::default();

        let framing = body_framing(&head, &self.limits)?;
        let continue_due = expects_continue(&head)? && framing.is_some();
        Ok(Incoming {
            head,
            body: Vec::new(),
            framing: framing.unwrap_or(Framing::Length(0)),
            continue_due,
        })
    }

    /// Move body bytes from the buffer into the request; return it once complete.
    fn read_body(&mut self) -> Result<Option<Parsed>, HttpError> {
        let State::Body(incoming) = &mut self.state else {
            return Ok(None);
        };

        // RFC 9110 §10.1.1: the client waits for 100 Continue only if no body came yet.
        if std::mem::take(&mut incoming.continue_due) && self.buf.is_empty() {
            return Ok(Some(Parsed::Continue));
        }

        let done = match &mut incoming.framing {
            Framing::Length(remaining) => {
                let n = (*remaining).min(self.buf.len());
                incoming.body.extend(self.buf.drain(..n));
                *remaining -= n;
                *remaining == 0
            }
            Framing::Chunked(decoder) => decoder.decode(&mut self.buf, &mut incoming.body)?,
        };
        if !done {
            return Ok(None);
        }

        match std::mem::replace(&mut self.state, State::Head) {
            State::Body(done) => Ok(Some(Parsed::Request(Request {
                head: done.head,
                body: done.body,
            }))),
            other => {
                self.state = other;
                Ok(None)
            }
        }
    }
}

impl RequestHead {
    /// Whether the connection persists after this request (RFC 9112 §9.3): HTTP/1.1 keeps it
    /// unless `Connection: close`; HTTP/1.0 closes it unless `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if self.has_token("Connection", "close") {
            return false;
        }
        self.minor_version >= 1 || self.has_token("Connection", "keep-alive")
    }
}

/// Let httparse judge a lone request line: with no header bytes after it, a valid
/// line can only be "partial".
fn check_request_line(line: &[u8]) -> Result<(), HttpError> {
    let mut no_headers = [httparse::EMPTY_HEADER; 0];
    match httparse::Request::new(&mut no_headers).parse(line) {
        Ok(_) => Ok(()),
        Err(err) => Err(map_httparse_error(err, line)),
    }
}

/// Hand a complete head to httparse and copy it into a [`RequestHead`].
fn parse_head(bytes: &[u8], max_headers: usize) -> Result<RequestHead, HttpError> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::MalformedHead("incomplete head")),
        Err(err) => return Err(map_httparse_error(err, bytes)),
    }

    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HttpError::MalformedHead("incomplete request line"));
    };
    let head = RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        minor_version,
        headers: headers_from_httparse(req.headers),
    };

    // RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request that lacks a Host
    // header or has more than one.
    if head.minor_version >= 1 && head.headers_named("Host").count() != 1 {
        return Err(HttpError::HostMissingOrRepeated);
    }
    Ok(head)
}

fn map_httparse_error(err: httparse::Error, head: &[u8]) -> HttpError {
    match err {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        httparse::Error::Version if names_other_http_version(head) => HttpError::UnsupportedVersion,
        httparse::Error::Version => HttpError::MalformedHead("invalid HTTP version"),
        httparse::Error::HeaderName => HttpError::MalformedHead("invalid header name"),
        httparse::Error::HeaderValue => HttpError::MalformedHead("invalid header value"),
        httparse::Error::NewLine => HttpError::MalformedHead("invalid line ending"),
        httparse::Error::Token | httparse::Error::Status => {
            HttpError::MalformedHead("invalid request line")
        }
    }
}

/// Whether the request line ends in a well-formed `HTTP/d.d` that httparse refused, i.e. a
/// version we do not serve (505) rather than garbage (400).
fn names_other_http_version(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
    let version = strip_cr(line).rsplit(|&b| b == b' ').next().unwrap_or(&[]);
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        _ => false,
    }
}

/// The body framing of a request (RFC 9112 §6.3), `None` when it has no body.
fn body_framing(head: &RequestHead, limits: &Limits) -> Result<Option<Framing>, HttpError> {
    let has_transfer_encoding = head.header("Transfer-Encoding").is_some();
    let has_content_length = head.header("Content-Length").is_some();

    if has_transfer_encoding {
        // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
        if head.minor_version == 0 {
            return Err(HttpError::TransferEncodingInHttp10);
        }
        // RFC 9112 §6.3 rule 3: both headers together are a smuggling attempt.
        if has_content_length {
            return Err(HttpError::ContentLengthWithTransferEncoding);
        }
        check_transfer_codings(head)?;
        return Ok(Some(Framing::Chunked(ChunkedDecoder::new(chunked_limits(
            limits,
        )))));
    }

    if has_content_length {
        let length = content_length(head)?;
        if length > limits.max_body {
            return Err(HttpError::BodyTooLarge);
        }
        return Ok((length > 0).then_some(Framing::Length(length)));
    }

    if METHODS_WITH_CONTENT.contains(&head.method.as_str()) {
        return Err(HttpError::LengthRequired);
    }
    Ok(None)
}

/// Accept exactly `chunked`, once and last, and no other coding.
fn check_transfer_codings(head: &RequestHead) -> Result<(), HttpError> {
    let codings: Vec<&[u8]> = head
        .headers_named("Transfer-Encoding")
        .flat_map(|value| value.split(|&b| b == b','))
        .map(|coding| coding.trim_ascii())
        .filter(|coding| !coding.is_empty())
        .collect();
    let is_chunked = |coding: &[u8]| coding.eq_ignore_ascii_case(b"chunked");

    // RFC 9112 §6.3 rule 4: chunked not final means the length cannot be known: 400.
    // RFC 9112 §7.1: a sender MUST NOT apply chunked more than once.
    let chunked_count = codings.iter().filter(|c| is_chunked(c)).count();
    if codings.last().is_none_or(|last| !is_chunked(last)) || chunked_count > 1 {
        return Err(HttpError::ChunkedNotFinalCoding);
    }

    // RFC 9112 §6.1: an unimplemented transfer coding SHOULD be answered with 501.
    if codings.len() > 1 {
        return Err(HttpError::UnsupportedTransferCoding);
    }
    Ok(())
}

/// RFC 9110 §8.6: Content-Length is decimal digits. A list of identical values (from
/// repeated headers or commas) is accepted as that one value; differing values are not.
fn content_length(head: &RequestHead) -> Result<usize, HttpError> {
    let mut length = None;
    let values = head
        .headers_named("Content-Length")
        .flat_map(|value| value.split(|&b| b == b','));
    for value in values {
        let value = parse_decimal(value.trim_ascii())?;
        if length.is_some_and(|seen| seen != value) {
            return Err(HttpError::InvalidContentLength);
        }
        length = Some(value);
    }
    length.ok_or(HttpError::InvalidContentLength)
}

/// Digits only, no sign or space. A number too big for `usize` is certainly too big a body.
fn parse_decimal(digits: &[u8]) -> Result<usize, HttpError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::InvalidContentLength);
    }
    digits.iter().try_fold(0usize, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(d - b'0')))
            .ok_or(HttpError::BodyTooLarge)
    })
}

/// Whether the client waits for 100 Continue before sending the body (RFC 9110 §10.1.1).
fn expects_continue(head: &RequestHead) -> Result<bool, HttpError> {
    // RFC 9110 §10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request.
    if head.minor_version == 0 {
        return Ok(false);
    }

    let mut expects = false;
    let members = head
        .headers_named("Expect")
        .flat_map(|value| value.split(|&b| b == b','))
        .map(|member| member.trim_ascii())
        .filter(|member| !member.is_empty());
    for member in members {
        if !member.eq_ignore_ascii_case(b"100-continue") {
            return Err(HttpError::ExpectationFailed);
        }
        expects = true;
    }
    Ok(expects)
}

/// A chunked body is held to the same limits as the rest of the request: its lines to
/// `max_line`, its trailer section to `max_head_bytes`, its data to `max_body`.
fn chunked_limits(limits: &Limits) -> ChunkedLimits {
    ChunkedLimits {
        max_line: limits.max_line,
        max_trailer_bytes: limits.max_head_bytes,
        max_body: limits.max_body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[u8] = b"GET /messages?since=3 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    const POST: &[u8] = b"POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    const CHUNKED: &[u8] = b"POST /m HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;name=value\r\nhello\r\n1 ; a ; b=\"c\"\r\n!\r\n0\r\nExpires: never\r\nX-T: 1\r\n\r\n";

    /// Push `pieces` one after another, calling `next` after each, and collect everything
    /// produced (stopping at the first error).
    fn feed<'a>(
        parser: &mut RequestParser,
        pieces: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<Parsed>, HttpError> {
        let mut out = Vec::new();
        for piece in pieces {
            parser.push(piece);
            while let Some(parsed) = parser.next()? {
                out.push(parsed);
            }
        }
        Ok(out)
    }

    fn requests(input: &[u8]) -> Result<Vec<Request>, HttpError> {
        let parsed = feed(&mut RequestParser::new(Limits::default()), [input])?;
        Ok(parsed.into_iter().filter_map(request_of).collect())
    }

    fn request_of(parsed: Parsed) -> Option<Request> {
        match parsed {
            Parsed::Request(request) => Some(request),
            Parsed::Continue => None,
        }
    }

    fn post(rest: &[u8]) -> Vec<u8> {
        [&b"POST / HTTP/1.1\r\nHost: x\r\n"[..], rest].concat()
    }

    fn status_of(input: &[u8], limits: Limits) -> u16 {
        match feed(&mut RequestParser::new(limits), [input]) {
            Err(err) => err.status(),
            Ok(parsed) => panic!("expected an error, parsed {parsed:?}"),
        }
    }

    #[test]
    fn a_request_split_at_every_point_parses_the_same() {
        for input in [GET, POST, CHUNKED] {
            let whole = requests(input).unwrap();
            assert_eq!(whole.len(), 1);
            for split in 0..=input.len() {
                let (a, b) = input.split_at(split);
                let mut parser = RequestParser::new(Limits::default());
                let got: Vec<Request> = feed(&mut parser, [a, b])
                    .unwrap()
                    .into_iter()
                    .filter_map(request_of)
                    .collect();
                assert_eq!(got, whole, "split at {split}");
                assert!(parser.is_idle());
            }
        }
    }

    #[test]
    fn a_request_fed_one_byte_at_a_time_parses() {
        for input in [GET, POST, CHUNKED] {
            let mut parser = RequestParser::new(Limits::default());
            let got = feed(&mut parser, input.chunks(1)).unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(
                got.into_iter().filter_map(request_of).collect::<Vec<_>>(),
                requests(input).unwrap()
            );
        }
    }

    #[test]
    fn head_fields_are_copied_from_the_wire() {
        let request = requests(GET).unwrap().remove(0);
        assert_eq!(request.head.method, "GET");
        assert_eq!(request.head.target, "/messages?since=3");
        assert_eq!(request.head.minor_version, 1);
        assert_eq!(request.head.header("accept"), Some(&b"*/*"[..]));
        assert!(request.body.is_empty());
    }

    #[test]
    fn pipelined_requests_in_one_push_come_back_one_per_call_in_order() {
        let mut parser = RequestParser::new(Limits::default());
        parser.push(&[POST, GET].concat());

        let first = parser.next().unwrap().and_then(request_of).unwrap();
        assert_eq!(
            (first.head.method.as_str(), first.body.as_slice()),
            ("POST", &b"hello"[..])
        );
        assert!(!parser.is_idle());
        let second = parser.next().unwrap().and_then(request_of).unwrap();
        assert_eq!(second.head.method, "GET");
        assert_eq!(parser.next().unwrap(), None);
        assert!(parser.is_idle());
    }

    #[test]
    fn rfc9112_7_1_chunked_body_is_decoded_ignoring_extensions_and_trailers() {
        let request = requests(CHUNKED).unwrap().remove(0);
        assert_eq!(request.body, b"hello!");
        assert_eq!(request.head.header("Expires"), None);
    }

    #[test]
    fn rfc9112_2_2_empty_lines_before_the_request_line_are_ignored() {
        let input = [&b"\r\n\n\r\n"[..], GET].concat();
        let got = requests(&input).unwrap();
        assert_eq!(got, requests(GET).unwrap());
    }

    #[test]
    fn is_idle_only_between_requests() {
        let mut parser = RequestParser::new(Limits::default());
        assert!(parser.is_idle());
        parser.push(&POST[..10]);
        assert_eq!(parser.next().unwrap(), None);
        assert!(!parser.is_idle());
        parser.push(&POST[10..POST.len() - 2]);
        assert_eq!(parser.next().unwrap(), None);
        assert!(!parser.is_idle(), "head parsed, body partway in");
        parser.push(&POST[POST.len() - 2..]);
        assert!(matches!(parser.next(), Ok(Some(Parsed::Request(_)))));
        assert!(parser.is_idle());
    }

    #[test]
    fn take_buffered_returns_the_bytes_after_the_request() {
        let mut parser = RequestParser::new(Limits::default());
        parser.push(&[GET, &b"\x81\x85frame"[..]].concat());
        assert!(matches!(parser.next(), Ok(Some(Parsed::Request(_)))));
        assert_eq!(parser.take_buffered(), b"\x81\x85frame");
        assert!(parser.is_idle());
    }

    #[test]
    fn rfc9110_10_1_1_continue_is_due_when_the_body_has_not_arrived() {
        let head =
            b"POST /m HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        let mut parser = RequestParser::new(Limits::default());
        parser.push(head);
        assert_eq!(parser.next().unwrap(), Some(Parsed::Continue));
        assert_eq!(parser.next().unwrap(), None, "Continue is returned once");
        parser.push(b"ok");
        let request = parser.next().unwrap().and_then(request_of).unwrap();
        assert_eq!(request.body, b"ok");
    }

    #[test]
    fn rfc9110_10_1_1_no_continue_when_the_body_came_with_the_head() {
        let input =
            b"POST /m HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
        let got = feed(&mut RequestParser::new(Limits::default()), [&input[..]]).unwrap();
        assert!(matches!(got.as_slice(), [Parsed::Request(_)]));
    }

    #[test]
    fn rfc9110_10_1_1_continue_is_ignored_in_http10() {
        let input = b"POST /m HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        let got = feed(&mut RequestParser::new(Limits::default()), [&input[..]]).unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn content_length_repeated_with_the_same_value_is_accepted() {
        let input =
            b"POST /m HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok";
        assert_eq!(requests(input).unwrap()[0].body, b"ok");
    }

    #[test]
    fn a_request_line_that_cannot_be_valid_is_refused_before_the_head_ends_rfc_9112_section_3() {
        for garbage in [
            &b"\x16\x03\x01\x02\x00\x01\x00\r\n"[..],
            b"GET / HTTX/1.1\r\n",
        ] {
            let mut parser = RequestParser::new(Limits::default());
            parser.push(garbage);
            assert!(
                matches!(parser.next(), Err(HttpError::MalformedHead(_))),
                "{garbage:?}"
            );
        }

        // A valid line alone is only the start of a head.
        let mut parser = RequestParser::new(Limits::default());
        parser.push(b"GET /messages?since=3 HTTP/1.1\r\n");
        assert_eq!(parser.next(), Ok(None));
        parser.push(b"Host: x\r\n\r\n");
        assert!(matches!(parser.next(), Ok(Some(_))));
    }

    #[test]
    fn a_refused_request_keeps_the_parser_failed() {
        let mut parser = RequestParser::new(Limits::default());
        parser.push(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(parser.next(), Err(HttpError::HostMissingOrRepeated));
        parser.push(GET);
        assert_eq!(parser.next(), Err(HttpError::HostMissingOrRepeated));
        assert!(!parser.is_idle());
    }

    #[test]
    fn every_refusal_maps_to_its_status() {
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(5000));
        let long_header = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(5000)
        );
        let big_head = format!(
            "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
            format!("X-Pad: {}\r\n", "0".repeat(3000)).repeat(3)
        );
        let many_headers = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", "A: b\r\n".repeat(64));
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("garbage request line", b"hello\r\n\r\n".to_vec(), 400),
            (
                "space before colon, RFC 9112 §5.1",
                b"GET / HTTP/1.1\r\nHost : x\r\n\r\n".to_vec(),
                400,
            ),
            (
                "no Host, RFC 9112 §3.2",
                b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                400,
            ),
            (
                "two Hosts, RFC 9112 §3.2",
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
                400,
            ),
            (
                "bad version",
                b"GET / HTTX/1.1\r\nHost: x\r\n\r\n".to_vec(),
                400,
            ),
            (
                "HTTP/2.0, RFC 9110 §15.6.6",
                b"GET / HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(),
                505,
            ),
            ("request line too long", long_target.into_bytes(), 414),
            ("header line too long", long_header.into_bytes(), 431),
            ("head too large", big_head.into_bytes(), 431),
            ("too many headers", many_headers.into_bytes(), 431),
            ("CL not a number", post(b"Content-Length: 1x\r\n\r\n"), 400),
            ("CL signed", post(b"Content-Length: +1\r\n\r\n"), 400),
            (
                "CL conflicting, RFC 9110 §8.6",
                post(b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n"),
                400,
            ),
            (
                "CL over max_body",
                post(b"Content-Length: 65537\r\n\r\n"),
                413,
            ),
            (
                "CL overflowing",
                post(b"Content-Length: 99999999999999999999999\r\n\r\n"),
                413,
            ),
            (
                "CL with TE, RFC 9112 §6.3",
                post(b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
                400,
            ),
            (
                "chunked not final, RFC 9112 §6.3",
                post(b"Transfer-Encoding: chunked, gzip\r\n\r\n"),
                400,
            ),
            (
                "chunked twice, RFC 9112 §7.1",
                post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
                400,
            ),
            (
                "gzip coding, RFC 9112 §6.1",
                post(b"Transfer-Encoding: gzip, chunked\r\n\r\n"),
                501,
            ),
            (
                "TE in HTTP/1.0, RFC 9112 §6.1",
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                400,
            ),
            ("POST without length", post(b"\r\n"), 411),
            (
                "chunk size not hex",
                post(b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
                400,
            ),
            (
                "chunk data overruns its size",
                post(b"Transfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"),
                400,
            ),
            (
                "chunks over max_body",
                post(b"Transfer-Encoding: chunked\r\n\r\n10001\r\n"),
                413,
            ),
            (
                "trailer without colon",
                post(b"Transfer-Encoding: chunked\r\n\r\n0\r\nnope\r\n\r\n"),
                400,
            ),
            (
                "unknown expectation, RFC 9110 §10.1.1",
                post(b"Expect: 200-ok\r\nContent-Length: 1\r\n\r\n"),
                417,
            ),
        ];
        for (name, input, status) in cases {
            assert_eq!(status_of(&input, Limits::default()), status, "{name}");
        }
    }

    #[test]
    fn limits_are_enforced_before_the_end_of_the_line_arrives() {
        let limits = Limits {
            max_line: 16,
            ..Limits::default()
        };
        let mut parser = RequestParser::new(limits);
        parser.push(b"GET /aaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(parser.next(), Err(HttpError::RequestLineTooLong));
    }

    #[test]
    fn rfc9112_9_3_keep_alive_defaults_by_version() {
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ];
        for (input, keep_alive) in cases {
            assert_eq!(
                requests(input).unwrap()[0].keep_alive(),
                *keep_alive,
                "{input:?}"
            );
        }
    }
}
