//! Following the shared store's change log (PostgreSQL): the writes other nodes commit reach
//! this node's matchers. A thread of its own keeps a `LISTEN` connection, and whenever it is
//! woken (or every second, in case a notification was missed) reads the log after its
//! watermark, fetches the indicators each entry names as they are now and applies them
//! ([`iocd_service::Service::apply_remote`]); entries this node wrote were applied when it
//! wrote them. After a lost connection it reconnects and reads on from the watermark, so
//! nothing committed is missed. [`FollowerStatus`] is what `/readyz` reports.
//!
//! The same module keeps the node's claim to leadership ([`start_leadership`]): one node at a
//! time, the holder of a PostgreSQL advisory lock, runs the jobs that must not run twice, among
//! them pruning the change log of entries older than [`CHANGE_LOG_RETENTION`]. A node that
//! reconnects with a watermark older than what was pruned has missed changes it cannot read:
//! it says so on `/readyz` (not ready) until it is restarted, which rebuilds its matchers.

use crate::state::AppState;
use iocd_model::Timestamp;
use iocd_store::{Change, PgStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

/// How long the follower waits for a notification before reading the log anyway.
const POLL: Duration = Duration::from_secs(1);
/// Log entries read at a time.
const BATCH: usize = 1_000;
/// How long the change log keeps an entry. A running node applies entries within
/// milliseconds, and a starting one loads a snapshot, so only a node cut off from the store
/// for longer than this needs an entry that is gone.
pub const CHANGE_LOG_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How often the leader prunes the change log.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Where a node stands against the change log.
#[derive(Debug, Default)]
pub struct FollowerStatus {
    /// The newest change applied (or written by this node).
    applied: AtomicI64,
    /// Connected to the store and listening.
    connected: AtomicBool,
    /// The last read of the log found nothing newer than `applied`.
    caught_up: AtomicBool,
    stop: AtomicBool,
    /// This node holds the leader's lock.
    leading: AtomicBool,
    /// Entries after `applied` were pruned before this node read them.
    missed: AtomicBool,
}

impl FollowerStatus {
    /// A status that starts at `watermark`, neither connected nor caught up yet.
    pub fn new(watermark: i64) -> Self {
        FollowerStatus {
            applied: AtomicI64::new(watermark),
            ..FollowerStatus::default()
        }
    }

    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// Whether this node missed changes the log no longer holds (it must be restarted).
    pub fn missed_changes(&self) -> bool {
        self.missed.load(Ordering::Acquire)
    }

    /// Whether this node runs the leader-only jobs now.
    pub fn leading(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// Asks the follower thread to end (at its next wake-up, within a second).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Starts following the log after `watermark` (read before the matchers were loaded, so
/// nothing between the two is missed; applying a change twice is harmless).
pub fn start(
    store: Arc<PgStore>,
    state: AppState,
    watermark: i64,
) -> std::io::Result<Arc<FollowerStatus>> {
    let status = Arc::new(FollowerStatus::new(watermark));
    state.set_follower(status.clone());
    let thread_status = status.clone();
    std::thread::Builder::new()
        .name("iocd-follower".into())
        .spawn(move || follow(&store, &state, &thread_status))?;
    Ok(status)
}

/// Claims leadership every second with the store's advisory lock and records whether this
/// node holds it in `status`; jobs ask [`AppState::is_leader`] before each run. While it leads,
/// the thread prunes the change log every [`PRUNE_EVERY`].
pub fn start_leadership(store: Arc<PgStore>, status: Arc<FollowerStatus>) -> std::io::Result<()> {
    let mut claim = store.leadership();
    std::thread::Builder::new()
        .name("iocd-leader".into())
        .spawn(move || {
            let mut last_prune: Option<std::time::Instant> = None;
            while !status.stop.load(Ordering::Acquire) {
                let leading = match claim.hold() {
                    Ok(leading) => leading,
                    Err(error) => {
                        tracing::warn!(%error, "cannot reach the store to claim leadership");
                        false
                    }
                };
                if status.leading.swap(leading, Ordering::AcqRel) != leading {
                    tracing::info!(leading, "leadership changed");
                }
                if leading && last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                    last_prune = Some(std::time::Instant::now());
                    let before = now().plus_seconds(-(CHANGE_LOG_RETENTION.as_secs() as i64));
                    match store.prune_changes(before) {
                        Ok(0) => {}
                        Ok(pruned) => tracing::info!(pruned, "pruned the change log"),
                        Err(error) => tracing::warn!(%error, "cannot prune the change log"),
                    }
                }
                std::thread::sleep(POLL);
            }
        })?;
    Ok(())
}

fn now() -> Timestamp {
    Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc())
}

fn follow(store: &PgStore, state: &AppState, status: &FollowerStatus) {
    let mut listener = None;
    while !status.stop.load(Ordering::Acquire) {
        if listener.is_none() {
            match store.listener() {
                Ok(connection) => {
                    listener = Some(connection);
                    check_not_pruned(store, status);
                }
                Err(error) => {
                    lost(status, &error);
                    std::thread::sleep(POLL);
                    continue;
                }
            }
        }
        if let Err(error) = catch_up(store, state, status) {
            lost(status, &error);
            listener = None;
            std::thread::sleep(POLL);
            continue;
        }
        status.connected.store(true, Ordering::Release);
        if let Some(connection) = listener.as_mut()
            && let Err(error) = connection.wait(POLL)
        {
            lost(status, &error);
            listener = None;
        }
    }
}

/// Marks the node as having missed changes when the log was pruned past its watermark.
fn check_not_pruned(store: &PgStore, status: &FollowerStatus) {
    match store.pruned_through() {
        Ok(pruned) if pruned > status.applied() && !status.missed_changes() => {
            tracing::error!(
                applied = status.applied(),
                pruned,
                "changes this node never read were pruned from the log; restart it to reload its matchers"
            );
            status.missed.store(true, Ordering::Release);
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot read how far the change log was pruned"),
    }
}

fn lost(status: &FollowerStatus, error: &iocd_store::StoreError) {
    if status.connected.swap(false, Ordering::AcqRel) {
        tracing::warn!(%error, "lost the change log; reconnecting");
    }
    status.caught_up.store(false, Ordering::Release);
}

/// Applies every entry after the watermark, in order.
fn catch_up(
    store: &PgStore,
    state: &AppState,
    status: &FollowerStatus,
) -> Result<(), iocd_store::StoreError> {
    loop {
        let entries = store.changes_after(status.applied(), BATCH)?;
        if entries.is_empty() {
            status.caught_up.store(true, Ordering::Release);
            return Ok(());
        }
        status.caught_up.store(false, Ordering::Release);
        for change in &entries {
            if change.origin != store.node() {
                apply(store, state, change)?;
            }
            status.applied.store(change.seq, Ordering::Release);
        }
    }
}

fn apply(store: &PgStore, state: &AppState, change: &Change) -> Result<(), iocd_store::StoreError> {
    let now = now();
    let present = store.changed_indicators(change, now)?;
    let mut named: Vec<i64> = change.changed.clone();
    if let Some((first, last)) = change.created {
        named.extend(first..=last);
    }
    state
        .service()
        .apply_remote(&change.tenant, &present, &named, now)
}
