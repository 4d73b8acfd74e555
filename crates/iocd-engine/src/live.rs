//! Live updates without full rebuilds: a large immutable base set plus a few small overlay
//! chunks holding what was written since the base was built.
//!
//! Each committed batch of writes becomes a new chunk, built from that batch alone; adjacent
//! chunks of similar size are combined (the logarithmic method), so a write costs time in
//! proportion to its own size and there are never more than a few dozen chunks. A chunk
//! supersedes, by id, every version in the base and in older chunks. When the chunks together
//! grow large, the caller merges base and chunks into a new base off the write path
//! ([`LiveMatcher::merge_plan`], [`MergePlan::build`], [`LiveMatcher::install`]).
//!
//! This module holds state only; threads, locks and timing belong to the caller.

use crate::observable::Observable;
use crate::policy::{Verdict, decide};
use crate::set::{CompiledIndicator, Device, MatchSet};
use iocd_model::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One change to a tenant's indicators, as committed to the store.
#[derive(Debug, Clone)]
pub enum Change {
    /// Created or updated (an update replaces every earlier version of the id).
    Upsert(CompiledIndicator),
    /// Deleted or expired.
    Remove(i64),
}

/// The net effect of a contiguous run of changes.
#[derive(Debug, Default)]
struct Chunk {
    set: MatchSet,
    /// Every id changed in this run (upserted or removed).
    touched: HashSet<i64>,
    /// Sequence numbers of the first and last change in the run.
    first: u64,
    last: u64,
}

impl Chunk {
    fn new(changes: HashMap<i64, Option<CompiledIndicator>>, first: u64, last: u64) -> Chunk {
        let touched = changes.keys().copied().collect();
        Chunk {
            set: MatchSet::build(changes.into_values().flatten().collect()),
            touched,
            first,
            last,
        }
    }

    /// The net effect of `older` followed by `newer`.
    fn combine(older: &Chunk, newer: &Chunk) -> Chunk {
        let mut changes: HashMap<i64, Option<CompiledIndicator>> =
            older.touched.iter().map(|id| (*id, None)).collect();
        for indicator in older.set.indicators() {
            changes.insert(indicator.id(), Some(indicator));
        }
        for id in &newer.touched {
            changes.insert(*id, None);
        }
        for indicator in newer.set.indicators() {
            changes.insert(indicator.id(), Some(indicator));
        }
        Chunk::new(changes, older.first, newer.last)
    }

    fn size(&self) -> usize {
        self.touched.len()
    }
}

/// An immutable view for matching: cheap to clone, safe to share between threads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    base: Arc<MatchSet>,
    /// Oldest first.
    chunks: Arc<[Arc<Chunk>]>,
}

impl Snapshot {
    /// A snapshot of one set with no overlay.
    pub fn of(set: MatchSet) -> Snapshot {
        Snapshot {
            base: Arc::new(set),
            chunks: Arc::from(Vec::new()),
        }
    }

    /// The verdict for `observable` seen on `device` at `now`.
    pub fn evaluate(&self, observable: &Observable, device: &Device, now: Timestamp) -> Verdict {
        let mut candidates = Vec::new();
        let chunks = &self.chunks;
        let superseded_after =
            |level: usize, id: i64| chunks[level..].iter().any(|c| c.touched.contains(&id));
        self.base.collect(
            observable,
            device,
            now,
            &|id| superseded_after(0, id),
            &mut candidates,
        );
        for (level, chunk) in chunks.iter().enumerate() {
            chunk.set.collect(
                observable,
                device,
                now,
                &|id| superseded_after(level + 1, id),
                &mut candidates,
            );
        }
        decide(candidates)
    }

    /// Indicators in the base set.
    pub fn base_len(&self) -> usize {
        self.base.len()
    }

    /// Number of overlay chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Heap memory of base and overlay, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.base.heap_bytes()
            + self
                .chunks
                .iter()
                .map(|c| c.set.heap_bytes() + c.touched.len() * 16)
                .sum::<usize>()
    }
}

