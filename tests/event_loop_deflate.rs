//! permessage-deflate (RFC 7692) on the event-loop server over real loopback sockets: the
//! negotiation in the opening handshake, the RFC's "Hello" bytes both ways, a decompression bomb
//! refused with 1009, and `--no-deflate`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::*;
use pushpull::server::event_loop::EventLoopConfig;
use pushpull::websocket::deflate::PerMessageDeflate;
use pushpull::websocket::{DeflateParams, Role};

/// RFC 7692 §7.2.3.1: "Hello" compressed, sync flush tail removed.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// RFC 7692 §6: RSV1 marks the first frame of a compressed message.
const RSV1: u8 = 0x40;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Open a WebSocket on `path` offering what Chromium offers.
fn open_offering_deflate(addr: SocketAddr, path: &str) -> (String, WsPeer) {
    let mut stream = connect(addr);
    let request = upgrade_request(path, SAMPLE_KEY).replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    );
    stream.write_all(request.as_bytes()).unwrap();
    let (head, rest) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let peer = WsPeer {
        stream,
        buffered: rest,
    };
    (head, peer)
}

fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    stream.read_exact(&mut bytes).unwrap();
    bytes
}

#[test]
fn offer_is_accepted_and_hello_echoes_as_the_rfc_bytes_rfc_7692_section_7_2_3_1() {
    let server = start_event_loop();
    let (head, mut peer) = open_offering_deflate(server.local_addr(), "/echo");
    assert!(
        head.contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        "{head}"
    );

    let frame = client_frame(RSV1 | 0x1, true, &HELLO, KEY);
    peer.stream.write_all(&frame).unwrap();
    assert!(peer.buffered.is_empty());
    let mut expected = vec![0xc1, 0x07];
    expected.extend_from_slice(&HELLO);
    assert_eq!(read_exactly(&mut peer.stream, expected.len()), expected);
}

#[test]
fn chat_accepts_the_browser_offer_and_reads_compressed_json() {
    let server = start_event_loop();
    let (head, mut peer) = open_offering_deflate(server.local_addr(), "/ws");
    assert!(head.contains("permessage-deflate"), "{head}");

    let json = r#"{"name":"ada","text":"squeezed","sent_at":1}"#;
    let mut deflate = PerMessageDeflate::new(Role::Client, DeflateParams::default());
    let frame = client_frame(RSV1 | 0x1, true, &deflate.compress(json.as_bytes()), KEY);
    peer.stream.write_all(&frame).unwrap();

    // The broadcast goes out uncompressed (RSV1 clear): one frame for all.
    let frame = peer.next_frame().unwrap();
    assert_eq!(frame.opcode, 0x1);
    let pushed: serde_json::Value = serde_json::from_slice(&frame.payload).unwrap();
    assert_eq!(pushed["text"], "squeezed");
}

#[test]
fn decompression_bomb_is_closed_with_1009_rfc_6455_section_10_4() {
    let mut config = EventLoopConfig {
        quiet: true,
        ..EventLoopConfig::default()
    };
    config.echo.max_message_size = 1 << 20;
    let server = start_event_loop_with(config);
    let (_, mut peer) = open_offering_deflate(server.local_addr(), "/echo");

    // 8 MiB of zeros take about 8 KiB on the wire: small enough to arrive in
    // one read, so the server closes with nothing unread (no reset).
    let mut deflate = PerMessageDeflate::new(Role::Client, DeflateParams::default());
    let bomb = deflate.compress(&vec![0u8; 8 << 20]);
    assert!(bomb.len() < 16 << 10, "{} bytes on the wire", bomb.len());
    peer.stream
        .write_all(&client_frame(RSV1 | 0x2, true, &bomb, KEY))
        .unwrap();

    let close = peer.next_frame().unwrap();
    assert_eq!(close.opcode, 0x8);
    assert_eq!(close.payload[..2], 1009u16.to_be_bytes());
}

#[test]
fn with_deflate_off_the_offer_is_declined_and_rsv1_fails_with_1002() {
    let server = start_event_loop_with(EventLoopConfig {
        quiet: true,
        deflate: false,
        ..EventLoopConfig::default()
    });
    let (head, mut peer) = open_offering_deflate(server.local_addr(), "/echo");
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");

    let frame = client_frame(RSV1 | 0x1, true, &HELLO, KEY);
    peer.stream.write_all(&frame).unwrap();
    let close = peer.next_frame().unwrap();
    assert_eq!(close.opcode, 0x8);
    assert_eq!(close.payload[..2], 1002u16.to_be_bytes());
}
