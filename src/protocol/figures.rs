//! The governance figures of a window of time (`GET /v1/governance`): how often policy says no,
//! how often a person is asked, how fast people decide, who approves what and how fast (a
//! rubber-stamp signal), how often asks expire, how fast a kill switch bites, and per-bucket
//! counts for sparklines. Every rate is a share (0..1) with the counts it was made from beside
//! it, and `None` when there was nothing to divide by.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::wire::Timestamp;

/// Buckets in [`GovernanceFigures::series`].
pub const FIGURE_BUCKETS: usize = 24;
/// At most this many people in [`GovernanceFigures::approvals_per_person`] (most approvals
/// first).
pub const MAX_FIGURE_PEOPLE: usize = 50;
/// At most this many kill switch flips in [`GovernanceFigures::killswitch_to_first_deny`]
/// (latest first).
pub const MAX_FIGURE_FLIPS: usize = 20;

/// The windows a console offers; the server takes any duration from a minute to 31 days.
pub const FIGURE_WINDOWS: [&str; 4] = ["15m", "1h", "24h", "7d"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct GovernanceFigures {
    pub window_secs: u64,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// Calls submitted in the window.
    pub calls: u64,
    /// Calls denied by a policy rule or by no rule matching.
    pub policy_denies: u64,
    /// Calls denied by a kill switch, a breaker or a limit (not counted in `policy_denies`).
    pub governance_denies: u64,
    /// Calls sent to a person for review (`effect = review`).
    pub reviews: u64,
    /// Calls allowed and flagged for a look afterwards (`effect = flag`).
    pub flags: u64,
    /// `policy_denies / calls`.
    pub policy_deny_rate: Option<f64>,
    /// `(reviews + flags) / calls`: the share of calls a person was asked about, before or
    /// after.
    pub intervention_rate: Option<f64>,
    /// Escalations that ended in the window, however they ended.
    pub resolved: u64,
    /// Escalations that ended in the window by people's votes (approved or denied).
    pub decided: u64,
    /// Escalations that ended in the window by running out of time.
    pub expired: u64,
    /// Over `decided`: from the escalation's creation to its resolution.
    pub time_to_decide_mean_secs: Option<f64>,
    pub time_to_decide_p90_secs: Option<f64>,
    /// `expired / resolved`.
    pub expiry_rate: Option<f64>,
    /// Votes cast on the escalations that ended in the window, per person, most approvals
    /// first (at most [`MAX_FIGURE_PEOPLE`]).
    pub approvals_per_person: Vec<PersonFigures>,
    /// Kill switches turned on in the window, latest first (at most [`MAX_FIGURE_FLIPS`]).
    pub killswitch_to_first_deny: Vec<KillswitchBite>,
    /// The window cut into [`FIGURE_BUCKETS`] equal buckets, oldest first.
    pub series: Vec<FigureBucket>,
}

/// One person's votes in the window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PersonFigures {
    pub person: String,
    pub approvals: u64,
    pub denials: u64,
    /// The median time from an escalation's creation to this person's approval of it (the
    /// approval's signed `issued_at`, never below zero).
    pub median_secs_to_approve: Option<f64>,
}

impl PersonFigures {
    /// Many approvals, each given within seconds of the ask: someone approving without
    /// reading. A signal to look at, not a verdict.
    pub fn looks_rubber_stamped(&self) -> bool {
        self.approvals >= RUBBER_STAMP_MIN_APPROVALS
            && self
                .median_secs_to_approve
                .is_some_and(|s| s < RUBBER_STAMP_MAX_MEDIAN_SECS)
    }
}

/// At least this many approvals in the window...
pub const RUBBER_STAMP_MIN_APPROVALS: u64 = 5;
/// ...with a median time to approve below this, mark a likely rubber stamp.
pub const RUBBER_STAMP_MAX_MEDIAN_SECS: f64 = 10.0;

/// A kill switch turned on, and how long until it denied its first call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct KillswitchBite {
    pub scope: String,
    #[schema(value_type = String, format = DateTime)]
    pub flipped_at: Timestamp,
    /// `None`: no call was denied by it in the window after the flip.
    pub first_deny_after_secs: Option<f64>,
}

/// One bucket of the window: calls by when they were submitted, escalation ends by when they
/// ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FigureBucket {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    pub calls: u64,
    /// Every deny, policy and governance alike.
    pub denies: u64,
    pub reviews: u64,
    pub decided: u64,
    pub expired: u64,
}

/// `part / whole`, or `None` when `whole` is zero.
pub fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}
