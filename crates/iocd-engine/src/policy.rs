//! The verdict policy: which of the indicators that match one observable on one device wins,
//! and why. This is the one place precedence is decided; `docs/matching.md` describes it and
//! `tests/precedence.toml` has a row for every rule.
//!
//! The rules, applied in order, each keeping only the candidates that are best by it:
//! 1. **strongest-hash** (files): certificate > SHA-256 > SHA-1 > MD5, regardless of scope;
//! 2. **group-scope**: indicators scoped to one of the device's groups beat all-device ones;
//! 3. **longest-match** (network): longer URL path > shorter path > domain, deeper domain >
//!    parent domain, longer IP prefix > shorter;
//! 4. **action-order**: network `Allowed` > `Warn` > `Block` > `Audit`; files and certificates
//!    `BlockAndRemediate` > `Block` > `Warn` > `Allowed` > `Audit`;
//! 5. **first-created**: among complete ties the lowest id (the oldest indicator) wins; all tied
//!    candidates have the same action, so this only picks which one is named.
//!
//! Successive "keep the best" filters are the same as one lexicographic comparison, so the
//! policy sorts the candidates by that key; the winner is the first and the rule that decided is
//! the first criterion on which the winner beats the runner-up.

use iocd_model::{Action, IndicatorType};
use std::cmp::Ordering;

/// One active, in-scope indicator that matched an observable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub indicator_type: IndicatorType,
    pub action: Action,
    /// The indicator names device groups (and the device is in one of them).
    pub scoped: bool,
    /// How specific the match is, for network indicators (see [`specificity`]); 0 for files.
    pub specificity: u32,
    pub generate_alert: bool,
}

/// Specificity values of network matches: every URL match beats every domain or IP match.
pub mod specificity {
    /// A URL indicator matching with `path_len` bytes of path (and query).
    pub fn url(path_len: usize) -> u32 {
        0x1000_0000 + path_len.min(0x0FFF_FFFF) as u32
    }
    /// A domain indicator with `labels` labels (`example.com` has 2).
    pub fn domain(labels: usize) -> u32 {
        labels.min(0xFFFF) as u32
    }
    /// An IP indicator with a `prefix_len`-bit network (32 or 128 for one address).
    pub fn ip(prefix_len: u8) -> u32 {
        u32::from(prefix_len)
    }
}

/// The criterion that separated the winner from the runner-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecidingRule {
    /// Only one indicator matched.
    OnlyMatch,
    StrongestHash,
    GroupScope,
    LongestMatch,
    ActionOrder,
    FirstCreated,
}

impl DecidingRule {
    pub fn as_str(self) -> &'static str {
        match self {
            DecidingRule::OnlyMatch => "only-match",
            DecidingRule::StrongestHash => "strongest-hash",
            DecidingRule::GroupScope => "group-scope",
            DecidingRule::LongestMatch => "longest-match",
            DecidingRule::ActionOrder => "action-order",
            DecidingRule::FirstCreated => "first-created",
        }
    }

    pub fn parse(text: &str) -> Option<DecidingRule> {
        [
            DecidingRule::OnlyMatch,
            DecidingRule::StrongestHash,
            DecidingRule::GroupScope,
            DecidingRule::LongestMatch,
            DecidingRule::ActionOrder,
            DecidingRule::FirstCreated,
        ]
        .into_iter()
        .find(|rule| rule.as_str() == text)
    }
}

/// The outcome for one observable: every matching candidate in precedence order (the winner
/// first) and the rule that decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub matched: Matched,
    pub rule: Option<DecidingRule>,
}

/// The candidates of a verdict, in precedence order. Up to two are held inline, so the
/// common verdicts (nothing, or one or two indicators) allocate nothing.
#[derive(Clone)]
pub struct Matched(MatchedStorage);

#[derive(Clone)]
enum MatchedStorage {
    Inline { len: u8, items: [Candidate; 2] },
    Heap(Vec<Candidate>),
}

/// Fills unused inline places; never visible.
const PLACEHOLDER: Candidate = Candidate {
    id: 0,
    indicator_type: IndicatorType::FileSha256,
    action: Action::Audit,
    scoped: false,
    specificity: 0,
    generate_alert: false,
};

impl Matched {
    fn from_slice(candidates: &[Candidate]) -> Matched {
        match candidates {
            [] => Matched::default(),
            [one] => Matched(MatchedStorage::Inline {
                len: 1,
                items: [*one, PLACEHOLDER],
            }),
            [one, two] => Matched(MatchedStorage::Inline {
                len: 2,
                items: [*one, *two],
            }),
            more => Matched(MatchedStorage::Heap(more.to_vec())),
        }
    }
}

impl Default for Matched {
    fn default() -> Self {
        Matched(MatchedStorage::Inline {
            len: 0,
            items: [PLACEHOLDER; 2],
        })
    }
}

impl std::ops::Deref for Matched {
    type Target = [Candidate];

    fn deref(&self) -> &[Candidate] {
        match &self.0 {
            MatchedStorage::Inline { len, items } => &items[..usize::from(*len)],
            MatchedStorage::Heap(items) => items,
        }
    }
}

