//! File hashes and certificate thumbprints as bytes: decoding from hexadecimal and writing back.

use std::fmt;

/// Decodes exactly `N` bytes written as `2 * N` hexadecimal digits of either case; `None` for
/// any other length or a non-hex character.
pub fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let (pairs, rest) = text.as_bytes().as_chunks::<2>();
    if pairs.len() != N || !rest.is_empty() {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(pairs) {
        *byte = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
    }
    Some(out)
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Writes `bytes` as lower-case hexadecimal.
pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buffer = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (pair, byte) in buffer.as_chunks_mut::<2>().0.iter_mut().zip(chunk) {
            *pair = [
                DIGITS[usize::from(byte >> 4)],
                DIGITS[usize::from(byte & 0xF)],
            ];
        }
        // Only ASCII digits were written.
        let text = std::str::from_utf8(&buffer[..chunk.len() * 2]).map_err(|_| fmt::Error)?;
        f.write_str(text)?;
    }
    Ok(())
}

/// `bytes` as lower-case hexadecimal.
pub fn hex_string(bytes: &[u8]) -> String {
    struct Hex<'a>(&'a [u8]);
    impl fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_hex(f, self.0)
        }
    }
    Hex(bytes).to_string()
}

/// A certificate thumbprint: SHA-1, as MDE takes, or SHA-256 (an iocd extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Thumbprint {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

impl Thumbprint {
    /// Decodes 40 or 64 hexadecimal digits; with `separators`, `:` and spaces between them
    /// are ignored (as certificate tools print thumbprints).
    pub fn parse(text: &str, separators: bool) -> Option<Thumbprint> {
        let cleaned;
        let digits = if separators && text.contains([':', ' ']) {
            cleaned = text.replace([':', ' '], "");
            cleaned.as_str()
        } else {
            text
        };
        match digits.len() {
            40 => decode_hex(digits).map(Thumbprint::Sha1),
            64 => decode_hex(digits).map(Thumbprint::Sha256),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Thumbprint::Sha1(bytes) => bytes,
            Thumbprint::Sha256(bytes) => bytes,
        }
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, self.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decodes_exact_lengths_of_either_case_only() {
        assert_eq!(decode_hex::<2>("aB0f"), Some([0xAB, 0x0F]));
        for bad in ["aB0", "aB0f0", "aB0g", "", "éé"] {
            assert_eq!(decode_hex::<2>(bad), None, "{bad:?}");
        }
        assert_eq!(hex_string(&[0xAB, 0x0F, 0x00]), "ab0f00");
        let long: Vec<u8> = (0..=255).collect();
        let text = hex_string(&long);
        assert_eq!(text.len(), 512);
        assert_eq!(&text[..6], "000102");
        assert_eq!(&text[506..], "fdfeff");
    }

    #[test]
    fn thumbprints_take_sha1_or_sha256_with_optional_separators() {
        let sha1 = "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09";
        let parsed = Thumbprint::parse(sha1, true).expect("separated SHA-1");
        assert_eq!(
            parsed.to_string(),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(Thumbprint::parse(sha1, false), None);
        assert!(matches!(
            Thumbprint::parse(&"ab".repeat(32), false),
            Some(Thumbprint::Sha256(_))
        ));
        assert_eq!(Thumbprint::parse(&"ab".repeat(16), true), None);
    }
}
