//! The `pushpull` command line: servers, clients and the experiment.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use log::{error, warn};

use pushpull::http::request::Limits;
use pushpull::server::event_loop::{EventLoopConfig, EventLoopServer};
use pushpull::server::threaded::{ThreadedConfig, ThreadedServer};
use pushpull::stats;

#[derive(Parser)]
#[command(
    name = "pushpull",
    version,
    about = "HTTP polling and WebSockets, side by side"
)]
struct Cli {
    /// Log level: error, warn, info, debug or trace ($PUSHPULL_LOG overrides it, and also takes
    /// per-module filters such as `pushpull::server=debug`).
    #[arg(long, global = true, default_value = "info", value_parser = parse_level)]
    log: log::LevelFilter,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The single-threaded mio server: polling endpoints, /ws chat and /echo.
    Serve(ServeArgs),
    /// The thread-per-connection polling server, for contrast (no WebSocket).
    ServeThreaded(ServeThreadedArgs),
    /// A chat client over HTTP polling or a WebSocket.
    Chat(pushpull::client::cli::ChatArgs),
    /// Drive Autobahn's fuzzingserver with our WebSocket client (echo every message).
    AutobahnClient(pushpull::client::cli::AutobahnArgs),
    /// Explain HTTP heads and WebSocket frames field by field (hex, a file, or a capture).
    Explain(pushpull::explain::ExplainArgs),
    /// The experiment: polling vs WebSockets at several client counts, into results/.
    Compare(pushpull::compare::CompareArgs),
    /// Play a short scripted exchange (or `all`) against a running `serve`.
    Demo(pushpull::demo::DemoArgs),
}

/// Settings both servers share.
#[derive(Args)]
struct CommonServerArgs {
    /// Seconds between statistics windows, printed on stdout (0 turns them off; at
    /// least 0.1 otherwise).
    #[arg(long, default_value_t = 5.0, value_parser = parse_stats_window)]
    stats_window: f64,

    /// Don't log each chat message.
    #[arg(long)]
    quiet: bool,

    /// How many chat messages the polling log keeps (at least 1).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    log_capacity: u64,

    /// Largest request body accepted, in bytes (413 past it).
    #[arg(long, default_value_t = Limits::default().max_body)]
    max_body: usize,

    /// Length of the kernel's queue of connections waiting to be accepted (Linux caps it
    /// at net.core.somaxconn). Python's socketserver uses 5.
    #[arg(long, default_value_t = pushpull::server::DEFAULT_BACKLOG)]
    backlog: u32,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,

    /// Largest message on /echo, in bytes (1009 past it).
    #[arg(long, default_value_t = EventLoopConfig::default().echo.max_message_size)]
    echo_max_message: usize,

    /// Largest message on /ws, in bytes (1009 past it).
    #[arg(long, default_value_t = EventLoopConfig::default().chat.max_message_size)]
    chat_max_message: usize,

    /// Seconds to wait, on /echo and /ws, for the peer's Close after sending ours before
    /// dropping the connection (RFC 6455 §7.1.1).
    #[arg(
        long,
        value_name = "SECS",
        value_parser = parse_positive_secs,
        default_value_t = EventLoopConfig::default().echo.close_timeout.as_secs_f64(),
    )]
    close_timeout: f64,

    /// Log one line per HTTP head and WebSocket frame, each way (`<` received,
    /// `>` sent), with a payload preview of at most 32 bytes.
    #[arg(long)]
    trace: bool,

    /// For demonstrations only: put the same fixed instant (2023-11-14T22:13:20Z, the
    /// clients' --fixed-clock) in every HTTP Date header, so that two seeded `pushpull demo`
    /// runs against fresh servers put identical bytes on the wire. A real server sends the
    /// current time (RFC 9110 §6.6.1).
    #[arg(long)]
    fixed_clock: bool,

    /// Decline permessage-deflate (RFC 7692) offers: messages on /echo and
    /// /ws then always travel uncompressed.
    #[arg(long)]
    no_deflate: bool,

    #[command(flatten)]
    common: CommonServerArgs,
}

#[derive(Args)]
struct ServeThreadedArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    addr: SocketAddr,

    #[command(flatten)]
    common: CommonServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log);
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::ServeThreaded(args) => serve_threaded(args),
        Command::Chat(args) => pushpull::client::cli::run_chat(&args),
        Command::AutobahnClient(args) => pushpull::client::cli::run_autobahn_client(&args),
        Command::Explain(args) => return explain(args),
        Command::Compare(args) => pushpull::compare::run_compare(&args),
        Command::Demo(args) => pushpull::demo::run_demo(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn explain(args: pushpull::explain::ExplainArgs) -> ExitCode {
    pushpull::explain::run(args).unwrap_or_else(|e| {
        error!("{e}");
        ExitCode::FAILURE
    })
}

/// The exit status after a second SIGINT or SIGTERM cut a graceful shutdown short.
const EXIT_ON_SECOND_SIGNAL: i32 = 1;

/// The environment variable whose filter, when set, replaces `--log`.
const LOG_ENV: &str = "PUSHPULL_LOG";

/// One line per record on stderr: UTC timestamp with milliseconds, level, module, message.
fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env(env_logger::Env::new().filter(LOG_ENV))
        .format_timestamp_millis()
        .target(env_logger::Target::Stderr)
        .init();
}

fn parse_level(text: &str) -> Result<log::LevelFilter, String> {
    text.parse()
        .map_err(|_| format!("unknown log level {text:?}"))
}

