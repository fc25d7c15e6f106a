//! The audit chain's reads and the governance figures: the same answers from both stores, and
//! the answers the fixture implies.

use chrono::{Duration, Utc};

use super::{fixture, same};
use crate::server::audit::AuditEvent;
use crate::server::killswitch::kill_reason;
use crate::server::store::backend::Reads;
use crate::server::store::AuditQuery;

/// A kill switch's deny reason up to its own reason, as the server's figures ask.
fn kill_prefix(scope: &str) -> String {
    kill_reason(scope, "")
}

#[test]
fn audit_reads_the_same() {
    let (pair, _) = fixture();
    let (s, p): (&dyn Reads, &dyn Reads) = (&pair.sqlite, &pair.pg);
    let all = same(
        "audit",
        s.audit_records(&AuditQuery::default()),
        p.audit_records(&AuditQuery::default()),
    );
    assert!(all.len() > 30, "{}", all.len());
    let middle = all[all.len() / 2]
        .time
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let times = [
        (None, None),
        (Some(middle.clone()), None),
        (None, Some(middle)),
    ];
    let agents = [
        None,
        Some("bot"),
        Some("helper"),
        Some("carol"),
        Some("alice"),
        Some("mallory"),
        Some("x"),
    ];
    let kinds = [
        None,
        Some("action"),
        Some("decision"),
        Some("killswitch"),
        Some("escalation_resolved"),
        Some("refused"),
    ];
    let verdicts = [
        None,
        Some("allow"),
        Some("deny"),
        Some("approve"),
        Some("approved"),
        Some("expired"),
    ];
    let (mut found, mut none) = (0, 0);
    for agent in agents {
        for kind in kinds {
            for verdict in verdicts {
                for (since, until) in &times {
                    for (after_seq, limit) in [(None, None), (Some(5), Some(3))] {
                        let q = AuditQuery {
                            agent: agent.map(str::to_string),
                            since: since.clone(),
                            until: until.clone(),
                            kind: kind.map(str::to_string),
                            verdict: verdict.map(str::to_string),
                            after_seq,
                            limit,
                        };
                        let records =
                            same(&format!("{q:?}"), s.audit_records(&q), p.audit_records(&q));
                        match records.len() {
                            0 => none += 1,
                            _ => found += 1,
                        }
                    }
                }
            }
        }
    }
    assert!(
        found > 100 && none > 100,
        "{found} queries found records, {none} none"
    );
    let q = |agent: &str, kind: Option<&str>, verdict: Option<&str>| AuditQuery {
        agent: Some(agent.into()),
        kind: kind.map(str::to_string),
        verdict: verdict.map(str::to_string),
        ..Default::default()
    };
    let carol = p
        .audit_records(&q("carol", Some("decision"), Some("approve")))
        .unwrap();
    assert_eq!(carol.len(), 2, "carol approved twice");
    let bot_denies = p
        .audit_records(&q("bot", Some("action"), Some("deny")))
        .unwrap();
    assert_eq!(bot_denies.len(), 3);
    let page = p
        .audit_records(&AuditQuery {
            after_seq: Some(5),
            limit: Some(3),
            ..Default::default()
        })
        .unwrap();
    let seqs: Vec<_> = page.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [6, 7, 8]);

    let breakers = same("breaker_events", s.breaker_events(), p.breaker_events());
    let kinds: Vec<_> = breakers
        .iter()
        .map(|e| match e {
            AuditEvent::BreakerTripped(t) => format!("tripped {}", t.agent),
            AuditEvent::BreakerReset(r) => format!("reset {}", r.agent),
            other => format!("{other:?}"),
        })
        .collect();
    // From the oldest latest trip on (helper's): bot's first trip and close are before it.
    assert_eq!(kinds, ["tripped helper", "tripped bot", "reset helper"]);

    let anchor = same("latest_anchor", s.latest_anchor(), p.latest_anchor()).unwrap();
    assert_eq!(anchor.seq, all.last().unwrap().seq);
}

#[test]
fn figures_count_the_same() {
    let (pair, clock) = fixture();
    let (s, p): (&dyn Reads, &dyn Reads) = (&pair.sqlite, &pair.pg);
    let now = Utc::now();
    let windows = [
        (clock.at(-3600), fixture::after_all()),
        (clock.at(0), clock.at(60)),
        (clock.at(20), clock.at(55)),
        (now - Duration::seconds(30), fixture::after_all()),
    ];
    for (from, to) in windows {
        same(
            &format!("governance_figures({from}, {to})"),
            s.governance_figures(from, to, kill_prefix),
            p.governance_figures(from, to, kill_prefix),
        );
    }
    let f = p
        .governance_figures(windows[0].0, windows[0].1, kill_prefix)
        .unwrap();
    assert_eq!(f.calls, 15);
    // act_10 (by its reason, any case), act_11 (kill switch) and act_12 (a limit).
    assert_eq!((f.policy_denies, f.governance_denies), (1, 3));
    assert_eq!((f.reviews, f.flags), (6, 2));
    // approved, denied, expired, cancelled, and the unreadable one.
    assert_eq!((f.resolved, f.decided, f.expired), (5, 2, 1));
    let people: Vec<_> = f
        .approvals_per_person
        .iter()
        .map(|p| (p.person.as_str(), p.approvals, p.denials))
        .collect();
    assert_eq!(people, [("carol", 2, 0), ("dave", 0, 1)]);
    let flips: Vec<_> = f
        .killswitch_to_first_deny
        .iter()
        .map(|k| (k.scope.as_str(), k.first_deny_after_secs.is_some()))
        .collect();
    assert_eq!(
        flips.len(),
        3,
        "{flips:?}: turning tool:a off is not counted"
    );
    assert!(flips.contains(&("global", true)), "{flips:?}");
    assert!(flips.contains(&("tool:Z", false)), "{flips:?}");
}
