//! From what a run recorded to the figures the report prints.
//!
//! Delivery is checked message by message: a message sent at `t` by client `s` should
//! reach every other client that was in the room at `t` (its online interval covers `t`).
//! A receipt is matched to its message by sender name and `sent_at`, which the sender
//! embeds and every receiver gets back (to within a float's last bit).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::driver::{ClientRecord, Receipt};
use super::procfs::ListenCounters;
use super::run::{CpuBreakdown, RunOutcome, Sample};
use super::system::System;
use crate::client::latency::LatencyStats;
use crate::stats::StatsSnapshot;

/// The share of a generator thread's wall time on CPU above which the report warns that the
/// generator, not the server, may have been the bottleneck.
pub const GENERATOR_BUSY_WARNING: f64 = 0.9;

/// A receipt's `sent_at` matches a sent message's when they differ by less than this: the
/// value makes a round trip through JSON text, which may cost its last bit.
const SENT_AT_TOLERANCE_MS: f64 = 1e-3;

/// A message: its sender's index and its place in that sender's `sent_at_ms`.
type MessageKey = (usize, usize);

/// One sender's index and its sent times, sorted, each with its place in `sent_at_ms`.
type SentTimes = (usize, Vec<(f64, usize)>);

/// Finds the message a receipt is of, by sender name and `sent_at`.
struct MessageIndex<'a> {
    senders: HashMap<&'a str, SentTimes>,
}

impl<'a> MessageIndex<'a> {
    fn new(records: &'a [ClientRecord]) -> MessageIndex<'a> {
        let mut senders = HashMap::new();
        for (s, record) in records.iter().enumerate() {
            let mut times: Vec<(f64, usize)> = record.sent_at_ms.iter().copied().zip(0..).collect();
            times.sort_by(|a, b| a.0.total_cmp(&b.0));
            senders.insert(record.name.as_str(), (s, times));
        }
        MessageIndex { senders }
    }

    fn find(&self, sender: &str, sent_at_ms: f64) -> Option<MessageKey> {
        let (s, times) = self.senders.get(sender)?;
        let at = times.partition_point(|&(t, _)| t < sent_at_ms - SENT_AT_TOLERANCE_MS);
        let &(t, m) = times.get(at)?;
        ((t - sent_at_ms).abs() < SENT_AT_TOLERANCE_MS).then_some((*s, m))
    }
}

/// Whether every message reached everyone who was there.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub sent: u64,
    /// Sum over messages of the other clients online when it was sent.
    pub expected: u64,
    /// Expected (message, recipient) pairs that were received.
    pub delivered: u64,
    /// `expected - delivered`.
    pub lost: u64,
    /// Receipts by clients that were not in the room when the message was sent.
    pub extra: u64,
    /// Receipts of one message by one client beyond the first.
    pub duplicates: u64,
    /// Receipts that match no message any client sent.
    pub unknown: u64,
}

/// Client-side totals summed over every client.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClientTotals {
    pub connections_opened: u64,
    pub requests: u64,
    pub empty_polls: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub errors_addr_not_available: u64,
    pub errors_refused: u64,
    pub errors_other: u64,
    pub lines_unsent: u64,
}

/// One second of a run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Second {
    /// End of the second, seconds since the run began.
    pub t_s: f64,
    /// Accepted by the server since the run began.
    pub connections_total: u64,
    /// Accepted by the server during this second.
    pub connections_per_s: f64,
    pub polls: u64,
    pub empty_polls: u64,
    pub messages_posted: u64,
    pub receipts: u64,
    /// Average latency of receipts received during this second.
    pub avg_latency_ms: Option<f64>,
}

/// Every figure of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub system: System,
    pub clients: usize,
    pub wall_s: f64,
    /// Why the figures of this run are not to be trusted, if so.
    pub failure: Option<String>,
    /// Warnings that do not void the run (a busy generator, a count mismatch).
    pub warnings: Vec<String>,
    /// Counted where the server accepts.
    pub connections: u64,
    pub connections_per_s: f64,
    pub client: ClientTotals,
    pub server: StatsSnapshot,
    /// Polls answered (server side) and the share of them that were empty, in percent.
    pub polls: u64,
    pub empty_polls: u64,
    pub wasted_pct: f64,
    pub delivery: Delivery,
    pub latency: Option<LatencyStats>,
    /// Client socket bytes, both directions, per delivered message.
    pub wire_bytes_per_delivered: Option<f64>,
    pub cpu: Option<CpuBreakdown>,
    pub server_cpu_s: Option<f64>,
    pub generator_cpu_s: Option<f64>,
    /// Peak RSS of the whole process (server and generator), bytes.
    pub peak_rss_bytes: Option<u64>,
    pub listen: Option<ListenCounters>,
    pub seconds: Vec<Second>,
}

