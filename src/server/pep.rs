//! The policy enforcement point: every agent tool call passes through `submit`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use super::audit::AuditEntry;
use super::error::ApiError;
use super::policy::{Decision, EvalInput, Expiry};
use super::roster::{Agent, OnBehalfOfError};
use super::store::{ActionWrite, ExpiryPlan, Op, Reply};
use super::{queue, App};
use crate::protocol::{
    action_digest, ActionOutcome, ActionRecord, ActionRequest, ActionSummary, DigestInput, Effect,
    Escalation, EscalationState, FlaggedAction, RuleRef, ServerMessage, Verdict, MAX_NAME_LEN,
    MAX_TEXT_LEN,
};

pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!("{prefix}_{}", hex::encode(bytes))
}

fn check_len(field: &str, value: &str, max: usize, required: bool) -> Result<(), ApiError> {
    if required && value.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`{field}` must not be empty"),
        ));
    }
    if value.len() > max {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`{field}` is {} bytes; at most {max} allowed", value.len()),
        ));
    }
    Ok(())
}

fn validate(req: &ActionRequest) -> Result<(), ApiError> {
    check_len("tool", &req.tool, MAX_NAME_LEN, true)?;
    check_len("session", &req.session, MAX_NAME_LEN, true)?;
    for (field, v) in [("on_behalf_of", &req.on_behalf_of), ("parent", &req.parent)] {
        if let Some(v) = v {
            check_len(field, v, MAX_NAME_LEN, false)?;
        }
    }
    if let Some(r) = &req.rationale {
        check_len("rationale", r, MAX_TEXT_LEN, false)?;
    }
    if let Some(c) = req.cost {
        if !c.is_finite() || c < 0.0 {
            return Err(ApiError::bad_request(
                "invalid_request",
                "`cost` must be a non-negative number",
            ));
        }
    }
    if !req.context.is_object() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`context` must be a JSON object",
        ));
    }
    Ok(())
}

/// The first kill switch that is on for this agent and tool.
fn kill_switch_for(app: &App, agent: &str, tool: &str) -> Option<(String, String)> {
    let kill = app.kill.read().unwrap_or_else(|e| e.into_inner());
    kill.values()
        .filter(|k| k.on)
        .find(|k| crate::protocol::Scope::parse(&k.scope).is_some_and(|s| s.covers(agent, tool)))
        .map(|k| (k.scope.clone(), k.reason.clone()))
}

pub fn kill_reason(scope: &str, reason: &str) -> String {
    format!("kill switch {scope} is on: {reason}")
}

