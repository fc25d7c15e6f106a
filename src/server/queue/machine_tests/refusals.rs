//! Every refusal a vote can get, and its API code and status.

use std::collections::BTreeSet;

use chrono::Duration;

use super::*;
use crate::protocol::{NotYours, MAX_CLOCK_SKEW_SECS, MAX_TEXT_LEN};
use crate::server::queue::decide::refused;
use crate::server::signed::SignedTimeError;

#[test]
fn a_decision_for_another_escalation_or_with_a_long_reason_is_refused_up_front() {
    let d = decision("carol", Vote::Approve, "");
    assert_eq!(check_decision("esc_1", &d), Ok(()));
    assert_eq!(
        check_decision("esc_2", &d),
        Err(Refusal::EscalationMismatch {
            signed_for: "esc_1".into(),
            addressed: "esc_2".into()
        })
    );
    let long = decision("carol", Vote::Deny, &"x".repeat(MAX_TEXT_LEN + 1));
    assert_eq!(check_decision("esc_1", &long), Err(Refusal::ReasonTooLong));
    let at_limit = decision("carol", Vote::Deny, &"x".repeat(MAX_TEXT_LEN));
    assert_eq!(check_decision("esc_1", &at_limit), Ok(()));
}

#[test]
fn a_wrong_digest_is_refused_pending_or_closed_before_anything_else() {
    let mut esc = escalation();
    let mut d = decision("carol", Vote::Approve, "");
    d.body.digest = "sha256:bb".into();
    d.body.issued_at = "2020-01-01T00:00:00Z".into(); // stale too: the digest is said first
    let carol = approver("carol", "finance");
    assert_eq!(vote(&esc, &d, &carol, now()), Err(Refusal::DigestMismatch));
    esc.state = EscalationState::Denied;
    assert_eq!(vote_on_closed(&esc, &d), Err(Refusal::DigestMismatch));
}

#[test]
fn no_vote_on_a_closed_escalation() {
    for state in [
        EscalationState::Approved,
        EscalationState::Denied,
        EscalationState::Expired,
        EscalationState::Cancelled,
    ] {
        let mut esc = escalation();
        esc.state = state;
        let d = decision("carol", Vote::Approve, "");
        assert_eq!(
            vote(&esc, &d, &approver("carol", "finance"), now()),
            Err(Refusal::NotPending(state))
        );
        assert_eq!(vote_on_closed(&esc, &d), Err(Refusal::NotPending(state)));
    }
}

#[test]
fn a_stale_or_unreadable_issued_at_is_refused() {
    let esc = escalation();
    let carol = approver("carol", "finance");
    let mut d = decision("carol", Vote::Approve, "");
    let skew = Duration::seconds(MAX_CLOCK_SKEW_SECS + 1);
    for issued in [now() - skew, now() + skew] {
        d.body.issued_at = issued.to_rfc3339();
        assert_eq!(
            vote(&esc, &d, &carol, now()),
            Err(Refusal::SignedTime(SignedTimeError::Stale {
                field: "issued_at",
                skew: MAX_CLOCK_SKEW_SECS + 1
            }))
        );
    }
    d.body.issued_at = "soon".into();
    assert_eq!(
        vote(&esc, &d, &carol, now()),
        Err(Refusal::SignedTime(SignedTimeError::Unparseable {
            field: "issued_at"
        }))
    );
}

#[test]
fn a_vote_at_or_after_the_deadline_is_refused_whoever_casts_it() {
    let esc = escalation();
    for at in [esc.deadline, esc.deadline + Duration::seconds(1)] {
        let mut d = decision("dave", Vote::Approve, "");
        d.body.issued_at = at.to_rfc3339();
        // An outsider hears `expired`, not `outside_group`: the deadline is checked first.
        assert_eq!(
            vote(&esc, &d, &approver("dave", "ops"), at),
            Err(Refusal::Expired)
        );
    }
}

#[test]
fn separation_of_duties_refuses_with_its_own_codes() {
    let mut esc = escalation();
    let cases = [
        (
            PersonInfo {
                roles: vec![Role::Lead],
                ..approver("erin", "finance")
            },
            Vote::Approve,
            NotYours::NotApprover,
        ),
        (
            approver("dave", "ops"),
            Vote::Deny,
            NotYours::OutsideGroup("finance".into()),
        ),
        (
            approver("rita", "finance"),
            Vote::Approve,
            NotYours::Requester,
        ),
        (approver("olga", "finance"), Vote::Approve, NotYours::Owner),
    ];
    for (person, verdict, why) in cases {
        let d = decision(&person.id, verdict, "r");
        assert_eq!(vote(&esc, &d, &person, now()), Err(Refusal::NotYours(why)));
    }
    esc.decisions.push(decision("carol", Vote::Approve, ""));
    let again = decision("carol", Vote::Deny, "changed my mind");
    assert_eq!(
        vote(&esc, &again, &approver("carol", "finance"), now()),
        Err(Refusal::NotYours(NotYours::AlreadyVoted))
    );
}

#[test]
fn a_deny_needs_a_reason() {
    let esc = escalation();
    for reason in ["", "   "] {
        let d = decision("carol", Vote::Deny, reason);
        assert_eq!(
            vote(&esc, &d, &approver("carol", "finance"), now()),
            Err(Refusal::ReasonRequired)
        );
    }
    // An approval needs none.
    let d = decision("carol", Vote::Approve, "");
    assert!(vote(&esc, &d, &approver("carol", "finance"), now()).is_ok());
}

#[test]
fn every_refusal_has_its_documented_code_and_status() {
    let refusals = [
        (
            Refusal::EscalationMismatch {
                signed_for: "a".into(),
                addressed: "b".into(),
            },
            "escalation_mismatch",
            400,
        ),
        (Refusal::ReasonTooLong, "invalid_request", 400),
        (Refusal::DigestMismatch, "digest_mismatch", 409),
        (
            Refusal::NotPending(EscalationState::Expired),
            "not_pending",
            409,
        ),
        (
            Refusal::SignedTime(SignedTimeError::Stale {
                field: "issued_at",
                skew: 301,
            }),
            "stale_signature",
            400,
        ),
        (
            Refusal::SignedTime(SignedTimeError::Unparseable { field: "issued_at" }),
            "invalid_request",
            400,
        ),
        (Refusal::Expired, "expired", 409),
        (
            Refusal::NotYours(NotYours::NotApprover),
            "not_approver",
            403,
        ),
        (
            Refusal::NotYours(NotYours::OutsideGroup("g".into())),
            "outside_group",
            403,
        ),
        (Refusal::NotYours(NotYours::Requester), "self_approval", 403),
        (Refusal::NotYours(NotYours::Owner), "owner_approval", 403),
        (
            Refusal::NotYours(NotYours::AlreadyVoted),
            "already_voted",
            409,
        ),
        (Refusal::NotYours(NotYours::NotPending), "not_pending", 409),
        (Refusal::ReasonRequired, "reason_required", 400),
    ];
    let mut codes = BTreeSet::new();
    for (r, code, status) in refusals {
        assert_eq!(r.code(), code);
        let e = refused(r);
        assert_eq!((e.code, e.status.as_u16()), (code, status));
        codes.insert(code);
    }
    assert_eq!(codes.len(), 12, "{codes:?}");
}
