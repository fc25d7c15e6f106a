//! The approver's workflow as pure transitions, like the votes in `machine`: extend, claim,
//! snooze and reassign, each from a pending escalation, the signed body and the signer to the
//! escalation it becomes and its audit record, or a refusal. No I/O, no clock (`now` is passed).

use chrono::SecondsFormat;

use super::machine;
use crate::protocol::{
    latest_snooze, may_handle, may_reassign, may_snooze, Claim, ClaimBody, Escalation,
    EscalationState, ExtendBody, PersonInfo, ReassignBody, SignedClaim, SignedExtend,
    SignedReassign, SignedSnooze, SnoozeBody, Timestamp, CLAIM_SECS, MAX_TEXT_LEN,
};
use crate::server::audit::AuditEvent;
use crate::server::error::ApiError;
use crate::server::signed::check_signed_time;
use crate::server::store::{state_name, ExpiryPlan};

/// What a change leads to: the changed escalation and its audit record.
pub(super) type Changed = (Escalation, AuditEvent);

fn time(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn minutes(secs: u64) -> String {
    crate::duration::format(std::time::Duration::from_secs(secs))
}

/// The checks every change shares: addressed to `path_id`, signed just now, on a pending
/// escalation whose deadline has not passed.
fn shared(
    esc: &Escalation,
    path_id: &str,
    signed_for: &str,
    issued_at: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    if signed_for != path_id {
        return Err(ApiError::bad_request(
            "escalation_mismatch",
            format!("the request is signed for {signed_for}, not {path_id}"),
        ));
    }
    check_signed_time("issued_at", issued_at, now)?;
    if esc.state != EscalationState::Pending {
        return Err(not_pending(esc.state));
    }
    if now >= esc.deadline {
        return Err(ApiError::conflict(
            "expired",
            "the deadline has passed; the escalation is expiring",
        ));
    }
    Ok(())
}

pub(super) fn not_pending(state: EscalationState) -> ApiError {
    ApiError::conflict(
        "not_pending",
        format!("the escalation is already {}", state_name(state)),
    )
}

fn reason(text: &str) -> Result<(), ApiError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(ApiError::bad_request(
            "invalid_request",
            "reason is too long",
        ));
    }
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "say why: the reason goes into the audit log",
        ));
    }
    Ok(())
}

/// Moves the deadline by `by_secs`, within what is left of the rule's allowance.
pub(super) fn extend(
    esc: &Escalation,
    path_id: &str,
    signed: &SignedExtend,
    person: &PersonInfo,
    now: Timestamp,
) -> Result<Changed, ApiError> {
    let b: &ExtendBody = &signed.body;
    shared(esc, path_id, &b.escalation, &b.issued_at, now)?;
    reason(&b.reason)?;
    may_handle(esc, person)?;
    let h = &esc.handling;
    if h.extend_allowed_secs == 0 {
        return Err(ApiError::conflict(
            "extend_not_allowed",
            format!(
                "rule \"{}\" allows no extension (it sets no `extend`)",
                esc.rule.id
            ),
        ));
    }
    if b.by_secs == 0 {
        return Err(ApiError::bad_request(
            "invalid_request",
            "by_secs must be at least 1",
        ));
    }
    let left = h.extend_left_secs();
    if b.by_secs > left {
        return Err(ApiError::conflict(
            "extend_exceeded",
            format!(
                "{} asked, but only {} of the {} allowance is left",
                minutes(b.by_secs),
                minutes(left),
                minutes(h.extend_allowed_secs)
            ),
        ));
    }
    let by = chrono::Duration::seconds(b.by_secs as i64);
    let mut next = esc.clone();
    next.handling.tidy(now);
    next.deadline = esc.deadline + by;
    next.handling.extended_secs += b.by_secs;
    let entry = AuditEvent::extended(&next, signed);
    Ok((next, entry))
}

