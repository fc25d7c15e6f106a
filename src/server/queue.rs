//! The escalation queue: signed decisions, thresholds, deadlines and hand-overs, kill switches,
//! flagged reviews. Every transition happens under the `Core` lock and is durable before it is
//! announced.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::audit::AuditEntry;
use super::error::ApiError;
use super::pep::kill_reason;
use super::roster::Person;
use super::store::{self, ExpiryPlan, Op};
use super::{App, Core};
use crate::protocol::signing::Purpose;
use crate::protocol::{
    may_decide, ActionOutcome, DecisionAck, Effect, Escalation, EscalationState, FlaggedAction,
    Role, Scope, ServerMessage, SignedDecision, SignedFlagReview, Timestamp, Verdict, Vote,
    MAX_CLOCK_SKEW_SECS, MAX_TEXT_LEN,
};

/// What the waiting agent is told about a resolved (or still pending) escalation.
pub fn outcome_of(esc: &Escalation) -> ActionOutcome {
    let deciders = |vote: Vote| {
        esc.decisions
            .iter()
            .filter(|d| d.body.verdict == vote)
            .map(|d| {
                if d.body.reason.is_empty() {
                    d.body.approver.clone()
                } else {
                    format!("{} ({})", d.body.approver, d.body.reason)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (verdict, reason) = match esc.state {
        EscalationState::Pending => (
            Verdict::Pending,
            format!("{} (waiting for a decision)", esc.rule.reason),
        ),
        EscalationState::Approved => (
            Verdict::Allow,
            format!("approved by {}", deciders(Vote::Approve)),
        ),
        EscalationState::Denied => (Verdict::Deny, format!("denied by {}", deciders(Vote::Deny))),
        EscalationState::Expired | EscalationState::Cancelled => (
            Verdict::Deny,
            esc.resolution_reason
                .clone()
                .unwrap_or_else(|| "escalation closed".into()),
        ),
    };
    ActionOutcome {
        id: esc.action.id.clone(),
        verdict,
        rule: Some(esc.rule.id.clone()),
        reason,
        escalation: Some(esc.id.clone()),
        deadline: Some(esc.deadline),
        resolution: esc.state.resolution(),
        decisions: esc.decisions.clone(),
        flagged: false,
    }
}

pub(super) fn resolved_entry(esc: &Escalation) -> AuditEntry {
    AuditEntry::new(
        "escalation_resolved",
        "server",
        json!({
            "escalation": esc.id, "action": esc.action.id, "agent": esc.action.agent, "tool": esc.action.tool,
            "resolution": esc.state.resolution(), "reason": esc.resolution_reason,
            "deciders": esc.decisions.iter().map(|d| json!({"approver": d.body.approver, "verdict": d.body.verdict})).collect::<Vec<_>>(),
        }),
    )
}

pub(super) fn close(esc: &mut Escalation, state: EscalationState, reason: String) {
    esc.state = state;
    esc.resolved_at = Some(Utc::now());
    esc.resolution_reason = Some(reason);
}

/// Writes a resolved escalation, drops it from the queue and announces it.
async fn finish(
    app: &App,
    core: &mut Core,
    esc: Escalation,
    mut audit: Vec<AuditEntry>,
) -> Result<Escalation, ApiError> {
    audit.push(resolved_entry(&esc));
    app.store
        .write(
            Op::Escalation {
                escalation: esc.clone(),
            },
            audit,
        )
        .await
        .map_err(ApiError::storage)?;
    core.pending.remove(&esc.id);
    let _ = app.bus.send(ServerMessage::EscalationResolved {
        escalation: Box::new(esc.clone()),
    });
    Ok(esc)
}

/// Puts a freshly recorded escalation in the queue. Returns the final outcome if a kill switch
/// turned on while it was being recorded (it is then cancelled at once).
pub async fn enqueue(app: &Arc<App>, esc: Escalation, plan: ExpiryPlan) -> Option<ActionOutcome> {
    let mut core = app.core.lock().await;
    let switch = {
        let kill = app.kill.read().unwrap_or_else(|e| e.into_inner());
        kill.values()
            .filter(|k| k.on)
            .find(|k| {
                Scope::parse(&k.scope)
                    .is_some_and(|s| s.covers(&esc.action.agent, &esc.action.tool))
            })
            .cloned()
    };
    if let Some(k) = switch {
        let mut cancelled = esc.clone();
        close(
            &mut cancelled,
            EscalationState::Cancelled,
            kill_reason(&k.scope, &k.reason),
        );
        if let Ok(done) = finish(app, &mut core, cancelled, vec![]).await {
            return Some(outcome_of(&done));
        }
        // Not recorded: it is still pending in the store, so queue it like any other and let
        // its deadline close it.
    }
    let (id, deadline) = (esc.id.clone(), esc.deadline);
    core.pending.insert(id.clone(), (esc.clone(), plan));
    drop(core);
    let _ = app.bus.send(ServerMessage::EscalationCreated {
        escalation: Box::new(esc),
    });
    schedule(app, id, deadline);
    None
}

fn schedule(app: &Arc<App>, id: String, deadline: Timestamp) {
    let app = app.clone();
    tokio::spawn(async move {
        let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => on_deadline(&app, &id).await,
            _ = super::stopped(app.shutdown.clone()) => {}
        }
    });
}

async fn on_deadline(app: &Arc<App>, id: &str) {
    let mut core = app.core.lock().await;
    let Some((esc, plan)) = core.pending.get(id).cloned() else {
        return;
    };
    if esc.deadline > Utc::now() {
        // Handed over to a later deadline, or the timer woke a hair early by the wall clock:
        // wait again (a duplicate timer finds nothing pending and does nothing).
        schedule(app, id.to_string(), esc.deadline);
        return;
    }
    // A hand-over deadline that cannot be set (a stored timeout out of range) expires instead.
    let handover = match (&plan.escalate_to, esc.handed_over) {
        (Some(group), false) => {
            crate::duration::deadline_after(Utc::now(), Duration::from_secs(plan.timeout_secs))
                .ok()
                .map(|deadline| (group.clone(), deadline))
        }
        _ => None,
    };
    match handover {
        Some((group, deadline)) => {
            let mut next = esc.clone();
            next.group = group;
            next.handed_over = true;
            next.deadline = deadline;
            let entry = AuditEntry::new(
                "escalation_handed_over",
                "server",
                json!({"escalation": next.id, "action": next.action.id, "agent": next.action.agent,
                       "from": esc.group, "to": next.group, "deadline": next.deadline}),
            );
            if let Err(e) = app
                .store
                .write(
                    Op::Escalation {
                        escalation: next.clone(),
                    },
                    vec![entry],
                )
                .await
            {
                tracing::error!("hand-over of {id} not recorded: {}", e);
                return;
            }
            core.pending.insert(next.id.clone(), (next.clone(), plan));
            drop(core);
            let _ = app.bus.send(ServerMessage::EscalationUpdated {
                escalation: Box::new(next.clone()),
            });
            schedule(app, next.id, next.deadline);
        }
        _ => {
            let mut esc = esc;
            let reason = format!(
                "expired: no decision before the deadline ({})",
                esc.deadline
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            close(&mut esc, EscalationState::Expired, reason);
            if let Err(e) = finish(app, &mut core, esc, vec![]).await {
                tracing::error!("expiry of {id} not recorded: {}", e.message);
            }
        }
    }
}

/// At start: escalations whose deadline passed while the server was down are denied as expired;
/// the rest go back in the queue with their original deadlines.
pub async fn restore(app: &Arc<App>) -> anyhow::Result<()> {
    let pending = app.store.read(store::pending_escalations).await?;
    let now = Utc::now();
    let mut core = app.core.lock().await;
    let mut timers = Vec::new();
    for (mut esc, plan) in pending {
        if esc.deadline <= now {
            let reason = format!(
                "expired while the server was down (deadline {})",
                esc.deadline
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            close(&mut esc, EscalationState::Expired, reason);
            finish(app, &mut core, esc, vec![])
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
        } else {
            timers.push((esc.id.clone(), esc.deadline));
            core.pending.insert(esc.id.clone(), (esc, plan));
        }
    }
    drop(core);
    for (id, deadline) in timers {
        schedule(app, id, deadline);
    }
    Ok(())
}

pub async fn get_escalation(app: &App, id: &str) -> Result<Option<Escalation>, ApiError> {
    if let Some((esc, _)) = app.core.lock().await.pending.get(id) {
        return Ok(Some(esc.clone()));
    }
    let id = id.to_string();
    let found = app
        .store
        .read(move |c| store::load_escalation(c, &id))
        .await
        .map_err(ApiError::storage)?;
    Ok(found.map(|(e, _)| e))
}

/// Pending escalations, soonest deadline first.
pub async fn pending(app: &App) -> Vec<Escalation> {
    let core = app.core.lock().await;
    let mut v: Vec<Escalation> = core.pending.values().map(|(e, _)| e.clone()).collect();
    v.sort_by(|a, b| a.deadline.cmp(&b.deadline).then_with(|| a.id.cmp(&b.id)));
    v
}

/// Long-polls an agent's own action until it is final or `wait` passes.
pub async fn action_outcome(
    app: &App,
    agent: &str,
    id: &str,
    wait: Duration,
) -> Result<ActionOutcome, ApiError> {
    let key = id.to_string();
    let stored = app
        .store
        .read(move |c| store::load_action(c, &key))
        .await
        .map_err(ApiError::storage)?
        .filter(|a| a.agent == agent) // another agent's action is "not found", not "forbidden"
        .ok_or_else(|| ApiError::not_found("action"))?;
    let Some(esc_id) = stored.escalation else {
        return Ok(ActionOutcome {
            id: id.to_string(),
            verdict: if stored.effect == Effect::Deny {
                Verdict::Deny
            } else {
                Verdict::Allow
            },
            rule: stored.rule,
            reason: stored.reason,
            escalation: None,
            deadline: None,
            resolution: None,
            decisions: Vec::new(),
            flagged: stored.effect == Effect::Flag,
        });
    };
    let until = tokio::time::Instant::now() + wait;
    let mut events = app.bus.subscribe();
    // A server that is stopping ends every wait at once: the agent is told to ask again, and
    // is never answered with anything that could read as an allow.
    let shutdown = super::stopped(app.shutdown.clone());
    tokio::pin!(shutdown);
    loop {
        let esc = get_escalation(app, &esc_id)
            .await?
            .ok_or_else(|| ApiError::not_found("escalation"))?;
        if esc.state != EscalationState::Pending || tokio::time::Instant::now() >= until {
            return Ok(outcome_of(&esc));
        }
        // Wait for this escalation's resolution; anything else (or a lag) re-checks.
        loop {
            let event = tokio::select! {
                _ = &mut shutdown => return Err(shutting_down()),
                event = tokio::time::timeout_at(until, events.recv()) => event,
            };
            match event {
                Ok(Ok(ServerMessage::EscalationResolved { escalation }))
                    if escalation.id == esc_id =>
                {
                    return Ok(outcome_of(&escalation))
                }
                Ok(Ok(_)) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => break,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) | Err(_) => break,
            }
        }
    }
}

/// The answer to a long-poll cut short by shutdown (HTTP adds `Retry-After`).
pub fn shutting_down() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
        "the server is shutting down; nothing was decided by this: ask again shortly",
    )
}

/// An agent withdraws its own pending call (say, its client cancelled it): the escalation is
/// cancelled so nobody approves a call that will never run. Final outcomes are returned as they are.
pub async fn withdraw(app: &App, agent: &str, action_id: &str) -> Result<ActionOutcome, ApiError> {
    let key = action_id.to_string();
    let stored = app
        .store
        .read(move |c| store::load_action(c, &key))
        .await
        .map_err(ApiError::storage)?
        .filter(|a| a.agent == agent)
        .ok_or_else(|| ApiError::not_found("action"))?;
    if let Some(esc_id) = stored.escalation {
        let mut core = app.core.lock().await;
        if let Some((esc, _)) = core.pending.get(&esc_id).cloned() {
            let mut esc = esc;
            close(
                &mut esc,
                EscalationState::Cancelled,
                "withdrawn by the agent: the call was cancelled before a decision".into(),
            );
            let entry = AuditEntry::new(
                "withdrawn",
                agent.to_string(),
                json!({"escalation": esc.id, "action": action_id, "agent": agent, "tool": esc.action.tool}),
            );
            let esc = finish(app, &mut core, esc, vec![entry]).await?;
            return Ok(outcome_of(&esc));
        }
    }
    action_outcome(app, agent, action_id, Duration::ZERO).await
}

pub(super) fn check_issued_at(issued_at: &str) -> Result<(), ApiError> {
    let t: Timestamp = chrono::DateTime::parse_from_rfc3339(issued_at)
        .map_err(|_| {
            ApiError::bad_request("invalid_request", "`issued_at` must be an RFC 3339 time")
        })?
        .into();
    let skew = (Utc::now() - t).num_seconds().abs();
    if skew > MAX_CLOCK_SKEW_SECS {
        return Err(ApiError::bad_request(
            "stale_signature",
            format!("`issued_at` is {skew}s from the server's clock (at most {MAX_CLOCK_SKEW_SECS}s): sign again"),
        ));
    }
    Ok(())
}

pub(super) fn signer<'a>(app: &'a App, id: &str) -> Result<&'a Person, ApiError> {
    app.roster.person(id).ok_or_else(|| {
        ApiError::forbidden(
            "unknown_signer",
            format!("\"{id}\" is not a person in the roster"),
        )
    })
}

