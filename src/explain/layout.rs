//! The text layout of an explanation: rows with the RFC citation in a column
//! of its own, at most [`MAX_WIDTH`] columns wide.

use std::fmt::Write as _;

/// Where the citation column starts.
const CITE_COLUMN: usize = 68;
/// No line is longer than this.
const MAX_WIDTH: usize = 100;
/// Width of a field label in a bit row (`FIN`, `RSV1-3`, `opcode`).
const BIT_LABEL: usize = 6;
/// Width of a value in a bit row.
const BIT_VALUE: usize = 6;
/// Width of a label in a key/value row (`masking key`, header names).
const KEY_LABEL: usize = 15;
/// Payload bytes shown per hex row.
pub const HEX_ROW: usize = 16;

/// The text being built and whether a broken rule was found.
#[derive(Debug, Default)]
pub struct Out {
    pub text: String,
    pub broken: bool,
}

impl Out {
    /// A line as it is.
    pub fn line(&mut self, line: &str) {
        self.text.push_str(line.trim_end());
        self.text.push('\n');
    }

    /// `left`, then `cite` in the citation column: after two spaces when
    /// `left` reaches it, or on a line of its own when it would not fit.
    pub fn cited(&mut self, left: &str, cite: &str) {
        if cite.is_empty() {
            return self.line(left);
        }
        let width = left.chars().count();
        let cite_width = cite.chars().count();
        if width + 2 <= CITE_COLUMN {
            let pad = CITE_COLUMN - width;
            self.line(&format!("{left}{:pad$}{cite}", ""));
        } else if width + 2 + cite_width <= MAX_WIDTH {
            self.line(&format!("{left}  {cite}"));
        } else {
            self.line(left);
            self.line(&format!("{:CITE_COLUMN$}{cite}", ""));
        }
    }

    /// A row for one field of a frame's first two bytes.
    pub fn bits(&mut self, label: &str, value: &str, meaning: &str, cite: &str) {
        let left = format!("    {label:<BIT_LABEL$} {value:<BIT_VALUE$} {meaning}");
        self.cited(&left, cite);
    }

    /// A `label  value` row at `indent`.
    pub fn field(&mut self, indent: usize, label: &str, value: &str, cite: &str) {
        let mut left = format!("{:indent$}{label:<KEY_LABEL$}", "");
        if label.chars().count() >= KEY_LABEL {
            left.push(' ');
        }
        left.push(' ');
        left.push_str(value);
        self.cited(&left, cite);
    }

    /// Bytes as hex rows under `label`, at most `cap` bytes, the rest counted.
    pub fn hex_rows(&mut self, label: &str, bytes: &[u8], cap: usize, cite: &str) {
        let shown = &bytes[..bytes.len().min(cap)];
        let mut rows = shown.chunks(HEX_ROW);
        let first = rows.next().map(hex).unwrap_or_else(|| "(none)".into());
        self.field(2, label, &first, cite);
        for row in rows {
            self.field(2, "", &hex(row), "");
        }
        if bytes.len() > shown.len() {
            let rest = format!("... {} more bytes not shown", bytes.len() - shown.len());
            self.field(2, "", &rest, "");
        }
    }

    /// Record a broken rule: what it is, and what the receiver must do.
    pub fn broken(&mut self, rule: &str, cite: &str, answer: &str, answer_cite: &str) {
        self.broken = true;
        self.field(2, "RULE BROKEN", rule, cite);
        self.field(2, "so", answer, answer_cite);
        self.line("  (explanation stops here: nothing after a broken rule is explained)");
    }
}

/// Bytes as two-digit hex separated by spaces.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A byte as `0x81 = 1000 0001`.
pub fn byte_bits(byte: u8) -> String {
    format!("{byte:#04x} = {:04b} {:04b}", byte >> 4, byte & 0x0f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citation_goes_to_its_column_or_its_own_line() {
        let mut out = Out::default();
        out.cited("  short", "RFC 6455 §5.2");
        out.cited(&"x".repeat(90), "RFC 6455 §5.2");
        let lines: Vec<&str> = out.text.lines().collect();
        assert_eq!(lines[0].find("RFC"), Some(CITE_COLUMN));
        assert_eq!(lines[1], "x".repeat(90));
        assert_eq!(lines[2].trim(), "RFC 6455 §5.2");
        assert!(lines.iter().all(|l| l.chars().count() <= MAX_WIDTH));
    }

    #[test]
    fn byte_bits_splits_nibbles() {
        assert_eq!(byte_bits(0x81), "0x81 = 1000 0001");
    }
}
