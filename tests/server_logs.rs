//! What `pushpull serve` and `pushpull serve-threaded` print while they run: one line per
//! WebSocket end saying whether it was a clean close or an abnormal drop, a line per chat
//! message, and the statistics window lines of the Python experiment.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The `--close-timeout` the WebSocket test gives `serve`, so as not to wait the default 5 s.
const CLOSE_TIMEOUT: &str = "0.5";
/// How long a peer that never answers our Close may take to be dropped: the close timeout
/// plus slack for a busy machine, and still under the 5 s default, so that a flag the
/// server ignored would fail the test.
const CLOSE_TIMEOUT_SLACK: Duration = Duration::from_secs(3);

/// The lines both servers print every window (src/stats.rs): the Python experiment's, and
/// the HTTP errors.
const POLLING_STATS: [&str; 7] = [
    "[stats] Total connections opened : ",
    "[stats] Connection rate          : ",
    "[stats] Polls (GET requests)     : ",
    "[stats] Polls that were empty    : ",
    "[stats] Messages posted          : ",
    "[stats] Message rate             : ",
    "[stats] HTTP errors (4xx/5xx)    : ",
];
/// The lines only the event loop adds.
const WEBSOCKET_STATS: [&str; 3] = [
    "[stats] WebSockets open          : ",
    "[stats] Frames in / out          : ",
    "[stats] Bytes in / out           : ",
];

/// A server binary on 127.0.0.1:0. Its log (stderr) is read as it comes, for the address
/// it bound; its statistics (stdout) are collected when it is stopped.
struct Binary {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    log_reader: thread::JoinHandle<()>,
}

impl Binary {
    fn start(subcommand: &str, extra: &[&str]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pushpull"))
            .args([subcommand, "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        // The first log line names the port the kernel chose.
        let (addr_tx, addr_rx) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(String::new()));
        let collected = Arc::clone(&log);
        let log_reader = thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(addr) = listening_address(&line) {
                    let _ = addr_tx.send(addr);
                }
                let mut log = collected.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = addr_rx
            .recv_timeout(START_TIMEOUT)
            .unwrap_or_else(|_| panic!("{subcommand} did not report its address"));
        Binary {
            child,
            addr,
            log,
            log_reader,
        }
    }

    /// Wait until a log line contains all of `parts`; panics after [`START_TIMEOUT`].
    fn wait_for_line(&self, parts: &[&str]) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.log.lock().unwrap().clone();
            if log
                .lines()
                .any(|line| parts.iter().all(|p| line.contains(p)))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no line with {parts:?} in:\n{log}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop the server and return everything it printed, log lines first.
    fn stop(mut self) -> String {
        self.child.kill().unwrap();
        self.log_reader.join().unwrap();
        let mut log = self.log.lock().unwrap().clone();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        self.child.wait().unwrap();
        log
    }
}

/// `127.0.0.1:PORT` from "... listening on 127.0.0.1:PORT" or "on http://127.0.0.1:PORT".
fn listening_address(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on ")?;
    let rest = rest.strip_prefix("http://").unwrap_or(rest);
    rest.split_whitespace().next()?.parse().ok()
}

/// The log lines that mention the connection from `peer`.
fn lines_about(log: &str, peer: SocketAddr) -> Vec<&str> {
    let mark = format!("{peer}: ");
    log.lines().filter(|line| line.contains(&mark)).collect()
}

fn post_message(addr: SocketAddr, name: &str, text: &str) {
    let body = serde_json::json!({"name": name, "text": text, "sent_at": 1.0}).to_string();
    let mut stream = connect(addr);
    let request = format!(
        "POST /messages HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201 "), "{answer}");
}

/// Send a `since` that is not a message id and check the 400 it gets.
fn poll_with_a_bad_since(addr: SocketAddr) {
    let mut stream = connect(addr);
    let request = "GET /messages?since=x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
}

