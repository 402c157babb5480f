//! `pushpull demo`: short scripted exchanges against a running server, each
//! chosen to show one thing on the wire, for teaching and for captures.
//!
//! | scenario         | what it shows                                                 |
//! |------------------|---------------------------------------------------------------|
//! | `polling`        | an empty poll, a post, the poll that returns it (3 requests)  |
//! | `handshake`      | the opening handshake on `/ws` and one chat message           |
//! | `bad-version`    | a failed handshake: version 8 earns 426 (RFC 6455 §4.4)       |
//! | `fragmented`     | a message in two frames with a ping between them (§5.4)       |
//! | `lengths`        | 125, 126 and 65,536 bytes: the three length encodings (§5.2)  |
//! | `binary`         | one binary message (opcode 2)                                 |
//! | `close`          | the closing handshake with a code and a reason (§7)           |
//! | `protocol-error` | an unmasked client frame and the 1002 it earns (§5.1)         |
//!
//! Every scenario uses blocking `std::net` sockets, one per connection, and
//! puts frames on the wire exactly as scripted (through
//! [`encode_frame`](crate::websocket::encode_frame), so that a fragmented
//! message or an unmasked frame can be sent on purpose). The frame scenarios
//! talk to `/echo`, the chat ones to `/ws` and `/messages`.
//!
//! # Reproducible captures
//!
//! With `--seed N` every handshake nonce and masking key comes from a seeded
//! stream, and with `--fixed-clock` every `sent_at` is
//! [`FIXED_CLOCK_UNIX_MS`](crate::client::seeded::FIXED_CLOCK_UNIX_MS). This
//! is for demonstrations only: RFC 6455 §10.3 requires unpredictable masking
//! keys, and without the flag they are random. Run `pushpull demo all` twice
//! with both flags, each time against a fresh `pushpull serve --fixed-clock`
//! (which puts one fixed instant in every `Date` header) on the same address,
//! and on every TCP connection both sides' bytes are identical; message ids
//! match because a fresh server numbers from 1 and the scenarios run in a
//! fixed order.
//!
//! How those bytes are cut into TCP segments is the kernel's choice and is
//! not part of the promise (it is in practice one segment per write, except
//! the 65,536-byte frames).

pub mod keys;
pub mod record;
pub mod scenarios;
pub mod wire;

use std::cell::RefCell;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;

use clap::Args;

use self::keys::DemoKeys;
use self::record::ConnectionRecord;
use self::wire::Wire;
use crate::client::url::Url;

/// One scripted exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Polling,
    Handshake,
    BadVersion,
    Fragmented,
    Lengths,
    Binary,
    Close,
    ProtocolError,
}

impl Scenario {
    /// Every scenario, in the order `demo all` plays them. Polling comes
    /// first so that its first poll finds the fresh server's room empty.
    pub const ALL: [Scenario; 8] = [
        Self::Polling,
        Self::Handshake,
        Self::BadVersion,
        Self::Fragmented,
        Self::Lengths,
        Self::Binary,
        Self::Close,
        Self::ProtocolError,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::Handshake => "handshake",
            Self::BadVersion => "bad-version",
            Self::Fragmented => "fragmented",
            Self::Lengths => "lengths",
            Self::Binary => "binary",
            Self::Close => "close",
            Self::ProtocolError => "protocol-error",
        }
    }

    /// `all` or one scenario's name.
    pub fn parse_selection(text: &str) -> Result<Selection, String> {
        if text == "all" {
            return Ok(Selection(Self::ALL.to_vec()));
        }
        Self::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .map(|s| Selection(vec![s]))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario {text:?}; try all, {}", names.join(", "))
            })
    }

    fn play(self, demo: &mut Demo) -> io::Result<()> {
        match self {
            Self::Polling => scenarios::polling(demo),
            Self::Handshake => scenarios::handshake(demo),
            Self::BadVersion => scenarios::bad_version(demo),
            Self::Fragmented => scenarios::fragmented(demo),
            Self::Lengths => scenarios::lengths(demo),
            Self::Binary => scenarios::binary(demo),
            Self::Close => scenarios::close_handshake(demo),
            Self::ProtocolError => scenarios::protocol_error(demo),
        }
    }
}

