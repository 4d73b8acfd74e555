//! A verdict explained: the action, the indicator that won, the rule that decided and every
//! indicator that matched with the facts the policy used. The HTTP API's match results and
//! the CLI's `iocd match` and `iocd scan` output share this shape.

use iocd_engine::{Candidate, Verdict};
use iocd_model::{Action, IndicatorType};
use serde::{Deserialize, Serialize};

/// The explanation of one verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerdictReport {
    /// The winning action; `None` when nothing matched.
    pub action: Option<Action>,
    /// The winning indicator.
    pub indicator_id: Option<String>,
    /// `only-match`, `strongest-hash`, `group-scope`, `longest-match`, `action-order` or
    /// `first-created`.
    pub rule: Option<String>,
    /// Every matching indicator id, winner first, in precedence order.
    pub matched: Vec<String>,
    pub blocks: bool,
    pub raises_alert: bool,
    pub explanation: Vec<MatchExplanation>,
}

/// One matching indicator and the facts the policy used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchExplanation {
    pub indicator_id: String,
    pub indicator_type: IndicatorType,
    pub action: Action,
    /// The indicator names device groups (and the device is in one of them).
    pub scoped: bool,
    /// How specific the match is (longer URL paths, deeper domains, longer prefixes score
    /// higher; every URL match beats every domain or IP match).
    pub specificity: u32,
    pub generate_alert: bool,
}

impl VerdictReport {
    /// The report of a verdict that matched nothing (also used for items that failed).
    pub fn none() -> VerdictReport {
        VerdictReport::from(&Verdict::default())
    }
}

impl From<&Verdict> for VerdictReport {
    fn from(verdict: &Verdict) -> Self {
        let explain = |candidate: &Candidate| MatchExplanation {
            indicator_id: candidate.id.to_string(),
            indicator_type: candidate.indicator_type,
            action: candidate.action,
            scoped: candidate.scoped,
            specificity: candidate.specificity,
            generate_alert: candidate.generate_alert,
        };
        VerdictReport {
            action: verdict.action(),
            indicator_id: verdict.winner().map(|winner| winner.id.to_string()),
            rule: verdict.rule.map(|rule| rule.as_str().to_owned()),
            matched: verdict.matched.iter().map(|c| c.id.to_string()).collect(),
            blocks: verdict.blocks(),
            raises_alert: verdict.raises_alert(),
            explanation: verdict.matched.iter().map(explain).collect(),
        }
    }
}
