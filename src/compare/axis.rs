//! Axis ranges and tick marks for the charts, as pure arithmetic so they can be tested
//! without drawing anything.
//!
//! Ticks fall on the 1-2-5 sequence (…, 0.1, 0.2, 0.5, 1, 2, 5, 10, …), the steps a reader
//! can interpolate between at a glance. Ranges are padded past the data so that no point
//! sits on the frame of a panel, where it would be clipped or read as off the scale.

/// How far past the data a log axis reaches before snapping out to a 1-2-5 value: a factor
/// of 1.5 is about a sixth of a decade.
const LOG_PAD: f64 = 1.5;

/// How far past the largest value a linear axis reaches, as a share of that value.
const LINEAR_PAD: f64 = 0.05;

/// The most labelled ticks a linear axis gets; the step grows to stay under it.
const MAX_LINEAR_TICKS: f64 = 10.0;

/// The mantissas of the 1-2-5 sequence within one decade.
const MANTISSAS: [f64; 3] = [1.0, 2.0, 5.0];

/// Slack for comparing values that went through `log10` and back.
const EPSILON: f64 = 1e-9;

/// `mantissa × 10^exponent`, rounded as well as f64 allows: dividing by a power of ten
/// gives 0.2 where multiplying by 0.1 would give 0.20000000000000004.
fn scaled(mantissa: f64, exponent: i32) -> f64 {
    if exponent >= 0 {
        mantissa * 10f64.powi(exponent)
    } else {
        mantissa / 10f64.powi(-exponent)
    }
}

/// Every 1-2-5 value over the decades that `low..=high` touches, in ascending order.
fn sequence(low: f64, high: f64) -> impl Iterator<Item = f64> {
    let first = low.log10().floor() as i32 - 1;
    let last = high.log10().ceil() as i32 + 1;
    (first..=last).flat_map(|exponent| MANTISSAS.iter().map(move |&m| scaled(m, exponent)))
}

/// The largest 1-2-5 value at or below `value` (which must be positive).
fn step_at_or_below(value: f64) -> f64 {
    sequence(value, value)
        .filter(|&v| v <= value * (1.0 + EPSILON))
        .last()
        .unwrap_or(value)
}

/// The smallest 1-2-5 value at or above `value` (which must be positive).
fn step_at_or_above(value: f64) -> f64 {
    sequence(value, value)
        .find(|&v| v >= value * (1.0 - EPSILON))
        .unwrap_or(value)
}

/// The range of a log axis over positive values from `min` to `max`: padded by [`LOG_PAD`]
/// on both sides, then widened to the nearest 1-2-5 values so both ends carry a label.
/// With no positive data the range is 0.1 to 10.
pub fn log_range(min: f64, max: f64) -> (f64, f64) {
    if !(min > 0.0 && max >= min && max.is_finite()) {
        return (0.1, 10.0);
    }
    (
        step_at_or_below(min / LOG_PAD),
        step_at_or_above(max * LOG_PAD),
    )
}

/// The labelled ticks of a log axis: every 1-2-5 value from `low` to `high` inclusive.
pub fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    if !(low > 0.0 && high >= low) {
        return Vec::new();
    }
    sequence(low, high)
        .filter(|&v| v >= low * (1.0 - EPSILON) && v <= high * (1.0 + EPSILON))
        .collect()
}

/// The unlabelled grid lines of a log axis: 1 to 9 times each power of ten in range.
pub fn log_grid(low: f64, high: f64) -> Vec<f64> {
    if !(low > 0.0 && high >= low) {
        return Vec::new();
    }
    let first = low.log10().floor() as i32;
    let last = high.log10().ceil() as i32;
    (first..=last)
        .flat_map(|exponent| (1..=9).map(move |m| scaled(f64::from(m), exponent)))
        .filter(|&v| v >= low * (1.0 - EPSILON) && v <= high * (1.0 + EPSILON))
        .collect()
}