impl std::fmt::Debug for Matched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Matched {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Matched {}

impl Verdict {
    pub fn winner(&self) -> Option<&Candidate> {
        self.matched.first()
    }

    /// The action the device takes; `None` when nothing matched.
    pub fn action(&self) -> Option<Action> {
        self.winner().map(|w| w.action)
    }

    /// Whether the device must stop the file or connection (`Audit` and `Allowed` never do).
    pub fn blocks(&self) -> bool {
        matches!(
            self.action(),
            Some(Action::Block | Action::BlockAndRemediate | Action::Warn)
        )
    }

    /// Whether the detection engine raises an alert: the winner asked for one (`Audit` always
    /// does) and is not `Allowed`, which suppresses alerts.
    pub fn raises_alert(&self) -> bool {
        self.winner().is_some_and(|w| {
            w.action != Action::Allowed && (w.generate_alert || w.action == Action::Audit)
        })
    }
}

/// Rank of a hash type for the strongest-hash rule; 0 for network types.
pub fn hash_strength(indicator_type: IndicatorType) -> u8 {
    match indicator_type {
        IndicatorType::CertificateThumbprint => 4,
        IndicatorType::FileSha256 => 3,
        IndicatorType::FileSha1 => 2,
        IndicatorType::FileMd5 => 1,
        IndicatorType::IpAddress | IndicatorType::DomainName | IndicatorType::Url => 0,
    }
}

/// Rank of an action for the action-order rule (higher wins).
pub fn action_rank(indicator_type: IndicatorType, action: Action) -> u8 {
    if indicator_type.is_file_like() {
        match action {
            Action::BlockAndRemediate => 5,
            Action::Block => 4,
            Action::Warn => 3,
            Action::Allowed => 2,
            Action::Audit => 1,
        }
    } else {
        match action {
            Action::Allowed => 5,
            Action::Warn => 4,
            Action::Block | Action::BlockAndRemediate => 3,
            Action::Audit => 1,
        }
    }
}

/// Compares two candidates by precedence: `Less` means `a` wins over `b`. Also returns the
/// first criterion on which they differ.
fn compare(a: &Candidate, b: &Candidate) -> (Ordering, DecidingRule) {
    let criteria = [
        (
            hash_strength(b.indicator_type).cmp(&hash_strength(a.indicator_type)),
            DecidingRule::StrongestHash,
        ),
        (b.scoped.cmp(&a.scoped), DecidingRule::GroupScope),
        (
            b.specificity.cmp(&a.specificity),
            DecidingRule::LongestMatch,
        ),
        (
            action_rank(b.indicator_type, b.action).cmp(&action_rank(a.indicator_type, a.action)),
            DecidingRule::ActionOrder,
        ),
        (a.id.cmp(&b.id), DecidingRule::FirstCreated),
    ];
    criteria
        .into_iter()
        .find(|(ordering, _)| ordering.is_ne())
        .unwrap_or((Ordering::Equal, DecidingRule::FirstCreated))
}

/// Decides the verdict for the candidates that matched one observable on one device.
pub fn decide(mut candidates: Vec<Candidate>) -> Verdict {
    decide_in_place(&mut candidates)
}

/// [`decide`] on a reused buffer: sorts `candidates` into precedence order (the caller clears
/// it afterwards).
pub(crate) fn decide_in_place(candidates: &mut Vec<Candidate>) -> Verdict {
    if candidates.len() > 1 {
        candidates.sort_by(|a, b| compare(a, b).0);
        candidates.dedup_by_key(|c| c.id);
    }
    let rule = match candidates.as_slice() {
        [] => None,
        [_] => Some(DecidingRule::OnlyMatch),
        [winner, runner_up, ..] => Some(compare(winner, runner_up).1),
    };
    Verdict {
        matched: Matched::from_slice(candidates),
        rule,
    }
}

/// What an automated investigation concluded about an entity before indicators were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorVerdict {
    Malicious,
    Suspicious,
    Clean,
}

impl DetectorVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorVerdict::Malicious => "Malicious",
            DetectorVerdict::Suspicious => "Suspicious",
            DetectorVerdict::Clean => "Clean",
        }
    }

    pub fn parse(text: &str) -> Option<DetectorVerdict> {
        [
            DetectorVerdict::Malicious,
            DetectorVerdict::Suspicious,
            DetectorVerdict::Clean,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(text))
    }
}

/// The investigation engine: an `Allowed` indicator clears a detector's verdict, a block-type
/// indicator makes the entity malicious, `Warn` makes it at least suspicious, `Audit` and no
/// match leave the detector's verdict alone.
pub fn investigate(detector: DetectorVerdict, action: Option<Action>) -> DetectorVerdict {
    match action {
        Some(Action::Allowed) => DetectorVerdict::Clean,
        Some(Action::Block | Action::BlockAndRemediate) => DetectorVerdict::Malicious,
        Some(Action::Warn) if detector == DetectorVerdict::Clean => DetectorVerdict::Suspicious,
        _ => detector,
    }
}
