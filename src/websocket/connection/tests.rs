//! Connection tests: literal bytes in, events and bytes out, grouped by concern.

use super::*;
use crate::websocket::frame::encode_frame;

/// The masking key of the RFC 6455 §5.7 examples.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

fn server_with(config: Config) -> Connection {
    Connection::new(Role::Server, config)
}

/// A client whose every masking key is [`KEY`], so its output is predictable.
fn client() -> Connection {
    Connection::with_mask_keys(Role::Client, Config::default(), Box::new(|| KEY))
}

/// A frame as a client sends it.
fn masked(opcode: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
    encode_frame(opcode, fin, payload, Some(KEY))
}

/// A frame as a server sends it.
fn unmasked(opcode: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
    encode_frame(opcode, fin, payload, None)
}

/// Feed `bytes` and collect every event they produce.
fn feed(conn: &mut Connection, bytes: &[u8]) -> Vec<Event> {
    conn.receive(bytes);
    drain_events(conn)
}

fn drain_events(conn: &mut Connection) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = conn.next_event() {
        events.push(event);
        assert!(events.len() < 100_000, "runaway event loop");
    }
    events
}

/// Everything queued for writing, concatenated.
fn output(conn: &mut Connection) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(chunk) = conn.take_output() {
        bytes.extend_from_slice(chunk.as_ref());
    }
    bytes
}

/// Decode what `conn` queued by feeding it to a connection of the other role.
fn sent_events(conn: &mut Connection) -> Vec<Event> {
    let mut peer = match conn.role() {
        Role::Server => client(),
        Role::Client => server(),
    };
    feed(&mut peer, &output(conn))
}

/// The only event must be a failure; returns its error.
fn single_failure(events: Vec<Event>) -> ProtocolError {
    match events.as_slice() {
        [Event::Failed(error)] => error.clone(),
        other => panic!("expected one Failed event, got {other:?}"),
    }
}

/// The close code of the single Close frame `conn` queued.
fn sent_close_code(conn: &mut Connection) -> Option<u16> {
    match sent_events(conn).as_slice() {
        [Event::Close { code, .. }] => *code,
        other => panic!("expected one Close frame, got {other:?}"),
    }
}

/// Feed `bytes` in the pieces given by `cuts`, collecting events throughout.
fn feed_split(conn: &mut Connection, bytes: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain([bytes.len()].iter()) {
        events.extend(feed(conn, &bytes[start..cut]));
        start = cut;
    }
    events
}

/// A small deterministic generator for split points (xorshift64).
struct Splitter(u64);

impl Splitter {
    fn cuts(&mut self, len: usize, count: usize) -> Vec<usize> {
        let mut cuts: Vec<usize> = (0..count)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 % (len as u64 + 1)) as usize
            })
            .collect();
        cuts.sort_unstable();
        cuts
    }
}

mod examples_rfc_6455_section_5_7 {
    use super::*;

    #[test]
    fn client_reads_the_unmasked_hello() {
        let mut c = client();
        let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(feed(&mut c, &wire), [Event::Text("Hello".into())]);
    }

    #[test]
    fn server_reads_the_masked_hello() {
        let mut s = server();
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(feed(&mut s, &wire), [Event::Text("Hello".into())]);
    }

    #[test]
    fn fragmented_hello_is_one_message() {
        let mut c = client();
        let wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
        assert_eq!(feed(&mut c, &wire), [Event::Text("Hello".into())]);
        assert_eq!(c.frames_in(), 2);
    }

    #[test]
    fn client_answers_the_ping_with_the_masked_pong() {
        let mut c = client();
        let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(feed(&mut c, &ping), [Event::Ping(b"Hello".to_vec())]);
        let pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(output(&mut c), pong);
    }

    #[test]
    fn binary_of_256_bytes_and_of_64_kib() {
        let mut c = client();
        for len in [256, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let wire = unmasked(Opcode::Binary, true, &payload);
            assert_eq!(feed(&mut c, &wire), [Event::Binary(payload)]);
        }
    }
}

