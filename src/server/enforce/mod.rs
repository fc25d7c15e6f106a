//! The policy enforcement point: every agent tool call passes through `submit` — validated,
//! judged (kill switches, open breakers, then policy; then the breakers' trips and trials and
//! the anomaly flags), recorded with its audit record in one durable write,
//! announced, and, for a review, queued. A retry is answered with the earlier action instead
//! (`retry`): a repeated `Idempotency-Key`, or a review of a call whose escalation is pending.

mod anomaly;
mod breaker;
mod granted;
mod limits;
mod record;
mod retry;
mod ruling;
mod validate;

use std::time::Instant;

use chrono::Utc;

use super::app::App;
use super::error::ApiError;
use super::roster::Agent;
use super::store::{ActionWrite, Op, Reply};
use crate::protocol::{ActionOutcome, ActionRequest, Effect, ReviewStatus, ServerMessage, Verdict};
use crate::server::audit::AuditEvent;
use record::Judged;
use ruling::Outcome;

/// Judges and records one call. `wait_budget` is the request's `wait_budget_secs` (how long
/// the agent side waits), `key` its `Idempotency-Key`, if it sent them.
pub async fn submit(
    app: &App,
    agent: &Agent,
    req: ActionRequest,
    wait_budget: Option<f64>,
    key: Option<&str>,
) -> Result<ActionOutcome, ApiError> {
    let started = Instant::now();
    validate::validate(&req)?;
    validate::wait_budget(wait_budget)?;
    let on_behalf_of = validate::on_behalf_of(agent, req.on_behalf_of.as_deref())?;
    // Held until this call is recorded: a second call with the key waits, then replays.
    let _key_turn = match key {
        Some(k) => Some(app.arrivals.keys.hold(&[&agent.id, k]).await),
        None => None,
    };
    let key = key
        .map(|k| retry::key_write(&agent.id, k, &req))
        .transpose()?;
    let earlier = match &key {
        Some(k) => retry::earlier(app, k).await?,
        None => None,
    };
    let now = Utc::now();
    let record = record::action_record(agent, req, on_behalf_of, &app.policy.version, now);
    if let (Some(original), Some(k)) = (earlier, &key) {
        return retry::replay(app, &record, &original, &k.key).await;
    }
    // Kill switches, then open breakers, then the limits and the rules (DESIGN, Flow step 2).
    let (ruling, limit_hold) =
        match ruling::killed(&app.kill, &record).or_else(|| breaker::open(app, &record, now)) {
            Some(stopped) => (stopped, limits::Hold::nothing(app)),
            None => limits::rule_on(app, &record, now),
        };
    // Held until the call's use of a grant is durable: no revocation passes it meanwhile. A
    // ruling a limit or breaker made is not the rules' to waive, so no grant covers it.
    let (ruling, _grant_gate) = match ruling.governed {
        Some(_) => (ruling, None),
        None => granted::consult(app, agent, &record, ruling).await,
    };
    // What the breakers and the anomaly baseline make of the judged call.
    let ruling = breaker::judged(app, &record, ruling, now);
    let ruling = anomaly::flag(app, &record, ruling, now);
    let digest = record::digest(&record)?;
    // A review of a call already pending attaches to it. Held until this one is queued, so two
    // identical calls at once make one escalation.
    let _digest_turn = match &ruling.outcome {
        Outcome::Review { .. } => {
            let turn = app.arrivals.digests.hold(&[&digest]).await;
            if let Some(pending) = app.queue.pending_with_digest(&agent.id, &digest) {
                return retry::attach(app, &record, &pending, key).await;
            }
            Some(turn)
        }
        _ => None,
    };

    let judged = Judged {
        effect: ruling.effect(),
        rule: ruling.rule_id(),
        reason: &ruling.reason,
    };
    let (escalation, flagged) = match &ruling.outcome {
        Outcome::Review {
            rule,
            review,
            deadline,
        } => {
            let mut esc = record::escalation(
                &record,
                &digest,
                agent,
                rule,
                review,
                *deadline,
                &ruling.reason,
            );
            esc.0.agent_deadline = wait_budget
                .and_then(|secs| crate::protocol::agent_deadline(record.submitted_at, secs).ok());
            esc.0.budget = ruling.budget.clone();
            esc.0.rule.grantable =
                app.policy.grantable_review(review).is_some() && ruling.budget.is_none();
            (Some(esc), None)
        }
        Outcome::Flag { rule } => (None, Some(record::flagged(&record, rule, &ruling.reason))),
        Outcome::Allow { .. } | Outcome::Granted { .. } | Outcome::Deny { .. } => (None, None),
    };
    let grant = match &ruling.outcome {
        Outcome::Granted { grant, .. } => Some(grant),
        _ => None,
    };
    let governed = ruling.governed.clone();
    let mut audit = vec![AuditEvent::action(
        &record,
        &digest,
        judged.effect,
        judged.rule.as_deref(),
        judged.reason,
        ruling.raised_by(&app.policy),
        key.as_ref().map(|k| k.key.as_str()),
    )];
    if let (Some(g), Some(AuditEvent::Action(a))) = (grant, audit.first_mut()) {
        a.grant = Some(g.id.clone());
    }
    if let (Some(g), Some(rule)) = (grant, &judged.rule) {
        audit.push(AuditEvent::grant_used(g, &record, rule));
    }
    audit.extend(ruling.events.iter().cloned());
    let grant = grant.map(|g| g.id.clone());
    let mut summary = record::summary(&record, &judged);
    summary.grant = grant.clone();
    let plan = escalation.as_ref().map(|(_, plan)| plan.clone());
    let flagged_event = flagged.clone();
    let write = ActionWrite {
        record,
        effect: judged.effect,
        rule: judged.rule.clone(),
        reason: ruling.reason.clone(),
        escalation,
        flagged,
        key,
        grant: grant.clone(),
        governed,
    };
    let submitted_at = write.record.submitted_at;
    let call = app
        .governance
        .counts_calls()
        .then(|| breaker::recent(&write));
    let reply = app
        .store
        .write(Op::Action(Box::new(write)), audit)
        .await
        .map_err(ApiError::storage)?;
    limit_hold.keep(judged.effect);
    if let Some(call) = &call {
        breaker::recorded(app, call);
    }
    if let Some(id) = &grant {
        app.grants.used(id, submitted_at);
    }

    app.metrics.enforced(summary.effect, started.elapsed());
    announce(app, &summary, flagged_event);
    let mut outcome = ActionOutcome {
        id: summary.id,
        verdict: match judged.effect {
            Effect::Allow | Effect::Flag => Verdict::Allow,
            Effect::Deny => Verdict::Deny,
            Effect::Review => Verdict::Pending,
        },
        rule: judged.rule.clone(),
        reason: ruling.reason.clone(),
        escalation: None,
        deadline: None,
        resolution: None,
        decisions: Vec::new(),
        flagged: judged.effect == Effect::Flag,
        review: None,
        grant,
    };
    if let (Some(plan), Reply::Escalation(esc)) = (plan, reply) {
        outcome.escalation = Some(esc.id.clone());
        outcome.deadline = Some(esc.deadline);
        outcome.review = Some(ReviewStatus::of(&esc));
        if let Some(final_outcome) = app.queue.enqueue(*esc, plan).await {
            // A kill switch flipped on while this call was being recorded.
            return Ok(final_outcome);
        }
    }
    Ok(outcome)
}

/// Tells the consoles about the recorded call.
fn announce(
    app: &App,
    summary: &crate::protocol::ActionSummary,
    flagged: Option<crate::protocol::FlaggedAction>,
) {
    let _ = app.bus.send(ServerMessage::Action {
        action: summary.clone(),
    });
    if let Some(f) = flagged {
        let _ = app.bus.send(ServerMessage::Flagged {
            flagged: Box::new(f),
        });
    }
}
