//! The frame format of RFC 6455 §5.2: opcodes, the frame header, encoding.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! :                     Payload Data continued ...                :
//! + - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - +
//! |                     Payload Data continued ...                |
//! +---------------------------------------------------------------+
//! ```
//!
//! [`FrameHeader::parse`] only decodes; the rules that depend on the role or on
//! the state of the connection are checked by the connection.
//!
//! Length encodings: RFC 6455 §5.2 says "the minimal number of bytes MUST be
//! used to encode the length". We enforce it on receipt
//! ([`ProtocolError::NonMinimalLength`]): a conformance tool should flag a peer
//! that breaks a MUST, and no mainstream client sends padded lengths.

use super::error::ProtocolError;
use super::mask::{MASK_KEY_LEN, apply_mask};

/// Byte 0: the final fragment flag.
const FIN_BIT: u8 = 0b1000_0000;
/// Byte 0: RSV1, RSV2 and RSV3.
const RSV_BITS: u8 = 0b0111_0000;
/// RSV1 in [`FrameHeader::rsv`] (RSV1 highest of the three bits);
/// permessage-deflate marks a compressed message with it (RFC 7692 §6).
pub const RSV1: u8 = 0b100;
/// How far the RSV bits sit above bit 0 of byte 0.
const RSV_SHIFT: u32 = 4;
/// Byte 0: the opcode.
const OPCODE_BITS: u8 = 0b0000_1111;
/// Opcodes with this bit set are control frames (RFC 6455 §5.5).
const CONTROL_OPCODE_BIT: u8 = 0b0000_1000;
/// Byte 1: the payload is masked.
const MASK_BIT: u8 = 0b1000_0000;
/// Byte 1: the 7-bit payload length or one of the two markers below.
const LEN7_BITS: u8 = 0b0111_1111;

/// The largest length that fits the 7-bit field itself.
const MAX_LEN7: u64 = 125;
/// The smallest and largest lengths sent in the 16-bit extended field.
const MIN_LEN16: u64 = MAX_LEN7 + 1;
const MAX_LEN16: u64 = 0xFFFF;
/// 7-bit length value meaning "a 16-bit length follows".
const LEN16_MARKER: u8 = 126;
/// 7-bit length value meaning "a 64-bit length follows".
const LEN64_MARKER: u8 = 127;
/// Bytes of the 16-bit and 64-bit extended lengths.
const LEN16_BYTES: usize = 2;
const LEN64_BYTES: usize = 8;
/// RFC 6455 §5.2: the most significant bit of the 64-bit length MUST be 0.
const LEN64_TOP_BIT: u64 = 1 << 63;

/// Byte 0 and byte 1, present in every header.
const BASE_HEADER_LEN: usize = 2;
/// The longest header: base, 64-bit length and masking key.
pub const MAX_HEADER_LEN: usize = BASE_HEADER_LEN + LEN64_BYTES + MASK_KEY_LEN;

/// RFC 6455 §5.5: all control frames have a payload of 125 bytes or less.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The frame opcode (RFC 6455 §5.2, registry in §11.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    /// 0x3-0x7 (data) and 0xB-0xF (control) are reserved for future use.
    Reserved(u8),
}

impl Opcode {
    /// Decode the low 4 bits of `bits`.
    pub fn from_bits(bits: u8) -> Self {
        match bits & OPCODE_BITS {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => Self::Reserved(other),
        }
    }

    /// The 4-bit value on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
            Self::Reserved(bits) => bits & OPCODE_BITS,
        }
    }

    /// Control frames (Close, Ping, Pong and reserved 0xB-0xF) have the high
    /// opcode bit set (RFC 6455 §5.5).
    pub fn is_control(self) -> bool {
        self.bits() & CONTROL_OPCODE_BIT != 0
    }
}

/// A decoded frame header (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as a 3-bit number, RSV1 highest.
    pub rsv: u8,
    pub opcode: Opcode,
    pub mask: Option<[u8; MASK_KEY_LEN]>,
    pub payload_len: u64,
}

impl FrameHeader {
    /// Decode a header from the start of `buf`.
    ///
    /// `Ok(None)` means the header is not complete yet; `Ok(Some((header, n)))`
    /// means it took the first `n` bytes. Fails only on a length the format
    /// forbids (RFC 6455 §5.2).
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let Some(&[byte0, byte1]) = buf.first_chunk::<BASE_HEADER_LEN>() else {
            return Ok(None);
        };
        let rest = &buf[BASE_HEADER_LEN..];

        let Some((payload_len, len_bytes)) = parse_length(byte1 & LEN7_BITS, rest)? else {
            return Ok(None);
        };
        let rest = &rest[len_bytes..];

