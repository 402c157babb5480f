//! `explain` on capture files: a real session with our server on 127.0.0.1,
//! written as pcap (ETHERNET) and pcapng (LINUX_SLL2) from synthetic TCP
//! packets, with a split request, a retransmit and an out-of-order segment.
//! The expected text is tests/fixtures/explain/capture_echo.txt
//! (`PUSHPULL_BLESS=1` rewrites it).

mod common;

use std::borrow::Cow;
use std::io::{Read, Write};
use std::time::Duration;

use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pushpull::explain::{explain_capture, explain_capture_bytes, is_capture};

const CLIENT: ([u8; 4], u16) = ([127, 0, 0, 1], 50312);
const SERVER: ([u8; 4], u16) = ([127, 0, 0, 1], 8080);
const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 5000;
/// LINUX_SLL2 header: protocol 0x0800 (IPv4), then interface, type, address.
const SLL2_HEADER: [u8; 20] = [8, 0, 0, 0, 0, 0, 0, 1, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];

/// One TCP segment of the session: who sent it, its flags and payload.
struct Tcp {
    from_client: bool,
    seq: u32,
    syn: bool,
    fin: bool,
    payload: Vec<u8>,
}

/// Talk to our server: the upgrade, a masked "Hello", a Close; keep what
/// each side sent.
fn real_session() -> (Vec<u8>, Vec<u8>) {
    let server = common::start_event_loop();
    let mut stream = common::connect(server.local_addr());
    let mut sent = common::upgrade_request("/echo", common::SAMPLE_KEY).into_bytes();
    let key = [0x37, 0xfa, 0x21, 0x3d];
    sent.extend(common::client_frame(0x1, true, b"Hello", key));
    sent.extend(common::client_frame(0x8, true, b"\x03\xe8bye", key));
    stream.write_all(&sent).unwrap();

    // The server closes TCP after the closing handshake (RFC 6455 §7.1.1).
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    server.shutdown().unwrap();
    (sent, received)
}

/// The segments of the session in capture order.
fn segments(sent: &[u8], received: &[u8]) -> Vec<Tcp> {
    let seg = |from_client, seq, payload: &[u8]| Tcp {
        from_client,
        seq,
        syn: false,
        fin: false,
        payload: payload.to_vec(),
    };
    let c = CLIENT_ISN + 1;
    let s = SERVER_ISN + 1;
    let head_end = common::find(received, b"\r\n\r\n").unwrap() + 4;
    let (first, rest) = sent.split_at(40);
    let (request_rest, frames) = rest.split_at(common::find(sent, b"\r\n\r\n").unwrap() + 4 - 40);
    let (hello, close) = frames.split_at(11);
    let frames_at = c + (first.len() + request_rest.len()) as u32;
    vec![
        Tcp {
            syn: true,
            ..seg(true, CLIENT_ISN, b"")
        },
        Tcp {
            syn: true,
            ..seg(false, SERVER_ISN, b"")
        },
        seg(true, c, first),
        // A retransmit of the first piece, then the close before the hello.
        seg(true, c, first),
        seg(true, c + first.len() as u32, request_rest),
        seg(false, s, &received[..head_end]),
        seg(true, frames_at + 11, close),
        seg(true, frames_at, hello),
        seg(false, s + head_end as u32, &received[head_end..]),
        Tcp {
            fin: true,
            ..seg(false, s + received.len() as u32, b"")
        },
    ]
}

/// The IPv4 and TCP headers and payload of a segment.
fn ip_packet(tcp: &Tcp, ethernet: bool) -> Vec<u8> {
    let ((src, sport), (dst, dport)) = match tcp.from_client {
        true => (CLIENT, SERVER),
        false => (SERVER, CLIENT),
    };
    let mut out = Vec::new();
    let step = match ethernet {
        true => PacketBuilder::ethernet2([0; 6], [0; 6]).ipv4(src, dst, 64),
        false => PacketBuilder::ipv4(src, dst, 64),
    };
    let mut step = step.tcp(sport, dport, tcp.seq, 65535);
    if tcp.syn {
        step = step.syn();
    }
    if tcp.fin {
        step = step.fin();
    }
    if !(tcp.syn && tcp.from_client) {
        step = step.ack(1);
    }
    step.write(&mut out, &tcp.payload).unwrap();
    out
}

