//! Helpers shared by the integration tests: a server on an ephemeral port and a deliberately
//! simple blocking peer that writes literal bytes, so the tests check the wire, not our own
//! client code.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use pushpull::server::event_loop::{EventLoopConfig, EventLoopHandle, EventLoopServer};

/// The RFC 6455 §1.3 sample nonce and its accept value.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub fn start_event_loop() -> EventLoopHandle {
    start_event_loop_with(EventLoopConfig {
        quiet: true,
        ..EventLoopConfig::default()
    })
}

pub fn start_event_loop_with(config: EventLoopConfig) -> EventLoopHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    EventLoopServer::bind(addr, config)
        .unwrap()
        .spawn()
        .unwrap()
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

pub fn upgrade_request(path: &str, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Read until the end of an HTTP head; returns the head and any bytes read past it.
pub fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (String::from_utf8(buf).unwrap(), rest);
        }
        let n = stream.read(&mut byte).unwrap();
        assert!(n > 0, "connection closed before the head ended: {:?}", buf);
        buf.extend_from_slice(&byte[..n]);
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Open a WebSocket on `path`; returns the stream and frame bytes read after the 101 head.
pub fn open_ws(addr: SocketAddr, path: &str) -> WsPeer {
    let mut stream = connect(addr);
    stream
        .write_all(upgrade_request(path, SAMPLE_KEY).as_bytes())
        .unwrap();
    let (head, rest) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    WsPeer {
        stream,
        buffered: rest,
    }
}

/// A masked client frame, built by hand from RFC 6455 §5.2.
pub fn client_frame(opcode: u8, fin: bool, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// A frame as the server sent it.
#[derive(Debug, PartialEq, Eq)]
pub struct ServerFrame {
    pub fin: bool,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

pub struct WsPeer {
    pub stream: TcpStream,
    pub buffered: Vec<u8>,
}

impl WsPeer {
    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        let frame = client_frame(opcode, true, payload, [0x37, 0xfa, 0x21, 0x3d]);
        self.stream.write_all(&frame).unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.send(0x1, text.as_bytes());
    }

    fn fill(&mut self, n: usize) -> bool {
        let mut chunk = [0u8; 65536];
        while self.buffered.len() < n {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(k) => self.buffered.extend_from_slice(&chunk[..k]),
                Err(e) => panic!("read failed: {e}"),
            }
        }
        true
    }

    /// The next frame, or None if the server closed TCP first.
    pub fn next_frame(&mut self) -> Option<ServerFrame> {
        if !self.fill(2) {
            return None;
        }
        let (b0, b1) = (self.buffered[0], self.buffered[1]);
        let mut header = 2;
        let mut len = (b1 & 0x7f) as usize;
        if len == 126 {
            self.fill(4);
            len = u16::from_be_bytes([self.buffered[2], self.buffered[3]]) as usize;
            header = 4;
        } else if len == 127 {
            self.fill(10);
            let mut n = [0u8; 8];
            n.copy_from_slice(&self.buffered[2..10]);
            len = u64::from_be_bytes(n) as usize;
            header = 10;
        }
        assert!(self.fill(header + len), "connection closed inside a frame");
        let payload = self.buffered[header..header + len].to_vec();
        self.buffered.drain(..header + len);
        Some(ServerFrame {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0f,
            masked: b1 & 0x80 != 0,
            payload,
        })
    }

    /// Read until the server closes TCP; true if it did (rather than timing out).
    pub fn expect_tcp_close(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        matches!(self.stream.read(&mut chunk), Ok(0))
    }
}

/// The Python interpreter with the `websockets` package: $PUSHPULL_PYTHON, or the project's
/// venv made by scripts/setup.sh. Panics with the fix if neither exists, so an interop test
/// never passes by not running.
pub fn python_with_websockets() -> PathBuf {
    let candidates = [
        std::env::var_os("PUSHPULL_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = std::process::Command::new(&python)
            .args(["-c", "import websockets"])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return python;
        }
    }
    panic!("no Python with `websockets` found: run scripts/setup.sh or set PUSHPULL_PYTHON");
}

/// Run a Python script with `arg` as its one argument; it must exit 0 and print `expect`.
pub fn run_python(script: &str, arg: &str, expect: &str) {
    let output = std::process::Command::new(python_with_websockets())
        .args(["-c", script, arg])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains(expect), "stdout: {stdout}");
}

/// Compare `actual` with `tests/fixtures/explain/NAME.txt`, the expected output of
/// `pushpull explain`, or rewrite the fixture when `PUSHPULL_BLESS=1` is set.
pub fn check_fixture(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/explain")
        .join(format!("{name}.txt"));
    if std::env::var_os("PUSHPULL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (PUSHPULL_BLESS=1 writes it)", path.display()));
    assert_eq!(actual, expected, "explanation of {name} changed");
}
