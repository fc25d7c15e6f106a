//! Votes: recorded, approving at the threshold, denying, duplicates, after a hand-over.

use chrono::Duration;

use super::*;
use crate::protocol::NotYours;

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
