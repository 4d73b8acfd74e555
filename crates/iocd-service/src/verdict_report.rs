//! A verdict explained: the action, the indicator that won, the rule that decided and every
//! indicator that matched with the facts the policy used. The HTTP API's match results and
//! the CLI's `iocd match` and `iocd scan` output share this shape.

use iocd_engine::{Candidate, Verdict};
use iocd_model::{Action, IndicatorType, Timestamp};
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
    /// `true` for a `Warn` verdict: the user may continue (see `POST /api/match/bypass`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypassable: Option<bool>,
    /// For a `Warn` verdict, how long a user's bypass lasts (the indicator's, else 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass_duration_hours: Option<i64>,
    /// For `Warn` and `Block` verdicts, the winning indicator's notification fields, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub educate_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_body: Option<String>,
    /// When a user bypassed the warning on this device: until when the device is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypassed_until: Option<String>,
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
    /// The report of a `Warn` a user bypassed on this device until `until`: `Allowed`, decided
    /// by the `bypass` rule.
    pub fn bypassed(mut self, until: Timestamp) -> VerdictReport {
        self.action = Some(Action::Allowed);
        self.rule = Some("bypass".to_owned());
        self.blocks = false;
        self.raises_alert = false;
        self.bypassable = None;
        self.bypass_duration_hours = None;
        self.bypassed_until = Some(until.to_mde_seconds());
        self
    }
}

/// How long a user's bypass of a `Warn` lasts when the indicator does not say (MDE's default).
pub const DEFAULT_BYPASS_HOURS: i64 = 24;

impl VerdictReport {
    /// The report of a verdict that matched nothing (also used for items that failed).
    pub fn none() -> VerdictReport {
        VerdictReport::from(&Verdict::default())
    }

    /// Adds what the device shows the user for a `Warn` or `Block` verdict: the winning
    /// indicator's notification fields and, for `Warn`, its bypass duration.
    pub fn with_notice(mut self, notice: Option<&crate::notices::Notice>) -> VerdictReport {
        let shows = matches!(
            self.action,
            Some(Action::Warn | Action::Block | Action::BlockAndRemediate)
        );
        if let (true, Some(notice)) = (shows, notice) {
            self.application = notice.application.clone();
            self.educate_url = notice.educate_url.clone();
            self.notification_body = notice.notification_body.clone();
            if self.action == Some(Action::Warn) {
                self.bypass_duration_hours =
                    Some(notice.bypass_duration_hours.unwrap_or(DEFAULT_BYPASS_HOURS));
            }
        }
        self
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
            bypassable: (verdict.action() == Some(Action::Warn)).then_some(true),
            bypass_duration_hours: (verdict.action() == Some(Action::Warn))
                .then_some(DEFAULT_BYPASS_HOURS),
            application: None,
            educate_url: None,
            notification_body: None,
            bypassed_until: None,
        }
    }
}
