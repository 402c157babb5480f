//! One-line summaries of HTTP heads and WebSocket frames for `--trace` logs.
//!
//! Everything here is pure formatting plus a [`FrameScanner`] that finds frame
//! boundaries in a byte stream. An I/O shell runs a scanner beside its
//! [`Connection`](super::Connection) on the bytes it reads (and another on the
//! bytes it writes), only when tracing is on, and logs one line per frame:
//!
//! ```text
//! < conn 7  Text fin=1 rsv=000 key=37fa213d len=5  "Hello"
//! > conn 7  Text fin=1 rsv=000 unmasked len=5  "Hello"
//! ```
//!
//! `<` marks bytes received, `>` bytes sent. Payload previews are capped at
//! [`PREVIEW_LEN`] bytes; text is shown as text, anything else as hex.

use std::fmt::Write as _;

use super::close::CLOSE_CODE_LEN;
use super::error::ProtocolError;
use super::frame::{FrameHeader, MAX_HEADER_LEN, Opcode};
use super::mask::{MASK_KEY_LEN, apply_mask};
use crate::http::RequestHead;
use crate::http::response_parser::Response;

/// The most payload bytes a trace line shows.
pub const PREVIEW_LEN: usize = 32;

/// The log target of every `--trace` line. They are logged at info, so that
/// `--trace` alone shows them and nothing else turns them on.
pub const LOG_TARGET: &str = "pushpull::trace";

/// Header names listed on an HTTP head line before the rest are counted.
const MAX_LISTED_HEADERS: usize = 16;

/// Which way the bytes went, seen from the endpoint that logs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Received,
    Sent,
}

impl Direction {
    /// `<` for received, `>` for sent.
    pub fn mark(self) -> char {
        match self {
            Self::Received => '<',
            Self::Sent => '>',
        }
    }
}

/// One trace line for a frame. `payload` is the unmasked payload, or its
/// first bytes: a preview shorter than `header.payload_len` is marked as cut.
pub fn frame_line(dir: Direction, conn: &str, header: &FrameHeader, payload: &[u8]) -> String {
    let mut line = format!(
        "{} conn {conn}  {} fin={} rsv={:03b} ",
        dir.mark(),
        opcode_name(header.opcode),
        u8::from(header.fin),
        header.rsv,
    );
    match header.mask {
        Some(key) => {
            let _ = write!(line, "key={}", hex_compact(&key));
        }
        None => line.push_str("unmasked"),
    }
    let _ = write!(line, " len={}", header.payload_len);

    let shown = &payload[..payload.len().min(PREVIEW_LEN)];
    let cut = (shown.len() as u64) < header.payload_len;
    if header.payload_len > 0 {
        line.push_str("  ");
        line.push_str(&preview(header.opcode, shown, cut));
    }
    line
}

/// One trace line for an HTTP request or response head: the start line and
/// the names of its header fields (values are left out: they may be long, and
/// cookies and credentials have no place in a log).
pub fn http_head_line(dir: Direction, conn: &str, head_bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(head_bytes);
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let start = lines.next().unwrap_or("");

    let names: Vec<&str> = lines
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
        .collect();
    head_line(dir, conn, start, &names)
}

/// [`http_head_line`] for a head that is already parsed: its start line
/// (`GET / HTTP/1.1`, `HTTP/1.1 200 OK`) and its header names in order.
pub fn head_line(dir: Direction, conn: &str, start: &str, names: &[&str]) -> String {
    let mut line = format!("{} conn {conn}  {start:?}", dir.mark());
    if names.is_empty() {
        return line;
    }

    let listed = &names[..names.len().min(MAX_LISTED_HEADERS)];
    let _ = write!(line, "  headers: {}", listed.join(", "));
    if names.len() > listed.len() {
        let _ = write!(line, " (+{} more)", names.len() - listed.len());
    }
    line
}

