//! The breaker state machine without a server: trips at the count, trials, resets, restore.

use chrono::{TimeDelta, TimeZone, Utc};

use super::*;
use crate::config::SourceFile;
use crate::server::policy::Policy;

fn breakers(toml: &str) -> Breakers {
    let root = env!("CARGO_MANIFEST_DIR");
    let roster = crate::server::roster::Roster::load(std::path::Path::new(&format!(
        "{root}/assets/roster.toml"
    )))
    .unwrap();
    let text = format!("[[rule]]\nid = \"r\"\neffect = \"allow\"\nreason = \"r\"\n{toml}");
    let policy = Policy::parse(&SourceFile::new("policy.toml", &text), &roster).unwrap();
    Breakers::new(&policy.breakers)
}

const FATIGUE: &str =
    "[[breaker]]\nid = \"f\"\nwindow = \"10m\"\nmax_escalations = 2\ncooldown = \"1m\"\n";
const SHARE: &str =
    "[[breaker]]\nid = \"d\"\nwindow = \"10m\"\nmax_denied_share = 0.5\nmin_calls = 2\ncooldown = \"1m\"\n";

fn t(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_790_000_000, 0).unwrap() + TimeDelta::seconds(secs)
}

fn call(id: &str, effect: Effect, at: Timestamp) -> RecentAction {
    RecentAction {
        id: id.into(),
        agent: "mailer".into(),
        session: "s".into(),
        tool: "email.send".into(),
        effect,
        rule: Some("r".into()),
        governed: None,
        cost: None,
        resolution: None,
        at,
    }
}

fn judged<'a>(id: &'a str, review: bool, denied: bool) -> Judged<'a> {
    Judged {
        agent: "mailer",
        action: id,
        review,
        policy_denied: denied,
        governed: false,
    }
}

/// Judges and records a call as the enforcement point does.
fn submit(b: &Breakers, id: &str, effect: Effect, at: Timestamp) -> (Gate, Verdict, usize) {
    let gate = b.gate("mailer", id, at);
    if let Gate::Deny { .. } = gate {
        return (gate, Verdict::Unchanged, 0);
    }
    let (verdict, events) = b.judge(
        &judged(id, effect == Effect::Review, effect == Effect::Deny),
        at,
        || false,
    );
    let mut c = call(id, effect, at);
    if let Verdict::Deny { breaker, .. } = &verdict {
        c.effect = Effect::Deny;
        c.governed = Some(format!("breaker:{breaker}"));
    }
    b.recorded(&c);
    (gate, verdict, events.len())
}

#[test]
fn the_escalation_past_the_max_trips_and_the_trial_decides() {
    let b = breakers(FATIGUE);
    assert_eq!(submit(&b, "a1", Effect::Review, t(0)).1, Verdict::Unchanged);
    assert_eq!(submit(&b, "a2", Effect::Review, t(1)).1, Verdict::Unchanged);
    // Allowed calls never count toward fatigue.
    assert_eq!(submit(&b, "a3", Effect::Allow, t(2)).1, Verdict::Unchanged);
    let (_, v, events) = submit(&b, "a4", Effect::Review, t(3));
    assert!(matches!(v, Verdict::Deny { .. }), "{v:?}");
    assert_eq!(events, 1);
    assert!(matches!(b.gate("mailer", "a5", t(4)), Gate::Deny { .. }));
    assert_eq!(b.report(Some("mailer"), t(4))[0].state, BreakerState::Open);
    assert_eq!(b.open_counts(), vec![("f".to_string(), 1)]);
    // Half-open: one trial; a second call meanwhile is held off; an allowed trial closes.
    assert_eq!(b.report(None, t(64))[0].state, BreakerState::HalfOpen);
    assert_eq!(b.gate("mailer", "trial", t(64)), Gate::Trial);
    assert!(matches!(
        b.gate("mailer", "other", t(64)),
        Gate::Deny { .. }
    ));
    let (v, events) = b.judge(&judged("trial", false, false), t(64), || false);
    assert_eq!((v, events.len()), (Verdict::Unchanged, 1));
    assert!(matches!(events[0], AuditEvent::BreakerClosed(_)));
    // Not closed until the trial is recorded.
    assert!(!b.report(None, t(64)).is_empty());
    b.recorded(&call("trial", Effect::Allow, t(64)));
    assert!(b.report(None, t(64)).is_empty());
    assert_eq!(b.gate("mailer", "x", t(65)), Gate::Pass);
}

#[test]
fn escalations_age_out_of_the_window_and_a_lost_trial_stops_holding() {
    let b = breakers(FATIGUE);
    submit(&b, "a1", Effect::Review, t(0));
    submit(&b, "a2", Effect::Review, t(1));
    // Past the window the first two no longer count.
    assert_eq!(
        submit(&b, "a3", Effect::Review, t(601)).1,
        Verdict::Unchanged
    );
    assert!(matches!(
        submit(&b, "a4", Effect::Review, t(602)).1,
        Verdict::Unchanged
    ));
    assert!(matches!(
        submit(&b, "a5", Effect::Review, t(603)).1,
        Verdict::Deny { .. }
    ));
    assert_eq!(b.gate("mailer", "lost", t(700)), Gate::Trial);
    assert!(matches!(
        b.gate("mailer", "next", t(710)),
        Gate::Deny { .. }
    ));
    assert_eq!(b.gate("mailer", "next", t(731)), Gate::Trial);
}

