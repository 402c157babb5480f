//! One blocking TCP connection of a demo: it writes exactly the bytes a
//! scenario scripts, reads the server's answers, records both, and narrates
//! each step on stdout.
//!
//! The protocol work stays in the sans-I/O core: requests come from
//! [`ClientHandshake`], frames from [`encode_frame`], and answers are decoded
//! with [`FrameHeader::parse`] and [`ClientHandshake::check_response`].

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use super::keys::DemoKeys;
use super::record::{ConnectionRecord, Direction, FrameRecord, HttpRecord, Item, hex};
use crate::websocket::mask::apply_mask;
use crate::websocket::trace::{self, frame_line};
use crate::websocket::{FrameHeader, Opcode, encode_frame};

/// How long one read may wait for the server before the demo gives up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most reads one expectation may take (the 65,536-byte echo needs a few).
const MAX_READS: usize = 1024;
/// The largest answer the demo buffers: the longest frame it sends plus room.
const MAX_INBOX: usize = 1 << 20;
/// Bytes read per call.
const READ_CHUNK: usize = 64 * 1024;
/// The blank line that ends an HTTP head (RFC 9112 §2.1).
const HEAD_END: &[u8] = b"\r\n\r\n";

/// A frame the server sent, unmasked.
#[derive(Debug, Clone)]
pub struct Frame {
    pub header: FrameHeader,
    pub payload: Vec<u8>,
}

/// One connection of a scenario.
pub struct Wire {
    stream: TcpStream,
    keys: Rc<RefCell<DemoKeys>>,
    inbox: Vec<u8>,
    record: ConnectionRecord,
    sent: Vec<u8>,
    received: Vec<u8>,
}

impl Wire {
    /// Connect to `addr` for `scenario`, with Nagle off so that each scripted
    /// write leaves at once as its own segment.
    pub fn connect(
        addr: SocketAddr,
        scenario: &str,
        keys: Rc<RefCell<DemoKeys>>,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(Self {
            stream,
            keys,
            inbox: Vec::new(),
            record: ConnectionRecord {
                scenario: scenario.to_string(),
                ..ConnectionRecord::default()
            },
            sent: Vec::new(),
            received: Vec::new(),
        })
    }

    /// The next masking key of the run.
    pub fn mask_key(&self) -> [u8; 4] {
        self.keys.borrow_mut().mask_key()
    }

    /// The next handshake nonce of the run.
    pub fn nonce(&self) -> [u8; 16] {
        self.keys.borrow_mut().nonce()
    }

    /// Write an HTTP request: `head` ends with its blank line.
    pub fn send_http(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        let mut bytes = head.to_vec();
        bytes.extend_from_slice(body);
        self.narrate_http(Direction::Sent, head, body);
        self.write(&bytes)
    }

    /// Write one frame, masked with the next key (a client must mask, RFC
    /// 6455 §5.1).
    pub fn send_frame(&mut self, opcode: Opcode, fin: bool, payload: &[u8]) -> io::Result<()> {
        let key = self.mask_key();
        self.send_frame_with(opcode, fin, payload, Some(key))
    }

    /// Write one frame exactly as given, `mask` included or not.
    pub fn send_frame_with(
        &mut self,
        opcode: Opcode,
        fin: bool,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) -> io::Result<()> {
        let bytes = encode_frame(opcode, fin, payload, mask);
        let header = FrameHeader::parse(&bytes)
            .ok()
            .flatten()
            .map(|(header, _)| header)
            .ok_or_else(|| io::Error::other("encode_frame produced an unreadable header"))?;
        self.note_frame(Direction::Sent, header, payload);
        self.write(&bytes)
    }

    /// Read one complete HTTP response head and its `Content-Length` body.
    pub fn read_http(&mut self) -> io::Result<HttpRecord> {
        let head_len =
            self.fill_until(|inbox| find(inbox, HEAD_END).map(|n| n + HEAD_END.len()))?;
        let head = String::from_utf8_lossy(&self.inbox[..head_len - HEAD_END.len()]).into_owned();
        let body_len = content_length(&head);
        let total = self.fill_until(|inbox| {
            (inbox.len() >= head_len + body_len).then_some(head_len + body_len)
        })?;

        let body = String::from_utf8_lossy(&self.inbox[head_len..total]).into_owned();
        self.inbox.drain(..total);
        let head_bytes = format!("{head}\r\n\r\n");
        self.narrate_http(Direction::Received, head_bytes.as_bytes(), body.as_bytes());
        let record = HttpRecord {
            direction: Direction::Received,
            head,
            body,
        };
        self.record.items.push(Item::Http(record.clone()));
        Ok(record)
    }