/// [`head_line`] for a parsed request head.
pub fn request_head_line(dir: Direction, conn: &str, head: &RequestHead) -> String {
    let start = format!(
        "{} {} HTTP/1.{}",
        head.method, head.target, head.minor_version
    );
    let names: Vec<&str> = head.headers.iter().map(|h| h.name.as_str()).collect();
    head_line(dir, conn, &start, &names)
}

/// [`head_line`] for a parsed response.
pub fn response_head_line(dir: Direction, conn: &str, response: &Response) -> String {
    let start = format!(
        "HTTP/1.{} {} {}",
        response.minor_version, response.status, response.reason
    );
    let names: Vec<&str> = response.headers.iter().map(|h| h.name.as_str()).collect();
    head_line(dir, conn, &start, &names)
}

fn opcode_name(opcode: Opcode) -> String {
    match opcode {
        Opcode::Continuation => "Continuation".into(),
        Opcode::Text => "Text".into(),
        Opcode::Binary => "Binary".into(),
        Opcode::Close => "Close".into(),
        Opcode::Ping => "Ping".into(),
        Opcode::Pong => "Pong".into(),
        Opcode::Reserved(bits) => format!("Reserved({bits:#x})"),
    }
}

/// Text as a quoted string when it is valid UTF-8 (a cut code point at the
/// end of a preview is dropped), everything else as hex. A Close shows its
/// code first (RFC 6455 §5.5.1).
fn preview(opcode: Opcode, shown: &[u8], cut: bool) -> String {
    let ellipsis = if cut { " ..." } else { "" };
    if opcode == Opcode::Close
        && let Some((code, reason)) = shown.split_first_chunk::<CLOSE_CODE_LEN>()
    {
        let code = u16::from_be_bytes(*code);
        return format!("code={code} {}{ellipsis}", text_or_hex(reason, cut));
    }
    let as_text = matches!(opcode, Opcode::Text | Opcode::Continuation);
    match as_text {
        true => format!("{}{ellipsis}", text_or_hex(shown, cut)),
        false => format!("{}{ellipsis}", hex_spaced(shown)),
    }
}

fn text_or_hex(bytes: &[u8], cut: bool) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        // Only a code point cut off by the preview cap is forgiven.
        Err(e) if cut && e.error_len().is_none() => {
            let text = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            format!("{text:?}")
        }
        Err(_) => format!("(not UTF-8) {}", hex_spaced(bytes)),
    }
}

fn hex_compact(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hex_spaced(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(" ")
}

/// A frame found by a [`FrameScanner`]: its header and the first
/// [`PREVIEW_LEN`] bytes of its payload, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFrame {
    pub header: FrameHeader,
    pub preview: Vec<u8>,
}

impl ScannedFrame {
    /// The trace line for this frame.
    pub fn line(&self, dir: Direction, conn: &str) -> String {
        frame_line(dir, conn, &self.header, &self.preview)
    }
}

/// Where the scanner is in the stream.
#[derive(Debug)]
enum ScanState {
    /// Collecting header bytes; at most [`MAX_HEADER_LEN`] are kept.
    Header,
    /// Inside a payload with this many bytes still to come.
    Payload { frame: ScannedFrame, remaining: u64 },
    /// The stream broke a framing rule; nothing after it can be trusted.
    Broken,
}

/// Finds frames in a byte stream fed in pieces of any size, for tracing.
///
/// It keeps at most one header and one payload preview, skipping the rest of
/// each payload, so memory stays bounded whatever the frame sizes. It only
/// decodes the framing (RFC 6455 §5.2): judging the frames is the
/// [`Connection`](super::Connection)'s work. After a header that cannot be
/// decoded it reports that error once and ignores further input.
#[derive(Debug)]
pub struct FrameScanner {
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    state: ScanState,
}

impl Default for FrameScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameScanner {
    pub fn new() -> Self {
        Self {
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            state: ScanState::Header,
        }
    }

