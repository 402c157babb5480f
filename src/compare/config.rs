//! The experiment's settings, their defaults (the Python experiment's), and the `compare`
//! command line.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::driver::{LoadPlan, Transport};
use super::system::System;

/// Client counts of the original's three tiers.
pub const DEFAULT_TIERS: &[usize] = &[5, 50, 100];
/// Length of each run's sending phase, as in the original.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The original's poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);
/// Each client sends one message about every 2 s ...
pub const DEFAULT_SEND_MEAN: Duration = Duration::from_secs(2);
/// ... with each gap drawn uniformly from the mean ± this, so clients do not send in step.
pub const DEFAULT_SEND_JITTER: Duration = Duration::from_millis(500);
/// Loopback source addresses client sockets are spread over (127.0.0.2 onwards), each with
/// its own ephemeral port range.
pub const DEFAULT_SOURCE_ADDRS: u8 = 32;
/// The last usable loopback host for source addresses, 127.0.0.254.
const MAX_SOURCE_ADDRS: u8 = 253;
pub const DEFAULT_OUT_DIR: &str = "results";
/// A fixed seed: two runs of the same configuration send on the same schedule.
pub const DEFAULT_SEED: u64 = 0x7075_7368_7075_6c6c;

/// The `compare` subcommand's options.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// Client counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "5,50,100")]
    pub tiers: Vec<usize>,
    /// Seconds each run sends messages (receiving goes on a little longer, see --drain-ms).
    #[arg(long, default_value_t = DEFAULT_DURATION.as_secs_f64())]
    pub duration: f64,
    /// Milliseconds between polls.
    #[arg(long, default_value_t = DEFAULT_INTERVAL.as_millis() as u64)]
    pub interval: u64,
    /// Mean milliseconds between one client's messages.
    #[arg(long, default_value_t = DEFAULT_SEND_MEAN.as_millis() as u64)]
    pub send_every: u64,
    /// Each gap between messages is drawn from send-every ± this many milliseconds.
    #[arg(long, default_value_t = DEFAULT_SEND_JITTER.as_millis() as u64)]
    pub jitter: u64,
    /// Milliseconds clients keep receiving after sending stops (default: 3 intervals + 500).
    #[arg(long)]
    pub drain_ms: Option<u64>,
    /// Also run polling over one kept-alive connection per client, on both servers.
    #[arg(long)]
    pub keep_alive: bool,
    /// Loopback source addresses to spread client sockets over (0: the kernel chooses).
    #[arg(long, default_value_t = DEFAULT_SOURCE_ADDRS)]
    pub source_addrs: u8,
    /// Run only these systems, comma-separated (default: the three of the experiment, plus
    /// the keep-alive pair with --keep-alive).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub systems: Vec<System>,
    /// Folder for results.json and the charts.
    #[arg(long, default_value = DEFAULT_OUT_DIR)]
    pub out: PathBuf,
    /// Seed of the send schedule.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Accept-queue length of both servers. A small one (Python's socketserver uses 5) shows
    /// how polling clients stall when their connections arrive faster than they are accepted.
    #[arg(long, default_value_t = crate::server::DEFAULT_BACKLOG)]
    pub backlog: u32,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// The validated settings of one experiment.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub tiers: Vec<usize>,
    pub systems: Vec<System>,
    #[serde(serialize_with = "as_secs")]
    pub duration: Duration,
    #[serde(serialize_with = "as_secs")]
    pub poll_interval: Duration,
    #[serde(serialize_with = "as_secs")]
    pub send_mean: Duration,
    #[serde(serialize_with = "as_secs")]
    pub send_jitter: Duration,
    #[serde(serialize_with = "as_secs")]
    pub drain: Duration,
    pub source_ips: Vec<IpAddr>,
    pub seed: u64,
    /// Accept-queue length of both servers.
    pub backlog: u32,
    pub out_dir: PathBuf,
    #[serde(skip)]
    pub progress: bool,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why.to_string())
}

