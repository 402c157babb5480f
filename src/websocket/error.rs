//! Why a WebSocket connection was failed, and the close code each reason maps to.
//!
//! Every variant is named after the RFC 6455 rule the peer broke. The close code
//! that goes into our Close frame is chosen in one place, [`ProtocolError::close_code`].

use std::fmt;

use super::close::CloseCode;

/// A rule of RFC 6455 the peer broke, or a message the application refuses.
///
/// Receiving any of these makes the [`Connection`](super::Connection) fail
/// (RFC 6455 §7.1.7): it queues a Close frame carrying [`Self::close_code`] and
/// ignores all further input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// RFC 6455 §5.2: RSV1-3 must be 0 unless an extension gives them a meaning.
    /// The only one we negotiate, permessage-deflate, gives RSV1 a meaning on
    /// the first frame of a data message (RFC 7692 §6). Holds the three bits,
    /// RSV1 highest.
    ReservedBitsSet(u8),
    /// RFC 6455 §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    ReservedOpcode(u8),
    /// RFC 6455 §5.5: a control frame must not be fragmented.
    FragmentedControlFrame,
    /// RFC 6455 §5.5: a control frame carries at most 125 payload bytes.
    ControlFrameTooLong(u64),
    /// RFC 6455 §5.1: a server must fail on an unmasked frame from a client.
    UnmaskedClientFrame,
    /// RFC 6455 §5.1: a client must fail on a masked frame from a server.
    MaskedServerFrame,
    /// RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    LengthTopBitSet,
    /// RFC 6455 §5.2: the minimal number of bytes must be used to encode the
    /// length. Holds the length and how many extended length bytes carried it.
    NonMinimalLength { length: u64, length_bytes: u8 },
    /// RFC 6455 §5.4: a continuation frame arrived with no message to continue.
    ContinuationWithoutMessage,
    /// RFC 6455 §5.4: a new text or binary frame arrived while a fragmented
    /// message was still open; fragments of messages must not interleave.
    MessageStartedDuringFragments,
    /// RFC 6455 §8.1: the payload of a text message is not valid UTF-8.
    InvalidUtf8Text,
    /// RFC 7692 §7.2.2: a compressed message did not inflate (a DEFLATE
    /// stream that does not decode, or one that refers back past its window).
    InvalidCompressedData,
    /// RFC 6455 §5.5.1: a Close body, if present, starts with a 2-byte code.
    ClosePayloadTooShort,
    /// RFC 6455 §7.4: the Close frame carried a code not allowed on the wire.
    InvalidCloseCode(u16),
    /// RFC 6455 §5.5.1: the reason in a Close frame must be valid UTF-8.
    InvalidUtf8CloseReason,
    /// RFC 6455 §10.4: the message (all its fragments together) would exceed
    /// `Config::max_message_size`.
    MessageTooBig { limit: usize },
    /// RFC 6455 §10.4: the message arrived in more fragments than
    /// `Config::max_fragments`. Each fragment costs work even when empty, so a
    /// message split too finely is refused like one that is too big (1009).
    TooManyFragments { limit: usize },
    /// RFC 6455 §7.4.1: the application cannot accept this kind of message
    /// (e.g. binary on a text-only endpoint). Never raised by the connection
    /// itself; the application passes it to `Connection::fail`.
    UnsupportedDataType,
}

impl ProtocolError {
    /// The status code our Close frame carries when this error fails the
    /// connection (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> CloseCode {
        match self {
            // RFC 6455 §7.4.1: 1007 is for payload data inconsistent with the
            // message, which a DEFLATE stream that does not decode is.
            Self::InvalidUtf8Text | Self::InvalidUtf8CloseReason | Self::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            Self::MessageTooBig { .. } | Self::TooManyFragments { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            Self::UnsupportedDataType => CloseCode::UNSUPPORTED_DATA,
            Self::ReservedBitsSet(_)
            | Self::ReservedOpcode(_)
            | Self::FragmentedControlFrame
            | Self::ControlFrameTooLong(_)
            | Self::UnmaskedClientFrame
            | Self::MaskedServerFrame
            | Self::LengthTopBitSet
            | Self::NonMinimalLength { .. }
            | Self::ContinuationWithoutMessage
            | Self::MessageStartedDuringFragments
            | Self::ClosePayloadTooShort
            | Self::InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedBitsSet(bits) => {
                write!(f, "reserved bits {bits:#05b} set, no extension allows it")
            }
            Self::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            Self::FragmentedControlFrame => f.write_str("control frame without FIN"),
            Self::ControlFrameTooLong(len) => {
                write!(f, "control frame payload of {len} bytes exceeds 125")
            }
            Self::UnmaskedClientFrame => f.write_str("client frame is not masked"),
            Self::MaskedServerFrame => f.write_str("server frame is masked"),
            Self::LengthTopBitSet => f.write_str("64-bit payload length has its top bit set"),
            Self::NonMinimalLength {
                length,
                length_bytes,
            } => write!(
                f,
                "payload length {length} sent in {length_bytes} bytes, not the minimal encoding"
            ),
            Self::ContinuationWithoutMessage => {
                f.write_str("continuation frame with no message in progress")
            }
            Self::MessageStartedDuringFragments => {
                f.write_str("new data frame while a fragmented message is open")
            }
            Self::InvalidUtf8Text => f.write_str("text message is not valid UTF-8"),
            Self::InvalidCompressedData => f.write_str("compressed message does not inflate"),
            Self::ClosePayloadTooShort => f.write_str("close payload of 1 byte, code needs 2"),
            Self::InvalidCloseCode(code) => write!(f, "close code {code} is not allowed"),
            Self::InvalidUtf8CloseReason => f.write_str("close reason is not valid UTF-8"),
            Self::MessageTooBig { limit } => write!(f, "message exceeds {limit} bytes"),
            Self::TooManyFragments { limit } => {
                write!(f, "message split into more than {limit} fragments")
            }
            Self::UnsupportedDataType => f.write_str("message type not accepted here"),
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_follow_rfc_6455_section_7_4_1() {
        let cases = [
            (ProtocolError::ReservedBitsSet(0b100), 1002),
            (ProtocolError::ReservedOpcode(3), 1002),
            (ProtocolError::UnmaskedClientFrame, 1002),
            (ProtocolError::InvalidCloseCode(1005), 1002),
            (ProtocolError::InvalidUtf8Text, 1007),
            (ProtocolError::InvalidUtf8CloseReason, 1007),
            (ProtocolError::InvalidCompressedData, 1007),
            (ProtocolError::MessageTooBig { limit: 1 }, 1009),
            (ProtocolError::TooManyFragments { limit: 1 }, 1009),
            (ProtocolError::UnsupportedDataType, 1003),
        ];
        for (error, code) in cases {
            assert_eq!(error.close_code().0, code, "{error}");
        }
    }

    #[test]
    fn display_is_one_line() {
        let text = ProtocolError::NonMinimalLength {
            length: 5,
            length_bytes: 2,
        }
        .to_string();
        assert_eq!(
            text,
            "payload length 5 sent in 2 bytes, not the minimal encoding"
        );
    }
}
