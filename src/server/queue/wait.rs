//! What an agent hears about its own call: the long-poll for its outcome, and withdrawing it.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::broadcast::error::RecvError;

use super::machine::{self, Step};
use super::Queue;
use crate::protocol::{
    ActionOutcome, Effect, Escalation, EscalationState, ReviewStatus, ServerMessage, Verdict, Vote,
};
use crate::server::audit::AuditEvent;
use crate::server::error::ApiError;
use crate::server::shutdown::stopped;
use crate::server::store::{self, StoredAction};

impl Queue {
    /// Long-polls an agent's own action until it is final or `wait` passes.
    pub async fn outcome(
        &self,
        agent: &str,
        id: &str,
        wait: Duration,
    ) -> Result<ActionOutcome, ApiError> {
        let stored = self.own_action(agent, id).await?;
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
                review: None,
                grant: stored.grant,
            });
        };
        let until = tokio::time::Instant::now() + wait;
        // Subscribed before looking: a resolution after the look is heard.
        let mut events = self.bus.subscribe();
        // A server that is stopping ends every wait at once: the agent is told to ask again, and
        // is never answered with anything that could read as an allow.
        let shutdown = stopped(self.shutdown.clone());
        tokio::pin!(shutdown);
        loop {
            let esc = self
                .get(&esc_id)
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
                    Ok(Err(RecvError::Lagged(_))) => break,
                    Ok(Err(RecvError::Closed)) | Err(_) => break,
                }
            }
        }
    }

    /// An agent withdraws its own pending call (say, its client cancelled it): the escalation
    /// is cancelled so nobody approves a call that will never run. Final outcomes are returned
    /// as they are.
    pub async fn withdraw(&self, agent: &str, action_id: &str) -> Result<ActionOutcome, ApiError> {
        let stored = self.own_action(agent, action_id).await?;
        if let Some(esc_id) = stored.escalation {
            if let Some(turn) = self.turn_anywhere(&esc_id).await {
                if let Ok(cancelled) = machine::withdraw(&turn.esc, Utc::now()) {
                    let entry = AuditEvent::withdrawn(&cancelled);
                    let esc = self
                        .commit(turn, Step::Resolve(cancelled), vec![entry])
                        .await
                        .map_err(ApiError::storage)?;
                    return Ok(outcome_of(&esc));
                }
            }
        }
        self.outcome(agent, action_id, Duration::ZERO).await
    }

    /// The agent's own action; another agent's is "not found", not "forbidden".
    async fn own_action(&self, agent: &str, id: &str) -> Result<StoredAction, ApiError> {
        let key = id.to_string();
        self.store
            .read(move |c| store::load_action(c, &key))
            .await
            .map_err(ApiError::storage)?
            .filter(|a| a.agent == agent)
            .ok_or_else(|| ApiError::not_found("action"))
    }
}

/// The answer to a long-poll cut short by shutdown (HTTP adds `Retry-After`).
fn shutting_down() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
        "the server is shutting down; nothing was decided by this: ask again shortly",
    )
}

/// What the waiting agent is told about a resolved (or still pending) escalation.
pub(crate) fn outcome_of(esc: &Escalation) -> ActionOutcome {
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
        review: Some(ReviewStatus::of(esc)),
        grant: None,
    }
}
