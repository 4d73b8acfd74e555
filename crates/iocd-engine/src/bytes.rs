//! Word-at-a-time helpers for short byte strings: every position of one byte value (the dots
//! of a host, the slashes of a path), in either direction, and up to 8 bytes as one word.

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW_SEVEN: u64 = 0x7F7F_7F7F_7F7F_7F7F;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that equals `needle`, exactly (no carries between
/// bytes, unlike the quicker test for "some byte is zero").
#[inline]
fn matches(word: u64, needle: u8) -> u64 {
    let x = word ^ (ONES * u64::from(needle));
    !(((x & LOW_SEVEN) + LOW_SEVEN) | x) & HIGH
}

/// `bytes[start..start + len]` (`len` 1 to 8) as a little-endian word, zero-extended: one
/// 8-byte load wherever the slice allows (from `start`, or ending at `start + len`), so no call
/// to copy a variable length.
#[inline(always)]
pub(crate) fn load(bytes: &[u8], start: usize, len: usize) -> u64 {
    if let Some(word) = bytes.get(start..).and_then(<[u8]>::first_chunk::<8>) {
        return u64::from_le_bytes(*word) & (u64::MAX >> (64 - 8 * len));
    }
    if let Some(word) = (start + len)
        .checked_sub(8)
        .and_then(|from| bytes.get(from..))
        .and_then(<[u8]>::first_chunk::<8>)
    {
        return u64::from_le_bytes(*word) >> (8 * (8 - len));
    }
    bytes
        .get(start..start + len)
        .unwrap_or_default()
        .iter()
        .rev()
        .fold(0, |word, &b| (word << 8) | u64::from(b))
}

/// Calls `found` with every position of `needle` in `bytes`, first to last.
#[inline]
pub(crate) fn for_each_position(bytes: &[u8], needle: u8, mut found: impl FnMut(usize)) {
    let mut start = 0;
    while start < bytes.len() {
        let len = (bytes.len() - start).min(8);
        let mut hits = matches(load(bytes, start, len), needle);
        // Zero-extension can only fake a match of a zero needle: keep the real bytes.
        if len < 8 {
            hits &= HIGH >> (8 * (8 - len));
        }
        while hits != 0 {
            found(start + hits.trailing_zeros() as usize / 8);
            hits &= hits - 1;
        }
        start += len;
    }
}

/// Every position of `needle` in `bytes`, last to first, found a word at a time.
#[inline]
pub(crate) fn positions_rev(bytes: &[u8], needle: u8) -> PositionsRev<'_> {
    PositionsRev {
        bytes,
        needle,
        start: bytes.len(),
        hits: 0,
    }
}

/// The iterator of [`positions_rev`].
pub(crate) struct PositionsRev<'a> {
    bytes: &'a [u8],
    needle: u8,
    /// Where the word whose `hits` are left starts; the bytes before it are not read yet.
    start: usize,
    /// The high bit of each matching byte of that word not returned yet.
    hits: u64,
}

impl Iterator for PositionsRev<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.hits == 0 {
            if self.start == 0 {
                return None;
            }
            let end = self.start;
            self.start = end.saturating_sub(8);
            let len = end - self.start;
            self.hits = matches(load(self.bytes, self.start, len), self.needle);
            if len < 8 {
                self.hits &= HIGH >> (8 * (8 - len));
            }
        }
        let top = 63 - self.hits.leading_zeros() as usize;
        self.hits &= !(1 << top);
        Some(self.start + top / 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_position_in_both_directions() {
        let cases: [&[u8]; 9] = [
            b"",
            b".",
            b"a",
            b"example.com",
            b"a.b.c.d.e.f.g.h.i.j",
            b"........",
            b".........",
            b"very-long-host-label.example.org",
            b"\0.\x80.\xae.\x2f",
        ];
        for needle in [b'.', b'/', 0, 0xAE] {
            for bytes in cases {
                let want: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == needle).collect();
                let mut forward = Vec::new();
                for_each_position(bytes, needle, |p| forward.push(p));
                assert_eq!(forward, want, "{bytes:?} {needle}");
                let mut backward: Vec<usize> = positions_rev(bytes, needle).collect();
                backward.reverse();
                assert_eq!(backward, want, "{bytes:?} {needle} reversed");
            }
        }
    }
}
