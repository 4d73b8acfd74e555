//! The presence filter in front of every index: a Bloom filter of cache lines, where related
//! keys can share a line.

use iocd_prefetch::{prefetch_at, vec_for_random_access};

/// A Bloom filter with 16 bits per key, two of them set by each key in one cache line: small
/// enough to mostly stay in the processor's cache, it answers most lookups of absent keys
/// without touching the slots (a false-positive rate near 1.5 % just costs the normal lookup).
///
/// A filter hash picks the line with its middle bits and the two bits with its lowest and
/// highest nine. Keys placed with [`in_block`] under one block share one line: a lookup of
/// many related keys (every path prefix of one URL) reads one line of the filter, not one per
/// key.
#[derive(Debug, Default, Clone)]
pub(crate) struct PresenceFilter {
    lines: Vec<FilterLine>,
}

/// One cache line of filter bits.
#[derive(Debug, Default, Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct FilterLine([u64; 8]);

impl FilterLine {
    /// The two bits a filter hash sets in its line, as (word, mask) pairs: its lowest and
    /// highest nine bits.
    #[inline]
    fn bits(hash: u64) -> [(usize, u64); 2] {
        let bit = |position: u64| ((position / 64) as usize, 1u64 << (position % 64));
        [bit(hash & BIT_IN_LINE), bit(hash >> 55)]
    }

    /// Whether this line, the one of `hash`'s block, has both of `hash`'s bits set: the
    /// filter's answer for a key placed with [`in_block`] under that block (only the bits
    /// outside the line field matter, so the key's own fingerprint will do).
    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let [(word_a, mask_a), (word_b, mask_b)] = FilterLine::bits(hash);
        self.0[word_a] & mask_a != 0 && self.0[word_b] & mask_b != 0
    }
}

/// Bits in one [`FilterLine`], and the mask of a bit's position in it.
pub(super) const LINE_BITS: u64 = 512;
const BIT_IN_LINE: u64 = LINE_BITS - 1;

/// The bits of a filter hash that pick its line.
const LINE_FIELD: u64 = ((1 << 55) - 1) & !BIT_IN_LINE;

/// The filter hash of a key whose fingerprint is `key` that puts its bits in the filter line
/// chosen by `block` (the fingerprint of something keys have in common, such as a URL's host):
/// the line from `block`, the bits within it from `key`.
#[inline]
pub(crate) fn in_block(block: u64, key: u64) -> u64 {
    (block & LINE_FIELD) | (key & !LINE_FIELD)
}

impl PresenceFilter {
    pub(crate) fn new(keys: usize) -> PresenceFilter {
        let bits = (keys.max(1) as u64 * 16).next_power_of_two().max(LINE_BITS);
        let line_count = (bits / LINE_BITS) as usize;
        let mut lines = vec_for_random_access(line_count);
        lines.resize(line_count, FilterLine::default());
        PresenceFilter { lines }
    }

    /// The line of `hash`, and its two bits as (word, mask) pairs.
    #[inline]
    fn place(&self, hash: u64) -> (usize, [(usize, u64); 2]) {
        let line = ((hash & LINE_FIELD) >> 9) as usize & self.lines.len().wrapping_sub(1);
        (line, FilterLine::bits(hash))
    }

    /// The line keys placed under the block whose fingerprint is `block` keep their bits in
    /// (`None` for an empty filter).
    #[inline]
    pub(crate) fn line(&self, block: u64) -> Option<&FilterLine> {
        self.lines.get(self.place(block).0)
    }

    pub(crate) fn insert(&mut self, hash: u64) {
        let (line, bits) = self.place(hash);
        for (word, mask) in bits {
            self.lines[line].0[word] |= mask;
        }
    }

    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        self.line(hash).is_some_and(|line| line.may_contain(hash))
    }

    /// Asks for the line [`PresenceFilter::may_contain`] will read for `hash`.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        prefetch_at(&self.lines, self.place(hash).0);
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.lines.capacity() * std::mem::size_of::<FilterLine>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::fingerprint;

    #[test]
    fn filter_false_positives_are_rare() {
        let mut filter = PresenceFilter::new(100_000);
        for n in 0..100_000u64 {
            filter.insert(fingerprint(&n.to_le_bytes()));
        }
        for n in 0..100_000u64 {
            assert!(filter.may_contain(fingerprint(&n.to_le_bytes())));
        }
        let false_positives = (100_000..200_000u64)
            .filter(|n| filter.may_contain(fingerprint(&n.to_le_bytes())))
            .count();
        // About 1.5 % with two bits of sixteen per key (at most 16; the power of two rounds up).
        assert!(false_positives < 2_500, "{false_positives} of 100000");
    }

    #[test]
    fn keys_of_one_block_share_a_filter_line() {
        let filter = PresenceFilter::new(100_000);
        let line_of = |key: &str| {
            let hash = in_block(
                fingerprint(key.split('/').next().unwrap_or(key).as_bytes()),
                fingerprint(key.as_bytes()),
            );
            filter.place(hash).0
        };
        let line = line_of("example.com/a");
        for key in ["example.com/a/b", "example.com/c?d", "example.com"] {
            assert_eq!(line_of(key), line, "{key}");
        }
        // Other blocks spread over the lines.
        let others: std::collections::HashSet<usize> =
            (0..100).map(|i| line_of(&format!("host-{i}/a"))).collect();
        assert!(others.len() > 90, "{} lines for 100 blocks", others.len());
    }
}
