//! How `pushpull serve` and `pushpull serve-threaded` end on SIGTERM: every WebSocket gets
//! a Close with 1001 "going away" (RFC 6455 §7.4.1), requests in progress are answered, and
//! the process exits 0 within the shutdown grace time (1 s) plus slack, even when a peer
//! never answers. A second signal ends the process at once.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The servers' shutdown grace time (`pushpull::server::SHUTDOWN_GRACE`).
const GRACE: Duration = pushpull::server::SHUTDOWN_GRACE;
/// How long after SIGTERM a server may take to exit: the grace time plus slack for a busy
/// machine, and still well under the 5 s Close timeout, which must not be what ends it.
const EXIT_BOUND: Duration = Duration::from_secs(3);
/// RFC 6455 §7.4.1: "going away", a server going down.
const GOING_AWAY: u16 = 1001;
const OPCODE_CLOSE: u8 = 0x8;

/// A server process on 127.0.0.1:0 whose log (stderr) is collected as it comes.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(subcommand: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pushpull"))
            .args([subcommand, "--addr", "127.0.0.1:0", "--quiet"])
            .args(["--stats-window", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(String::new()));
        let collected = Arc::clone(&log);
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = collected.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut server = Server {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            log,
        };
        let line = server.wait_for_line("listening on ");
        let (_, rest) = line.split_once("listening on ").unwrap();
        let rest = rest.strip_prefix("http://").unwrap_or(rest);
        server.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
        server
    }

    /// The first log line containing `part`; panics after [`START_TIMEOUT`].
    fn wait_for_line(&self, part: &str) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.log.lock().unwrap().clone();
            if let Some(line) = log.lines().find(|line| line.contains(part)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {part:?} in:\n{log}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait up to `bound` for the process to exit: its status, how long it took, and its
    /// log followed by its stdout. Kills it and panics if it is still running.
    fn wait_exit(mut self, bound: Duration) -> (ExitStatus, Duration, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > bound {
                self.child.kill().unwrap();
                self.child.wait().unwrap();
                let log = self.log.lock().unwrap().clone();
                panic!("still running {bound:?} after SIGTERM:\n{log}");
            }
            thread::sleep(Duration::from_millis(10));
        };
        let took = started.elapsed();
        // The stderr reader ends at EOF, which the exit just caused.
        thread::sleep(Duration::from_millis(50));
        let mut output = self.log.lock().unwrap().clone();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut output)
            .unwrap();
        (status, took, output)
    }
}

/// The code of a Close frame's body (RFC 6455 §5.5.1: the first two bytes).
fn close_code(frame: &ServerFrame) -> u16 {
    assert_eq!(frame.opcode, OPCODE_CLOSE, "{frame:?}");
    u16::from_be_bytes([frame.payload[0], frame.payload[1]])
}

/// A keep-alive GET answered on `stream`; the connection stays open.
fn poll_keep_alive(stream: &mut TcpStream) {
    let request = "GET /messages?since=0 HTTP/1.1\r\nHost: t\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let (head, _) = read_head(stream);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(!head.contains("Connection: close"), "{head}");
}

