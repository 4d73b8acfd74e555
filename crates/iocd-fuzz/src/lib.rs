//! Randomised robustness tests on stable Rust for every parser of outside input: CSV rows,
//! OData `$filter` and `$orderby` (run against a real SQLite store), URLs, domains, IP
//! addresses and hashes, timestamps, and the JSON bodies of indicators and events.
//!
//! Each [`Target`] pairs a checker (the code under test plus its contract: no panic, a refusal
//! with a message, results that round-trip) with seeds and a dictionary; the [`runner`] feeds
//! it mutated inputs for a number of cases or a length of time and bounds each case's time and
//! memory. `cargo test -p iocd-fuzz` runs a bounded number of cases per target;
//! `scripts/fuzz` runs them for as long as asked.

mod alloc;
mod mutate;
mod rng;
pub mod runner;
mod targets;

pub use alloc::{CountingAllocator, is_counting, peak_during};
pub use mutate::Mutator;
pub use rng::Rng;
pub use targets::all as targets;

/// What the code under test made of an input it handled correctly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Parsed (and, where the target goes further, used).
    Accepted,
    /// Refused with a proper error.
    Refused,
}

/// Checks one input: `Err` says how the code under test broke its contract.
pub type Checker = Box<dyn FnMut(&[u8]) -> Result<Verdict, String>>;

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    /// What it feeds and what it checks, one line.
    pub about: &'static str,
    /// Valid (or nearly valid) inputs the mutations start from.
    pub seeds: &'static [&'static [u8]],
    /// Tokens of the input's grammar that mutations insert.
    pub dictionary: &'static [&'static str],
    /// The longest input generated.
    pub max_len: usize,
    /// Generates well-formed inputs from the input's grammar, for half the cases.
    pub grammar: Option<fn(&mut Rng) -> Vec<u8>>,
    /// Makes a checker; it may hold state (a database) across cases.
    pub make: fn() -> Checker,
}

/// `input` as readable text: printable ASCII kept, everything else escaped.
pub fn escape(input: &[u8]) -> String {
    input.escape_ascii().to_string()
}

/// The inverse of [`escape`], for replaying a reported input.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let code = *bytes
            .get(i + 1)
            .ok_or_else(|| "the input ends in a lone backslash".to_owned())?;
        let (byte, used) = match code {
            b'n' => (b'\n', 2),
            b'r' => (b'\r', 2),
            b't' => (b'\t', 2),
            b'0' => (b'\0', 2),
            b'\\' | b'\'' | b'"' => (code, 2),
            b'x' => {
                let hex = bytes
                    .get(i + 2..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("a bad \\x escape at byte {i}"))?;
                (hex, 4)
            }
            other => return Err(format!("an unknown escape \\{} at byte {i}", other as char)),
        };
        out.push(byte);
        i += used;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_inputs_come_back_unchanged() {
        let mut rng = Rng::new(1);
        for _ in 0..2_000 {
            let input: Vec<u8> = (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect();
            assert_eq!(unescape(&escape(&input)), Ok(input));
        }
        assert!(unescape("\\").is_err());
        assert!(unescape("\\xZZ").is_err());
        assert!(unescape("\\q").is_err());
    }
}
