//! Version 7: a log whose records stored their link, their hash as hex and their typed columns
//! is migrated to one that stores the hash's bytes alone, and reads, filters and verifies the
//! same; a version 6 file is still verified as it is, typed columns included.

use rusqlite::{params, Connection};

use super::tests::key;
use super::v6_tests::call;
use super::*;
use crate::server::audit::{every_kind_of_event, verify, AuditEvent, Expect, VerifyError};
use crate::server::store::sqlite::{db_path, open};
use crate::server::store::{AuditQuery, Reads, Store};

/// A store taken back to version 6: without version 8's `tools_called`, and version 7's audit
/// table as version 6's ([`LINKED_AUDIT_COLUMNS`], created first by [`to_v6`]), the link and
/// the hash as hex (the typed columns are filled in by [`to_v6`], from each record's event, as
/// that server did).
const TO_V6: &str = r#"
DROP TABLE tools_called;
INSERT INTO audit_v6 (seq, time, kind, actor, body, prev_hash, hash)
    SELECT seq, time, kind, actor, body,
           lower(hex(COALESCE((SELECT p.hash FROM audit p WHERE p.seq = a.seq - 1),
                              zeroblob(32)))),
           lower(hex(hash))
    FROM audit a ORDER BY seq;
DROP TABLE audit;
ALTER TABLE audit_v6 RENAME TO audit;
CREATE INDEX audit_by_kind ON audit (kind, seq);
PRAGMA user_version = 6;
"#;

/// Takes a store back to version 6, as a version 6 server would have written it.
pub(super) fn to_v6(conn: &Connection) {
    conn.execute_batch(&format!("CREATE TABLE audit_v6 ({LINKED_AUDIT_COLUMNS});"))
        .unwrap();
    conn.execute_batch(TO_V6).unwrap();
    let rows: Vec<(i64, String, String, String)> = conn
        .prepare("SELECT seq, kind, actor, body FROM audit")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (seq, kind, actor, body) in rows {
        let body = serde_json::from_str(&body).unwrap();
        let event = AuditEvent::parse(&kind, &actor, &body).unwrap();
        let i = event.index();
        conn.execute(
            "UPDATE audit SET agent = ?1, tool = ?2, action = ?3, escalation = ?4, verdict = ?5
             WHERE seq = ?6",
            params![i.agent, i.tool, i.action, i.escalation, i.verdict, seq],
        )
        .unwrap();
    }
}

fn by_agent(agent: &str) -> AuditQuery {
    AuditQuery {
        agent: Some(agent.into()),
        ..AuditQuery::default()
    }
}

fn by_verdict(verdict: &str) -> AuditQuery {
    AuditQuery {
        verdict: Some(verdict.into()),
        ..AuditQuery::default()
    }
}

