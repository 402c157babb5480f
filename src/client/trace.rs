//! `chat --trace`: the client's side of the frame trace `serve --trace` logs.
//!
//! A [`ConnectionTrace`] follows one TCP connection of a client in both
//! directions and turns its bytes into one line per HTTP head and per
//! WebSocket frame, in the format of [`crate::websocket::trace`]:
//!
//! ```text
//! > conn 127.0.0.1:40312  "GET /ws HTTP/1.1"  headers: Host, Upgrade, ...
//! < conn 127.0.0.1:40312  "HTTP/1.1 101 Switching Protocols"  headers: ...
//! > conn 127.0.0.1:40312  Text fin=1 rsv=000 key=5e1f09a2 len=61  "{\"name\":..." ...
//! ```
//!
//! The label is the client's own address, which is the one `serve --trace`
//! shows for the same connection, so the two logs can be read side by side.
//! Like the rest of the client it does no I/O: the driver hands it the bytes
//! it wrote and read, and logs the lines it returns.

use crate::http::response_parser::ResponseParser;
use crate::http::{Limits, Parsed, RequestParser};
use crate::websocket::trace::{Direction, FrameScanner, request_head_line, response_head_line};

/// The status that switches the connection to WebSocket frames (RFC 6455 §4.2.2).
const SWITCHING_PROTOCOLS: u16 = 101;

/// What the bytes of one direction are at the moment.
#[derive(Debug)]
enum Phase {
    /// HTTP requests (the bytes the client sends).
    Requests(Box<RequestParser>),
    /// HTTP responses (the bytes the server sends).
    Responses(Box<ResponseParser>),
    /// After the upgrade: frames (RFC 6455 §5.2).
    Frames(FrameScanner),
    /// The bytes could not be followed; one line said why, the rest is skipped.
    Lost,
}

/// One TCP connection of a client, traced both ways.
#[derive(Debug)]
pub struct ConnectionTrace {
    label: String,
    sent: Phase,
    received: Phase,
}

impl ConnectionTrace {
    /// A connection that starts in HTTP, as every chat connection does;
    /// `label` names it in each line (the client's local address).
    pub fn new(label: String) -> Self {
        // Our own requests are small; the limits only keep a runaway
        // tracer bounded, they judge nothing.
        let limits = Limits {
            max_body: usize::MAX,
            ..Limits::default()
        };
        Self {
            label,
            sent: Phase::Requests(Box::new(RequestParser::new(limits))),
            received: Phase::Responses(Box::default()),
        }
    }

    /// The bytes the client wrote; returns the lines they complete.
    pub fn sent(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let Phase::Requests(parser) = &mut self.sent else {
            follow(
                &mut self.sent,
                Direction::Sent,
                &self.label,
                bytes,
                &mut lines,
            );
            return lines;
        };
        parser.push(bytes);

        loop {
            match parser.next() {
                Ok(None) => return lines,
                Ok(Some(Parsed::Continue)) => {}
                Ok(Some(Parsed::Request(request))) => {
                    lines.push(request_head_line(
                        Direction::Sent,
                        &self.label,
                        &request.head,
                    ));
                    // A client sends frames only after the 101, and nothing
                    // but frames: what follows an Upgrade request is frames.
                    if request.head.has_token("Upgrade", "websocket") {
                        let rest = parser.take_buffered();
                        self.sent = Phase::Frames(FrameScanner::new());
                        follow(
                            &mut self.sent,
                            Direction::Sent,
                            &self.label,
                            &rest,
                            &mut lines,
                        );
                        return lines;
                    }
                }
                Err(e) => {
                    lines.push(lost_line(Direction::Sent, &self.label, &e.to_string()));
                    self.sent = Phase::Lost;
                    return lines;
                }
            }
        }
    }

    /// The bytes the client read; returns the lines they complete.
    pub fn received(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let Phase::Responses(parser) = &mut self.received else {
            follow(
                &mut self.received,
                Direction::Received,
                &self.label,
                bytes,
                &mut lines,
            );
            return lines;
        };
        parser.feed(bytes);

        loop {
            match parser.next_response() {
                Ok(None) => return lines,
                Ok(Some(response)) => {
                    lines.push(response_head_line(
                        Direction::Received,
                        &self.label,
                        &response,
                    ));
                    if response.status == SWITCHING_PROTOCOLS {
                        let rest = parser.take_buffered();
                        self.received = Phase::Frames(FrameScanner::new());
                        let dir = Direction::Received;
                        follow(&mut self.received, dir, &self.label, &rest, &mut lines);
                        return lines;
                    }
                }
                Err(e) => {
                    lines.push(lost_line(Direction::Received, &self.label, &e.to_string()));
                    self.received = Phase::Lost;
                    return lines;
                }
            }
        }
    }
}

