//! `pushpull demo all` captured on the loopback interface with tshark, and
//! checked with tshark's own dissectors: every frame is WebSocket with the
//! opcode, FIN, mask and payload we sent (RFC 6455 §5.2), every handshake is
//! HTTP 101 with the right accept (§4.2.2), nothing is malformed, two seeded
//! runs put the same payloads on the wire, `pushpull explain` reads every
//! frame as tshark does, and the excerpts and display filters in
//! docs/wireshark.md are what a capture shows.
//!
//! These tests need root (to capture) and Debian's tshark, which
//! `scripts/setup.sh` installs. Without tshark they fail with that fix; they
//! never pass silently.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pushpull::demo::record::{ConnectionRecord, Direction, FrameRecord, unhex};
use pushpull::explain::explain_capture;
use pushpull::websocket::handshake::accept_key;
use serde_json::Value;

/// The seed of every reproducible run here and in docs/wireshark.md.
const SEED: u64 = 6455;
/// How long the server and tshark get to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// What tshark prints on stderr once it is capturing.
const CAPTURING: &str = "Capturing on";
/// How long one UDP probe waits to be seen by tshark.
const PROBE_WAIT: Duration = Duration::from_millis(100);
/// The port docs/wireshark.md shows; a run's real port (also five digits, so
/// byte counts stay exact) is replaced by it.
const DOC_PORT: u16 = 18080;
/// A finished capture of one `demo all` run.
struct Capture {
    dir: PathBuf,
    file: PathBuf,
    port: u16,
    records: Vec<ConnectionRecord>,
}

/// Stops a child process we started, by its own handle, when dropped.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tshark_or_fail() {
    let found = Command::new("tshark").arg("--version").output();
    let ok = found.as_ref().is_ok_and(|out| out.status.success());
    assert!(
        ok,
        "tshark is missing or broken ({found:?}); run scripts/setup.sh, which installs \
         Debian's tshark (DEBIAN_FRONTEND=noninteractive apt-get install -y tshark)"
    );
}

