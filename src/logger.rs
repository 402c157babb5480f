//! A small stderr logger behind the `log` facade.
//!
//! Each record becomes one line on stderr:
//!
//! ```text
//! 2026-12-04T04:13:20.123Z INFO  pushpull::server: listening on 127.0.0.1:8080
//! ```
//!
//! The timestamp is UTC with millisecond precision, computed from
//! [`SystemTime`] with a civil-calendar conversion written out below, so the
//! crate needs no date library. The level given to [`init`] can be overridden
//! at run time with the environment variable [`LEVEL_ENV`].

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::{LevelFilter, Log, Metadata, Record};

/// Environment variable that overrides the level passed to [`init`]:
/// one of `off`, `error`, `warn`, `info`, `debug`, `trace` (any case).
pub const LEVEL_ENV: &str = "PUSHPULL_LOG";

const SECS_PER_MINUTE: u64 = 60;
const SECS_PER_HOUR: u64 = 60 * SECS_PER_MINUTE;
const SECS_PER_DAY: u64 = 24 * SECS_PER_HOUR;

/// Days in a 400-year Gregorian cycle (an "era"): the calendar repeats after it.
const DAYS_PER_ERA: u64 = 146_097;

/// Days from 0000-03-01 to 1970-01-01. Counting from a March 1st puts the
/// leap day at the end of each computed year, which keeps the arithmetic flat.
const DAYS_FROM_MARCH_ZERO_TO_EPOCH: u64 = 719_468;

/// Width of the level column: `ERROR` is the longest name.
const LEVEL_WIDTH: usize = 5;

/// The logger itself holds no state: filtering uses `log::max_level()`.
struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let line = format_line(since_epoch, record);

        // One write per line so lines from different threads do not interleave.
        // A closed stderr is not worth failing over: the line is dropped.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs the stderr logger at `level`, or at the level named in
/// [`LEVEL_ENV`] when that variable is set to a valid level name.
///
/// Calling it again is harmless: the logger stays installed and only the
/// maximum level is updated, so every test may call it.
pub fn init(level: LevelFilter) {
    let from_env = std::env::var(LEVEL_ENV).ok();
    let (level, rejected) = choose_level(level, from_env.as_deref());
    install(level);

    if let Some(value) = rejected {
        log::warn!("ignoring {LEVEL_ENV}={value:?}: expected off|error|warn|info|debug|trace");
    }
}

/// Installs the logger (once per process) and sets the maximum level.
fn install(level: LevelFilter) {
    // `set_logger` fails only when a logger is already installed, which is
    // the repeated-call case [`init`] promises to tolerate.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Picks the effective level: the environment value when it names a level,
/// else `default`. Returns the rejected environment value, if any, so the
/// caller can report it once the logger is up.
fn choose_level(default: LevelFilter, from_env: Option<&str>) -> (LevelFilter, Option<String>) {
    match from_env.map(str::trim) {
        None | Some("") => (default, None),
        Some(value) => match value.parse::<LevelFilter>() {
            Ok(level) => (level, None),
            Err(_) => (default, Some(value.to_string())),
        },
    }
}

/// Formats one record as a complete line, newline included.
fn format_line(since_epoch: Duration, record: &Record) -> String {
    format!(
        "{} {:<width$} {}: {}\n",
        format_timestamp(since_epoch),
        record.level(),
        record.target(),
        record.args(),
        width = LEVEL_WIDTH,
    )
}

/// Formats a time since the Unix epoch as ISO 8601 UTC with milliseconds,
/// e.g. `2026-12-04T04:13:20.123Z`.
fn format_timestamp(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(secs / SECS_PER_DAY);
    let secs_of_day = secs % SECS_PER_DAY;

    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs_of_day / SECS_PER_HOUR,
        secs_of_day % SECS_PER_HOUR / SECS_PER_MINUTE,
        secs_of_day % SECS_PER_MINUTE,
        since_epoch.subsec_millis(),
    )
}

