//! Payload masking (RFC 6455 §5.3).
//!
//! Byte `i` of a masked payload is XORed with byte `i % 4` of the 32-bit
//! masking key. Masking and unmasking are the same operation. A payload may be
//! processed in pieces as it arrives, so [`apply_mask`] takes the position of
//! the first byte within the payload and lines the key up with it.

/// Bytes in a masking key (RFC 6455 §5.2: Masking-key, 0 or 4 bytes).
pub const MASK_KEY_LEN: usize = 4;

/// Bytes XORed per step of the fast path: two whole keys in one `u64`.
const WORD_LEN: usize = 8;

/// XOR `buf` with `key`, where `buf[0]` is byte number `offset` of the payload.
///
/// Calling this on consecutive pieces of a payload, each with the offset at
/// which it starts, gives the same result as one call on the whole payload.
pub fn apply_mask(buf: &mut [u8], key: [u8; MASK_KEY_LEN], offset: usize) {
    // Rotate the key so that its first byte is the one for buf[0].
    let mut key = key;
    key.rotate_left(offset % MASK_KEY_LEN);

    // Eight bytes at a time: a word is two repetitions of the key, so every
    // word starts at the same key phase as buf[0].
    let [k0, k1, k2, k3] = key;
    let word_key = u64::from_ne_bytes([k0, k1, k2, k3, k0, k1, k2, k3]);
    let (words, tail) = buf.as_chunks_mut::<WORD_LEN>();
    for word in words {
        *word = (u64::from_ne_bytes(*word) ^ word_key).to_ne_bytes();
    }

    // The tail is shorter than a word and starts at the same key phase.
    for (byte, k) in tail.iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-by-byte masking straight from the definition in RFC 6455 §5.3.
    fn mask_by_definition(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= key[(offset + i) % MASK_KEY_LEN];
        }
    }

    #[test]
    fn masks_the_hello_example_of_rfc_6455_section_5_7() {
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn matches_the_definition_for_every_length_and_offset() {
        let key = [0x01, 0x20, 0x0c, 0xf0];
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 0..40 {
            for offset in 0..8 {
                let mut fast = data[..len].to_vec();
                let mut slow = fast.clone();
                apply_mask(&mut fast, key, offset);
                mask_by_definition(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);

        let mut pieces = data.clone();
        let mut start = 0;
        for piece_len in [1, 2, 3, 9, 17, 5, 63] {
            let end = (start + piece_len).min(pieces.len());
            apply_mask(&mut pieces[start..end], key, start);
            start = end;
        }
        assert_eq!(start, pieces.len());
        assert_eq!(pieces, whole);
    }

    #[test]
    fn masking_twice_restores_the_payload() {
        let mut data = b"round trip through the mask".to_vec();
        apply_mask(&mut data, [9, 8, 7, 6], 3);
        apply_mask(&mut data, [9, 8, 7, 6], 3);
        assert_eq!(data, b"round trip through the mask");
    }
}