    /// Read the response head only, leaving what follows (frames) buffered;
    /// `check` says how long the head is, `Ok(None)` while incomplete.
    pub fn read_head_with(
        &mut self,
        check: impl Fn(&[u8]) -> io::Result<Option<usize>>,
    ) -> io::Result<String> {
        let mut failure = None;
        let head_len = self.fill_until(|inbox| match check(inbox) {
            Ok(found) => found,
            Err(e) => {
                failure = Some(e);
                Some(0)
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        let head = String::from_utf8_lossy(&self.inbox[..head_len]).into_owned();
        self.inbox.drain(..head_len);
        self.narrate_http(Direction::Received, head.as_bytes(), b"");
        let trimmed = head.trim_end_matches("\r\n").to_string();
        self.record.items.push(Item::Http(HttpRecord {
            direction: Direction::Received,
            head: trimmed.clone(),
            body: String::new(),
        }));
        Ok(trimmed)
    }

    /// Read one complete frame.
    pub fn read_frame(&mut self) -> io::Result<Frame> {
        let total = self.fill_until(|inbox| match FrameHeader::parse(inbox) {
            Ok(Some((header, len))) => {
                let end =
                    len.saturating_add(usize::try_from(header.payload_len).unwrap_or(usize::MAX));
                (inbox.len() >= end).then_some(end)
            }
            Ok(None) | Err(_) => None,
        })?;
        let Ok(Some((header, len))) = FrameHeader::parse(&self.inbox) else {
            return Err(io::Error::other(
                "the server sent a frame header we cannot decode",
            ));
        };
        let mut payload = self.inbox[len..total].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        self.inbox.drain(..total);
        self.note_frame(Direction::Received, header, &payload);
        Ok(Frame { header, payload })
    }

    /// Read one frame and check its opcode.
    pub fn expect_frame(&mut self, opcode: Opcode) -> io::Result<Frame> {
        let frame = self.read_frame()?;
        if frame.header.opcode != opcode {
            return Err(io::Error::other(format!(
                "expected a {opcode:?} frame from the server, got {:?}",
                frame.header.opcode
            )));
        }
        Ok(frame)
    }

    /// Wait for the server to close TCP (it closes first, RFC 6455 §7.1.1 and
    /// our HTTP `Connection: close`); bytes before the FIN are an error.
    pub fn expect_eof(mut self) -> io::Result<ConnectionRecord> {
        if !self.inbox.is_empty() {
            return Err(io::Error::other(
                "unexpected bytes before the server closed",
            ));
        }
        let mut buf = [0; READ_CHUNK];
        for _ in 0..MAX_READS {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    println!(
                        "  < conn {}  TCP FIN: the server closed",
                        self.record.scenario
                    );
                    return Ok(self.into_record());
                }
                Ok(n) => {
                    let extra = String::from_utf8_lossy(&buf[..n]).into_owned();
                    return Err(io::Error::other(format!(
                        "unexpected bytes before the FIN: {extra:?}"
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("the server never closed the connection"))
    }

    fn into_record(mut self) -> ConnectionRecord {
        self.record.sent = hex(&self.sent);
        self.record.received = hex(&self.received);
        self.record
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.sent.extend_from_slice(bytes);
        Ok(())
    }

    /// Read until `complete` finds what it needs in the inbox; returns its
    /// answer. Bounded in reads, in bytes and (by the read timeout) in time.
    fn fill_until(
        &mut self,
        mut complete: impl FnMut(&[u8]) -> Option<usize>,
    ) -> io::Result<usize> {
        let mut buf = vec![0; READ_CHUNK];
        for _ in 0..MAX_READS {
            if let Some(found) = complete(&self.inbox) {
                return Ok(found);
            }
            if self.inbox.len() > MAX_INBOX {
                return Err(io::Error::other(
                    "the server's answer is larger than any demo expects",
                ));
            }
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed early",
                    ));
                }
                Ok(n) => {
                    self.inbox.extend_from_slice(&buf[..n]);
                    self.received.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("the server's answer did not complete"))
    }

    fn note_frame(&mut self, direction: Direction, header: FrameHeader, payload: &[u8]) {
        let mark = match direction {
            Direction::Sent => trace::Direction::Sent,
            Direction::Received => trace::Direction::Received,
        };
        println!(
            "  {}",
            frame_line(mark, &self.record.scenario, &header, payload)
        );
        self.record.items.push(Item::Frame(FrameRecord {
            direction,
            fin: header.fin,
            rsv: header.rsv,
            opcode: header.opcode.bits(),
            mask: header.mask.map(|key| hex(&key)),
            payload: hex(payload),
        }));
    }

    fn narrate_http(&mut self, direction: Direction, head: &[u8], body: &[u8]) {
        if direction == Direction::Sent {
            let text = String::from_utf8_lossy(head)
                .trim_end_matches("\r\n")
                .to_string();
            self.record.items.push(Item::Http(HttpRecord {
                direction,
                head: text,
                body: String::from_utf8_lossy(body).into_owned(),
            }));
        }
        let mark = if direction == Direction::Sent {
            '>'
        } else {
            '<'
        };
        let text = String::from_utf8_lossy(head);
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            println!("  {mark} conn {}  {line}", self.record.scenario);
        }
        if !body.is_empty() {
            let body = String::from_utf8_lossy(body);
            println!("  {mark} conn {}  {body}", self.record.scenario);
        }
    }
}

/// The `Content-Length` of a response head, 0 when absent.
fn content_length(head: &str) -> usize {
    head.split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