mod read_boundaries {
    use super::*;

    /// Several frames back to back, as a client sends them.
    fn client_stream() -> Vec<u8> {
        let mut wire = masked(Opcode::Text, true, b"Hello");
        wire.extend(masked(Opcode::Text, false, "Hé".as_bytes()));
        wire.extend(masked(Opcode::Ping, true, b"mid"));
        wire.extend(masked(Opcode::Continuation, true, "llo 𝄞".as_bytes()));
        wire.extend(masked(Opcode::Binary, true, &[9; 300]));
        wire.extend(masked(Opcode::Binary, true, &[7; 70_000]));
        wire
    }

    fn expected_events() -> Vec<Event> {
        vec![
            Event::Text("Hello".into()),
            Event::Ping(b"mid".to_vec()),
            Event::Text("Héllo 𝄞".into()),
            Event::Binary(vec![9; 300]),
            Event::Binary(vec![7; 70_000]),
        ]
    }

    #[test]
    fn one_byte_at_a_time_gives_the_same_events() {
        let wire = client_stream();
        let cuts: Vec<usize> = (1..wire.len()).collect();
        let mut s = server();
        assert_eq!(feed_split(&mut s, &wire, &cuts), expected_events());
    }

    #[test]
    fn random_splits_give_the_same_events() {
        let wire = client_stream();
        let mut splitter = Splitter(0x9e37_79b9_7f4a_7c15);
        for round in 0..50 {
            let cuts = splitter.cuts(wire.len(), round % 20 + 1);
            let mut s = server();
            assert_eq!(
                feed_split(&mut s, &wire, &cuts),
                expected_events(),
                "{cuts:?}"
            );
        }
    }

    #[test]
    fn rfc_examples_one_byte_at_a_time() {
        let wire = [
            0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f, // "Hello"
            0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f, // "Hel" "lo"
            0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f, // ping "Hello"
        ];
        let mut c = client();
        let mut events = Vec::new();
        for byte in wire {
            events.extend(feed(&mut c, &[byte]));
        }
        let hello = Event::Text("Hello".into());
        assert_eq!(
            events,
            [hello.clone(), hello, Event::Ping(b"Hello".to_vec())]
        );
    }

    #[test]
    fn consumed_input_is_compacted() {
        let mut s = server();
        let frame = masked(Opcode::Binary, true, &[1; 1000]);
        for _ in 0..100 {
            assert_eq!(feed(&mut s, &frame).len(), 1);
        }
        assert!(
            s.input.len() <= frame.len(),
            "input grew to {}",
            s.input.len()
        );
    }
}

mod header_rules {
    use super::*;

    #[test]
    fn reserved_bits_fail_with_1002_rfc_6455_section_5_2() {
        for rsv_bits in [0x40, 0x20, 0x10] {
            let mut wire = masked(Opcode::Text, true, b"x");
            wire[0] |= rsv_bits;
            let mut s = server();
            let error = single_failure(feed(&mut s, &wire));
            assert!(matches!(error, ProtocolError::ReservedBitsSet(_)));
            assert_eq!(sent_close_code(&mut s), Some(1002));
        }
    }

    #[test]
    fn reserved_opcodes_fail_with_1002_rfc_6455_section_5_2() {
        for bits in (0x3..=0x7).chain(0xB..=0xF) {
            let mut s = server();
            let wire = masked(Opcode::Reserved(bits), true, b"");
            let error = single_failure(feed(&mut s, &wire));
            assert_eq!(error, ProtocolError::ReservedOpcode(bits));
            assert_eq!(sent_close_code(&mut s), Some(1002));
        }
    }

    #[test]
    fn control_frame_over_125_bytes_fails_rfc_6455_section_5_5() {
        let mut s = server();
        let wire = masked(Opcode::Ping, true, &[0; 126]);
        let error = single_failure(feed(&mut s, &wire));
        assert_eq!(error, ProtocolError::ControlFrameTooLong(126));
        assert_eq!(sent_close_code(&mut s), Some(1002));
    }

