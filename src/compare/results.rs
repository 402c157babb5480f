//! `results.json`: every figure of every run, the configuration, the machine, and a plain
//! statement of how each figure was measured.

use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;

use super::analysis::RunResult;
use super::config::Config;
use super::procfs::{self, MachineInfo};

pub const RESULTS_FILE: &str = "results.json";

/// How the figures come about, written into `results.json` beside them.
pub const METHOD: &[(&str, &str)] = &[
    (
        "connections",
        "TCP connections accepted by the server (its connections_opened counter) during the \
         run; the clients' own count of completed connects is kept in client.connections_opened \
         and a mismatch is listed under warnings",
    ),
    (
        "wasted_pct",
        "empty polls / polls answered, both counted by the server",
    ),
    (
        "delivery",
        "a message sent at t by client s is expected at every other client whose online \
         interval covers t; receipts are matched by sender and sent_at",
    ),
    (
        "latency",
        "receiver's wall clock at parsing minus the sent_at the sender embedded, over every \
         receipt; percentiles by nearest rank over all samples",
    ),
    (
        "wire_bytes_per_delivered",
        "bytes written plus bytes read on every client socket (HTTP heads, bodies, WebSocket \
         frame headers and handshakes included) / delivered (message, recipient) pairs",
    ),
    (
        "server_cpu",
        "utime+stime of the whole process (/proc/self/stat, exited threads included) minus \
         the generator thread's, the sampler thread's and the orchestrating thread's own \
         (/proc/thread-self/stat, read by each at its start and end); resolution 10 ms \
         (USER_HZ = 100)",
    ),
    (
        "peak_rss",
        "VmHWM of the whole process after resetting it through /proc/self/clear_refs before \
         the run: it includes the client generator and the experiment's own buffers, not the \
         server alone",
    ),
    (
        "listen",
        "TcpExt ListenOverflows and ListenDrops deltas of /proc/net/netstat: counted for the \
         whole network namespace, so other traffic on the machine would show up too",
    ),
    (
        "seconds",
        "server and client counters sampled once a second; avg latency per second over the \
         receipts that arrived in that second",
    ),
];

/// The whole experiment, as written to `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Experiment {
    pub tool: &'static str,
    pub version: &'static str,
    pub started_at_unix_ms: f64,
    pub config: Config,
    pub machine: MachineInfo,
    pub method: Vec<Method>,
    pub runs: Vec<RunResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub figure: &'static str,
    pub how: &'static str,
}

impl Experiment {
    pub fn new(config: &Config, started_at_unix_ms: f64, runs: Vec<RunResult>) -> Experiment {
        Experiment {
            tool: "pushpull compare",
            version: env!("CARGO_PKG_VERSION"),
            started_at_unix_ms,
            config: config.clone(),
            machine: procfs::machine_info(),
            method: METHOD
                .iter()
                .map(|&(figure, how)| Method { figure, how })
                .collect(),
            runs,
        }
    }

    pub fn write(&self, path: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        fs::write(path, text + "\n")
    }
}
