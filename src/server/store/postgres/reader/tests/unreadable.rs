//! Rows that cannot be read: each is the same error, naming its table and row, from both
//! stores, never skipped and never a default.

use chrono::Utc;

use super::db::Pair;
use super::fixture::after_all;
use super::same_error;
use crate::protocol::KillSwitch;
use crate::server::killswitch::kill_reason;
use crate::server::store::backend::Reads;
use crate::server::store::AuditQuery;

fn kill_prefix(scope: &str) -> String {
    kill_reason(scope, "")
}

/// An audit row in both stores (PostgreSQL's has an `origin`).
fn audit_row(pair: &Pair, seq: i64, time: &str, kind: &str, body: &str) {
    pair.sqlite_conn()
        .execute(
            "INSERT INTO audit (seq, time, kind, actor, body, hash)
             VALUES (?1, ?2, ?3, 'server', ?4, zeroblob(32))",
            rusqlite::params![seq, time, kind, body],
        )
        .unwrap();
    pair.pg_conn()
        .execute(
            "INSERT INTO audit (seq, time, kind, actor, body, hash, origin)
             VALUES ($1, $2, $3, 'server', $4, '', 'test')",
            &[&seq, &time, &kind, &body],
        )
        .unwrap();
}

#[test]
fn unreadable_rows_are_the_same_errors() {
    let pair = Pair::new();
    let (s, p): (&dyn Reads, &dyn Reads) = (&pair.sqlite, &pair.pg);

    let other = serde_json::to_string(&KillSwitch {
        scope: "tool:x".into(),
        on: true,
        reason: "r".into(),
        by: "alice".into(),
        at: Utc::now(),
    })
    .unwrap();
    pair.both(&format!(
        "INSERT INTO killswitches (scope, body) VALUES ('global', '{other}')"
    ));
    let e = same_error("killswitches", s.killswitches(), p.killswitches());
    assert!(
        e.contains("killswitches row global") && e.contains("its body is for tool:x"),
        "{e}"
    );
    pair.both("UPDATE killswitches SET body = '{not json'");
    same_error("killswitches", s.killswitches(), p.killswitches());

    let now = Utc::now().to_rfc3339();
    pair.both(&format!(
        "INSERT INTO actions (id, agent, session, tool, effect, rule, reason, escalation, args, at)
         VALUES ('act_1', 'a', 's', 't', 'maybe', NULL, 'r', 'esc_1', '1', '{now}')"
    ));
    let e = same_error(
        "recent_activity",
        s.recent_activity(10),
        p.recent_activity(10),
    );
    assert!(
        e.contains("actions row act_1") && e.contains("maybe"),
        "{e}"
    );
    same_error(
        "load_action",
        s.load_action("act_1"),
        p.load_action("act_1"),
    );
    same_error(
        "costed_action",
        s.costed_action("act_1"),
        p.costed_action("act_1"),
    );
    same_error(
        "recent_actions",
        s.recent_actions(Utc::now() - chrono::Duration::hours(1)),
        p.recent_actions(Utc::now() - chrono::Duration::hours(1)),
    );
    let (from, to) = (Utc::now() - chrono::Duration::hours(1), after_all());
    same_error(
        "figures",
        s.governance_figures(from, to, kill_prefix),
        p.governance_figures(from, to, kill_prefix),
    );
    let e = same_error(
        "last_calls",
        s.last_calls("a", "s", 5),
        p.last_calls("a", "s", 5),
    );
    assert!(
        e.contains("actions row act_1"),
        "the record is not an action record: {e}"
    );

    pair.both("UPDATE actions SET effect = 'allow', at = 'yesterday'");
    let e = same_error(
        "recent_activity",
        s.recent_activity(10),
        p.recent_activity(10),
    );
    assert!(e.contains("yesterday"), "{e}");
    pair.both(&format!("UPDATE actions SET at = '{now}'"));
    pair.both(
        "INSERT INTO escalations (id, action, state, body, plan) VALUES ('esc_1', 'act_1', 'weird', '{', '{')",
    );
    let e = same_error(
        "recent_actions",
        s.recent_actions(from),
        p.recent_actions(from),
    );
    assert!(e.contains("unknown state"), "{e}");
    pair.both("UPDATE escalations SET state = 'pending'");
    let e = same_error("pending", s.pending_escalations(), p.pending_escalations());
    assert!(e.contains("escalations row esc_1"), "{e}");
    same_error(
        "load_escalation",
        s.load_escalation("esc_1"),
        p.load_escalation("esc_1"),
    );
    pair.both("UPDATE escalations SET state = 'unreadable'");
    let e = same_error(
        "load_escalation",
        s.load_escalation("esc_1"),
        p.load_escalation("esc_1"),
    );
    assert!(
        e.contains("could not be read when the server started"),
        "{e}"
    );

    // A body that is not JSON where the figures read into it: both fail, neither counts it.
    pair.both(&format!(
        "UPDATE escalations SET state = 'denied', resolved_at = '{now}'"
    ));
    assert!(s.governance_figures(from, to, kill_prefix).is_err());
    assert!(p.governance_figures(from, to, kill_prefix).is_err());
    same_error(
        "recent_resolved",
        s.recent_resolved(5),
        p.recent_resolved(5),
    );

    pair.both("INSERT INTO flagged (action, reviewed, body, at) VALUES ('act_1', 0, '[]', 'x')");
    same_error("flagged", s.flagged(5), p.flagged(5));
    same_error(
        "load_flagged",
        s.load_flagged("act_1"),
        p.load_flagged("act_1"),
    );

    pair.both(
        "INSERT INTO grants (id, body, expires_at, uses) VALUES ('grt_1', '{\"id\": \"grt_2\"}', 'x', 0)",
    );
    same_error("grants", s.grants(), p.grants());

    audit_row(&pair, 1, "now", "refused", "{}");
    let e = same_error(
        "audit",
        s.audit_records(&AuditQuery::default()),
        p.audit_records(&AuditQuery::default()),
    );
    assert!(e.contains("audit row 1"), "{e}");
    audit_row(&pair, 2, &now, "breaker_closed", "{\"breaker\": 1}");
    let e = same_error("breakers", s.breaker_events(), p.breaker_events());
    assert!(e.contains("audit row 2"), "{e}");
}
