use std::path::Path;
use std::process::Command;

use gavel::client::Client;
use gavel::protocol::{FlagVerdict, Vote};
use gavel::server::audit::{record_hash, verify, Expect, VerifyError};
use gavel::server::store::db_path;
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::common::{Env, POLICY};

/// A stopped server with a varied audit log: allowed, denied and flagged actions, a
/// reviewed flag, escalations approved, denied and still pending (with one of two votes), a
/// kill switch on.
pub async fn populated() -> Env {
    let mut env = Env::start(POLICY).await;
    env.act("refund-bot", "orders.get", json!({"id": 1}), "s")
        .await;
    env.act("refund-bot", "shell.exec", json!({"cmd": "rm -rf /"}), "s")
        .await;
    let esc = env.refund_review(4000.0).await;
    env.client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &esc,
            Vote::Approve,
            "ok",
        ))
        .await
        .unwrap();
    env.act("mailer", "orders.list", json!({}), "m").await;
    let flagged = env
        .act("refund-bot", "stripe.refund", json!({"amount": 500.0}), "s")
        .await;
    env.client
        .review_flag(
            env.key("bob"),
            &flagged.id,
            FlagVerdict::Acknowledge,
            "fine",
        )
        .await
        .unwrap();
    env.act("refund-bot", "stripe.refund", json!({"amount": 600.0}), "s")
        .await;
    let mail = env
        .act("mailer", "email.send", json!({"to": "x"}), "m")
        .await;
    let mail = env.escalation(mail.escalation.as_deref().unwrap()).await;
    env.client
        .decide(&Client::sign_decision(
            env.key("bob"),
            &mail,
            Vote::Deny,
            "not to x",
        ))
        .await
        .unwrap();
    let huge = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 20000.0}),
            "s",
        )
        .await;
    let huge = env.escalation(huge.escalation.as_deref().unwrap()).await;
    env.client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &huge,
            Vote::Approve,
            "one of two",
        ))
        .await
        .unwrap();
    env.client
        .flip(env.key("alice"), "agent:mailer", true, "test")
        .await
        .unwrap();
    env.act("mailer", "orders.list", json!({}), "m").await;
    // Last, a commit that changes no state: an authenticated refusal.
    env.poll("mailer", "act_missing").await.unwrap_err();
    env.stop().await;
    env
}

/// A data dir `name` holding a copy of the server's records (to tamper with).
pub fn copy_db(env: &Env, name: &str) -> std::path::PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(env.records().path(), db_path(&dir)).unwrap();
    dir
}

/// A record's hash as hex (both stores keep its 32 bytes).
pub const HASH_HEX: &str = "lower(hex(hash))";

/// Sets record `seq`'s hash.
fn set_hash(conn: &Connection, seq: i64, hash: &str) {
    conn.execute(
        "UPDATE audit SET hash = unhex(?1) WHERE seq = ?2",
        params![hash, seq],
    )
    .unwrap();
}

/// Record `seq`: its time, kind, actor, body, the hash of the record before (the genesis for
/// the first), and its hash.
fn row(conn: &Connection, seq: i64) -> (String, String, String, String, String, String) {
    conn.query_row(
        &format!(
            "SELECT time, kind, actor, body,
                    COALESCE((SELECT lower(hex(p.hash)) FROM audit p WHERE p.seq = a.seq - 1), ?2),
                    {HASH_HEX}
             FROM audit a WHERE seq = ?1"
        ),
        params![seq, gavel::server::audit::GENESIS],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )
    .unwrap()
}

pub fn rehash_from(conn: &Connection, from: i64) {
    let max: i64 = conn
        .query_row("SELECT MAX(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    for seq in from..=max {
        let prev: String = if seq == 1 {
            gavel::server::audit::GENESIS.into()
        } else {
            row(conn, seq - 1).5
        };
        let (time, kind, actor, body, _, _) = row(conn, seq);
        let body: Value = serde_json::from_str(&body).unwrap();
        let h = record_hash(&prev, seq as u64, &time, &kind, &actor, &body).unwrap();
        set_hash(conn, seq, &h);
    }
}