/// Feed a direction that is in frames (or lost) and collect its lines.
fn follow(phase: &mut Phase, dir: Direction, label: &str, bytes: &[u8], lines: &mut Vec<String>) {
    let Phase::Frames(scanner) = phase else {
        return;
    };
    let mut broken = None;
    for found in scanner.feed(bytes) {
        match found {
            Ok(frame) => lines.push(frame.line(dir, label)),
            Err(e) => broken = Some(e.to_string()),
        }
    }
    if let Some(why) = broken {
        lines.push(lost_line(dir, label, &why));
        *phase = Phase::Lost;
    }
}

fn lost_line(dir: Direction, label: &str, why: &str) -> String {
    format!("{} conn {label}  not followed further: {why}", dir.mark())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::{Opcode, encode_frame};

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    const SWITCHED: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    #[test]
    fn websocket_session_gives_one_line_per_head_and_frame_rfc_6455_section_5_2() {
        let mut trace = ConnectionTrace::new("127.0.0.1:4000".into());
        let mut lines = trace.sent(UPGRADE);

        // The 101 and the first pushed frame may come in one read.
        let mut answer = SWITCHED.to_vec();
        answer.extend(encode_frame(Opcode::Text, true, b"Hello", None));
        lines.extend(trace.received(&answer));
        lines.extend(trace.sent(&encode_frame(Opcode::Text, true, b"Hi", Some(KEY))));

        assert_eq!(
            lines,
            [
                r#"> conn 127.0.0.1:4000  "GET /ws HTTP/1.1"  headers: Host, Upgrade, "#
                    .to_string()
                    + "Connection, Sec-WebSocket-Key, Sec-WebSocket-Version",
                r#"< conn 127.0.0.1:4000  "HTTP/1.1 101 Switching Protocols"  headers: "#
                    .to_string()
                    + "Upgrade, Connection, Sec-WebSocket-Accept",
                r#"< conn 127.0.0.1:4000  Text fin=1 rsv=000 unmasked len=5  "Hello""#.into(),
                r#"> conn 127.0.0.1:4000  Text fin=1 rsv=000 key=37fa213d len=2  "Hi""#.into(),
            ]
        );
    }

    #[test]
    fn polls_on_one_connection_give_one_line_per_request_and_response() {
        let mut trace = ConnectionTrace::new("c".into());
        let poll = b"GET /messages?since=0 HTTP/1.1\r\nHost: h\r\n\r\n";
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";

        let mut lines = Vec::new();
        for _ in 0..2 {
            lines.extend(trace.sent(poll));
            // The answer arrives a byte at a time: still one line.
            for byte in answer {
                lines.extend(trace.received(&[*byte]));
            }
        }
        let request = r#"> conn c  "GET /messages?since=0 HTTP/1.1"  headers: Host"#;
        let response = r#"< conn c  "HTTP/1.1 200 OK"  headers: Content-Length"#;
        assert_eq!(lines, [request, response, request, response]);
    }

    #[test]
    fn a_post_body_is_not_taken_for_a_second_request() {
        let mut trace = ConnectionTrace::new("c".into());
        let post = b"POST /messages HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nGET / HTT";
        assert_eq!(
            trace.sent(post),
            [r#"> conn c  "POST /messages HTTP/1.1"  headers: Host, Content-Length"#]
        );
    }

    #[test]
    fn a_broken_frame_is_reported_once_then_not_followed_rfc_6455_section_5_2() {
        let mut trace = ConnectionTrace::new("c".into());
        trace.sent(UPGRADE);
        trace.received(SWITCHED);

        let top_bit = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            trace.received(&top_bit),
            ["< conn c  not followed further: 64-bit payload length has its top bit set"]
        );
        assert!(trace.received(&[0x81, 0x00]).is_empty());
    }

    #[test]
    fn a_response_that_is_not_http_is_reported_once() {
        let mut trace = ConnectionTrace::new("c".into());
        let lines = trace.received(b"SSH-2.0-OpenSSH\r\n\r\n");
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("< conn c  not followed further: "),
            "{lines:?}"
        );
        assert!(trace.received(b"HTTP/1.1 200 OK\r\n\r\n").is_empty());
    }
}
