//! Counters shared by both servers and the experiment, and the windowed stats printer.
//!
//! Every counter is an `AtomicU64` updated with `Ordering::Relaxed`: each is an
//! independent tally read only for reporting, so no ordering between counters is needed
//! and a window may split two related increments by a few microseconds.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The live counters. Servers bump them with [`Stats::add`] (or `fetch_add` directly).
#[derive(Debug, Default)]
pub struct Stats {
    /// TCP connections accepted.
    pub connections_opened: AtomicU64,
    /// TCP connections closed, for whatever reason.
    pub connections_closed: AtomicU64,
    /// HTTP requests parsed completely (each counts once, whatever its answer).
    pub http_requests: AtomicU64,
    /// HTTP answers with a 4xx or 5xx status, whoever gave them: the parser, a deadline,
    /// the chat endpoints or the WebSocket handshake. Counted by [`Stats::count_answer`].
    pub http_errors: AtomicU64,
    /// `GET /messages` polls answered.
    pub polls: AtomicU64,
    /// Polls whose answer held no message.
    pub empty_polls: AtomicU64,
    /// Chat messages stored, over either transport.
    pub messages_posted: AtomicU64,
    /// WebSocket connections open now: a gauge, not a counter.
    pub ws_open: AtomicU64,
    /// WebSocket frames received and sent.
    pub ws_frames_in: AtomicU64,
    pub ws_frames_out: AtomicU64,
    /// WebSocket bytes received and sent, frame headers included.
    pub ws_bytes_in: AtomicU64,
    pub ws_bytes_out: AtomicU64,
}

/// A plain copy of [`Stats`] at one instant.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    pub connections_opened: u64,
    pub connections_closed: u64,
    pub http_requests: u64,
    pub http_errors: u64,
    pub polls: u64,
    pub empty_polls: u64,
    pub messages_posted: u64,
    pub ws_open: u64,
    pub ws_frames_in: u64,
    pub ws_frames_out: u64,
    pub ws_bytes_in: u64,
    pub ws_bytes_out: u64,
}

impl Stats {
    pub fn new() -> Self {
        Stats::default()
    }

    /// Add `n` to `counter` (one of this struct's fields).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Count one HTTP answer about to be sent. Both servers call this for every response
    /// they write, so that `http_errors` means the same thing on both.
    pub fn count_answer(&self, status: u16) {
        // RFC 9110 §15.5 and §15.6: 4xx and 5xx are the error classes.
        if status >= 400 {
            Stats::add(&self.http_errors, 1);
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_opened: read(&self.connections_opened),
            connections_closed: read(&self.connections_closed),
            http_requests: read(&self.http_requests),
            http_errors: read(&self.http_errors),
            polls: read(&self.polls),
            empty_polls: read(&self.empty_polls),
            messages_posted: read(&self.messages_posted),
            ws_open: read(&self.ws_open),
            ws_frames_in: read(&self.ws_frames_in),
            ws_frames_out: read(&self.ws_frames_out),
            ws_bytes_in: read(&self.ws_bytes_in),
            ws_bytes_out: read(&self.ws_bytes_out),
        }
    }
}

impl StatsSnapshot {
    /// What happened between `earlier` and `self`: counters subtracted, while the `ws_open`
    /// gauge keeps its current value.
    pub fn delta(&self, earlier: &StatsSnapshot) -> StatsSnapshot {
        let sub = |now: u64, then: u64| now.saturating_sub(then);
        StatsSnapshot {
            connections_opened: sub(self.connections_opened, earlier.connections_opened),
            connections_closed: sub(self.connections_closed, earlier.connections_closed),
            http_requests: sub(self.http_requests, earlier.http_requests),
            http_errors: sub(self.http_errors, earlier.http_errors),
            polls: sub(self.polls, earlier.polls),
            empty_polls: sub(self.empty_polls, earlier.empty_polls),
            messages_posted: sub(self.messages_posted, earlier.messages_posted),
            ws_open: self.ws_open,
            ws_frames_in: sub(self.ws_frames_in, earlier.ws_frames_in),
            ws_frames_out: sub(self.ws_frames_out, earlier.ws_frames_out),
            ws_bytes_in: sub(self.ws_bytes_in, earlier.ws_bytes_in),
            ws_bytes_out: sub(self.ws_bytes_out, earlier.ws_bytes_out),
        }
    }
}