pub(super) fn bad_signature() -> ApiError {
    ApiError::unauthorized(
        "bad_signature",
        "the signature does not verify with the signer's roster key",
    )
}

pub async fn decide(
    app: &Arc<App>,
    path_id: &str,
    d: SignedDecision,
) -> Result<DecisionAck, ApiError> {
    if d.body.escalation != path_id {
        return Err(ApiError::bad_request(
            "escalation_mismatch",
            format!(
                "the decision is signed for {}, not {path_id}",
                d.body.escalation
            ),
        ));
    }
    let person = signer(app, &d.body.approver)?;
    person
        .key
        .verify(Purpose::Decision, &d.body, &d.signature)
        .map_err(|_| bad_signature())?;
    if d.body.reason.len() > MAX_TEXT_LEN {
        return Err(ApiError::bad_request(
            "invalid_request",
            "reason is too long",
        ));
    }

    let mut core = app.core.lock().await;
    let esc = match core.pending.get(path_id) {
        Some((esc, _)) => esc.clone(),
        None => {
            drop(core);
            let esc = get_escalation(app, path_id)
                .await?
                .ok_or_else(|| ApiError::not_found("escalation"))?;
            if esc.decisions.contains(&d) {
                return Ok(DecisionAck {
                    escalation: Box::new(esc),
                    recorded: false,
                });
            }
            if esc.digest != d.body.digest {
                return Err(digest_mismatch());
            }
            let state = store::state_name(esc.state);
            return Err(ApiError::conflict(
                "not_pending",
                format!("the escalation is already {state}"),
            ));
        }
    };
    if esc.decisions.contains(&d) {
        return Ok(DecisionAck {
            escalation: Box::new(esc),
            recorded: false,
        });
    }
    if esc.digest != d.body.digest {
        return Err(digest_mismatch());
    }
    check_issued_at(&d.body.issued_at)?;
    if Utc::now() >= esc.deadline {
        return Err(ApiError::conflict(
            "expired",
            "the deadline has passed; the escalation is expiring",
        ));
    }
    may_decide(&esc, &person.info, d.body.verdict)?;
    if d.body.verdict == Vote::Deny && d.body.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "a deny needs a reason the agent can read",
        ));
    }

    let mut next = esc;
    next.decisions.push(d.clone());
    let entry = AuditEntry::new(
        "decision",
        d.body.approver.clone(),
        json!({
            "escalation": next.id, "action": next.action.id, "agent": next.action.agent, "tool": next.action.tool,
            "digest": d.body.digest, "verdict": d.body.verdict, "reason": d.body.reason,
            "approver": d.body.approver, "issued_at": d.body.issued_at, "signature": d.signature,
        }),
    );
    app.metrics.decisions.fetch_add(1, Ordering::Relaxed);
    let resolved = match d.body.verdict {
        Vote::Deny => Some((
            EscalationState::Denied,
            format!("denied by {}: {}", d.body.approver, d.body.reason),
        )),
        Vote::Approve if next.approvals_received() >= next.approvals_required => Some((
            EscalationState::Approved,
            format!("approved by {}", approvers(&next)),
        )),
        Vote::Approve => None,
    };
    let next = match resolved {
        Some((state, reason)) => {
            close(&mut next, state, reason);
            finish(app, &mut core, next, vec![entry]).await?
        }
        None => {
            app.store
                .write(
                    Op::Escalation {
                        escalation: next.clone(),
                    },
                    vec![entry],
                )
                .await
                .map_err(ApiError::storage)?;
            if let Some(slot) = core.pending.get_mut(&next.id) {
                slot.0 = next.clone();
            }
            let _ = app.bus.send(ServerMessage::EscalationUpdated {
                escalation: Box::new(next.clone()),
            });
            next
        }
    };
    Ok(DecisionAck {
        escalation: Box::new(next),
        recorded: true,
    })
}

