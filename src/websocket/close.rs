//! Close frames: status codes and the body of a Close (RFC 6455 §5.5.1, §7.4).
//!
//! A Close body is empty, or a 2-byte big-endian status code followed by a
//! UTF-8 reason:
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-------------------------------+- - - - - - - - - - - - - -+
//! |   status code (16, network)   |  reason, UTF-8, 0..=123   |
//! +-------------------------------+- - - - - - - - - - - - - -+
//! ```

use std::fmt;

use super::error::ProtocolError;
use super::frame::MAX_CONTROL_PAYLOAD;

/// Bytes of the status code at the start of a Close body (RFC 6455 §5.5.1).
pub const CLOSE_CODE_LEN: usize = 2;

/// The longest reason that fits a control frame next to its code (RFC 6455 §5.5).
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - CLOSE_CODE_LEN;

/// A Close status code (RFC 6455 §7.4). Any `u16` can arrive, so this is a plain
/// wrapper; [`CloseCode::is_valid_on_wire`] says whether it may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a kind of data the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: reserved to mean "the Close had no code"; never sent.
    pub const NO_STATUS_RECEIVED: Self = Self(1005);
    /// 1006: reserved to mean "closed without a Close frame"; never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: message data inconsistent with its type (invalid UTF-8 text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1015: reserved to mean "the TLS handshake failed"; never sent.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Whether this code may appear in a Close frame, sent or received.
    ///
    /// RFC 6455 §7.4.1 defines 1000-1003 and 1007-1011; 1012-1014 were
    /// registered with IANA later (§11.7: service restart, try again later,
    /// bad gateway) and are accepted too. §7.4.2: 3000-3999 are for libraries
    /// and frameworks, 4000-4999 for private use. Everything else is either
    /// reserved for future RFCs, or (1004, 1005, 1006, 1015) must never be
    /// put on the wire.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The decoded body of a received Close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseBody {
    /// `None` when the Close was empty (the application sees this as 1005).
    pub code: Option<u16>,
    pub reason: String,
}

/// Decode a received Close body, enforcing RFC 6455 §5.5.1 and §7.4.
pub fn parse_close_body(payload: &[u8]) -> Result<CloseBody, ProtocolError> {
    // RFC 6455 §5.5.1: the body may be empty; there is then no code at all.
    let Some((code_bytes, reason)) = payload.split_first_chunk::<CLOSE_CODE_LEN>() else {
        if payload.is_empty() {
            return Ok(CloseBody {
                code: None,
                reason: String::new(),
            });
        }
        return Err(ProtocolError::ClosePayloadTooShort);
    };

    // RFC 6455 §7.4: only defined and registered codes are allowed.
    let code = u16::from_be_bytes(*code_bytes);
    if !CloseCode(code).is_valid_on_wire() {
        return Err(ProtocolError::InvalidCloseCode(code));
    }

    // RFC 6455 §5.5.1: the rest of the body is a UTF-8 reason.
    let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8CloseReason)?;
    Ok(CloseBody {
        code: Some(code),
        reason: reason.to_owned(),
    })
}

/// Encode the body of a Close we send. Codes that must not be sent (1005, 1006,
/// 1015, and anything [`CloseCode::is_valid_on_wire`] rejects) give an empty
/// body, which the peer reads as "no status". A reason longer than
/// [`MAX_CLOSE_REASON`] bytes is cut at the last character boundary that fits.
pub fn encode_close_body(code: Option<u16>, reason: &str) -> Vec<u8> {
    let Some(code) = code.filter(|&c| CloseCode(c).is_valid_on_wire()) else {
        return Vec::new();
    };

    let reason = &reason[..reason.floor_char_boundary(MAX_CLOSE_REASON)];
    let mut body = Vec::with_capacity(CLOSE_CODE_LEN + reason.len());
    body.extend_from_slice(&code.to_be_bytes());
    body.extend_from_slice(reason.as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_valid_on_the_wire_rfc_6455_section_7_4() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ];
        let valid_private = [3000, 3999, 4000, 4999];
        for code in valid.into_iter().chain(valid_private) {
            assert!(CloseCode(code).is_valid_on_wire(), "{code}");
        }

        let invalid = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for code in invalid {
            assert!(!CloseCode(code).is_valid_on_wire(), "{code}");
        }
    }

    #[test]
    fn empty_close_body_has_no_code() {
        let body = parse_close_body(&[]).unwrap();
        assert_eq!(body.code, None);
        assert_eq!(body.reason, "");
    }

    #[test]
    fn one_byte_close_body_is_rejected_rfc_6455_section_5_5_1() {
        assert_eq!(
            parse_close_body(&[0x03]),
            Err(ProtocolError::ClosePayloadTooShort)
        );
    }

    #[test]
    fn reserved_close_code_is_rejected_rfc_6455_section_7_4() {
        let body = 1005u16.to_be_bytes();
        assert_eq!(
            parse_close_body(&body),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
    }

    #[test]
    fn close_reason_must_be_utf8_rfc_6455_section_5_5_1() {
        let body = [0x03, 0xe8, b'o', 0xff];
        assert_eq!(
            parse_close_body(&body),
            Err(ProtocolError::InvalidUtf8CloseReason)
        );
    }

    #[test]
    fn close_body_with_code_and_reason_decodes() {
        let body = parse_close_body(&[0x03, 0xe9, b'b', b'y', b'e']).unwrap();
        assert_eq!(body.code, Some(1001));
        assert_eq!(body.reason, "bye");
    }

    #[test]
    fn unsendable_codes_give_an_empty_body() {
        for code in [1005, 1006, 1015, 999] {
            assert!(encode_close_body(Some(code), "x").is_empty(), "{code}");
        }
        assert!(encode_close_body(None, "ignored").is_empty());
    }

    #[test]
    fn long_reason_is_cut_at_a_char_boundary() {
        let reason = "é".repeat(100);
        let body = encode_close_body(Some(1000), &reason);
        assert!(body.len() <= MAX_CONTROL_PAYLOAD);
        assert_eq!(body.len(), CLOSE_CODE_LEN + 122);
        assert!(std::str::from_utf8(&body[CLOSE_CODE_LEN..]).is_ok());
    }
}