    /// Feed the next bytes of the stream; returns the frames they complete,
    /// in order, or the framing error that ends the scan.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Result<ScannedFrame, ProtocolError>> {
        let mut found = Vec::new();
        while !bytes.is_empty() {
            let used = match &mut self.state {
                ScanState::Broken => return found,
                ScanState::Header => self.scan_header(bytes, &mut found),
                ScanState::Payload { .. } => self.scan_payload(bytes, &mut found),
            };
            bytes = &bytes[used..];
        }
        found
    }

    /// Take header bytes; returns how many of `bytes` were used.
    fn scan_header(
        &mut self,
        bytes: &[u8],
        found: &mut Vec<Result<ScannedFrame, ProtocolError>>,
    ) -> usize {
        let had = self.header_len;
        let take = (MAX_HEADER_LEN - had).min(bytes.len());
        self.header[had..had + take].copy_from_slice(&bytes[..take]);
        self.header_len += take;

        match FrameHeader::parse(&self.header[..self.header_len]) {
            Ok(None) => take,
            Err(error) => {
                found.push(Err(error));
                self.state = ScanState::Broken;
                take
            }
            Ok(Some((header, len))) => {
                self.header_len = 0;
                let frame = ScannedFrame {
                    header,
                    preview: Vec::new(),
                };
                self.start_payload(frame, found);
                len - had
            }
        }
    }

    fn start_payload(
        &mut self,
        frame: ScannedFrame,
        found: &mut Vec<Result<ScannedFrame, ProtocolError>>,
    ) {
        let remaining = frame.header.payload_len;
        if remaining == 0 {
            found.push(Ok(frame));
            self.state = ScanState::Header;
        } else {
            self.state = ScanState::Payload { frame, remaining };
        }
    }

    /// Take payload bytes, keeping only the preview; returns how many were used.
    fn scan_payload(
        &mut self,
        bytes: &[u8],
        found: &mut Vec<Result<ScannedFrame, ProtocolError>>,
    ) -> usize {
        let ScanState::Payload { frame, remaining } = &mut self.state else {
            return 0;
        };
        let take = usize::try_from(*remaining).map_or(bytes.len(), |r| r.min(bytes.len()));

        let kept = frame.preview.len();
        let keep = (PREVIEW_LEN - kept).min(take);
        if keep > 0 {
            frame.preview.extend_from_slice(&bytes[..keep]);
            if let Some(key) = frame.header.mask {
                apply_mask(&mut frame.preview[kept..], key, kept % MASK_KEY_LEN);
            }
        }
        *remaining -= take as u64;

        if *remaining == 0 {
            let state = std::mem::replace(&mut self.state, ScanState::Header);
            if let ScanState::Payload { frame, .. } = state {
                found.push(Ok(frame));
            }
        }
        take
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::encode_frame;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn lines(scanner: &mut FrameScanner, bytes: &[u8]) -> Vec<String> {
        scanner
            .feed(bytes)
            .into_iter()
            .map(|r| match r {
                Ok(frame) => frame.line(Direction::Received, "1"),
                Err(e) => format!("error: {e}"),
            })
            .collect()
    }

    #[test]
    fn masked_hello_of_rfc_6455_section_5_7() {
        let wire = encode_frame(Opcode::Text, true, b"Hello", Some(KEY));
        let mut scanner = FrameScanner::new();
        assert_eq!(
            lines(&mut scanner, &wire),
            [r#"< conn 1  Text fin=1 rsv=000 key=37fa213d len=5  "Hello""#]
        );
    }

    #[test]
    fn sent_unmasked_binary_is_shown_as_hex() {
        let (header, _) = FrameHeader::parse(&[0x82, 0x03]).unwrap().unwrap();
        let line = frame_line(Direction::Sent, "srv-2", &header, &[0x00, 0xff, 0x10]);
        assert_eq!(
            line,
            "> conn srv-2  Binary fin=1 rsv=000 unmasked len=3  00 ff 10"
        );
    }

    #[test]
    fn close_shows_code_and_reason_rfc_6455_section_5_5_1() {
        let wire = encode_frame(Opcode::Close, true, b"\x03\xe8bye", Some(KEY));
        let mut scanner = FrameScanner::new();
        assert_eq!(
            lines(&mut scanner, &wire),
            [r#"< conn 1  Close fin=1 rsv=000 key=37fa213d len=5  code=1000 "bye""#]
        );
    }

    #[test]
    fn long_payload_preview_is_capped_and_marked() {
        let text = "é".repeat(40);
        let wire = encode_frame(Opcode::Text, false, text.as_bytes(), None);
        let mut scanner = FrameScanner::new();
        let expected = format!(
            "< conn 1  Text fin=0 rsv=000 unmasked len=80  {:?} ...",
            "é".repeat(16)
        );
        assert_eq!(lines(&mut scanner, &wire), [expected]);
    }

    #[test]
    fn invalid_text_is_shown_as_hex() {
        let (header, _) = FrameHeader::parse(&[0x81, 0x02]).unwrap().unwrap();
        let line = frame_line(Direction::Received, "1", &header, &[0xc3, 0x28]);
        assert_eq!(
            line,
            "< conn 1  Text fin=1 rsv=000 unmasked len=2  (not UTF-8) c3 28"
        );
    }

    #[test]
    fn byte_at_a_time_gives_the_same_frames_as_one_read() {
        let mut wire = encode_frame(Opcode::Ping, true, b"", Some(KEY));
        wire.extend(encode_frame(Opcode::Binary, true, &[7; 300], Some(KEY)));
        wire.extend(encode_frame(Opcode::Text, true, b"Hello", Some(KEY)));

        let whole = lines(&mut FrameScanner::new(), &wire);
        let mut scanner = FrameScanner::new();
        let split: Vec<String> = wire
            .iter()
            .flat_map(|b| lines(&mut scanner, &[*b]))
            .collect();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole, split);
        assert!(whole[1].contains("len=300  07 07"));
    }

    #[test]
    fn preview_memory_is_bounded_for_a_large_frame() {
        let payload = vec![b'a'; 100_000];
        let wire = encode_frame(Opcode::Text, true, &payload, Some(KEY));
        let mut scanner = FrameScanner::new();
        let mut frames = Vec::new();
        for piece in wire.chunks(4096) {
            frames.extend(scanner.feed(piece));
            if let ScanState::Payload { frame, .. } = &scanner.state {
                assert!(frame.preview.len() <= PREVIEW_LEN);
            }
        }
        let [Ok(frame)] = frames.as_slice() else {
            panic!("one frame expected, got {frames:?}");
        };
        assert_eq!(frame.preview, vec![b'a'; PREVIEW_LEN]);
    }

    #[test]
    fn length_top_bit_ends_the_scan_rfc_6455_section_5_2() {
        let mut wire = vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
        wire.extend(encode_frame(Opcode::Text, true, b"x", None));
        let mut scanner = FrameScanner::new();
        assert_eq!(
            lines(&mut scanner, &wire),
            ["error: 64-bit payload length has its top bit set"]
        );
        assert!(scanner.feed(&[0x81, 0x00]).is_empty());
    }

    #[test]
    fn http_head_line_lists_header_names_not_values() {
        let head = b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        assert_eq!(
            http_head_line(Direction::Received, "3", head),
            r#"< conn 3  "GET /echo HTTP/1.1"  headers: Host, Upgrade, Sec-WebSocket-Key"#
        );
    }

    #[test]
    fn http_head_line_counts_headers_past_the_list() {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..20 {
            head.extend(format!("X-{i}: v\r\n").into_bytes());
        }
        let line = http_head_line(Direction::Sent, "3", &head);
        assert!(line.starts_with(r#"> conn 3  "HTTP/1.1 200 OK"  headers: X-0, X-1,"#));
        assert!(line.ends_with("X-15 (+4 more)"), "{line}");
    }
}
