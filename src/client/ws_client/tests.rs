//! The WebSocket client fed literal bytes, grouped by phase.

use std::time::Duration;

use super::*;
use crate::client::backoff::ReconnectCause;
use crate::websocket::handshake::accept_key;

use base64::Engine;

/// The fixed nonce of these tests and its base64 form.
const KEY: [u8; KEY_LEN] = [7; KEY_LEN];

/// An all-zero mask key leaves payloads readable in the output.
fn zero_mask() -> [u8; MASK_KEY_LEN] {
    [0; MASK_KEY_LEN]
}

fn at(start: Now, millis: u64) -> Now {
    Now {
        instant: start.instant + Duration::from_millis(millis),
        unix_ms: start.unix_ms + millis as f64,
    }
}

fn client(start: Now) -> WsClient {
    let url = Url::parse("ws://127.0.0.1:8080/ws").unwrap();
    WsClient::with_keys(
        WsClientConfig::new("Alice", url),
        start,
        Box::new(|| KEY),
        Some(zero_mask),
    )
}

fn accept_response() -> Vec<u8> {
    let key = base64::engine::general_purpose::STANDARD.encode(KEY);
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    )
    .into_bytes()
}

/// An unmasked server frame with a short payload (RFC 6455 §5.2).
fn server_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first_byte, payload.len() as u8];
    frame.extend_from_slice(payload);
    frame
}

/// FIN + text opcode, FIN + ping, FIN + close.
const FIN_TEXT: u8 = 0x81;
const FIN_PING: u8 = 0x89;
const FIN_CLOSE: u8 = 0x88;

fn drain_output(client: &mut WsClient) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(bytes) = client.take_output() {
        out.extend(bytes);
    }
    out
}

fn drain_events(client: &mut WsClient) -> Vec<ClientEvent> {
    std::iter::from_fn(|| client.next_event()).collect()
}

/// A client taken through connect and handshake, its queues emptied.
fn open_client(start: Now) -> WsClient {
    let mut c = client(start);
    c.on_timer(start);
    assert_eq!(c.next_command(), Some(Command::Connect));
    c.on_connected(start);
    c.on_bytes(&accept_response(), start);
    assert!(c.is_open());
    drain_output(&mut c);
    drain_events(&mut c);
    c
}

mod connecting {
    use super::*;

