//! End-to-end latency: the receiver's wall clock minus the `sent_at` the
//! sender embedded, summarised as average, median, 99th percentile and max.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// Summary of a set of latency samples, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub count: usize,
    pub avg: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl LatencySummary {
    /// Summarises `samples` (milliseconds); `None` when there are none.
    /// Percentiles use the nearest-rank method, so each is a real sample.
    pub fn from_samples(samples: &[f64]) -> Option<LatencySummary> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|s| s.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);

        let count = sorted.len();
        let avg = sorted.iter().sum::<f64>() / count as f64;
        Some(LatencySummary {
            count,
            avg,
            p50: nearest_rank(&sorted, 50.0),
            p99: nearest_rank(&sorted, 99.0),
            max: sorted.last().copied().unwrap_or(avg),
        })
    }
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "avg {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            self.avg, self.p50, self.p99, self.max, self.count
        )
    }
}

/// The smallest sample with at least `percent` % of samples at or below it.
fn nearest_rank(sorted: &[f64], percent: f64) -> f64 {
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = LatencySummary::from_samples(&samples).unwrap();
        assert_eq!((s.count, s.p50, s.p99, s.max), (100, 50.0, 99.0, 100.0));
        assert!((s.avg - 50.5).abs() < 1e-9);
    }

    #[test]
    fn single_sample_is_every_statistic() {
        let s = LatencySummary::from_samples(&[3.5]).unwrap();
        assert_eq!((s.avg, s.p50, s.p99, s.max), (3.5, 3.5, 3.5, 3.5));
    }

    #[test]
    fn no_samples_means_no_summary() {
        assert_eq!(LatencySummary::from_samples(&[]), None);
        assert_eq!(LatencySummary::from_samples(&[f64::NAN]), None);
    }

    #[test]
    fn wall_clock_is_after_2020() {
        assert!(unix_ms_now() > 1.577e12);
    }
}
