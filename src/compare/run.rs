//! One run: start a server, drive the clients from a generator thread, sample both sides
//! once a second, and measure CPU, memory and listen-queue overflows around it.
//!
//! Threads of a run, and whose CPU time each is:
//!
//! | thread            | what it does                               | counted as        |
//! |-------------------|--------------------------------------------|-------------------|
//! | orchestrator      | starts and joins the others, then waits    | subtracted        |
//! | `compare-clients` | the [`LoadDriver`]'s event loop            | generator         |
//! | `compare-sampler` | snapshots counters, prints progress        | subtracted        |
//! | every other       | the server's own threads, short-lived ones | server            |
//!
//! The process's CPU time (`/proc/self/stat`) includes threads that have exited, so the
//! threaded server's one-per-connection threads are counted even after they end.

use std::io::{self, Write as _};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::driver::{ClientRecord, LiveCounters, LiveSnapshot, LoadDriver, LoadPlan};
use super::procfs::{self, CpuTime, ListenCounters};
use super::system::{RunningServer, ServerFactory, System};
use crate::client::latency::unix_ms_now;
use crate::stats::{Stats, StatsSnapshot};

/// How often the sampler snapshots the counters.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Both sides' counters at one instant, cumulative since the run began.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds since the run began.
    pub t_s: f64,
    pub server: StatsSnapshot,
    pub clients: LiveSnapshot,
}

/// CPU time over one run, by whom.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct CpuBreakdown {
    pub process: CpuTime,
    pub generator: CpuTime,
    pub sampler: CpuTime,
    pub orchestrator: CpuTime,
    /// `process - generator - sampler - orchestrator`.
    pub server: CpuTime,
}

/// What was measured during one run, before analysis.
#[derive(Debug)]
pub struct RunOutcome {
    pub system: System,
    pub clients: usize,
    /// Unix milliseconds when the clients started.
    pub start_ms: f64,
    /// From the clients' start to the generator's return.
    pub wall: Duration,
    pub samples: Vec<Sample>,
    pub records: Vec<ClientRecord>,
    /// The server's counters over the run.
    pub server: StatsSnapshot,
    /// `None` where `/proc` could not be read.
    pub cpu: Option<CpuBreakdown>,
    /// Peak RSS of the whole process, generator included; `None` if it could not be reset
    /// before the run or read after it.
    pub peak_rss_bytes: Option<u64>,
    pub listen: Option<ListenCounters>,
    /// Why the run could not happen at all, if it could not.
    pub failure: Option<String>,
}

/// Everything a run needs besides the system and client count.
pub struct RunContext<'a> {
    pub servers: &'a dyn ServerFactory,
    pub driver: &'a dyn LoadDriver,
    /// The plan's fields except `server`, `transport`, `keep_alive` and `clients`.
    pub template: LoadPlan,
    /// Print a progress line to stderr once a second.
    pub progress: bool,
}

/// Run `system` with `clients` clients. Never panics on a failed run: the failure is
/// recorded in the outcome.
pub fn run_once(ctx: &RunContext<'_>, system: System, clients: usize) -> RunOutcome {
    match ctx.servers.start(system.server()) {
        Ok(server) => run_against(ctx, system, clients, server),
        Err(err) => failed(system, clients, format!("server did not start: {err}")),
    }
}

fn failed(system: System, clients: usize, failure: String) -> RunOutcome {
    RunOutcome {
        system,
        clients,
        start_ms: unix_ms_now(),
        wall: Duration::ZERO,
        samples: Vec::new(),
        records: Vec::new(),
        server: StatsSnapshot::default(),
        cpu: None,
        peak_rss_bytes: None,
        listen: None,
        failure: Some(failure),
    }
}

/// Readings taken just before the clients start, to subtract afterwards.
struct Baseline {
    process: Option<CpuTime>,
    orchestrator: Option<CpuTime>,
    listen: Option<ListenCounters>,
    server: StatsSnapshot,
    rss_reset: bool,
}

impl Baseline {
    fn take(stats: &Stats) -> Baseline {
        Baseline {
            rss_reset: procfs::reset_peak_rss(),
            listen: procfs::listen_counters(),
            server: stats.snapshot(),
            orchestrator: procfs::thread_cpu(),
            process: procfs::process_cpu(),
        }
    }
}

fn run_against(
    ctx: &RunContext<'_>,
    system: System,
    clients: usize,
    server: Box<dyn RunningServer>,
) -> RunOutcome {
    let stats = server.stats();
    let plan = LoadPlan {
        server: server.local_addr(),
        transport: system.transport(),
        keep_alive: system.keep_alive(),
        clients,
        ..ctx.template.clone()
    };
    let live = Arc::new(LiveCounters::default());
    let base = Baseline::take(&stats);
    let start = Instant::now();
    let start_ms = unix_ms_now();

    // The sampler and the generator run side by side; the generator decides the end.
    let progress = ctx
        .progress
        .then(|| format!("{} x{clients}", system.label()));
    let sampler = Sampler::spawn(stats.clone(), live.clone(), base.server, start, progress);
    let generated = run_generator(ctx.driver, &plan, &live);
    let wall = start.elapsed();
    let (samples, sampler_cpu) = sampler.finish();

    // Read everything before shutdown, so that closing connections is not counted.
    let after = After::take(&stats);
    server.shutdown();

    let (records, generator_cpu, failure) = match generated {
        Ok((records, cpu)) => (records, cpu, None),
        Err(err) => (
            Vec::new(),
            None,
            Some(format!("client driver failed: {err}")),
        ),
    };
    RunOutcome {
        system,
        clients,
        start_ms,
        wall,
        samples,
        records,
        server: after.server.delta(&base.server),
        cpu: cpu_breakdown(&base, &after, generator_cpu, sampler_cpu),
        peak_rss_bytes: after.peak_rss.filter(|_| base.rss_reset),
        listen: after
            .listen
            .zip(base.listen)
            .map(|(now, then)| now.since(&then)),
        failure,
    }
}

