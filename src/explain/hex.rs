//! Hex text as Wireshark and people copy it: `81 85 37 fa`, `81:85:37:fa`,
//! `0x81 0x85`, or one unbroken run `818537fa`.

/// Parse hex digits into bytes. Spaces, tabs, newlines, colons, dashes and a
/// `0x` prefix before each group are allowed between bytes.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut digits = Vec::with_capacity(text.len());
    for group in text.split(|c: char| c.is_whitespace() || c == ':' || c == '-' || c == ',') {
        let group = group
            .strip_prefix("0x")
            .or_else(|| group.strip_prefix("0X"))
            .unwrap_or(group);
        if group.len() % 2 != 0 {
            return Err(format!("hex group {group:?} has an odd number of digits"));
        }
        digits.extend(group.chars());
    }

    let mut bytes = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks(2) {
        let [high, low] = pair else {
            return Err("odd number of hex digits".into());
        };
        let (Some(high), Some(low)) = (high.to_digit(16), low.to_digit(16)) else {
            return Err(format!("{high}{low} is not a hex byte"));
        };
        bytes.push((high * 16 + low) as u8);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forms_wireshark_copies() {
        let expected = vec![0x81, 0x85, 0x37, 0xfa];
        for text in [
            "81 85 37 fa",
            "81:85:37:fa",
            "818537FA",
            "0x81 0x85 0x37 0xfa\n",
            "",
        ] {
            let want = if text.is_empty() {
                vec![]
            } else {
                expected.clone()
            };
            assert_eq!(parse_hex(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn rejects_odd_digits_and_non_hex() {
        assert!(parse_hex("81 8").is_err());
        assert!(parse_hex("zz").unwrap_err().contains("not a hex byte"));
    }
}