fn write_pcap(session: &[Tcp]) -> Vec<u8> {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (i, tcp) in session.iter().enumerate() {
        let data = ip_packet(tcp, true);
        let packet = PcapPacket::new(Duration::from_millis(i as u64), data.len() as u32, &data);
        writer.write_packet(&packet).unwrap();
    }
    writer.into_writer()
}

fn write_pcapng_sll2(session: &[Tcp]) -> Vec<u8> {
    let mut writer = PcapNgWriter::new(Vec::new()).unwrap();
    let interface = InterfaceDescriptionBlock::new(DataLink::LINUX_SLL2, 0xFFFF);
    writer.write_pcapng_block(interface).unwrap();
    for (i, tcp) in session.iter().enumerate() {
        let mut data = SLL2_HEADER.to_vec();
        data.extend(ip_packet(tcp, false));
        let block = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_millis(i as u64),
            original_len: data.len() as u32,
            data: Cow::Owned(data),
            options: vec![],
        };
        writer.write_pcapng_block(block).unwrap();
    }
    writer.into_inner()
}

#[test]
fn pcap_of_a_real_echo_session_is_explained_in_order() {
    let (sent, received) = real_session();
    let session = segments(&sent, &received);
    let pcap = write_pcap(&session);
    assert!(is_capture(&pcap));

    let explanation = explain_capture_bytes(&pcap).unwrap();
    assert!(!explanation.broken, "{}", explanation.text);
    common::check_fixture("capture_echo", &explanation.text);

    // The same bytes through a file path.
    let path = std::env::temp_dir().join(format!("pushpull-explain-{}.pcap", std::process::id()));
    std::fs::write(&path, &pcap).unwrap();
    let from_file = explain_capture(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(from_file, explanation.text);
}

#[test]
fn pcapng_with_linux_sll2_gives_the_same_conversation() {
    let (sent, received) = real_session();
    let session = segments(&sent, &received);
    let pcap = explain_capture_bytes(&write_pcap(&session)).unwrap().text;
    let pcapng = explain_capture_bytes(&write_pcapng_sll2(&session))
        .unwrap()
        .text;
    assert_eq!(pcapng.replacen("capture: pcapng", "capture: pcap", 1), pcap);
}

#[test]
fn a_capture_cut_inside_its_last_packet_explains_the_packets_before_it() {
    let (sent, received) = real_session();
    let session = segments(&sent, &received);
    let pcap = write_pcap(&session);
    let whole = explain_capture_bytes(&pcap).unwrap().text;

    // A tshark killed mid-write leaves a file that ends inside a packet.
    let cut = explain_capture_bytes(&pcap[..pcap.len() - 3]).unwrap().text;
    let packets = session.len();
    assert!(
        cut.contains(&format!("the file ends inside packet {packets} (")),
        "{cut}"
    );
    let first_frame = "  text            \"Hello\"";
    assert!(
        whole.contains(first_frame) && cut.contains(first_frame),
        "{cut}"
    );
}

#[test]
fn a_damaged_capture_header_is_an_error_that_says_so() {
    for (bytes, format) in [
        (&[0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00][..], "pcap"),
        (&[0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0x00][..], "pcapng"),
    ] {
        let error = explain_capture_bytes(bytes).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("not a readable {format} file: ")),
            "{error}"
        );
    }
}

#[test]
fn no_prefix_of_a_capture_makes_explain_panic() {
    let (sent, received) = real_session();
    let session = segments(&sent, &received);
    for capture in [write_pcap(&session), write_pcapng_sll2(&session)] {
        for end in 0..=capture.len() {
            // An error is a fine answer to a damaged file; a panic is not.
            let _ = explain_capture_bytes(&capture[..end]);
        }
    }
}
