//! End-to-end latency statistics over every receipt of a run.
//!
//! All samples are kept (a run holds at most clients × messages of them), so the
//! percentiles are exact: nearest-rank, each one a latency that really happened.

use serde::Serialize;

/// Average, percentiles and maximum of a set of latencies, in milliseconds.
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
    /// Summarise `samples` (milliseconds); `None` when there are none. Non-finite values
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

/// The nearest-rank percentile of sorted, non-empty `sorted`: the smallest sample with at
/// least `pct` percent of the samples at or below it.
pub fn nearest_rank(sorted: &[f64], pct: f64) -> f64 {
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_one_to_one_hundred_is_the_percentile_itself() {
        let data: Vec<f64> = (1..=100).map(f64::from).collect();
        let stats = LatencyStats::from_samples(&data).expect("not empty");
        assert_eq!(stats.count, 100);
        assert_eq!(stats.avg_ms, 50.5);
        assert_eq!(
            (stats.p50_ms, stats.p90_ms, stats.p99_ms, stats.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
    }

    #[test]
    fn nearest_rank_picks_a_real_sample_on_small_sets() {
        let stats = LatencyStats::from_samples(&[3.0, 1.0, 2.0, 10.0]).expect("not empty");
        assert_eq!(
            (stats.p50_ms, stats.p90_ms, stats.p99_ms),
            (2.0, 10.0, 10.0)
        );
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let stats = LatencyStats::from_samples(&[7.5]).expect("not empty");
        assert_eq!((stats.p50_ms, stats.p99_ms, stats.max_ms), (7.5, 7.5, 7.5));
    }

    #[test]
    fn no_finite_samples_is_none() {
        assert_eq!(LatencyStats::from_samples(&[]), None);
        assert_eq!(LatencyStats::from_samples(&[f64::NAN]), None);
    }
}
