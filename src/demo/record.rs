//! What a demo run put on the wire and got back, in a structured form that
//! tests compare against tshark's dissection and against other runs.
//!
//! Bytes are kept as lowercase hex so that the JSON form stays readable and
//! diffable.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Which way a record went, seen from the demo client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client to server.
    Sent,
    /// Server to client.
    Received,
}

/// One WebSocket frame as it crossed the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRecord {
    pub direction: Direction,
    pub fin: bool,
    pub rsv: u8,
    /// The 4-bit opcode (RFC 6455 §5.2).
    pub opcode: u8,
    /// The masking key in hex, `None` for an unmasked frame.
    pub mask: Option<String>,
    /// The payload after unmasking, in hex.
    pub payload: String,
}

/// One HTTP request or response head (and its body length).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRecord {
    pub direction: Direction,
    /// The head up to, not including, the blank line.
    pub head: String,
    /// The body as text (every demo body is JSON).
    pub body: String,
}

/// Something the demo saw on one connection, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Item {
    Http(HttpRecord),
    Frame(FrameRecord),
}

/// One TCP connection of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ConnectionRecord {
    /// The scenario's name.
    pub scenario: String,
    pub items: Vec<Item>,
    /// Every byte the client wrote, in hex.
    pub sent: String,
    /// Every byte the client read, in hex.
    pub received: String,
}

impl ConnectionRecord {
    /// The frames, in the order they crossed the wire.
    pub fn frames(&self) -> impl Iterator<Item = &FrameRecord> {
        self.items.iter().filter_map(|item| match item {
            Item::Frame(frame) => Some(frame),
            Item::Http(_) => None,
        })
    }
}

/// Lowercase hex, no separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The bytes of a hex string from [`hex`]; `None` if it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00abff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
