//! `pushpull chat` as a user runs it: lines typed on stdin become messages, `--script`
//! sends the built-in conversation, and on exit (end of input or Ctrl-C) the client prints
//! what it measured: messages sent and received and the latency avg, p50, p99 and max.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use common::start_event_loop;

/// The longest a client run may take here; each is bounded well below it.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// A `pushpull chat` process whose stdout lines arrive on a channel.
struct ChatProcess {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl ChatProcess {
    fn start(args: &[&str]) -> ChatProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pushpull"))
            .arg("chat")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        ChatProcess {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Read stdout until a line contains `text`; panics after [`RUN_LIMIT`].
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + RUN_LIMIT;
        while !self.seen.iter().any(|line| line.contains(text)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no {text:?} in the output:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Wait for the process to exit on its own; returns all it printed.
    fn finish(mut self) -> String {
        let deadline = Instant::now() + RUN_LIMIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "chat did not exit");
            thread::sleep(Duration::from_millis(20));
        }
        assert!(self.child.wait().unwrap().success(), "chat failed");
        self.seen.extend(self.lines.iter());
        self.seen.join("\n")
    }
}

/// The summary's latency line: four statistics over `samples` samples.
fn assert_latency_line(output: &str, samples: usize) {
    let line = output
        .lines()
        .find(|line| line.starts_with("latency: "))
        .unwrap_or_else(|| panic!("no latency line in:\n{output}"));
    for part in ["avg ", " ms, p50 ", " ms, p99 ", " ms, max "] {
        assert!(line.contains(part), "{part:?} missing from {line:?}");
    }
    assert!(line.ends_with(&format!("({samples} samples)")), "{line}");
}

#[test]
fn poll_client_sends_typed_lines_and_prints_the_summary_at_end_of_input() {
    let server = start_event_loop();
    let url = format!("http://{}", server.local_addr());
    let mut chat = ChatProcess::start(&[
        "--transport",
        "poll",
        "--name",
        "Pat",
        "--url",
        &url,
        "--keep-alive",
    ]);

    let mut stdin = chat.child.stdin.take().unwrap();
    stdin.write_all(b"first line\nsecond line\n").unwrap();
    chat.wait_for("[Pat] second line");
    drop(stdin);
    let output = chat.finish();

    assert!(output.contains("-- summary"), "{output}");
    assert!(output.contains("messages: 2 sent, 2 received"), "{output}");
    assert_latency_line(&output, 2);
    // --keep-alive: every poll and post went over the one connection.
    assert!(output.contains("connections: 1 opened"), "{output}");
    assert!(output.contains("\npolls: "), "{output}");
}

#[test]
fn ws_client_script_is_interrupted_by_ctrl_c_and_still_prints_the_summary() {
    let server = start_event_loop();
    let url = format!("ws://{}/ws", server.local_addr());
    let mut chat = ChatProcess::start(&[
        "--transport",
        "ws",
        "--name",
        "Sam",
        "--url",
        &url,
        "--script",
    ]);

    // The first built-in line goes out about 2 s in; interrupt the script after it.
    chat.wait_for("[Sam] Hi all, is anyone around?");
    let pid = chat.child.id().to_string();
    let signalled = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(signalled.success());
    chat.wait_for("-- summary");
    let output = chat.finish();

    assert!(output.contains("messages: 1 sent, 1 received"), "{output}");
    assert_latency_line(&output, 1);
}
