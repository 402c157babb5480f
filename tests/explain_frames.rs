//! `explain` on the example frames of RFC 6455 §5.7 and on one frame per
//! rule a peer can break, compared with the text kept in
//! tests/fixtures/explain/. Run with `PUSHPULL_BLESS=1` to rewrite the
//! fixtures on purpose, then review the diff.

mod common;

use common::check_fixture;
use pushpull::explain::{explain_bytes_checked, explain_bytes_with, parse_hex};
use pushpull::websocket::{DeflateParams, Role};

use Role::{Client, Server};

/// (fixture name, sender, hex bytes, whether a rule is broken).
const CASES: &[(&str, Role, &str, bool)] = &[
    // RFC 6455 §5.7, the examples in the order the RFC gives them.
    (
        "rfc_5_7_unmasked_hello",
        Server,
        "81 05 48 65 6c 6c 6f",
        false,
    ),
    (
        "rfc_5_7_masked_hello",
        Client,
        "81 85 37 fa 21 3d 7f 9f 4d 51 58",
        false,
    ),
    (
        "rfc_5_7_fragmented_hello",
        Server,
        "01 03 48 65 6c 80 02 6c 6f",
        false,
    ),
    (
        "rfc_5_7_ping_and_pong",
        Client,
        "89 85 37 fa 21 3d 7f 9f 4d 51 58 8a 85 37 fa 21 3d 7f 9f 4d 51 58",
        false,
    ),
    ("rfc_5_7_binary_256", Server, "82 7e 01 00", false),
    (
        "rfc_5_7_binary_64k",
        Server,
        "82 7f 00 00 00 00 00 01 00 00",
        false,
    ),
    (
        "close_1000_bye",
        Client,
        "88 85 37 fa 21 3d 34 12 43 44 52",
        false,
    ),
    ("handshake_request", Client, "", false),
    ("handshake_response", Server, "", false),
    // One case per rule broken.
    ("rsv_set", Client, "c1 80 00 00 00 00", true),
    ("reserved_opcode", Client, "83 80 00 00 00 00", true),
    ("fragmented_control", Client, "09 80 00 00 00 00", true),
    ("control_too_long", Server, "89 7e 00 7e", true),
    ("unmasked_from_client", Client, "81 05 48 65 6c 6c 6f", true),
    (
        "masked_from_server",
        Server,
        "81 85 37 fa 21 3d 7f 9f 4d 51 58",
        true,
    ),
    (
        "length_top_bit",
        Server,
        "82 7f 80 00 00 00 00 00 00 00",
        true,
    ),
    (
        "non_minimal_length",
        Server,
        "82 7e 00 05 48 65 6c 6c 6f",
        true,
    ),
    ("bad_close_code", Server, "88 02 03 ed", true),
    ("close_one_byte", Server, "88 01 03", true),
    ("invalid_utf8_text", Server, "81 02 c3 28", true),
    (
        "invalid_utf8_close_reason",
        Server,
        "88 04 03 e8 c3 28",
        true,
    ),
    ("continuation_without_message", Server, "80 02 6c 6f", true),
    (
        "message_started_during_fragments",
        Server,
        "01 01 41 81 01 42",
        true,
    ),
    // Input cut short, as a user may paste it: incomplete, not broken.
    ("text_cut_short", Client, "81 85 37 fa 21 3d 7f 9f", false),
    ("header_cut_short", Client, "81 85 37 fa 21", false),
    ("one_byte", Server, "82", false),
    (
        "huge_declared_length",
        Server,
        "82 7f 7f ff ff ff ff ff ff ff 00 00",
        false,
    ),
    ("handshake_version_8", Client, "", true),
    // The opening handshake agrees to permessage-deflate (RFC 7692), and the
    // frames after it are read under it.
    (
        "handshake_request_deflate",
        Client,
        "c1 87 37 fa 21 3d c5 b2 ec f4 fe fd 21",
        false,
    ),
    (
        "handshake_response_deflate",
        Server,
        "c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00",
        false,
    ),
    // The same two frames, but the server agreed to drop its window after
    // each message: the second one refers back to nothing (RFC 7692 §7.1.1.1).
    (
        "handshake_response_no_context_takeover",
        Server,
        "c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00",
        true,
    ),
    ("handshake_response_bad_window_bits", Server, "", true),
];

