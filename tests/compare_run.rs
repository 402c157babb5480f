//! A short real experiment against the crate's own in-process servers: every system at two
//! small tiers for two seconds, checking that `results.json` holds every figure and that the
//! figures agree with each other.

use std::path::PathBuf;

use clap::Parser;
use serde_json::Value;

use pushpull::compare::{self, CompareArgs, CrateDriver, CrateServers};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: CompareArgs,
}

fn out_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pushpull-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Fields every run in results.json carries.
const RUN_FIELDS: &[&str] = &[
    "system",
    "clients",
    "wall_s",
    "failure",
    "warnings",
    "connections",
    "connections_per_s",
    "client",
    "server",
    "polls",
    "empty_polls",
    "wasted_pct",
    "delivery",
    "latency",
    "wire_bytes_per_delivered",
    "cpu",
    "server_cpu_s",
    "generator_cpu_s",
    "peak_rss_bytes",
    "listen",
    "seconds",
];

fn u(v: &Value, path: &[&str]) -> u64 {
    let mut at = v;
    for key in path {
        at = &at[*key];
    }
    at.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a count: {at}"))
}

#[test]
fn a_short_experiment_writes_consistent_results_for_every_system() {
    let out = out_dir();
    let argv = [
        "compare",
        "--tiers",
        "2,3",
        "--duration",
        "2",
        "--send-every",
        "500",
        "--jitter",
        "100",
        "--quiet",
        "--out",
    ];
    let mut argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    argv.push(out.display().to_string());
    let args = Cli::try_parse_from(argv).expect("arguments parse").args;

    compare::main_with(&args, &CrateServers::default(), &CrateDriver).expect("experiment runs");
    let text = std::fs::read_to_string(out.join("results.json")).expect("results.json written");
    let json: Value = serde_json::from_str(&text).expect("valid JSON");

    for key in ["config", "machine", "method", "runs"] {
        assert!(json.get(key).is_some(), "results.json lacks {key}");
    }
    assert!(json["machine"]["cores"].as_u64().unwrap_or(0) >= 1);
    let runs = json["runs"].as_array().expect("runs is a list");
    assert_eq!(runs.len(), 6, "three systems at two tiers");

    for run in runs {
        for field in RUN_FIELDS {
            assert!(run.get(*field).is_some(), "a run lacks {field}: {run}");
        }
        assert!(run["failure"].is_null(), "run failed: {}", run["failure"]);
        check_run(run);
    }
    let _ = std::fs::remove_dir_all(&out);
}

fn check_run(run: &Value) {
    let clients = u(run, &["clients"]);
    let sent = u(run, &["delivery", "sent"]);
    let websocket = run["system"] == "web-socket-event-loop";

    // Every client online for the whole run: each message reaches every other client.
    assert!(sent > 0, "no message was sent: {run}");
    assert_eq!(u(run, &["delivery", "expected"]), sent * (clients - 1));
    assert_eq!(u(run, &["delivery", "lost"]), 0, "{run}");
    assert_eq!(u(run, &["delivery", "delivered"]), sent * (clients - 1));
    assert_eq!(u(run, &["server", "messages_posted"]), sent);

    // Connections: the server's accept count against the clients' own.
    let accepted = u(run, &["connections"]);
    let opened = u(run, &["client", "connections_opened"]);
    if websocket {
        assert_eq!((accepted, opened), (clients, clients));
    } else {
        // A poll's connect may be accepted by the kernel just as the client shuts down,
        // before the client sees it complete: at most one per client.
        assert!(
            opened <= accepted && accepted <= opened + clients,
            "{accepted} vs {opened}"
        );
        assert!(
            accepted > 10 * clients,
            "new connection per poll: {accepted}"
        );
    }

    // Wasted share is empty polls over polls.
    let (polls, empty) = (u(run, &["polls"]), u(run, &["empty_polls"]));
    let wasted = run["wasted_pct"].as_f64().expect("wasted_pct");
    let expected = if polls == 0 {
        0.0
    } else {
        empty as f64 * 100.0 / polls as f64
    };
    assert!((wasted - expected).abs() < 1e-9);
    assert_eq!(polls == 0, websocket);

    // Latency summary ordered, and counted once per delivered receipt.
    let lat = &run["latency"];
    assert_eq!(
        u(run, &["latency", "count"]),
        u(run, &["delivery", "delivered"])
    );
    let p = |k: &str| lat[k].as_f64().expect("latency figure");
    assert!(p("p50_ms") <= p("p90_ms") && p("p90_ms") <= p("p99_ms") && p("p99_ms") <= p("max_ms"));
    assert!(p("p50_ms") >= 0.0);

    // Seconds: the series' last total is the run's accept count.
    let seconds = run["seconds"].as_array().expect("seconds");
    assert!(seconds.len() >= 2, "{run}");
    let last = seconds.last().map(|s| u(s, &["connections_total"]));
    assert_eq!(last, Some(accepted));
}
