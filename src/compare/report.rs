//! The text report: the original experiment's two tables, extended with the new columns,
//! and the side-by-side summary across tiers.

use std::fmt::Write as _;

use super::analysis::RunResult;
use super::driver::Transport;
use super::system::System;

/// Columns are separated by this many spaces.
const COLUMN_GAP: usize = 2;

/// A plain text table: right-aligned cells, or a row that is one note after its first cell
/// (how a failed run says so instead of printing numbers).
#[derive(Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

#[derive(Debug)]
pub enum Row {
    Cells(Vec<String>),
    Note { first: String, note: String },
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            match row {
                Row::Cells(cells) => {
                    for (w, cell) in widths.iter_mut().zip(cells) {
                        *w = (*w).max(cell.chars().count());
                    }
                }
                Row::Note { first, .. } => widths[0] = widths[0].max(first.chars().count()),
            }
        }

        let mut out = String::new();
        push_line(&mut out, &self.headers, &widths);
        for row in &self.rows {
            match row {
                Row::Cells(cells) => push_line(&mut out, cells, &widths),
                Row::Note { first, note } => {
                    let _ = writeln!(
                        out,
                        "{first:>w$}{:gap$}{note}",
                        "",
                        w = widths[0],
                        gap = COLUMN_GAP
                    );
                }
            }
        }
        out
    }
}

fn push_line(out: &mut String, cells: &[String], widths: &[usize]) {
    let line: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(cell, &w)| format!("{cell:>w$}"))
        .collect();
    let _ = writeln!(out, "{}", line.join(&" ".repeat(COLUMN_GAP)));
}

/// `9008` → `9,008`, as the original tables print counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds with precision that suits the size: `63.58ms`, `0.212ms`.
pub fn millis(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}ms")
    } else {
        format!("{ms:.2}ms")
    }
}

fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "n/a".to_string(), show)
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1}MiB", bytes as f64 / (1024.0 * 1024.0))
}

const POLLING_HEADERS: &[&str] = &[
    "Clients",
    "Connections",
    "Conn/s",
    "Wasted%",
    "Avg Latency",
    "p50",
    "p90",
    "p99",
    "Max",
    "Sent",
    "Delivered",
    "Lost",
    "B/msg",
    "Srv CPU",
    "Gen CPU",
    "Peak RSS",
    "Overflows",
];

/// The WebSocket table has no Wasted% column: no request is ever empty.
const WEBSOCKET_HEADERS: &[&str] = &[
    "Clients",
    "Connections",
    "Conn/s",
    "Avg Latency",
    "p50",
    "p90",
    "p99",
    "Max",
    "Sent",
    "Delivered",
    "Lost",
    "B/msg",
    "Srv CPU",
    "Gen CPU",
    "Peak RSS",
    "Overflows",
];

/// One row of a system's table.
fn row(r: &RunResult) -> Row {
    if let Some(failure) = &r.failure {
        return Row::Note {
            first: r.clients.to_string(),
            note: format!("FAILED: {failure}"),
        };
    }
    let lat = r.latency;
    let mut cells = vec![
        r.clients.to_string(),
        thousands(r.connections),
        format!("{:.1}", r.connections_per_s),
    ];
    if r.system.transport() == Transport::Polling {
        cells.push(format!("{:.0}%", r.wasted_pct));
    }
    cells.extend([
        opt(lat, |l| millis(l.avg_ms)),
        opt(lat, |l| millis(l.p50_ms)),
        opt(lat, |l| millis(l.p90_ms)),
        opt(lat, |l| millis(l.p99_ms)),
        opt(lat, |l| millis(l.max_ms)),
        thousands(r.delivery.sent),
        thousands(r.delivery.delivered),
        thousands(r.delivery.lost),
        opt(r.wire_bytes_per_delivered, |b| format!("{b:.0}")),
        opt(r.server_cpu_s, |s| format!("{s:.2}s")),
        opt(r.generator_cpu_s, |s| format!("{s:.2}s")),
        opt(r.peak_rss_bytes, mebibytes),
        opt(r.listen, |l| l.overflows.to_string()),
    ]);
    Row::Cells(cells)
}