pub async fn submit(
    app: &Arc<App>,
    agent: &Agent,
    req: ActionRequest,
) -> Result<ActionOutcome, ApiError> {
    validate(&req)?;
    let on_behalf_of = agent
        .on_behalf_of(req.on_behalf_of.as_deref())
        .map_err(|e| match e {
            OnBehalfOfError::NotAllowed { .. } => {
                ApiError::forbidden("on_behalf_of_not_allowed", e.to_string())
            }
            OnBehalfOfError::Required { .. } => {
                ApiError::bad_request("on_behalf_of_required", e.to_string())
            }
        })?;
    let now = Utc::now();
    let record = ActionRecord {
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
        policy_version: app.policy.version.clone(),
    };

    let decision = match kill_switch_for(app, &record.agent, &record.tool) {
        Some((scope, why)) => Err(kill_reason(&scope, &why)),
        None => Ok(app.policy.evaluate(&EvalInput {
            agent: &record.agent,
            tool: &record.tool,
            args: &record.args,
            session: &record.session,
            context: &record.context,
            on_behalf_of: record.on_behalf_of.as_deref(),
            cost: record.cost,
            rationale: record.rationale.as_deref(),
        })),
    };
    // A review's deadline, checked; a review without one is refused rather than run unbounded.
    let review = match &decision {
        Ok(d @ Decision::Review(r)) => match crate::duration::deadline_after(now, r.spec.timeout) {
            Ok(deadline) => Ok(Some((r, deadline))),
            Err(e) => Err(format!(
                "{}; its deadline cannot be set ({e}), so the call is denied",
                app.policy.reason(d)
            )),
        },
        _ => Ok(None),
    };
    let (effect, rule_index, reason) = match (&decision, &review) {
        (Err(kill), _) => (Effect::Deny, None, kill.clone()),
        (Ok(_), Err(why)) => (Effect::Deny, None, why.clone()),
        (Ok(d), Ok(_)) => (d.effect(), d.rule(), app.policy.reason(d)),
    };
    let raised_by: Vec<String> = match &review {
        Ok(Some((r, _))) => r
            .raised_by
            .iter()
            .map(|&i| app.policy.rules[i].id.clone())
            .collect(),
        _ => Vec::new(),
    };
    let rule = rule_index.map(|i| &app.policy.rules[i]);
    let rule_id = rule.map(|r| r.id.clone());

    let digest = action_digest(&DigestInput {
        agent: &record.agent,
        tool: &record.tool,
        args: &record.args,
        session: &record.session,
        on_behalf_of: record.on_behalf_of.as_deref(),
        policy_version: &record.policy_version,
    })
    .map_err(|e| ApiError::bad_request("invalid_request", format!("the action {e}")))?;

    let mut escalation = None;
    let mut flagged = None;
    match (&review, rule) {
        (Ok(Some((r, deadline))), Some(rule)) => {
            let spec = &r.spec;
            let esc = Escalation {
                id: new_id("esc"),
                action: record.clone(),
                digest: digest.clone(),
                // The reason shown to approvers says what raised the review, if anything did.
                rule: RuleRef {
                    reason: reason.clone(),
                    ..rule.to_ref()
                },
                history: Vec::new(),
                agent_owner: agent.owner.clone(),
                group: spec.group.clone(),
                approvals_required: spec.approvals,
                separate_owner: spec.separate_owner,
                created_at: now,
                deadline: *deadline,
                handed_over: false,
                state: EscalationState::Pending,
                resolved_at: None,
                resolution_reason: None,
                decisions: Vec::new(),
                elided: Vec::new(),
            };
            let plan = ExpiryPlan {
                escalate_to: match &spec.expiry {
                    Expiry::Escalate(group) => Some(group.clone()),
                    Expiry::Deny => None,
                },
                timeout_secs: spec.timeout.as_secs(),
            };
            escalation = Some((esc, plan));
        }
        (_, Some(rule)) if effect == Effect::Flag => {
            flagged = Some(FlaggedAction {
                action: record.clone(),
                rule: RuleRef {
                    reason: reason.clone(),
                    ..rule.to_ref()
                },
                flagged_at: now,
                review: None,
                elided: Vec::new(),
            });
        }
        _ => {}
    }

    let audit = AuditEntry::new(
        "action",
        record.agent.clone(),
        json!({
            "action": record.id, "agent": record.agent, "tool": record.tool, "args": record.args,
            "session": record.session, "on_behalf_of": record.on_behalf_of, "rationale": record.rationale,
            "cost": record.cost, "parent": record.parent, "context": record.context, "digest": digest,
            "policy_version": record.policy_version, "effect": effect, "rule": rule_id, "reason": reason,
            "submitted_at": record.submitted_at, "raised_by": raised_by,
        }),
    );
    let summary = ActionSummary {
        id: record.id.clone(),
        agent: record.agent.clone(),
        tool: record.tool.clone(),
        session: record.session.clone(),
        effect,
        rule: rule_id.clone(),
        reason: reason.clone(),
        at: now,
    };
    let flagged_event = flagged.clone();
    let plan = escalation.as_ref().map(|(_, plan)| plan.clone());
    let reply = app
        .store
        .write(
            Op::Action(Box::new(ActionWrite {
                record,
                effect,
                rule: rule_id.clone(),
                reason: reason.clone(),
                escalation,
                flagged,
            })),
            vec![audit],
        )
        .await
        .map_err(ApiError::storage)?;

    let counter = match effect {
        Effect::Allow => &app.metrics.actions_allow,
        Effect::Deny => &app.metrics.actions_deny,
        Effect::Review => &app.metrics.actions_review,
        Effect::Flag => &app.metrics.actions_flag,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let _ = app.bus.send(ServerMessage::Action {
        action: summary.clone(),
    });
    if let Some(f) = flagged_event {
        let _ = app.bus.send(ServerMessage::Flagged {
            flagged: Box::new(f),
        });
    }

    let mut outcome = ActionOutcome {
        id: summary.id,
        verdict: match effect {
            Effect::Allow | Effect::Flag => Verdict::Allow,
            Effect::Deny => Verdict::Deny,
            Effect::Review => Verdict::Pending,
        },
        rule: rule_id,
        reason,
        escalation: None,
        deadline: None,
        resolution: None,
        decisions: Vec::new(),
        flagged: effect == Effect::Flag,
    };
    if let (Some(plan), Reply::Escalation(esc)) = (plan, reply) {
        outcome.escalation = Some(esc.id.clone());
        outcome.deadline = Some(esc.deadline);
        if let Some(final_outcome) = queue::enqueue(app, *esc, plan).await {
            // A kill switch flipped on while this call was being recorded.
            return Ok(final_outcome);
        }
    }
    Ok(outcome)
}
