//! What a judged call becomes: its record, its digest, the escalation or flag it raises, its
//! summary and its audit record. Each built once, from the record.

use crate::protocol::{
    action_digest, ActionRecord, ActionRequest, ActionSummary, DigestInput, Effect, Escalation,
    EscalationState, FlaggedAction, Handling, RuleRef, Timestamp,
};
use crate::server::error::ApiError;
use crate::server::policy::{Expiry, Review, Rule};
use crate::server::roster::Agent;
use crate::server::store::ExpiryPlan;

fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!("{prefix}_{}", hex::encode(bytes))
}

pub(super) fn action_record(
    agent: &Agent,
    req: ActionRequest,
    on_behalf_of: Option<String>,
    policy_version: &str,
    now: Timestamp,
) -> ActionRecord {
    ActionRecord {
        id: new_id("act"),
        agent: agent.id.clone(),
        tool: req.tool,
        args: req.args,
        session: req.session,
        on_behalf_of,
        rationale: req.rationale,
        cost: req.cost,
        parent: req.parent,
        context: req.context,
        submitted_at: now,
        policy_version: policy_version.to_string(),
    }
}

/// What an approver signs: the call as it will run, under this policy.
pub(super) fn digest(r: &ActionRecord) -> Result<String, ApiError> {
    action_digest(&DigestInput {
        agent: &r.agent,
        tool: &r.tool,
        args: &r.args,
        session: &r.session,
        on_behalf_of: r.on_behalf_of.as_deref(),
        policy_version: &r.policy_version,
    })
    .map_err(|e| ApiError::bad_request("invalid_request", format!("the action {e}")))
}

/// The rule, with the reason shown to approvers and the agent: it says what raised a review,
/// if anything did.
fn rule_ref(rule: &Rule, reason: &str) -> RuleRef {
    RuleRef {
        reason: reason.to_string(),
        ..rule.to_ref()
    }
}

/// The escalation a review raises (its history is filled in by the store, in the same
/// transaction as the action), and what its deadline does.
pub(super) fn escalation(
    record: &ActionRecord,
    digest: &str,
    agent: &Agent,
    rule: &Rule,
    review: &Review,
    deadline: Timestamp,
    reason: &str,
) -> (Escalation, ExpiryPlan) {
    let spec = &review.spec;
    let esc = Escalation {
        id: new_id("esc"),
        action: record.clone(),
        digest: digest.to_string(),
        rule: rule_ref(rule, reason),
        history: Vec::new(),
        agent_owner: agent.owner.clone(),
        group: spec.group.clone(),
        approvals_required: spec.approvals,
        separate_owner: spec.separate_owner,
        created_at: record.submitted_at,
        deadline,
        agent_deadline: None,
        handed_over: false,
        state: EscalationState::Pending,
        resolved_at: None,
        resolution_reason: None,
        decisions: Vec::new(),
        budget: None,
        handling: Handling {
            extend_allowed_secs: spec.extend.map_or(0, |d| d.as_secs()),
            escalate_to: match &spec.expiry {
                Expiry::Escalate(group) => Some(group.clone()),
                Expiry::Deny => None,
            },
            ..Handling::default()
        },
        elided: Vec::new(),
    };
    let plan = ExpiryPlan {
        escalate_to: match &spec.expiry {
            Expiry::Escalate(group) => Some(group.clone()),
            Expiry::Deny => None,
        },
        timeout_secs: spec.timeout.as_secs(),
    };
    (esc, plan)
}

pub(super) fn flagged(record: &ActionRecord, rule: &Rule, reason: &str) -> FlaggedAction {
    FlaggedAction {
        action: record.clone(),
        rule: rule_ref(rule, reason),
        flagged_at: record.submitted_at,
        review: None,
        elided: Vec::new(),
    }
}

/// How the call was judged, as the store, the audit log and the console see it.
pub(super) struct Judged<'a> {
    pub effect: Effect,
    pub rule: Option<String>,
    pub reason: &'a str,
}

pub(super) fn summary(record: &ActionRecord, judged: &Judged<'_>) -> ActionSummary {
    ActionSummary {
        id: record.id.clone(),
        agent: record.agent.clone(),
        tool: record.tool.clone(),
        session: record.session.clone(),
        effect: judged.effect,
        rule: judged.rule.clone(),
        reason: judged.reason.to_string(),
        at: record.submitted_at,
        grant: None,
    }
}