impl RunResult {
    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }
}

/// Analyse one outcome.
pub fn analyse(outcome: &RunOutcome) -> RunResult {
    let wall_s = outcome.wall.as_secs_f64();
    let client = client_totals(&outcome.records);
    let delivery = delivery(&outcome.records);
    let latencies = latencies(&outcome.records);
    let server = outcome.server;

    let mut result = RunResult {
        system: outcome.system,
        clients: outcome.clients,
        wall_s,
        failure: outcome.failure.clone(),
        warnings: Vec::new(),
        connections: server.connections_opened,
        connections_per_s: per_second(server.connections_opened, wall_s),
        client,
        server,
        polls: server.polls,
        empty_polls: server.empty_polls,
        wasted_pct: percent(server.empty_polls, server.polls),
        delivery,
        latency: LatencyStats::from_samples(&latencies),
        wire_bytes_per_delivered: ratio(
            client.bytes_written + client.bytes_read,
            delivery.delivered,
        ),
        cpu: outcome.cpu,
        server_cpu_s: outcome.cpu.map(|c| c.server.total().as_secs_f64()),
        generator_cpu_s: outcome.cpu.map(|c| c.generator.total().as_secs_f64()),
        peak_rss_bytes: outcome.peak_rss_bytes,
        listen: outcome.listen,
        seconds: seconds(&outcome.samples, &outcome.records, outcome.start_ms),
    };
    judge(&mut result, outcome);
    result
}

/// Decide whether the run failed, and what is worth a warning.
fn judge(result: &mut RunResult, outcome: &RunOutcome) {
    let c = result.client;
    if result.failure.is_none() {
        result.failure = connection_failure(&c, &outcome.records);
    }
    if result.failure.is_none() && outcome.records.len() != outcome.clients {
        result.failure = Some(format!(
            "the driver returned {} client records for {} clients",
            outcome.records.len(),
            outcome.clients
        ));
    }

    if c.connections_opened != result.connections {
        result.warnings.push(format!(
            "clients opened {} connections, the server accepted {}",
            c.connections_opened, result.connections
        ));
    }
    if c.lines_unsent > 0 {
        result.warnings.push(format!(
            "{} chat lines were never posted (a post failed, or the line still waited for a \
             connection when the run ended)",
            c.lines_unsent
        ));
    }
    if result.delivery.unknown > 0 {
        result.warnings.push(format!(
            "{} receipts match no message a client sent",
            result.delivery.unknown
        ));
    }
    if result.server.messages_posted != result.delivery.sent {
        result.warnings.push(format!(
            "clients sent {} messages, the server stored {}",
            result.delivery.sent, result.server.messages_posted
        ));
    }
    if let (Some(cpu), true) = (result.generator_cpu_s, result.wall_s > 0.0) {
        let busy = cpu / result.wall_s;
        if busy > GENERATOR_BUSY_WARNING {
            result.warnings.push(format!(
                "the generator thread was on CPU {:.0}% of the run: it may be the bottleneck",
                busy * 100.0
            ));
        }
    }
}

/// A run with failed connects is reported as failed, with the counts and the last error.
fn connection_failure(c: &ClientTotals, records: &[ClientRecord]) -> Option<String> {
    let total = c.errors_addr_not_available + c.errors_refused + c.errors_other;
    if total == 0 {
        return None;
    }
    let last = records
        .iter()
        .rev()
        .find_map(|r| r.errors.last.clone())
        .unwrap_or_default();
    Some(format!(
        "{total} client errors ({} no free port, {} refused, {} other); last: {last}",
        c.errors_addr_not_available, c.errors_refused, c.errors_other
    ))
}

fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