/// Converts a count of days since 1970-01-01 to a proleptic Gregorian
/// `(year, month, day)`, month and day counted from 1.
fn civil_from_days(days_since_epoch: u64) -> (u64, u64, u64) {
    // Shift the origin to 0000-03-01, then split off whole 400-year eras.
    let days = days_since_epoch + DAYS_FROM_MARCH_ZERO_TO_EPOCH;
    let era = days / DAYS_PER_ERA;
    let day_of_era = days % DAYS_PER_ERA;

    // Within an era, a year has 365 days plus one every 4 years, minus one
    // every 100, plus the one at 400 (the era's last day). Subtracting those
    // leap days turns the day count into a count of 365-day years.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);

    // Months from March: 31,30,31,30,31 repeat, which 153 days per 5 months
    // captures exactly.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };

    // January and February belong to the next civil year.
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u32) -> String {
        format_timestamp(Duration::new(secs, millis * 1_000_000))
    }

    #[test]
    fn timestamp_of_the_epoch() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn timestamp_with_milliseconds() {
        assert_eq!(at(1_796_357_600, 123), "2026-12-04T04:13:20.123Z");
        assert_eq!(at(1_000_000_000, 7), "2001-09-09T01:46:40.007Z");
    }

    #[test]
    fn timestamp_truncates_sub_millisecond_part() {
        let nearly_next_second = Duration::new(59, 999_999_999);
        assert_eq!(
            format_timestamp(nearly_next_second),
            "1970-01-01T00:00:59.999Z"
        );
    }

    #[test]
    fn leap_days_divisible_by_four_and_by_four_hundred() {
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_709_164_800, 0), "2024-02-29T00:00:00.000Z");
    }

    #[test]
    fn century_year_not_divisible_by_four_hundred_has_no_leap_day() {
        // 2100-03-01 follows 2100-02-28 directly.
        assert_eq!(
            at(4_107_542_400 - SECS_PER_DAY, 0),
            "2100-02-28T00:00:00.000Z"
        );
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn last_second_of_years() {
        assert_eq!(at(4_102_444_799, 999), "2099-12-31T23:59:59.999Z");
        assert_eq!(at(253_402_300_799, 0), "9999-12-31T23:59:59.000Z");
    }

    #[test]
    fn civil_from_days_crosses_a_leap_day_and_a_new_year() {
        // Day 18_321 is 2020-02-29; walk across it.
        assert_eq!(civil_from_days(18_321 - 1), (2020, 2, 28));
        assert_eq!(civil_from_days(18_321), (2020, 2, 29));
        assert_eq!(civil_from_days(18_321 + 1), (2020, 3, 1));
        assert_eq!(civil_from_days(18_262), (2020, 1, 1));
        assert_eq!(civil_from_days(18_262 - 1), (2019, 12, 31));
    }

    #[test]
    fn line_has_timestamp_padded_level_target_and_message() {
        let line = format_line(
            Duration::new(1_796_357_600, 123_000_000),
            &Record::builder()
                .level(log::Level::Info)
                .target("pushpull::server")
                .args(format_args!("listening on {}", "127.0.0.1:1"))
                .build(),
        );
        assert_eq!(
            line,
            "2026-12-04T04:13:20.123Z INFO  pushpull::server: listening on 127.0.0.1:1\n"
        );
    }

    #[test]
    fn environment_level_overrides_default() {
        assert_eq!(
            choose_level(LevelFilter::Info, Some("debug")),
            (LevelFilter::Debug, None)
        );
        assert_eq!(
            choose_level(LevelFilter::Info, Some("TRACE")),
            (LevelFilter::Trace, None)
        );
        assert_eq!(
            choose_level(LevelFilter::Warn, None),
            (LevelFilter::Warn, None)
        );
        assert_eq!(
            choose_level(LevelFilter::Warn, Some("")),
            (LevelFilter::Warn, None)
        );
    }

    #[test]
    fn invalid_environment_level_keeps_default_and_is_reported() {
        assert_eq!(
            choose_level(LevelFilter::Info, Some("loud")),
            (LevelFilter::Info, Some("loud".to_string()))
        );
    }

    #[test]
    fn second_install_keeps_logger_and_updates_level() {
        let error = Metadata::builder().level(log::Level::Error).build();
        let debug = Metadata::builder().level(log::Level::Debug).build();

        install(LevelFilter::Debug);
        install(LevelFilter::Error);
        assert!(log::logger().enabled(&error));
        assert!(!log::logger().enabled(&debug));

        // `init` goes through the same path; a repeated call must not panic.
        init(LevelFilter::Error);
        init(LevelFilter::Error);
    }
}