#[test]
fn a_denied_share_needs_min_calls_and_a_denied_trial_reopens() {
    let b = breakers(SHARE);
    // One denial alone is below min_calls.
    assert_eq!(submit(&b, "d1", Effect::Deny, t(0)).2, 0);
    let (_, v, events) = submit(&b, "d2", Effect::Deny, t(1));
    assert_eq!((v, events), (Verdict::Unchanged, 1));
    assert!(matches!(b.gate("mailer", "x", t(2)), Gate::Deny { .. }));
    assert_eq!(b.gate("mailer", "trial", t(62)), Gate::Trial);
    let (_, events) = b.judge(&judged("trial", false, true), t(62), || false);
    assert!(matches!(events[0], AuditEvent::BreakerTripped(_)));
    assert_eq!(b.report(None, t(63))[0].state, BreakerState::Open);
    assert_eq!(b.report(None, t(63))[0].until, t(122));
}

#[test]
fn a_reset_closes_and_counts_start_afresh_and_restore_replays_the_log() {
    let b = breakers(SHARE);
    assert_eq!(b.resettable("mailer", None), Err(ResetRefused::NothingOpen));
    assert_eq!(
        b.resettable("mailer", Some("nope")),
        Err(ResetRefused::UnknownBreaker("nope".into()))
    );
    submit(&b, "d1", Effect::Deny, t(0));
    let (_, _, n) = submit(&b, "d2", Effect::Deny, t(1));
    assert_eq!(n, 1);
    assert_eq!(b.resettable("mailer", None), Ok(vec!["d".to_string()]));
    b.reset("mailer", &["d".to_string()], t(5));
    assert_eq!(b.gate("mailer", "x", t(6)), Gate::Pass);
    assert_eq!(
        submit(&b, "d3", Effect::Deny, t(6)).2,
        0,
        "afresh after the reset"
    );

    // Restore: a trip not followed by a close stays open; calls before it do not count.
    let trip = AuditEvent::BreakerTripped(crate::server::audit::BreakerTripped {
        breaker: "d".into(),
        agent: "mailer".into(),
        reason: "2 of 2".into(),
        trigger: "denied_share".into(),
        action: "d2".into(),
        since: t(1),
        until: t(61),
    });
    let restored = breakers(SHARE);
    restored.restore_events(std::slice::from_ref(&trip));
    restored.restore(&[call("d1", Effect::Deny, t(0))], t(10));
    assert!(matches!(
        restored.gate("mailer", "x", t(10)),
        Gate::Deny { .. }
    ));
    let closed = AuditEvent::BreakerClosed(crate::server::audit::BreakerClosed {
        breaker: "d".into(),
        agent: "mailer".into(),
        action: "x".into(),
        reason: "trial".into(),
        at: t(70),
    });
    let restored = breakers(SHARE);
    restored.restore_events(&[trip, closed]);
    restored.restore(
        &[
            call("d1", Effect::Deny, t(0)),
            call("d9", Effect::Deny, t(71)),
        ],
        t(72),
    );
    assert_eq!(restored.gate("mailer", "y", t(72)), Gate::Pass);
    // One denial after the close counts; a second trips.
    assert_eq!(submit(&restored, "d10", Effect::Deny, t(73)).2, 1);
}

#[test]
fn reviews_count_when_judged_so_calls_at_once_cannot_pass_the_max_and_attached_ones_do_not() {
    let b = breakers(FATIGUE);
    // A review that joins a pending escalation asks nobody anything new.
    for id in ["j1", "j2", "j3"] {
        let (v, events) = b.judge(&judged(id, true, false), t(0), || true);
        assert_eq!((v, events.len()), (Verdict::Unchanged, 0));
    }
    // Two reviews judged before either is recorded: the third is the one past the max.
    assert_eq!(
        b.judge(&judged("a1", true, false), t(1), || false).0,
        Verdict::Unchanged
    );
    assert_eq!(
        b.judge(&judged("a2", true, false), t(1), || false).0,
        Verdict::Unchanged
    );
    let (v, events) = b.judge(&judged("a3", true, false), t(1), || false);
    assert!(matches!(v, Verdict::Deny { .. }), "{v:?}");
    assert!(
        matches!(&events[0], AuditEvent::BreakerTripped(t) if t.reason == "3 escalations within 10m (max 2)")
    );
    // Recording them afterwards counts nothing twice: the breaker is open, counts afresh.
    for id in ["a1", "a2"] {
        b.recorded(&call(id, Effect::Review, t(1)));
    }
    b.reset("mailer", &["f".to_string()], t(2));
    assert_eq!(submit(&b, "a4", Effect::Review, t(3)).1, Verdict::Unchanged);
    assert_eq!(submit(&b, "a5", Effect::Review, t(3)).1, Verdict::Unchanged);
}
