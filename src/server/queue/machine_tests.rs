//! Every transition of the escalation state machine, and every refusal code a vote can get.

use std::collections::BTreeSet;

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use super::decide::refused;
use super::machine::*;
use crate::protocol::{
    ActionRecord, DecisionBody, Effect, Escalation, EscalationState, NotYours, PersonInfo, Role,
    RuleRef, SignedDecision, Timestamp, Vote, MAX_CLOCK_SKEW_SECS, MAX_TEXT_LEN,
};
use crate::server::signed::SignedTimeError;
use crate::server::store::ExpiryPlan;

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
}

/// Pending, for group `finance`, two approvals, owner `olga` kept apart, on behalf of `rita`,
/// deadline five minutes after `t0`.
fn escalation() -> Escalation {
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
        },
        history: Vec::new(),
        agent_owner: Some("olga".into()),
        group: "finance".into(),
        approvals_required: 2,
        separate_owner: true,
        created_at: now,
        deadline: now + Duration::minutes(5),
        handed_over: false,
        state: EscalationState::Pending,
        resolved_at: None,
        resolution_reason: None,
        decisions: Vec::new(),
        elided: Vec::new(),
    }
}

fn approver(id: &str, group: &str) -> PersonInfo {
    PersonInfo {
        id: id.into(),
        name: id.into(),
        roles: vec![Role::Approver],
        groups: vec![group.into()],
    }
}