/// A linear axis from 0 over values up to `max`: its upper end, padded by [`LINEAR_PAD`],
/// and its ticks, a 1-2-5 step apart and at most [`MAX_LINEAR_TICKS`] of them past 0.
/// With `whole` (a count of clients) the step is never below 1, so no tick falls between
/// two whole numbers.
pub fn linear_axis(max: f64, whole: bool) -> (f64, Vec<f64>) {
    let max = if max > 0.0 && max.is_finite() {
        max
    } else {
        1.0
    };
    let upper = max * (1.0 + LINEAR_PAD);
    let mut step = step_at_or_above(upper / MAX_LINEAR_TICKS);
    if whole {
        step = step.max(1.0);
    }

    // Counting in steps, not adding them up, keeps 0.1 + 0.1 + 0.1 from drifting.
    let count = (upper / step + EPSILON).floor() as u32;
    let ticks = (0..=count).map(|i| f64::from(i) * step).collect();
    (upper, ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_range_pads_polling_and_websocket_latency_to_labelled_ends() {
        // WebSocket at 0.24 ms and polling at 65 ms, the spread the reviewer saw.
        assert_eq!(log_range(0.24, 65.0), (0.1, 100.0));
        // 0.24 / 1.5 = 0.16 rounds down to 0.1; 80 * 1.5 = 120 rounds up to 200.
        assert_eq!(log_range(0.24, 80.0), (0.1, 200.0));
    }

    #[test]
    fn log_range_keeps_every_point_off_the_edges() {
        for (min, max) in [
            (0.1, 0.1),
            (1.0, 10.0),
            (0.24, 65.0),
            (3.0, 3.0),
            (50.0, 500.0),
        ] {
            let (low, high) = log_range(min, max);
            assert!(
                low < min && high > max,
                "{min}..{max} drawn as {low}..{high}"
            );
            assert!(min / low >= LOG_PAD - EPSILON, "{min} too near {low}");
            assert!(high / max >= LOG_PAD - EPSILON, "{max} too near {high}");
        }
    }

    #[test]
    fn log_range_without_positive_data_is_a_fixed_two_decades() {
        assert_eq!(log_range(f64::INFINITY, 0.0), (0.1, 10.0));
        assert_eq!(log_range(0.0, 5.0), (0.1, 10.0));
    }

    #[test]
    fn log_ticks_step_1_2_5_across_the_whole_range() {
        let expected = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0];
        assert_eq!(log_ticks(0.1, 200.0), expected);
        assert_eq!(log_ticks(0.05, 0.2), [0.05, 0.1, 0.2]);
        assert_eq!(log_ticks(3.0, 4.0), Vec::<f64>::new());
    }

    #[test]
    fn log_grid_marks_every_integer_multiple_of_each_decade() {
        assert_eq!(
            log_grid(0.5, 20.0),
            [
                0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 20.0
            ]
        );
    }

    #[test]
    fn linear_axis_for_one_small_tier_counts_whole_clients_past_the_point() {
        let (upper, ticks) = linear_axis(5.0, true);
        assert!(upper > 5.0);
        assert_eq!(ticks, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn linear_axis_for_client_tiers_uses_round_whole_steps() {
        assert_eq!(
            linear_axis(100.0, true).1,
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let (upper, ticks) = linear_axis(1000.0, true);
        assert!(upper > 1000.0);
        assert_eq!(ticks, [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        assert_eq!(linear_axis(1.0, true).1, [0.0, 1.0]);
    }

    #[test]
    fn linear_axis_for_time_may_step_in_fractions() {
        let (upper, ticks) = linear_axis(3.8, false);
        assert!(upper > 3.8);
        assert_eq!(ticks, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]);
    }

    #[test]
    fn linear_axis_ticks_never_pass_the_upper_end() {
        for max in [0.3, 1.0, 5.0, 7.0, 50.0, 99.0, 1000.0, 12345.0] {
            let (upper, ticks) = linear_axis(max, true);
            assert!(
                ticks.len() <= MAX_LINEAR_TICKS as usize + 1,
                "{max}: {ticks:?}"
            );
            assert!(
                ticks.iter().all(|&t| t <= upper),
                "{max}: {ticks:?} past {upper}"
            );
            assert!(ticks.iter().all(|&t| t.fract() == 0.0), "{max}: {ticks:?}");
        }
    }
}
