//! A sans-I/O decoder of the chunked transfer coding (RFC 9112 §7.1), shared by
//! the request parser and the response parser.
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! last-chunk   = 1*("0") [ chunk-ext ] CRLF
//! ```
//!
//! The caller keeps what it has read in one buffer and calls
//! [`ChunkedDecoder::decode`] after each read. The decoder drains what it has
//! understood from the front of that buffer, appends chunk data to the body,
//! and answers `Ok(true)` once the trailer section has ended; bytes after that
//! belong to the next message and stay in the buffer. "Not enough bytes yet"
//! is `Ok(false)`, never an error.
//!
//! Chunk extensions are ignored (§7.1.1) and trailer fields are discarded
//! (§7.1.2). A bare LF is accepted wherever CR LF ends a line (§2.2).

use std::fmt;

use super::{CRLF, strip_cr};

/// How much a chunked body may hold. Each parser sets these from its own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedLimits {
    /// A chunk-size line or a trailer line, in bytes without the CR LF.
    pub max_line: usize,
    /// The trailer section's field lines together, in bytes with their CR LFs.
    pub max_trailer_bytes: usize,
    /// The decoded body, in bytes.
    pub max_body: usize,
}

/// Why a chunked body was refused, named after the rule it broke. Each parser
/// maps these into its own error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// A chunk-size line longer than [`ChunkedLimits::max_line`].
    SizeLineTooLong,
    /// RFC 9112 §7.1: `chunk-size = 1*HEXDIG`.
    SizeNotHexadecimal,
    /// RFC 9112 §7.1.1: only `;` extensions may follow the size.
    JunkAfterSize,
    /// A chunk size too big for `usize`, so certainly over any body limit.
    SizeOverflow,
    /// RFC 9112 §7.1: chunk-data is followed by CR LF; here it went on.
    DataLongerThanSize,
    /// A trailer line longer than [`ChunkedLimits::max_line`].
    TrailerLineTooLong,
    /// RFC 9112 §7.1.2, §5: a trailer line is a field line, `name: value`.
    TrailerNotAField,
    /// The trailer section is over [`ChunkedLimits::max_trailer_bytes`].
    TrailerSectionTooLarge,
    /// The chunks announce more than [`ChunkedLimits::max_body`] in total.
    BodyTooLarge,
}

impl ChunkedError {
    /// A short description, for error types that carry a `&'static str`.
    pub fn reason(&self) -> &'static str {
        match self {
            ChunkedError::SizeLineTooLong => "chunk-size line too long",
            ChunkedError::SizeNotHexadecimal => "chunk size is not hexadecimal",
            ChunkedError::JunkAfterSize => "junk after chunk size",
            ChunkedError::SizeOverflow => "chunk size too large",
            ChunkedError::DataLongerThanSize => "chunk data longer than its size",
            ChunkedError::TrailerLineTooLong => "trailer line too long",
            ChunkedError::TrailerNotAField => "trailer line is not a field",
            ChunkedError::TrailerSectionTooLarge => "trailer section too large",
            ChunkedError::BodyTooLarge => "chunked body too large",
        }
    }
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ChunkedError {}

/// Position inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting `chunk-size [ chunk-ext ] CRLF`.
    Size,
    /// Inside chunk-data, this many bytes still to come.
    Data(usize),
    /// Expecting the CRLF after chunk-data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    /// The empty line after the trailer section has been read.
    Done,
}

/// The decoder of one chunked body. See the module docs.
#[derive(Debug)]
pub struct ChunkedDecoder {
    limits: ChunkedLimits,
    state: State,
    /// Bytes of trailer field lines seen so far.
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    pub fn new(limits: ChunkedLimits) -> Self {
        ChunkedDecoder {
            limits,
            state: State::Size,
            trailer_bytes: 0,
        }
    }