/// A decision by `who`, signed (as far as the machine cares) one minute after `t0`.
fn decision(who: &str, verdict: Vote, reason: &str) -> SignedDecision {
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

fn now() -> Timestamp {
    t0() + Duration::minutes(1)
}

fn counted(b: Result<Ballot, Refusal>) -> Step {
    match b {
        Ok(Ballot::Counted(step)) => step,
        other => panic!("expected a counted vote, got {other:?}"),
    }
}

fn plan(escalate_to: Option<&str>) -> ExpiryPlan {
    ExpiryPlan {
        escalate_to: escalate_to.map(str::to_string),
        timeout_secs: 600,
    }
}

// --- votes ---

#[test]
fn an_approval_short_of_the_threshold_is_recorded_and_stays_pending() {
    let esc = escalation();
    let d = decision("carol", Vote::Approve, "");
    let Step::Update(next) = counted(vote(&esc, &d, &approver("carol", "finance"), now())) else {
        panic!("one of two approvals resolves nothing");
    };
    assert_eq!(next.state, EscalationState::Pending);
    assert_eq!(next.decisions, vec![d]);
    assert_eq!((next.resolved_at, next.resolution_reason), (None, None));
    assert_eq!(esc.decisions.len(), 0, "the input is never changed");
}

#[test]
fn the_approval_that_reaches_the_threshold_approves() {
    let mut esc = escalation();
    esc.decisions.push(decision("carol", Vote::Approve, ""));
    let d = decision("dave", Vote::Approve, "checked");
    let Step::Resolve(done) = counted(vote(&esc, &d, &approver("dave", "finance"), now())) else {
        panic!("the second approval resolves");
    };
    assert_eq!(done.state, EscalationState::Approved);
    assert_eq!(done.resolved_at, Some(now()));
    assert_eq!(
        done.resolution_reason.as_deref(),
        Some("approved by carol, dave")
    );
    assert_eq!(done.decisions.len(), 2);
}

#[test]
fn one_deny_denies_even_after_approvals() {
    let mut esc = escalation();
    esc.approvals_required = 3;
    esc.decisions.push(decision("carol", Vote::Approve, ""));
    let d = decision("dave", Vote::Deny, "double charge");
    let Step::Resolve(done) = counted(vote(&esc, &d, &approver("dave", "finance"), now())) else {
        panic!("a deny resolves");
    };
    assert_eq!(done.state, EscalationState::Denied);
    assert_eq!(
        done.resolution_reason.as_deref(),
        Some("denied by dave: double charge")
    );
}

#[test]
fn the_requester_denies_without_role_or_group() {
    let esc = escalation();
    let rita = PersonInfo {
        roles: vec![],
        groups: vec![],
        ..approver("rita", "none")
    };
    let d = decision("rita", Vote::Deny, "not mine");
    let step = counted(vote(&esc, &d, &rita, now()));
    assert_eq!(step.escalation().state, EscalationState::Denied);
}

#[test]
fn the_same_signed_decision_again_is_a_duplicate_pending_or_closed() {
    let mut esc = escalation();
    let d = decision("carol", Vote::Approve, "");
    esc.decisions.push(d.clone());
    // Even after its deadline or with a stale time: it was recorded, so it is acknowledged.
    let late = esc.deadline + Duration::hours(1);
    assert_eq!(
        vote(&esc, &d, &approver("carol", "finance"), late),
        Ok(Ballot::Duplicate)
    );
    esc.state = EscalationState::Approved;
    assert_eq!(vote_on_closed(&esc, &d), Ok(()));
    assert_eq!(
        vote(&esc, &d, &approver("carol", "finance"), now()),
        Ok(Ballot::Duplicate)
    );
}

#[test]
fn after_a_hand_over_the_second_group_votes_and_the_first_no_longer_does() {
    let esc = escalation();
    let AtDeadline::HandOver { next, .. } =
        at_deadline(&esc, &plan(Some("finance-leads")), esc.deadline)
    else {
        panic!("hands over");
    };
    let d = decision("lena", Vote::Approve, "");
    let at = next.deadline - Duration::minutes(1);
    let mut d_at = d.clone();
    d_at.body.issued_at = at.to_rfc3339();
    assert!(vote(&next, &d_at, &approver("lena", "finance-leads"), at).is_ok());
    let mut carol = decision("carol", Vote::Approve, "");
    carol.body.issued_at = at.to_rfc3339();
    assert_eq!(
        vote(&next, &carol, &approver("carol", "finance"), at),
        Err(Refusal::NotYours(NotYours::OutsideGroup(
            "finance-leads".into()
        )))
    );
}

// --- refusals ---

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

// --- deadlines ---

#[test]
fn before_its_deadline_nothing_happens() {
    let esc = escalation();
    let early = esc.deadline - Duration::milliseconds(1);
    assert_eq!(
        at_deadline(&esc, &plan(Some("finance-leads")), early),
        AtDeadline::NotYet(esc.deadline)
    );
    assert_eq!(expired_while_down(&esc, early), None);
}

#[test]
fn the_deadline_hands_over_once_with_a_fresh_deadline() {
    let mut esc = escalation();
    esc.decisions.push(decision("carol", Vote::Approve, ""));
    let at = esc.deadline + Duration::seconds(2); // the timer may wake late
    let AtDeadline::HandOver { next, from } = at_deadline(&esc, &plan(Some("finance-leads")), at)
    else {
        panic!("hands over");
    };
    assert_eq!(from, "finance");
    assert_eq!(next.group, "finance-leads");
    assert!(next.handed_over);
    assert_eq!(next.deadline, at + Duration::seconds(600));
    assert_eq!(next.state, EscalationState::Pending);
    assert_eq!(next.decisions, esc.decisions, "votes so far still count");
    // Its second deadline expires it.
    let AtDeadline::Expire(done) = at_deadline(&next, &plan(Some("finance-leads")), next.deadline)
    else {
        panic!("expires after the hand-over");
    };
    assert_eq!(done.state, EscalationState::Expired);
}

#[test]
fn the_deadline_expires_without_a_hand_over_or_when_it_cannot_be_set() {
    let esc = escalation();
    let AtDeadline::Expire(done) = at_deadline(&esc, &plan(None), esc.deadline) else {
        panic!("expires");
    };
    assert_eq!(done.state, EscalationState::Expired);
    assert_eq!(done.resolved_at, Some(esc.deadline));
    assert_eq!(
        done.resolution_reason.as_deref(),
        Some("expired: no decision before the deadline (2026-11-21T10:05:00Z)")
    );
    let unbounded = ExpiryPlan {
        escalate_to: Some("finance-leads".into()),
        timeout_secs: u64::MAX,
    };
    assert!(matches!(
        at_deadline(&esc, &unbounded, esc.deadline),
        AtDeadline::Expire(_)
    ));
}

#[test]
fn a_deadline_passed_while_down_expires_without_a_hand_over() {
    let esc = escalation();
    let later = esc.deadline + Duration::hours(3);
    let done = expired_while_down(&esc, later).expect("expired");
    assert_eq!(done.state, EscalationState::Expired);
    assert_eq!(done.resolved_at, Some(later));
    assert_eq!(
        done.resolution_reason.as_deref(),
        Some("expired while the server was down (deadline 2026-11-21T10:05:00Z)")
    );
}

// --- withdraw and kill switch ---

#[test]
fn withdrawing_or_a_kill_switch_cancels_a_pending_escalation_only() {
    let esc = escalation();
    let gone = withdraw(&esc, now()).unwrap();
    assert_eq!(gone.state, EscalationState::Cancelled);
    assert_eq!(
        gone.resolution_reason.as_deref(),
        Some("withdrawn by the agent: the call was cancelled before a decision")
    );
    let killed = kill(&esc, "kill switch global is on: incident".into(), now()).unwrap();
    assert_eq!(killed.state, EscalationState::Cancelled);
    assert_eq!(killed.resolved_at, Some(now()));
    assert_eq!(
        killed.resolution_reason.as_deref(),
        Some("kill switch global is on: incident")
    );
    for closed in [gone, killed] {
        assert_eq!(
            withdraw(&closed, now()),
            Err(Refusal::NotPending(EscalationState::Cancelled))
        );
        assert_eq!(
            kill(&closed, "x".into(), now()),
            Err(Refusal::NotPending(EscalationState::Cancelled))
        );
    }
}
