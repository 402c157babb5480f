//! The crate's own client driver ([`crate::client::driver`]) behind [`LoadDriver`].
//!
//! The driver runs every client from one mio loop on the calling thread. The send times
//! are drawn up front from the plan's seed, and a small `compare-sender` thread hands each
//! line to its client when its time comes (`DriverHandle::send_line`); the client stamps
//! `sent_at` when the message is actually written, so the hand-off adds no latency. When
//! sending is over the sender marks every client finished, and the driver lets them
//! receive for `plan.drain` before closing them.
//!
//! How this adapter uses the driver, and its known limits:
//! - client `i` connects from `plan.source_ips[i % n]` (127.0.0.2 onwards), so the
//!   TIME_WAIT of a run's short-lived polling connections is spread over the ephemeral
//!   ports of several local addresses instead of exhausting those of one;
//! - a failed connect's cause is read from the error text the client reports (`os error
//!   99` is `EADDRNOTAVAIL`, `os error 111` is `ECONNREFUSED`);
//! - connections opened and bytes are known only at the end, so they are not in the
//!   live counters (the per-second series takes connections from the server).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::driver::{
    ClientErrors, ClientRecord, DriverRun, LiveCounters, LoadDriver, LoadPlan, Receipt, Transport,
};
use super::procfs::{self, CpuTime};
use crate::client::driver::{ClientCounters, Driver, DriverConfig, DriverHandle, Observer};
use crate::client::latency::unix_ms_now;
use crate::client::machine::{ChatClient, ClientEvent, Now};
use crate::client::poller::{Poller, PollerConfig};
use crate::client::schedule::Schedule;
use crate::client::url::Url;
use crate::client::ws_client::{WsClient, WsClientConfig};

/// Beyond `send_for + drain`, how long the driver may take to close every client before the
/// run is cut off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// `io::Error` texts end in `(os error N)`; these are Linux's numbers.
const OS_ERROR_ADDR_NOT_AVAILABLE: &str = "os error 99";
const OS_ERROR_CONNECTION_REFUSED: &str = "os error 111";

/// The line every simulated client sends; the server stores it with an id.
const LINE: &str = "hello from the experiment";

/// [`LoadDriver`] over [`crate::client::driver::Driver`].
#[derive(Debug, Default, Clone, Copy)]
pub struct CrateDriver;

impl LoadDriver for CrateDriver {
    fn run(&self, plan: &LoadPlan, live: &Arc<LiveCounters>) -> io::Result<DriverRun> {
        let names: Vec<String> = (0..plan.clients)
            .map(|i| format!("client-{i:04}"))
            .collect();
        let log = Arc::new(Mutex::new(EventLog::new(plan.clients)));
        let mut driver = Driver::new(DriverConfig {
            duration: Some(plan.send_for + plan.drain + SHUTDOWN_GRACE),
            linger: plan.drain,
            shutdown_grace: SHUTDOWN_GRACE,
        })?;
        for name in &names {
            let index = driver.add_client(client(plan, name)?, plan.server, Schedule::Manual);
            if !plan.source_ips.is_empty() {
                driver.set_source(index, plan.source_ips[index % plan.source_ips.len()]);
            }
        }
        driver.set_observer(observer(Arc::clone(&log), names.clone(), Arc::clone(live)));

        // Send times are relative to this instant, the start of the run.
        let start = Instant::now();
        let schedule = SendSchedule {
            times: send_times(plan),
            send_for: plan.send_for,
            clients: plan.clients,
        };
        let handle = driver.handle();
        let sender = thread::Builder::new()
            .name("compare-sender".into())
            .spawn(move || send_on_schedule(&handle, schedule, start))?;
        let report = driver.run();
        let sender_cpu = sender.join().unwrap_or(None);
        let report = report?;

        let end_ms = unix_ms_now();
        let log = std::mem::take(&mut *log.lock().unwrap_or_else(PoisonError::into_inner));
        let records = log.into_records(&names, &report.clients, end_ms);
        Ok(DriverRun {
            records,
            helper_cpu: sender_cpu,
        })
    }
}

fn client(plan: &LoadPlan, name: &str) -> io::Result<Box<dyn ChatClient + Send>> {
    let bad_url = |err| io::Error::new(io::ErrorKind::InvalidInput, format!("{err}"));
    match plan.transport {
        Transport::Polling => {
            let url = Url::parse(&format!("http://{}", plan.server)).map_err(bad_url)?;
            let mut config = PollerConfig::new(name, url);
            config.interval = plan.poll_interval;
            config.keep_alive = plan.keep_alive;
            Ok(Box::new(Poller::new(config, Now::system())))
        }
        Transport::WebSocket => {
            let url = Url::parse(&format!("ws://{}/ws", plan.server)).map_err(bad_url)?;
            let mut config = WsClientConfig::new(name, url);
            // A dropped connection is a failure of the run, not something to hide.
            config.reconnect = false;
            Ok(Box::new(WsClient::new(config, Now::system())))
        }
    }
}

/// Every client's send times: the first uniform in `[0, mean)`, then gaps uniform in
/// `mean ± jitter`, all before `send_for`. Sorted by time, as `(offset, client)`.
pub fn send_times(plan: &LoadPlan) -> Vec<(Duration, usize)> {
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    let mean = plan.send_mean.as_secs_f64();
    let jitter = plan.send_jitter.as_secs_f64();
    let mut times = Vec::new();
    for client in 0..plan.clients {
        let mut t = rng.random_range(0.0..mean);
        while t < plan.send_for.as_secs_f64() {
            times.push((Duration::from_secs_f64(t), client));
            t += mean + rng.random_range(-jitter..=jitter);
        }
    }
    times.sort();
    times
}