    /// Decode as much of the body at the front of `buf` as has arrived, moving
    /// chunk data into `body`. Returns true once the body is complete.
    pub fn decode(&mut self, buf: &mut Vec<u8>, body: &mut Vec<u8>) -> Result<bool, ChunkedError> {
        loop {
            let next = match self.state {
                State::Size => self.read_size_line(buf, body.len())?,
                State::Data(remaining) => read_data(buf, body, remaining),
                State::DataEnd => read_data_end(buf)?,
                State::Trailers => self.read_trailer_line(buf)?,
                State::Done => return Ok(true),
            };

            // `None`: the next step needs bytes that have not arrived.
            match next {
                Some(state) => self.state = state,
                None => return Ok(false),
            }
        }
    }

    fn read_size_line(
        &self,
        buf: &mut Vec<u8>,
        body_len: usize,
    ) -> Result<Option<State>, ChunkedError> {
        let Some((len, used)) =
            take_line(buf, self.limits.max_line).map_err(|()| ChunkedError::SizeLineTooLong)?
        else {
            return Ok(None);
        };
        let size = parse_chunk_size(&buf[..len])?;
        buf.drain(..used);

        // The announced size is checked before its data arrives.
        if size > self.limits.max_body.saturating_sub(body_len) {
            return Err(ChunkedError::BodyTooLarge);
        }
        Ok(Some(match size {
            0 => State::Trailers,
            _ => State::Data(size),
        }))
    }

    /// Read and discard one trailer line (RFC 9112 §7.1.2: a recipient may
    /// discard trailer fields).
    fn read_trailer_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<State>, ChunkedError> {
        let Some((len, used)) =
            take_line(buf, self.limits.max_line).map_err(|()| ChunkedError::TrailerLineTooLong)?
        else {
            return Ok(None);
        };
        let is_field = buf[..len].contains(&b':');
        buf.drain(..used);

        // RFC 9112 §7.1: an empty line ends the trailer section and the body.
        if len == 0 {
            return Ok(Some(State::Done));
        }
        if !is_field {
            return Err(ChunkedError::TrailerNotAField);
        }
        self.trailer_bytes += used;
        if self.trailer_bytes > self.limits.max_trailer_bytes {
            return Err(ChunkedError::TrailerSectionTooLarge);
        }
        Ok(Some(State::Trailers))
    }
}

/// Move what has arrived of the `remaining` chunk-data bytes into `body`.
fn read_data(buf: &mut Vec<u8>, body: &mut Vec<u8>, remaining: usize) -> Option<State> {
    if buf.is_empty() {
        return None;
    }
    let n = remaining.min(buf.len());
    body.extend(buf.drain(..n));
    Some(match remaining - n {
        0 => State::DataEnd,
        left => State::Data(left),
    })
}

/// The CRLF after chunk-data (RFC 9112 §7.1); a bare LF is accepted as in §2.2.
fn read_data_end(buf: &mut Vec<u8>) -> Result<Option<State>, ChunkedError> {
    if buf.starts_with(CRLF) {
        buf.drain(..CRLF.len());
        return Ok(Some(State::Size));
    }
    if buf.starts_with(b"\n") {
        buf.drain(..1);
        return Ok(Some(State::Size));
    }
    match buf.as_slice() {
        [] | [b'\r'] => Ok(None),
        _ => Err(ChunkedError::DataLongerThanSize),
    }
}