    #[test]
    fn fragmented_control_frame_fails_rfc_6455_section_5_5() {
        let mut s = server();
        let wire = masked(Opcode::Ping, false, b"x");
        let error = single_failure(feed(&mut s, &wire));
        assert_eq!(error, ProtocolError::FragmentedControlFrame);
    }

    #[test]
    fn server_fails_on_unmasked_client_frame_rfc_6455_section_5_1() {
        let mut s = server();
        let error = single_failure(feed(&mut s, &unmasked(Opcode::Text, true, b"x")));
        assert_eq!(error, ProtocolError::UnmaskedClientFrame);
        assert_eq!(sent_close_code(&mut s), Some(1002));
    }

    #[test]
    fn client_fails_on_masked_server_frame_rfc_6455_section_5_1() {
        let mut c = client();
        let error = single_failure(feed(&mut c, &masked(Opcode::Text, true, b"x")));
        assert_eq!(error, ProtocolError::MaskedServerFrame);
        assert_eq!(sent_close_code(&mut c), Some(1002));
    }

    #[test]
    fn length_with_top_bit_fails_with_1002_rfc_6455_section_5_2() {
        let mut c = client();
        let wire = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1];
        let error = single_failure(feed(&mut c, &wire));
        assert_eq!(error, ProtocolError::LengthTopBitSet);
        assert_eq!(sent_close_code(&mut c), Some(1002));
    }

    #[test]
    fn non_minimal_length_fails_with_1002_rfc_6455_section_5_2() {
        let mut c = client();
        let wire = [0x82, 0x7e, 0x00, 0x7d];
        let error = single_failure(feed(&mut c, &wire));
        assert!(matches!(error, ProtocolError::NonMinimalLength { .. }));
        assert_eq!(sent_close_code(&mut c), Some(1002));
    }

    #[test]
    fn too_big_length_fails_with_1009_before_the_payload_rfc_6455_section_10_4() {
        let config = Config {
            max_message_size: 1000,
            ..Config::default()
        };
        let mut s = server_with(config);
        let wire = masked(Opcode::Binary, true, &[0; 1001]);
        let header_only = &wire[..8];
        let error = single_failure(feed(&mut s, header_only));
        assert_eq!(error, ProtocolError::MessageTooBig { limit: 1000 });
        assert_eq!(sent_close_code(&mut s), Some(1009));
    }

    #[test]
    fn huge_length_fails_with_1009_not_a_panic() {
        let mut c = client();
        let wire = [0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let error = single_failure(feed(&mut c, &wire));
        assert!(matches!(error, ProtocolError::MessageTooBig { .. }));
    }
}

mod fragmentation {
    use super::*;

    #[test]
    fn continuation_without_message_fails_rfc_6455_section_5_4() {
        let mut s = server();
        let wire = masked(Opcode::Continuation, true, b"x");
        let error = single_failure(feed(&mut s, &wire));
        assert_eq!(error, ProtocolError::ContinuationWithoutMessage);
        assert_eq!(sent_close_code(&mut s), Some(1002));
    }

    #[test]
    fn new_message_inside_fragments_fails_rfc_6455_section_5_4() {
        let mut s = server();
        let mut wire = masked(Opcode::Text, false, b"a");
        wire.extend(masked(Opcode::Binary, true, b"b"));
        let error = single_failure(feed(&mut s, &wire));
        assert_eq!(error, ProtocolError::MessageStartedDuringFragments);
    }

