use chrono::Utc;
use rusqlite::Connection;
use serde_json::json;

use super::*;
use crate::server::audit::{verify, Expect};

fn flip(scope: &str) -> (Op, Vec<AuditEntry>) {
    let op = Op::KillSwitch {
        switch: KillSwitch {
            scope: scope.into(),
            on: true,
            reason: "r".into(),
            by: "alice".into(),
            at: Utc::now(),
        },
        signature: "same-signature".into(),
        cancelled: vec![],
    };
    let audit = vec![AuditEntry::new(
        "killswitch",
        "alice",
        json!({"scope": scope, "on": true, "reason": "r", "operator": "alice",
               "issued_at": "2026-01-01T00:00:00Z", "signature": "same-signature"}),
    )];
    (op, audit)
}

#[tokio::test]
async fn a_failing_job_fails_alone_and_the_chain_stays_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), PersonKey::generate("server")).unwrap();
    let (a, a_audit) = flip("global");
    let (b, b_audit) = flip("tool:x");
    let refusal = vec![AuditEntry::new("refused", "alice", json!({"code": "c"}))];
    // Sent together, so they usually share a transaction; the second reuses a signature.
    let (a, b, c) = tokio::join!(
        store.write(a, a_audit),
        store.write(b, b_audit),
        store.write(Op::Audit, refusal),
    );
    assert!(a.is_ok());
    assert!(
        matches!(b, Err(StoreError::Sqlite(ref m)) if m.contains("UNIQUE")),
        "{:?}",
        b.err()
    );
    assert!(c.is_ok());
    store.shutdown().await;
    let report = verify(&db_path(dir.path()), &Expect::default()).unwrap();
    assert_eq!(
        report.records, 2,
        "the failed job's audit record was rolled back with it"
    );
    let conn = Connection::open(db_path(dir.path())).unwrap();
    let switches = killswitches(&conn).unwrap();
    assert_eq!(switches.len(), 1);
    assert_eq!(switches[0].scope, "global");
}

#[test]
fn unreadable_rows_are_errors_that_name_table_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let conn = super::open(&path).unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    conn.execute(
        "INSERT INTO killswitches (scope, body) VALUES ('global', '{not json')",
        [],
    )
    .unwrap();
    let e = killswitches(&conn).unwrap_err().to_string();
    assert!(e.contains("killswitches row global"), "{e}");
    conn.execute(
        "INSERT INTO actions (id, agent, session, tool, effect, rule, reason, escalation, record, at)
         VALUES ('act_1', 'a', 's', 't', 'maybe', NULL, 'r', NULL, '{}', 'yesterday')",
        [],
    )
    .unwrap();
    let e = recent_activity(&conn, 10).unwrap_err().to_string();
    assert!(
        e.contains("actions row act_1") && e.contains("maybe"),
        "{e}"
    );
    let e = load_action(&conn, "act_1").err().unwrap().to_string();
    assert!(e.contains("unknown effect"), "{e}");
    conn.execute("UPDATE actions SET effect = 'allow'", [])
        .unwrap();
    let e = recent_activity(&conn, 10).unwrap_err().to_string();
    assert!(
        e.contains("actions row act_1") && e.contains("yesterday"),
        "{e}"
    );
    conn.execute(
        "INSERT INTO audit (seq, time, kind, actor, body, prev_hash, hash)
         VALUES (1, 'now', 'refused', 'x', '{}', '', '')",
        [],
    )
    .unwrap();
    let e = audit_records(&conn, &AuditQuery::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("audit row 1"), "{e}");
}
