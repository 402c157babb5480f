//! The event-loop server's WebSocket side over real loopback sockets: the opening handshake,
//! /echo, the /ws chat room, and the failures each earns (RFC 6455 §4, §5, §7).

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

#[test]
fn handshake_answers_the_rfc_sample_key_with_the_rfc_accept() {
    let server = start_event_loop();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(upgrade_request("/echo", SAMPLE_KEY).as_bytes())
        .unwrap();
    let (head, _) = read_head(&mut stream);

    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket\r\n"), "{head}");
    assert!(lower.contains("connection: upgrade\r\n"), "{head}");
    assert!(
        head.contains(&format!("Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n")),
        "{head}"
    );
}

#[test]
fn echo_returns_text_as_text_and_binary_as_binary_unmasked() {
    let server = start_event_loop();
    let mut peer = open_ws(server.local_addr(), "/echo");

    peer.send_text("Hello");
    let frame = peer.next_frame().unwrap();
    assert_eq!((frame.opcode, frame.fin, frame.masked), (0x1, true, false));
    assert_eq!(frame.payload, b"Hello");

    peer.send(0x2, &[0, 1, 2, 255]);
    let frame = peer.next_frame().unwrap();
    assert_eq!((frame.opcode, frame.payload), (0x2, vec![0, 1, 2, 255]));
}

#[test]
fn frame_bytes_in_the_same_write_as_the_head_are_not_dropped() {
    let server = start_event_loop();
    let mut stream = connect(server.local_addr());
    let mut bytes = upgrade_request("/echo", SAMPLE_KEY).into_bytes();
    bytes.extend(client_frame(0x1, true, b"early", [1, 2, 3, 4]));
    stream.write_all(&bytes).unwrap();

    let (head, rest) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut peer = WsPeer {
        stream,
        buffered: rest,
    };
    assert_eq!(peer.next_frame().unwrap().payload, b"early");
}

#[test]
fn large_echo_uses_the_64_bit_length_and_arrives_whole() {
    let server = start_event_loop();
    let mut peer = open_ws(server.local_addr(), "/echo");
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();

    peer.send(0x2, &payload);
    let frame = peer.next_frame().unwrap();
    assert_eq!(frame.payload.len(), payload.len());
    assert!(frame.payload == payload);
}

#[test]
fn wrong_version_gets_426_naming_version_13() {
    let server = start_event_loop();
    let mut stream = connect(server.local_addr());
    let request = upgrade_request("/echo", SAMPLE_KEY).replace("Version: 13", "Version: 8");
    stream.write_all(request.as_bytes()).unwrap();
    let (head, _) = read_head(&mut stream);

    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
}

#[test]
fn key_that_is_not_16_bytes_gets_400() {
    let server = start_event_loop();
    let mut stream = connect(server.local_addr());
    let request = upgrade_request("/ws", "c2hvcnQ=");
    stream.write_all(request.as_bytes()).unwrap();
    let (head, _) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
}

#[test]
fn plain_get_on_a_websocket_path_is_refused_with_400() {
    let server = start_event_loop();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, _) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
}

#[test]
fn unknown_path_gets_404() {
    let server = start_event_loop();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, _) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
}

/// RFC 6455 §5.1: a server MUST close the connection on an unmasked client frame (1002).
#[test]
fn unmasked_client_frame_is_failed_with_1002() {
    let server = start_event_loop();
    let mut peer = open_ws(server.local_addr(), "/echo");
    peer.stream.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();

    let close = peer.next_frame().unwrap();
    assert_eq!(close.opcode, 0x8);
    assert_eq!(close.payload[..2], 1002u16.to_be_bytes());
    assert!(peer.expect_tcp_close());
}

/// RFC 6455 §7.1.2 and §5.5.1: the server echoes the client's close code, then closes TCP.
#[test]
fn client_close_is_echoed_and_the_server_closes_tcp() {
    let server = start_event_loop();
    let mut peer = open_ws(server.local_addr(), "/echo");
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    peer.send(0x8, &payload);

    let close = peer.next_frame().unwrap();
    assert_eq!(close.opcode, 0x8);
    assert_eq!(close.payload[..2], 1000u16.to_be_bytes());
    assert!(peer.expect_tcp_close());
}

/// The live statistics count WebSocket traffic exactly: frames and bytes each way, without
/// the HTTP handshake that precedes them, and the open-connection gauge.
#[test]
fn websocket_counters_match_known_traffic() {
    let server = start_event_loop();
    let mut peer = open_ws(server.local_addr(), "/echo");
    assert_eq!(server.stats().snapshot().ws_open, 1);

    // In: "hello" masked (2 + 4 + 5) and Close 1000 masked (2 + 4 + 2).
    // Out: "hello" unmasked (2 + 5) and the echoed Close (2 + 2).
    peer.send_text("hello");
    assert_eq!(peer.next_frame().unwrap().payload, b"hello");
    peer.send(0x8, &1000u16.to_be_bytes());
    assert_eq!(peer.next_frame().unwrap().opcode, 0x8);
    assert!(peer.expect_tcp_close());

    let stats = server.stats().snapshot();
    assert_eq!((stats.ws_frames_in, stats.ws_frames_out), (2, 2));
    assert_eq!((stats.ws_bytes_in, stats.ws_bytes_out), (11 + 8, 7 + 4));
    assert_eq!(stats.ws_open, 0);
}

fn chat_json(name: &str, text: &str) -> String {
    serde_json::json!({"name": name, "text": text, "sent_at": 1_700_000_000_000.5}).to_string()
}

fn next_json(peer: &mut WsPeer) -> serde_json::Value {
    let frame = peer.next_frame().expect("a frame");
    assert_eq!(frame.opcode, 0x1, "chat frames are text");
    serde_json::from_slice(&frame.payload).unwrap()
}

