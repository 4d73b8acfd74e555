//! The threads that keep the matchers in step with the store: a small pool of appliers, each
//! owning a share of the tenants (so one tenant's writes are applied in the order they were
//! queued), and one merge worker that rebuilds a tenant's base set off the write path. All of
//! them end when [`Workers::shutdown`] is called (the service does it when it stops).

use crate::engines::{Pending, TenantMatcher};
use crate::telemetry::{APPLY_LAG, MERGE_TIME, Telemetry};
use iocd_model::Timestamp;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

/// One committed write on its way to a tenant's matcher.
pub(crate) struct ApplyJob {
    pub(crate) matcher: Arc<TenantMatcher>,
    pub(crate) pending: Pending,
    pub(crate) now: Timestamp,
    /// Signalled once applied, when the writer waits.
    pub(crate) done: Option<mpsc::SyncSender<()>>,
    /// When the write committed and was queued (its apply lag runs from here).
    pub(crate) queued: std::time::Instant,
}

/// A merge of a tenant's overlay into a new base.
pub(crate) struct MergeJob {
    pub(crate) matcher: Arc<TenantMatcher>,
    pub(crate) now: Timestamp,
}

/// The queues of the running threads.
struct Queues {
    appliers: Vec<mpsc::Sender<ApplyJob>>,
    merger: mpsc::Sender<MergeJob>,
}

/// The applier pool and the merge worker.
#[derive(Debug)]
pub(crate) struct Workers {
    /// `None` once shut down.
    queues: Mutex<Option<Queues>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Queues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queues")
            .field("appliers", &self.appliers.len())
            .finish_non_exhaustive()
    }
}

/// The prefix of the applier threads' names (`iocd-apply-0`, ...); the merge worker is
/// `iocd-merge`.
pub const APPLIER_THREAD: &str = "iocd-apply-";
pub const MERGE_THREAD: &str = "iocd-merge";

impl Workers {
    /// Starts `appliers` applier threads (at least one) and the merge worker.
    pub(crate) fn start(appliers: usize, telemetry: Telemetry) -> std::io::Result<Workers> {
        let mut threads = Vec::new();
        let mut queues = Vec::new();
        for number in 0..appliers.max(1) {
            let (sender, receiver) = mpsc::channel::<ApplyJob>();
            let telemetry = telemetry.clone();
            let thread = std::thread::Builder::new()
                .name(format!("{APPLIER_THREAD}{number}"))
                .spawn(move || {
                    for job in receiver {
                        job.matcher.apply(job.pending, job.now);
                        telemetry.time(APPLY_LAG, &[], job.queued.elapsed());
                        if let Some(done) = job.done {
                            // The writer may have stopped waiting; nothing to do then.
                            let _ = done.send(());
                        }
                    }
                })?;
            threads.push(thread);
            queues.push(sender);
        }
        let (merger, merges) = mpsc::channel::<MergeJob>();
        threads.push(
            std::thread::Builder::new()
                .name(MERGE_THREAD.to_owned())
                .spawn(move || {
                    for job in merges {
                        let started = std::time::Instant::now();
                        job.matcher.merge(job.now);
                        telemetry.time(MERGE_TIME, &[], started.elapsed());
                    }
                })?,
        );
        Ok(Workers {
            queues: Mutex::new(Some(Queues {
                appliers: queues,
                merger,
            })),
            threads: Mutex::new(threads),
        })
    }

    /// Queues a write for `tenant`'s applier. Gives the job back if the workers have stopped.
    pub(crate) fn apply(&self, tenant: &str, job: ApplyJob) -> Result<(), ApplyJob> {
        let queues = crate::lock(&self.queues);
        let Some(queues) = queues.as_ref() else {
            return Err(job);
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        tenant.hash(&mut hasher);
        let applier = &queues.appliers[hasher.finish() as usize % queues.appliers.len()];
        applier.send(job).map_err(|mpsc::SendError(job)| job)
    }

    /// Queues a merge. Returns `false` if the workers have stopped.
    pub(crate) fn merge(&self, job: MergeJob) -> bool {
        match crate::lock(&self.queues).as_ref() {
            Some(queues) => queues.merger.send(job).is_ok(),
            None => false,
        }
    }

    /// Closes the queues and waits for every thread to finish what it holds.
    pub(crate) fn shutdown(&self) {
        drop(crate::lock(&self.queues).take());
        let threads = std::mem::take(&mut *crate::lock(&self.threads));
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("a matcher worker thread panicked");
            }
        }
    }
}