/// Frames copied without their handshake, explained with `--deflate`:
/// permessage-deflate with its default parameters (RFC 7692 §7.1).
const DEFLATE_CASES: &[(&str, Role, &str, bool)] = &[
    // RFC 7692 §7.2.3.1: "Hello" in one compressed frame, then in two.
    (
        "rfc_7692_7_2_3_1_hello",
        Server,
        "c1 07 f2 48 cd c9 c9 07 00",
        false,
    ),
    (
        "rfc_7692_7_2_3_1_fragmented_hello",
        Server,
        "41 03 f2 48 cd 80 04 c9 c9 07 00",
        false,
    ),
    // RFC 7692 §7.2.3.2: the second "Hello" refers back into the first.
    (
        "rfc_7692_7_2_3_2_shared_window",
        Server,
        "c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00",
        false,
    ),
    // RFC 7692 §7.2.3.3: a stored (uncompressed) DEFLATE block.
    (
        "rfc_7692_7_2_3_3_stored_block",
        Server,
        "c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00",
        false,
    ),
    (
        "deflate_masked_hello",
        Client,
        "c1 87 37 fa 21 3d c5 b2 ec f4 fe fd 21",
        false,
    ),
    (
        "deflate_uncompressed_text",
        Server,
        "81 05 48 65 6c 6c 6f",
        false,
    ),
    // One case per rule broken under permessage-deflate.
    (
        "deflate_rsv1_on_continuation",
        Server,
        "41 03 f2 48 cd c0 04 c9 c9 07 00",
        true,
    ),
    ("deflate_rsv1_on_ping", Client, "c9 80 00 00 00 00", true),
    ("deflate_rsv2_set", Server, "a1 00", true),
    ("deflate_not_deflate_data", Server, "c1 02 ff ff", true),
];

const REQUEST: &str = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

const RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// What Chromium offers, and what Python's `websockets` offers after it.
const DEFLATE_OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; \
client_max_window_bits, permessage-deflate; server_max_window_bits=10\r\n";

/// The head for a case, with the given extension header line added.
fn head_with(head: &str, extension_line: &str) -> Vec<u8> {
    let end = head.len() - 2;
    format!("{}{extension_line}\r\n", &head[..end]).into_bytes()
}

fn input(name: &str, hex: &str) -> Vec<u8> {
    let answer = |value: &str| format!("Sec-WebSocket-Extensions: {value}\r\n");
    let mut bytes = match name {
        "handshake_request" => REQUEST.as_bytes().to_vec(),
        "handshake_response" => RESPONSE.as_bytes().to_vec(),
        "handshake_version_8" => REQUEST.replace("Version: 13", "Version: 8").into_bytes(),
        "handshake_request_deflate" => head_with(REQUEST, DEFLATE_OFFER),
        "handshake_response_deflate" => head_with(RESPONSE, &answer("permessage-deflate")),
        "handshake_response_no_context_takeover" => head_with(
            RESPONSE,
            &answer("permessage-deflate; server_no_context_takeover"),
        ),
        "handshake_response_bad_window_bits" => head_with(
            RESPONSE,
            &answer("permessage-deflate; server_max_window_bits=7"),
        ),
        _ => Vec::new(),
    };
    bytes.extend(parse_hex(hex).unwrap());
    // The §5.7 length examples carry their payload: 256 and 65536 bytes.
    let pad = match name {
        "rfc_5_7_binary_256" => 256,
        "rfc_5_7_binary_64k" => 65536,
        _ => 0,
    };
    bytes.extend((0..pad).map(|i| i as u8));
    bytes
}

#[test]
fn explanations_match_the_fixtures() {
    for &(name, sender, hex, broken) in CASES {
        let explanation = explain_bytes_checked(&input(name, hex), sender);
        assert_eq!(explanation.broken, broken, "{name}:\n{}", explanation.text);
        check_fixture(name, &explanation.text);
    }
}

#[test]
fn compressed_frames_match_the_fixtures_rfc_7692_section_7_2_3() {
    for &(name, sender, hex, broken) in DEFLATE_CASES {
        let bytes = parse_hex(hex).unwrap();
        let explanation = explain_bytes_with(&bytes, sender, Some(DeflateParams::default()));
        assert_eq!(explanation.broken, broken, "{name}:\n{}", explanation.text);
        check_fixture(name, &explanation.text);
    }
}

#[test]
fn every_rfc_7692_example_inflates_to_hello_section_7_2_3() {
    for &(name, sender, hex, _) in &DEFLATE_CASES[..5] {
        let bytes = parse_hex(hex).unwrap();
        let text = explain_bytes_with(&bytes, sender, Some(DeflateParams::default())).text;
        let whole = text.contains("\"Hello\", valid UTF-8, message complete");
        let in_two = text.contains("\"He\", valid UTF-8 so far") && text.contains("\"llo\"");
        assert!(whole || in_two, "{name}:\n{text}");
    }
}

