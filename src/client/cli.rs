//! Command-line entry points of the clients: `chat` and `autobahn-client`.
//! `main.rs` flattens these argument structs into its subcommands.

use std::io::{self, BufRead};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use clap::{Args, ValueEnum};
use log::warn;

use super::autobahn;
use super::driver::{ClientCounters, Driver, DriverConfig, DriverHandle};
use super::latency::LatencyStats;
use super::machine::{ChatClient, ClientEvent, Now};
use super::poller::{Poller, PollerConfig};
use super::schedule::Schedule;
use super::url::{Scheme, Url};
use super::ws_client::{WsClient, WsClientConfig};

/// Default server URL of `chat --transport poll`.
pub const DEFAULT_POLL_URL: &str = "http://127.0.0.1:8080";

/// Default server URL of `chat --transport ws`.
pub const DEFAULT_WS_URL: &str = "ws://127.0.0.1:8080/ws";

/// Which way the chat client talks to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// HTTP polling: `GET /messages?since=N` on an interval, `POST /messages`.
    Poll,
    /// One WebSocket connection, messages pushed by the server.
    Ws,
}

/// `pushpull chat`: an interactive (or scripted) chat client.
#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// How to reach the server.
    #[arg(long, value_enum, default_value_t = Transport::Ws)]
    pub transport: Transport,
    /// The name shown with your messages (1 to 64 characters, no control characters).
    #[arg(long, value_parser = parse_name)]
    pub name: String,
    /// Server URL [default: http://127.0.0.1:8080 for poll, ws://127.0.0.1:8080/ws for ws].
    #[arg(long)]
    pub url: Option<String>,
    /// Send a built-in conversation, one line every 2 s, then exit.
    #[arg(long)]
    pub script: bool,
    /// Poll interval in milliseconds (poll transport; at least 1).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_ms: u64,
    /// Reuse one TCP connection for all polls (poll transport).
    #[arg(long)]
    pub keep_alive: bool,
    /// FOR DEMONSTRATIONS ONLY (ws transport): take the handshake nonce and
    /// masking keys from a generator seeded with N, for reproducible
    /// captures. RFC 6455 §10.3 requires unpredictable masking keys; without
    /// this flag they are random.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Stamp every message with a fixed sent_at (2023-11-14T22:13:20Z)
    /// instead of the wall clock (ws transport; latencies then mean nothing).
    #[arg(long)]
    pub fixed_clock: bool,
    /// Log one line per HTTP head and WebSocket frame, each way (`<`
    /// received, `>` sent), with a payload preview of at most 32 bytes.
    #[arg(long)]
    pub trace: bool,

    /// Offer permessage-deflate (RFC 7692) when connecting (ws transport).
    #[arg(long)]
    pub deflate: bool,
}

/// `pushpull autobahn-client`: run Autobahn's fuzzingserver cases.
#[derive(Debug, Clone, Args)]
pub struct AutobahnArgs {
    /// The fuzzingserver's base URL.
    #[arg(long, default_value = "ws://127.0.0.1:9001")]
    pub url: String,
    /// The agent name the reports are filed under.
    #[arg(long, default_value = "pushpull")]
    pub agent: String,
    /// Do not offer permessage-deflate (RFC 7692); Autobahn sections 12 and
    /// 13 then fail as unimplemented.
    #[arg(long)]
    pub no_deflate: bool,
}

/// Runs the fuzzingserver's cases in order, then has it write its reports.
pub fn run_autobahn_client(args: &AutobahnArgs) -> io::Result<()> {
    let url = Url::parse(&args.url)?;
    let summary = autobahn::run(&url, &args.agent, !args.no_deflate)?;
    println!(
        "autobahn-client: ran {} cases, echoed {} messages",
        summary.cases, summary.echoed
    );
    Ok(())
}

/// Runs the chat client until Ctrl-C, end of stdin, or the end of the
/// script, then prints what it measured.
/// `--name`: refused here if the server would refuse it in every message.
fn parse_name(name: &str) -> Result<String, String> {
    crate::chat::message::check_name(name).map(|()| name.to_string())
}

pub fn run_chat(args: &ChatArgs) -> io::Result<()> {
    let url = chat_url(args)?;
    check_reproducible_flags(args)?;
    let addr = url.socket_addr()?;
    let client = chat_client(args, url);
    let schedule = if args.script {
        Schedule::builtin_script()
    } else {
        Schedule::Manual
    };

    let mut driver = Driver::new(DriverConfig::default())?;
    driver.set_trace(args.trace);
    let index = driver.add_client(client, addr, schedule);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let printed = Arc::clone(&latencies);
    driver.set_observer(Box::new(move |_, event| print_event(event, &printed)));

    let handle = driver.handle();
    let on_ctrl_c = handle.clone();
    ctrlc::set_handler(move || {
        let _ = on_ctrl_c.stop();
    })
    .map_err(io::Error::other)?;
    if !args.script {
        spawn_stdin_reader(handle, index)?;
    }

    let report = driver.run()?;
    let samples = latencies.lock().unwrap_or_else(PoisonError::into_inner);
    print_summary(&report.total(), &samples);
    Ok(())
}