/// The table of one system, in the shape of the original's polling or WebSocket table.
pub fn system_table(system: System, results: &[&RunResult]) -> String {
    let headers = match system.transport() {
        Transport::Polling => POLLING_HEADERS,
        Transport::WebSocket => WEBSOCKET_HEADERS,
    };
    let mut table = Table::new(headers);
    table.rows = results.iter().map(|r| row(r)).collect();

    let mut out = format!("{}\n{}", system.label(), table.render());
    for r in results {
        for warning in &r.warnings {
            let _ = writeln!(out, "  note ({} clients): {warning}", r.clients);
        }
    }
    out
}

/// One line of the side-by-side summary: a label and a cell per (system, tier).
type SummaryLine = (&'static str, fn(&RunResult) -> String);

const SUMMARY_LINES: &[SummaryLine] = &[
    ("Connections", |r| r.connections.to_string()),
    ("Conn/s", |r| format!("{:.1}", r.connections_per_s)),
    ("Wasted%", |r| match r.system.transport() {
        Transport::Polling => format!("{:.0}%", r.wasted_pct),
        Transport::WebSocket => "0%".into(),
    }),
    ("Avg Latency", |r| opt(r.latency, |l| millis(l.avg_ms))),
    ("p99 Latency", |r| opt(r.latency, |l| millis(l.p99_ms))),
    ("Lost", |r| r.delivery.lost.to_string()),
    ("Bytes/msg", |r| {
        opt(r.wire_bytes_per_delivered, |b| format!("{b:.0}"))
    }),
    ("Server CPU", |r| {
        opt(r.server_cpu_s, |s| format!("{s:.2}s"))
    }),
];

/// The side-by-side summary: one column per system and tier, a failed run as `FAILED`.
pub fn summary(systems: &[System], tiers: &[usize], results: &[RunResult]) -> String {
    let find = |s: System, n: usize| results.iter().find(|r| r.system == s && r.clients == n);
    let mut headers = vec![String::new()];
    let mut tier_line = vec![String::new()];
    for &system in systems {
        for (i, &n) in tiers.iter().enumerate() {
            headers.push(if i == 0 {
                system.short().to_string()
            } else {
                String::new()
            });
            tier_line.push(n.to_string());
        }
    }

    let mut table = Table {
        headers,
        rows: vec![Row::Cells(tier_line)],
    };
    for (label, cell) in SUMMARY_LINES {
        let mut cells = vec![label.to_string()];
        for &system in systems {
            for &n in tiers {
                cells.push(match find(system, n) {
                    Some(r) if r.failed() => "FAILED".into(),
                    Some(r) => cell(r),
                    None => "-".into(),
                });
            }
        }
        table.rows.push(Row::Cells(cells));
    }
    table.render()
}

/// The whole text report.
pub fn full_report(systems: &[System], tiers: &[usize], results: &[RunResult]) -> String {
    let mut out = String::new();
    for &system in systems {
        let runs: Vec<&RunResult> = results.iter().filter(|r| r.system == system).collect();
        let _ = writeln!(out, "{}", system_table(system, &runs));
    }
    let _ = writeln!(out, "SUMMARY\n{}", summary(systems, tiers, results));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits_like_the_original_tables() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(494), "494");
        assert_eq!(thousands(4823), "4,823");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn millis_keeps_three_places_below_one_millisecond() {
        assert_eq!(millis(63.584), "63.58ms");
        assert_eq!(millis(0.2121), "0.212ms");
    }

    #[test]
    fn table_right_aligns_and_a_note_row_replaces_numbers() {
        let mut table = Table::new(&["Clients", "Conn/s"]);
        table.rows.push(Row::Cells(vec!["5".into(), "49.4".into()]));
        table.rows.push(Row::Note {
            first: "100".into(),
            note: "FAILED: no free port".into(),
        });
        let expected = "Clients  Conn/s\n      5    49.4\n    100  FAILED: no free port\n";
        assert_eq!(table.render(), expected);
    }
}