        let masked = byte1 & MASK_BIT != 0;
        let mask = match (masked, rest.first_chunk::<MASK_KEY_LEN>()) {
            (false, _) => None,
            (true, Some(key)) => Some(*key),
            (true, None) => return Ok(None),
        };

        let header = Self {
            fin: byte0 & FIN_BIT != 0,
            rsv: (byte0 & RSV_BITS) >> RSV_SHIFT,
            opcode: Opcode::from_bits(byte0),
            mask,
            payload_len,
        };
        Ok(Some((header, header.encoded_len())))
    }

    /// How many bytes this header takes on the wire.
    pub fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=MAX_LEN7 => 0,
            MIN_LEN16..=MAX_LEN16 => LEN16_BYTES,
            _ => LEN64_BYTES,
        };
        let mask_bytes = if self.mask.is_some() { MASK_KEY_LEN } else { 0 };
        BASE_HEADER_LEN + len_bytes + mask_bytes
    }

    /// Append the header to `out`, always with the minimal length encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let fin = if self.fin { FIN_BIT } else { 0 };
        let rsv = (self.rsv << RSV_SHIFT) & RSV_BITS;
        out.push(fin | rsv | self.opcode.bits());

        let mask = if self.mask.is_some() { MASK_BIT } else { 0 };
        match self.payload_len {
            len @ 0..=MAX_LEN7 => out.push(mask | len as u8),
            len @ MIN_LEN16..=MAX_LEN16 => {
                out.push(mask | LEN16_MARKER);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(mask | LEN64_MARKER);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }

        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
    }
}

/// Decode the payload length from its 7-bit field and the bytes after byte 1.
/// Returns the length and how many extended length bytes it used, or `None`
/// if those bytes have not arrived.
fn parse_length(len7: u8, rest: &[u8]) -> Result<Option<(u64, usize)>, ProtocolError> {
    match len7 {
        LEN16_MARKER => {
            let Some(bytes) = rest.first_chunk::<LEN16_BYTES>() else {
                return Ok(None);
            };
            let len = u64::from(u16::from_be_bytes(*bytes));
            check_minimal(len, MAX_LEN7, LEN16_BYTES)?;
            Ok(Some((len, LEN16_BYTES)))
        }
        LEN64_MARKER => {
            let Some(bytes) = rest.first_chunk::<LEN64_BYTES>() else {
                return Ok(None);
            };
            let len = u64::from_be_bytes(*bytes);

            // RFC 6455 §5.2: "the most significant bit MUST be 0".
            if len & LEN64_TOP_BIT != 0 {
                return Err(ProtocolError::LengthTopBitSet);
            }
            check_minimal(len, MAX_LEN16, LEN64_BYTES)?;
            Ok(Some((len, LEN64_BYTES)))
        }
        len => Ok(Some((u64::from(len), 0))),
    }
}

/// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the
/// length": an extended length must not fit the shorter encoding.
fn check_minimal(len: u64, shorter_max: u64, length_bytes: usize) -> Result<(), ProtocolError> {
    if len <= shorter_max {
        return Err(ProtocolError::NonMinimalLength {
            length: len,
            length_bytes: length_bytes as u8,
        });
    }
    Ok(())
}

/// Encode one frame, header and payload contiguous in one buffer so that it
/// can leave in a single write. With a `mask` the payload is masked
/// (RFC 6455 §5.3): clients must mask, servers must not (§5.1).
pub fn encode_frame(opcode: Opcode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame_into(&mut out, opcode, fin, payload, mask);
    out
}

/// Like [`encode_frame`], appending to `out`.
pub fn encode_frame_into(
    out: &mut Vec<u8>,
    opcode: Opcode,
    fin: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    encode_frame_with_rsv_into(out, opcode, fin, 0, payload, mask);
}

