//! Our RFC 6455 codec against tungstenite's, side by side, on the same bytes.
//!
//! Run with `cargo bench --bench ws_codec`. Each workload is run several times by both
//! implementations in the same process and the best time of each is kept; the figure that
//! matters is the ratio printed in the last column (above 1.00 means ours is faster). The
//! machines here are shared and noisy, so read the ratio, not the absolute times; for a
//! repeatable count, run the binary under `valgrind --tool=callgrind`.
//!
//! Both sides play the server: masked client frames are parsed, unmasked, validated as UTF-8
//! (text) and delivered as whole messages; replies are encoded into a buffer as a socket
//! write would send them.

use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};
use std::time::{Duration, Instant};

use pushpull::websocket::{self, Config, Connection, Event, Opcode, Role};
use tungstenite::Message;
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};

/// How many bytes one simulated socket read hands to the parser.
const READ_SIZE: usize = 64 * 1024;
const ROUNDS: usize = 7;

/// A stream that yields prepared bytes in READ_SIZE reads and swallows writes.
struct Replay<'a> {
    input: Cursor<&'a [u8]>,
    written: usize,
}

impl Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(READ_SIZE);
        self.input.read(&mut buf[..n])
    }
}

impl Write for Replay<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn client_frames(opcode: Opcode, payload: &[u8], count: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..count {
        let key = (i as u32).wrapping_mul(2_654_435_761).to_be_bytes();
        bytes.extend(websocket::encode_frame(opcode, true, payload, Some(key)));
    }
    bytes
}

fn limits() -> (Config, WebSocketConfig) {
    let ours = Config {
        max_message_size: 64 << 20,
        ..Config::default()
    };
    let theirs = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    (ours, theirs)
}

/// Ours: feed the stream in socket-sized reads and count delivered messages.
fn ours_receive(input: &[u8]) -> usize {
    let mut conn = Connection::new(Role::Server, limits().0);
    let mut delivered = 0;
    for chunk in input.chunks(READ_SIZE) {
        conn.receive(chunk);
        while let Some(event) = conn.next_event() {
            match event {
                Event::Text(t) => delivered += black_box(t).len().min(1),
                Event::Binary(b) => delivered += black_box(b).len().min(1),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    delivered
}

fn theirs_receive(input: &[u8], count: usize) -> usize {
    let stream = Replay {
        input: Cursor::new(input),
        written: 0,
    };
    let mut ws = WebSocket::from_raw_socket(stream, TRole::Server, Some(limits().1));
    let mut delivered = 0;
    for _ in 0..count {
        match ws.read().expect("a message") {
            Message::Text(t) => delivered += black_box(t).len().min(1),
            Message::Binary(b) => delivered += black_box(b).len().min(1),
            other => panic!("unexpected {other:?}"),
        }
    }
    delivered
}

fn ours_send(payload: &str, count: usize) -> usize {
    let mut conn = Connection::new(Role::Server, Config::default());
    let mut written = 0;
    for _ in 0..count {
        conn.send_text(payload).unwrap();
        while let Some(chunk) = conn.take_output() {
            written += black_box(chunk.as_ref()).len();
        }
    }
    written
}

fn theirs_send(payload: &str, count: usize) -> usize {
    let stream = Replay {
        input: Cursor::new(&[]),
        written: 0,
    };
    let mut ws = WebSocket::from_raw_socket(stream, TRole::Server, None);
    for _ in 0..count {
        ws.send(Message::text(payload)).unwrap();
    }
    ws.get_ref().written
}

/// Best wall time of `ROUNDS` runs.
fn best(mut run: impl FnMut() -> usize, expect: usize) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            let got = run();
            let took = started.elapsed();
            assert_eq!(got, expect, "both sides must do the whole workload");
            took
        })
        .min()
        .unwrap()
}

fn row(name: &str, messages: usize, bytes: usize, ours: Duration, theirs: Duration) {
    let per = |d: Duration| d.as_nanos() as f64 / messages as f64;
    let rate = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e9;
    println!(
        "{name:<34} {:>9.1} {:>9.1} {:>8.2} {:>8.2} {:>7.2}",
        per(ours),
        per(theirs),
        rate(ours),
        rate(theirs),
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
}

/// Whether the workload `name` was asked for: `cargo bench --bench ws_codec -- WORD` runs only
/// the workloads whose name holds WORD (cargo's own `--bench` flag is ignored).
fn selected(name: &str) -> bool {
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    words.is_empty() || words.iter().any(|w| name.contains(w.as_str()))
}

fn receive_workload(name: &str, opcode: Opcode, payload: &[u8], count: usize) {
    if !selected(name) {
        return;
    }
    let input = client_frames(opcode, payload, count);
    let ours = best(|| ours_receive(&input), count);
    let theirs = best(|| theirs_receive(&input, count), count);
    row(name, count, input.len(), ours, theirs);
}

fn main() {
    println!("pushpull vs tungstenite 0.30, server role, best of {ROUNDS} rounds");
    println!(
        "{:<34} {:>9} {:>9} {:>8} {:>8} {:>7}",
        "workload", "ours ns", "tung ns", "ours GB/s", "tung GB/s", "ratio"
    );
    let small_text = "sixteen bytes ok";
    receive_workload(
        "receive 200k masked text, 16 B",
        Opcode::Text,
        small_text.as_bytes(),
        200_000,
    );
    let chat = r#"{"name":"Alice","text":"Did you see the game last night?","sent_at":1.5}"#;
    receive_workload(
        "receive 100k masked text, chat JSON",
        Opcode::Text,
        chat.as_bytes(),
        100_000,
    );
    let kib = vec![0x5au8; 64 * 1024];
    receive_workload(
        "receive 4k masked binary, 64 KiB",
        Opcode::Binary,
        &kib,
        4_000,
    );
    let text_mib = "é".repeat(512 * 1024);
    receive_workload(
        "receive 64 masked text, 1 MiB UTF-8",
        Opcode::Text,
        text_mib.as_bytes(),
        64,
    );

    let count = 200_000;
    if !selected("send 200k text, chat JSON") {
        return;
    }
    let ours = best(|| ours_send(chat, count), count * (chat.len() + 2));
    let theirs = best(|| theirs_send(chat, count), count * (chat.len() + 2));
    row(
        "send 200k text, chat JSON",
        count,
        count * chat.len(),
        ours,
        theirs,
    );
}
