//! Deadlines (hand-over, expiry, expiry while down), withdrawal and kill switches.

use chrono::Duration;

use super::*;

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