#[test]
fn chat_message_is_stored_with_an_id_and_pushed_to_every_member_sender_included() {
    let server = start_event_loop();
    let mut alice = open_ws(server.local_addr(), "/ws");
    let mut bob = open_ws(server.local_addr(), "/ws");

    alice.send_text(&chat_json("Alice", "hi Bob"));
    let to_alice = next_json(&mut alice);
    let to_bob = next_json(&mut bob);

    assert_eq!(to_alice, to_bob);
    assert_eq!(to_bob["id"], 1);
    assert_eq!(to_bob["name"], "Alice");
    assert_eq!(to_bob["text"], "hi Bob");
    assert_eq!(to_bob["sent_at"], 1_700_000_000_000.5);
}

#[test]
fn invalid_chat_json_is_answered_to_the_sender_alone_and_the_connection_stays_open() {
    let server = start_event_loop();
    let mut alice = open_ws(server.local_addr(), "/ws");
    let mut bob = open_ws(server.local_addr(), "/ws");

    alice.send_text("{not json");
    let reply = next_json(&mut alice);
    assert!(reply["error"].is_string(), "{reply}");

    // The room still works for both, and Bob never saw the error.
    bob.send_text(&chat_json("Bob", "still here"));
    assert_eq!(next_json(&mut bob)["text"], "still here");
    assert_eq!(next_json(&mut alice)["text"], "still here");
}

#[test]
fn binary_message_on_the_chat_is_closed_with_1003() {
    let server = start_event_loop();
    let mut peer = open_ws(server.local_addr(), "/ws");
    peer.send(0x2, b"\x00\x01");
    let close = peer.next_frame().unwrap();
    assert_eq!(close.opcode, 0x8);
    assert_eq!(close.payload[..2], 1003u16.to_be_bytes());
}

#[test]
fn websocket_and_polling_share_one_room_and_one_id_sequence() {
    let server = start_event_loop();
    let mut member = open_ws(server.local_addr(), "/ws");

    // A POST is pushed to the WebSocket member...
    let body = chat_json("Poller", "via POST");
    let mut http = connect(server.local_addr());
    let post = format!(
        "POST /messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http.write_all(post.as_bytes()).unwrap();
    let (head, _) = read_head(&mut http);
    assert!(head.starts_with("HTTP/1.1 201 "), "{head}");
    assert_eq!(next_json(&mut member)["id"], 1);

    // ...and a WebSocket message shows up in GET /messages with the next id.
    member.send_text(&chat_json("Pusher", "via ws"));
    assert_eq!(next_json(&mut member)["id"], 2);
    http.write_all(b"GET /messages?since=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, mut body) = read_head(&mut http);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .unwrap()
        .parse()
        .unwrap();
    while body.len() < length {
        let mut chunk = [0u8; 1024];
        let n = std::io::Read::read(&mut http, &mut chunk).unwrap();
        body.extend_from_slice(&chunk[..n]);
    }
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["text"], "via ws");
    assert_eq!(listed[0]["id"], 2);
}

#[test]
fn a_reader_that_never_reads_does_not_stall_other_members() {
    let server = start_event_loop();
    let _stalled = open_ws(server.local_addr(), "/ws");
    let mut active = open_ws(server.local_addr(), "/ws");

    // About 5 MB of broadcasts: far more than the stalled member's socket buffers hold.
    for i in 0..5000 {
        active.send_text(&chat_json(
            "Active",
            &format!("message {i} {}", "x".repeat(1000)),
        ));
        assert_eq!(next_json(&mut active)["id"], i + 1);
    }
}

#[test]
fn python_websockets_client_interoperates_with_echo_and_chat() {
    let server = start_event_loop();
    let script = r#"
import asyncio, json, sys
from websockets.asyncio.client import connect

async def main(base):
    async with connect(base + "/echo", max_size=None) as ws:
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\xff" * 40000)
        assert await ws.recv() == b"\x00\xff" * 40000
        await ws.ping(b"are you there")
    async with connect(base + "/ws") as ws:
        await ws.send(json.dumps({"name": "py", "text": "hi", "sent_at": 1.0}))
        got = json.loads(await ws.recv())
        assert got["name"] == "py" and got["id"] >= 1, got
    print("interop ok")

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 20))
"#;
    run_python(
        script,
        &format!("ws://{}", server.local_addr()),
        "interop ok",
    );
}

#[test]
fn server_stops_promptly_when_shut_down() {
    let server = start_event_loop();
    let _peer = open_ws(server.local_addr(), "/ws");
    let started = std::time::Instant::now();
    server.shutdown().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// The exact exchange shown in docs/websocket.md, so the walkthrough stays true.
#[test]
fn docs_walkthrough_bytes_are_what_the_server_sends() {
    let server = start_event_loop();
    let mut peer = open_ws(server.local_addr(), "/echo");
    let exchanges: [(&[u8], &[u8]); 3] = [
        (
            &[
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        ),
        (
            &[
                0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            &[0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        ),
        (
            &[
                0x88, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x34, 0x12, 0x43, 0x44, 0x52,
            ],
            &[0x88, 0x02, 0x03, 0xe8],
        ),
    ];
    for (sent, expected) in exchanges {
        peer.stream.write_all(sent).unwrap();
        let frame = peer.next_frame().unwrap();
        let mut wire = vec![
            (frame.fin as u8) << 7 | frame.opcode,
            frame.payload.len() as u8,
        ];
        wire.extend_from_slice(&frame.payload);
        assert_eq!(wire, expected);
    }
    assert!(peer.expect_tcp_close());
}