fn approvers(esc: &Escalation) -> String {
    esc.decisions
        .iter()
        .filter(|d| d.body.verdict == Vote::Approve)
        .map(|d| d.body.approver.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn digest_mismatch() -> ApiError {
    ApiError::conflict(
        "digest_mismatch",
        "the signed digest is not this escalation's: the action differs from what was approved",
    )
}

pub(super) async fn check_fresh_signature(app: &App, signature: &str) -> Result<(), ApiError> {
    let sig = signature.to_string();
    if app
        .store
        .read(move |c| store::signature_used(c, &sig))
        .await
        .map_err(ApiError::storage)?
    {
        return Err(ApiError::conflict(
            "replayed",
            "this signed request was already used; sign a new one",
        ));
    }
    Ok(())
}

pub async fn review_flag(
    app: &Arc<App>,
    action: &str,
    r: SignedFlagReview,
) -> Result<FlaggedAction, ApiError> {
    if r.body.action != action {
        return Err(ApiError::bad_request(
            "action_mismatch",
            format!("the review is signed for {}", r.body.action),
        ));
    }
    let person = signer(app, &r.body.reviewer)?;
    person
        .key
        .verify(Purpose::FlagReview, &r.body, &r.signature)
        .map_err(|_| bad_signature())?;
    let _core = app.core.lock().await; // serialises reviews
    let key = action.to_string();
    let flagged = app
        .store
        .read(move |c| store::load_flagged(c, &key))
        .await
        .map_err(ApiError::storage)?
        .ok_or_else(|| ApiError::not_found("flagged action"))?;
    if let Some(existing) = &flagged.review {
        if *existing == r {
            return Ok(flagged);
        }
        return Err(ApiError::conflict(
            "already_reviewed",
            format!("already reviewed by {}", existing.body.reviewer),
        ));
    }
    check_issued_at(&r.body.issued_at)?;
    if !person.info.has_role(Role::Lead) {
        return Err(ApiError::forbidden(
            "not_lead",
            "only people with the lead role review flagged actions",
        ));
    }
    if r.body.note.len() > MAX_TEXT_LEN {
        return Err(ApiError::bad_request("invalid_request", "note is too long"));
    }
    check_fresh_signature(app, &r.signature).await?;
    let mut next = flagged;
    next.review = Some(r.clone());
    let entry = AuditEntry::new(
        "flag_review",
        r.body.reviewer.clone(),
        json!({"action": action, "agent": next.action.agent, "tool": next.action.tool, "review": r.body.review,
               "note": r.body.note, "reviewer": r.body.reviewer, "issued_at": r.body.issued_at,
               "signature": r.signature}),
    );
    app.store
        .write(
            Op::FlagReview {
                flagged: next.clone(),
                signature: r.signature.clone(),
            },
            vec![entry],
        )
        .await
        .map_err(ApiError::storage)?;
    let _ = app.bus.send(ServerMessage::FlagReviewed {
        flagged: Box::new(next.clone()),
    });
    Ok(next)
}
