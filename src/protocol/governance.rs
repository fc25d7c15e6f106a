//! Cost and rate governance as people see it: each limit's use per agent or session, the
//! breakers that are open, what a budget escalation asks for, and the signed requests that
//! reset a breaker. See `docs/PROTOCOL.md`, `GET /v1/usage` and `POST /v1/breakers/reset`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::wire::Timestamp;

/// Whom a limit counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LimitScope {
    /// Every call of the agent, whatever its session.
    Agent,
    /// Each of the agent's sessions (a task) apart.
    Session,
}

/// Where a limit's use stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LimitState {
    Ok,
    /// Past `warn_at`: calls are flagged for review afterwards.
    Warning,
    /// At or past the limit (with any grace): the next call is denied or raises a budget
    /// escalation.
    Exceeded,
}

/// One limit's use in its current window, for one agent (`per = "agent"`) or one session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct LimitUse {
    /// The limit's id in the policy.
    pub limit: String,
    pub per: LimitScope,
    pub agent: String,
    /// The session, when `per` is `session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub window_secs: u64,
    #[schema(value_type = String, format = DateTime)]
    pub window_start: Timestamp,
    /// When this window ends and the use starts again from zero.
    #[schema(value_type = String, format = DateTime)]
    pub resets_at: Timestamp,
    pub calls: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u64>,
    /// The summed cost of the calls counted (reported actual costs replacing estimates).
    pub cost: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<f64>,
    /// Grace approved in this window through budget escalations, added to the maxima.
    #[serde(default)]
    pub grace_calls: u64,
    #[serde(default)]
    pub grace_cost: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_at: Option<f64>,
    /// The larger of calls and cost as a share of its maximum (with grace), 0 to 1 and beyond.
    pub share: f64,
    pub state: LimitState,
}

/// Where a breaker stands for one agent; closed breakers are not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Every call of the agent is denied until `until` (the cooldown) or an operator's reset.
    Open,
    /// The cooldown passed: the next call goes through to be judged, and decides.
    HalfOpen,
}

/// A breaker that is open (or half-open) for an agent: why and since when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct BreakerStatus {
    /// The breaker's id in the policy.
    pub breaker: String,
    pub agent: String,
    pub state: BreakerState,
    /// What tripped it, e.g. "6 escalations within 10m (max 5)".
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// When the cooldown ends and one call goes through.
    #[schema(value_type = String, format = DateTime)]
    pub until: Timestamp,
}

/// Most limit uses one `GET /v1/usage` answer lists: sessions are the agent's to name, so a
/// per-session limit could otherwise make the answer (and every console reading it) as large
/// as an agent likes. The fullest are listed.
pub const MAX_USAGE_ROWS: usize = 500;

/// `GET /v1/usage`: every limit in use (the fullest [`MAX_USAGE_ROWS`]) and every breaker not
/// closed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct UsageReport {
    #[serde(default)]
    pub limits: Vec<LimitUse>,
    /// Limit uses left out to keep the answer bounded (the least used ones).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: u64,
    #[serde(default)]
    pub breakers: Vec<BreakerStatus>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a budget escalation asks: more room in one limit's window. Approved, the grace is
/// added for the rest of the window, and the call that raised it runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct BudgetAsk {
    /// The limit's use when the call was held.
    pub usage: LimitUse,
    #[serde(default)]
    pub grace_calls: u64,
    #[serde(default)]
    pub grace_cost: f64,
}

/// What an operator signs to reset an agent's breakers (purpose `breaker-reset`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerResetBody {
    /// `agent:ID`.
    #[schema(pattern = "^agent:.+$")]
    pub scope: String,
    /// One breaker's id; absent: every breaker open for the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<String>,
    pub reason: String,
    pub operator: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedBreakerReset {
    #[serde(flatten)]
    pub body: BreakerResetBody,
    /// Base64 Ed25519 signature, by the operator's roster key, of every other field.
    pub signature: String,
}

/// `POST /v1/actions/{id}/cost`: the actual cost of a finished call, which replaces its
/// estimate in every limit that counted it. Finite and not negative.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostReport {
    pub cost: f64,
}

/// The answer to a cost report: the cost now recorded for the call, and the agent's limits'
/// use with it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CostRecorded {
    pub action: String,
    pub cost: f64,
    /// The cost the call had before (its estimate, or an earlier report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<f64>,
    /// Whether a current window counted the call, so the limits' use changed with it.
    pub counted: bool,
    #[serde(default)]
    pub limits: Vec<LimitUse>,
}