/// One stats window in the Python experiment's shape, plus a line of our own for the HTTP
/// errors answered. `delta` covers the window, `total_conns` is every connection since
/// start. Rates divide by the window length; the wasted share is rounded half to even, as
/// Python's `{:.0f}` does.
pub fn format_window(
    delta: &StatsSnapshot,
    window: Duration,
    total_conns: u64,
    websocket: bool,
) -> String {
    let secs = window.as_secs_f64();
    let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let wasted = match delta.polls {
        0 => 0.0,
        polls => delta.empty_polls as f64 * 100.0 / polls as f64,
    };

    let mut out = format!("[stats] --- {}s window ---\n", format_secs(secs));
    let mut line = |label: &str, value: String| {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "[stats] {label:<24} : {value}");
    };
    line("Total connections opened", total_conns.to_string());
    line(
        "Connection rate",
        format!("{:.1}/s", per_sec(delta.connections_opened)),
    );
    line("Polls (GET requests)", delta.polls.to_string());
    let empty = delta.empty_polls;
    line(
        "Polls that were empty",
        format!("{empty} ({wasted:.0}% wasted)"),
    );
    line("Messages posted", delta.messages_posted.to_string());
    line(
        "Message rate",
        format!("{:.2} msg/s", per_sec(delta.messages_posted)),
    );
    line("HTTP errors (4xx/5xx)", delta.http_errors.to_string());

    if websocket {
        let (frames_in, frames_out) = (delta.ws_frames_in, delta.ws_frames_out);
        let (bytes_in, bytes_out) = (delta.ws_bytes_in, delta.ws_bytes_out);
        line("WebSockets open", delta.ws_open.to_string());
        line("Frames in / out", format!("{frames_in} / {frames_out}"));
        line("Bytes in / out", format!("{bytes_in} / {bytes_out}"));
    }
    out
}

/// `duration` rounded up to a tenth of a second, so a partial window's title stays short
/// and never says `0s`.
fn to_tenths(duration: Duration) -> Duration {
    let tenths = duration.as_micros().div_ceil(100_000);
    Duration::from_millis(u64::try_from(tenths * 100).unwrap_or(u64::MAX))
}

/// `5` for whole seconds, `2.5` otherwise.
fn format_secs(secs: f64) -> String {
    match secs.fract() == 0.0 {
        true => format!("{secs:.0}"),
        false => format!("{secs}"),
    }
}

