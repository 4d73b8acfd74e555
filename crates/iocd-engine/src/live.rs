//! Live updates without full rebuilds: a large immutable base set plus a small overlay of the
//! indicators written since the base was built. Writes rebuild only the overlay; when it grows,
//! the caller merges base and overlay into a new base off the write path and installs it.
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

#[derive(Debug, Default)]
struct Overlay {
    set: MatchSet,
    /// Ids whose base version is superseded (updated or removed).
    touched: HashSet<i64>,
}

/// An immutable view for matching: cheap to clone, safe to share between threads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    base: Arc<MatchSet>,
    overlay: Arc<Overlay>,
}

impl Snapshot {
    /// A snapshot of one set with no overlay.
    pub fn of(set: MatchSet) -> Snapshot {
        Snapshot {
            base: Arc::new(set),
            overlay: Arc::default(),
        }
    }

    /// The verdict for `observable` seen on `device` at `now`.
    pub fn evaluate(&self, observable: &Observable, device: &Device, now: Timestamp) -> Verdict {
        let mut candidates = Vec::new();
        let touched = &self.overlay.touched;
        if touched.is_empty() {
            self.base
                .collect(observable, device, now, &|_| false, &mut candidates);
        } else {
            self.base.collect(
                observable,
                device,
                now,
                &|id| touched.contains(&id),
                &mut candidates,
            );
        }
        self.overlay
            .set
            .collect(observable, device, now, &|_| false, &mut candidates);
        decide(candidates)
    }

    /// Indicators in the view (base plus overlay, superseded base versions not counted).
    pub fn len(&self) -> usize {
        let superseded = self
            .base
            .ids()
            .filter(|id| self.overlay.touched.contains(id))
            .count();
        self.base.len() - superseded + self.overlay.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap memory of base and overlay, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.base.heap_bytes() + self.overlay.set.heap_bytes() + self.overlay.touched.len() * 16
    }
}

/// The inputs of a merge, taken under the caller's lock and built outside it.
#[derive(Debug)]
pub struct MergePlan {
    base: Arc<MatchSet>,
    changes: Vec<(i64, Option<CompiledIndicator>)>,
    upto: u64,
}

impl MergePlan {
    /// Builds the merged base, leaving out indicators expired at `now`.
    pub fn build(self, now: Timestamp) -> MergedBase {
        let changed: HashSet<i64> = self.changes.iter().map(|(id, _)| *id).collect();
        let live = |c: &CompiledIndicator| c.expires().is_none_or(|e| e > now);
        let indicators: Vec<CompiledIndicator> = self
            .base
            .indicators()
            .filter(|c| !changed.contains(&c.id()) && live(c))
            .chain(self.changes.into_iter().filter_map(|(_, c)| c).filter(live))
            .collect();
        MergedBase {
            set: MatchSet::build(indicators),
            upto: self.upto,
        }
    }
}

/// A merged base, ready for [`LiveMatcher::install`].
#[derive(Debug)]
pub struct MergedBase {
    set: MatchSet,
    upto: u64,
}

/// The mutable state behind a tenant's snapshots.
#[derive(Debug, Default)]
pub struct LiveMatcher {
    base: Arc<MatchSet>,
    /// Net effect per id of the changes not yet in `base`, with the sequence number of the
    /// latest change to that id.
    pending: HashMap<i64, (u64, Option<CompiledIndicator>)>,
    next_sequence: u64,
    snapshot: Snapshot,
}

impl LiveMatcher {
    /// Starts from a fully built set.
    pub fn new(base: MatchSet) -> LiveMatcher {
        let base = Arc::new(base);
        LiveMatcher {
            snapshot: Snapshot {
                base: base.clone(),
                overlay: Arc::default(),
            },
            base,
            ..LiveMatcher::default()
        }
    }

    /// The current view.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.clone()
    }

    /// Number of ids changed since the base was built.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Number of indicators in the base set.
    pub fn base_len(&self) -> usize {
        self.base.len()
    }

    /// Records committed changes and rebuilds the overlay, so the next snapshot reflects them.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = Change>) {
        for change in changes {
            self.next_sequence += 1;
            let (id, indicator) = match change {
                Change::Upsert(indicator) => (indicator.id(), Some(indicator)),
                Change::Remove(id) => (id, None),
            };
            self.pending.insert(id, (self.next_sequence, indicator));
        }
        self.rebuild_overlay();
    }

    fn rebuild_overlay(&mut self) {
        let overlay = Overlay {
            set: MatchSet::build(
                self.pending
                    .values()
                    .filter_map(|(_, indicator)| indicator.clone())
                    .collect(),
            ),
            touched: self.pending.keys().copied().collect(),
        };
        self.snapshot = Snapshot {
            base: self.base.clone(),
            overlay: Arc::new(overlay),
        };
    }

    /// Takes what a merge needs; build it with [`MergePlan::build`] without holding any lock.
    pub fn merge_plan(&self) -> MergePlan {
        MergePlan {
            base: self.base.clone(),
            changes: self
                .pending
                .iter()
                .map(|(id, (_, indicator))| (*id, indicator.clone()))
                .collect(),
            upto: self.next_sequence,
        }
    }

    /// Replaces the base with a merged one. Changes recorded after the plan was taken stay in
    /// the overlay.
    pub fn install(&mut self, merged: MergedBase) {
        self.base = Arc::new(merged.set);
        self.pending
            .retain(|_, (sequence, _)| *sequence > merged.upto);
        self.rebuild_overlay();
    }
}