    #[test]
    fn control_frames_between_fragments_are_handled_at_once_rfc_6455_section_5_4() {
        let mut s = server();
        let first = masked(Opcode::Text, false, b"frag");
        let ping = masked(Opcode::Ping, true, b"p");
        let pong = masked(Opcode::Pong, true, b"q");
        let last = masked(Opcode::Continuation, true, b"ment");

        assert_eq!(feed(&mut s, &first), []);
        assert_eq!(feed(&mut s, &ping), [Event::Ping(b"p".to_vec())]);
        assert_eq!(sent_events(&mut s), [Event::Pong(b"p".to_vec())]);
        assert_eq!(feed(&mut s, &pong), [Event::Pong(b"q".to_vec())]);
        assert_eq!(feed(&mut s, &last), [Event::Text("fragment".into())]);
    }

    #[test]
    fn message_size_counts_all_fragments_rfc_6455_section_10_4() {
        let config = Config {
            max_message_size: 10,
            ..Config::default()
        };
        let mut s = server_with(config);
        assert_eq!(feed(&mut s, &masked(Opcode::Binary, false, &[0; 6])), []);
        let second = masked(Opcode::Continuation, true, &[0; 5]);
        let error = single_failure(feed(&mut s, &second));
        assert_eq!(error, ProtocolError::MessageTooBig { limit: 10 });
        assert_eq!(sent_close_code(&mut s), Some(1009));
    }

    #[test]
    fn too_many_fragments_fail_with_1009() {
        let config = Config {
            max_fragments: 3,
            ..Config::default()
        };
        let mut s = server_with(config);
        let mut wire = masked(Opcode::Text, false, b"a");
        wire.extend(masked(Opcode::Continuation, false, b"b"));
        wire.extend(masked(Opcode::Continuation, false, b"c"));
        assert_eq!(feed(&mut s, &wire), []);
        let fourth = masked(Opcode::Continuation, true, b"d");
        let error = single_failure(feed(&mut s, &fourth));
        assert_eq!(error, ProtocolError::TooManyFragments { limit: 3 });
        assert_eq!(sent_close_code(&mut s), Some(1009));
    }

    #[test]
    fn empty_fragments_do_not_grow_memory() {
        let mut s = server();
        let mut wire = masked(Opcode::Text, false, b"");
        for _ in 0..65_535 {
            wire.extend(masked(Opcode::Continuation, false, b""));
        }
        assert_eq!(feed(&mut s, &wire), []);
        let message = s.message.as_ref().expect("message open");
        assert_eq!((message.fragments, message.data.capacity()), (65_536, 0));

        let last = masked(Opcode::Continuation, true, b"done");
        assert_eq!(feed(&mut s, &last), [Event::Text("done".into())]);
    }
}

mod utf8_rfc_6455_section_8_1 {
    use super::*;

    #[test]
    fn invalid_text_fails_with_1007() {
        let mut s = server();
        let error = single_failure(feed(&mut s, &masked(Opcode::Text, true, b"\xce\xba\xff")));
        assert_eq!(error, ProtocolError::InvalidUtf8Text);
        assert_eq!(sent_close_code(&mut s), Some(1007));
    }

    #[test]
    fn bad_fragment_fails_before_the_message_ends() {
        // Autobahn 6.4.1: the bad bytes come in a non-final fragment.
        let mut s = server();
        assert_eq!(
            feed(&mut s, &masked(Opcode::Text, false, "κόσμε".as_bytes())),
            []
        );
        let bad = masked(Opcode::Continuation, false, b"\xf4\x90\x80\x80");
        assert_eq!(
            single_failure(feed(&mut s, &bad)),
            ProtocolError::InvalidUtf8Text
        );
    }

    #[test]
    fn bad_bytes_fail_before_their_frame_ends() {
        // Autobahn 6.4.3: one frame, delivered in chops; the second is bad.
        let mut s = server();
        let mut payload = "κόσμε".as_bytes().to_vec();
        let good_len = payload.len();
        payload.extend_from_slice(b"\xf4\x90\x80\x80edited");
        let wire = masked(Opcode::Text, true, &payload);
        let header_len = 6;

        assert_eq!(feed(&mut s, &wire[..header_len + good_len]), []);
        let bad_chop = &wire[header_len + good_len..header_len + good_len + 2];
        assert_eq!(
            single_failure(feed(&mut s, bad_chop)),
            ProtocolError::InvalidUtf8Text
        );
    }

