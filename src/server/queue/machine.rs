//! The escalation state machine: from an escalation and an input (a vote, its deadline, a
//! withdrawal, a kill switch) to the next state or a refusal. Pure: no I/O, no clock (the caller
//! passes `now`), so every transition and refusal is unit-tested (`machine_tests.rs`). The queue
//! writes what it returns and announces it; nothing here is durable until then.

use std::time::Duration;

use chrono::SecondsFormat;

use crate::protocol::{
    may_decide, Escalation, EscalationState, NotYours, PersonInfo, SignedDecision, Timestamp, Vote,
    MAX_TEXT_LEN,
};
use crate::server::signed::{check_signed_time, SignedTimeError};
use crate::server::store::ExpiryPlan;

/// What happens to a pending escalation.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// It stays pending, changed: a vote short of the threshold, or a hand-over.
    Update(Escalation),
    /// It is closed: approved, denied, expired or cancelled.
    Resolve(Escalation),
}

impl Step {
    pub fn escalation(&self) -> &Escalation {
        match self {
            Step::Update(e) | Step::Resolve(e) => e,
        }
    }
}

/// What a vote does.
#[derive(Debug, Clone, PartialEq)]
pub enum Ballot {
    /// The very same signed decision was recorded before: acknowledged again, nothing changes.
    Duplicate,
    /// Boxed: an escalation is large, a duplicate nothing.
    Counted(Box<Step>),
}

/// Why a vote is refused; each is one API error code (`code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The decision is signed for another escalation than the one addressed.
    EscalationMismatch {
        signed_for: String,
        addressed: String,
    },
    ReasonTooLong,
    /// The signed digest is not this escalation's: the approver saw another action.
    DigestMismatch,
    NotPending(EscalationState),
    /// `issued_at` is not a time, or too far from the server's clock.
    SignedTime(SignedTimeError),
    /// The deadline has passed; the deadline timer is about to close it.
    Expired,
    /// Separation of duties (`protocol::duties`).
    NotYours(NotYours),
    /// A deny must say why, for the agent.
    ReasonRequired,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::EscalationMismatch { .. } => "escalation_mismatch",
            Refusal::ReasonTooLong => "invalid_request",
            Refusal::DigestMismatch => "digest_mismatch",
            Refusal::NotPending(_) => "not_pending",
            Refusal::SignedTime(e) => e.code(),
            Refusal::Expired => "expired",
            Refusal::NotYours(n) => n.code(),
            Refusal::ReasonRequired => "reason_required",
        }
    }
}

/// What a decision must be before anything is looked up: addressed to `path_id`, with a reason
/// of bounded length.
pub fn check_decision(path_id: &str, d: &SignedDecision) -> Result<(), Refusal> {
    if d.body.escalation != path_id {
        return Err(Refusal::EscalationMismatch {
            signed_for: d.body.escalation.clone(),
            addressed: path_id.to_string(),
        });
    }
    if d.body.reason.len() > MAX_TEXT_LEN {
        return Err(Refusal::ReasonTooLong);
    }
    Ok(())
}

/// `voter` casts the signed decision `d` on `esc`. One deny denies; the threshold's approval
/// approves; an approval short of it is recorded and the escalation stays pending.
pub fn vote(
    esc: &Escalation,
    d: &SignedDecision,
    voter: &PersonInfo,
    now: Timestamp,
) -> Result<Ballot, Refusal> {
    if esc.state != EscalationState::Pending {
        return vote_on_closed(esc, d).map(|()| Ballot::Duplicate);
    }
    if esc.decisions.contains(d) {
        return Ok(Ballot::Duplicate);
    }
    if esc.digest != d.body.digest {
        return Err(Refusal::DigestMismatch);
    }
    check_signed_time("issued_at", &d.body.issued_at, now).map_err(Refusal::SignedTime)?;
    if now >= esc.deadline {
        return Err(Refusal::Expired);
    }
    may_decide(esc, voter, d.body.verdict).map_err(Refusal::NotYours)?;
    if d.body.verdict == Vote::Deny && d.body.reason.trim().is_empty() {
        return Err(Refusal::ReasonRequired);
    }
    let mut next = esc.clone();
    next.decisions.push(d.clone());
    // A vote ends its voter's claim.
    next.handling.tidy(now);
    if next
        .handling
        .claim
        .as_ref()
        .is_some_and(|c| c.person == voter.id)
    {
        next.handling.claim = None;
    }
    let step = match d.body.verdict {
        Vote::Deny => {
            let reason = format!("denied by {}: {}", d.body.approver, d.body.reason);
            Step::Resolve(close(next, EscalationState::Denied, reason, now))
        }
        Vote::Approve if next.approvals_received() >= next.approvals_required => {
            let reason = format!("approved by {}", approvers(&next));
            Step::Resolve(close(next, EscalationState::Approved, reason, now))
        }
        Vote::Approve => Step::Update(next),
    };
    Ok(Ballot::Counted(Box::new(step)))
}

