//! JSON messages of the HTTP and WebSocket API (`/v1`). See `docs/PROTOCOL.md`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::stream::Elided;

pub type Timestamp = DateTime<Utc>;

/// Largest request body the server accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest identifier-like string (tool, session, on_behalf_of, parent).
pub const MAX_NAME_LEN: usize = 256;
/// Longest rationale or reason.
pub const MAX_TEXT_LEN: usize = 4096;
/// How far a signed `issued_at` may be from the server's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// What a policy rule says about a call.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Flag,
    Review,
    Deny,
}

impl Effect {
    /// deny > review > flag > allow
    pub fn precedence(self) -> u8 {
        self as u8
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Flag => "flag",
            Effect::Review => "review",
            Effect::Deny => "deny",
        }
    }
}

/// What the agent is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
    Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Approved,
    Denied,
    Expired,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EscalationState {
    Pending,
    Approved,
    Denied,
    Expired,
    Cancelled,
}

impl EscalationState {
    pub fn resolution(self) -> Option<Resolution> {
        match self {
            EscalationState::Pending => None,
            EscalationState::Approved => Some(Resolution::Approved),
            EscalationState::Denied => Some(Resolution::Denied),
            EscalationState::Expired => Some(Resolution::Expired),
            EscalationState::Cancelled => Some(Resolution::Cancelled),
        }
    }
}

/// `POST /v1/actions` body. The agent's identity comes from its bearer token, never from here.
///
/// Fields this version does not know are ignored (a newer client's additions), never stored and
/// never part of the digest; a client that needs one understood lists it in `critical` (see
/// [`super::ActionSubmission`]). Duplicate keys and wrong types are still refused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ActionRequest {
    /// The tool called, e.g. `stripe.refund`: not blank, at most 256 bytes.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub tool: String,
    /// The call's arguments, as the tool would receive them (`{}` when absent).
    #[serde(default = "empty_object")]
    pub args: Value,
    /// The agent's session: not blank, at most 256 bytes.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub session: String,
    /// The roster person the call is for: one of the agent's `acts_for` (at most 256 bytes).
    #[serde(default)]
    #[schema(max_length = 256)]
    pub on_behalf_of: Option<String>,
    /// Why the agent makes the call, shown to approvers (at most 4096 bytes).
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub rationale: Option<String>,
    /// What the call costs, in the agent's own unit; not negative.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub cost: Option<f64>,
    /// The task this call is part of (at most 256 bytes).
    #[serde(default)]
    #[schema(max_length = 256)]
    pub parent: Option<String>,
    /// Free-form facts from the adapter (cwd, permission mode, MCP server…), visible to CEL.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub context: Value,
}

pub fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// The answer to `POST /v1/actions` and `GET /v1/actions/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ActionOutcome {
    pub id: String,
    pub verdict: Verdict,
    #[serde(default)]
    pub rule: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<SignedDecision>,
    /// True when the call was allowed but entered the flagged queue for later review.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flagged: bool,
    /// Where the review of an escalated call stands: who is asked, how many approvals are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewStatus>,
    /// The standing grant that allowed this call instead of a review (`grt_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}

/// The review of an escalated call as its agent sees it: enough to tell a person who is
/// waiting what for ("waiting for finance, 0/1 approvals"), and the digest the decisions sign.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ReviewStatus {
    /// The approver group asked now (changes once, on a hand-over to `escalate_to`).
    pub group: String,
    pub approvals_required: u32,
    pub approvals_received: u32,
    /// The escalation's digest: every decision on it signs this value.
    pub digest: String,
}

impl ReviewStatus {
    pub fn of(esc: &Escalation) -> ReviewStatus {
        ReviewStatus {
            group: esc.group.clone(),
            approvals_required: esc.approvals_required,
            approvals_received: esc.approvals_received(),
            digest: esc.digest.clone(),
        }
    }
}

