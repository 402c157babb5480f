//! permessage-deflate tests: the header grammar, the negotiation of RFC 7692
//! §7.1 from both ends, the examples of RFC 7692 §7.2.3, and the codec inside
//! a `Connection` (RSV1 rules, size limit on inflated bytes, UTF-8).

use super::*;
use crate::websocket::connection::{Config, Connection, Event};
use crate::websocket::frame::{Opcode, RSV1, encode_frame};

/// RFC 7692 §7.2.3.1: "Hello" compressed in one DEFLATE block (fixed
/// Huffman codes), sync flush tail removed.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// RFC 7692 §7.2.3.2: the second "Hello" of a message pair sharing the LZ77
/// window: a back-reference to the first.
const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];
/// RFC 7692 §7.2.3.3: "Hello" in a DEFLATE block with no compression.
const HELLO_STORED: [u8; 11] = [
    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
];
/// RFC 7692 §7.2.3.4: "Hello" in a block with BFINAL set.
const HELLO_FINAL: [u8; 7] = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// RFC 7692 §7.2.3.5: "He" and "llo" in two DEFLATE blocks, the first
/// ended by a sync flush that stays in the payload.
const HELLO_TWO_BLOCKS: [u8; 13] = [
    0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
];

/// The masking key of the RFC 6455 §5.7 examples.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn offer(value: &str) -> Option<(DeflateParams, String)> {
    accept_offer([value.as_bytes()])
}

fn response(value: &str) -> Result<Option<DeflateParams>, NegotiationError> {
    check_response([value.as_bytes()])
}

/// Inflate one whole message's payload.
fn inflate(codec: &mut PerMessageDeflate, payload: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    let mut sink = |bytes: &[u8]| {
        out.extend_from_slice(bytes);
        Ok(())
    };
    codec.decompress(payload, &mut sink)?;
    codec.finish_message(&mut sink)?;
    Ok(out)
}

// ----- the header grammar ------------------------------------------------------

mod grammar {
    use super::*;

