//! The 64-bit fingerprints the key indexes sort and filter keys by, in two directions: forward
//! (word by word from the first byte), so the fingerprints of every prefix of one key (a URL
//! and its parent paths) come out of one pass, and backward (from the last byte), so those of
//! every suffix (a host and its parent domains) do.
//!
//! A fingerprint absorbs the key's whole 8-byte words with a multiply-rotate, then the 1 to 7
//! bytes left over as one zero-extended word, then the length, and ends with MurmurHash3's
//! 64-bit finaliser, which spreads every input bit over the bits the indexes use. The key's
//! prefixes (or suffixes) share the words they have in common, so only the left-over bytes
//! and the end differ from one to the next.

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED: u64 = 0x243F_6A88_85A3_08D3;

#[inline(always)]
fn absorb(state: u64, word: u64) -> u64 {
    (state ^ word).wrapping_mul(MULTIPLIER).rotate_left(31)
}

/// The fingerprint of a key of `len` bytes whose whole words left `state` and whose left-over
/// bytes, if `rest > 0`, form `partial`.
#[inline(always)]
fn finish(state: u64, partial: u64, rest: usize, len: usize) -> u64 {
    let mut hash = match rest {
        0 => state,
        _ => absorb(state, partial),
    };
    hash ^= len as u64;
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    hash ^ (hash >> 33)
}

/// The `len` (0 to 7) bytes of `buffer` from `at` as a little-endian word, zero-extended.
#[inline(always)]
fn bytes_word(buffer: &[u8], at: usize, len: usize) -> u64 {
    match len {
        0 => 0,
        _ => crate::bytes::load(buffer, at, len),
    }
}

/// The 8-byte word of `buffer` at `at`, which the caller keeps in bounds (0 past the end).
#[inline(always)]
fn word_at(buffer: &[u8], at: usize) -> u64 {
    buffer
        .get(at..)
        .and_then(<[u8]>::first_chunk::<8>)
        .map_or(0, |word| u64::from_le_bytes(*word))
}

/// Fingerprints of prefixes of one key, asked for in increasing length.
#[derive(Debug, Clone)]
pub(crate) struct Prefixes<'a> {
    key: &'a [u8],
    state: u64,
    /// Bytes absorbed as whole words.
    absorbed: usize,
}

impl<'a> Prefixes<'a> {
    pub(crate) fn new(key: &'a [u8]) -> Prefixes<'a> {
        Prefixes {
            key,
            state: SEED,
            absorbed: 0,
        }
    }

    /// The [`fingerprint`] of the key's first `len` bytes (`len` at most the key's length and
    /// no less than the last one asked for).
    #[inline(always)]
    pub(crate) fn of(&mut self, len: usize) -> u64 {
        let len = len.min(self.key.len());
        // Asked out of order: start again rather than answer wrong.
        if self.absorbed > len {
            (self.state, self.absorbed) = (SEED, 0);
        }
        while self.absorbed + 8 <= len {
            self.state = absorb(self.state, word_at(self.key, self.absorbed));
            self.absorbed += 8;
        }
        let rest = len - self.absorbed;
        let partial = bytes_word(self.key, self.absorbed, rest);
        finish(self.state, partial, rest, len)
    }
}

/// Fingerprints of suffixes of one key, asked for in decreasing start position (increasing
/// length).
pub(crate) struct Suffixes<'a> {
    key: &'a [u8],
    state: u64,
    /// Bytes absorbed as whole words, from the end.
    absorbed: usize,
}

impl<'a> Suffixes<'a> {
    pub(crate) fn new(key: &'a [u8]) -> Suffixes<'a> {
        Suffixes {
            key,
            state: SEED,
            absorbed: 0,
        }
    }

    /// The [`suffix_fingerprint`] of the key from byte `start` on (`start` no later than the
    /// last one asked for).
    #[inline(always)]
    pub(crate) fn of(&mut self, start: usize) -> u64 {
        let len = self.key.len() - start.min(self.key.len());
        if self.absorbed > len {
            (self.state, self.absorbed) = (SEED, 0);
        }
        while self.absorbed + 8 <= len {
            let at = self.key.len() - self.absorbed - 8;
            self.state = absorb(self.state, word_at(self.key, at));
            self.absorbed += 8;
        }
        let rest = len - self.absorbed;
        let partial = bytes_word(self.key, self.key.len() - len, rest);
        finish(self.state, partial, rest, len)
    }
}

/// Which way an index fingerprints its keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Direction {
    /// [`fingerprint`], for keys looked up with their prefixes.
    #[default]
    Forward,
    /// [`suffix_fingerprint`], for keys looked up with their suffixes.
    Backward,
}

impl Direction {
    pub(crate) fn fingerprint(self, key: &[u8]) -> u64 {
        match self {
            Direction::Forward => fingerprint(key),
            Direction::Backward => suffix_fingerprint(key),
        }
    }
}

/// The forward fingerprint of `key`.
#[inline]
pub(crate) fn fingerprint(key: &[u8]) -> u64 {
    Prefixes::new(key).of(key.len())
}

/// The backward fingerprint of `key`: its words from the last one to the first.
#[inline]
pub(crate) fn suffix_fingerprint(key: &[u8]) -> u64 {
    Suffixes::new(key).of(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 8] = [
        "",
        "a",
        "com",
        "example.com",
        "a.b.example.co.uk",
        "example.com/a/b/c?x=1",
        "www.very-long-host-name.example.org/one/two/three/four",
        "1234567",
    ];

    #[test]
    fn prefix_and_suffix_fingerprints_equal_the_whole_key_ones() {
        for key in KEYS {
            let bytes = key.as_bytes();
            let mut prefixes = Prefixes::new(bytes);
            for len in 0..=bytes.len() {
                assert_eq!(
                    prefixes.of(len),
                    fingerprint(&bytes[..len]),
                    "{key} [..{len}]"
                );
            }
            let mut suffixes = Suffixes::new(bytes);
            for start in (0..=bytes.len()).rev() {
                let want = suffix_fingerprint(&bytes[start..]);
                assert_eq!(suffixes.of(start), want, "{key} [{start}..]");
            }
            // Out of order still answers right.
            assert_eq!(prefixes.of(0), fingerprint(b""));
            assert_eq!(suffixes.of(bytes.len()), suffix_fingerprint(b""));
        }
    }

    #[test]
    fn fingerprints_differ_for_keys_that_differ() {
        // Trailing zero bytes, lengths around a word, and reordered words.
        let keys: [&[u8]; 9] = [
            b"",
            b"\0",
            b"\0\0",
            b"abcdefg",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefghijklmnop",
            b"ijklmnopabcdefgh",
            b"abcdefghijklmnoq",
        ];
        for hash in [fingerprint, suffix_fingerprint] {
            let mut seen: Vec<u64> = keys.iter().map(|k| hash(k)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), keys.len());
        }
    }

    #[test]
    fn short_buffers_read_only_their_bytes() {
        for len in 0..8 {
            let buffer: Vec<u8> = (1..=len as u8).collect();
            let want = buffer
                .iter()
                .rev()
                .fold(0u64, |word, &b| (word << 8) | u64::from(b));
            assert_eq!(bytes_word(&buffer, 0, len), want);
        }
        // From the middle of a long buffer, either way of loading.
        let buffer = b"0123456789";
        assert_eq!(
            bytes_word(buffer, 1, 2),
            u64::from_le_bytes(*b"12\0\0\0\0\0\0")
        );
        assert_eq!(
            bytes_word(buffer, 7, 3),
            u64::from_le_bytes(*b"789\0\0\0\0\0")
        );
    }
}