/// An action as the server recorded it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ActionRecord {
    pub id: String,
    pub agent: String,
    pub tool: String,
    pub args: Value,
    pub session: String,
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    #[serde(default)]
    pub rationale: Option<String>,
    #[serde(default)]
    pub cost: Option<f64>,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default = "empty_object")]
    pub context: Value,
    #[schema(value_type = String, format = DateTime)]
    pub submitted_at: Timestamp,
    pub policy_version: String,
}

/// One earlier call of the same session, shown beside an escalation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PriorCall {
    pub action: String,
    pub tool: String,
    pub args: Value,
    /// The policy outcome: allow, deny, review or flag.
    pub verdict: Effect,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// For a call that was itself escalated (`review`): its escalation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    /// That escalation's final outcome, when it was resolved before this escalation was
    /// raised (absent while it was still pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

/// The rule that matched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct RuleRef {
    pub id: String,
    pub effect: Effect,
    pub reason: String,
    #[serde(default)]
    pub condition: Option<String>,
    /// A review a standing grant may cover: the rule says `grantable = true`, asks for one
    /// approval, and no other rule raised this review's requirements.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grantable: bool,
}

/// Everything an approver needs to decide, and the state of the decision.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Escalation {
    pub id: String,
    pub action: ActionRecord,
    pub digest: String,
    pub rule: RuleRef,
    /// Up to three earlier calls of the same session, oldest first.
    pub history: Vec<PriorCall>,
    #[serde(default)]
    pub agent_owner: Option<String>,
    /// The approver group currently asked (changes once on an `escalate` hand-over).
    pub group: String,
    pub approvals_required: u32,
    pub separate_owner: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub deadline: Timestamp,
    /// When the agent side stops waiting for the outcome, if its adapter said
    /// (`wait_budget_secs`): an approval after this runs nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub agent_deadline: Option<Timestamp>,
    /// True once the escalation has been handed over to `escalate_to`.
    #[serde(default)]
    pub handed_over: bool,
    pub state: EscalationState,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    #[serde(default)]
    pub resolution_reason: Option<String>,
    #[serde(default)]
    pub decisions: Vec<SignedDecision>,
    /// Set on a budget escalation: the limit whose window it asks more room in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<super::governance::BudgetAsk>,
    /// Extensions, claim, snoozes and the secondary group (`protocol::handling`).
    #[serde(flatten)]
    pub handling: super::handling::Handling,
    /// What a stream message left out of this copy to stay within its bound (never in the REST
    /// API's answers, which are whole). See `protocol::stream`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elided: Vec<Elided>,
}

impl Escalation {
    pub fn approvals_received(&self) -> u32 {
        self.decisions
            .iter()
            .filter(|d| d.body.verdict == Vote::Approve)
            .count() as u32
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Vote {
    Approve,
    Deny,
}

/// What an approver signs (purpose `decision`). `issued_at` is an RFC 3339 string, signed as sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub escalation: String,
    pub digest: String,
    pub verdict: Vote,
    pub reason: String,
    pub approver: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedDecision {
    #[serde(flatten)]
    pub body: DecisionBody,
    /// Base64 Ed25519 signature, by the signer's roster key, of every other field.
    pub signature: String,
}

/// A kill switch scope: `global`, `agent:ID` or `tool:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Agent(String),
    Tool(String),
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s.split_once(':') {
            None if s == "global" => Some(Scope::Global),
            Some(("agent", id)) if !id.is_empty() => Some(Scope::Agent(id.to_string())),
            Some(("tool", name)) if !name.is_empty() => Some(Scope::Tool(name.to_string())),
            _ => None,
        }
    }

    pub fn covers(&self, agent: &str, tool: &str) -> bool {
        match self {
            Scope::Global => true,
            Scope::Agent(a) => a == agent,
            Scope::Tool(t) => t == tool,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Agent(a) => write!(f, "agent:{a}"),
            Scope::Tool(t) => write!(f, "tool:{t}"),
        }
    }
}