#[tokio::test]
async fn records_stored_with_their_link_and_hex_hash_are_migrated_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), key()).unwrap();
    for i in 0..5 {
        let (op, audit) = call(&format!("act_{i}"), serde_json::json!({"n": i}));
        store.write(op, audit).await.unwrap();
    }
    store.shutdown().await;
    let path = db_path(dir.path());
    let queries = [
        AuditQuery::default(),
        by_agent("deployer"),
        by_agent("nobody"),
        by_verdict("allow"),
        by_verdict("deny"),
    ];
    let read = |queries: &[AuditQuery]| {
        let (writer, readers) = open(dir.path(), key(), 1).unwrap();
        drop(writer);
        queries
            .iter()
            .map(|q| readers[0].audit_records(q).unwrap())
            .collect::<Vec<_>>()
    };
    let before = read(&queries);
    assert_eq!(before[0].len(), 5);
    assert_eq!(before[1], before[0]);
    assert_eq!(before[3], before[0]);
    assert!(before[2].is_empty() && before[4].is_empty());

    let conn = Connection::open(&path).unwrap();
    to_v6(&conn);
    // A version 6 file verifies as it is, its stored link and typed columns included.
    verify(&path, &Expect::default()).expect("the version 6 store verifies");
    conn.execute("UPDATE audit SET agent = 'nobody' WHERE seq = 2", [])
        .unwrap();
    let e = verify(&path, &Expect::default()).unwrap_err();
    assert!(
        matches!(&e, VerifyError::BadRecord { seq: 2, problem } if problem.contains("index columns")),
        "{e}"
    );
    conn.execute("UPDATE audit SET agent = 'deployer' WHERE seq = 2", [])
        .unwrap();
    let old_hashes: Vec<String> = conn
        .prepare("SELECT hash FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(conn);

    // Migrated: the same records, links, hashes and filters, in 32 bytes a hash.
    let after = read(&queries);
    assert_eq!(after, before);
    let conn = Connection::open(&path).unwrap();
    assert_eq!(version(&conn).unwrap(), VERSION);
    let stored: Vec<(i64, String)> = conn
        .prepare("SELECT length(hash), lower(hex(hash)) FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(stored.iter().all(|(len, _)| *len == 32), "{stored:?}");
    let hex: Vec<String> = stored.into_iter().map(|(_, h)| h).collect();
    assert_eq!(hex, old_hashes);
    verify(&path, &Expect::default()).expect("the migrated store verifies");

    // The typed columns are the body's: they cannot be edited apart from it.
    let refused = conn.execute("UPDATE audit SET agent = 'nobody' WHERE seq = 2", []);
    assert!(refused.is_err(), "{refused:?}");
    // A stored hash edited is caught, as before.
    conn.execute("UPDATE audit SET hash = zeroblob(32) WHERE seq = 2", [])
        .unwrap();
    let e = verify(&path, &Expect::default()).unwrap_err();
    assert!(
        matches!(&e, VerifyError::BadRecord { seq: 2, problem } if problem.contains("edited")),
        "{e}"
    );
}

/// A hash that is not hex, which no server wrote, does not stop the migration: it is kept as
/// its bytes, and verify reports the record.
#[tokio::test]
async fn a_hash_that_is_not_hex_is_kept_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), key()).unwrap();
    let (op, audit) = call("act_0", serde_json::json!({}));
    store.write(op, audit).await.unwrap();
    store.shutdown().await;
    let path = db_path(dir.path());
    let conn = Connection::open(&path).unwrap();
    to_v6(&conn);
    conn.execute("UPDATE audit SET hash = 'not hex' WHERE seq = 1", [])
        .unwrap();
    drop(conn);
    drop(open(dir.path(), key(), 0).unwrap());
    let e = verify(&path, &Expect::default()).unwrap_err();
    assert!(
        matches!(&e, VerifyError::BadRecord { seq: 1, problem } if problem.contains("edited")),
        "{e}"
    );
}

/// The queries that find records by kind use the index by kind, which leaves out the actions
/// (most of the log): without `kind <> 'action'` SQLite would read the whole log instead.
#[test]
fn the_queries_by_kind_use_the_index_without_actions() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), key(), 0).unwrap());
    let conn = Connection::open(db_path(dir.path())).unwrap();
    for sql in [
        super::super::breakers::BREAKER_RECORDS,
        super::super::figures::SWITCHES_ON,
    ] {
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let unbound = std::iter::repeat_n(rusqlite::types::Null, explain.parameter_count());
        let plan: Vec<String> = explain
            .query_map(rusqlite::params_from_iter(unbound), |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let reads: Vec<&String> = plan.iter().filter(|p| p.contains("audit")).collect();
        assert!(!reads.is_empty(), "{plan:?}");
        assert!(
            reads
                .iter()
                .all(|p| p.contains("USING INDEX audit_by_kind")),
            "{sql}\n{plan:?}"
        );
    }
}

/// The audit table computes the columns the filters read (schema 7) from each body: they are
/// what the server indexed each kind by when it stored them.
#[test]
fn the_store_reads_each_kind_by_the_agent_and_verdict_it_is_indexed_by() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), key(), 0).unwrap());
    let conn = Connection::open(db_path(dir.path())).unwrap();
    for (seq, (event, actor, body)) in every_kind_of_event().into_iter().enumerate() {
        let kind = event.kind();
        let (agent, verdict): (Option<String>, Option<String>) = conn
            .query_row(
                "INSERT INTO audit (seq, time, kind, actor, body, hash)
                 VALUES (?1, 't', ?2, ?3, ?4, zeroblob(32)) RETURNING agent, verdict",
                params![seq as i64 + 1, kind, actor, body.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let index = event.index();
        assert_eq!(agent.as_deref(), index.agent, "{kind}");
        assert_eq!(verdict.as_deref(), index.verdict, "{kind}");
    }
}
