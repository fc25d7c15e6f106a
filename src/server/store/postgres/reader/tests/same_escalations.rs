//! Escalations and the history search: the same answers and pages from both stores, and the
//! answers the fixture implies.

use super::{fixture, same, same_error, same_unordered};
use crate::protocol::EscalationState;
use crate::server::store::backend::Reads;
use crate::server::store::HistoryQuery;

#[test]
fn escalations_read_the_same() {
    let (pair, _) = fixture();
    let (s, p): (&dyn Reads, &dyn Reads) = (&pair.sqlite, &pair.pg);
    for id in ["esc_2", "esc_B5", "esc_a6", "esc_7", "esc_14", "esc_none"] {
        same(
            &format!("load_escalation({id})"),
            s.load_escalation(id),
            p.load_escalation(id),
        );
    }
    let e = same_error(
        "load_escalation(esc_bad)",
        s.load_escalation("esc_bad"),
        p.load_escalation("esc_bad"),
    );
    assert!(e.contains("escalations row esc_bad"), "{e}");
    let (esc, plan) = p.load_escalation("esc_B5").unwrap().unwrap();
    assert_eq!(
        (esc.state, esc.decisions.len(), plan.timeout_secs),
        (EscalationState::Denied, 2, 600)
    );

    let pending = same_unordered(
        "pending",
        s.pending_escalations(),
        p.pending_escalations(),
        |(e, _)| e.id.clone(),
    );
    let ids: Vec<_> = pending.iter().map(|(e, _)| e.id.as_str()).collect();
    assert_eq!(ids, ["esc_7"], "the unreadable one was denied at start");

    // Two ended at the same instant, and their order is SQLite's to choose: compared in full
    // only where no tie is cut.
    for limit in [0, 1, 100] {
        let key =
            |e: &crate::protocol::Escalation| (std::cmp::Reverse(e.resolved_at), e.id.clone());
        same_unordered(
            &format!("recent_resolved({limit})"),
            s.recent_resolved(limit),
            p.recent_resolved(limit),
            key,
        );
    }
    let resolved = p.recent_resolved(100).unwrap();
    assert_eq!(resolved.len(), 4);
    assert_eq!(resolved[0].id, "esc_14", "newest resolution first");

    // SQLite puts a resolution without a time last when newest come first.
    pair.both("UPDATE escalations SET resolved_at = NULL WHERE id = 'esc_2'");
    let first = same(
        "recent_resolved(1)",
        s.recent_resolved(1),
        p.recent_resolved(1),
    );
    assert_eq!(first[0].id, "esc_14");
}

/// Every page of `q` from both stores, compared page by page; the ids in order.
fn pages(s: &dyn Reads, p: &dyn Reads, mut q: HistoryQuery) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (page, next) = same(
            &format!("{q:?}"),
            s.resolved_history(&q),
            p.resolved_history(&q),
        );
        ids.extend(page.into_iter().map(|e| e.id));
        match next {
            Some(cursor) => q.before = Some(cursor),
            None => return ids,
        }
    }
    panic!("{q:?} pages on and on")
}

#[test]
fn history_pages_the_same() {
    let (pair, clock) = fixture();
    let (s, p): (&dyn Reads, &dyn Reads) = (&pair.sqlite, &pair.pg);
    let times = [None, Some(clock.at(55).to_rfc3339())];
    let mut queries = 0;
    for outcome in [
        None,
        Some(EscalationState::Approved),
        Some(EscalationState::Denied),
        Some(EscalationState::Expired),
    ] {
        for decider in [None, Some("carol"), Some("dave"), Some("zed")] {
            for agent in [None, Some("bot"), Some("helper")] {
                for (since, until) in [
                    (None, None),
                    (times[1].clone(), None),
                    (None, times[1].clone()),
                ] {
                    for limit in [Some(1), None] {
                        let q = HistoryQuery {
                            outcome,
                            decider: decider.map(str::to_string),
                            agent: agent.map(str::to_string),
                            since: since.clone(),
                            until: until.clone(),
                            before: None,
                            limit,
                        };
                        pages(s, p, q);
                        queries += 1;
                    }
                }
            }
        }
    }
    assert_eq!(queries, 288);
    let all = pages(
        s,
        p,
        HistoryQuery {
            limit: Some(1),
            ..Default::default()
        },
    );
    // esc_a6 and esc_B5 ended at the same instant: byte order puts B before a, so a first
    // when newest first.
    assert_eq!(all, ["esc_14", "esc_a6", "esc_B5", "esc_2"]);
    let carol = pages(
        s,
        p,
        HistoryQuery {
            decider: Some("carol".into()),
            ..Default::default()
        },
    );
    assert_eq!(carol, ["esc_B5", "esc_2"]);
    let dave = pages(
        s,
        p,
        HistoryQuery {
            decider: Some("dave".into()),
            ..Default::default()
        },
    );
    assert_eq!(dave, ["esc_B5"]);
    let until = pages(
        s,
        p,
        HistoryQuery {
            until: times[1].clone(),
            agent: Some("bot".into()),
            ..Default::default()
        },
    );
    assert_eq!(until, ["esc_a6", "esc_B5", "esc_2"]);
    assert!(pages(
        s,
        p,
        HistoryQuery {
            agent: Some("helper".into()),
            ..Default::default()
        }
    )
    .is_empty());
}