    #[test]
    fn code_point_split_across_fragments_is_valid() {
        let mut s = server();
        let euro = "€".as_bytes();
        let mut wire = masked(Opcode::Text, false, &euro[..1]);
        wire.extend(masked(Opcode::Continuation, false, &euro[1..2]));
        wire.extend(masked(Opcode::Continuation, true, &euro[2..]));
        assert_eq!(feed(&mut s, &wire), [Event::Text("€".into())]);
    }

    #[test]
    fn message_ending_inside_a_code_point_fails() {
        let mut s = server();
        let mut wire = masked(Opcode::Text, false, b"ok");
        wire.extend(masked(Opcode::Continuation, true, b"\xe2\x82"));
        assert_eq!(
            single_failure(feed(&mut s, &wire)),
            ProtocolError::InvalidUtf8Text
        );
    }

    #[test]
    fn binary_is_not_checked() {
        let mut s = server();
        let wire = masked(Opcode::Binary, true, b"\xff\xfe");
        assert_eq!(feed(&mut s, &wire), [Event::Binary(b"\xff\xfe".to_vec())]);
    }
}

mod control_frames {
    use super::*;

    #[test]
    fn ping_is_answered_with_the_same_payload_rfc_6455_section_5_5_2() {
        let mut s = server();
        assert_eq!(
            feed(&mut s, &masked(Opcode::Ping, true, b"abc")),
            [Event::Ping(b"abc".to_vec())]
        );
        assert_eq!(output(&mut s), unmasked(Opcode::Pong, true, b"abc"));
    }

    #[test]
    fn pong_is_reported_and_not_answered_rfc_6455_section_5_5_3() {
        let mut s = server();
        assert_eq!(
            feed(&mut s, &masked(Opcode::Pong, true, b"x")),
            [Event::Pong(b"x".to_vec())]
        );
        assert!(!s.has_output());
        assert_eq!(s.state(), State::Open);
    }

    #[test]
    fn ping_payload_over_125_bytes_is_refused_rfc_6455_section_5_5() {
        let mut c = client();
        assert_eq!(c.send_ping(&[0; 126]), Err(SendError::ControlFrameTooLong));
        assert_eq!(c.send_ping(&[0; 125]), Ok(()));
    }
}

mod closing_handshake {
    use super::*;