/// A free port below Linux's ephemeral range (32768 and up by default), five digits
/// like 18080. The capture filter is `tcp port P`: a port the kernel may also hand out as
/// some other connection's source port would let that connection into the capture.
fn free_port() -> u16 {
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let offset = (std::process::id() % u32::from(SPAN)) as u16;
    for _ in 0..1000 {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + offset.wrapping_add(step) % SPAN;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port from {FIRST} to {}", FIRST + SPAN);
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pushpull-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh `pushpull serve` on `port`, accepting connections.
fn start_server(port: u16) -> Reaper {
    let child = Command::new(env!("CARGO_BIN_EXE_pushpull"))
        .args([
            "--log",
            "warn",
            "serve",
            "--stats-window",
            "0",
            "--quiet",
            "--fixed-clock",
        ])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("start pushpull serve");
    let server = Reaper(child);
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "pushpull serve did not start on {port}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    server
}

/// tshark capturing `tcp port PORT` on lo into `file`, once it really is.
///
/// "Capturing on" on stderr comes a moment before packets are seen, so we
/// also send UDP probes to ourselves (captured too, but they are not TCP and
/// leave the TCP stream numbers alone) until tshark prints one (`-P`).
fn start_tshark(port: u16, file: &Path) -> Reaper {
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    let probe_addr = probe.local_addr().unwrap();
    let filter = format!("tcp port {port} or udp port {}", probe_addr.port());
    let mut child = Command::new("tshark")
        .args(["-i", "lo", "-P", "-f", &filter, "-w"])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tshark");
    let stderr = lines_of(child.stderr.take().unwrap());
    let stdout = lines_of(child.stdout.take().unwrap());
    let tshark = Reaper(child);

    let deadline = Instant::now() + START_TIMEOUT;
    let mut seen = Vec::new();
    while let Ok(line) = stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains(CAPTURING) {
            break;
        }
        seen.push(line);
    }
    while Instant::now() < deadline {
        probe.send_to(b"probe", probe_addr).unwrap();
        if stdout.recv_timeout(PROBE_WAIT).is_ok() {
            return tshark;
        }
    }
    panic!("tshark never started capturing (capturing needs root): {seen:?}");
}

/// The lines a child writes to `pipe`, read on a thread of their own so
/// that the child never blocks on a full pipe.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// SIGINT lets tshark finish writing the file; the pid is our own child's.
fn stop_tshark(mut tshark: Reaper) {
    let pid = tshark.0.id().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(status.success(), "kill -INT {pid} failed");
    let deadline = Instant::now() + START_TIMEOUT;
    while tshark.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "tshark did not stop");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Capture one `demo all` run with `seed` against a fresh server on `port`.
fn capture(name: &str, port: u16, seed: u64) -> Capture {
    tshark_or_fail();
    let dir = scratch_dir(name);
    let file = dir.join("demo.pcapng");
    let record = dir.join("demo.json");
    let server = start_server(port);
    let tshark = start_tshark(port, &file);

    let out = Command::new(env!("CARGO_BIN_EXE_pushpull"))
        .args(["demo", "all", "--fixed-clock", "--seed", &seed.to_string()])
        .args(["--url", &format!("ws://127.0.0.1:{port}")])
        .arg("--record")
        .arg(&record)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The last FIN/ACK exchange is over once the demo returns (it waits for
    // the server's FIN); give the capture a moment to write it out.
    thread::sleep(Duration::from_millis(300));
    stop_tshark(tshark);
    drop(server);
    let records = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    Capture {
        dir,
        file,
        port,
        records,
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // PUSHPULL_KEEP_CAPTURES=1 leaves the files for a look in Wireshark.
        if std::env::var_os("PUSHPULL_KEEP_CAPTURES").is_some() {
            eprintln!("capture kept in {}", self.dir.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Capture {
    /// tshark's output for `args` on this capture, our port decoded as HTTP.
    fn tshark(&self, args: &[&str]) -> String {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args(["-d", &format!("tcp.port=={},http", self.port)])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tshark {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every packet, dissected, as JSON with raw bytes (`-x`).
    fn packets(&self) -> Vec<Value> {
        let json = self.tshark(&["-T", "json", "-x", "--no-duplicate-keys"]);
        serde_json::from_str(&json).unwrap()
    }
}

/// A field's value as a string (tshark gives strings, or a list of them
/// when a packet has the field more than once).
fn field<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    match object.get(name)? {
        Value::String(s) => Some(s),
        Value::Array(items) => items.first()?.as_str(),
        _ => None,
    }
}

/// The one or more objects of a layer (several frames in one segment).
fn each(layer: Option<&Value>) -> Vec<&Value> {
    match layer {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(object @ Value::Object(_)) => vec![object],
        _ => Vec::new(),
    }
}

/// What tshark read in each frame, per TCP stream, in wire order.
fn dissected_frames(capture: &Capture) -> BTreeMap<u64, Vec<FrameRecord>> {
    let mut streams: BTreeMap<u64, Vec<FrameRecord>> = BTreeMap::new();
    for packet in capture.packets() {
        let layers = &packet["_source"]["layers"];
        let Some(stream) = field(&layers["tcp"], "tcp.stream") else {
            continue; // a UDP probe
        };
        let stream: u64 = stream.parse().unwrap();
        let from_server = field(&layers["tcp"], "tcp.srcport") == Some(&capture.port.to_string());
        for ws in each(layers.get("websocket")) {
            let frame = frame_from_tshark(ws, from_server);
            streams.entry(stream).or_default().push(frame);
        }
    }
    streams
}

fn frame_from_tshark(ws: &Value, from_server: bool) -> FrameRecord {
    let raw = |name: &str| ws.get(name).and_then(|v| v[0].as_str()).map(str::to_string);
    FrameRecord {
        direction: if from_server {
            Direction::Received
        } else {
            Direction::Sent
        },
        fin: field(ws, "websocket.fin") == Some("1"),
        rsv: u8::from_str_radix(
            field(ws, "websocket.rsv").unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap(),
        opcode: field(ws, "websocket.opcode").unwrap().parse().unwrap(),
        mask: raw("websocket.masking_key_raw"),
        payload: raw("websocket.payload_raw").unwrap_or_default(),
    }
}

fn frames_in(direction: Direction, frames: &[FrameRecord]) -> Vec<FrameRecord> {
    frames
        .iter()
        .filter(|f| f.direction == direction)
        .cloned()
        .collect()
}

#[test]
fn tshark_dissects_every_frame_as_sent_rfc_6455_section_5_2() {
    let capture = capture("frames", free_port(), SEED);
    let streams = dissected_frames(&capture);
    assert_eq!(capture.records.len(), 10, "one record per TCP connection");

    // TCP streams are numbered in the order they opened; so are our records.
    for (index, record) in capture.records.iter().enumerate() {
        let dissected = streams.get(&(index as u64)).cloned().unwrap_or_default();
        let ours: Vec<FrameRecord> = record.frames().cloned().collect();
        for direction in [Direction::Sent, Direction::Received] {
            assert_eq!(
                frames_in(direction, &dissected),
                frames_in(direction, &ours),
                "stream {index} ({}), {direction:?}",
                record.scenario
            );
        }
    }
    let total: usize = streams.values().map(Vec::len).sum();
    let ours: usize = capture.records.iter().map(|r| r.frames().count()).sum();
    assert_eq!(
        (total, ours),
        (27, 27),
        "every frame of the run is recognised as WebSocket"
    );
}

/// One frame as `pushpull explain` described it: the fields it printed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ExplainedFrame {
    from_client: bool,
    fin: Option<bool>,
    rsv: Option<u8>,
    opcode: Option<u8>,
    /// The masking key in hex, as tshark gives it.
    mask: Option<String>,
    /// The payload length; `None` when the explanation stopped at a broken
    /// rule before it.
    length: Option<u64>,
    /// The (unmasked) payload bytes shown, in hex: at most the first 64.
    shown: String,
    broken: bool,
}

/// The frames of an explanation, by the client's port of their connection.
fn explained_frames(text: &str) -> BTreeMap<u16, Vec<ExplainedFrame>> {
    let mut connections: BTreeMap<u16, Vec<ExplainedFrame>> = BTreeMap::new();
    let mut port = 0;
    let mut in_payload = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let hex_words = |from: usize| -> String {
            let bytes = words.iter().skip(from);
            let hex = bytes.take_while(|w| w.len() == 2 && u8::from_str_radix(w, 16).is_ok());
            hex.copied().collect()
        };
        if let Some(rest) = line.strip_prefix("connection ") {
            let client = rest.split_whitespace().nth(2).unwrap();
            port = client.rsplit(':').next().unwrap().parse().unwrap();
            continue;
        }
        if line.starts_with("frame ") {
            let frame = ExplainedFrame {
                from_client: line.contains("(client → server)"),
                ..ExplainedFrame::default()
            };
            connections.entry(port).or_default().push(frame);
            in_payload = false;
            continue;
        }
        let Some(frame) = connections.get_mut(&port).and_then(|f| f.last_mut()) else {
            continue;
        };
        match words.as_slice() {
            ["FIN", bit, ..] => frame.fin = Some(*bit == "1"),
            ["RSV1-3", bits, ..] => frame.rsv = u8::from_str_radix(bits, 2).ok(),
            ["opcode", bits, ..] => {
                frame.opcode = u8::from_str_radix(bits.trim_start_matches("0x"), 16).ok()
            }
            ["length", n, ..] => frame.length = n.parse().ok(),
            ["masking", "key", ..] => frame.mask = Some(hex_words(2)),
            ["RULE", "BROKEN", ..] => frame.broken = true,
            ["payload", "masked", ..] => in_payload = false,
            ["unmasked", ..] | ["payload", ..] => {
                frame.shown = hex_words(1);
                in_payload = true;
            }
            [first, ..] if in_payload && first.len() == 2 => frame.shown += &hex_words(0),
            _ => in_payload = false,
        }
    }
    connections
}

#[test]
fn explain_agrees_with_tshark_on_every_frame_of_the_capture() {
    let capture = capture("explain", free_port(), SEED);
    let text = explain_capture(&capture.file).unwrap();
    let explained = explained_frames(&text);
    let dissected = dissected_frames(&capture);

    // tshark's stream numbers, by the client's port (its SYN's source).
    let syns = capture.tshark(&[
        "-Y",
        "tcp.flags.syn == 1 and tcp.flags.ack == 0",
        "-T",
        "fields",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.srcport",
    ]);
    let mut compared = 0;
    for line in syns.lines() {
        let (stream, port) = line.split_once('\t').unwrap();
        let theirs = dissected
            .get(&stream.parse().unwrap())
            .cloned()
            .unwrap_or_default();
        let ours = explained
            .get(&port.parse().unwrap())
            .cloned()
            .unwrap_or_default();
        for from_client in [true, false] {
            let direction = if from_client {
                Direction::Sent
            } else {
                Direction::Received
            };
            let theirs = frames_in(direction, &theirs);
            let ours: Vec<_> = ours
                .iter()
                .filter(|f| f.from_client == from_client)
                .collect();
            assert_eq!(
                ours.len(),
                theirs.len(),
                "stream {stream} {direction:?}:\n{text}"
            );
            for (mine, tshark) in ours.iter().zip(&theirs) {
                let at = format!("stream {stream} {direction:?}: {mine:?} vs {tshark:?}");
                assert_eq!(mine.fin, Some(tshark.fin), "{at}");
                assert_eq!(mine.rsv, Some(tshark.rsv), "{at}");
                assert_eq!(mine.opcode, Some(tshark.opcode), "{at}");
                // The one frame the demo leaves unmasked on purpose stops the
                // explanation at its MASK bit (RFC 6455 §5.1); nothing later
                // in it is explained, so there is nothing more to compare.
                if mine.broken {
                    assert!(from_client && tshark.mask.is_none(), "{at}");
                    continue;
                }
                assert_eq!(mine.mask, tshark.mask, "{at}");
                assert_eq!(mine.length, Some(tshark.payload.len() as u64 / 2), "{at}");
                assert!(tshark.payload.starts_with(&mine.shown), "{at}");
                assert_eq!(mine.shown.len(), tshark.payload.len().min(128), "{at}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 26, "every frame but the unmasked one:\n{text}");
}

#[test]
fn tshark_sees_each_handshake_as_http_101_with_the_right_accept_rfc_6455_section_4_2_2() {
    let capture = capture("handshakes", free_port(), SEED);
    let mut keys = BTreeMap::new();
    let mut accepts = BTreeMap::new();
    for packet in capture.packets() {
        let layers = &packet["_source"]["layers"];
        let Some(stream) = field(&layers["tcp"], "tcp.stream").map(str::to_string) else {
            continue; // a UDP probe
        };
        for http in each(layers.get("http")) {
            if let Some(key) = field(http, "http.sec_websocket_key") {
                keys.insert(stream.clone(), key.to_string());
            }
            let code = http.get("http.response.code").or_else(|| {
                http.as_object()?
                    .values()
                    .find_map(|v| v.get("http.response.code"))
            });
            if code.and_then(Value::as_str) == Some("101") {
                let accept = field(http, "http.sec_websocket_accept").unwrap();
                accepts.insert(stream.clone(), accept.to_string());
            }
        }
    }

    // Seven upgrades; the one with version 8 is refused (426), not switched.
    assert_eq!(keys.len(), 7, "{keys:?}");
    assert_eq!(accepts.len(), 6, "{accepts:?}");
    for (stream, accept) in &accepts {
        assert_eq!(accept, &accept_key(&keys[stream]), "stream {stream}");
    }
}

#[test]
fn tshark_finds_nothing_malformed_and_no_http_or_websocket_warnings() {
    let capture = capture("expert", free_port(), SEED);
    let malformed = capture.tshark(&["-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number"]);
    assert_eq!(malformed.trim(), "", "malformed packets: {malformed}");

    // Only TCP may warn: its analysis reports on the kernel's flow control
    // and loss recovery (a full window during the 65,536-byte frames, now
    // and then a D-SACK under load), which no demo scripts.
    let expert = capture.tshark(&["-q", "-z", "expert"]);
    for title in ["Errors (", "Warns ("] {
        for row in section(&expert, title) {
            let protocol = row.split_whitespace().nth(2);
            assert_eq!(protocol, Some("TCP"), "unexpected {title}: {row}\n{expert}");
        }
    }
}

/// The table rows of one `-z expert` section (after its header line).
fn section<'a>(report: &'a str, title: &str) -> Vec<&'a str> {
    let Some(start) = report.find(title) else {
        return Vec::new();
    };
    report[start..]
        .lines()
        .skip(3)
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect()
}

/// Each TCP stream's payload bytes per direction, as tshark reassembles
/// them (`-z follow,tcp,raw`: in order, retransmissions dropped).
fn stream_bytes(capture: &Capture) -> BTreeMap<(u64, Direction), Vec<u8>> {
    let mut streams = BTreeMap::new();
    for index in 0..capture.records.len() as u64 {
        let follow = format!("follow,tcp,raw,{index}");
        let report = capture.tshark(&["-q", "-z", &follow]);
        let (sent, received) = follow_directions(&report);
        streams.insert((index, Direction::Sent), sent);
        streams.insert((index, Direction::Received), received);
    }
    streams
}

/// The two directions of a `follow,tcp,raw` report: node 0 (the client,
/// which sent the SYN) unindented, node 1 indented with a tab.
fn follow_directions(report: &str) -> (Vec<u8>, Vec<u8>) {
    let (mut client, mut server) = (Vec::new(), Vec::new());
    let body = report
        .lines()
        .skip_while(|l| !l.starts_with("Node 1:"))
        .skip(1);
    for line in body.take_while(|l| !l.starts_with("====")) {
        match line.strip_prefix('\t') {
            Some(hex) => server.extend(unhex(hex.trim()).unwrap()),
            None => client.extend(unhex(line.trim()).unwrap()),
        }
    }
    (client, server)
}

#[test]
fn the_wire_carries_exactly_the_recorded_bytes() {
    let capture = capture("bytes", free_port(), SEED);
    let streams = stream_bytes(&capture);
    for (index, record) in capture.records.iter().enumerate() {
        let sent = streams
            .get(&(index as u64, Direction::Sent))
            .cloned()
            .unwrap_or_default();
        let got = streams
            .get(&(index as u64, Direction::Received))
            .cloned()
            .unwrap_or_default();
        assert_eq!(sent, unhex(&record.sent).unwrap(), "stream {index} sent");
        assert_eq!(
            got,
            unhex(&record.received).unwrap(),
            "stream {index} received"
        );
    }
}

#[test]
fn two_seeded_runs_put_identical_payloads_on_the_wire() {
    // Same seed, same address, a fresh server each time.
    let port = free_port();
    let first = stream_bytes(&capture("seeded-1", port, SEED));
    let second = stream_bytes(&capture("seeded-2", port, SEED));
    assert_eq!(first.len(), 20, "10 connections, both directions");
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (key, bytes) in &first {
        let other = &second[key];
        let side = match key.1 {
            Direction::Sent => "client",
            Direction::Received => "server",
        };
        assert_eq!(bytes, other, "{side} bytes of stream {}", key.0);
    }
}

#[test]
fn docs_wireshark_excerpts_and_filters_match_a_seeded_capture() {
    let capture = capture("docs", free_port(), SEED);
    check_display_filters(&capture);

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/wireshark.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let mut updated = doc.clone();
    let mut stale = Vec::new();
    for (name, text) in excerpts::all(&capture) {
        let before = updated.clone();
        updated = excerpts::replace(&updated, name, &text)
            .unwrap_or_else(|| panic!("docs/wireshark.md has no excerpt marker {name:?}"));
        if before != updated {
            stale.push(format!("excerpt {name:?} is now:\n{text}"));
        }
    }
    if std::env::var_os("PUSHPULL_BLESS_DOCS").is_some() {
        std::fs::write(&path, &updated).unwrap();
        return;
    }
    assert!(
        stale.is_empty(),
        "docs/wireshark.md excerpts are stale; rerun this test with PUSHPULL_BLESS_DOCS=1 \
         and review the diff.\n{}",
        stale.join("\n")
    );
}

/// Every filter in the table of docs/wireshark.md must parse on this tshark
/// and select packets of the demo run: each row at least one, except the
/// row for broken packets, which must select none.
fn check_display_filters(capture: &Capture) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/wireshark.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find("## Display filters that matter").unwrap();
    let end = start + doc[start..].find("\n## ").unwrap();
    let rows = doc[start..end]
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains('`'));

    let mut checked = 0;
    for row in rows {
        let what = row.split('|').nth(1).unwrap().trim();
        let filter = row.split('`').nth(1).unwrap();
        let filter = filter.replace(&DOC_PORT.to_string(), &capture.port.to_string());
        let found = capture.tshark(&["-Y", &filter, "-T", "fields", "-e", "frame.number"]);
        let count = found.lines().count();
        match what.starts_with("broken") {
            true => assert_eq!(count, 0, "{what}: `{filter}` found {found}"),
            false => assert!(count > 0, "{what}: `{filter}` selects nothing"),
        }
        checked += 1;
    }
    assert_eq!(checked, 9, "the table has nine filters");
}

/// The capture excerpts of docs/wireshark.md, regenerated from a capture.
mod excerpts {
    use super::*;

    /// Every excerpt, by its marker name.
    pub fn all(capture: &Capture) -> Vec<(&'static str, String)> {
        let fields = |filter: &str, names: &[&str]| {
            let mut args = vec!["-Y", filter, "-T", "fields", "-E", "header=y"];
            for name in names {
                args.extend(["-e", name]);
            }
            normalize(capture, &capture.tshark(&args))
        };
        let frame_fields = [
            "tcp.stream",
            "websocket.fin",
            "websocket.opcode",
            "websocket.mask",
            "websocket.masking_key",
            "websocket.payload_length",
        ];
        vec![
            ("frames", fields("websocket", &frame_fields)),
            (
                "handshake",
                fields(
                    "http.upgrade or http.response.code == 426",
                    &[
                        "tcp.stream",
                        "http.request.uri",
                        "http.response.code",
                        "http.sec_websocket_key",
                        "http.sec_websocket_version",
                        "http.sec_websocket_accept",
                    ],
                ),
            ),
            (
                "close",
                fields(
                    "websocket.opcode == 8",
                    &[
                        "tcp.stream",
                        "websocket.mask",
                        "websocket.payload.close.status_code",
                        "websocket.payload.close.reason",
                    ],
                ),
            ),
            (
                "polling",
                fields(
                    "tcp.stream <= 2 and http",
                    &[
                        "tcp.stream",
                        "http.request.method",
                        "http.request.uri",
                        "http.response.code",
                        "http.file_data",
                    ],
                ),
            ),
            ("unmasked", unmasked(capture)),
            ("costs", costs(capture)),
        ]
    }

    /// Our run's port shown as the documented one.
    fn normalize(capture: &Capture, text: &str) -> String {
        text.replace(&capture.port.to_string(), &DOC_PORT.to_string())
    }

    /// The "Unmasked data" hex dump tshark prints for the chat message frame.
    fn unmasked(capture: &Capture) -> String {
        let filter = "tcp.stream == 3 and websocket.opcode == 1 and websocket.mask == 1";
        let dump = capture.tshark(&["-Y", filter, "-x"]);
        let start = dump.find("Unmasked data").expect("an Unmasked data tab");
        let block: Vec<&str> = dump[start..]
            .lines()
            .take_while(|l| !l.is_empty())
            .collect();
        block.join("\n") + "\n"
    }

    /// Payload bytes and data segments of one chat message each way.
    fn costs(capture: &Capture) -> String {
        let stream = |filter: &str| {
            let args = [
                "-Y",
                filter,
                "-T",
                "fields",
                "-e",
                "tcp.srcport",
                "-e",
                "tcp.len",
            ];
            let out = capture.tshark(&args);
            let port = capture.port.to_string();
            let (mut up, mut down) = ((0, 0), (0, 0));
            for line in out.lines() {
                let (src, len) = line.split_once('\t').unwrap();
                let len: u64 = len.parse().unwrap();
                let side = if src == port { &mut down } else { &mut up };
                *side = (side.0 + 1, side.1 + len);
            }
            (up, down)
        };
        let (post_up, post_down) = stream("tcp.stream == 1 and tcp.len > 0");
        let (ws_up, ws_down) = stream("tcp.stream == 3 and websocket.opcode == 1");
        let (hs_up, hs_down) = stream("tcp.stream == 3 and http");
        format!(
            "                          segments  payload bytes\n\
             POST /messages, request      {:>2}        {:>5}\n\
             POST /messages, response     {:>2}        {:>5}\n\
             WebSocket text frame, out    {:>2}        {:>5}\n\
             WebSocket text frame, in     {:>2}        {:>5}\n\
             (once) upgrade request       {:>2}        {:>5}\n\
             (once) 101 response          {:>2}        {:>5}\n",
            post_up.0,
            post_up.1,
            post_down.0,
            post_down.1,
            ws_up.0,
            ws_up.1,
            ws_down.0,
            ws_down.1,
            hs_up.0,
            hs_up.1,
            hs_down.0,
            hs_down.1
        )
    }

    /// `doc` with the excerpt `name` replaced by `text`; `None` without its
    /// markers.
    pub fn replace(doc: &str, name: &str, text: &str) -> Option<String> {
        let open = format!("<!-- excerpt: {name} -->\n");
        let close = "<!-- /excerpt -->";
        let start = doc.find(&open)? + open.len();
        let end = start + doc[start..].find(close)?;
        Some(format!(
            "{}```text\n{text}```\n{}",
            &doc[..start],
            &doc[end..]
        ))
    }
}
