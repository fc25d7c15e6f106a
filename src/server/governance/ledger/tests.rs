//! The ledger's counting: windows, release, reported costs, grace, restore.

use chrono::{TimeZone, Utc};

use super::*;
use crate::config::SourceFile;
use crate::protocol::LimitState;
use crate::server::policy::Policy;
use crate::server::roster::Roster;

fn ledger(text: &str) -> Ledger {
    let root = env!("CARGO_MANIFEST_DIR");
    let roster = Roster::load(std::path::Path::new(&format!("{root}/assets/roster.toml"))).unwrap();
    let policy = Policy::parse(&SourceFile::new("policy.toml", text), &roster).unwrap();
    Ledger::new(&policy.limits)
}

const LIMITS: &str = r#"
[[limit]]
id = "calls"
agents = ["refund-bot"]
window = "1h"
max_calls = 2
warn_at = 0.5

[[limit]]
id = "spend"
per = "session"
tools = ["stripe.*"]
window = "1d"
max_cost = 10.0
on_exceed = "review"
grace_cost = 5.0
approvers = "finance"
"#;

fn t(h: u32, m: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 12, 6, h, m, 0).unwrap()
}

fn take(
    l: &Ledger,
    id: &str,
    session: &str,
    tool: &str,
    cost: f64,
    now: Timestamp,
) -> Vec<(String, Use)> {
    l.admit(id, "refund-bot", session, tool, now, |s| {
        (
            s.iter().map(|s| (s.limit.id.clone(), s.used)).collect(),
            Some(cost),
        )
    })
}

#[test]
fn calls_count_in_their_window_and_the_next_window_starts_from_zero() {
    let l = ledger(LIMITS);
    assert_eq!(take(&l, "a1", "s", "stripe.refund", 3.0, t(10, 5)).len(), 2);
    let before = take(&l, "a2", "s", "stripe.refund", 4.0, t(10, 59));
    assert_eq!(before[0].1.calls, 1);
    assert_eq!(before[1].1.cost, 3.0);
    let r = l.report(Some("refund-bot"), t(10, 59));
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].limit.as_str(), r[0].calls, r[0].state),
        ("calls", 2, LimitState::Exceeded)
    );
    assert_eq!(r[0].resets_at, t(11, 0));
    assert_eq!((r[1].limit.as_str(), r[1].cost), ("spend", 7.0));
    assert_eq!(r[1].session.as_deref(), Some("s"));
    // The hourly window has ended; the daily one has not.
    let next = take(&l, "a3", "s", "stripe.refund", 0.0, t(11, 0));
    assert_eq!(next[0].1.calls, 0);
    assert_eq!(next[1].1.calls, 2);
    assert!(l.report(Some("mailer"), t(11, 0)).is_empty());
}

#[test]
fn sessions_are_apart_and_other_tools_do_not_count_for_a_tool_limit() {
    let l = ledger(LIMITS);
    take(&l, "a1", "s1", "stripe.refund", 6.0, t(9, 0));
    let other = take(&l, "a2", "s2", "stripe.refund", 1.0, t(9, 1));
    assert_eq!(other[1].1.cost, 0.0, "another session starts from zero");
    let email = take(&l, "a3", "s1", "email.send", 1.0, t(9, 2));
    assert_eq!(email.len(), 1, "only the agent-wide limit covers email");
}

#[test]
fn release_and_reported_cost_change_the_use_and_never_go_negative() {
    let l = ledger(LIMITS);
    take(&l, "a1", "s", "stripe.refund", 6.0, t(9, 0));
    take(&l, "a2", "s", "stripe.refund", 2.0, t(9, 0));
    assert!(l.cost_reported("a1", 1.5));
    assert!(!l.cost_reported("unknown", 1.0));
    let r = l.report(None, t(9, 1));
    assert_eq!(r[1].cost, 3.5);
    l.release("a2");
    l.release("a2");
    let r = l.report(None, t(9, 1));
    assert_eq!((r[0].calls, r[1].calls, r[1].cost), (1, 1, 1.5));
    l.release("a1");
    let r = l.report(None, t(9, 1));
    assert_eq!((r[0].calls, r[1].cost), (0, 0.0));
}

#[test]
fn restore_counts_what_was_not_denied_and_grants_approved_budget_grace() {
    let l = ledger(LIMITS);
    let call = |id: &str, effect, resolution, governed: Option<&str>| RecentAction {
        id: id.into(),
        agent: "refund-bot".into(),
        session: "s".into(),
        tool: "stripe.refund".into(),
        effect,
        rule: None,
        governed: governed.map(str::to_string),
        cost: Some(2.0),
        resolution,
        at: t(8, 30),
    };
    l.restore(
        &[
            call("a1", Effect::Allow, None, None),
            call("a2", Effect::Deny, None, None),
            call("a3", Effect::Review, Some(Resolution::Denied), None),
            call("a4", Effect::Review, None, None),
            call(
                "a5",
                Effect::Review,
                Some(Resolution::Approved),
                Some("limit:spend"),
            ),
        ],
        t(8, 45),
    );
    let r = l.report(None, t(8, 45));
    assert_eq!((r[0].calls, r[1].calls, r[1].cost), (3, 3, 6.0));
    assert_eq!(r[1].grace_cost, 5.0);
    assert_eq!(r[0].grace_calls, 0);
    assert_eq!(l.lookback(t(8, 45)), Some(t(0, 0)));
}