/// Readings taken as soon as the clients are done.
struct After {
    process: Option<CpuTime>,
    orchestrator: Option<CpuTime>,
    listen: Option<ListenCounters>,
    server: StatsSnapshot,
    peak_rss: Option<u64>,
}

impl After {
    fn take(stats: &Stats) -> After {
        After {
            process: procfs::process_cpu(),
            orchestrator: procfs::thread_cpu(),
            server: stats.snapshot(),
            listen: procfs::listen_counters(),
            peak_rss: procfs::peak_rss(),
        }
    }
}

/// The server's CPU time is what is left of the process's once the experiment's own
/// threads are taken out; `None` if any reading is missing.
fn cpu_breakdown(
    base: &Baseline,
    after: &After,
    generator: Option<CpuTime>,
    sampler: Option<CpuTime>,
) -> Option<CpuBreakdown> {
    let process = after.process?.since(&base.process?);
    let orchestrator = after.orchestrator?.since(&base.orchestrator?);
    let (generator, sampler) = (generator?, sampler?);
    let others = generator.plus(&sampler).plus(&orchestrator);
    Some(CpuBreakdown {
        process,
        generator,
        sampler,
        orchestrator,
        server: process.minus(&others),
    })
}

type Generated = io::Result<(Vec<ClientRecord>, Option<CpuTime>)>;

/// Run the driver on its own thread, measuring that thread's CPU time from inside.
fn run_generator(driver: &dyn LoadDriver, plan: &LoadPlan, live: &Arc<LiveCounters>) -> Generated {
    thread::scope(|scope| {
        let worker = thread::Builder::new()
            .name("compare-clients".into())
            .spawn_scoped(scope, || {
                let before = procfs::thread_cpu();
                let run = driver.run(plan, live);
                let after = procfs::thread_cpu();
                let own = after.zip(before).map(|(a, b)| a.since(&b));
                run.map(|run| {
                    let cpu = own
                        .zip(run.helper_cpu)
                        .map(|(own, helper)| own.plus(&helper));
                    (run.records, cpu)
                })
            })?;
        worker
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the client driver panicked")))
    })
}

/// The once-a-second sampler thread.
struct Sampler {
    stop: mpsc::Sender<()>,
    thread: Option<thread::JoinHandle<(Vec<Sample>, Option<CpuTime>)>>,
    progress: bool,
}

impl Sampler {
    /// Start sampling; with a `progress` label, also print a progress line each second.
    fn spawn(
        stats: Arc<Stats>,
        live: Arc<LiveCounters>,
        base: StatsSnapshot,
        start: Instant,
        progress: Option<String>,
    ) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let printing = progress.is_some();
        let spawned = thread::Builder::new()
            .name("compare-sampler".into())
            .spawn(move || {
                let before = procfs::thread_cpu();
                let take = || Sample {
                    t_s: start.elapsed().as_secs_f64(),
                    server: stats.snapshot().delta(&base),
                    clients: live.snapshot(),
                };
                let mut samples = vec![take()];
                let mut next = start + SAMPLE_EVERY;

                // Waiting on the channel is the sleep; a message or a hang-up ends it.
                while let Err(RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(next.saturating_duration_since(Instant::now()))
                {
                    let sample = take();
                    if let Some(label) = &progress {
                        progress_line(label, &sample);
                    }
                    samples.push(sample);
                    next += SAMPLE_EVERY;
                }
                samples.push(take());
                let cpu = procfs::thread_cpu().zip(before).map(|(a, b)| a.since(&b));
                (samples, cpu)
            });
        if let Err(err) = &spawned {
            log::error!("cannot start the sampler thread: {err}");
        }
        Sampler {
            stop,
            thread: spawned.ok(),
            progress: printing,
        }
    }

    /// Stop sampling and return the samples with the sampler's own CPU time. Without a
    /// sampler thread there are no samples, and no CPU figure (it could not be separated).
    fn finish(self) -> (Vec<Sample>, Option<CpuTime>) {
        let _ = self.stop.send(());
        let result = match self.thread {
            Some(thread) => thread.join().unwrap_or_default(),
            None => (Vec::new(), None),
        };
        if self.progress {
            eprintln!();
        }
        result
    }
}

/// `\r[compare] polling, threaded server x50     4 s  conns 2013  sent 98  ...`
fn progress_line(label: &str, sample: &Sample) {
    let line = format!(
        "\r[compare] {label:<42} {:>3.0} s  conns {:>6}  sent {:>5}  received {:>7}  errors {}",
        sample.t_s,
        sample.server.connections_opened,
        sample.clients.messages_sent,
        sample.clients.receipts,
        sample.clients.errors,
    );
    let mut stderr = io::stderr().lock();
    let _ = stderr
        .write_all(line.as_bytes())
        .and_then(|()| stderr.flush());
}
