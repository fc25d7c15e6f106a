//! Every transition of the escalation state machine, and every refusal code a vote can get.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use super::machine::*;
use crate::protocol::{
    ActionRecord, DecisionBody, Effect, Escalation, EscalationState, PersonInfo, Role, RuleRef,
    SignedDecision, Timestamp, Vote,
};
use crate::server::store::ExpiryPlan;

mod deadlines;
mod refusals;
mod votes;

pub(super) fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
}

/// Pending, for group `finance`, two approvals, owner `olga` kept apart, on behalf of `rita`,
/// deadline five minutes after `t0`.
pub(super) fn escalation() -> Escalation {
    let now = t0();
    Escalation {
        id: "esc_1".into(),
        action: ActionRecord {
            id: "act_1".into(),
            agent: "refund-bot".into(),
            tool: "stripe.refund".into(),
            args: json!({"amount": 80}),
            session: "s".into(),
            on_behalf_of: Some("rita".into()),
            rationale: None,
            cost: None,
            parent: None,
            context: json!({}),
            submitted_at: now,
            policy_version: "v".into(),
        },
        digest: "sha256:aa".into(),
        rule: RuleRef {
            id: "refunds".into(),
            effect: Effect::Review,
            reason: "refunds are reviewed".into(),
            condition: None,
            grantable: false,
        },
        history: Vec::new(),
        agent_owner: Some("olga".into()),
        group: "finance".into(),
        approvals_required: 2,
        separate_owner: true,
        created_at: now,
        deadline: now + Duration::minutes(5),
        agent_deadline: None,
        handed_over: false,
        state: EscalationState::Pending,
        resolved_at: None,
        resolution_reason: None,
        decisions: Vec::new(),
        budget: None,
        handling: Default::default(),
        elided: Vec::new(),
    }
}

pub(super) fn approver(id: &str, group: &str) -> PersonInfo {
    PersonInfo {
        id: id.into(),
        name: id.into(),
        roles: vec![Role::Approver],
        groups: vec![group.into()],
    }
}

/// A decision by `who`, signed (as far as the machine cares) one minute after `t0`.
pub(super) fn decision(who: &str, verdict: Vote, reason: &str) -> SignedDecision {
    SignedDecision {
        body: DecisionBody {
            escalation: "esc_1".into(),
            digest: "sha256:aa".into(),
            verdict,
            reason: reason.into(),
            approver: who.into(),
            issued_at: (t0() + Duration::minutes(1)).to_rfc3339(),
        },
        signature: format!("sig-{who}-{verdict:?}"),
    }
}

pub(super) fn now() -> Timestamp {
    t0() + Duration::minutes(1)
}

pub(super) fn counted(b: Result<Ballot, Refusal>) -> Step {
    match b {
        Ok(Ballot::Counted(step)) => *step,
        other => panic!("expected a counted vote, got {other:?}"),
    }
}

pub(super) fn plan(escalate_to: Option<&str>) -> ExpiryPlan {
    ExpiryPlan {
        escalate_to: escalate_to.map(str::to_string),
        timeout_secs: 600,
    }
}