/// The stats line of a window in which exactly one HTTP error was answered.
const ONE_HTTP_ERROR: &str = "[stats] HTTP errors (4xx/5xx)    : 1\n";

#[test]
fn event_loop_logs_each_websocket_end_once_as_clean_or_abnormal() {
    let server = Binary::start(
        "serve",
        &["--stats-window", "1", "--close-timeout", CLOSE_TIMEOUT],
    );

    // RFC 6455 §7.1.4: both Close frames crossed, the server closed TCP.
    let mut clean = open_ws(server.addr, "/echo");
    clean.send(0x8, &1000u16.to_be_bytes());
    assert_eq!(clean.next_frame().unwrap().opcode, 0x8);
    assert!(clean.expect_tcp_close());
    let clean_peer = clean.stream.local_addr().unwrap();

    // RFC 6455 §7.1.5: TCP closed with no closing handshake.
    let dropped = open_ws(server.addr, "/echo");
    let dropped_peer = dropped.stream.local_addr().unwrap();
    drop(dropped);

    // The server sends Close 1003 for binary on /ws; this peer never answers it, so the
    // server gives up after --close-timeout. That is not a clean close either.
    let mut silent = open_ws(server.addr, "/ws");
    silent.send(0x2, b"\x00");
    let close = silent.next_frame().unwrap();
    assert_eq!(
        (close.opcode, &close.payload[..2]),
        (0x8, &1003u16.to_be_bytes()[..])
    );
    silent
        .stream
        .set_read_timeout(Some(CLOSE_TIMEOUT_SLACK))
        .unwrap();
    assert!(
        silent.expect_tcp_close(),
        "server never gave up on the peer"
    );
    let silent_peer = silent.stream.local_addr().unwrap();

    post_message(server.addr, "Ann", "hello there");
    poll_with_a_bad_since(server.addr);
    thread::sleep(Duration::from_millis(1200));
    let log = server.stop();

    let ends = |peer| -> Vec<&str> {
        lines_about(&log, peer)
            .into_iter()
            .filter(|line| !line.contains("WebSocket open"))
            .collect()
    };
    let clean_end = ends(clean_peer);
    assert_eq!(clean_end.len(), 1, "{log}");
    assert!(clean_end[0].contains("closed cleanly"), "{log}");
    for peer in [dropped_peer, silent_peer] {
        let end = ends(peer);
        assert_eq!(end.len(), 1, "{peer}: {log}");
        assert!(end[0].contains("dropped abnormally"), "{peer}: {log}");
    }
    assert!(
        ends(silent_peer)[0].contains("binary message refused (close code 1003)"),
        "{log}"
    );
    assert!(
        ends(silent_peer)[0].contains("the peer never answered our Close"),
        "{log}"
    );

    assert!(log.contains("[server] Ann: hello there"), "{log}");
    for line in POLLING_STATS.iter().chain(&WEBSOCKET_STATS) {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
    assert!(log.contains(ONE_HTTP_ERROR), "{log}");
}

#[test]
fn threaded_server_prints_the_polling_stats_and_no_websocket_lines() {
    let server = Binary::start("serve-threaded", &["--stats-window", "1", "--quiet"]);
    post_message(server.addr, "Bo", "quiet please");
    poll_with_a_bad_since(server.addr);
    thread::sleep(Duration::from_millis(1200));
    let log = server.stop();

    for line in POLLING_STATS {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
    assert!(log.contains(ONE_HTTP_ERROR), "{log}");
    for line in WEBSOCKET_STATS {
        assert!(!log.contains(line), "{line:?} in the threaded log:\n{log}");
    }
    assert!(
        !log.contains("[server] Bo"),
        "--quiet still logged the message:\n{log}"
    );
}

/// How many log lines name `peer` and contain `reason`.
fn count_lines(log: &str, peer: SocketAddr, reason: &str) -> usize {
    lines_about(log, peer)
        .iter()
        .filter(|line| line.contains(reason))
        .count()
}

#[test]
fn each_refused_input_is_logged_once_with_the_peer() {
    const NO_LENGTH: &[u8] = b"POST /messages HTTP/1.1\r\nHost: t\r\n\r\n";
    const NO_LENGTH_REASON: &str = "a body needs Content-Length";

    for subcommand in ["serve", "serve-threaded"] {
        let server = Binary::start(subcommand, &["--stats-window", "0", "--log", "debug"]);
        let mut stream = connect(server.addr);
        let peer = stream.local_addr().unwrap();
        stream.write_all(NO_LENGTH).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 411 "), "{answer}");
        // The server lingers until our FIN before it logs the connection's end.
        drop(stream);
        server.wait_for_line(&[&peer.to_string(), "closed cleanly"]);
        let log = server.stop();
        assert_eq!(
            count_lines(&log, peer, NO_LENGTH_REASON),
            1,
            "{subcommand}:\n{log}"
        );
        assert!(!log.contains("Some("), "{subcommand}:\n{log}");
    }

    let server = Binary::start("serve", &["--stats-window", "0", "--log", "debug"]);
    let mut version_8 = connect(server.addr);
    let version_8_peer = version_8.local_addr().unwrap();
    let request = upgrade_request("/echo", SAMPLE_KEY).replace("Version: 13", "Version: 8");
    version_8.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    version_8.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 426 "), "{answer}");
    drop(version_8);

    let mut unmasked = open_ws(server.addr, "/echo");
    let unmasked_peer = unmasked.stream.local_addr().unwrap();
    unmasked
        .stream
        .write_all(&[0x81, 0x02, b'h', b'i'])
        .unwrap();
    assert!(unmasked.next_frame().is_some_and(|f| f.opcode == 0x8));
    assert!(unmasked.expect_tcp_close());
    server.wait_for_line(&[&unmasked_peer.to_string(), "failed"]);
    server.wait_for_line(&[&version_8_peer.to_string(), "closed"]);
    let log = server.stop();

    assert_eq!(count_lines(&log, version_8_peer, "is not 13"), 1, "{log}");
    assert_eq!(count_lines(&log, unmasked_peer, "not masked"), 1, "{log}");
    assert!(!log.contains("pushpull::websocket"), "{log}");
    assert!(!log.contains("pushpull::http"), "{log}");
}

#[test]
fn a_client_that_closes_mid_request_is_an_abnormal_end_on_both_servers() {
    const COMPLETE: &[u8] = b"GET /messages HTTP/1.1\r\nHost: t\r\n\r\n";
    // The head's closing blank line never comes.
    const HALF: &[u8] = b"GET /messages HTTP/1.1\r\nHost: t\r\n";

    for subcommand in ["serve", "serve-threaded"] {
        let server = Binary::start(subcommand, &["--stats-window", "0", "--log", "debug"]);

        // A keep-alive client that got its answer and then sent FIN ended cleanly.
        let mut finished = connect(server.addr);
        let finished_peer = finished.local_addr().unwrap();
        finished.write_all(COMPLETE).unwrap();
        let (head, _) = read_head(&mut finished);
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        finished.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(finished.read(&mut [0; 64]).unwrap(), 0);

        // A client that sent FIN halfway through a request abandoned it.
        let mut half = connect(server.addr);
        let half_peer = half.local_addr().unwrap();
        half.write_all(HALF).unwrap();
        half.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        half.read_to_end(&mut answer).unwrap();
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));

        let abnormal = "dropped abnormally (client closed mid-request)";
        server.wait_for_line(&[&half_peer.to_string(), abnormal]);
        server.wait_for_line(&[&finished_peer.to_string(), "closed cleanly"]);
        let log = server.stop();
        assert_eq!(count_lines(&log, half_peer, "closed cleanly"), 0, "{log}");
        assert_eq!(count_lines(&log, half_peer, abnormal), 1, "{log}");
        assert_eq!(count_lines(&log, finished_peer, "dropped"), 0, "{log}");
    }
}