#[test]
fn rsv1_where_deflate_forbids_it_is_1002_rfc_7692_section_6_1() {
    for name in ["deflate_rsv1_on_continuation", "deflate_rsv1_on_ping"] {
        let &(_, sender, hex, _) = DEFLATE_CASES.iter().find(|c| c.0 == name).unwrap();
        let bytes = parse_hex(hex).unwrap();
        let text = explain_bytes_with(&bytes, sender, Some(DeflateParams::default())).text;
        assert!(
            text.contains("RFC 7692 §6.1, RFC 6455 §5.2"),
            "{name}:\n{text}"
        );
        assert!(text.contains("connection with 1002"), "{name}:\n{text}");
    }
}

#[test]
fn without_deflate_rsv1_is_broken_and_the_flag_is_named() {
    let bytes = parse_hex("c1 07 f2 48 cd c9 c9 07 00").unwrap();
    let explanation = explain_bytes_checked(&bytes, Server);
    assert!(explanation.broken);
    assert!(
        explanation.text.contains("--deflate"),
        "{}",
        explanation.text
    );

    // With the handshake in the bytes and no extension in it, RSV1 is just
    // broken: the handshake already said no extension was agreed.
    let mut with_handshake = RESPONSE.as_bytes().to_vec();
    with_handshake.extend(&bytes);
    let text = explain_bytes_checked(&with_handshake, Server).text;
    assert!(text.contains("connection with 1002") && !text.contains("--deflate"));
}

#[test]
fn no_line_is_wider_than_100_columns() {
    let deflate = DEFLATE_CASES.iter().map(|&(name, sender, hex, _)| {
        let bytes = parse_hex(hex).unwrap();
        let params = Some(DeflateParams::default());
        (name, explain_bytes_with(&bytes, sender, params).text)
    });
    let plain = CASES.iter().map(|&(name, sender, hex, _)| {
        (name, explain_bytes_checked(&input(name, hex), sender).text)
    });
    for (name, text) in plain.chain(deflate) {
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "{name}: {line}");
        }
    }
}

#[test]
fn each_broken_rule_names_its_close_code_rfc_6455_section_7_4_1() {
    let expected = [
        ("rsv_set", "1002"),
        ("unmasked_from_client", "1002"),
        ("invalid_utf8_text", "1007"),
        ("invalid_utf8_close_reason", "1007"),
    ];
    for (name, code) in expected {
        let &(_, sender, hex, _) = CASES.iter().find(|c| c.0 == name).unwrap();
        let text = explain_bytes_checked(&input(name, hex), sender).text;
        assert!(
            text.contains(&format!("connection with {code}")),
            "{name}:\n{text}"
        );
    }
}

#[test]
fn a_frame_cut_short_is_incomplete_not_broken() {
    let explanation = explain_bytes_checked(&[0x81, 0x85, 0x37, 0xfa], Client);
    assert!(!explanation.broken, "{}", explanation.text);
    assert!(
        explanation
            .text
            .contains("(the bytes end inside the header)")
    );
    assert!(
        explanation
            .text
            .ends_with("4 bytes left at the end: the start of a frame that is not complete\n\n")
    );
}

/// A small xorshift generator: the same "random" inputs on every run.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn odd_inputs_never_make_explain_panic() {
    // Every prefix of every case, as if a paste stopped early, with and
    // without --deflate.
    for &(name, _, hex, _) in CASES.iter().chain(DEFLATE_CASES) {
        let bytes = input(name, hex);
        for end in 0..=bytes.len().min(300) {
            for sender in [Client, Server] {
                let _ = explain_bytes_checked(&bytes[..end], sender);
                let _ = explain_bytes_with(&bytes[..end], sender, Some(DeflateParams::default()));
            }
        }
    }

    // Random bytes, biased toward the values that matter in a header.
    let mut state = 0x5eed_u64;
    for _ in 0..20_000 {
        let len = (next_random(&mut state) % 40) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| match next_random(&mut state) % 4 {
                0 => 0x7f,
                1 => 0xff,
                _ => next_random(&mut state) as u8,
            })
            .collect();
        for sender in [Client, Server] {
            let explanation = explain_bytes_checked(&bytes, sender);
            assert_eq!(
                explanation.text.is_empty(),
                bytes.is_empty(),
                "{bytes:02x?}"
            );
            let _ = explain_bytes_with(&bytes, sender, Some(DeflateParams::default()));
        }
    }
}
