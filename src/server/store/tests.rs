use chrono::Utc;
use rusqlite::Connection;

use super::sqlite::{self, SqliteReader};
use super::*;
use crate::protocol::{KillSwitchBody, SignedKillSwitch};
use crate::server::audit::{verify, AuditEvent, Expect};

pub(super) fn flip(scope: &str) -> (Op, Vec<AuditEvent>) {
    let switch = KillSwitch {
        scope: scope.into(),
        on: true,
        reason: "r".into(),
        by: "alice".into(),
        at: Utc::now(),
    };
    let signed = SignedKillSwitch {
        body: KillSwitchBody {
            scope: scope.into(),
            on: true,
            reason: "r".into(),
            operator: "alice".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
        },
        signature: "same-signature".into(),
    };
    let audit = vec![AuditEvent::killswitch(&switch, &signed)];
    let op = Op::KillSwitch {
        switch,
        signature: "same-signature".into(),
        cancelled: vec![],
    };
    (op, audit)
}

pub(super) fn refused() -> Vec<AuditEvent> {
    vec![AuditEvent::refused(
        "alice",
        "GET",
        "/v1/x".into(),
        403,
        "c",
        "no".into(),
    )]
}

/// A store's tables read directly, as a read connection of the store would.
fn reader(dir: &std::path::Path) -> SqliteReader {
    SqliteReader::new(Connection::open(db_path(dir)).unwrap())
}

#[tokio::test]
async fn a_failing_job_fails_alone_and_the_chain_stays_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), PersonKey::generate("server")).unwrap();
    let (a, a_audit) = flip("global");
    let (b, b_audit) = flip("tool:x");
    // Sent together, so they usually share a transaction; the second reuses a signature.
    let (a, b, c) = tokio::join!(
        store.write(a, a_audit),
        store.write(b, b_audit),
        store.write(Op::Audit, refused()),
    );
    assert!(a.is_ok());
    assert!(
        matches!(b, Err(StoreError::Sqlite(ref e)) if e.to_string().contains("UNIQUE")),
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
    let switches = reader(dir.path()).killswitches().unwrap();
    assert_eq!(switches.len(), 1);
    assert_eq!(switches[0].scope, "global");
}

#[tokio::test]
async fn queries_filter_on_the_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), PersonKey::generate("server")).unwrap();
    let (a, a_audit) = flip("agent:refund-bot");
    store.write(a, a_audit).await.unwrap();
    store.write(Op::Audit, refused()).await.unwrap();
    let query = |agent: Option<&str>, kind: Option<&str>| {
        let q = AuditQuery {
            agent: agent.map(str::to_string),
            kind: kind.map(str::to_string),
            ..AuditQuery::default()
        };
        let store = store.clone();
        async move {
            store
                .read(move |r| r.audit_records(&q))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.kind)
                .collect::<Vec<_>>()
        }
    };
    // The kill switch names the agent in its body (indexed), the refusal only as its actor.
    assert_eq!(query(Some("refund-bot"), None).await, ["killswitch"]);
    assert_eq!(query(Some("alice"), None).await, ["killswitch", "refused"]);
    assert_eq!(query(None, Some("refused")).await, ["refused"]);
    store.shutdown().await;
}

#[tokio::test]
async fn reads_run_on_several_connections_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), PersonKey::generate("server")).unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let read = |b: std::sync::Arc<std::sync::Barrier>| {
        store.read(move |r| {
            // Both reads wait here for each other: one connection behind a lock would hang.
            b.wait();
            r.killswitches()
        })
    };
    let both = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        tokio::join!(read(barrier.clone()), read(barrier.clone()))
    })
    .await
    .expect("two reads at once");
    assert!(both.0.is_ok() && both.1.is_ok());
    store.shutdown().await;
}

#[test]
fn unreadable_rows_are_errors_that_name_table_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, _) = sqlite::open(dir.path(), PersonKey::generate("server"), 0).unwrap();
    drop(writer);
    let conn = Connection::open(db_path(dir.path())).unwrap();
    let r = reader(dir.path());
    conn.execute(
        "INSERT INTO killswitches (scope, body) VALUES ('global', '{not json')",
        [],
    )
    .unwrap();
    let e = r.killswitches().unwrap_err().to_string();
    assert!(e.contains("killswitches row global"), "{e}");
    conn.execute(
        "INSERT INTO actions (id, agent, session, tool, effect, rule, reason, escalation, args, at)
         VALUES ('act_1', 'a', 's', 't', 'maybe', NULL, 'r', NULL, '{}', 'yesterday')",
        [],
    )
    .unwrap();
    let e = r.recent_activity(10).unwrap_err().to_string();
    assert!(
        e.contains("actions row act_1") && e.contains("maybe"),
        "{e}"
    );
    let e = r.load_action("act_1").err().unwrap().to_string();
    assert!(e.contains("unknown effect"), "{e}");
    conn.execute("UPDATE actions SET effect = 'allow'", [])
        .unwrap();
    let e = r.recent_activity(10).unwrap_err().to_string();
    assert!(
        e.contains("actions row act_1") && e.contains("yesterday"),
        "{e}"
    );
    conn.execute(
        "INSERT INTO audit (seq, time, kind, actor, body, hash)
         VALUES (1, 'now', 'refused', 'x', '{}', zeroblob(32))",
        [],
    )
    .unwrap();
    let e = r
        .audit_records(&AuditQuery::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("audit row 1"), "{e}");
}

#[test]
fn a_value_that_cannot_be_serialised_is_an_error_not_an_empty_string() {
    use std::collections::BTreeMap;
    // JSON object keys must be strings: this map cannot be written as JSON.
    let map: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    let e = error::json("an expiry plan", &map).unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Unencodable {
                what: "an expiry plan",
                ..
            }
        ),
        "{e}"
    );
}
