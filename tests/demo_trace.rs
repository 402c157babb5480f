//! `--trace` on `pushpull serve` and `pushpull chat`: one line per HTTP head
//! and per frame, each way, while `pushpull demo fragmented` or a chat
//! client talks to the server; and not one such line without the flag.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pushpull::demo::{self, DemoOptions, Scenario};

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The log target every trace line carries, and nothing else does.
const TRACE_TARGET: &str = "pushpull::trace";

/// A `pushpull serve` on a free port, with `--trace` if asked.
fn start_server(trace: bool) -> (Child, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pushpull"));
    command
        .args(["serve", "--stats-window", "0", "--quiet"])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped());
    if trace {
        command.arg("--trace");
    }
    let server = command.spawn().unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        thread::sleep(Duration::from_millis(20));
    }
    (server, port)
}

/// Stop the server and return what it logged.
fn stop_server(mut server: Child) -> String {
    thread::sleep(Duration::from_millis(100));
    server.kill().unwrap();
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    server.wait().unwrap();
    log
}

/// Run `pushpull chat --transport ws`, send one line, and return its stderr
/// (the log) once stdin's end has made it close.
fn chat_once(port: u16, trace: bool, line: &str) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pushpull"));
    command
        .args(["chat", "--transport", "ws", "--name", "tracer"])
        .args(["--url", &format!("ws://127.0.0.1:{port}/ws")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if trace {
        command.arg("--trace");
    }
    let mut chat = command.spawn().unwrap();
    writeln!(chat.stdin.take().unwrap(), "{line}").unwrap();
    let output = chat.wait_with_output().unwrap();
    assert!(output.status.success(), "chat failed: {output:?}");
    String::from_utf8(output.stderr).unwrap()
}

fn trace_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(TRACE_TARGET)).collect()
}

#[test]
fn serve_trace_logs_each_head_and_frame_with_its_direction() {
    let (server, port) = start_server(true);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let options = DemoOptions {
        addr,
        host: addr.to_string(),
        seed: Some(1),
        fixed_clock: true,
    };
    let result = demo::run(&[Scenario::Fragmented], options);
    let log = stop_server(server);
    result.unwrap();

    for expected in [
        "< conn 127.0.0.1:",
        "\"GET /echo HTTP/1.1\"  headers: Host, Upgrade, Connection, Sec-WebSocket-Key",
        "> conn 127.0.0.1:",
        "\"HTTP/1.1 101 Switching Protocols\"",
        "Text fin=0 rsv=000 key=",
        "Pong fin=1 rsv=000 unmasked len=12",
        "Continuation fin=1",
        "Text fin=1 rsv=000 unmasked len=5  \"Hello\"",
        "Close fin=1 rsv=000 unmasked len=2  code=1000",
    ] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }
}

#[test]
fn chat_trace_logs_the_same_connection_as_serve_trace() {
    let (server, port) = start_server(true);
    let line = "a line longer than the thirty-two bytes a preview shows";
    let chat_log = chat_once(port, true, line);
    let server_log = stop_server(server);

    let chat = trace_lines(&chat_log);
    let expected = [
        "> conn 127.0.0.1:",
        "\"GET /ws HTTP/1.1\"  headers: Host, Upgrade, Connection",
        "< conn 127.0.0.1:",
        "\"HTTP/1.1 101 Switching Protocols\"  headers: Upgrade, Connection",
        "> conn 127.0.0.1:",
        "Text fin=1 rsv=000 key=",
        "< conn 127.0.0.1:",
        "Text fin=1 rsv=000 unmasked len=",
        "> conn 127.0.0.1:",
        "Close fin=1 rsv=000 key=",
        "< conn 127.0.0.1:",
        "Close fin=1 rsv=000 unmasked len=2  code=1000",
    ];
    let joined = chat.join("\n");
    for pair in expected.chunks(2) {
        assert!(
            chat.iter()
                .any(|l| l.contains(pair[0]) && l.contains(pair[1])),
            "no line with {pair:?} in the chat's trace:\n{joined}"
        );
    }
    assert_eq!(chat.len(), 6, "one line per head and frame:\n{joined}");

    // Previews are capped: the 32-byte preview ends in " ...", and the
    // line never holds the whole message.
    assert!(chat.iter().all(|l| !l.contains(line)), "{joined}");
    assert!(chat.iter().any(|l| l.ends_with("\" ...")), "{joined}");

    // Both ends label the connection with the client's address and mask
    // with the same key, so the two logs line up frame by frame.
    let server = trace_lines(&server_log);
    let key_of = |l: &&str| l.split("key=").nth(1).map(|k| k[..8].to_string());
    let chat_keys: Vec<String> = chat.iter().filter_map(key_of).collect();
    let server_keys: Vec<String> = server.iter().filter_map(key_of).collect();
    assert_eq!(chat_keys.len(), 2);
    assert_eq!(chat_keys, server_keys);
    let label = chat[0]
        .split("conn ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        server.iter().all(|l| l.contains(label)),
        "{label} in\n{server_log}"
    );
}

#[test]
fn without_the_flag_neither_side_logs_a_trace_line() {
    let (server, port) = start_server(false);
    let chat_log = chat_once(port, false, "quiet please");
    let server_log = stop_server(server);

    assert!(
        chat_log.contains("connected to"),
        "the chat ran: {chat_log}"
    );
    assert_eq!(trace_lines(&chat_log), Vec::<&str>::new());
    assert_eq!(trace_lines(&server_log), Vec::<&str>::new());
}