pub fn client_totals(records: &[ClientRecord]) -> ClientTotals {
    let mut t = ClientTotals::default();
    for r in records {
        t.connections_opened += r.connections_opened;
        t.requests += r.requests;
        t.empty_polls += r.empty_polls;
        t.bytes_written += r.bytes_written;
        t.bytes_read += r.bytes_read;
        t.errors_addr_not_available += r.errors.addr_not_available;
        t.errors_refused += r.errors.refused;
        t.errors_other += r.errors.other;
        t.lines_unsent += r.lines_unsent;
    }
    t
}

/// Whether `t` lies in a client's online interval.
fn online_at(record: &ClientRecord, t: f64) -> bool {
    record
        .online_ms
        .is_some_and(|(from, to)| from <= t && t <= to)
}

/// Check every message against every client's receipts.
pub fn delivery(records: &[ClientRecord]) -> Delivery {
    let mut d = Delivery::default();
    let mut expected: HashMap<MessageKey, Vec<usize>> = HashMap::new();
    for (s, sender) in records.iter().enumerate() {
        for (m, &t) in sender.sent_at_ms.iter().enumerate() {
            let recipients: Vec<usize> = (0..records.len())
                .filter(|&r| r != s && online_at(&records[r], t))
                .collect();
            d.sent += 1;
            d.expected += recipients.len() as u64;
            expected.insert((s, m), recipients);
        }
    }

    let index = MessageIndex::new(records);
    for (r, receiver) in records.iter().enumerate() {
        let mut seen: HashSet<MessageKey> = HashSet::new();
        for receipt in &receiver.receipts {
            let found = index.find(&receipt.sender, receipt.sent_at_ms);
            let Some((k, recipients)) = found.and_then(|k| Some((k, expected.get(&k)?))) else {
                d.unknown += 1;
                continue;
            };
            if !seen.insert(k) {
                d.duplicates += 1;
            } else if recipients.contains(&r) {
                d.delivered += 1;
            } else {
                d.extra += 1;
            }
        }
    }
    d.lost = d.expected - d.delivered;
    d
}

fn latency_ms(receipt: &Receipt) -> f64 {
    receipt.received_at_ms - receipt.sent_at_ms
}

/// Every receipt's end-to-end latency, milliseconds.
pub fn latencies(records: &[ClientRecord]) -> Vec<f64> {
    records
        .iter()
        .flat_map(|r| r.receipts.iter().map(latency_ms))
        .collect()
}