/// Claims it for 15 minutes, or releases the signer's own claim.
pub(super) fn claim(
    esc: &Escalation,
    path_id: &str,
    signed: &SignedClaim,
    person: &PersonInfo,
    now: Timestamp,
) -> Result<Changed, ApiError> {
    let b: &ClaimBody = &signed.body;
    shared(esc, path_id, &b.escalation, &b.issued_at, now)?;
    may_handle(esc, person)?;
    let mut next = esc.clone();
    next.handling.tidy(now);
    let held = next
        .handling
        .claim
        .as_ref()
        .map(|c| (c.person.clone(), c.until));
    match (b.claim, held) {
        (true, Some((other, until))) if other != person.id => Err(ApiError::conflict(
            "claimed_by_other",
            format!("{other} is on it until {}", time(until)),
        )),
        (true, _) => {
            next.handling.claim = Some(Claim {
                person: person.id.clone(),
                until: now + chrono::Duration::seconds(CLAIM_SECS),
            });
            let entry = AuditEvent::claimed(&next, signed);
            Ok((next, entry))
        }
        (false, Some((holder, _))) if holder == person.id => {
            next.handling.claim = None;
            let entry = AuditEvent::claimed(&next, signed);
            Ok((next, entry))
        }
        (false, _) => Err(ApiError::conflict(
            "not_claimed",
            "you hold no claim on this escalation",
        )),
    }
}

/// Hides it from the signer's queue until `until`, brought forward so it is back before the
/// deadline ([`latest_snooze`]); a time not after `now` ends the signer's snooze.
pub(super) fn snooze(
    esc: &Escalation,
    path_id: &str,
    signed: &SignedSnooze,
    person: &PersonInfo,
    now: Timestamp,
) -> Result<Changed, ApiError> {
    let b: &SnoozeBody = &signed.body;
    shared(esc, path_id, &b.escalation, &b.issued_at, now)?;
    may_snooze(esc, person)?;
    let asked: Timestamp = chrono::DateTime::parse_from_rfc3339(&b.until)
        .map_err(|_| ApiError::bad_request("invalid_request", "`until` must be an RFC 3339 time"))?
        .into();
    let mut next = esc.clone();
    next.handling.tidy(now);
    let until = if asked <= now {
        next.handling.snoozed.remove(&person.id);
        None
    } else {
        let until = asked.min(latest_snooze(esc.deadline, now));
        if until <= now {
            return Err(ApiError::conflict(
                "too_late_to_snooze",
                format!(
                    "the deadline ({}) is too close to snooze it: decide it now",
                    time(esc.deadline)
                ),
            ));
        }
        next.handling.snoozed.insert(person.id.clone(), until);
        Some(until)
    };
    let entry = AuditEvent::snoozed(&next, signed, until);
    Ok((next, entry))
}

/// Hands it to the rule's secondary group now, as its deadline would.
pub(super) fn reassign(
    esc: &Escalation,
    plan: &ExpiryPlan,
    path_id: &str,
    signed: &SignedReassign,
    person: &PersonInfo,
    now: Timestamp,
) -> Result<Changed, ApiError> {
    let b: &ReassignBody = &signed.body;
    shared(esc, path_id, &b.escalation, &b.issued_at, now)?;
    reason(&b.reason)?;
    may_reassign(esc, person)?;
    if plan.escalate_to.is_none() {
        return Err(ApiError::conflict(
            "no_secondary_group",
            format!(
                "rule \"{}\" has no `escalate_to` group to hand it to",
                esc.rule.id
            ),
        ));
    }
    if esc.handed_over {
        return Err(ApiError::conflict(
            "already_handed_over",
            format!("it was handed over to {} already", esc.group),
        ));
    }
    let next = machine::hand_over(esc, plan, now).ok_or_else(|| {
        ApiError::conflict(
            "no_secondary_group",
            "the hand-over's deadline cannot be set",
        )
    })?;
    let entry = AuditEvent::reassigned(esc, &next, signed);
    Ok((next, entry))
}
