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

use crate::compile::CompiledIndicator;
use crate::observable::Observable;
use crate::policy::{Candidate, Verdict, decide_in_place};
use crate::set::{Device, MatchSet, Scratch};
use iocd_model::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Roughly how many keys are looked up together by [`Snapshot::evaluate_batch`]: enough for
/// their memory accesses to overlap, few enough for the processor to keep track of them all
/// (on the benchmark machine, 32 to 128 hashes or 8 URLs per group did about equally well).
const GROUP_KEYS: usize = 64;

/// The number of leading items that make up the next group: items are added while their
/// estimated key lookups stay within [`GROUP_KEYS`], and at least one.
fn group_len(items: &[(&Observable, &Device)]) -> usize {
    let mut keys = 0;
    for (taken, (observable, _)) in items.iter().enumerate() {
        keys += match observable {
            Observable::File(hashes) => {
                usize::from(hashes.sha256.is_some())
                    + usize::from(hashes.sha1.is_some())
                    + usize::from(hashes.md5.is_some())
                    + usize::from(hashes.certificate.is_some())
            }
            Observable::Ip(_) => 8,
            Observable::Domain(host) => 1 + host.len() / 6,
            // About one label or path segment per six bytes: an estimate is enough.
            Observable::Url(url) => 2 + url.match_key().len() / 6,
        };
        if keys > GROUP_KEYS {
            return taken.max(1);
        }
    }
    items.len()
}

/// Memory [`Snapshot::evaluate_batch`] reuses between calls on one thread.
#[derive(Default)]
struct BatchScratch {
    sets: Scratch,
    candidates: Vec<Vec<Candidate>>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<BatchScratch> = std::cell::RefCell::default();
}

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
        let mut verdict = Verdict::default();
        self.evaluate_each(&[(observable, device)], now, |v| verdict = v);
        verdict
    }

    /// Appends to `verdicts` the verdict for each `(observable, device)` of `items`, in order:
    /// the same as [`Snapshot::evaluate`] on each, but faster, because the lookups of a group
    /// of items wait for memory together.
    pub fn evaluate_batch(
        &self,
        items: &[(&Observable, &Device)],
        now: Timestamp,
        verdicts: &mut Vec<Verdict>,
    ) {
        verdicts.reserve(items.len());
        self.evaluate_each(items, now, |v| verdicts.push(v));
    }

    /// Calls `emit` with the verdict for each item, in order.
    fn evaluate_each(
        &self,
        items: &[(&Observable, &Device)],
        now: Timestamp,
        mut emit: impl FnMut(Verdict),
    ) {
        let chunks = &self.chunks;
        let superseded_after =
            |level: usize, id: i64| chunks[level..].iter().any(|c| c.touched.contains(&id));
        SCRATCH.with_borrow_mut(|scratch| {
            let (sets, candidates) = (&mut scratch.sets, &mut scratch.candidates);
            let mut rest = items;
            while !rest.is_empty() {
                let (group, after) = rest.split_at(group_len(rest));
                rest = after;
                candidates.resize_with(group.len(), Vec::new);
                // A set must not match its indicators changed in a later chunk.
                let later = |id| superseded_after(0, id);
                let skip = (!chunks.is_empty()).then_some(&later as &dyn Fn(i64) -> bool);
                self.base.collect_batch(group, now, skip, candidates, sets);
                for (level, chunk) in chunks.iter().enumerate() {
                    let later = |id| superseded_after(level + 1, id);
                    let skip = (level + 1 < chunks.len()).then_some(&later as &dyn Fn(i64) -> bool);
                    chunk.set.collect_batch(group, now, skip, candidates, sets);
                }
                for found in candidates.iter_mut() {
                    emit(decide_in_place(found));
                    found.clear();
                }
            }
        });
    }

    /// The latest version of every indicator active at `now`: the base's and each chunk's,
    /// less those a later chunk changed.
    fn current(&self, now: Timestamp) -> Vec<CompiledIndicator> {
        let chunks = &self.chunks;
        let live = |c: &CompiledIndicator| c.expires().is_none_or(|e| e > now);
        let superseded_after =
            |level: usize, id: i64| chunks[level..].iter().any(|c| c.touched.contains(&id));
        let mut indicators: Vec<CompiledIndicator> = self
            .base
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
        indicators
    }

    /// The ids of the indicators this snapshot matches at `now`, ascending: what the store
    /// should hold as active, for tests and diagnostics (it visits every indicator).
    pub fn active_ids(&self, now: Timestamp) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .current(now)
            .iter()
            .map(CompiledIndicator::id)
            .collect();
        ids.sort_unstable();
        ids
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
        MergedBase {
            set: MatchSet::build(self.snapshot.current(now)),
            upto: self.snapshot.chunks.last().map_or(0, |c| c.last),
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