    fn close_frame(code: u16, reason: &str) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(reason.as_bytes());
        masked(Opcode::Close, true, &body)
    }

    fn later_than_timeout() -> Instant {
        Instant::now() + DEFAULT_CLOSE_TIMEOUT + Duration::from_secs(1)
    }

    #[test]
    fn peer_close_is_echoed_with_its_code_rfc_6455_section_5_5_1() {
        let mut s = server();
        let events = feed(&mut s, &close_frame(1001, "bye"));
        let expected = Event::Close {
            code: Some(1001),
            reason: "bye".into(),
        };
        assert_eq!(events, [expected]);
        assert_eq!(s.state(), State::Closed);
        assert!(!s.should_close_tcp(), "echo still queued");
        assert_eq!(sent_close_code(&mut s), Some(1001));
        assert!(s.should_close_tcp());
    }

    #[test]
    fn empty_close_is_echoed_empty() {
        let mut s = server();
        let events = feed(&mut s, &masked(Opcode::Close, true, b""));
        let expected = Event::Close {
            code: None,
            reason: String::new(),
        };
        assert_eq!(events, [expected]);
        assert_eq!(output(&mut s), unmasked(Opcode::Close, true, b""));
    }

    #[test]
    fn one_byte_close_fails_with_1002_rfc_6455_section_5_5_1() {
        let mut s = server();
        let error = single_failure(feed(&mut s, &masked(Opcode::Close, true, &[3])));
        assert_eq!(error, ProtocolError::ClosePayloadTooShort);
        assert_eq!(sent_close_code(&mut s), Some(1002));
    }

    #[test]
    fn invalid_close_code_fails_with_1002_rfc_6455_section_7_4() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let mut s = server();
            let error = single_failure(feed(&mut s, &close_frame(code, "")));
            assert_eq!(error, ProtocolError::InvalidCloseCode(code));
            assert_eq!(sent_close_code(&mut s), Some(1002));
        }
    }

    #[test]
    fn close_reason_not_utf8_fails_with_1007_rfc_6455_section_5_5_1() {
        let mut s = server();
        let wire = masked(Opcode::Close, true, b"\x03\xe8\xce\xba\xe1\xbd");
        assert_eq!(
            single_failure(feed(&mut s, &wire)),
            ProtocolError::InvalidUtf8CloseReason
        );
        assert_eq!(sent_close_code(&mut s), Some(1007));
    }

    #[test]
    fn no_data_after_our_close_rfc_6455_section_5_5_1() {
        let mut s = server();
        s.close(1000, "done");
        assert_eq!(s.state(), State::Closing);
        assert_eq!(s.send_text("late"), Err(SendError::Closing));
        assert_eq!(s.send_binary(b"late"), Err(SendError::Closing));
        assert_eq!(s.send_ping(b"late"), Err(SendError::Closing));
        let frame: Arc<[u8]> = unmasked(Opcode::Text, true, b"late").into();
        assert_eq!(s.send_shared(frame), Err(SendError::Closing));
        assert_eq!(sent_close_code(&mut s), Some(1000));
    }

    #[test]
    fn data_after_our_close_is_discarded_until_the_peer_close() {
        let mut s = server();
        assert_eq!(feed(&mut s, &masked(Opcode::Text, false, b"half")), []);
        s.close(1000, "");
        output(&mut s);

        let mut wire = masked(Opcode::Continuation, true, b"rest");
        wire.extend(masked(Opcode::Text, true, b"ignored"));
        wire.extend(masked(Opcode::Ping, true, b"ignored"));
        wire.extend(close_frame(1000, ""));
        let expected = Event::Close {
            code: Some(1000),
            reason: String::new(),
        };
        assert_eq!(feed(&mut s, &wire), [expected]);
        assert!(!s.has_output(), "no pong and no second Close");
        assert_eq!(s.state(), State::Closed);
        assert!(s.should_close_tcp());
        assert!(s.on_eof(), "closing handshake completed");
    }

    #[test]
    fn unsendable_close_code_sends_an_empty_close() {
        for code in [1005, 1006, 1015] {
            let mut s = server();
            s.close(code, "never on the wire");
            assert_eq!(output(&mut s), unmasked(Opcode::Close, true, b""));
        }
    }

    #[test]
    fn second_close_call_sends_nothing() {
        let mut c = client();
        c.close(1000, "");
        output(&mut c);
        c.close(1001, "");
        assert!(!c.has_output());
    }

    #[test]
    fn peer_that_never_answers_times_out() {
        let mut s = server();
        assert_eq!(s.close_deadline(), None);
        s.close(1000, "");
        output(&mut s);
        let deadline = s.close_deadline().expect("deadline set when Close sent");
        assert!(deadline > Instant::now());

        s.on_timeout(Instant::now());
        assert_eq!(s.state(), State::Closing);
        assert!(!s.should_close_tcp());

        s.on_timeout(later_than_timeout());
        assert_eq!(s.state(), State::Closed);
        assert!(s.should_close_tcp());
        assert_eq!(s.close_deadline(), None);
    }

    #[test]
    fn only_crossed_close_frames_complete_the_handshake_rfc_6455_section_7_1_4() {
        let close = masked(Opcode::Close, true, &1000u16.to_be_bytes());

        let mut answered = server();
        answered.close(1000, "");
        feed(&mut answered, &close);
        assert!(answered.closing_handshake_completed());

        let mut echoed = server();
        feed(&mut echoed, &close);
        assert!(echoed.closing_handshake_completed());

        let mut never_answered = server();
        never_answered.close(1000, "");
        never_answered.on_timeout(later_than_timeout());
        assert_eq!(never_answered.state(), State::Closed);
        assert!(!never_answered.closing_handshake_completed());

        let mut failed = server();
        feed(&mut failed, &unmasked(Opcode::Text, true, b"x"));
        assert_eq!(failed.state(), State::Closed);
        assert!(!failed.closing_handshake_completed());

        let mut dropped = server();
        dropped.on_eof();
        assert!(!dropped.closing_handshake_completed());
    }

    #[test]
    fn client_waits_for_the_server_to_close_tcp_rfc_6455_section_7_1_1() {
        let mut c = client();
        c.close(1000, "");
        output(&mut c);
        let close = unmasked(Opcode::Close, true, &1000u16.to_be_bytes());
        assert_eq!(feed(&mut c, &close).len(), 1);
        assert_eq!(c.state(), State::Closed);
        assert!(!c.should_close_tcp(), "the server closes TCP first");
        assert!(c.close_deadline().is_some());

        c.on_timeout(later_than_timeout());
        assert!(c.should_close_tcp());
    }

    #[test]
    fn client_sees_a_clean_close_when_the_server_closes_tcp() {
        let mut c = client();
        let close = unmasked(Opcode::Close, true, &1000u16.to_be_bytes());
        assert_eq!(feed(&mut c, &close).len(), 1);
        assert_eq!(sent_close_code(&mut c), Some(1000));
        assert!(!c.should_close_tcp());
        assert!(c.on_eof());
        assert!(c.should_close_tcp());
    }

    #[test]
    fn eof_before_closing_is_not_clean() {
        let mut s = server();
        assert!(!s.on_eof());
        assert_eq!(s.state(), State::Closed);
        assert!(s.should_close_tcp());
        assert_eq!(s.send_text("x"), Err(SendError::PeerClosedTcp));
    }
}

