//! `pushpull serve --trace` logs one line per HTTP head and per frame, each
//! way, while `pushpull demo fragmented` talks to it.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pushpull::demo::{self, DemoOptions, Scenario};

const START_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn serve_trace_logs_each_head_and_frame_with_its_direction() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_pushpull"))
        .args(["serve", "--trace", "--stats-window", "0", "--quiet"])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        thread::sleep(Duration::from_millis(20));
    }

    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let options = DemoOptions {
        addr,
        host: addr.to_string(),
        seed: Some(1),
        fixed_clock: true,
    };
    let result = demo::run(&[Scenario::Fragmented], options);
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
    result.unwrap();

    for expected in [
        "< conn 127.0.0.1:",
        "\"GET /echo HTTP/1.1\"",
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
