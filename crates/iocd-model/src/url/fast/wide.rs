//! The fast path's two scans sixteen bytes at a time, for builds whose target has SSSE3
//! (`.cargo/config.toml` asks for it on x86-64; decision 0013): each byte's class comes from
//! two 16-entry tables, one looked up by its low four bits and one by its high four, AND-ed
//! (`pshufb` does sixteen lookups in one instruction). The tables encode the same classes as
//! `BYTE_CLASS`; a test compares them for every byte. Fewer than sixteen bytes left at the
//! end are scanned one by one, as without SSSE3.

use super::{HostBytes, class};
use safe_arch::{
    bitand_m128i, bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, m128i,
    move_mask_i8_m128i, set_splat_i8_m128i, shr_imm_u16_m128i, shuffle_av_i8z_all_m128i,
};

/// Tail bits: bits 0-4 mark the bytes that are not simple (0: controls and non-ASCII; 1:
/// space `"` `%` `'`; 2: `<` `>` `\` `^`; 3: `@` and backtick; 4: `{` `|` `}` and DEL), 5
/// `?`, 6 `#`, 7 `.`.
const TAIL_NOT_SIMPLE: u8 = 0x1F;
const TAIL_QUERY: u8 = 0x20;
const TAIL_FRAGMENT: u8 = 0x40;
const TAIL_DOT: u8 = 0x80;
const TAIL_BY_LOW: [u8; 16] = [
    0x0B, 0x01, 0x03, 0x41, 0x01, 0x03, 0x01, 0x03, // 0-7
    0x01, 0x01, 0x01, 0x11, 0x15, 0x11, 0x85, 0x31, // 8-F
];
const TAIL_BY_HIGH: [u8; 16] = [
    0x01, 0x01, 0xC2, 0x24, 0x08, 0x04, 0x08, 0x10, // 0-7
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, // 8-F
];

/// Host bits: 0 `A`-`O` `a`-`o`, 1 `P`-`Z` `p`-`z`, 2 digits, 3 `-`, 4 `.`, 5 `A`-`O`,
/// 6 `P`-`Z`.
const HOST: u8 = 0x1F;
const HOST_HYPHEN: u8 = 0x08;
const HOST_DOT: u8 = 0x10;
const HOST_UPPER: u8 = 0x60;
const HOST_BY_LOW: [u8; 16] = [
    0x46, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67, // 0-7
    0x67, 0x67, 0x63, 0x21, 0x21, 0x29, 0x31, 0x21, // 8-F
];
const HOST_BY_HIGH: [u8; 16] = [
    0x00, 0x00, 0x18, 0x04, 0x21, 0x42, 0x01, 0x02, // 0-7
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 8-F
];

/// The class bits of each of sixteen bytes, by the two tables.
#[inline(always)]
fn classes(bytes: &[u8; 16], by_low: [u8; 16], by_high: [u8; 16]) -> m128i {
    let bytes = load_unaligned_m128i(bytes);
    let nibble = set_splat_i8_m128i(0x0F);
    let low = bitand_m128i(bytes, nibble);
    let high = bitand_m128i(shr_imm_u16_m128i::<4>(bytes), nibble);
    bitand_m128i(
        shuffle_av_i8z_all_m128i(m128i::from(by_low), low),
        shuffle_av_i8z_all_m128i(m128i::from(by_high), high),
    )
}

/// A bit per byte (bit `i` for byte `i`) whose class has any of `bits`.
#[inline(always)]
fn with_any(classes: m128i, bits: u8) -> u32 {
    let zero = set_splat_i8_m128i(0);
    let none = cmp_eq_mask_i8_m128i(bitand_m128i(classes, set_splat_i8_m128i(bits as i8)), zero);
    !(move_mask_i8_m128i(none) as u32) & 0xFFFF
}

/// The sixteen bytes of `bytes` from `at`, if there are as many.
#[inline(always)]
fn chunk(bytes: &[u8], at: usize) -> Option<&[u8; 16]> {
    bytes.get(at..)?.first_chunk::<16>()
}

/// `class` if `on`, else 0.
#[inline(always)]
fn bit(on: bool, class: u8) -> u8 {
    if on { class } else { 0 }
}

/// Scans host bytes from `start` sixteen at a time while sixteen remain: what they hold
/// (see [`HostBytes`]), and the class bits of the last one that matter to pairs (`DOT`
/// or `HYPHEN`; `DOT` before the first byte), for the one-by-one scan to go on from.
#[inline]
pub(super) fn scan_host(bytes: &[u8], start: usize) -> (HostBytes, u8) {
    let mut so_far = HostBytes::at(start);
    let (mut after_dot, mut after_hyphen) = (true, false);
    let (mut dot_pair, mut hyphen_pair, mut upper) = (false, false, false);
    while let Some(chunk) = chunk(bytes, so_far.end) {
        let classes = classes(chunk, HOST_BY_LOW, HOST_BY_HIGH);
        // Host bytes up to the first other one.
        let len = (!with_any(classes, HOST) | 0x1_0000).trailing_zeros();
        let taken = (1u32 << len) - 1;
        let dots = with_any(classes, HOST_DOT) & taken;
        let hyphens = with_any(classes, HOST_HYPHEN) & taken;
        dot_pair |= dots & (dots << 1 | u32::from(after_dot)) != 0;
        hyphen_pair |= hyphens & (hyphens << 1 | u32::from(after_hyphen)) != 0;
        upper |= with_any(classes, HOST_UPPER) & taken != 0;
        if len > 0 {
            after_dot = dots >> (len - 1) & 1 != 0;
            after_hyphen = hyphens >> (len - 1) & 1 != 0;
        }
        so_far.end += len as usize;
        if len < 16 {
            break;
        }
    }
    so_far.pairs = bit(dot_pair, class::DOT) | bit(hyphen_pair, class::HYPHEN);
    so_far.classes = bit(upper, class::UPPER);
    let previous = bit(after_dot, class::DOT) | bit(after_hyphen, class::HYPHEN);
    (so_far, previous)
}