mod failed_connection_rfc_6455_section_7_1_7 {
    use super::*;

    #[test]
    fn input_after_failure_is_ignored() {
        let mut s = server();
        let mut wire = unmasked(Opcode::Text, true, b"bad");
        wire.extend(masked(Opcode::Text, true, b"good"));
        assert_eq!(feed(&mut s, &wire).len(), 1);
        assert_eq!(feed(&mut s, &masked(Opcode::Text, true, b"more")), []);
        assert_eq!(s.frames_in(), 0);
        assert_eq!(s.state(), State::Closed);
    }

    #[test]
    fn tcp_is_closed_once_the_close_is_flushed() {
        let mut s = server();
        single_failure(feed(&mut s, &unmasked(Opcode::Text, true, b"x")));
        assert!(s.has_output());
        assert!(!s.should_close_tcp());
        output(&mut s);
        assert!(s.should_close_tcp());
    }

    #[test]
    fn failure_after_our_close_sends_no_second_close() {
        let mut s = server();
        s.close(1000, "");
        output(&mut s);
        single_failure(feed(&mut s, &unmasked(Opcode::Text, true, b"x")));
        assert!(!s.has_output());
        assert!(s.should_close_tcp());
    }

    #[test]
    fn application_can_refuse_a_data_type_with_1003() {
        let mut s = server();
        assert_eq!(feed(&mut s, &masked(Opcode::Binary, true, b"x")).len(), 1);
        s.fail(ProtocolError::UnsupportedDataType);
        assert_eq!(sent_close_code(&mut s), Some(1003));
        assert_eq!(s.state(), State::Closed);
    }
}

mod sending {
    use super::*;

    #[test]
    fn client_masks_with_a_fresh_key_per_frame_rfc_6455_section_5_3() {
        let mut keys = [[1, 2, 3, 4], [5, 6, 7, 8]].into_iter().cycle();
        let mut c = Connection::with_mask_keys(
            Role::Client,
            Config::default(),
            Box::new(move || keys.next().unwrap_or_default()),
        );
        c.send_text("a").unwrap();
        c.send_text("a").unwrap();
        let bytes = output(&mut c);
        assert_eq!(bytes[2..6], [1, 2, 3, 4]);
        assert_eq!(bytes[9..13], [5, 6, 7, 8]);
    }

