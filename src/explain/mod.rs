//! `pushpull explain`: bytes explained field by field, each field tied to its
//! RFC section, the way a teacher annotates a capture.
//!
//! | file         | what lives there                                           |
//! |--------------|------------------------------------------------------------|
//! | `hex.rs`     | hex text as Wireshark copies it                            |
//! | `layout.rs`  | rows with a citation column, at most 100 columns wide      |
//! | `http.rs`    | HTTP heads and the opening handshake (RFC 6455 §4)         |
//! | `frame.rs`   | one frame, bit by bit (RFC 6455 §5), and the rule it broke |
//! | `deflate.rs` | permessage-deflate: parameters, RSV1, inflating (RFC 7692) |
//! | `stream.rs`  | one direction: heads until the upgrade, then frames        |
//! | `capture.rs` | pcap and pcapng files: TCP connections, both directions    |
//!
//! Explanations stop at the first broken rule, naming it with the close code
//! or HTTP status the receiver must answer with. Known limits: chunked and
//! close-delimited HTTP response bodies are taken to run to the end of the
//! bytes; IP fragments are not reassembled; a TCP direction longer than 4 GiB
//! is not followed.

mod capture;
mod deflate;
mod frame;
mod hex;
mod http;
mod layout;
mod stream;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::websocket::{DeflateParams, Role};

pub use capture::{explain_capture, explain_capture_bytes, explain_capture_bytes_with, is_capture};
pub use hex::parse_hex;

use layout::Out;
use stream::StreamExplainer;

/// An explanation and whether it found a broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub text: String,
    pub broken: bool,
}

/// Explain bytes sent by one side, `sender`: it decides what masking must be
/// (RFC 6455 §5.1). Bytes that start like an HTTP head are explained as
/// HTTP until the upgrade, anything else as frames.
pub fn explain_bytes(bytes: &[u8], sender: Role) -> String {
    explain_bytes_checked(bytes, sender).text
}

/// [`explain_bytes`], also saying whether a rule was broken.
pub fn explain_bytes_checked(bytes: &[u8], sender: Role) -> Explanation {
    explain_bytes_with(bytes, sender, None)
}

/// [`explain_bytes_checked`] with permessage-deflate taken as agreed with
/// `deflate` (RFC 7692), for frames copied without their handshake. An
/// opening handshake in the bytes overrides it.
pub fn explain_bytes_with(
    bytes: &[u8],
    sender: Role,
    deflate: Option<DeflateParams>,
) -> Explanation {
    let mut out = Out::default();
    let mut stream = StreamExplainer::new(sender, true);
    if let Some(params) = deflate {
        stream.assume_deflate(params);
    }
    stream.push(bytes, "", &mut out);
    stream.finish("", &mut out);
    Explanation {
        text: out.text,
        broken: out.broken,
    }
}

/// Which side sent the bytes, for `--role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SenderArg {
    /// The client sent them: frames must be masked.
    Client,
    /// The server sent them: frames must not be masked.
    Server,
}

impl From<SenderArg> for Role {
    fn from(arg: SenderArg) -> Self {
        match arg {
            SenderArg::Client => Role::Client,
            SenderArg::Server => Role::Server,
        }
    }
}

/// `pushpull explain`: the input is hex (`--hex`), a file of raw bytes or a
/// pcap/pcapng capture, or standard input when no file (or `-`) is given.
#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// A file of raw bytes or a pcap/pcapng capture; `-` or none reads stdin.
    pub input: Option<PathBuf>,

    /// Hex bytes instead of a file (spaces and colons allowed); `-` reads
    /// the hex text from stdin.
    #[arg(long, conflicts_with = "input")]
    pub hex: Option<String>,

    /// Which side sent the bytes (captures say it themselves).
    #[arg(long, value_enum, default_value_t = SenderArg::Client)]
    pub role: SenderArg,

    /// Take permessage-deflate (RFC 7692) as agreed with its default
    /// parameters, so RSV1 marks a compressed message: for frames copied
    /// without their opening handshake. A handshake in the bytes decides.
    #[arg(long)]
    pub deflate: bool,
}

/// Run `pushpull explain`: print the explanation. Exits with 1 when the
/// bytes break a rule, 2 when the input cannot be read as asked.
pub fn run(args: ExplainArgs) -> io::Result<ExitCode> {
    let bytes = match read_input(&args)? {
        Ok(bytes) => bytes,
        Err(message) => {
            eprintln!("pushpull explain: {message}");
            return Ok(ExitCode::from(2));
        }
    };

    // Silence would look like success: say that nothing came in.
    if bytes.is_empty() {
        eprintln!("pushpull explain: the input is empty: there are no bytes to explain");
        return Ok(ExitCode::from(2));
    }

    let deflate = args.deflate.then(DeflateParams::default);
    let explanation = match is_capture(&bytes) {
        true => explain_capture_bytes_with(&bytes, deflate)?,
        false => explain_bytes_with(&bytes, args.role.into(), deflate),
    };
    print!("{}", explanation.text);
    Ok(match explanation.broken {
        true => ExitCode::from(1),
        false => ExitCode::SUCCESS,
    })
}

/// The bytes to explain; `Ok(Err)` for hex that does not parse.
fn read_input(args: &ExplainArgs) -> io::Result<Result<Vec<u8>, String>> {
    if let Some(hex) = &args.hex {
        let text = match hex.as_str() {
            "-" => io::read_to_string(io::stdin())?,
            text => text.to_owned(),
        };
        return Ok(parse_hex(&text));
    }
    match args.input.as_deref() {
        Some(path) if path != Path::new("-") => std::fs::read(path)
            .map(Ok)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))),
        _ => {
            let mut bytes = Vec::new();
            io::stdin().read_to_end(&mut bytes)?;
            Ok(Ok(bytes))
        }
    }
}
