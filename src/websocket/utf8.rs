//! Incremental UTF-8 validation for text messages (RFC 6455 §8.1).
//!
//! A text message may arrive in many fragments, and a fragment in many reads;
//! a code point may be split anywhere. RFC 6455 §8.1 says an endpoint that sees
//! invalid UTF-8 must fail the connection, and the sooner the better: the
//! validator reports a bad byte as soon as it is fed, not when the message ends.
//!
//! The work is done by `std::str::from_utf8`, which is fast and precise about
//! the end of its input: it reports an error with an `error_len` as soon as a
//! byte cannot continue a valid sequence (overlong forms, surrogates, values
//! above U+10FFFF, stray continuation bytes), and no `error_len` only when the
//! input ends inside a sequence that is valid so far. That incomplete tail (at
//! most 3 bytes) is carried into the next call.

/// The longest UTF-8 encoding of one code point (RFC 3629 §3).
const MAX_UTF8_LEN: usize = 4;

/// The bytes fed so far are not a prefix of any valid UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Validates UTF-8 fed in arbitrary pieces.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// The start of a code point whose remaining bytes have not arrived yet.
    carry: [u8; MAX_UTF8_LEN],
    carry_len: usize,
}

impl Utf8Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Check the next piece. Fails as soon as the bytes so far cannot be the
    /// start of valid UTF-8; a code point cut off at the end is remembered.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), InvalidUtf8> {
        self.validate(bytes, |_| {})
    }

    /// Check the next piece like [`Self::feed`] and append the text it completes
    /// to `out`. Each byte is checked once and copied once, which is what lets a
    /// text message be built as a `String` without checking it all again at the
    /// end (and without `unsafe`).
    pub fn feed_into(&mut self, bytes: &[u8], out: &mut String) -> Result<(), InvalidUtf8> {
        self.validate(bytes, |text| out.push_str(text))
    }

    /// Check that the text ended on a code point boundary.
    pub fn finish(&self) -> Result<(), InvalidUtf8> {
        match self.carry_len {
            0 => Ok(()),
            _ => Err(InvalidUtf8),
        }
    }

    /// The bytes of an unfinished code point held back until its end arrives.
    pub fn pending_len(&self) -> usize {
        self.carry_len
    }

    /// Validate `bytes`, handing each complete stretch of text to `emit` in order.
    fn validate(&mut self, bytes: &[u8], mut emit: impl FnMut(&str)) -> Result<(), InvalidUtf8> {
        let rest = if self.carry_len > 0 {
            self.complete_carry(bytes, &mut emit)?
        } else {
            bytes
        };

        match std::str::from_utf8(rest) {
            Ok(text) => {
                emit(text);
                Ok(())
            }
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                // A valid but unfinished code point at the very end.
                let (valid, tail) = rest.split_at(e.valid_up_to());
                emit(std::str::from_utf8(valid).map_err(|_| InvalidUtf8)?);
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
                Ok(())
            }
        }
    }

    /// Join the carried bytes with the first bytes of `bytes`, check the code
    /// point they form, emit it, and return the part of `bytes` after it.
    fn complete_carry<'a>(
        &mut self,
        bytes: &'a [u8],
        emit: &mut impl FnMut(&str),
    ) -> Result<&'a [u8], InvalidUtf8> {
        let have = self.carry_len;
        let take = (MAX_UTF8_LEN - have).min(bytes.len());
        let mut joined = self.carry;
        joined[have..have + take].copy_from_slice(&bytes[..take]);
        let joined = &joined[..have + take];

        let valid = match std::str::from_utf8(joined) {
            Ok(_) => joined.len(),
            Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
            Err(e) => e.valid_up_to(),
        };

        // Still short of a whole code point: everything fed joins the carry.
        if valid < have {
            self.carry[have..have + take].copy_from_slice(&bytes[..take]);
            self.carry_len = have + take;
            return Ok(&bytes[take..]);
        }

        emit(std::str::from_utf8(&joined[..valid]).map_err(|_| InvalidUtf8)?);
        self.carry_len = 0;
        Ok(&bytes[valid - have..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(pieces: &[&[u8]]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        for piece in pieces {
            v.feed(piece)?;
        }
        v.finish()
    }

    #[test]
    fn accepts_every_split_of_valid_text() {
        let text = "aé€𝄞z κόσμε".as_bytes();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                assert_eq!(
                    feed_all(&[&text[..i], &text[i..j], &text[j..]]),
                    Ok(()),
                    "{i} {j}"
                );
            }
        }
    }

    #[test]
    fn feed_into_rebuilds_the_text_from_every_split() {
        let text = "aé€𝄞z κόσμε";
        let bytes = text.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut v = Utf8Validator::new();
                let mut out = String::new();
                for piece in [&bytes[..i], &bytes[i..j], &bytes[j..]] {
                    v.feed_into(piece, &mut out).unwrap();
                }
                v.finish().unwrap();
                assert_eq!(out, text, "{i} {j}");
            }
        }
    }

    #[test]
    fn accepts_a_code_point_fed_one_byte_at_a_time() {
        let bytes = "𝄞".as_bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(feed_all(&pieces), Ok(()));
    }

    #[test]
    fn rejects_surrogates_overlongs_and_values_above_u10ffff() {
        let bad: [&[u8]; 7] = [
            b"\xed\xa0\x80",     // U+D800, a surrogate
            b"\xc0\xaf",         // overlong '/'
            b"\xe0\x80\xaf",     // overlong '/'
            b"\xf4\x90\x80\x80", // U+110000
            b"\xf5\x80\x80\x80", // lead byte beyond U+10FFFF
            b"\x80",             // stray continuation
            b"\xff",             // never valid
        ];
        for bytes in bad {
            assert_eq!(feed_all(&[bytes]), Err(InvalidUtf8), "{bytes:x?}");
        }
    }

    #[test]
    fn fails_on_the_first_bad_byte_not_at_the_end() {
        // U+110000 starts F4 90: the 0x90 already rules it out.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ok \xf4"), Ok(()));
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));

        // A surrogate is known bad at its second byte, even at a chunk's end.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xed\xa0"), Err(InvalidUtf8));

        // Bad bytes in the middle of a chunk fail that chunk.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"abc\xffdef"), Err(InvalidUtf8));
    }

    #[test]
    fn carried_sequence_broken_by_the_next_piece_fails() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xe2\x82"), Ok(()));
        assert_eq!(v.feed(b"A"), Err(InvalidUtf8));
    }

    #[test]
    fn text_ending_inside_a_code_point_fails_at_finish() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xe2\x82"), Ok(()));
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }
}