/// A vote on an escalation that is no longer pending: `Ok` when this very decision was recorded
/// (it is acknowledged again), otherwise refused (a wrong digest says so first).
pub fn vote_on_closed(esc: &Escalation, d: &SignedDecision) -> Result<(), Refusal> {
    if esc.decisions.contains(d) {
        return Ok(());
    }
    if esc.digest != d.body.digest {
        return Err(Refusal::DigestMismatch);
    }
    Err(Refusal::NotPending(esc.state))
}

/// What a pending escalation's deadline does.
#[derive(Debug, Clone, PartialEq)]
pub enum AtDeadline {
    /// Not due yet (the deadline moved, or the timer woke early): wait until then.
    NotYet(Timestamp),
    /// Handed over, once, to the rule's `escalate_to` group with a fresh deadline.
    HandOver { next: Escalation, from: String },
    /// Expired: a deny.
    Expire(Escalation),
}

/// The deadline of `esc` at `now`. A hand-over whose deadline cannot be set (a stored timeout
/// out of range) expires instead.
pub fn at_deadline(esc: &Escalation, plan: &ExpiryPlan, now: Timestamp) -> AtDeadline {
    if esc.deadline > now {
        return AtDeadline::NotYet(esc.deadline);
    }
    match hand_over(esc, plan, now) {
        Some(next) => AtDeadline::HandOver {
            next,
            from: esc.group.clone(),
        },
        None => {
            let reason = format!(
                "expired: no decision before the deadline ({})",
                esc.deadline.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            AtDeadline::Expire(close(esc.clone(), EscalationState::Expired, reason, now))
        }
    }
}

/// `esc` handed over to the rule's `escalate_to` group with a fresh deadline of the rule's
/// timeout from `now`: at its deadline, or earlier when someone reassigns it. `None` when the
/// rule has no such group, it was handed over already, or the deadline cannot be set (a stored
/// timeout out of range). The claim and snoozes were the first group's: they go.
pub fn hand_over(esc: &Escalation, plan: &ExpiryPlan, now: Timestamp) -> Option<Escalation> {
    let (Some(group), false) = (&plan.escalate_to, esc.handed_over) else {
        return None;
    };
    let deadline =
        crate::duration::deadline_after(now, Duration::from_secs(plan.timeout_secs)).ok()?;
    let mut next = esc.clone();
    next.group = group.clone();
    next.handed_over = true;
    next.deadline = deadline;
    next.handling.claim = None;
    next.handling.snoozed.clear();
    Some(next)
}

/// At start: an escalation whose deadline passed while the server was down is expired (no
/// hand-over: nobody was asked in time); `None` if it is still open.
pub fn expired_while_down(esc: &Escalation, now: Timestamp) -> Option<Escalation> {
    if esc.deadline > now {
        return None;
    }
    let reason = format!(
        "expired while the server was down (deadline {})",
        esc.deadline.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    Some(close(esc.clone(), EscalationState::Expired, reason, now))
}

/// The agent withdrew its call: nobody should approve what will never run.
pub fn withdraw(esc: &Escalation, now: Timestamp) -> Result<Escalation, Refusal> {
    let reason = "withdrawn by the agent: the call was cancelled before a decision".to_string();
    cancel_pending(esc, reason, now)
}

/// A kill switch covering the call is on; `why` names the switch and its reason.
pub fn kill(esc: &Escalation, why: String, now: Timestamp) -> Result<Escalation, Refusal> {
    cancel_pending(esc, why, now)
}

fn cancel_pending(esc: &Escalation, why: String, now: Timestamp) -> Result<Escalation, Refusal> {
    if esc.state != EscalationState::Pending {
        return Err(Refusal::NotPending(esc.state));
    }
    Ok(close(esc.clone(), EscalationState::Cancelled, why, now))
}

fn close(
    mut esc: Escalation,
    state: EscalationState,
    reason: String,
    now: Timestamp,
) -> Escalation {
    esc.state = state;
    esc.resolved_at = Some(now);
    esc.resolution_reason = Some(reason);
    esc
}

fn approvers(esc: &Escalation) -> String {
    esc.decisions
        .iter()
        .filter(|d| d.body.verdict == Vote::Approve)
        .map(|d| d.body.approver.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
