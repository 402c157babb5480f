//! Command-line entry points of the clients: `chat` and `autobahn-client`.
//! `main.rs` flattens these argument structs into its subcommands.

use std::io;

use clap::Args;

use super::autobahn;
use super::url::Url;

/// `pushpull autobahn-client`: run Autobahn's fuzzingserver cases.
#[derive(Debug, Clone, Args)]
pub struct AutobahnArgs {
    /// The fuzzingserver's base URL.
    #[arg(long, default_value = "ws://127.0.0.1:9001")]
    pub url: String,
    /// The agent name the reports are filed under.
    #[arg(long, default_value = "pushpull")]
    pub agent: String,
}

/// Runs the fuzzingserver's cases in order, then has it write its reports.
pub fn run_autobahn_client(args: &AutobahnArgs) -> io::Result<()> {
    let url = Url::parse(&args.url)?;
    let summary = autobahn::run(&url, &args.agent)?;
    println!(
        "autobahn-client: ran {} cases, echoed {} messages",
        summary.cases, summary.echoed
    );
    Ok(())
}
