//! `explain` on a real compressed session: Python's `websockets` client,
//! which offers permessage-deflate (RFC 7692) by default, talks to a fresh
//! `pushpull serve` on /echo through a relay on 127.0.0.1 that records what
//! each side wrote. The recording becomes a pcap file, and `pushpull explain`
//! must inflate every message both ways and find no broken rule.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pushpull::explain::explain_capture_bytes;

const START_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Payload bytes per synthetic TCP segment.
const SEGMENT: usize = 1400;
const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 5000;

/// Three whole messages (the second refers back into the first when the
/// window is kept) and one sent in two fragments; each must echo.
const CLIENT: &str = r#"
import sys
from websockets.sync.client import connect

long = "hello again, " * 40
with connect(sys.argv[1], open_timeout=10, close_timeout=10) as ws:
    assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
    for message in ["Hello", "Hello", long]:
        ws.send(message)
        assert ws.recv(timeout=10) == message
    ws.send(["fragmented ", "message"])
    assert ws.recv(timeout=10) == "fragmented message"
print("echoed")
"#;

/// Kills `pushpull serve` when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_pushpull"))
        .args(["serve", "--stats-window", "0", "--quiet"])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        thread::sleep(Duration::from_millis(20));
    }
    (server, port)
}

/// What crossed the relay, in order: (from the client, bytes).
type Log = Arc<Mutex<Vec<(bool, Vec<u8>)>>>;

/// Copy `from` to `to`, logging each read before it is forwarded, so a
/// reply is never logged before what it answers.
fn pump(mut from: TcpStream, mut to: TcpStream, from_client: bool, log: Log) {
    let mut buf = [0; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                log.lock().unwrap().push((from_client, buf[..n].to_vec()));
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A relay for one connection, in front of the server on `port`.
fn start_relay(port: u16, log: Log) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let server = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for stream in [&client, &server] {
            stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        }
        let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let log2 = Arc::clone(&log);
        let up = thread::spawn(move || pump(client, server, true, log2));
        pump(s2, c2, false, log);
        up.join().unwrap();
    });
    (relay_port, handle)
}

/// The logged bytes as a pcap of one TCP connection (ETHERNET, IPv4).
fn pcap_of(log: &[(bool, Vec<u8>)]) -> Vec<u8> {
    let client = ([127, 0, 0, 1], 50312);
    let server = ([127, 0, 0, 1], 8080);
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
    let mut seq = [CLIENT_ISN, SERVER_ISN];
    let mut packet = |from_client: bool, syn: bool, payload: &[u8], seq: u32| {
        let ((src, sport), (dst, dport)) = match from_client {
            true => (client, server),
            false => (server, client),
        };
        let mut step = PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(src, dst, 64)
            .tcp(sport, dport, seq, 65535);
        if syn {
            step = step.syn();
        }
        if !(syn && from_client) {
            step = step.ack(1);
        }
        let mut data = Vec::new();
        step.write(&mut data, payload).unwrap();
        let packet = PcapPacket::new(Duration::ZERO, data.len() as u32, &data);
        writer.write_packet(&packet).unwrap();
    };

    packet(true, true, b"", CLIENT_ISN);
    packet(false, true, b"", SERVER_ISN);
    seq = seq.map(|isn| isn + 1);
    for (from_client, bytes) in log {
        let side = usize::from(!from_client);
        for piece in bytes.chunks(SEGMENT) {
            packet(*from_client, false, piece, seq[side]);
            seq[side] += piece.len() as u32;
        }
    }
    writer.into_writer()
}

#[test]
fn a_compressed_session_with_python_websockets_is_inflated_both_ways_rfc_7692() {
    let (_server, port) = start_server();
    let log: Log = Arc::default();
    let (relay_port, relay) = start_relay(port, Arc::clone(&log));
    common::run_python(
        CLIENT,
        &format!("ws://127.0.0.1:{relay_port}/echo"),
        "echoed",
    );
    relay.join().unwrap();
    let log = log.lock().unwrap().clone();
    let pcap = pcap_of(&log);

    let explanation = explain_capture_bytes(&pcap).unwrap();
    let text = &explanation.text;
    assert!(!explanation.broken, "{text}");
    assert!(!text.contains("RULE BROKEN"), "{text}");
    assert!(text.contains("permessage-deflate agreed"), "{text}");

    // Every message, inflated, from the client and in the server's echo.
    let long = "hello again, ".repeat(40);
    let shown_long: String = long.chars().take(64).collect();
    for message in ["Hello", &shown_long] {
        let row = format!("\"{message}");
        assert!(
            text.matches(&row).count() >= 2,
            "{message:?} not inflated both ways\n{text}"
        );
    }

    // The fragmented message goes up in pieces and comes back whole.
    for row in [
        "\"fragmented \", valid UTF-8 so far",
        "\"message\", valid UTF-8 so far",
        "\"fragmented message\", valid UTF-8, message complete",
    ] {
        assert!(text.contains(row), "{row}\n{text}");
    }

    // Four messages each way, each compressed; the repeat of "Hello" and the
    // echoes lean on the window kept from earlier messages.
    let compressed = text.matches("RSV1: the message is compressed").count();
    assert_eq!(compressed, 8, "{text}");
    assert!(
        text.contains("holds the earlier compressed message too"),
        "{text}"
    );

    // The command line agrees, and exits 0: no broken rule.
    let path = std::env::temp_dir().join(format!("pushpull-deflate-{}.pcap", std::process::id()));
    std::fs::write(&path, &pcap).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pushpull"))
        .arg("explain")
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), *text);
}