/// What the sender thread needs.
struct SendSchedule {
    times: Vec<(Duration, usize)>,
    send_for: Duration,
    clients: usize,
}

/// The sender thread: sleep to each time, hand the line over, then finish every client.
/// Returns the thread's own CPU time.
fn send_on_schedule(
    handle: &DriverHandle,
    schedule: SendSchedule,
    start: Instant,
) -> Option<CpuTime> {
    let before = procfs::thread_cpu();
    for (at, client) in schedule.times {
        thread::sleep((start + at).saturating_duration_since(Instant::now()));
        if handle.send_line(client, LINE.to_string()).is_err() {
            break; // The driver has ended early; the records will say why.
        }
    }

    // Sending is over at `send_for`; from then on the driver drains for `linger`.
    thread::sleep((start + schedule.send_for).saturating_duration_since(Instant::now()));
    for client in 0..schedule.clients {
        let _ = handle.finish(client);
    }
    procfs::thread_cpu().zip(before).map(|(a, b)| a.since(&b))
}

/// What the observer saw of one client.
#[derive(Debug, Default)]
struct ClientLog {
    sent_at_ms: Vec<f64>,
    receipts: Vec<Receipt>,
    online_from_ms: Option<f64>,
    errors: ClientErrors,
    lines_unsent: u64,
}

/// What the observer saw of every client, indexed like the driver's clients.
#[derive(Debug, Default)]
struct EventLog {
    clients: Vec<ClientLog>,
}

impl EventLog {
    fn new(clients: usize) -> EventLog {
        EventLog {
            clients: (0..clients).map(|_| ClientLog::default()).collect(),
        }
    }

    /// Merge the events with the driver's own counters into one record per client. A client
    /// that got in stays online to the end: WebSocket clients do not reconnect here, and a
    /// drop shows as lost messages and an error.
    fn into_records(
        self,
        names: &[String],
        counters: &[ClientCounters],
        end_ms: f64,
    ) -> Vec<ClientRecord> {
        self.clients
            .into_iter()
            .zip(names)
            .zip(counters)
            .map(|((log, name), c)| {
                let mut errors = log.errors;
                errors.other += c
                    .connect_failures
                    .saturating_sub(errors.addr_not_available + errors.refused);
                ClientRecord {
                    name: name.clone(),
                    connections_opened: c.connections_opened,
                    requests: c.requests_sent,
                    empty_polls: c.empty_polls,
                    bytes_written: c.bytes_written,
                    bytes_read: c.bytes_read,
                    sent_at_ms: log.sent_at_ms,
                    receipts: log.receipts,
                    online_ms: log.online_from_ms.map(|from| (from, end_ms)),
                    errors,
                    lines_unsent: log.lines_unsent,
                }
            })
            .collect()
    }
}

/// The observer: record what the analysis needs and bump the live counters.
fn observer(log: Arc<Mutex<EventLog>>, names: Vec<String>, live: Arc<LiveCounters>) -> Observer {
    Box::new(move |index, event| {
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        let (Some(client), Some(name)) = (log.clients.get_mut(index), names.get(index)) else {
            return;
        };
        record(client, name, event, &live);
    })
}

fn bump(counter: &std::sync::atomic::AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn record(client: &mut ClientLog, name: &str, event: &ClientEvent, live: &LiveCounters) {
    match event {
        ClientEvent::Received { message, at } => {
            came_online(client);
            // A client's own messages come back to it too; they are not receipts.
            if message.name != name {
                bump(&live.receipts);
                client.receipts.push(Receipt {
                    id: message.id,
                    sender: message.name.clone(),
                    sent_at_ms: message.sent_at,
                    received_at_ms: *at,
                });
            }
        }
        ClientEvent::MessageSent { sent_at, .. } => {
            bump(&live.messages_sent);
            client.sent_at_ms.push(*sent_at);
        }
        ClientEvent::RequestSent(_) => bump(&live.requests),
        ClientEvent::EmptyPoll => {
            came_online(client);
            bump(&live.empty_polls);
        }
        ClientEvent::History { .. } => {
            came_online(client);
        }
        ClientEvent::Connected => {
            came_online(client);
        }
        ClientEvent::ServerError(text) => error(client, text, live),
        ClientEvent::Gap { missed, .. } => error(
            client,
            &format!("410 Gone: {missed} messages fell out of the log"),
            live,
        ),
        ClientEvent::Reset { last_seen, .. } => error(
            client,
            &format!("410 Gone: the server does not know id {last_seen} (restarted?)"),
            live,
        ),
        // The failed post itself arrives as its own event (an error answer or a lost
        // connection); the line is counted apart, as a cost the run measured.
        ClientEvent::Dropped { .. } => client.lines_unsent += 1,
        ClientEvent::Reconnecting { cause, .. } => {
            error(client, &format!("connection lost ({cause:?})"), live)
        }
    }
}

/// Note the client's first sign of life. The clock is read only then, not for every event.
fn came_online(client: &mut ClientLog) {
    client.online_from_ms.get_or_insert_with(unix_ms_now);
}

/// Count an error by kind, read from its text (see the module docs).
fn error(client: &mut ClientLog, text: &str, live: &LiveCounters) {
    bump(&live.errors);
    let errors = &mut client.errors;
    if text.contains(OS_ERROR_ADDR_NOT_AVAILABLE) {
        errors.addr_not_available += 1;
    } else if text.contains(OS_ERROR_CONNECTION_REFUSED) {
        errors.refused += 1;
    } else {
        errors.other += 1;
    }
    errors.last = Some(text.to_string());
}
