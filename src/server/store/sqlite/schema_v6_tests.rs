//! Version 6: a store whose actions kept the whole call is migrated to one that keeps its
//! arguments, which the escalation history still shows and `gavel audit verify` still checks.

use chrono::Utc;
use rusqlite::Connection;
use serde_json::{json, Value};

use super::tests::key;
use super::*;
use crate::protocol::{ActionRecord, Effect};
use crate::server::audit::{verify, AuditEvent, Expect};
use crate::server::store::sqlite::{db_path, open};
use crate::server::store::{ActionWrite, Op, Reads, Store};

pub(super) fn call(id: &str, args: Value) -> (Op, Vec<AuditEvent>) {
    let record: ActionRecord = serde_json::from_value(json!({
        "id": id, "agent": "deployer", "tool": "deploy.release", "args": args,
        "session": "s1", "submitted_at": Utc::now(), "policy_version": "1",
        "rationale": "ship it", "context": {"ticket": 7},
    }))
    .unwrap();
    let audit = AuditEvent::action(&record, "d", Effect::Allow, Some("r"), "ok", vec![], None);
    let op = Op::Action(Box::new(ActionWrite {
        effect: Effect::Allow,
        rule: Some("r".into()),
        reason: "ok".into(),
        escalation: None,
        flagged: None,
        key: None,
        grant: None,
        governed: None,
        record,
    }));
    (op, vec![audit])
}

/// The one text column of every row `sql` selects.
fn texts(conn: &Connection, sql: &str) -> Vec<String> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Version 6's actions table taken back to version 5's, each row's record rebuilt around its
/// arguments as the version 5 server stored it.
const TO_V5: &str = r#"
CREATE TABLE actions_v5 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    tool TEXT NOT NULL,
    effect TEXT NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL,
    escalation TEXT,
    record TEXT NOT NULL,
    at TEXT NOT NULL,
    grant_id TEXT,
    cost REAL,
    governed TEXT
);
INSERT INTO actions_v5
    SELECT seq, id, agent, session, tool, effect, rule, reason, escalation,
           json_object('id', id, 'agent', agent, 'tool', tool, 'args', json(args),
                       'session', session, 'submitted_at', at, 'policy_version', '1'),
           at, grant_id, cost, governed
    FROM actions;
DROP TABLE actions;
ALTER TABLE actions_v5 RENAME TO actions;
CREATE INDEX actions_by_session ON actions (agent, session, seq);
CREATE INDEX actions_by_time ON actions (at);
CREATE INDEX audit_by_agent ON audit (agent, seq);
CREATE INDEX audit_by_escalation ON audit (escalation, seq);
PRAGMA user_version = 5;
"#;

#[tokio::test]
async fn actions_stored_whole_are_migrated_to_their_arguments_and_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        json!({"env": "prod", "n": [1, 2.5]}),
        json!("just text"),
        json!(null),
    ];
    let store = Store::open(dir.path(), key()).unwrap();
    for (i, a) in args.iter().enumerate() {
        let (op, audit) = call(&format!("act_{i}"), a.clone());
        store.write(op, audit).await.unwrap();
    }
    store.shutdown().await;
    let path = db_path(dir.path());
    let conn = Connection::open(&path).unwrap();
    super::v7_tests::to_v6(&conn);
    conn.execute_batch(TO_V5).unwrap();
    drop(conn);
    // A row whose record is not JSON does not stop the migration: it gets null arguments
    // (which this call had, so the log agrees; other arguments would be reported by verify).
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE actions SET record = '{not json' WHERE id = 'act_2'",
            [],
        )
        .unwrap();

    let (writer, readers) = open(dir.path(), key(), 1).unwrap();
    drop(writer);
    let conn = Connection::open(&path).unwrap();
    assert_eq!(version(&conn).unwrap(), VERSION);
    let stored = texts(&conn, "SELECT args FROM actions ORDER BY seq");
    assert_eq!(
        stored,
        [r#"{"env":"prod","n":[1,2.5]}"#, r#""just text""#, "null"]
    );
    let history = readers[0].last_calls("deployer", "s1", 3).unwrap();
    let shown: Vec<&Value> = history.iter().map(|c| &c.args).collect();
    assert_eq!(shown, args.iter().collect::<Vec<_>>());
    let indexes = texts(
        &conn,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit'",
    );
    assert_eq!(indexes, ["audit_by_kind"]);
    verify(&path, &Expect::default()).expect("the migrated store verifies");

    // The stored arguments are still held to the log's.
    conn.execute(
        r#"UPDATE actions SET args = '{"env":"dev","n":[1,2.5]}' WHERE id = 'act_0'"#,
        [],
    )
    .unwrap();
    let e = verify(&path, &Expect::default()).unwrap_err().to_string();
    assert!(
        e.contains("action act_0's stored arguments differ from the log's"),
        "{e}"
    );
}
