//! The tally on its own: rates, percentiles, buckets, the person list's order.

use chrono::{Duration, TimeZone, Utc};

use super::*;

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

#[test]
fn nothing_counted_is_no_rate_not_a_division_by_zero() {
    let f = FigureTally::new(t0(), t0() + Duration::hours(1)).finish();
    assert_eq!(f.window_secs, 3600);
    assert_eq!(f.calls, 0);
    assert_eq!(f.policy_deny_rate, None);
    assert_eq!(f.intervention_rate, None);
    assert_eq!(f.expiry_rate, None);
    assert_eq!(f.time_to_decide_p90_secs, None);
    assert_eq!(f.series.len(), FIGURE_BUCKETS);
    assert_eq!(f.series[1].start, t0() + Duration::seconds(150));
}

#[test]
fn calls_count_by_kind_and_bucket() {
    let mut t = FigureTally::new(t0(), t0() + Duration::hours(1));
    t.call(t0(), CallKind::Other(Effect::Allow));
    t.call(t0() + Duration::seconds(200), CallKind::PolicyDeny);
    t.call(t0() + Duration::seconds(201), CallKind::GovernanceDeny);
    t.call(
        t0() + Duration::minutes(59),
        CallKind::Other(Effect::Review),
    );
    t.call(t0() + Duration::minutes(60), CallKind::Other(Effect::Flag));
    let f = t.finish();
    assert_eq!((f.calls, f.policy_denies, f.governance_denies), (5, 1, 1));
    assert_eq!((f.reviews, f.flags), (1, 1));
    assert_eq!(f.policy_deny_rate, Some(0.2));
    assert_eq!(f.intervention_rate, Some(0.4));
    assert_eq!((f.series[0].calls, f.series[1].denies), (1, 2));
    // The window's last instant falls in the last bucket, not past it.
    assert_eq!(f.series[23].calls, 2);
    assert_eq!(f.series[23].reviews, 1);
}

#[test]
fn decide_times_mean_and_p90_and_expiry_rate() {
    let mut t = FigureTally::new(t0(), t0() + Duration::hours(1));
    for s in 1..=10 {
        t.ended(Some(t0()), t0() + Duration::seconds(s * 10), true, false);
    }
    t.ended(Some(t0()), t0() + Duration::seconds(5), false, true);
    t.ended(None, t0() + Duration::seconds(5), false, false);
    let f = t.finish();
    assert_eq!((f.resolved, f.decided, f.expired), (12, 10, 1));
    assert_eq!(f.time_to_decide_mean_secs, Some(55.0));
    assert_eq!(f.time_to_decide_p90_secs, Some(90.0));
    assert_eq!(f.expiry_rate, Some(1.0 / 12.0));
}

#[test]
fn people_ordered_by_approvals_with_median_and_rubber_stamp() {
    let mut t = FigureTally::new(t0(), t0() + Duration::hours(1));
    for s in [1.0, 2.0, 3.0, 2.0, 1.0] {
        t.vote("fast", Vote::Approve, Some(s));
    }
    t.vote("slow", Vote::Approve, Some(300.0));
    t.vote("slow", Vote::Deny, Some(10.0));
    t.vote("slow", Vote::Approve, Some(-4.0));
    let f = t.finish();
    let names: Vec<_> = f
        .approvals_per_person
        .iter()
        .map(|p| &p.person[..])
        .collect();
    assert_eq!(names, ["fast", "slow"]);
    let fast = &f.approvals_per_person[0];
    assert_eq!(fast.median_secs_to_approve, Some(2.0));
    assert!(fast.looks_rubber_stamped());
    let slow = &f.approvals_per_person[1];
    assert_eq!((slow.approvals, slow.denials), (2, 1));
    // A vote signed before the ask was made counts as immediate, never negative.
    assert_eq!(slow.median_secs_to_approve, Some(0.0));
    assert!(!slow.looks_rubber_stamped());
}

#[test]
fn flips_latest_first_with_the_time_to_bite() {
    let mut t = FigureTally::new(t0(), t0() + Duration::hours(1));
    t.flip(
        "global".into(),
        t0() + Duration::seconds(10),
        Some(t0() + Duration::seconds(13)),
    );
    t.flip("tool:x".into(), t0() + Duration::seconds(20), None);
    let f = t.finish();
    assert_eq!(f.killswitch_to_first_deny[0].scope, "tool:x");
    assert_eq!(f.killswitch_to_first_deny[0].first_deny_after_secs, None);
    assert_eq!(
        f.killswitch_to_first_deny[1].first_deny_after_secs,
        Some(3.0)
    );
}