    #[test]
    fn several_offers_with_and_without_values_rfc_6455_section_9_1() {
        let list = parse_extensions([
            b"permessage-deflate; client_max_window_bits, foo".as_slice(),
            b"permessage-deflate;server_max_window_bits=10 ; client_no_context_takeover",
        ])
        .unwrap();
        let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["permessage-deflate", "foo", "permessage-deflate"]);
        assert_eq!(
            list[0].params,
            [("client_max_window_bits".to_owned(), None)]
        );
        assert!(list[1].params.is_empty());
        assert_eq!(
            list[2].params,
            [
                ("server_max_window_bits".to_owned(), Some("10".to_owned())),
                ("client_no_context_takeover".to_owned(), None),
            ]
        );
    }

    #[test]
    fn quoted_values_are_unquoted_rfc_9110_section_5_6_4() {
        let list = parse_extensions([br#"x; a="10"; b="q\"d""#.as_slice()]).unwrap();
        assert_eq!(list[0].params[0].1.as_deref(), Some("10"));
        assert_eq!(list[0].params[1].1.as_deref(), Some("q\"d"));
    }

    #[test]
    fn empty_list_elements_are_ignored_rfc_9110_section_5_6_1() {
        let list = parse_extensions([b" , permessage-deflate ,, ".as_slice()]).unwrap();
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn broken_lists_are_refused() {
        for value in [
            "permessage-deflate;",
            "permessage-deflate; =10",
            "permessage-deflate; a=",
            "permessage-deflate; a=\"10",
            "permessage-deflate x",
            "; a",
            "permessage-deflate; a=b c",
        ] {
            assert!(parse_extensions([value.as_bytes()]).is_err(), "{value:?}");
        }
    }
}

// ----- the server's choice ------------------------------------------------------

mod server_negotiation {
    use super::*;

    #[test]
    fn bare_offer_is_accepted_with_the_defaults_rfc_7692_section_5_1() {
        let (params, answer) = offer("permessage-deflate").unwrap();
        assert_eq!(params, DeflateParams::default());
        assert_eq!(answer, "permessage-deflate");
    }

    #[test]
    fn browser_offer_is_accepted() {
        let (params, answer) = offer("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(params, DeflateParams::default());
        assert_eq!(answer, "permessage-deflate");
    }

    #[test]
    fn server_parameters_are_granted_as_offered_rfc_7692_section_7_1() {
        let (params, answer) =
            offer("permessage-deflate; server_no_context_takeover; server_max_window_bits=\"9\"")
                .unwrap();
        assert!(params.server_no_context_takeover);
        assert_eq!(params.server_max_window_bits, 9);
        assert_eq!(
            answer,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"
        );
    }

    #[test]
    fn client_hints_ask_nothing_of_us_rfc_7692_section_7_1_1_2() {
        let (params, answer) =
            offer("permessage-deflate; client_no_context_takeover; client_max_window_bits=10")
                .unwrap();
        assert_eq!(params, DeflateParams::default());
        assert_eq!(answer, "permessage-deflate");
    }

    #[test]
    fn unknown_extensions_are_ignored_rfc_6455_section_9_1() {
        let (_, answer) = offer("x-webkit-deflate-frame, permessage-deflate").unwrap();
        assert_eq!(answer, "permessage-deflate");
        assert_eq!(offer("x-webkit-deflate-frame"), None);
    }

    #[test]
    fn first_acceptable_offer_wins_rfc_7692_section_5_1() {
        let (params, answer) = offer(
            "permessage-deflate; server_max_window_bits=16, \
             permessage-deflate; server_max_window_bits=12, \
             permessage-deflate",
        )
        .unwrap();
        assert_eq!(params.server_max_window_bits, 12);
        assert_eq!(answer, "permessage-deflate; server_max_window_bits=12");
    }

    #[test]
    fn offers_on_separate_header_lines_are_one_list() {
        let (params, _) = accept_offer([
            b"permessage-deflate; mystery".as_slice(),
            b"permessage-deflate; server_no_context_takeover",
        ])
        .unwrap();
        assert!(params.server_no_context_takeover);
    }

    #[test]
    fn invalid_parameters_decline_the_offer_rfc_7692_section_7_1() {
        for value in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; mystery",
            "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
        ] {
            assert_eq!(offer(value), None, "{value:?}");
        }
    }

    #[test]
    fn broken_header_declines_every_offer() {
        assert_eq!(offer("permessage-deflate, ;"), None);
    }
}

// ----- the client's check of the answer --------------------------------------------

mod client_negotiation {
    use super::*;

    #[test]
    fn no_answer_means_no_compression_rfc_7692_section_5_1() {
        assert_eq!(check_response([]), Ok(None));
    }

    #[test]
    fn bare_answer_keeps_our_hint_rfc_7692_section_7_1_1_2() {
        let params = response("permessage-deflate").unwrap().unwrap();
        assert!(params.client_no_context_takeover);
        assert!(!params.server_no_context_takeover);
        assert_eq!(params.client_max_window_bits, 15);
        assert_eq!(params.server_max_window_bits, 15);
    }

    #[test]
    fn agreed_params_add_no_hint_of_ours_rfc_7692_section_7_1_1_2() {
        let agreed = |value: &str| agreed_params([value.as_bytes()]).unwrap().unwrap();
        assert_eq!(agreed("permessage-deflate"), DeflateParams::default());
        let answered = agreed("permessage-deflate; client_no_context_takeover");
        assert!(answered.client_no_context_takeover);
        assert!(
            agreed_params([b"permessage-deflate; server_max_window_bits=7".as_slice()]).is_err()
        );
    }

    #[test]
    fn every_parameter_is_honoured_rfc_7692_section_7_1() {
        let params = response(
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits=9; client_no_context_takeover",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            params,
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 10,
                client_max_window_bits: 9,
            }
        );
    }

    #[test]
    fn invalid_answers_fail_the_connection_rfc_7692_section_5_1() {
        for value in [
            // §7.1.2.2: a response's client_max_window_bits needs a value.
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=20",
            "permessage-deflate; mystery",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "x-webkit-deflate-frame",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate;",
        ] {
            assert!(response(value).is_err(), "{value:?}");
        }
    }
}

// ----- the examples of RFC 7692 §7.2.3 --------------------------------------------

mod rfc_examples {
    use super::*;

    fn server_codec(params: DeflateParams) -> PerMessageDeflate {
        PerMessageDeflate::new(Role::Server, params)
    }

    #[test]
    fn hello_compressed_in_one_block_rfc_7692_section_7_2_3_1() {
        let mut codec = server_codec(DeflateParams::default());
        assert_eq!(codec.compress(b"Hello"), HELLO);
        let mut codec = server_codec(DeflateParams::default());
        assert_eq!(inflate(&mut codec, &HELLO).unwrap(), b"Hello");
    }

    #[test]
    fn second_hello_shares_the_window_rfc_7692_section_7_2_3_2() {
        let mut codec = server_codec(DeflateParams::default());
        assert_eq!(codec.compress(b"Hello"), HELLO);
        assert_eq!(codec.compress(b"Hello"), HELLO_AGAIN);

        let mut codec = server_codec(DeflateParams::default());
        assert_eq!(inflate(&mut codec, &HELLO).unwrap(), b"Hello");
        assert_eq!(inflate(&mut codec, &HELLO_AGAIN).unwrap(), b"Hello");
    }

    #[test]
    fn no_context_takeover_starts_each_message_afresh_rfc_7692_section_7_1_1() {
        let params = DeflateParams {
            server_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let mut codec = server_codec(params);
        assert_eq!(codec.compress(b"Hello"), HELLO);
        assert_eq!(codec.compress(b"Hello"), HELLO);

        // The client's messages to this server may not refer back either:
        // after the first message its window is gone.
        let params = DeflateParams {
            client_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let mut codec = server_codec(params);
        assert_eq!(inflate(&mut codec, &HELLO).unwrap(), b"Hello");
        assert_eq!(
            inflate(&mut codec, &HELLO_AGAIN),
            Err(ProtocolError::InvalidCompressedData)
        );
    }

    #[test]
    fn block_with_no_compression_rfc_7692_section_7_2_3_3() {
        let mut codec = server_codec(DeflateParams::default());
        assert_eq!(inflate(&mut codec, &HELLO_STORED).unwrap(), b"Hello");
    }

    #[test]
    fn block_with_bfinal_set_rfc_7692_section_7_2_3_4() {
        let mut codec = server_codec(DeflateParams::default());
        assert_eq!(inflate(&mut codec, &HELLO_FINAL).unwrap(), b"Hello");
        // A byte after the final block decodes to nothing.
        let mut padded = HELLO_FINAL.to_vec();
        padded.push(0x00);
        assert_eq!(inflate(&mut codec, &padded).unwrap(), b"Hello");
        // The next message starts a fresh stream.
        assert_eq!(inflate(&mut codec, &HELLO).unwrap(), b"Hello");
    }

    #[test]
    fn two_blocks_in_one_message_rfc_7692_section_7_2_3_5() {
        let mut codec = server_codec(DeflateParams::default());
        assert_eq!(inflate(&mut codec, &HELLO_TWO_BLOCKS).unwrap(), b"Hello");
    }

    #[test]
    fn empty_message_round_trips_rfc_7692_section_7_2_3_6() {
        let mut sender = server_codec(DeflateParams::default());
        let mut receiver = PerMessageDeflate::new(Role::Client, DeflateParams::default());
        let compressed = sender.compress(b"");
        assert!(!compressed.ends_with(&SYNC_FLUSH_TAIL));
        assert_eq!(inflate(&mut receiver, &compressed).unwrap(), b"");
        // §7.2.3.6: an empty stored block alone, the single byte 0x00.
        assert_eq!(inflate(&mut receiver, &[0x00]).unwrap(), b"");
        assert_eq!(inflate(&mut receiver, &HELLO).unwrap(), b"Hello");
    }
}

// ----- the codec -------------------------------------------------------------------

mod codec {
    use super::*;

    #[test]
    fn every_window_size_round_trips_rfc_7692_section_7_1_2() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| (i % 700).to_be_bytes())
            .collect();
        for bits in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
            let params = DeflateParams {
                server_max_window_bits: bits,
                client_max_window_bits: bits,
                ..DeflateParams::default()
            };
            let mut sender = PerMessageDeflate::new(Role::Server, params);
            let mut receiver = PerMessageDeflate::new(Role::Client, params);
            for _ in 0..3 {
                let compressed = sender.compress(&text);
                assert!(compressed.len() < text.len(), "window bits {bits}");
                assert_eq!(inflate(&mut receiver, &compressed).unwrap(), text);
            }
        }
    }

    #[test]
    fn inflated_bytes_come_in_bounded_chunks() {
        let zeros = vec![0u8; 4 << 20];
        let compressed =
            PerMessageDeflate::new(Role::Server, DeflateParams::default()).compress(&zeros);
        assert!(compressed.len() < 10_000, "{} bytes", compressed.len());

        let mut receiver = PerMessageDeflate::new(Role::Client, DeflateParams::default());
        let (mut total, mut largest) = (0, 0);
        let mut sink = |bytes: &[u8]| {
            total += bytes.len();
            largest = largest.max(bytes.len());
            Ok(())
        };
        receiver.decompress(&compressed, &mut sink).unwrap();
        receiver.finish_message(&mut sink).unwrap();
        assert_eq!(total, zeros.len());
        assert!(largest <= INFLATE_CHUNK);
    }

    #[test]
    fn garbage_does_not_inflate() {
        let mut codec = PerMessageDeflate::new(Role::Server, DeflateParams::default());
        // BTYPE 11 is reserved (RFC 1951 §3.2.3).
        assert_eq!(
            inflate(&mut codec, &[0xff, 0xff, 0xff]),
            Err(ProtocolError::InvalidCompressedData)
        );
    }
}

