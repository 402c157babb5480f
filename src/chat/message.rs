//! The chat message JSON, as clients send it and as the server stores and returns it.

use serde::{Deserialize, Serialize};

/// Longest accepted sender name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest accepted message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// What a client posts: `{"name": "Alice", "text": "hi", "sent_at": 1700000000000.5}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMessage {
    pub name: String,
    pub text: String,
    /// The sender's wall clock when it sent the message, Unix milliseconds (a fraction is
    /// allowed); receivers subtract it from their own clock to measure latency.
    pub sent_at: f64,
}

/// A message as stored and returned to pollers: the client's fields plus its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Assigned by the log: 1 for the first message, then strictly increasing by 1.
    pub id: u64,
    pub name: String,
    pub text: String,
    pub sent_at: f64,
}

/// Parse and validate a client's message. The error is one line, fit for a 400 body.
///
/// Refused: anything but an object with exactly `name`, `text` and `sent_at`; an empty or
/// over-long name or text; control characters (a newline in a name could forge a line of
/// the server log); a `sent_at` that is negative, infinite or NaN.
pub fn parse_client_message(bytes: &[u8]) -> Result<ClientMessage, String> {
    // serde would also read a struct from a JSON array; only an object is a message.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|err| format!("invalid message JSON: {err}"))?;
    if !value.is_object() {
        return Err("invalid message JSON: expected an object".into());
    }
    let message: ClientMessage =
        serde_json::from_value(value).map_err(|err| format!("invalid message JSON: {err}"))?;

    check_field("name", &message.name, MAX_NAME_CHARS)?;
    check_field("text", &message.text, MAX_TEXT_CHARS)?;
    if !message.sent_at.is_finite() || message.sent_at < 0.0 {
        return Err("sent_at must be a non-negative number of Unix milliseconds".into());
    }
    Ok(message)
}

/// The rules a sender's name must meet; a client checks them before it connects, so
/// that a name the server would refuse is reported at once.
pub fn check_name(name: &str) -> Result<(), String> {
    check_field("name", name, MAX_NAME_CHARS)
}

fn check_field(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(format!("{field} is longer than {max_chars} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_name_applies_the_same_rules_as_a_message() {
        assert_eq!(check_name("Alice"), Ok(()));
        assert_eq!(check_name(&"é".repeat(MAX_NAME_CHARS)), Ok(()));
        for refused in ["", "  ", "A\nB"] {
            assert!(check_name(refused).is_err(), "{refused:?}");
        }
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn a_well_formed_message_parses() {
        let m = parse_client_message(br#"{"name":"Alice","text":"hi","sent_at":1.5}"#).unwrap();
        assert_eq!(
            (m.name.as_str(), m.text.as_str(), m.sent_at),
            ("Alice", "hi", 1.5)
        );
    }

    #[test]
    fn bad_shapes_and_values_are_refused_with_a_reason() {
        let long_name = format!(r#"{{"name":"{}","text":"hi","sent_at":1}}"#, "a".repeat(65));
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "invalid message JSON"),
            (br#"["Alice","hi",1]"#, "invalid message JSON"),
            (br#"{"name":"A","text":"hi"}"#, "missing field `sent_at`"),
            (
                br#"{"name":"A","text":"hi","sent_at":1,"x":2}"#,
                "unknown field `x`",
            ),
            (
                br#"{"name":"A","text":"hi","sent_at":"now"}"#,
                "invalid type",
            ),
            (
                br#"{"name":"","text":"hi","sent_at":1}"#,
                "name must not be empty",
            ),
            (
                br#"{"name":"A","text":" ","sent_at":1}"#,
                "text must not be empty",
            ),
            (
                br#"{"name":"A\nB","text":"hi","sent_at":1}"#,
                "control characters",
            ),
            (
                br#"{"name":"A","text":"hi","sent_at":-1}"#,
                "sent_at must be",
            ),
            (
                br#"{"name":"A","text":"hi","sent_at":1e999}"#,
                "invalid message JSON",
            ),
            (long_name.as_bytes(), "name is longer than 64"),
        ];
        for (input, reason) in cases {
            let err = parse_client_message(input).unwrap_err();
            assert!(err.contains(reason), "{input:?}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