impl Config {
    pub fn from_args(args: &CompareArgs) -> io::Result<Config> {
        if args.tiers.is_empty() || args.tiers.contains(&0) {
            return Err(invalid(
                "--tiers needs one or more client counts above zero",
            ));
        }
        if !(args.duration.is_finite() && args.duration > 0.0) {
            return Err(invalid("--duration must be a positive number of seconds"));
        }
        if args.interval == 0 || args.send_every == 0 {
            return Err(invalid("--interval and --send-every must be above zero"));
        }
        if args.jitter >= args.send_every {
            return Err(invalid("--jitter must be below --send-every"));
        }
        if args.backlog == 0 {
            return Err(invalid("--backlog must be at least 1"));
        }
        if args.source_addrs > MAX_SOURCE_ADDRS {
            return Err(invalid(
                "--source-addrs allows at most 253 (127.0.0.2..=127.0.0.254)",
            ));
        }

        let interval = Duration::from_millis(args.interval);
        let default_drain = 3 * interval + Duration::from_millis(500);
        let mut systems = System::DEFAULT.to_vec();
        if args.keep_alive {
            systems.extend(System::KEEP_ALIVE);
        }
        if !args.systems.is_empty() {
            systems = args.systems.clone();
        }
        Ok(Config {
            tiers: args.tiers.clone(),
            systems,
            duration: Duration::from_secs_f64(args.duration),
            poll_interval: interval,
            send_mean: Duration::from_millis(args.send_every),
            send_jitter: Duration::from_millis(args.jitter),
            drain: args.drain_ms.map_or(default_drain, Duration::from_millis),
            source_ips: source_ips(args.source_addrs),
            seed: args.seed,
            backlog: args.backlog,
            out_dir: args.out.clone(),
            progress: !args.quiet,
        })
    }

    /// The parts of a [`LoadPlan`] that do not change from run to run.
    pub fn plan_template(&self) -> LoadPlan {
        LoadPlan {
            server: ([127, 0, 0, 1], 0).into(),
            transport: Transport::Polling,
            keep_alive: false,
            clients: 0,
            send_for: self.duration,
            drain: self.drain,
            poll_interval: self.poll_interval,
            send_mean: self.send_mean,
            send_jitter: self.send_jitter,
            source_ips: self.source_ips.clone(),
            seed: self.seed,
        }
    }
}

/// 127.0.0.2, 127.0.0.3, ...: all loopback (RFC 1122 §3.2.1.3 reserves 127/8 for it).
fn source_ips(count: u8) -> Vec<IpAddr> {
    (0..count)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CompareArgs,
    }

    fn parse(argv: &[&str]) -> CompareArgs {
        let mut full = vec!["compare"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).expect("parses").args
    }

    #[test]
    fn no_arguments_is_the_original_experiment() {
        let config = Config::from_args(&parse(&[])).expect("valid");
        assert_eq!(config.tiers, DEFAULT_TIERS);
        assert_eq!(config.systems, System::DEFAULT.to_vec());
        assert_eq!(config.duration, Duration::from_secs(10));
        assert_eq!(config.poll_interval, Duration::from_millis(100));
        assert_eq!(config.drain, Duration::from_millis(800));
        assert_eq!(config.source_ips.len(), 32);
        assert_eq!(config.out_dir, PathBuf::from("results"));
    }

    #[test]
    fn tiers_and_keep_alive_parse() {
        let config =
            Config::from_args(&parse(&["--tiers", "5,50,100,1000", "--keep-alive"])).expect("ok");
        assert_eq!(config.tiers, vec![5, 50, 100, 1000]);
        assert_eq!(config.systems.len(), 5);
    }

    #[test]
    fn nonsense_settings_are_refused_with_the_reason() {
        let err = Config::from_args(&parse(&["--tiers", "0"])).unwrap_err();
        assert!(err.to_string().contains("--tiers"));
        let err = Config::from_args(&parse(&["--jitter", "5000"])).unwrap_err();
        assert!(err.to_string().contains("--jitter"));
    }
}