// ----- inside a connection -------------------------------------------------------

mod connection {
    use super::*;
    use crate::websocket::frame::encode_frame_with_rsv_into;

    fn deflating(role: Role, config: Config) -> Connection {
        let keys = Box::new(|| KEY);
        Connection::with_mask_keys(role, config, keys).with_deflate(DeflateParams::default())
    }

    fn server() -> Connection {
        deflating(Role::Server, Config::default())
    }

    /// A frame as a client sends it, with the given RSV bits.
    fn masked(opcode: Opcode, fin: bool, rsv: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame_with_rsv_into(&mut out, opcode, fin, rsv, payload, Some(KEY));
        out
    }

    fn feed(conn: &mut Connection, bytes: &[u8]) -> Vec<Event> {
        conn.receive(bytes);
        let mut events = Vec::new();
        while let Some(event) = conn.next_event() {
            events.push(event);
        }
        events
    }

    fn output(conn: &mut Connection) -> Vec<u8> {
        let mut bytes = Vec::new();
        while let Some(chunk) = conn.take_output() {
            bytes.extend_from_slice(chunk.as_ref());
        }
        bytes
    }

    fn failure_code(events: &[Event]) -> u16 {
        match events {
            [Event::Failed(error)] => error.close_code().0,
            other => panic!("expected one Failed event, got {other:?}"),
        }
    }

