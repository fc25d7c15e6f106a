//! A sweep on a real SQLite store: it examines rows in order from its cursor, steps over the
//! rows that stay, stops at the horizon, never takes the newest row; and `gavel audit verify`
//! accepts the rows it pruned and no other missing row.

use chrono::{Duration, Utc};
use rusqlite::Connection;
use serde_json::json;

use crate::protocol::{ActionRecord, Effect, FlaggedAction, PersonKey, Timestamp};
use crate::server::audit::{verify, AuditEvent, Expect};
use crate::server::store::{db_path, ActionWrite, Op, Pruned, Reply, Store};

fn call(id: &str, effect: Effect, at: Timestamp) -> (Op, Vec<AuditEvent>) {
    let record: ActionRecord = serde_json::from_value(json!({
        "id": id, "agent": "deployer", "tool": format!("tool.{id}"), "args": {},
        "session": "s1", "submitted_at": at, "policy_version": "1",
    }))
    .unwrap();
    let audit = AuditEvent::action(&record, "d", effect, Some("r"), "ok", vec![], None);
    let flagged = (effect == Effect::Flag).then(|| {
        serde_json::from_value::<FlaggedAction>(json!({
            "action": record, "flagged_at": at,
            "rule": {"id": "r", "effect": "flag", "reason": "ok"},
        }))
        .unwrap()
    });
    let op = Op::Action(Box::new(ActionWrite {
        effect,
        rule: Some("r".into()),
        reason: "ok".into(),
        escalation: None,
        flagged,
        key: None,
        grant: None,
        governed: None,
        record,
    }));
    (op, vec![audit])
}

async fn prune(store: &Store, before: Timestamp, after: i64, limit: u32) -> Pruned {
    let op = Op::PruneActions {
        before,
        after,
        limit,
    };
    match store.write(op, vec![]).await.unwrap() {
        Reply::Pruned(p) => p,
        _ => panic!("a prune answers with how far it got"),
    }
}

fn ids(conn: &Connection) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT id FROM actions ORDER BY seq").unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn seq(conn: &Connection, id: &str) -> i64 {
    conn.query_row("SELECT seq FROM actions WHERE id = ?1", [id], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_sweep_steps_over_the_rows_that_stay_and_stops_at_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), PersonKey::generate("server")).unwrap();
    let (old, now) = (Utc::now() - Duration::days(40), Utc::now());
    for (id, effect, at) in [
        ("act_a", Effect::Allow, old),
        ("act_b", Effect::Flag, old),
        ("act_c", Effect::Deny, old),
        ("act_d", Effect::Allow, old),
        ("act_e", Effect::Allow, now),
    ] {
        let (op, audit) = call(id, effect, at);
        store.write(op, audit).await.unwrap();
    }
    let conn = Connection::open(db_path(dir.path())).unwrap();
    let horizon = now - Duration::days(31);
    let (b, d) = (seq(&conn, "act_b"), seq(&conn, "act_d"));

    let first = prune(&store, horizon, 0, 2).await;
    assert_eq!((first.count, first.through, first.more), (1, b, true));
    assert_eq!(ids(&conn), ["act_b", "act_c", "act_d", "act_e"]);

    let second = prune(&store, horizon, first.through, 10).await;
    assert_eq!(
        (second.count, second.through, second.more),
        (2, d, false),
        "stops at the first row at the horizon"
    );
    assert_eq!(ids(&conn), ["act_b", "act_e"]);

    // Everything old by now: the flagged call's row stays, and so does the newest.
    let all = prune(&store, now + Duration::hours(1), 0, 10).await;
    assert_eq!((all.count, all.more), (0, false));
    assert_eq!(ids(&conn), ["act_b", "act_e"]);
    let tools: Vec<String> = conn
        .prepare("SELECT tool FROM tools_called ORDER BY tool")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tools, ["tool.act_a", "tool.act_c", "tool.act_d"]);
    store.shutdown().await;

    let path = db_path(dir.path());
    let report = verify(&path, &Expect::default()).unwrap();
    assert_eq!(report.records, 7, "five calls and two `actions_pruned`");

    // A row the log never let go of is still missed: one after the horizon, and a flagged one.
    // (Deleted in this order, each is the first missing id verify names.)
    for id in ["act_e", "act_b"] {
        conn.execute("DELETE FROM actions WHERE id = ?1", [id])
            .unwrap();
        let e = verify(&path, &Expect::default()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("action {id} is in the log but not in the table")),
            "{e}"
        );
    }
}
