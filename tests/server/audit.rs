use std::path::Path;
use std::process::Command;

use gavel::client::Client;
use gavel::protocol::signing::Purpose;
use gavel::protocol::{now_rfc3339, FlagVerdict, PersonKey, SignedRequest, Vote};
use gavel::server::audit::{record_hash, verify, Anchor, CheckpointBody, Expect, VerifyError};
use gavel::server::store::db_path;
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::common::{Env, POLICY};

/// A stopped server's data dir with a varied audit log: allowed, denied and flagged actions, a
/// reviewed flag, escalations approved, denied and still pending (with one of two votes), a
/// kill switch on.
pub async fn populated() -> Env {
    let mut env = Env::start(POLICY).await;
    env.act("refund-bot", "orders.get", json!({"id": 1}), "s")
        .await;
    env.act("refund-bot", "shell.exec", json!({"cmd": "rm -rf /"}), "s")
        .await;
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 4000.0}),
            "s",
        )
        .await;
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
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

pub fn copy_db(env: &Env, name: &str) -> std::path::PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(db_path(&env.data), db_path(&dir)).unwrap();
    dir
}

fn row(conn: &Connection, seq: i64) -> (String, String, String, String, String, String) {
    conn.query_row(
        "SELECT time, kind, actor, body, prev_hash, hash FROM audit WHERE seq = ?1",
        [seq],
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

fn rehash_from(conn: &Connection, from: i64) {
    let max: i64 = conn
        .query_row("SELECT MAX(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    for seq in from..=max {
        let prev: String = if seq == 1 {
            gavel::server::audit::GENESIS.into()
        } else {
            conn.query_row("SELECT hash FROM audit WHERE seq = ?1", [seq - 1], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let (time, kind, actor, body, _, _) = row(conn, seq);
        let body: Value = serde_json::from_str(&body).unwrap();
        let h = record_hash(&prev, seq as u64, &time, &kind, &actor, &body).unwrap();
        conn.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            params![prev, h, seq],
        )
        .unwrap();
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
        "INSERT INTO audit (seq, time, kind, actor, body, prev_hash, hash) VALUES (?1, ?2, 'action', 'refund-bot', ?3, ?4, ?5)",
        params![seq, time, body.to_string(), prev, h],
    )
    .unwrap();
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
    let report = verify(&db_path(&env.data), &Expect::default()).unwrap();
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
    c.execute("UPDATE audit SET hash = ?1 WHERE seq = 3", [h])
        .unwrap();
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
        .args(["audit", "verify", "--data"])
        .arg(&env.data)
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

fn gavel(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .output()
        .unwrap()
}

/// `gavel audit checkpoint --data DIR`: one JSON line.
fn checkpoint(data: &Path) -> (String, Anchor) {
    let out = gavel(&[
        "audit".as_ref(),
        "checkpoint".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let anchor = Anchor::parse(&text).unwrap();
    (text, anchor)
}

/// `gavel audit verify --data DIR [--anchor F] [--server-key K]`: (success, stdout, stderr).
fn verify_cli(data: &Path, anchor: Option<&Path>, key: Option<&str>) -> (bool, String, String) {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "audit".as_ref(),
        "verify".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
    ];
    if let Some(a) = anchor {
        args.extend::<[&std::ffi::OsStr; 2]>(["--anchor".as_ref(), a.as_os_str()]);
    }
    if let Some(k) = key {
        args.extend::<[&std::ffi::OsStr; 2]>(["--server-key".as_ref(), k.as_ref()]);
    }
    let out = gavel(&args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
    }
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        err,
    )
}

fn verify_with(
    dir: &Path,
    anchor: Option<&Anchor>,
    key: Option<&PersonKey>,
) -> Result<(), VerifyError> {
    let expect = Expect {
        anchor: anchor.cloned(),
        server_key: key.map(|k| k.public()),
    };
    verify(&db_path(dir), &expect).map(|_| ())
}

/// Points every checkpoint at the chain as it now is and signs it again with `key`, as someone
/// holding that key would.
fn resign_checkpoints(conn: &Connection, key: &PersonKey) {
    conn.execute(
        "UPDATE checkpoints SET head = (SELECT hash FROM audit WHERE audit.seq = checkpoints.seq)",
        [],
    )
    .unwrap();
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT seq, head FROM checkpoints")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (seq, head) in rows {
        let sig = key
            .try_sign(
                Purpose::Checkpoint,
                &CheckpointBody {
                    seq: seq as u64,
                    head: &head,
                },
            )
            .unwrap();
        conn.execute(
            "UPDATE checkpoints SET signature = ?1 WHERE seq = ?2",
            params![sig, seq],
        )
        .unwrap();
    }
}

#[tokio::test]
async fn an_anchor_catches_a_cut_tail_a_deleted_log_a_divergence_and_another_key() {
    let env = populated().await;
    let server_key = PersonKey::read(&env.data.join("server.key")).unwrap();
    let public = server_key.public().to_string();
    let (text, anchor) = checkpoint(&env.data);
    assert_eq!(anchor.server_public_key, public);
    let anchor_file = env.dir.path().join("anchor.json");
    std::fs::write(&anchor_file, &text).unwrap();

    // Untouched: ok with the anchor and the key; without an anchor, the limit is said plainly.
    let (ok, out, err) = verify_cli(&env.data, Some(&anchor_file), Some(&public));
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("extends the anchor at record {}", anchor.seq)),
        "{out}"
    );
    let (ok, out, _) = verify_cli(&env.data, None, None);
    assert!(ok);
    assert!(
        out.contains("without --anchor") && out.contains("cannot be detected"),
        "{out}"
    );

    // The tail cut at a commit boundary: the last commit's records and checkpoint removed.
    let d = copy_db(&env, "cut");
    let c = Connection::open(db_path(&d)).unwrap();
    let cut_at: i64 = c
        .query_row(
            "SELECT MAX(seq) FROM checkpoints WHERE seq < ?1",
            [anchor.seq as i64],
            |r| r.get(0),
        )
        .unwrap();
    c.execute("DELETE FROM audit WHERE seq > ?1", [cut_at])
        .unwrap();
    c.execute("DELETE FROM checkpoints WHERE seq > ?1", [cut_at])
        .unwrap();
    drop(c);
    assert!(
        verify_with(&d, None, None).is_ok(),
        "undetectable without an anchor"
    );
    let e = verify_with(&d, Some(&anchor), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("ends at record {cut_at}")) && e.contains("the tail was cut"),
        "{e}"
    );
    let (ok, _, err) = verify_cli(&d, Some(&anchor_file), None);
    assert!(!ok && err.contains("the tail was cut"), "{err}");

    // The whole log deleted: with or without an anchor.
    let d = copy_db(&env, "wiped");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute_batch("DELETE FROM audit; DELETE FROM checkpoints;")
        .unwrap();
    drop(c);
    let e = verify_with(&d, Some(&anchor), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ends at record 0"), "{e}");
    let e = verify_with(&d, None, None).unwrap_err().to_string();
    assert!(
        e.contains("record 1") && e.contains("the log was deleted"),
        "{e}"
    );
    let (ok, out, err) = verify_cli(&d, None, None);
    assert!(!ok && !out.contains("ok: 0 records"), "{out}{err}");

    // Rewritten with the server's own key (read from the data dir) and re-signed: only the
    // anchor shows the log is not the one it was.
    let d = copy_db(&env, "diverged");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute(
        "UPDATE audit SET body = json_set(body, '$.version', 'rewritten') WHERE seq = 1",
        [],
    )
    .unwrap();
    rehash_from(&c, 1);
    resign_checkpoints(&c, &server_key);
    drop(c);
    verify_with(&d, None, Some(&server_key)).unwrap();
    let e = verify_with(&d, Some(&anchor), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("record {}", anchor.seq)) && e.contains("diverges"),
        "{e}"
    );

    // meta.server_public_key replaced, every record and checkpoint re-signed with the new key.
    let d = copy_db(&env, "rekeyed");
    let c = Connection::open(db_path(&d)).unwrap();
    let mallory = PersonKey::generate("server");
    let fake = mallory.public().to_string();
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'server_public_key'",
        [&fake],
    )
    .unwrap();
    // Lazily: the server_start records still name the real key.
    resign_checkpoints(&c, &mallory);
    let e = verify_with(&d, None, None).unwrap_err().to_string();
    assert!(
        e.contains("the key was replaced") && e.contains(&public),
        "{e}"
    );
    // Thoroughly: the server_start records rewritten too, so the log is consistent in itself.
    c.execute(
        "UPDATE audit SET body = json_set(body, '$.server_public_key', ?1) WHERE kind = 'server_start'",
        [&fake],
    )
    .unwrap();
    rehash_from(&c, 1);
    resign_checkpoints(&c, &mallory);
    drop(c);
    assert!(
        verify_with(&d, None, None).is_ok(),
        "undetectable from inside"
    );
    let e = verify_with(&d, None, Some(&server_key))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("server key:") && e.contains(&fake), "{e}");
    let e = verify_with(&d, Some(&anchor), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("but the anchor with") && e.contains("replaced"),
        "{e}"
    );
    let (ok, _, err) = verify_cli(&d, None, Some(&public));
    assert!(!ok && err.contains("the key was replaced"), "{err}");

    // An anchor that is not the server's: its signature does not verify; or another key's.
    let mut forged = anchor.clone();
    forged.seq -= 1;
    let e = verify_with(&env.data, Some(&forged), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("signature does not verify"), "{e}");
    let e = verify_with(&env.data, Some(&anchor), Some(&mallory))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("server key:"), "{e}");
    std::fs::write(&anchor_file, "{\"seq\": 1}").unwrap();
    let (ok, _, err) = verify_cli(&env.data, Some(&anchor_file), None);
    assert!(!ok && err.contains("not a gavel checkpoint"), "{err}");
}