/// Writes a well-formed record at `seq`, linked to the record before it, as a forger with
/// database access but without the server's key would.
fn forge(conn: &Connection, seq: i64) {
    let prev = row(conn, seq - 1).5;
    let body = json!({"action": "act_forged", "agent": "refund-bot", "effect": "allow"});
    let time = "2026-01-01T00:00:00.000000Z";
    let h = record_hash(&prev, seq as u64, time, "action", "refund-bot", &body).unwrap();
    conn.execute(
        "INSERT INTO audit (seq, time, kind, actor, body, hash) VALUES (?1, ?2, 'action', 'refund-bot', ?3, zeroblob(32))",
        params![seq, time, body.to_string()],
    )
    .unwrap();
    set_hash(conn, seq, &h);
}

fn bad_seq(dir: &Path) -> (u64, String) {
    match verify(&db_path(dir), &Expect::default()) {
        Err(VerifyError::BadRecord { seq, problem }) => (seq, problem),
        Err(VerifyError::BadCheckpoint { seq, problem }) => (seq, format!("checkpoint: {problem}")),
        other => panic!("expected a bad record, got {other:?}"),
    }
}

#[tokio::test]
async fn verify_passes_on_an_untouched_log_and_catches_every_tampering() {
    let env = populated().await;
    let report = verify(&env.records().path(), &Expect::default()).unwrap();
    assert!(report.records >= 10, "{report:?}");
    assert!(report.checkpoints >= 1);

    // Edited body.
    let d = copy_db(&env, "edited");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute(
        "UPDATE audit SET body = replace(body, 'rm -rf', 'ls -la') WHERE seq = 3",
        [],
    )
    .unwrap();
    let (seq, problem) = bad_seq(&d);
    assert_eq!(seq, 3);
    assert!(problem.contains("edited"), "{problem}");

    // Edited and its own hash recomputed: the next record's link breaks.
    let d = copy_db(&env, "edited-rehashed");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute("UPDATE audit SET actor = 'someone-else' WHERE seq = 3", [])
        .unwrap();
    let (time, kind, actor, body, prev, _) = row(&c, 3);
    let h = record_hash(
        &prev,
        3,
        &time,
        &kind,
        &actor,
        &serde_json::from_str(&body).unwrap(),
    )
    .unwrap();
    set_hash(&c, 3, &h);
    assert_eq!(bad_seq(&d).0, 4);

    // Edited and the whole rest of the chain rewritten: the signed checkpoint catches it.
    let d = copy_db(&env, "rewritten");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute(
        "UPDATE audit SET body = replace(body, 'rm -rf', 'ls -la') WHERE seq = 3",
        [],
    )
    .unwrap();
    rehash_from(&c, 3);
    let (_, problem) = bad_seq(&d);
    assert!(problem.contains("signed"), "{problem}");

    // Deleted.
    let d = copy_db(&env, "deleted");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute("DELETE FROM audit WHERE seq = 4", []).unwrap();
    let (seq, problem) = bad_seq(&d);
    assert_eq!(seq, 4);
    assert!(problem.contains("deleted"), "{problem}");

    // Inserted: later records renumbered, a well-formed record slipped in at 4.
    let d = copy_db(&env, "inserted");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute("UPDATE audit SET seq = seq + 100000 WHERE seq >= 4", [])
        .unwrap();
    c.execute("UPDATE audit SET seq = seq - 99999 WHERE seq >= 100000", [])
        .unwrap();
    forge(&c, 4);
    let (seq, problem) = bad_seq(&d);
    assert_eq!(seq, 5);
    assert!(problem.contains("inserted"), "{problem}");

    // Reordered: two records swap places.
    let d = copy_db(&env, "reordered");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute("UPDATE audit SET seq = -1 WHERE seq = 3", [])
        .unwrap();
    c.execute("UPDATE audit SET seq = 3 WHERE seq = 4", [])
        .unwrap();
    c.execute("UPDATE audit SET seq = 4 WHERE seq = -1", [])
        .unwrap();
    let (seq, problem) = bad_seq(&d);
    assert_eq!(seq, 3);
    assert!(problem.contains("reordered"), "{problem}");

    // Appended with a valid chain link but no server signature.
    let d = copy_db(&env, "appended");
    let c = Connection::open(db_path(&d)).unwrap();
    let max: i64 = c
        .query_row("SELECT MAX(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    forge(&c, max + 1);
    let (seq, problem) = bad_seq(&d);
    assert_eq!(seq, max as u64 + 1);
    assert!(problem.contains("not covered"), "{problem}");

    // Truncated: the last record deleted.
    let d = copy_db(&env, "truncated");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute("DELETE FROM audit WHERE seq = ?1", [max])
        .unwrap();
    let (seq, problem) = bad_seq(&d);
    assert_eq!(seq, max as u64);
    assert!(problem.contains("truncated"), "{problem}");

    // A checkpoint signature altered.
    let d = copy_db(&env, "bad-checkpoint");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute(
        "UPDATE checkpoints SET signature = 'AAAA' WHERE seq = (SELECT MIN(seq) FROM checkpoints)",
        [],
    )
    .unwrap();
    assert!(bad_seq(&d).1.starts_with("checkpoint"));

    // The CLI: exit 0 with count and head; non-zero naming the first bad record.
    let ok = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify"])
        .args(env.verify_args())
        .output()
        .unwrap();
    assert!(ok.status.success());
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.contains(&format!("{} records", report.records)) && out.contains(&report.head),
        "{out}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify", "--data"])
        .arg(env.dir.path().join("deleted"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("record 4"), "{err}");
    let missing = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify", "--data", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

#[tokio::test]
async fn the_audit_log_answers_what_an_agent_did_and_who_authorized_it() {
    let env = Env::start(POLICY).await;
    let t0 = chrono::Utc::now();
    env.act("refund-bot", "orders.get", json!({}), "s").await;
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 4000.0}),
            "s",
        )
        .await;
    env.act("mailer", "orders.get", json!({}), "m").await;
    env.act("mailer", "shell.exec", json!({}), "m").await;
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    env.client
        .decide(&Client::sign_decision(
            env.key("bob"),
            &esc,
            Vote::Approve,
            "verified",
        ))
        .await
        .unwrap();

    let q = |s: &str| s.replace(':', "%3A").replace('+', "%2B");
    let bot = env
        .client
        .audit(env.key("erin"), "agent=refund-bot")
        .await
        .unwrap();
    let kinds: Vec<&str> = bot.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "action",
            "action",
            "escalation_created",
            "decision",
            "escalation_resolved"
        ]
    );
    let decision = bot.iter().find(|r| r.kind == "decision").unwrap();
    assert_eq!(
        (decision.actor.as_str(), decision.body["verdict"].as_str()),
        ("bob", Some("approve"))
    );

    let denied = env
        .client
        .audit(env.key("erin"), "verdict=deny")
        .await
        .unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].body["tool"], "shell.exec");
    let actions = env
        .client
        .audit(env.key("erin"), "kind=action&agent=mailer")
        .await
        .unwrap();
    assert_eq!(actions.len(), 2);
    let since = env
        .client
        .audit(
            env.key("erin"),
            &format!("since={}&kind=action", q(&t0.to_rfc3339())),
        )
        .await
        .unwrap();
    assert_eq!(since.len(), 4);
    let until = env
        .client
        .audit(env.key("erin"), &format!("until={}", q(&t0.to_rfc3339())))
        .await
        .unwrap();
    assert!(until.iter().all(|r| r.kind == "server_start"), "{until:?}");
    let err = env
        .client
        .audit(env.key("erin"), "since=yesterday")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    // The first record names the policy and roster digests.
    let start = env
        .client
        .audit(env.key("erin"), "kind=server_start")
        .await
        .unwrap();
    assert_eq!(start[0].body["policy_digest"].as_str().unwrap().len(), 64);
    assert_eq!(start[0].body["roster_digest"].as_str().unwrap().len(), 64);
}