/// [`super::tail_classes`] sixteen bytes at a time (the last sixteen overlapping the
/// ones before), with `QUERY`, `FRAGMENT` and `DOT` the classes it reports as seen;
/// `None` for a tail shorter than sixteen bytes.
#[inline]
pub(super) fn scan_tail(tail: &[u8]) -> Option<(u8, u8)> {
    let last = chunk(tail, tail.len().checked_sub(16)?)?;
    let mut all = classes(last, TAIL_BY_LOW, TAIL_BY_HIGH);
    for chunk in tail.chunks_exact(16) {
        if let Some(chunk) = chunk.first_chunk::<16>() {
            all = bitor_m128i(all, classes(chunk, TAIL_BY_LOW, TAIL_BY_HIGH));
        }
    }
    let simple = bit(with_any(all, TAIL_NOT_SIMPLE) == 0, class::SIMPLE);
    let seen = bit(with_any(all, TAIL_QUERY) != 0, class::QUERY)
        | bit(with_any(all, TAIL_FRAGMENT) != 0, class::FRAGMENT)
        | bit(with_any(all, TAIL_DOT) != 0, class::DOT);
    Some((simple, seen))
}

#[cfg(test)]
mod tests {
    use super::super::{BYTE_CLASS, scan_host_one_by_one, tail_classes, tail_classes_one_by_one};
    use super::*;

    /// The class of one byte by the tables, as the scans compute it.
    fn class_by_tables(byte: u8, by_low: [u8; 16], by_high: [u8; 16]) -> u8 {
        let classes: [u8; 16] = classes(&[byte; 16], by_low, by_high).into();
        classes[0]
    }

    #[test]
    fn tables_agree_with_the_byte_classes_for_every_byte() {
        for byte in 0..=255u8 {
            let expected = BYTE_CLASS[usize::from(byte)];
            let tail = class_by_tables(byte, TAIL_BY_LOW, TAIL_BY_HIGH);
            let host = class_by_tables(byte, HOST_BY_LOW, HOST_BY_HIGH);
            let cases = [
                (
                    tail & TAIL_NOT_SIMPLE == 0,
                    expected & class::SIMPLE != 0,
                    "simple",
                ),
                (tail & TAIL_QUERY != 0, byte == b'?', "query"),
                (tail & TAIL_FRAGMENT != 0, byte == b'#', "fragment"),
                (tail & TAIL_DOT != 0, byte == b'.', "tail dot"),
                (host & HOST != 0, expected & class::HOST != 0, "host"),
                (host & HOST_DOT != 0, byte == b'.', "host dot"),
                (host & HOST_HYPHEN != 0, byte == b'-', "hyphen"),
                (
                    host & HOST_UPPER != 0,
                    expected & class::UPPER != 0,
                    "upper",
                ),
            ];
            for (got, want, what) in cases {
                assert_eq!(got, want, "{what} for byte {byte:#04x}");
            }
        }
    }

    /// Sixteen at a time and one by one, the scans find the same for hosts and tails
    /// of every length up to 70, drawn from bytes every class and pair test cares about.
    #[test]
    fn wide_scans_agree_with_scanning_one_by_one() {
        let alphabet = b"aZz09-.-..//?#%@`{|}~ \\^<>\"'\x7f\xc3\x00_=&\t";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let len = (next() % 71) as usize;
            // Mostly host-like bytes, so hosts run long; sometimes anything.
            let text: Vec<u8> = (0..len)
                .map(|_| match (next() % 10, round % 3) {
                    (0..=6, 0 | 1) => b"abcxyzABQZ0189-."[(next() % 16) as usize],
                    _ => alphabet[(next() % alphabet.len() as u64) as usize],
                })
                .collect();
            let start = (next() % 4) as usize;
            let start = start.min(text.len());
            let wide = super::super::scan_host(&text, start);
            let one_by_one = scan_host_one_by_one(&text, HostBytes::at(start), class::DOT);
            let text_shown = String::from_utf8_lossy(&text);
            assert_eq!(wide.end, one_by_one.end, "host end in {text_shown:?}");
            let pair_bits = class::DOT | class::HYPHEN;
            assert_eq!(
                wide.pairs & pair_bits,
                one_by_one.pairs & pair_bits,
                "pairs in {text_shown:?}"
            );
            assert_eq!(
                wide.classes & class::UPPER,
                one_by_one.classes & class::UPPER,
                "upper in {text_shown:?}"
            );
            let (simple, seen) = tail_classes(&text);
            let (simple_one, seen_one) = tail_classes_one_by_one(&text);
            let seen_bits = class::QUERY | class::FRAGMENT | class::DOT;
            assert_eq!(simple, simple_one, "simple in {text_shown:?}");
            assert_eq!(
                seen & seen_bits,
                seen_one & seen_bits,
                "seen in {text_shown:?}"
            );
        }
    }
}