    #[test]
    fn server_shares_one_encoded_frame() {
        let frame: Arc<[u8]> = encode_frame(Opcode::Text, true, b"all", None).into();
        let mut a = server();
        let mut b = server();
        a.send_shared(Arc::clone(&frame)).unwrap();
        b.send_shared(Arc::clone(&frame)).unwrap();
        for conn in [&mut a, &mut b] {
            match conn.take_output() {
                Some(Chunk::Shared(bytes)) => assert!(Arc::ptr_eq(&bytes, &frame)),
                other => panic!("expected a shared chunk, got {other:?}"),
            }
            assert_eq!(conn.frames_out(), 1);
        }
    }

    #[test]
    fn client_cannot_send_shared_frames() {
        let mut c = client();
        let frame: Arc<[u8]> = encode_frame(Opcode::Text, true, b"x", None).into();
        assert_eq!(
            c.send_shared(frame),
            Err(SendError::SharedFrameNeedsServerRole)
        );
    }

    #[test]
    fn small_frames_coalesce_into_one_chunk_in_order() {
        let mut s = server();
        s.send_text("one").unwrap();
        s.send_binary(b"two").unwrap();
        let frame: Arc<[u8]> = encode_frame(Opcode::Text, true, b"three", None).into();
        s.send_shared(frame).unwrap();
        s.send_text("four").unwrap();

        assert_eq!(s.output.len(), 3);
        let events = sent_events(&mut s);
        let expected = [
            Event::Text("one".into()),
            Event::Binary(b"two".to_vec()),
            Event::Text("three".into()),
            Event::Text("four".into()),
        ];
        assert_eq!(events, expected);
        assert_eq!(s.frames_out(), 4);
    }
}

mod round_trip {
    use super::*;

    /// Move everything `from` queued into `to` and return `to`'s events.
    fn deliver(from: &mut Connection, to: &mut Connection) -> Vec<Event> {
        let bytes = output(from);
        feed(to, &bytes)
    }

    #[test]
    fn client_to_server_to_client_with_masking() {
        let mut c = Connection::new(Role::Client, Config::default());
        let mut s = server();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();

        c.send_text("hello, server").unwrap();
        c.send_binary(&big).unwrap();
        c.send_ping(b"are you there").unwrap();
        let at_server = deliver(&mut c, &mut s);
        let expected = [
            Event::Text("hello, server".into()),
            Event::Binary(big.clone()),
            Event::Ping(b"are you there".to_vec()),
        ];
        assert_eq!(at_server, expected);

        s.send_text("hello, client").unwrap();
        s.send_binary(&big).unwrap();
        let at_client = deliver(&mut s, &mut c);
        let expected = [
            Event::Pong(b"are you there".to_vec()),
            Event::Text("hello, client".into()),
            Event::Binary(big),
        ];
        assert_eq!(at_client, expected);
    }

    #[test]
    fn closing_handshake_started_by_the_client() {
        let mut c = Connection::new(Role::Client, Config::default());
        let mut s = server();

        c.close(1000, "bye");
        let at_server = deliver(&mut c, &mut s);
        let bye = Event::Close {
            code: Some(1000),
            reason: "bye".into(),
        };
        assert_eq!(at_server, [bye]);

        let at_client = deliver(&mut s, &mut c);
        let echo = Event::Close {
            code: Some(1000),
            reason: String::new(),
        };
        assert_eq!(at_client, [echo]);

        assert!(s.should_close_tcp(), "server closes TCP first");
        assert!(!c.should_close_tcp());
        assert!(c.on_eof());
        assert!(s.on_eof());
    }
}

#[test]
fn connection_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Connection>();
}