/// What an operator signs to flip a kill switch (purpose `killswitch`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchBody {
    /// `global`, `agent:ID` or `tool:NAME`.
    #[schema(pattern = "^(global|agent:.+|tool:.+)$")]
    pub scope: String,
    pub on: bool,
    pub reason: String,
    pub operator: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedKillSwitch {
    #[serde(flatten)]
    pub body: KillSwitchBody,
    /// Base64 Ed25519 signature, by the signer's roster key, of every other field.
    pub signature: String,
}

/// The state of one kill switch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct KillSwitch {
    pub scope: String,
    pub on: bool,
    pub reason: String,
    pub by: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// The answer to a flip: the switch's new state (flattened, so a client that expects a bare
/// `KillSwitch` still reads it) and the pending escalations it cancelled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct FlipAck {
    #[serde(flatten)]
    pub killswitch: KillSwitch,
    /// Ids of the pending escalations this flip cancelled (empty for an "off").
    #[serde(default)]
    pub cancelled: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlagVerdict {
    Acknowledge,
    Incident,
}

/// What a lead signs to review a flagged action (purpose `flag-review`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagReviewBody {
    pub action: String,
    pub review: FlagVerdict,
    pub note: String,
    pub reviewer: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedFlagReview {
    #[serde(flatten)]
    pub body: FlagReviewBody,
    /// Base64 Ed25519 signature, by the signer's roster key, of every other field.
    pub signature: String,
}

/// An allowed action that matched a `flag` rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FlaggedAction {
    pub action: ActionRecord,
    pub rule: RuleRef,
    #[schema(value_type = String, format = DateTime)]
    pub flagged_at: Timestamp,
    #[serde(default)]
    pub review: Option<SignedFlagReview>,
    /// What a stream message left out of this copy (see `Escalation::elided`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elided: Vec<Elided>,
}

/// What a person signs to read a people-only endpoint (purpose `request`), sent as the headers
/// `x-gavel-person`, `x-gavel-time` and `x-gavel-signature`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedRequest {
    pub method: String,
    /// Path and query, e.g. `/v1/audit?agent=refund-bot`.
    pub path: String,
    pub person: String,
    pub time: String,
}

pub const HEADER_PERSON: &str = "x-gavel-person";
pub const HEADER_TIME: &str = "x-gavel-time";
pub const HEADER_SIGNATURE: &str = "x-gavel-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Approver,
    Lead,
    Operator,
    Auditor,
}

/// A roster person as others see them (no key material beyond the public key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PersonInfo {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub groups: Vec<String>,
}

impl PersonInfo {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AgentInfo {
    pub id: String,
    #[serde(default)]
    pub owner: Option<String>,
}

/// A one-line summary of an action, for activity views.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ActionSummary {
    pub id: String,
    pub agent: String,
    pub tool: String,
    pub session: String,
    pub effect: Effect,
    #[serde(default)]
    pub rule: Option<String>,
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The standing grant that allowed it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}

/// `{"error": {"code", "message"}}`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `POST` answers for decisions, flips and reviews.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DecisionAck {
    pub escalation: Box<Escalation>,
    /// False when this exact decision had been accepted before (idempotent resubmission).
    pub recorded: bool,
}

/// One audit record, as `GET /v1/audit` returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AuditRecord {
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub time: Timestamp,
    pub kind: String,
    pub actor: String,
    pub body: Value,
    pub prev_hash: String,
    pub hash: String,
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        for s in ["global", "agent:refund-bot", "tool:stripe.refund"] {
            assert_eq!(Scope::parse(s).unwrap().to_string(), s);
        }
        for bad in ["", "agent:", "tool:", "everything", "global:x"] {
            assert_eq!(Scope::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn precedence_is_deny_review_flag_allow() {
        let mut e = vec![Effect::Allow, Effect::Deny, Effect::Flag, Effect::Review];
        e.sort_by_key(|e| std::cmp::Reverse(e.precedence()));
        assert_eq!(
            e,
            vec![Effect::Deny, Effect::Review, Effect::Flag, Effect::Allow]
        );
    }
}
