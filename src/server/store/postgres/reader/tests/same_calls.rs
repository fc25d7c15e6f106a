//! Calls, keys, costs, switches, flags and grants: the same answers from both stores, and the
//! answers the fixture implies.

use chrono::Duration;

use super::{fixture, same, same_unordered};
use crate::protocol::{Effect, Resolution, IDEMPOTENCY_KEY_RETENTION_SECS};
use crate::server::store::backend::Reads;

const ACTIONS: [&str; 16] = [
    "act_1", "act_2", "act_3", "act_4", "act_5", "act_6", "act_7", "act_8", "act_9", "act_10",
    "act_11", "act_12", "act_13", "act_14", "act_15", "act_none",
];

#[test]
fn calls_read_the_same() {
    let (pair, clock) = fixture();
    let (s, p): (&dyn Reads, &dyn Reads) = (&pair.sqlite, &pair.pg);
    for (agent, session) in [
        ("bot", "s1"),
        ("helper", "s2"),
        ("helper", "s1"),
        ("x", "s1"),
    ] {
        for n in [0, 1, 3, 100] {
            same(
                &format!("last_calls({agent}, {session}, {n})"),
                s.last_calls(agent, session, n),
                p.last_calls(agent, session, n),
            );
        }
    }
    let last = p.last_calls("bot", "s1", 3).unwrap();
    let ids: Vec<_> = last.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        ids,
        ["act_13", "act_14", "act_11"],
        "the last three, oldest first"
    );
    assert_eq!(last[1].resolution, Some(Resolution::Cancelled));
    assert_eq!(last[1].escalation.as_deref(), Some("esc_14"));

    for id in ACTIONS {
        let action = same(
            &format!("load_action({id})"),
            s.load_action(id),
            p.load_action(id),
        );
        assert_eq!(action.is_some(), id != "act_none");
        same(
            &format!("costed_action({id})"),
            s.costed_action(id),
            p.costed_action(id),
        );
    }
    let denied = p.load_action("act_15").unwrap().unwrap();
    assert_eq!(denied.effect, Effect::Deny, "its escalation was unreadable");
    assert!(
        denied.reason.contains("esc_bad could not be read"),
        "{}",
        denied.reason
    );
    let granted = p.load_action("act_8").unwrap().unwrap();
    assert_eq!(granted.grant.as_deref(), Some("grt_a"));
    let cost = p.costed_action("act_8").unwrap().unwrap().cost;
    assert_eq!(cost, Some(3.0), "the reported cost, not the estimate");

    for limit in [0, 1, 5, 100] {
        same(
            &format!("recent_activity({limit})"),
            s.recent_activity(limit),
            p.recent_activity(limit),
        );
    }
    let recent = p.recent_activity(2).unwrap();
    assert_eq!(recent[0].id, "act_15", "newest first");

    for since in [
        clock.at(-1000),
        clock.at(50),
        clock.at(131),
        fixture::after_all(),
    ] {
        same(
            &format!("recent_actions({since})"),
            s.recent_actions(since),
            p.recent_actions(since),
        );
    }
    let since = p.recent_actions(clock.at(50)).unwrap();
    let ids: Vec<_> = since.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "act_6", "act_7", "act_8", "act_9", "act_10", "act_12", "act_13", "act_14", "act_11",
            "act_15"
        ]
    );
    assert_eq!(since[0].resolution, Some(Resolution::Expired));
    assert_eq!(since[5].governed.as_deref(), Some("limit:daily"));

    let pairs = same_unordered("tools_called", s.tools_called(), p.tools_called(), |t| {
        t.clone()
    });
    assert_eq!(pairs.len(), 8);
}

#[test]
fn keys_read_the_same_and_expire() {
    let (pair, clock) = fixture();
    let (s, p): (&dyn Reads, &dyn Reads) = (&pair.sqlite, &pair.pg);
    let day = Duration::seconds(IDEMPOTENCY_KEY_RETENTION_SECS);
    let now = chrono::Utc::now();
    for (agent, key) in [
        ("bot", "k1"),
        ("bot", "k3"),
        ("bot", "k-old"),
        ("helper", "k1"),
    ] {
        for at in [
            clock.at(0),
            clock.at(0) + day - Duration::seconds(1),
            clock.at(0) + day + Duration::seconds(1),
            now,
        ] {
            same(
                &format!("idempotency_key({agent}, {key}, {at})"),
                s.idempotency_key(agent, key, at),
                p.idempotency_key(agent, key, at),
            );
        }
    }
    let live = p.idempotency_key("bot", "k1", clock.at(0) + day - Duration::seconds(1));
    assert_eq!(live.unwrap().unwrap().action, "act_1");
    let expired = p.idempotency_key("bot", "k1", clock.at(0) + day + Duration::seconds(1));
    assert_eq!(expired.unwrap(), None);
    assert_eq!(
        p.idempotency_key("bot", "k3", now).unwrap().unwrap().action,
        "act_1"
    );
    assert_eq!(
        p.idempotency_key("bot", "k-old", now).unwrap(),
        None,
        "two days old"
    );
    assert_eq!(
        p.idempotency_key("helper", "k1", now).unwrap(),
        None,
        "keys are per agent"
    );
}

#[test]
fn switches_flags_and_grants_read_the_same() {
    let (pair, _) = fixture();
    let (s, p): (&dyn Reads, &dyn Reads) = (&pair.sqlite, &pair.pg);
    let switches = same("killswitches", s.killswitches(), p.killswitches());
    let scopes: Vec<_> = switches.iter().map(|k| (k.scope.as_str(), k.on)).collect();
    assert_eq!(
        scopes,
        [("global", true), ("tool:Z", true), ("tool:a", false)],
        "byte order: Z before a"
    );

    for limit in [0, 1, 2, 10] {
        same(
            &format!("flagged({limit})"),
            s.flagged(limit),
            p.flagged(limit),
        );
    }
    let flagged = p.flagged(10).unwrap();
    let ids: Vec<_> = flagged.iter().map(|f| f.action.id.as_str()).collect();
    assert_eq!(ids, ["act_9", "act_4"], "unreviewed first");
    assert!(flagged[1].review.is_some());
    for id in ["act_4", "act_9", "act_1"] {
        same(
            &format!("load_flagged({id})"),
            s.load_flagged(id),
            p.load_flagged(id),
        );
    }
    assert!(p.load_flagged("act_1").unwrap().is_none());

    for sig in [
        "sig-review",
        "sig-grt-a",
        "sig-flip-global-true",
        "sig-reset",
        "unused",
    ] {
        let used = same(
            &format!("signature_used({sig})"),
            s.signature_used(sig),
            p.signature_used(sig),
        );
        assert_eq!(used, sig != "unused", "{sig}");
    }

    let grants = same("grants", s.grants(), p.grants());
    let got: Vec<_> = grants
        .iter()
        .map(|g| (g.id.as_str(), g.uses, g.revoked.is_some()))
        .collect();
    assert_eq!(
        got,
        [("grt_B", 0, true), ("grt_a", 1, false)],
        "byte order: B before a"
    );
    assert!(grants[1].last_used_at.is_some());
}