/// A signed GET as `key`, answering (status, JSON body).
async fn signed_get(env: &Env, key: &PersonKey, path: &str) -> (u16, Value) {
    let req = SignedRequest {
        method: "GET".into(),
        path: path.into(),
        person: key.id.clone(),
        time: now_rfc3339(),
    };
    let sig = key.sign(Purpose::Request, &req);
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", env.url()))
        .header("x-gavel-person", &req.person)
        .header("x-gavel-time", &req.time)
        .header("x-gavel-signature", sig)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn leads_read_the_latest_checkpoint_over_http_and_it_anchors_the_log() {
    let mut env = Env::start(POLICY).await;
    env.act("refund-bot", "orders.get", json!({}), "s").await;
    let (status, body) = signed_get(&env, env.key("erin"), "/v1/audit/checkpoint").await;
    assert_eq!(status, 200, "{body}");
    let anchor: Anchor = serde_json::from_value(body).unwrap();
    let records = env.client.audit(env.key("erin"), "").await.unwrap();
    assert_eq!(anchor.seq, records.last().unwrap().seq);
    assert_eq!(anchor.head, records.last().unwrap().hash);

    let (status, body) = signed_get(&env, env.key("carol"), "/v1/audit/checkpoint").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_auditor"))
    );
    let (status, _) = env
        .client
        .raw::<()>(reqwest::Method::GET, "/v1/audit/checkpoint", None, None)
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 401);

    env.act("refund-bot", "orders.get", json!({}), "s").await;
    env.stop().await;
    let file = env.dir.path().join("anchor.json");
    std::fs::write(&file, serde_json::to_string(&anchor).unwrap()).unwrap();
    let (ok, out, err) = verify_cli(&env.data, Some(&file), Some(&anchor.server_public_key));
    assert!(ok, "{err}");
    assert!(out.contains("extends the anchor"), "{out}");
}
