//! Measures the machine's random memory access, the cost the matching engine's large indexes
//! pay: the latency of one random read (each read's address depends on the previous one), and
//! the time per read when reads are issued in groups of 16 with a prefetch first (as the
//! engine's batched lookups do), with 4 KiB and with transparent huge pages, reading one
//! line per page or two lines per page or two pages.
//!
//! Usage: `memory-bench [--mib N]` (default 1024: a region well past the last-level cache).

use anyhow::{Context, Result};
use iocd_bench::Rng;
use iocd_prefetch::{prefetch, vec_for_random_access};
use std::hint::black_box;
use std::time::Instant;

const PAGE_WORDS: usize = 4096 / 8;
const GROUP: usize = 16;
const READS: usize = 4_000_000;

/// A region of `words` words, with or without huge pages, filled (so every page exists).
fn region(words: usize, huge: bool) -> Vec<u64> {
    let mut words_vec = match huge {
        true => vec_for_random_access(words),
        false => Vec::with_capacity(words),
    };
    words_vec.extend((0..words as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    words_vec
}

/// Reads of random words, each on a random page, through the region.
fn random_offsets(words: usize) -> Vec<usize> {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let pages = words / PAGE_WORDS - 1;
    (0..READS)
        .map(|_| rng.below(pages) * PAGE_WORDS + rng.below(8) * 8)
        .collect()
}

/// Nanoseconds per item (the best of 3 passes): each item reads `offset` and, if `second`
/// says where, one more word; the reads of a group of 16 items are prefetched first.
fn grouped(region: &[u64], offsets: &[usize], second: impl Fn(usize) -> Option<usize>) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        let mut sum = 0u64;
        for group in offsets.chunks(GROUP) {
            for &offset in group {
                prefetch(&region[offset]);
                if let Some(other) = second(offset) {
                    prefetch(&region[other]);
                }
            }
            for &offset in group {
                sum = sum.wrapping_add(region[offset]);
                if let Some(other) = second(offset) {
                    sum = sum.wrapping_add(region[other]);
                }
            }
        }
        black_box(sum);
        best = best.min(started.elapsed().as_secs_f64() * 1e9 / offsets.len() as f64);
    }
    best
}

/// Nanoseconds per read when each read's address depends on the one before.
fn dependent(region: &[u64], offsets: &[usize]) -> f64 {
    let reads = offsets.len() / 8;
    let started = Instant::now();
    let mut value = 0u64;
    for step in 0..reads {
        let offset = offsets[(step + (value & 1) as usize) % offsets.len()];
        value = region[offset];
    }
    black_box(value);
    started.elapsed().as_secs_f64() * 1e9 / reads as f64
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut mib = 1024usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mib" => {
                mib = args
                    .next()
                    .context("--mib needs a number")?
                    .parse()
                    .context("--mib")?
            }
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let words = (mib.max(16) << 20) / 8;
    let offsets = random_offsets(words);
    println!("memory benchmark: {mib} MiB region, {READS} random reads, groups of {GROUP}");
    for huge in [false, true] {
        let region = region(words, huge);
        let pages = if huge { "huge pages" } else { "4 KiB pages" };
        let same_page = |offset: usize| Some(offset ^ (PAGE_WORDS / 2));
        let other_page = |offset: usize| Some((offset + PAGE_WORDS * 4099) % words);
        println!(
            "  {pages:<11}  dependent {:6.1} ns/read   grouped: one line {:5.1} ns, two lines on one page {:5.1} ns, on two pages {:5.1} ns (per item)",
            dependent(&region, &offsets),
            grouped(&region, &offsets, |_| None),
            grouped(&region, &offsets, same_page),
            grouped(&region, &offsets, other_page),
        );
    }
    Ok(())
}
