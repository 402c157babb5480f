//! Reconnect delays for the WebSocket client, as the original experiment had
//! them.
//!
//! Two cases, told apart because they mean different things:
//!
//! - **Server unreachable** (the TCP connect or the opening handshake failed):
//!   wait 1 s, 2 s, 4 s, ... doubling up to a cap of 30 s, so a server that is
//!   down is not hammered.
//! - **Connection dropped** (an established WebSocket ended): the server was
//!   there a moment ago, so the first retry comes after 1 s; if that fails the
//!   doubling starts again from there.

use std::time::Duration;

/// The first reconnect delay, in either case.
pub const INITIAL_DELAY: Duration = Duration::from_secs(1);

/// The longest reconnect delay.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// Why the client is reconnecting; the log line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectCause {
    /// The connect or the handshake failed.
    Unreachable,
    /// An established connection ended.
    Dropped,
}

/// The delay before retry number `failures` (0-based) of an unreachable
/// server: `INITIAL_DELAY * 2^failures`, capped at [`MAX_DELAY`].
pub fn delay_after_failures(failures: u32) -> Duration {
    // 2^5 s already exceeds the cap; clamping the exponent keeps the shift small.
    let exponent = failures.min(u32::BITS - 1);
    let factor = 1u32.checked_shl(exponent).unwrap_or(u32::MAX);
    INITIAL_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

/// The reconnect schedule of one client.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    /// Failed attempts since the last established connection.
    failures: u32,
}

impl Backoff {
    /// A schedule whose next delay is [`INITIAL_DELAY`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The delay to wait after a failure of the given cause, advancing the
    /// schedule.
    pub fn next_delay(&mut self, cause: ReconnectCause) -> Duration {
        if cause == ReconnectCause::Dropped {
            self.failures = 0;
        }
        let delay = delay_after_failures(self.failures);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// A connection was established: the next drop starts over at 1 s.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(list: &[Duration]) -> Vec<u64> {
        list.iter().map(Duration::as_secs).collect()
    }

    #[test]
    fn unreachable_server_doubles_from_one_second_up_to_thirty() {
        let mut backoff = Backoff::new();
        let delays: Vec<Duration> = (0..7)
            .map(|_| backoff.next_delay(ReconnectCause::Unreachable))
            .collect();
        assert_eq!(secs(&delays), [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn dropped_connection_retries_after_one_second_then_doubles() {
        let mut backoff = Backoff::new();
        for _ in 0..6 {
            backoff.next_delay(ReconnectCause::Unreachable);
        }
        backoff.reset();

        let first = backoff.next_delay(ReconnectCause::Dropped);
        let then = backoff.next_delay(ReconnectCause::Unreachable);
        assert_eq!(secs(&[first, then]), [1, 2]);
    }

    #[test]
    fn drop_resets_even_without_explicit_reset() {
        let mut backoff = Backoff::new();
        for _ in 0..10 {
            backoff.next_delay(ReconnectCause::Unreachable);
        }
        assert_eq!(backoff.next_delay(ReconnectCause::Dropped), INITIAL_DELAY);
    }

    #[test]
    fn huge_failure_counts_stay_capped() {
        assert_eq!(delay_after_failures(u32::MAX), MAX_DELAY);
        assert_eq!(delay_after_failures(31), MAX_DELAY);
        assert_eq!(delay_after_failures(0), INITIAL_DELAY);
    }
}