    #[test]
    fn server_sends_the_rfc_frame_for_hello_rfc_7692_section_7_2_3_1() {
        let mut server = server();
        server.send_text("Hello").unwrap();
        let mut expected = vec![0xc1, 0x07];
        expected.extend_from_slice(&HELLO);
        assert_eq!(output(&mut server), expected);
    }

    #[test]
    fn server_reads_a_compressed_hello_rfc_7692_section_6() {
        let mut server = server();
        let events = feed(&mut server, &masked(Opcode::Text, true, RSV1, &HELLO));
        assert_eq!(events, [Event::Text("Hello".into())]);
        let events = feed(&mut server, &masked(Opcode::Text, true, RSV1, &HELLO_AGAIN));
        assert_eq!(events, [Event::Text("Hello".into())]);
    }

    #[test]
    fn uncompressed_messages_still_pass_rfc_7692_section_6() {
        let mut server = server();
        let events = feed(&mut server, &masked(Opcode::Binary, true, 0, b"raw"));
        assert_eq!(events, [Event::Binary(b"raw".to_vec())]);
    }

    #[test]
    fn fragments_carry_rsv1_on_the_first_frame_only_rfc_7692_section_6_1() {
        let mut server = server();
        let mut wire = masked(Opcode::Text, false, RSV1, &HELLO_TWO_BLOCKS[..3]);
        wire.extend(masked(Opcode::Continuation, false, 0, &[]));
        wire.extend(masked(
            Opcode::Continuation,
            true,
            0,
            &HELLO_TWO_BLOCKS[3..],
        ));
        assert_eq!(feed(&mut server, &wire), [Event::Text("Hello".into())]);
    }