/// A duration in seconds that `Duration` can hold and that is more than zero.
fn parse_positive_secs(text: &str) -> Result<f64, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("{text} is not more than 0 seconds"));
    }
    match Duration::try_from_secs_f64(secs) {
        // Below a nanosecond rounds to no wait at all.
        Ok(duration) if duration.is_zero() => Err(format!("{text} is not more than 0 seconds")),
        Ok(_) => Ok(secs),
        Err(_) => Err(format!("{text} seconds is too long to wait")),
    }
}

/// The shortest statistics window: a shorter one would print faster than anyone reads.
const MIN_STATS_WINDOW_SECS: f64 = 0.1;

/// `--stats-window`: 0 (off) or a number of seconds no shorter than the minimum.
fn parse_stats_window(text: &str) -> Result<f64, String> {
    if text.trim().parse::<f64>() == Ok(0.0) {
        return Ok(0.0);
    }
    let secs = parse_positive_secs(text)?;
    if secs < MIN_STATS_WINDOW_SECS {
        return Err(format!(
            "{text} s is shorter than the {MIN_STATS_WINDOW_SECS} s minimum (0 turns stats off)"
        ));
    }
    Ok(secs)
}

fn limits(common: &CommonServerArgs) -> Limits {
    Limits {
        max_body: common.max_body,
        ..Limits::default()
    }
}

/// Start the statistics printer unless the window is 0.
fn reporter(
    common: &CommonServerArgs,
    stats: std::sync::Arc<stats::Stats>,
    websocket: bool,
) -> Option<stats::ReporterHandle> {
    (common.stats_window > 0.0).then(|| {
        stats::spawn_reporter(
            stats,
            Duration::from_secs_f64(common.stats_window),
            websocket,
        )
    })
}

/// Call `stop` on the first SIGINT or SIGTERM (the `ctrlc` crate's `termination`
/// feature catches both); a second one ends the process at once.
fn on_termination_signal(stop: impl Fn() + Send + 'static) -> std::io::Result<()> {
    let mut signalled = false;
    ctrlc::set_handler(move || {
        if signalled {
            warn!("second signal: exiting without waiting for connections to end");
            std::process::exit(EXIT_ON_SECOND_SIGNAL);
        }
        signalled = true;
        stop();
    })
    .map_err(std::io::Error::other)
}

/// The statistics reporter's last, partial window on the way out.
fn last_window(reporter: Option<stats::ReporterHandle>) {
    if let Some(reporter) = reporter {
        reporter.stop_after_last_window();
    }
}

fn serve(args: ServeArgs) -> std::io::Result<()> {
    let mut config = EventLoopConfig {
        limits: limits(&args.common),
        log_capacity: usize::try_from(args.common.log_capacity).unwrap_or(usize::MAX),
        quiet: args.common.quiet,
        backlog: args.common.backlog,
        ..EventLoopConfig::default()
    };
    config.echo.max_message_size = args.echo_max_message;
    config.chat.max_message_size = args.chat_max_message;
    let close_timeout = Duration::from_secs_f64(args.close_timeout);
    config.echo.close_timeout = close_timeout;
    config.chat.close_timeout = close_timeout;
    config.trace = args.trace;
    if args.fixed_clock {
        let fixed = Duration::from_secs_f64(pushpull::client::seeded::FIXED_CLOCK_UNIX_MS / 1000.0);
        config.fixed_date = Some(std::time::UNIX_EPOCH + fixed);
    }

    config.deflate = !args.no_deflate;

    let server = EventLoopServer::bind(args.addr, config)?;
    let stopper = server.stop_handle();
    on_termination_signal(move || {
        if let Err(e) = stopper.request_stop() {
            error!("cannot wake the event loop to stop it: {e}");
        }
    })?;
    let reporter = reporter(&args.common, server.stats(), true);
    let result = server.run();
    last_window(reporter);
    result
}

fn serve_threaded(args: ServeThreadedArgs) -> std::io::Result<()> {
    let config = ThreadedConfig {
        limits: limits(&args.common),
        log_capacity: usize::try_from(args.common.log_capacity).unwrap_or(usize::MAX),
        quiet: args.common.quiet,
        backlog: args.common.backlog,
        ..ThreadedConfig::default()
    };
    let server = ThreadedServer::bind(args.addr, config)?;
    let (signalled, signal) = std::sync::mpsc::channel();
    on_termination_signal(move || {
        let _ = signalled.send(());
    })?;
    let reporter = reporter(&args.common, server.stats(), false);
    let running = server.spawn()?;

    // The handler keeps its sender for the life of the process, so this waits for a signal.
    let _ = signal.recv();
    running.shutdown();
    last_window(reporter);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parse_positive_secs, parse_stats_window};

    #[test]
    fn close_timeout_takes_positive_seconds_a_duration_can_hold() {
        assert_eq!(parse_positive_secs("0.5"), Ok(0.5));
        assert_eq!(parse_positive_secs("5"), Ok(5.0));
        for refused in ["0", "-1", "NaN", "1e-12", "1e300", "soon", ""] {
            assert!(parse_positive_secs(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn stats_window_is_off_or_a_tenth_of_a_second_or_more() {
        assert_eq!(parse_stats_window("0"), Ok(0.0));
        assert_eq!(parse_stats_window("0.1"), Ok(0.1));
        assert_eq!(parse_stats_window("5"), Ok(5.0));
        for refused in ["inf", "1e300", "1e-9", "0.05", "-1", "NaN", "often"] {
            assert!(parse_stats_window(refused).is_err(), "{refused:?}");
        }
    }
}
