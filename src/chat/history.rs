//! The bounded message log pollers read from.

use std::collections::{VecDeque, vec_deque};

use super::{ClientMessage, StoredMessage};

/// Default number of messages kept.
pub const DEFAULT_LOG_CAPACITY: usize = 10_000;

/// Why the log cannot answer "the messages after `since`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    /// Message `since + 1` was evicted: everything before `oldest_available` is gone, so the
    /// poller missed some.
    Evicted { oldest_available: u64 },
    /// `since` is past the newest id this log ever gave out. The poller got that id from
    /// somewhere else: most likely an earlier run of the server, whose ids this one reuses
    /// from 1. Answering "nothing newer" would make it skip this log's messages up to `since`.
    Unknown { newest: u64 },
}

/// A ring of the latest messages. Ids start at 1 and increase by 1, so the messages held
/// are exactly the ids `oldest..=last_id` and a position is found by subtraction.
#[derive(Debug)]
pub struct ChatLog {
    messages: VecDeque<StoredMessage>,
    capacity: usize,
    next_id: u64,
}

impl ChatLog {
    /// A log keeping the latest `capacity` messages (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        ChatLog {
            messages: VecDeque::with_capacity(capacity.min(DEFAULT_LOG_CAPACITY)),
            capacity,
            next_id: 1,
        }
    }

    /// Store a message under the next id, evicting the oldest when full.
    pub fn append(&mut self, message: ClientMessage) -> &StoredMessage {
        if self.messages.len() == self.capacity {
            self.messages.pop_front();
        }
        let id = self.next_id;
        self.next_id += 1;
        self.messages.push_back(StoredMessage {
            id,
            name: message.name,
            text: message.text,
            sent_at: message.sent_at,
        });
        &self.messages[self.messages.len() - 1]
    }

    /// Messages with id greater than `since`, oldest first. A `since` equal to the last id
    /// gets nothing (the normal empty poll); one past it is [`Gap::Unknown`], and one whose
    /// next message was evicted is [`Gap::Evicted`].
    pub fn since(&self, since: u64) -> Result<vec_deque::Iter<'_, StoredMessage>, Gap> {
        if since > self.last_id() {
            return Err(Gap::Unknown {
                newest: self.last_id(),
            });
        }

        let oldest = self.oldest_id();
        let first_wanted = since + 1;
        if first_wanted < oldest {
            return Err(Gap::Evicted {
                oldest_available: oldest,
            });
        }

        // Ids are consecutive, so `first_wanted` sits at this offset (at most the length).
        let skip = usize::try_from(first_wanted - oldest).unwrap_or(usize::MAX);
        Ok(self.messages.range(skip.min(self.messages.len())..))
    }

    /// The id of the latest message, 0 before the first.
    pub fn last_id(&self) -> u64 {
        self.next_id - 1
    }

    /// The id of the oldest message held (the next id while the log is empty).
    pub fn oldest_id(&self) -> u64 {
        self.messages.front().map_or(self.next_id, |m| m.id)
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

impl Default for ChatLog {
    fn default() -> Self {
        ChatLog::new(DEFAULT_LOG_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> ClientMessage {
        ClientMessage {
            name: "A".into(),
            text: text.into(),
            sent_at: 0.0,
        }
    }

    fn ids(found: Result<vec_deque::Iter<'_, StoredMessage>, Gap>) -> Result<Vec<u64>, Gap> {
        found.map(|messages| messages.map(|m| m.id).collect())
    }

    #[test]
    fn ids_start_at_one_and_increase() {
        let mut log = ChatLog::new(10);
        assert_eq!(log.last_id(), 0);
        assert_eq!(log.append(message("a")).id, 1);
        assert_eq!(log.append(message("b")).id, 2);
        assert_eq!(log.last_id(), 2);
    }

    #[test]
    fn since_returns_newer_messages_oldest_first() {
        let mut log = ChatLog::new(10);
        for text in ["a", "b", "c"] {
            log.append(message(text));
        }
        assert_eq!(ids(log.since(0)), Ok(vec![1, 2, 3]));
        assert_eq!(ids(log.since(2)), Ok(vec![3]));
        assert_eq!(
            ids(log.since(3)),
            Ok(vec![]),
            "since at the last id: nothing new"
        );
    }

    #[test]
    fn a_since_past_the_last_id_is_unknown_not_an_empty_list() {
        let mut log = ChatLog::new(10);
        assert_eq!(ids(log.since(3)), Err(Gap::Unknown { newest: 0 }));
        for text in ["a", "b"] {
            log.append(message(text));
        }
        assert_eq!(ids(log.since(3)), Err(Gap::Unknown { newest: 2 }));
        assert_eq!(ids(log.since(u64::MAX)), Err(Gap::Unknown { newest: 2 }));
    }

    #[test]
    fn an_evicted_since_is_a_gap_not_a_silent_skip() {
        let mut log = ChatLog::new(2);
        for text in ["a", "b", "c", "d"] {
            log.append(message(text));
        }
        assert_eq!(log.len(), 2);
        assert_eq!(
            ids(log.since(1)),
            Err(Gap::Evicted {
                oldest_available: 3
            })
        );
        assert_eq!(
            ids(log.since(0)),
            Err(Gap::Evicted {
                oldest_available: 3
            })
        );
        assert_eq!(
            ids(log.since(2)),
            Ok(vec![3, 4]),
            "since+1 is the oldest held"
        );
    }

    #[test]
    fn an_empty_log_has_nothing_and_no_gap() {
        let log = ChatLog::new(0);
        assert!(log.is_empty());
        assert_eq!(ids(log.since(0)), Ok(vec![]));
    }
}
