//! The policy enforcement point: every agent tool call passes through `submit`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use super::audit::AuditEntry;
use super::error::ApiError;
use super::policy::{EvalInput, OnExpiry};
use super::roster::{Agent, OnBehalfOfError};
use super::store::{ActionWrite, ExpiryPlan, Op, Reply};
use super::{queue, App};
use crate::protocol::{
    action_digest, ActionOutcome, ActionRecord, ActionRequest, ActionSummary, DigestInput, Effect,
    Escalation, EscalationState, FlaggedAction, ServerMessage, Verdict, MAX_NAME_LEN, MAX_TEXT_LEN,
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

    let (effect, rule_index, reason) = match kill_switch_for(app, &record.agent, &record.tool) {
        Some((scope, why)) => (Effect::Deny, None, kill_reason(&scope, &why)),
        None => {
            let eval = app.policy.evaluate(&EvalInput {
                agent: &record.agent,
                tool: &record.tool,
                args: &record.args,
                session: &record.session,
                context: &record.context,
                on_behalf_of: record.on_behalf_of.as_deref(),
                cost: record.cost,
                rationale: record.rationale.as_deref(),
            });
            let reason = match eval.rule {
                Some(i) if eval.errored => format!(
                    "{} (its condition could not be evaluated for this call, which never loosens policy)",
                    app.policy.rules[i].reason
                ),
                Some(i) => app.policy.rules[i].reason.clone(),
                None => "no policy rule allows this call (deny by default)".to_string(),
            };
            (eval.effect, eval.rule, reason)
        }
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
    match (effect, rule) {
        (Effect::Review, Some(rule)) => {
            let spec = rule
                .review
                .as_ref()
                .expect("review rules carry a review spec");
            let deadline = now + chrono::Duration::from_std(spec.timeout).unwrap_or_default();
            let esc = Escalation {
                id: new_id("esc"),
                action: record.clone(),
                digest: digest.clone(),
                rule: rule.to_ref(),
                history: Vec::new(),
                agent_owner: agent.owner.clone(),
                group: spec.group.clone(),
                approvals_required: spec.approvals,
                separate_owner: spec.separate_owner,
                created_at: now,
                deadline,
                handed_over: false,
                state: EscalationState::Pending,
                resolved_at: None,
                resolution_reason: None,
                decisions: Vec::new(),
                elided: Vec::new(),
            };
            let plan = ExpiryPlan {
                escalate_to: match spec.on_expiry {
                    OnExpiry::Escalate => spec.escalate_to.clone(),
                    OnExpiry::Deny => None,
                },
                timeout_secs: spec.timeout.as_secs(),
            };
            escalation = Some((esc, plan));
        }
        (Effect::Flag, Some(rule)) => {
            flagged = Some(FlaggedAction {
                action: record.clone(),
                rule: rule.to_ref(),
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
            "submitted_at": record.submitted_at,
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