/// The reporter thread; [`ReporterHandle::stop`] (or dropping it) ends it promptly.
#[derive(Debug)]
pub struct ReporterHandle {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ReporterHandle {
    /// Stop the reporter and wait for its thread; a partial window is not printed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Print the window in progress, its length rounded to a tenth of a second, then stop:
    /// a server's last report on its way out.
    pub fn stop_after_last_window(mut self) {
        if let Some(stop) = self.stop.take() {
            // Sent before the sender drops, so the thread receives it before disconnecting.
            let _ = stop.send(());
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Dropping the sender wakes the thread's `recv_timeout` at once.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ReporterHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Print [`format_window`] to stdout every `window`, from a thread that sleeps between
/// windows.
pub fn spawn_reporter(stats: Arc<Stats>, window: Duration, websocket: bool) -> ReporterHandle {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = thread::Builder::new()
        .name("stats-reporter".into())
        .spawn(move || {
            let mut last = stats.snapshot();
            let mut started = Instant::now();
            loop {
                // Waiting on the channel is the sleep: it ends early only when told to stop.
                let (length, is_last) = match stopped.recv_timeout(window) {
                    Err(RecvTimeoutError::Timeout) => (window, false),
                    Ok(()) => (to_tenths(started.elapsed()), true),
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                let now = stats.snapshot();
                let text =
                    format_window(&now.delta(&last), length, now.connections_opened, websocket);
                let mut stdout = std::io::stdout().lock();
                let _ = stdout
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout.flush());
                if is_last {
                    return;
                }
                last = now;
                started = Instant::now();
            }
        });

    match thread {
        Ok(thread) => ReporterHandle {
            stop: Some(stop),
            thread: Some(thread),
        },
        Err(err) => {
            log::error!("cannot start the stats reporter: {err}");
            ReporterHandle {
                stop: None,
                thread: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_window_prints_the_python_experiment_lines_and_http_errors() {
        let delta = StatsSnapshot {
            connections_opened: 102,
            polls: 100,
            empty_polls: 96,
            messages_posted: 2,
            http_errors: 3,
            ..StatsSnapshot::default()
        };
        let expected = "\
[stats] --- 5s window ---
[stats] Total connections opened : 102
[stats] Connection rate          : 20.4/s
[stats] Polls (GET requests)     : 100
[stats] Polls that were empty    : 96 (96% wasted)
[stats] Messages posted          : 2
[stats] Message rate             : 0.40 msg/s
[stats] HTTP errors (4xx/5xx)    : 3
";
        assert_eq!(
            format_window(&delta, Duration::from_secs(5), 102, false),
            expected
        );
    }

    #[test]
    fn format_window_adds_websocket_lines_and_survives_no_polls() {
        let delta = StatsSnapshot {
            ws_open: 5,
            ws_frames_in: 25,
            ws_frames_out: 125,
            ws_bytes_in: 1000,
            ws_bytes_out: 5000,
            messages_posted: 25,
            ..StatsSnapshot::default()
        };
        let text = format_window(&delta, Duration::from_millis(2500), 5, true);
        assert!(text.starts_with("[stats] --- 2.5s window ---\n"));
        assert!(text.contains("[stats] Connection rate          : 0.0/s\n"));
        assert!(text.contains("[stats] Polls that were empty    : 0 (0% wasted)\n"));
        assert!(text.contains("[stats] Message rate             : 10.00 msg/s\n"));
        assert!(text.contains("[stats] HTTP errors (4xx/5xx)    : 0\n"));
        assert!(text.contains("[stats] WebSockets open          : 5\n"));
        assert!(text.contains("[stats] Frames in / out          : 25 / 125\n"));
        assert!(text.ends_with("[stats] Bytes in / out           : 1000 / 5000\n"));
    }

    #[test]
    fn delta_subtracts_counters_but_keeps_the_open_gauge() {
        let stats = Stats::new();
        Stats::add(&stats.polls, 3);
        Stats::add(&stats.http_errors, 5);
        Stats::add(&stats.ws_open, 2);
        let before = stats.snapshot();
        Stats::add(&stats.polls, 4);
        Stats::add(&stats.http_errors, 1);
        let delta = stats.snapshot().delta(&before);
        assert_eq!((delta.polls, delta.http_errors, delta.ws_open), (4, 1, 2));
    }

    #[test]
    fn only_4xx_and_5xx_answers_count_as_http_errors() {
        let stats = Stats::new();
        for status in [101, 200, 201, 304, 399, 400, 410, 501] {
            stats.count_answer(status);
        }
        assert_eq!(stats.snapshot().http_errors, 3);
    }

    #[test]
    fn a_partial_window_is_titled_in_tenths_of_a_second() {
        assert_eq!(
            to_tenths(Duration::from_millis(2_340)),
            Duration::from_millis(2_400)
        );
        assert_eq!(
            to_tenths(Duration::from_micros(10)),
            Duration::from_millis(100)
        );
        let title = format_window(
            &StatsSnapshot::default(),
            to_tenths(Duration::from_millis(1_201)),
            0,
            false,
        );
        assert!(
            title.starts_with("[stats] --- 1.3s window ---\n"),
            "{title}"
        );
    }

    #[test]
    fn reporter_stops_promptly() {
        let handle = spawn_reporter(Arc::new(Stats::new()), Duration::from_secs(60), false);
        let started = std::time::Instant::now();
        handle.stop();
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