    #[test]
    fn first_timer_asks_for_a_connection_and_connect_writes_the_upgrade() {
        let start = Now::system();
        let mut c = client(start);
        assert_eq!(c.next_deadline(), Some(start.instant));

        c.on_timer(start);
        assert_eq!(c.next_command(), Some(Command::Connect));
        c.on_connected(start);

        let request = String::from_utf8(drain_output(&mut c)).unwrap();
        assert!(request.starts_with("GET /ws HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("Host: 127.0.0.1:8080\r\n"));
        assert!(request.contains("Sec-WebSocket-Key: BwcHBwcHBwcHBwcHBwcHBw==\r\n"));
        assert_eq!(
            drain_events(&mut c),
            [ClientEvent::RequestSent(RequestKind::Upgrade)]
        );
    }

    #[test]
    fn rfc6455_section4_1_frames_after_the_101_head_are_not_lost() {
        let start = Now::system();
        let mut c = client(start);
        c.on_timer(start);
        c.on_connected(start);
        drain_events(&mut c);

        let mut bytes = accept_response();
        let stored = br#"{"id":1,"name":"Bob","text":"hi","sent_at":5.0}"#;
        bytes.extend(server_frame(FIN_TEXT, stored));
        // One byte at a time: the head and the frame both arrive in pieces.
        for b in &bytes {
            c.on_bytes(std::slice::from_ref(b), at(start, 3));
        }

        let events = drain_events(&mut c);
        assert_eq!(events.first(), Some(&ClientEvent::Connected));
        let Some(ClientEvent::Received { message, at }) = events.get(1) else {
            panic!("no message in {events:?}");
        };
        assert_eq!((message.id, message.name.as_str()), (1, "Bob"));
        assert_eq!(*at, start.unix_ms + 3.0);
    }

    #[test]
    fn rfc6455_section4_1_non_101_answer_counts_as_unreachable() {
        let start = Now::system();
        let mut c = client(start);
        c.on_timer(start);
        c.next_command();
        c.on_connected(start);
        drain_events(&mut c);

        c.on_bytes(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            start,
        );
        assert_eq!(c.next_command(), Some(Command::CloseTcp));
        assert_eq!(
            drain_events(&mut c),
            [ClientEvent::Reconnecting {
                cause: ReconnectCause::Unreachable,
                retry_in_ms: 1000
            }]
        );
        assert!(!c.is_open());
    }

    #[test]
    fn silent_server_times_out_the_opening() {
        let start = Now::system();
        let mut c = client(start);
        c.on_timer(start);
        c.next_command();
        c.on_connected(start);

        c.on_timer(at(start, OPEN_TIMEOUT.as_millis() as u64));
        assert_eq!(c.next_command(), Some(Command::CloseTcp));
        assert_eq!(c.take_output(), None, "stale handshake bytes were kept");
    }
}

mod reconnecting {
    use super::*;

    fn fail_connect(c: &mut WsClient, now: Now) -> Option<ClientEvent> {
        c.on_timer(now);
        assert_eq!(c.next_command(), Some(Command::Connect));
        c.on_connect_failed(now, &io::ErrorKind::ConnectionRefused.into());
        c.next_event()
    }

    #[test]
    fn unreachable_server_is_retried_after_1_2_4_seconds() {
        let start = Now::system();
        let mut c = client(start);
        let mut now = start;
        let mut delays = Vec::new();
        for _ in 0..3 {
            let Some(ClientEvent::Reconnecting { cause, retry_in_ms }) = fail_connect(&mut c, now)
            else {
                panic!("no reconnect event");
            };
            assert_eq!(cause, ReconnectCause::Unreachable);
            delays.push(retry_in_ms);

            // Nothing happens before the deadline.
            let deadline = c.next_deadline().unwrap();
            assert_eq!(deadline, now.instant + Duration::from_millis(retry_in_ms));
            c.on_timer(at(now, retry_in_ms - 1));
            assert_eq!(c.next_command(), None);
            now = at(now, retry_in_ms);
        }
        assert_eq!(delays, [1000, 2000, 4000]);
    }

    #[test]
    fn dropped_connection_retries_after_one_second() {
        let start = Now::system();
        let mut c = client(start);
        fail_connect(&mut c, start);
        fail_connect(&mut c, at(start, 1000));

        let later = at(start, 3000);
        c.on_timer(later);
        c.next_command();
        c.on_connected(later);
        c.on_bytes(&accept_response(), later);
        drain_events(&mut c);

        c.on_eof(later);
        assert_eq!(
            c.next_event(),
            Some(ClientEvent::Reconnecting {
                cause: ReconnectCause::Dropped,
                retry_in_ms: 1000
            })
        );
    }

    #[test]
    fn without_reconnect_a_lost_connection_finishes_the_client() {
        let start = Now::system();
        let url = Url::parse("ws://127.0.0.1:1/").unwrap();
        let mut config = WsClientConfig::new("A", url);
        config.reconnect = false;
        let mut c = WsClient::new(config, start);
        c.on_timer(start);
        c.on_connect_failed(start, &io::ErrorKind::ConnectionRefused.into());
        assert!(c.is_finished());
    }
}

mod open {
    use super::*;

    #[test]
    fn line_typed_before_connecting_is_sent_once_open_with_fresh_sent_at() {
        let start = Now::system();
        let mut c = client(start);
        c.send("early".into(), start);
        assert_eq!(c.take_output(), None);

        let later = at(start, 250);
        c.on_timer(later);
        c.on_connected(later);
        drain_output(&mut c);
        c.on_bytes(&accept_response(), later);

        let frame = drain_output(&mut c);
        // RFC 6455 §5.3: client frames are masked (here with a zero key).
        assert_eq!(frame.first(), Some(&FIN_TEXT));
        let message: ClientMessage = serde_json::from_slice(frame.get(6..).unwrap()).unwrap();
        assert_eq!(
            (message.name.as_str(), message.text.as_str()),
            ("Alice", "early")
        );
        // serde_json may round the last bit of an f64 on the way back.
        assert!((message.sent_at - later.unix_ms).abs() < 1e-3);
        assert!(drain_events(&mut c).contains(&ClientEvent::MessageSent {
            text: "early".into(),
            sent_at: later.unix_ms
        }));
    }

    #[test]
    fn rfc6455_section5_5_2_ping_is_answered_with_a_masked_pong() {
        let start = Now::system();
        let mut c = open_client(start);
        c.on_bytes(&server_frame(FIN_PING, b"hi"), start);
        assert_eq!(drain_output(&mut c), [0x8A, 0x82, 0, 0, 0, 0, b'h', b'i']);
    }

    #[test]
    fn error_reply_becomes_a_server_error_event() {
        let start = Now::system();
        let mut c = open_client(start);
        c.on_bytes(
            &server_frame(FIN_TEXT, br#"{"error":"text must not be empty"}"#),
            start,
        );
        assert_eq!(
            drain_events(&mut c),
            [ClientEvent::ServerError("text must not be empty".into())]
        );
    }

    #[test]
    fn outbox_is_bounded_while_disconnected() {
        let start = Now::system();
        let mut c = client(start);
        for i in 0..=MAX_OUTBOX {
            c.send(format!("line {i}"), start);
        }
        assert_eq!(
            drain_events(&mut c),
            [ClientEvent::Dropped {
                text: "line 0".into()
            }]
        );
    }
}

mod closing {
    use super::*;

    #[test]
    fn rfc6455_section7_1_2_shutdown_sends_close_and_waits_for_the_server() {
        let start = Now::system();
        let mut c = open_client(start);
        c.shutdown(start);
        // Close frame, masked, code 1000 and reason "bye".
        let close = drain_output(&mut c);
        assert_eq!(close.get(..2), Some(&[FIN_CLOSE, 0x85][..]));
        assert!(!c.is_finished());

        c.on_bytes(&server_frame(FIN_CLOSE, &[0x03, 0xE8]), start);
        c.on_eof(start);
        assert!(c.is_finished());
    }

    #[test]
    fn rfc6455_section7_1_1_server_close_is_echoed_then_client_reconnects() {
        let start = Now::system();
        let mut c = open_client(start);
        c.on_bytes(&server_frame(FIN_CLOSE, &[0x03, 0xE9]), start);
        let echo = drain_output(&mut c);
        assert_eq!(echo.get(..2), Some(&[FIN_CLOSE, 0x82][..]));

        // The server closes TCP first (RFC 6455 §7.1.1).
        c.on_eof(start);
        assert_eq!(
            drain_events(&mut c),
            [ClientEvent::Reconnecting {
                cause: ReconnectCause::Dropped,
                retry_in_ms: 1000
            }]
        );
    }

    #[test]
    fn shutdown_before_connecting_finishes_at_once() {
        let start = Now::system();
        let mut c = client(start);
        c.shutdown(start);
        assert!(c.is_finished());
        assert_eq!(c.next_deadline(), None);
    }
}
