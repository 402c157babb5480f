//! `pushpull compare`: the Python experiment, reproduced and extended.
//!
//! Three systems (polling against the threaded server, polling against the event-loop
//! server, WebSockets against the event-loop server) run in turn at each tier of clients,
//! server and clients in this one process on separate threads. The report prints the
//! original's tables with new columns, writes every figure to `results.json`, and draws one
//! chart per tier plus a summary chart.
//!
//! | file          | what lives there                                                  |
//! |---------------|-------------------------------------------------------------------|
//! | [`config`]    | the experiment's settings and the `compare` command line           |
//! | [`system`]    | the systems compared, and starting their servers                  |
//! | [`driver`]    | the contract with the client driver: plan, live counters, records |
//! | [`crate_driver`] | that contract over the crate's own mio client driver           |
//! | [`run`]       | one run: threads, per-second samples, CPU, memory, overflows      |
//! | [`analysis`]  | delivery check, latency, per-second series, failure verdicts      |
//! | [`chart`]     | the PNG charts, drawn with an embedded font                       |
//! | [`axis`]      | the charts' axis ranges and 1-2-5 tick marks                      |
//! | [`latency`]   | avg and nearest-rank percentiles                                  |
//! | [`procfs`]    | `/proc` parsers: CPU ticks, VmHWM, ListenOverflows, the machine   |
//! | [`report`]    | the text tables                                                   |
//! | [`results`]   | `results.json`                                                    |
//!
//! How each figure is measured is stated in [`results::METHOD`], which is also written
//! into `results.json`.

pub mod analysis;
pub mod axis;
pub mod chart;
pub mod config;
pub mod crate_driver;
pub mod driver;
pub mod procfs;
pub mod report;
pub mod results;
pub mod run;
pub mod system;

use std::io;
use std::time::Duration;

use crate::client::latency::unix_ms_now;

pub use analysis::RunResult;
pub use config::{CompareArgs, Config};
pub use crate_driver::CrateDriver;
pub use driver::{ClientRecord, LiveCounters, LoadDriver, LoadPlan, Receipt, Transport};
pub use results::Experiment;
pub use system::{CrateServers, ServerFactory, ServerKind, System};

/// Pause between runs, so that the last run's sockets finish closing.
pub const SETTLE_BETWEEN_RUNS: Duration = Duration::from_millis(500);

/// Run every system at every tier and return the analysed results. Prints a progress line
/// to stderr when `config.progress` is set.
pub fn run_experiment(
    config: &Config,
    servers: &dyn ServerFactory,
    driver: &dyn LoadDriver,
) -> Experiment {
    let ctx = run::RunContext {
        servers,
        driver,
        template: config.plan_template(),
        progress: config.progress,
    };
    let started_at_ms = unix_ms_now();

    let mut runs = Vec::new();
    for &clients in &config.tiers {
        for &system in &config.systems {
            let outcome = run::run_once(&ctx, system, clients);
            runs.push(analysis::analyse(&outcome));
            std::thread::sleep(SETTLE_BETWEEN_RUNS);
        }
    }
    Experiment::new(config, started_at_ms, runs)
}

/// `pushpull compare`: run, print the tables, write `results.json` into the output folder.
pub fn main_with(
    args: &CompareArgs,
    servers: &dyn ServerFactory,
    driver: &dyn LoadDriver,
) -> io::Result<Experiment> {
    let config = Config::from_args(args)?;
    std::fs::create_dir_all(&config.out_dir)?;

    let experiment = run_experiment(&config, servers, driver);
    print!(
        "{}",
        report::full_report(&config.systems, &config.tiers, &experiment.runs)
    );
    let path = config.out_dir.join(results::RESULTS_FILE);
    experiment.write(&path)?;
    eprintln!("[compare] wrote {}", path.display());
    for chart in chart::draw_all(&config.out_dir, &config.tiers, &experiment.runs)? {
        eprintln!("[compare] wrote {}", chart.display());
    }
    Ok(experiment)
}

/// `pushpull compare` with the crate's own servers and client driver. Hundreds of
/// clients would log every connection at `info`, so that level is lowered to `warn` for the
/// run; `--log debug` or `trace` is kept as asked.
pub fn run_compare(args: &CompareArgs) -> io::Result<()> {
    if log::max_level() == log::LevelFilter::Info {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let servers = CrateServers {
        backlog: args.backlog,
    };
    main_with(args, &servers, &CrateDriver).map(|_| ())
}
