//! Input generation: seeds changed by byte-, token- and structure-level mutations, the way
//! coverage-guided fuzzers mutate, but without the coverage feedback (which needs nightly).
//!
//! Each target brings valid seeds (so mutations start from input that reaches deep into the
//! parser) and a dictionary of the tokens its grammar cares about (so a mutation can produce
//! an operator, a quote or a field name, not only random bytes).

use crate::rng::Rng;

/// Characters whose UTF-8 encoding is more than one byte, and ones that look like white space
/// or separators without being ASCII: where code that slices text at byte offsets breaks.
const WIDE_CHARACTERS: &[&str] = &[
    "é", "€", "𝔘", "\u{feff}", "\u{200b}", "\u{3000}", "ß", "İ", "Ⅻ", "\u{0301}", "ｆ", "．",
    "\u{2028}", "٣", "\u{fffd}",
];

/// Bytes that end, quote or escape things in most text formats.
const INTERESTING_BYTES: &[u8] = b"\0\t\n\r \"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\x7f\xc3\xe2\xf0\xff";

/// Lengths and numbers at the edges of common limits.
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "1e309",
    "-0",
    "0x10",
    "00000000000000000000001",
    "1099511627776",
    "1099511627807",
];

/// Makes inputs for one target from its seeds and dictionary.
#[derive(Debug)]
pub struct Mutator {
    seeds: Vec<Vec<u8>>,
    dictionary: Vec<Vec<u8>>,
    /// Recent outputs, mutated again to reach inputs several mutations from any seed.
    pool: Vec<Vec<u8>>,
    max_len: usize,
    /// The target's own generator of well-formed inputs, if it has one.
    grammar: Option<fn(&mut Rng) -> Vec<u8>>,
}

impl Mutator {
    pub fn new(
        seeds: &[&[u8]],
        dictionary: &[&str],
        max_len: usize,
        grammar: Option<fn(&mut Rng) -> Vec<u8>>,
    ) -> Self {
        let mut seeds: Vec<Vec<u8>> = seeds.iter().map(|s| s.to_vec()).collect();
        if seeds.is_empty() {
            seeds.push(Vec::new());
        }
        let mut dictionary: Vec<Vec<u8>> =
            dictionary.iter().map(|t| t.as_bytes().to_vec()).collect();
        dictionary.extend(WIDE_CHARACTERS.iter().map(|t| t.as_bytes().to_vec()));
        dictionary.extend(INTERESTING_NUMBERS.iter().map(|t| t.as_bytes().to_vec()));
        Mutator {
            seeds,
            dictionary,
            pool: Vec::new(),
            max_len: max_len.max(1),
            grammar,
        }
    }

    /// The target's seeds, which every run tries first, unchanged.
    pub fn seeds(&self) -> &[Vec<u8>] {
        &self.seeds
    }

    /// The next input.
    pub fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        if let Some(grammar) = self.grammar
            && rng.one_in(2)
        {
            // Well-formed, sometimes bent once.
            let mut input = grammar(rng);
            if rng.one_in(3) {
                self.mutate_once(&mut input, rng);
            }
            input.truncate(self.max_len);
            return input;
        }
        let mut input = match rng.below(8) {
            0 => self.token_string(rng),
            1..=3 if !self.pool.is_empty() => rng.pick(self.pool.as_slice()).clone(),
            _ => rng.pick(self.seeds.as_slice()).clone(),
        };
        // Mostly one or two changes, sometimes many.
        let rounds = if rng.one_in(4) {
            1 + rng.below(8)
        } else {
            1 + rng.below(2)
        };
        for _ in 0..rounds {
            self.mutate_once(&mut input, rng);
        }
        input.truncate(self.max_len);
        if self.pool.len() < 256 {
            self.pool.push(input.clone());
        } else {
            let slot = rng.below(self.pool.len());
            self.pool[slot] = input.clone();
        }
        input
    }

    /// A string of dictionary tokens, with spaces between some.
    fn token_string(&self, rng: &mut Rng) -> Vec<u8> {
        let mut input = Vec::new();
        for _ in 0..1 + rng.below(12) {
            let token: &Vec<u8> = rng.pick(self.dictionary.as_slice());
            input.extend_from_slice(token);
            if rng.one_in(2) {
                input.push(b' ');
            }
        }
        input
    }

    fn mutate_once(&self, input: &mut Vec<u8>, rng: &mut Rng) {
        let len = input.len();
        let at = rng.below(len + 1);
        match rng.below(11) {
            // Flip a bit.
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            // Replace a byte with an interesting one.
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = *rng.pick(INTERESTING_BYTES);
            }
            // Insert a dictionary token.
            2 | 3 => {
                let token = rng.pick(self.dictionary.as_slice());
                input.splice(at..at, token.iter().copied());
            }
            // Replace a span with a dictionary token.
            4 if len > 0 => {
                let end = (at + 1 + rng.below(8)).min(len);
                let start = at.min(end.saturating_sub(1));
                let token = rng.pick(self.dictionary.as_slice());
                input.splice(start..end, token.iter().copied());
            }
            // Delete a span.
            5 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                let start = at.min(end);
                input.drain(start..end);
            }
            // Repeat a span: long runs, deep nesting, many terms.
            6 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(24)).min(len);
                let span = input[start..end].to_vec();
                let most = if rng.one_in(8) { 400 } else { 8 };
                let times = 1 + rng.below(most);
                let mut repeated = Vec::with_capacity(span.len() * times);
                for _ in 0..times {
                    repeated.extend_from_slice(&span);
                }
                input.splice(end..end, repeated);
            }
            // Splice in part of a seed.
            7 => {
                let other = rng.pick(self.seeds.as_slice());
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(other.len() - start)).min(other.len());
                    input.splice(at..at, other[start..end].iter().copied());
                }
            }
            // Insert a random byte.
            8 => input.insert(at, rng.next_u64() as u8),
            // Swap two bytes.
            9 if len > 1 => {
                let (i, j) = (rng.below(len), rng.below(len));
                input.swap(i, j);
            }
            // Change the case of a letter.
            _ if len > 0 => {
                let i = rng.below(len);
                input[i] = if input[i].is_ascii_lowercase() {
                    input[i].to_ascii_uppercase()
                } else {
                    input[i].to_ascii_lowercase()
                };
            }
            _ => input.insert(at, *rng.pick(INTERESTING_BYTES)),
        }
        if input.len() > self.max_len {
            input.truncate(self.max_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_vary_stay_bounded_and_repeat_with_the_seed() {
        let make = |seed| {
            let mut mutator = Mutator::new(&[b"indicatorValue eq 'x'"], &["and", "or"], 64, None);
            let mut rng = Rng::new(seed);
            (0..2000)
                .map(|_| mutator.generate(&mut rng))
                .collect::<Vec<_>>()
        };
        let first = make(7);
        assert_eq!(first, make(7), "the same seed gave different inputs");
        assert_ne!(first, make(8));
        assert!(first.iter().all(|input| input.len() <= 64));
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert!(
            distinct.len() > 1500,
            "only {} distinct inputs",
            distinct.len()
        );
        assert!(
            first
                .iter()
                .any(|input| std::str::from_utf8(input).is_err())
        );
        assert!(
            first
                .iter()
                .any(|input| input.windows(2).any(|w| w == b"or"))
        );
    }
}