/// Per-second series: server counters from the samples, latency from the receipts whose
/// arrival falls in each second.
fn seconds(samples: &[Sample], records: &[ClientRecord], start_ms: f64) -> Vec<Second> {
    let mut latency_sums: HashMap<i64, (f64, u64)> = HashMap::new();
    for receipt in records.iter().flat_map(|r| &r.receipts) {
        let second = ((receipt.received_at_ms - start_ms) / 1000.0).floor() as i64;
        let entry = latency_sums.entry(second).or_default();
        entry.0 += latency_ms(receipt);
        entry.1 += 1;
    }

    samples
        .windows(2)
        .map(|pair| {
            let (then, now) = (&pair[0], &pair[1]);
            let span = now.t_s - then.t_s;
            let second = then.t_s.floor() as i64;
            let opened = now.server.connections_opened - then.server.connections_opened;
            let latency = latency_sums.get(&second).map(|(sum, n)| sum / *n as f64);
            Second {
                t_s: now.t_s,
                connections_total: now.server.connections_opened,
                connections_per_s: if span > 0.0 {
                    opened as f64 / span
                } else {
                    0.0
                },
                polls: now.server.polls - then.server.polls,
                empty_polls: now.server.empty_polls - then.server.empty_polls,
                messages_posted: now.server.messages_posted - then.server.messages_posted,
                receipts: now.clients.receipts - then.clients.receipts,
                avg_latency_ms: latency,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, online: Option<(f64, f64)>, sent: &[f64]) -> ClientRecord {
        ClientRecord {
            name: name.into(),
            sent_at_ms: sent.to_vec(),
            online_ms: online,
            ..ClientRecord::default()
        }
    }

    fn receipt(sender: &str, sent_at: f64, received_at: f64) -> Receipt {
        Receipt {
            id: 0,
            sender: sender.into(),
            sent_at_ms: sent_at,
            received_at_ms: received_at,
        }
    }

    #[test]
    fn every_message_to_every_other_client_online_is_none_lost() {
        let mut a = client("a", Some((0.0, 100.0)), &[10.0, 20.0]);
        let mut b = client("b", Some((0.0, 100.0)), &[30.0]);
        let mut c = client("c", Some((0.0, 100.0)), &[]);
        a.receipts = vec![receipt("b", 30.0, 31.0)];
        b.receipts = vec![receipt("a", 10.0, 11.0), receipt("a", 20.0, 22.0)];
        c.receipts = vec![
            receipt("a", 10.0, 12.0),
            receipt("a", 20.0, 21.0),
            receipt("b", 30.0, 30.5),
        ];
        let d = delivery(&[a, b, c]);
        assert_eq!((d.sent, d.expected, d.delivered, d.lost), (3, 6, 6, 0));
        assert_eq!((d.extra, d.duplicates, d.unknown), (0, 0, 0));
    }

    #[test]
    fn a_missing_receipt_is_lost_and_a_late_joiner_is_not_expected() {
        let a = client("a", Some((0.0, 100.0)), &[10.0, 50.0]);
        let mut b = client("b", Some((0.0, 100.0)), &[]);
        let mut late = client("late", Some((40.0, 100.0)), &[]);
        b.receipts = vec![receipt("a", 10.0, 11.0)];
        late.receipts = vec![receipt("a", 10.0, 41.0), receipt("a", 50.0, 51.0)];
        let d = delivery(&[a, b, late]);
        assert_eq!((d.sent, d.expected, d.delivered, d.lost), (2, 3, 2, 1));
        assert_eq!(d.extra, 1);
    }

    #[test]
    fn duplicates_and_unknown_receipts_are_counted_apart() {
        let a = client("a", Some((0.0, 100.0)), &[10.0]);
        let mut b = client("b", Some((0.0, 100.0)), &[]);
        b.receipts = vec![
            receipt("a", 10.0, 11.0),
            receipt("a", 10.0, 12.0),
            receipt("zed", 5.0, 6.0),
        ];
        let d = delivery(&[a, b]);
        assert_eq!((d.delivered, d.duplicates, d.unknown, d.lost), (1, 1, 1, 0));
    }

    #[test]
    fn a_sent_at_one_bit_off_after_json_still_matches_its_message() {
        let sent = 1_796_360_136_456.696_5;
        let a = client("a", Some((0.0, 2e12)), &[sent]);
        let mut b = client("b", Some((0.0, 2e12)), &[]);
        b.receipts = vec![receipt("a", f64::from_bits(sent.to_bits() + 1), sent + 1.0)];
        let d = delivery(&[a, b]);
        assert_eq!((d.delivered, d.lost, d.unknown), (1, 0, 0));
    }

    fn outcome_of(records: Vec<ClientRecord>) -> RunOutcome {
        RunOutcome {
            system: System::PollingThreaded,
            clients: records.len(),
            start_ms: 0.0,
            wall: std::time::Duration::from_secs(1),
            samples: Vec::new(),
            records,
            server: StatsSnapshot::default(),
            cpu: None,
            peak_rss_bytes: None,
            listen: None,
            failure: None,
        }
    }

    #[test]
    fn unsent_lines_are_a_warning_but_connect_errors_fail_the_run() {
        let mut slow = client("a", Some((0.0, 1.0)), &[]);
        slow.lines_unsent = 2;
        let result = analyse(&outcome_of(vec![slow.clone()]));
        assert_eq!(result.failure, None);
        assert_eq!(result.client.lines_unsent, 2);
        assert!(
            result
                .warnings
                .iter()
                .any(|w| w.starts_with("2 chat lines were never posted")),
            "{:?}",
            result.warnings
        );

        slow.errors.refused = 1;
        slow.errors.last = Some("connect: (os error 111)".into());
        let result = analyse(&outcome_of(vec![slow]));
        assert!(result.failed(), "a refused connect voids the figures");
    }

    #[test]
    fn latencies_are_receipt_minus_sent_at() {
        let mut b = client("b", None, &[]);
        b.receipts = vec![receipt("a", 10.0, 10.25), receipt("a", 20.0, 70.0)];
        assert_eq!(latencies(&[b]), vec![0.25, 50.0]);
    }
}