/// The scenarios named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(pub Vec<Scenario>);

/// Where and how a demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The server's address.
    pub addr: SocketAddr,
    /// The `Host` header: host and port as given in the URL.
    pub host: String,
    /// Seeded nonces and masking keys (demonstrations only); `None`: random.
    pub seed: Option<u64>,
    /// Stamp chat messages with the fixed clock instead of the wall clock.
    pub fixed_clock: bool,
}

impl DemoOptions {
    /// Options for the server at `url` (`ws://` or `http://`; the path is
    /// ignored: each scenario picks its endpoint).
    pub fn for_url(url: &str, seed: Option<u64>, fixed_clock: bool) -> io::Result<Self> {
        let url = Url::parse(url)?;
        Ok(Self {
            addr: url.socket_addr()?,
            host: url.host_header(),
            seed,
            fixed_clock,
        })
    }
}

/// A run in progress: its options, its one key stream and what it recorded.
pub struct Demo {
    pub options: DemoOptions,
    keys: Rc<RefCell<DemoKeys>>,
    connections: Vec<ConnectionRecord>,
}

impl Demo {
    fn new(options: DemoOptions) -> Self {
        let keys = Rc::new(RefCell::new(DemoKeys::new(options.seed)));
        Self {
            options,
            keys,
            connections: Vec::new(),
        }
    }

    /// A new TCP connection for `scenario`, sharing the run's key stream.
    fn connect(&self, scenario: &str) -> io::Result<Wire> {
        Wire::connect(self.options.addr, scenario, Rc::clone(&self.keys))
    }

    /// Keep the record of a finished connection.
    fn keep(&mut self, record: ConnectionRecord) {
        self.connections.push(record);
    }
}

/// Play `scenarios` in order; returns one record per TCP connection.
pub fn run(scenarios: &[Scenario], options: DemoOptions) -> io::Result<Vec<ConnectionRecord>> {
    let mut demo = Demo::new(options);
    for scenario in scenarios {
        println!("== {}", scenario.name());
        scenario
            .play(&mut demo)
            .map_err(|e| io::Error::new(e.kind(), format!("scenario {}: {e}", scenario.name())))?;
    }
    Ok(demo.connections)
}

/// `pushpull demo`: play scripted exchanges against a running server.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// `all`, or one of: polling, handshake, bad-version, fragmented, lengths,
    /// binary, close, protocol-error.
    #[arg(value_parser = Scenario::parse_selection)]
    pub scenario: Selection,
    /// The server (`pushpull serve`); each scenario picks its own path.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    pub url: String,
    /// FOR DEMONSTRATIONS ONLY: take the handshake nonces and masking keys
    /// from a generator seeded with N, so that runs are byte-identical.
    /// RFC 6455 §10.3 requires unpredictable masking keys; without this flag
    /// they are random.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Stamp chat messages with a fixed sent_at (2023-11-14T22:13:20Z)
    /// instead of the wall clock, for reproducible captures.
    #[arg(long)]
    pub fixed_clock: bool,
    /// Write what crossed the wire, as JSON, to this file.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// The `demo` subcommand.
pub fn run_demo(args: &DemoArgs) -> io::Result<()> {
    let options = DemoOptions::for_url(&args.url, args.seed, args.fixed_clock)?;
    let records = run(&args.scenario.0, options)?;
    println!("demo: {} connections, all as scripted", records.len());

    if let Some(path) = &args.record {
        let json = serde_json::to_string_pretty(&records).map_err(io::Error::other)?;
        fs::write(path, json)?;
    }
    Ok(())
}