/// The inputs of a merge, taken under the caller's lock and built outside it.
#[derive(Debug)]
pub struct MergePlan {
    snapshot: Snapshot,
}

impl MergePlan {
    /// Builds the merged base, leaving out indicators expired at `now`.
    pub fn build(self, now: Timestamp) -> MergedBase {
        let Snapshot { base, chunks } = self.snapshot;
        let live = |c: &CompiledIndicator| c.expires().is_none_or(|e| e > now);
        let superseded_after =
            |level: usize, id: i64| chunks[level..].iter().any(|c| c.touched.contains(&id));
        let mut indicators: Vec<CompiledIndicator> = base
            .indicators()
            .filter(|c| live(c) && !superseded_after(0, c.id()))
            .collect();
        for (level, chunk) in chunks.iter().enumerate() {
            indicators.extend(
                chunk
                    .set
                    .indicators()
                    .filter(|c| live(c) && !superseded_after(level + 1, c.id())),
            );
        }
        MergedBase {
            set: MatchSet::build(indicators),
            upto: chunks.last().map_or(0, |c| c.last),
        }
    }
}

/// A merged base, ready for [`LiveMatcher::install`].
#[derive(Debug)]
pub struct MergedBase {
    set: MatchSet,
    /// The last change it includes.
    upto: u64,
}

/// The mutable state behind a tenant's snapshots.
#[derive(Debug, Default)]
pub struct LiveMatcher {
    snapshot: Snapshot,
    next_sequence: u64,
}

impl LiveMatcher {
    /// Starts from a fully built set.
    pub fn new(base: MatchSet) -> LiveMatcher {
        LiveMatcher {
            snapshot: Snapshot::of(base),
            next_sequence: 0,
        }
    }

    /// The current view.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.clone()
    }

    /// Ids changed since the base was built (counted once per chunk).
    pub fn pending(&self) -> usize {
        self.snapshot.chunks.iter().map(|c| c.size()).sum()
    }

    /// Number of indicators in the base set.
    pub fn base_len(&self) -> usize {
        self.snapshot.base.len()
    }

    /// Records committed changes, so the next snapshot reflects them.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = Change>) {
        let first = self.next_sequence + 1;
        let mut net: HashMap<i64, Option<CompiledIndicator>> = HashMap::new();
        for change in changes {
            self.next_sequence += 1;
            match change {
                Change::Upsert(indicator) => net.insert(indicator.id(), Some(indicator)),
                Change::Remove(id) => net.insert(id, None),
            };
        }
        if net.is_empty() {
            return;
        }
        let mut chunks: Vec<Arc<Chunk>> = self.snapshot.chunks.to_vec();
        chunks.push(Arc::new(Chunk::new(net, first, self.next_sequence)));
        // Combine the newest chunks while the older one is not much larger, keeping sizes
        // roughly halving from oldest to newest.
        while let [.., older, newer] = chunks.as_slice()
            && older.size() <= 2 * newer.size()
        {
            let combined = Chunk::combine(older, newer);
            chunks.truncate(chunks.len() - 2);
            chunks.push(Arc::new(combined));
        }
        self.snapshot.chunks = Arc::from(chunks);
    }

    /// Takes what a merge needs; build it with [`MergePlan::build`] without holding any lock.
    pub fn merge_plan(&self) -> MergePlan {
        MergePlan {
            snapshot: self.snapshot.clone(),
        }
    }

    /// Replaces the base with a merged one. Chunks holding changes made after the plan was
    /// taken stay; a chunk that also holds older changes is kept whole, which is harmless
    /// because its versions are at least as new as the merged base's.
    pub fn install(&mut self, merged: MergedBase) {
        let chunks: Vec<Arc<Chunk>> = self
            .snapshot
            .chunks
            .iter()
            .filter(|c| c.last > merged.upto)
            .cloned()
            .collect();
        self.snapshot = Snapshot {
            base: Arc::new(merged.set),
            chunks: Arc::from(chunks),
        };
    }
}