    #[test]
    fn rsv1_on_a_continuation_fails_with_1002_rfc_7692_section_6_1() {
        let mut server = server();
        let mut wire = masked(Opcode::Text, false, RSV1, &HELLO[..3]);
        wire.extend(masked(Opcode::Continuation, true, RSV1, &HELLO[3..]));
        assert_eq!(failure_code(&feed(&mut server, &wire)), 1002);
    }

    #[test]
    fn rsv1_on_a_control_frame_fails_with_1002_rfc_7692_section_6_1() {
        let mut server = server();
        let wire = masked(Opcode::Ping, true, RSV1, b"");
        assert_eq!(failure_code(&feed(&mut server, &wire)), 1002);
    }

    #[test]
    fn rsv2_and_rsv3_still_fail_with_1002_rfc_6455_section_5_2() {
        for rsv in [0b010, 0b001, 0b110] {
            let mut server = server();
            let wire = masked(Opcode::Text, true, rsv, &HELLO);
            assert_eq!(
                failure_code(&feed(&mut server, &wire)),
                1002,
                "rsv {rsv:#05b}"
            );
        }
    }

    #[test]
    fn rsv1_without_the_extension_fails_with_1002_rfc_6455_section_5_2() {
        let mut plain = Connection::new(Role::Server, Config::default());
        let wire = masked(Opcode::Text, true, RSV1, &HELLO);
        assert_eq!(failure_code(&feed(&mut plain, &wire)), 1002);
    }

    #[test]
    fn our_control_frames_are_never_compressed_rfc_7692_section_6_1() {
        let mut server = server();
        server.send_ping(b"ping").unwrap();
        server.close(1000, "");
        assert_eq!(
            output(&mut server),
            [
                encode_frame(Opcode::Ping, true, b"ping", None),
                encode_frame(Opcode::Close, true, &[0x03, 0xe8], None),
            ]
            .concat()
        );
    }

    #[test]
    fn bomb_fails_with_1009_on_its_inflated_size_rfc_6455_section_10_4() {
        let limit = 64 << 10;
        let config = Config {
            max_message_size: limit,
            ..Config::default()
        };
        let mut server = deflating(Role::Server, config);
        let bomb = PerMessageDeflate::new(Role::Client, DeflateParams::default())
            .compress(&vec![0u8; 8 << 20]);
        assert!(bomb.len() < limit / 4, "{} bytes on the wire", bomb.len());

        let events = feed(&mut server, &masked(Opcode::Binary, true, RSV1, &bomb));
        assert_eq!(
            events,
            [Event::Failed(ProtocolError::MessageTooBig { limit })]
        );
    }

    #[test]
    fn invalid_utf8_after_inflating_fails_with_1007_rfc_6455_section_8_1() {
        let mut server = server();
        let bad = PerMessageDeflate::new(Role::Client, DeflateParams::default())
            .compress(&[b'a', 0xff, b'b']);
        let events = feed(&mut server, &masked(Opcode::Text, true, RSV1, &bad));
        assert_eq!(failure_code(&events), 1007);
    }

    #[test]
    fn data_that_does_not_inflate_fails_with_1007() {
        let mut server = server();
        let events = feed(&mut server, &masked(Opcode::Binary, true, RSV1, &[0xff; 4]));
        assert_eq!(failure_code(&events), 1007);
    }

    #[test]
    fn client_and_server_talk_compressed_both_ways() {
        let params = check_response([b"permessage-deflate; server_max_window_bits=9".as_slice()])
            .unwrap()
            .unwrap();
        let mut client = Connection::new(Role::Client, Config::default()).with_deflate(params);
        let mut server = Connection::new(Role::Server, Config::default()).with_deflate(params);
        let text = "a fairly repetitive line of chat, ".repeat(200);
        for _ in 0..3 {
            client.send_text(&text).unwrap();
            let wire = output(&mut client);
            assert!(wire.len() < text.len() / 4);
            assert_eq!(feed(&mut server, &wire), [Event::Text(text.clone())]);

            server.send_binary(text.as_bytes()).unwrap();
            let wire = output(&mut server);
            assert_eq!(
                feed(&mut client, &wire),
                [Event::Binary(text.clone().into_bytes())]
            );
        }
    }
}
