//! A log far longer than the batches `gavel audit verify` reads it in: a difference deep into
//! the chain or the actions table is found, and of two the one first in order is named.

use gavel::server::audit::{verify, Expect, VerifyError};
use gavel::server::store::db_path;
use rusqlite::Connection;
use serde_json::json;

use crate::audit::copy_db;
use crate::audit_state::state_problem;
use crate::common::{Env, POLICY};

/// Calls in the log: more than two of the verifier's batches.
const CALLS: u64 = 1_300;

fn one(conn: &Connection, sql: &str) -> String {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn verify_finds_the_first_difference_deep_in_a_long_log() {
    let mut env = Env::start(POLICY).await;
    for i in 0..CALLS {
        env.act("refund-bot", "orders.get", json!({"id": i}), "s")
            .await;
    }
    env.stop().await;
    let report = verify(&env.records().path(), &Expect::default()).unwrap();
    assert!(report.records > CALLS, "{report:?}");

    // The arguments of the 1,200th row edited.
    let d = copy_db(&env, "late-args");
    let c = Connection::open(db_path(&d)).unwrap();
    let nth = |n: u64| {
        one(
            &c,
            &format!("SELECT id FROM actions ORDER BY seq LIMIT 1 OFFSET {n}"),
        )
    };
    let (early, late) = (nth(699), nth(1199));
    c.execute(
        "UPDATE actions SET args = '{\"id\":-1}' WHERE id = ?1",
        [&late],
    )
    .unwrap();
    assert_eq!(
        state_problem(&d),
        format!("action {late}'s stored arguments differ from the log's")
    );
    // And the 700th row's reason: it comes first.
    c.execute(
        "UPDATE actions SET reason = 'edited' WHERE id = ?1",
        [&early],
    )
    .unwrap();
    assert_eq!(
        state_problem(&d),
        format!(
            "action {early} has reason \"edited\" in the table but the log says \"Read-only calls\""
        )
    );

    // A record deep in the chain edited, and one after it: the first is named.
    let d = copy_db(&env, "late-record");
    let c = Connection::open(db_path(&d)).unwrap();
    for seq in [1_250, 1_280] {
        c.execute(
            "UPDATE audit SET body = json_set(body, '$.session', 'edited') WHERE seq = ?1",
            [seq],
        )
        .unwrap();
    }
    match verify(&db_path(&d), &Expect::default()) {
        Err(VerifyError::BadRecord {
            seq: 1_250,
            problem,
        }) => {
            assert!(problem.contains("hash does not match"), "{problem}")
        }
        other => panic!("expected record 1250 named, got {other:?}"),
    }
}