#[test]
fn serve_closes_each_websocket_with_1001_and_exits_0_on_sigterm() {
    let server = Server::start("serve");
    let mut peer = open_ws(server.addr, "/ws");
    peer.send_text(r#"{"name":"a","text":"before the signal","sent_at":1.0}"#);
    let broadcast = peer.next_frame().unwrap();
    assert_eq!(broadcast.opcode, 0x1, "{broadcast:?}");
    let mut poller = connect(server.addr);
    poll_keep_alive(&mut poller);

    server.sigterm();

    // RFC 6455 §7.4.1: the server going down says 1001; we answer as §5.5.1 asks.
    let close = peer
        .next_frame()
        .expect("a Close frame, not a dropped connection");
    assert_eq!(close_code(&close), GOING_AWAY);
    peer.send(OPCODE_CLOSE, &GOING_AWAY.to_be_bytes());
    assert!(
        peer.expect_tcp_close(),
        "the server closes TCP after the handshake"
    );
    // The idle keep-alive connection is closed without an answer to anything new.
    let mut rest = Vec::new();
    assert_eq!(poller.read_to_end(&mut rest).unwrap(), 0, "{rest:?}");
    drop(poller);

    let (status, took, output) = server.wait_exit(EXIT_BOUND);
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(took < EXIT_BOUND, "{took:?}");
    assert!(
        output.contains("shutting down: ending 2 connections"),
        "{output}"
    );
    assert!(output.contains("WebSocket Chat closed cleanly"), "{output}");
    assert!(
        output.contains("stopped: 2 connections closed cleanly, 0 dropped"),
        "{output}"
    );
    // The stats reporter's last, partial window.
    assert!(
        output.contains("[stats] Messages posted          : 1\n"),
        "{output}"
    );
}

#[test]
fn serve_exits_within_the_grace_time_when_a_peer_never_answers_the_close() {
    let server = Server::start("serve");
    let mut peer = open_ws(server.addr, "/echo");

    server.sigterm();
    let signalled = Instant::now();
    let close = peer.next_frame().unwrap();
    assert_eq!(close_code(&close), GOING_AWAY);
    // No Close in reply: the server must give up on its own.

    let (status, _, output) = server.wait_exit(EXIT_BOUND);
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(
        took >= GRACE,
        "it waited {took:?} for the Close, not the grace time"
    );
    assert!(took < EXIT_BOUND, "{took:?}");
    assert!(
        output.contains("WebSocket Echo dropped abnormally: shutdown grace time over"),
        "{output}"
    );
    assert!(
        output.contains("stopped: 0 connections closed cleanly, 1 dropped"),
        "{output}"
    );
}

#[test]
fn a_second_signal_ends_serve_at_once() {
    let server = Server::start("serve");
    let mut peer = open_ws(server.addr, "/echo");

    server.sigterm();
    assert_eq!(close_code(&peer.next_frame().unwrap()), GOING_AWAY);
    server.wait_for_line("shutting down");
    server.sigterm();

    // Status 1 comes only from the second-signal path; the graceful one returns 0.
    let (status, took, output) = server.wait_exit(EXIT_BOUND);
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(output.contains("second signal"), "{output}");
    assert!(!output.contains("stopped:"), "{output}");
    assert!(took < GRACE, "{took:?}");
}

#[test]
fn serve_threaded_answers_the_request_in_progress_and_exits_0_on_sigterm() {
    let server = Server::start("serve-threaded");
    let mut idle = connect(server.addr);
    poll_keep_alive(&mut idle);

    // A POST whose body has not all arrived when the signal comes.
    let body = r#"{"name":"t","text":"in flight","sent_at":1.0}"#;
    let mut posting = connect(server.addr);
    let head = format!(
        "POST /messages HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    posting.write_all(head.as_bytes()).unwrap();
    posting.write_all(&body.as_bytes()[..5]).unwrap();
    // The server reads the partial request before the signal (the response proves it was
    // counted: an uncounted one would leave the process before it is finished).
    thread::sleep(Duration::from_millis(100));

    server.sigterm();
    server.wait_for_line("shutting down");
    posting.write_all(&body.as_bytes()[5..]).unwrap();
    let (answer, _) = read_head(&mut posting);
    assert!(answer.starts_with("HTTP/1.1 201 "), "{answer}");
    // Its last answer: the connection closes after it (RFC 9112 §9.6).
    assert!(answer.contains("Connection: close"), "{answer}");

    let (status, took, output) = server.wait_exit(EXIT_BOUND);
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(took < EXIT_BOUND, "{took:?}");
    assert!(
        output.contains("stopped: 0 requests left unanswered"),
        "{output}"
    );
    assert!(
        output.contains("[stats] Messages posted          : 1\n"),
        "{output}"
    );
    drop(idle);
}

#[test]
fn event_loop_handle_shutdown_sends_1001_and_waits_for_the_reply() {
    let server = start_event_loop();
    let mut peer = open_ws(server.local_addr(), "/ws");
    let stopping = thread::spawn(move || {
        let started = Instant::now();
        server.shutdown().unwrap();
        started.elapsed()
    });

    assert_eq!(close_code(&peer.next_frame().unwrap()), GOING_AWAY);
    peer.send(OPCODE_CLOSE, &GOING_AWAY.to_be_bytes());
    assert!(peer.expect_tcp_close());
    // Ended by the peer's Close, not by the grace time running out.
    let took = stopping.join().unwrap();
    assert!(took < GRACE, "{took:?}");
}
