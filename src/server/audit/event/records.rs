//! The body of each kind of record: the keys the server has always written.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::{empty_object, Effect, FlagVerdict, Resolution, Timestamp, Vote};

/// The server started, with this configuration and key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStart {
    pub version: String,
    pub policy_digest: String,
    pub policy_version: String,
    pub roster_digest: String,
    /// The key the server signs checkpoints with; `gavel audit verify` checks it is the log's.
    pub server_public_key: String,
    pub policy_file: String,
    pub roster_file: String,
}

/// A call an agent submitted and what the policy said about it.
///
/// What the call did not use is left out of the record, not written as `null`, `{}` or `[]`
/// (records written before did write them, and read the same): most calls have no principal,
/// rationale, cost, parent, context or other rules, and the log keeps every call. So is the
/// digest of a call no person signs (one allowed or denied outright): it is the digest of the
/// record's own fields, which anyone can compute again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionTaken {
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub args: Value,
    pub session: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_object")]
    pub context: Value,
    /// The call's digest, for a call a person reviews (`review` or `flag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub policy_version: String,
    pub effect: Effect,
    pub rule: Option<String>,
    pub reason: String,
    /// Absent from records written before it was recorded.
    #[serde(default)]
    pub submitted_at: Option<Timestamp>,
    /// Other rules that asked for the review (absent from records written before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raised_by: Vec<String>,
    /// The call's `Idempotency-Key`, when it sent one (absent otherwise, and from records
    /// written before keys existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The standing grant that allowed the call instead of a review (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationCreated {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub digest: String,
    pub rule: String,
    pub group: String,
    pub approvals_required: u32,
    pub deadline: Timestamp,
    /// The ids of the session's earlier calls shown beside it.
    pub history: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationHandedOver {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub from: String,
    pub to: String,
    pub deadline: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationResolved {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub resolution: Option<Resolution>,
    pub reason: Option<String>,
    pub deciders: Vec<Decider>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decider {
    pub approver: String,
    pub verdict: Vote,
}

/// A pending escalation whose row could not be loaded at start, denied then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationUnreadable {
    pub escalation: String,
    pub action: String,
    pub agent: Option<String>,
    pub problem: String,
    pub resolution: Resolution,
}

/// How a retried call found the earlier action it was answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryMatch {
    /// The same digest (agent, tool, args, session, on_behalf_of, policy) as a pending
    /// escalation: the call attached to it.
    PendingEscalation,
    /// The same `Idempotency-Key` and body as an earlier call of the agent.
    IdempotencyKey,
}

/// A call answered with an earlier action's outcome instead of becoming an action itself: the
/// trace of a retry. `action` and `escalation` are the earlier ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retried {
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub session: String,
    pub escalation: Option<String>,
    #[serde(rename = "match")]
    pub matched: RetryMatch,
    /// The retry's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Withdrawn {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub digest: String,
    pub verdict: Vote,
    pub reason: String,
    pub approver: String,
    pub issued_at: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillswitchFlipped {
    pub scope: String,
    pub on: bool,
    pub reason: String,
    pub operator: String,
    pub issued_at: String,
    pub signature: String,
    /// The agent an `agent:` scope names.
    pub agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagReviewed {
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub review: FlagVerdict,
    pub note: String,
    pub reviewer: String,
    pub issued_at: String,
    pub signature: String,
}

/// One refused request of an authenticated caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    /// Who was refused: the record's actor, not part of its body.
    #[serde(skip)]
    pub actor: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// Action rows of allowed and denied calls submitted before `before` may be deleted from the
/// actions table from here on, and `count` of them were, by the commit that wrote this record.
/// The log keeps every call's own record: it is the rows, a working copy the enforcement point
/// reads, that are kept for a time (`keep_actions`). Escalated and flagged calls keep theirs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionsPruned {
    pub before: Timestamp,
    pub count: u64,
}

/// One window of counted refusals of unauthenticated requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalCounts {
    pub since: Timestamp,
    pub until: Timestamp,
    pub total: u64,
    pub counts: Vec<RefusalCount>,
    pub other: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCount {
    pub status: u16,
    pub code: String,
    pub method: String,
    pub path: String,
    pub claimed_person: Option<String>,
    pub count: u64,
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(serde_json::Map::is_empty)
}