/// Find one line at the front of `buf`: its length without CR LF, and the bytes it uses
/// with CR LF. `Ok(None)` while incomplete, `Err` once it is longer than `max`.
fn take_line(buf: &[u8], max: usize) -> Result<Option<(usize, usize)>, ()> {
    let window = &buf[..buf.len().min(max.saturating_add(CRLF.len()))];
    match window.iter().position(|&b| b == b'\n') {
        Some(newline) => Ok(Some((strip_cr(&window[..newline]).len(), newline + 1))),
        None if window.len() > max => Err(()),
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1): hex digits, then optional extensions, which
/// §7.1.1 lets a recipient ignore.
fn parse_chunk_size(line: &[u8]) -> Result<usize, ChunkedError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = line[digits..].trim_ascii_start();
    if digits == 0 {
        return Err(ChunkedError::SizeNotHexadecimal);
    }
    if !rest.is_empty() && !rest.starts_with(b";") {
        return Err(ChunkedError::JunkAfterSize);
    }

    line[..digits].iter().try_fold(0usize, |n, &d| {
        let digit = char::from(d).to_digit(16).unwrap_or(0) as usize;
        n.checked_mul(16)
            .and_then(|n| n.checked_add(digit))
            .ok_or(ChunkedError::SizeOverflow)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ChunkedLimits = ChunkedLimits {
        max_line: 64,
        max_trailer_bytes: 128,
        max_body: 1024,
    };

    /// Decode `input` pushed in `pieces`; the body, whether it completed, and
    /// what was left in the buffer.
    fn decode_pieces<'a>(
        pieces: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkedError> {
        let mut decoder = ChunkedDecoder::new(LIMITS);
        let (mut buf, mut body, mut done) = (Vec::new(), Vec::new(), false);
        for piece in pieces {
            buf.extend_from_slice(piece);
            done = decoder.decode(&mut buf, &mut body)?;
        }
        Ok((body, done, buf))
    }

    fn decode(input: &[u8]) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkedError> {
        decode_pieces([input])
    }

    #[test]
    fn rfc9112_7_1_body_split_at_every_point_decodes_the_same() {
        let input = b"5;a=b\r\nhello\r\n1 ; c\r\n!\r\n0\r\nX-T: 1\r\n\r\n";
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            let got = decode_pieces([a, b]).unwrap();
            assert_eq!(
                got,
                (b"hello!".to_vec(), true, Vec::new()),
                "split at {split}"
            );
        }
    }

    #[test]
    fn bytes_after_the_body_stay_in_the_buffer() {
        let (body, done, rest) = decode(b"2\r\nok\r\n0\r\n\r\nGET /").unwrap();
        assert_eq!(
            (body.as_slice(), done, rest.as_slice()),
            (&b"ok"[..], true, &b"GET /"[..])
        );
    }

    #[test]
    fn rfc9112_2_2_bare_lf_ends_every_line() {
        let (body, done, _) = decode(b"2\nok\n0\nX: y\n\n").unwrap();
        assert_eq!((body.as_slice(), done), (&b"ok"[..], true));
    }

    #[test]
    fn incomplete_input_is_not_an_error() {
        for input in [
            &b""[..],
            b"5",
            b"5\r\nhel",
            b"5\r\nhello\r",
            b"0\r\nX: y\r\n",
        ] {
            assert_eq!(
                decode(input).map(|(_, done, _)| done),
                Ok(false),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rfc9112_7_1_every_refusal_names_its_rule() {
        let long_line = [&[b'1'; 65][..], b"\r\n"].concat();
        let long_trailer = format!("0\r\n{}\r\n", "X: 1234567890\r\n".repeat(10));
        let cases: Vec<(&[u8], ChunkedError)> = vec![
            (&long_line, ChunkedError::SizeLineTooLong),
            (b"zz\r\n", ChunkedError::SizeNotHexadecimal),
            (b"5 x\r\n", ChunkedError::JunkAfterSize),
            (b"fffffffffffffffffffff\r\n", ChunkedError::SizeOverflow),
            (b"1\r\nab\r\n", ChunkedError::DataLongerThanSize),
            (b"0\r\nnope\r\n", ChunkedError::TrailerNotAField),
            (
                long_trailer.as_bytes(),
                ChunkedError::TrailerSectionTooLarge,
            ),
            (b"401\r\n", ChunkedError::BodyTooLarge),
        ];
        for (input, expected) in cases {
            assert_eq!(decode(input), Err(expected), "{}", expected.reason());
        }
        let long_field = format!("0\r\nX: {}\r\n", "a".repeat(64));
        assert_eq!(
            decode(long_field.as_bytes()),
            Err(ChunkedError::TrailerLineTooLong)
        );
    }
}
