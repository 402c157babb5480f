//! When a client sends its chat messages, and what they say.
//!
//! Three schedules: a fixed script for unattended `chat --script` runs, random
//! gaps for the experiment (so hundreds of simulated clients do not send in
//! lockstep), and manual sending for lines typed on stdin. A [`Pacer`] turns a
//! schedule into "send this text after that delay", as a pure computation: the
//! random part comes in as a number in `[0, 1)`, so tests need no clock and no
//! random generator.

use std::time::Duration;

/// The gap between scripted lines, as in the original experiment.
pub const SCRIPT_EVERY: Duration = Duration::from_secs(2);

/// Mean gap between the experiment's messages.
pub const RANDOM_MEAN: Duration = Duration::from_secs(2);

/// Default jitter: each gap is drawn uniformly from mean ± this.
pub const RANDOM_JITTER: Duration = Duration::from_millis(500);

/// The built-in conversation of `chat --script`.
pub const SCRIPT: &[&str] = &[
    "Hi all, is anyone around?",
    "I'm trying out the new chat client.",
    "Each of these lines carries the time it was sent.",
    "So the receiver can work out how long it took.",
    "Polling makes you wait for the next poll.",
    "A WebSocket pushes the message right away.",
    "That's all from me, bye!",
];

/// How a client paces its outgoing messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Send `lines` in order, one every `every`, then stop.
    Script { lines: Vec<String>, every: Duration },
    /// Send forever, with gaps drawn uniformly from `mean ± jitter`; the texts
    /// cycle through [`SCRIPT`] with a counter.
    Random { mean: Duration, jitter: Duration },
    /// Send only what is handed in (stdin lines).
    Manual,
}

impl Schedule {
    /// The built-in script at the original two-second pace.
    pub fn builtin_script() -> Schedule {
        Schedule::Script {
            lines: SCRIPT.iter().map(|s| s.to_string()).collect(),
            every: SCRIPT_EVERY,
        }
    }

    /// The experiment's random schedule with the default mean and jitter.
    pub fn random() -> Schedule {
        Schedule::Random {
            mean: RANDOM_MEAN,
            jitter: RANDOM_JITTER,
        }
    }
}

/// One planned message: wait `delay` after the previous one, then send `text`.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub delay: Duration,
    pub text: String,
}

/// Walks a [`Schedule`] one message at a time.
#[derive(Debug, Clone)]
pub struct Pacer {
    schedule: Schedule,
    index: usize,
}

impl Pacer {
    pub fn new(schedule: Schedule) -> Pacer {
        Pacer { schedule, index: 0 }
    }

    /// Whether the schedule ever sends on its own.
    pub fn is_manual(&self) -> bool {
        self.schedule == Schedule::Manual
    }

    /// The next message, or `None` when the schedule has no more (end of the
    /// script; always for `Manual`). `unit` is a uniform sample from `[0, 1)`.
    ///
    /// The first random gap is drawn from `[0, mean)` instead, so clients
    /// started together spread out at once.
    pub fn next(&mut self, unit: f64) -> Option<Planned> {
        let unit = unit.clamp(0.0, 1.0);
        let planned = match &self.schedule {
            Schedule::Manual => return None,
            Schedule::Script { lines, every } => Planned {
                delay: *every,
                text: lines.get(self.index)?.clone(),
            },
            Schedule::Random { mean, jitter } => Planned {
                delay: if self.index == 0 {
                    mean.mul_f64(unit)
                } else {
                    jittered(*mean, *jitter, unit)
                },
                text: random_text(self.index),
            },
        };
        self.index += 1;
        Some(planned)
    }
}

/// `mean - jitter + 2 * jitter * unit`, never below zero.
pub fn jittered(mean: Duration, jitter: Duration, unit: f64) -> Duration {
    let low = mean.saturating_sub(jitter);
    let high = mean.saturating_add(jitter);
    low + (high - low).mul_f64(unit.clamp(0.0, 1.0))
}

fn random_text(index: usize) -> String {
    let line = SCRIPT.get(index % SCRIPT.len()).copied().unwrap_or("hello");
    format!("{line} (#{index})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_sends_each_line_once_every_two_seconds_then_ends() {
        let mut pacer = Pacer::new(Schedule::Script {
            lines: vec!["a".into(), "b".into()],
            every: SCRIPT_EVERY,
        });
        let first = pacer.next(0.9).unwrap();
        let second = pacer.next(0.1).unwrap();
        assert_eq!((first.delay, first.text.as_str()), (SCRIPT_EVERY, "a"));
        assert_eq!((second.delay, second.text.as_str()), (SCRIPT_EVERY, "b"));
        assert_eq!(pacer.next(0.5), None);
    }

    #[test]
    fn random_gaps_stay_within_mean_plus_minus_jitter() {
        let mut pacer = Pacer::new(Schedule::random());
        let first = pacer.next(0.5).unwrap();
        assert_eq!(first.delay, Duration::from_secs(1));

        let low = pacer.next(0.0).unwrap().delay;
        let high = pacer.next(0.999_999).unwrap().delay;
        assert_eq!(low, RANDOM_MEAN - RANDOM_JITTER);
        assert!(high < RANDOM_MEAN + RANDOM_JITTER && high > RANDOM_MEAN);
    }

    #[test]
    fn random_texts_differ_from_message_to_message() {
        let mut pacer = Pacer::new(Schedule::random());
        let a = pacer.next(0.0).unwrap().text;
        let b = pacer.next(0.0).unwrap().text;
        assert_ne!(a, b);
    }

    #[test]
    fn manual_schedule_never_sends_by_itself() {
        let mut pacer = Pacer::new(Schedule::Manual);
        assert!(pacer.is_manual());
        assert_eq!(pacer.next(0.5), None);
    }

    #[test]
    fn jitter_larger_than_mean_never_goes_negative() {
        let d = jittered(Duration::from_millis(100), Duration::from_secs(1), 0.0);
        assert_eq!(d, Duration::ZERO);
    }
}