/// Like [`encode_frame_into`], with the RSV bits an extension gave a meaning
/// (`rsv` as in [`FrameHeader::rsv`]: [`RSV1`] for a compressed message,
/// RFC 7692 §6).
pub fn encode_frame_with_rsv_into(
    out: &mut Vec<u8>,
    opcode: Opcode,
    fin: bool,
    rsv: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    out.reserve(header.encoded_len() + payload.len());
    header.encode(out);

    let payload_start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[payload_start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn parse_all(bytes: &[u8]) -> (FrameHeader, usize) {
        FrameHeader::parse(bytes).unwrap().unwrap()
    }

    #[test]
    fn opcodes_round_trip_and_reserved_ones_are_data() {
        for bits in 0..16u8 {
            assert_eq!(Opcode::from_bits(bits).bits(), bits);
        }
        assert_eq!(Opcode::from_bits(0x3), Opcode::Reserved(0x3));
        assert_eq!(Opcode::from_bits(0xB), Opcode::Reserved(0xB));
        assert!(Opcode::Reserved(0xB).is_control());
        assert!(!Opcode::Reserved(0x3).is_control());
        assert!(Opcode::Ping.is_control() && !Opcode::Text.is_control());
    }

    #[test]
    fn unmasked_hello_rfc_6455_section_5_7() {
        let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let (header, n) = parse_all(&wire);
        assert_eq!(n, 2);
        assert!(header.fin);
        assert_eq!(header.opcode, Opcode::Text);
        assert_eq!(header.mask, None);
        assert_eq!(header.payload_len, 5);
        assert_eq!(encode_frame(Opcode::Text, true, b"Hello", None), wire);
    }

    #[test]
    fn masked_hello_rfc_6455_section_5_7() {
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (header, n) = parse_all(&wire);
        assert_eq!(n, 6);
        assert_eq!(header.mask, Some(HELLO_KEY));
        assert_eq!(
            encode_frame(Opcode::Text, true, b"Hello", Some(HELLO_KEY)),
            wire
        );
    }

    #[test]
    fn fragmented_hello_rfc_6455_section_5_7() {
        let first = encode_frame(Opcode::Text, false, b"Hel", None);
        let second = encode_frame(Opcode::Continuation, true, b"lo", None);
        assert_eq!(first, [0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!(second, [0x80, 0x02, 0x6c, 0x6f]);
        assert!(!parse_all(&first).0.fin);
        assert_eq!(parse_all(&second).0.opcode, Opcode::Continuation);
    }

    #[test]
    fn ping_and_masked_pong_rfc_6455_section_5_7() {
        let ping = encode_frame(Opcode::Ping, true, b"Hello", None);
        assert_eq!(ping, [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let pong = encode_frame(Opcode::Pong, true, b"Hello", Some(HELLO_KEY));
        let expected = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(pong, expected);
    }

    #[test]
    fn sixteen_bit_length_for_256_bytes_rfc_6455_section_5_7() {
        let frame = encode_frame(Opcode::Binary, true, &[0; 256], None);
        assert_eq!(frame[..4], [0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(frame.len(), 4 + 256);
        let (header, n) = parse_all(&frame);
        assert_eq!((header.payload_len, n), (256, 4));
    }

    #[test]
    fn sixty_four_bit_length_for_64_kib_rfc_6455_section_5_7() {
        let frame = encode_frame(Opcode::Binary, true, &[0; 65536], None);
        let expected = [0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
        assert_eq!(frame[..10], expected);
        let (header, n) = parse_all(&frame);
        assert_eq!((header.payload_len, n), (65536, 10));
    }

    #[test]
    fn incomplete_header_needs_more_bytes_at_every_cut() {
        let frame = encode_frame(Opcode::Binary, true, &[7; 70000], Some([1, 2, 3, 4]));
        let header_len = MAX_HEADER_LEN;
        for cut in 0..header_len {
            assert_eq!(FrameHeader::parse(&frame[..cut]), Ok(None), "cut {cut}");
        }
        assert_eq!(parse_all(&frame[..header_len]).1, header_len);
    }

    #[test]
    fn length_with_top_bit_set_is_rejected_rfc_6455_section_5_2() {
        let wire = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            FrameHeader::parse(&wire),
            Err(ProtocolError::LengthTopBitSet)
        );
    }

    #[test]
    fn non_minimal_lengths_are_rejected_rfc_6455_section_5_2() {
        let padded16 = [0x82, 0x7e, 0x00, 0x05];
        let padded64 = [0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
        assert_eq!(
            FrameHeader::parse(&padded16),
            Err(ProtocolError::NonMinimalLength {
                length: 5,
                length_bytes: 2
            })
        );
        assert_eq!(
            FrameHeader::parse(&padded64),
            Err(ProtocolError::NonMinimalLength {
                length: 256,
                length_bytes: 8
            })
        );
    }

    #[test]
    fn length_boundaries_choose_the_minimal_encoding() {
        for (len, header_len) in [(125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let frame = encode_frame(Opcode::Binary, true, &vec![0; len], None);
            let (header, n) = parse_all(&frame);
            assert_eq!((header.payload_len, n), (len as u64, header_len), "{len}");
        }
    }

    #[test]
    fn reserved_bits_are_decoded() {
        let (header, _) = parse_all(&[0xc1, 0x00]);
        assert_eq!(header.rsv, 0b100);
        let (header, _) = parse_all(&[0x91, 0x00]);
        assert_eq!(header.rsv, 0b001);
    }
}
