//! iocd's matching engine: compiles indicators into an immutable, cheaply shared match set and
//! decides, for what a device saw, which indicator applies and why.
//!
//! No IO, no threads, no clock (every query takes `now`), no logging. The server wraps a
//! [`LiveMatcher`] per tenant; the CLI and the benchmarks use [`MatchSet`] directly.
//!
//! - [`observable`]: what devices see, parsed with the model crate's normalisation rules;
//! - [`MatchSet`]: one key index per kind (raw hash bytes, IP networks, domains, URL prefixes);
//! - [`policy`]: the verdict policy, one function ([`decide`]) with the documented rules;
//! - [`live`]: base set plus overlay, so writes are matched within milliseconds.

mod blocks;
mod bytes;
mod compile;
mod fingerprint;
mod index;
pub mod live;
pub mod observable;
pub mod policy;
mod set;

pub use compile::{CompiledIndicator, EngineIndicator, compile, scope_keys};
pub use live::{Change, LiveMatcher, MergePlan, MergedBase, Snapshot};
pub use observable::{FileHashes, Observable, ObservableError, ObservableKind};
pub use policy::{Candidate, DecidingRule, DetectorVerdict, Matched, Verdict, decide, investigate};
pub use set::{Device, MatchSet, group_key};

/// Compiles `indicators` into a set.
pub fn build_set(indicators: &[EngineIndicator]) -> MatchSet {
    MatchSet::build(indicators.iter().map(compile).collect())
}
