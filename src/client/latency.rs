//! End-to-end latency: the receiver's wall clock minus the `sent_at` the
//! sender embedded, summarised as average, percentiles and max.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Milliseconds per second, for the wall clock.
const MS_PER_SEC: f64 = 1000.0;

/// The wall clock as Unix milliseconds, the unit of `sent_at`.
pub fn unix_ms_now() -> f64 {
    unix_ms(SystemTime::now())
}

/// A point in wall-clock time as Unix milliseconds (0 before 1970).
pub fn unix_ms(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * MS_PER_SEC)
        .unwrap_or(0.0)
}

/// Average, percentiles and maximum of a set of latencies, in milliseconds: what the chat
/// client prints on exit and what `pushpull compare` reports per run.
///
/// Every sample is kept and sorted (a run holds at most clients x messages of them), so the
/// percentiles are exact: nearest-rank, each one a latency that really happened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyStats {
    pub count: usize,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencyStats {
    /// Summarises `samples` (milliseconds); `None` when there are none. Non-finite values
    /// are dropped.
    pub fn from_samples(samples: &[f64]) -> Option<LatencyStats> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|s| s.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);

        let count = sorted.len();
        Some(LatencyStats {
            count,
            avg_ms: sorted.iter().sum::<f64>() / count as f64,
            p50_ms: nearest_rank(&sorted, 50.0),
            p90_ms: nearest_rank(&sorted, 90.0),
            p99_ms: nearest_rank(&sorted, 99.0),
            max_ms: sorted[count - 1],
        })
    }
}

impl fmt::Display for LatencyStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "avg {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            self.avg_ms, self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms, self.count
        )
    }
}

/// The nearest-rank percentile of sorted, non-empty `sorted`: the smallest sample with at
/// least `percent` % of the samples at or below it.
fn nearest_rank(sorted: &[f64], percent: f64) -> f64 {
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_one_to_one_hundred_is_the_percentile_itself() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = LatencyStats::from_samples(&samples).expect("not empty");
        assert_eq!(s.count, 100);
        assert_eq!(s.avg_ms, 50.5);
        assert_eq!(
            (s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
    }

    #[test]
    fn nearest_rank_picks_a_real_sample_on_small_sets() {
        let s = LatencyStats::from_samples(&[3.0, 1.0, 2.0, 10.0]).expect("not empty");
        assert_eq!((s.p50_ms, s.p90_ms, s.p99_ms), (2.0, 10.0, 10.0));
    }

    #[test]
    fn one_sample_is_every_statistic() {
        let s = LatencyStats::from_samples(&[3.5]).expect("not empty");
        assert_eq!(
            (s.avg_ms, s.p50_ms, s.p99_ms, s.max_ms),
            (3.5, 3.5, 3.5, 3.5)
        );
    }

    #[test]
    fn no_finite_samples_means_no_summary() {
        assert_eq!(LatencyStats::from_samples(&[]), None);
        assert_eq!(LatencyStats::from_samples(&[f64::NAN]), None);
    }

    #[test]
    fn display_names_every_statistic_in_milliseconds() {
        let s = LatencyStats::from_samples(&[1.0, 2.0]).expect("not empty");
        assert_eq!(
            s.to_string(),
            "avg 1.50 ms, p50 1.00 ms, p90 2.00 ms, p99 2.00 ms, max 2.00 ms (2 samples)"
        );
    }

    #[test]
    fn wall_clock_is_after_2020() {
        assert!(unix_ms_now() > 1.577e12);
    }
}