/// The URL to use, checked against the transport.
fn chat_url(args: &ChatArgs) -> io::Result<Url> {
    let (default, scheme) = match args.transport {
        Transport::Poll => (DEFAULT_POLL_URL, Scheme::Http),
        Transport::Ws => (DEFAULT_WS_URL, Scheme::Ws),
    };
    let url = Url::parse(args.url.as_deref().unwrap_or(default))?;
    if url.scheme != scheme {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--transport {:?} needs a {}:// URL, got {url}",
                args.transport,
                scheme.as_str()
            ),
        ));
    }
    Ok(url)
}

fn chat_client(args: &ChatArgs, url: Url) -> Box<dyn ChatClient + Send> {
    let now = Now::system();
    match args.transport {
        Transport::Poll => {
            let mut config = PollerConfig::new(&args.name, url);
            config.interval = std::time::Duration::from_millis(args.interval_ms.max(1));
            config.keep_alive = args.keep_alive;
            Box::new(Poller::new(config, now))
        }
        Transport::Ws => {
            let mut config = WsClientConfig::new(&args.name, url);
            config.fixed_clock = args.fixed_clock;
            config.offer_deflate = args.deflate;
            match args.seed {
                Some(seed) => Box::new(WsClient::with_seed(config, now, seed)),
                None => Box::new(WsClient::new(config, now)),
            }
        }
    }
}

/// `--seed` and `--fixed-clock` exist for the WebSocket client only: the
/// polling client tells history from new messages by `sent_at`, which a
/// fixed clock would break, and it has no keys to seed.
fn check_reproducible_flags(args: &ChatArgs) -> io::Result<()> {
    if args.transport == Transport::Poll && (args.seed.is_some() || args.fixed_clock) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--seed and --fixed-clock apply to --transport ws only",
        ));
    }
    Ok(())
}

/// Feeds stdin lines to the driver; at the end of input the run ends once
/// the last messages had time to arrive.
fn spawn_stdin_reader(handle: DriverHandle, index: usize) -> io::Result<()> {
    thread::Builder::new().name("stdin".into()).spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            if handle.send_line(index, text.to_string()).is_err() {
                return;
            }
        }
        let _ = handle.finish(index);
    })?;
    Ok(())
}

/// Prints what the user should see, and keeps each latency sample.
fn print_event(event: &ClientEvent, latencies: &Mutex<Vec<f64>>) {
    match event {
        ClientEvent::Received { message, at } => {
            let latency = at - message.sent_at;
            latencies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(latency);
            println!("[{}] {} ({latency:.2} ms)", message.name, message.text);
        }
        ClientEvent::History { message } => {
            println!("[{}] {} (earlier)", message.name, message.text)
        }
        ClientEvent::Gap { missed, oldest_id } => {
            println!("-- missed {missed} messages (server history now starts at #{oldest_id})")
        }
        ClientEvent::Reset {
            last_seen,
            newest_id,
        } => println!(
            "-- the server restarted: its newest message is #{newest_id}, not #{last_seen}; \
             reading it from the start"
        ),
        ClientEvent::ServerError(error) => println!("-- server error: {error}"),
        ClientEvent::Dropped { text } => warn!("not sent: {text:?}"),
        // The client logs connection changes itself.
        ClientEvent::Connected
        | ClientEvent::Reconnecting { .. }
        | ClientEvent::MessageSent { .. }
        | ClientEvent::RequestSent(_)
        | ClientEvent::EmptyPoll => {}
    }
}

fn print_summary(total: &ClientCounters, latencies: &[f64]) {
    println!("-- summary");
    println!(
        "messages: {} sent, {} received, {} missed, {} not sent",
        total.messages_sent, total.messages_received, total.messages_missed, total.messages_dropped
    );
    match LatencyStats::from_samples(latencies) {
        Some(summary) => println!("latency: {summary}"),
        None => println!("latency: no messages received"),
    }
    println!(
        "connections: {} opened, {} failed; HTTP requests: {}",
        total.connections_opened, total.connect_failures, total.requests_sent
    );
    if total.polls_sent > 0 {
        let empty_share = 100.0 * total.empty_polls as f64 / total.polls_sent as f64;
        println!(
            "polls: {}, empty: {} ({empty_share:.0}% wasted)",
            total.polls_sent, total.empty_polls
        );
    }
    println!(
        "bytes: {} written, {} read",
        total.bytes_written, total.bytes_read
    );
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ChatArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        chat: ChatArgs,
    }

    #[test]
    fn a_name_the_server_would_refuse_is_refused_before_connecting() {
        let parse = |name: &str| Cli::try_parse_from(["chat", "--transport", "ws", "--name", name]);
        assert_eq!(
            parse("Alice").map(|cli| cli.chat.name).ok(),
            Some("Alice".into())
        );
        for refused in ["", "A\u{7}", &"x".repeat(65)] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }
}
