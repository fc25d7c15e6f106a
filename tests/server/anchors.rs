//! Anchors: a checkpoint kept elsewhere catches what the log alone cannot show (a cut tail, a
//! deleted or rewritten log, another key); leads read it over HTTP too.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use gavel::protocol::signing::Purpose;
use gavel::protocol::{now_rfc3339, PersonKey, SignedRequest};
use gavel::server::audit::{verify, Anchor, CheckpointBody, Expect, VerifyError};
use gavel::server::store::db_path;
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::audit::{copy_db, populated, rehash_from, HASH_HEX};
use crate::common::{Env, POLICY};

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

/// `--data DIR`, for `gavel audit verify`.
fn data(dir: &Path) -> [OsString; 2] {
    ["--data".into(), dir.into()]
}

/// `gavel audit verify LOG [--anchor F] [--server-key K]`, LOG being `--data DIR` or
/// `--store URL`: (success, stdout, stderr).
fn verify_cli(
    log: &[OsString; 2],
    anchor: Option<&Path>,
    key: Option<&str>,
) -> (bool, String, String) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["audit".as_ref(), "verify".as_ref()];
    args.extend(log.iter().map(|a| a.as_os_str()));
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
        &format!("UPDATE checkpoints SET head = (SELECT {HASH_HEX} FROM audit WHERE audit.seq = checkpoints.seq)"),
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
    // `gavel audit checkpoint` reads a data dir: on PostgreSQL, a copy of the store in one.
    let records = env.records();
    let (text, anchor) = checkpoint(&records.dir());
    assert_eq!(anchor.server_public_key, public);
    let anchor_file = env.dir.path().join("anchor.json");
    std::fs::write(&anchor_file, &text).unwrap();

    // Untouched: ok with the anchor and the key; without an anchor, the limit is said plainly.
    let (ok, out, err) = verify_cli(&env.verify_args(), Some(&anchor_file), Some(&public));
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("extends the anchor at record {}", anchor.seq)),
        "{out}"
    );
    let (ok, out, _) = verify_cli(&env.verify_args(), None, None);
    assert!(ok);
    assert!(
        out.contains("without --anchor") && out.contains("cannot be detected"),
        "{out}"
    );

    // The tail cut: the last records removed with the checkpoint that covered them. The
    // records left are covered by no signature, unless the cut is at a checkpoint the server
    // kept (one every KEEP_EVERY records), which is what this copy is given next.
    let d = copy_db(&env, "cut");
    let c = Connection::open(db_path(&d)).unwrap();
    // The last record is the refusal `populated` ends with, which changed no state.
    let cut_at = anchor.seq as i64 - 1;
    let kind: String = c
        .query_row("SELECT kind FROM audit WHERE seq = ?1", [anchor.seq], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kind, "refused");
    c.execute("DELETE FROM audit WHERE seq > ?1", [cut_at])
        .unwrap();
    c.execute("DELETE FROM checkpoints WHERE seq > ?1", [cut_at])
        .unwrap();
    let e = verify_with(&d, None, None).unwrap_err().to_string();
    assert!(e.contains("is not covered by any signed checkpoint"), "{e}");
    let head: String = c
        .query_row(
            &format!("SELECT {HASH_HEX} FROM audit WHERE seq = ?1"),
            [cut_at],
            |r| r.get(0),
        )
        .unwrap();
    let kept = server_key
        .try_sign(
            Purpose::Checkpoint,
            &CheckpointBody {
                seq: cut_at as u64,
                head: &head,
            },
        )
        .unwrap();
    c.execute(
        "INSERT INTO checkpoints (seq, head, signature, time) VALUES (?1, ?2, ?3, ?4)",
        params![cut_at, head, kept, now_rfc3339()],
    )
    .unwrap();
    drop(c);
    if let Err(e) = verify_with(&d, None, None) {
        panic!("undetectable without an anchor, yet: {e}");
    }
    let e = verify_with(&d, Some(&anchor), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("ends at record {cut_at}")) && e.contains("the tail was cut"),
        "{e}"
    );
    let (ok, _, err) = verify_cli(&data(&d), Some(&anchor_file), None);
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
    let (ok, out, err) = verify_cli(&data(&d), None, None);
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
    // A link broken after a start with the real key does not hide the replaced key: the
    // start comes first in the chain.
    let broken = copy_db(&env, "rekeyed-broken");
    let b = Connection::open(db_path(&broken)).unwrap();
    b.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'server_public_key'",
        [&fake],
    )
    .unwrap();
    resign_checkpoints(&b, &mallory);
    b.execute(
        "UPDATE audit SET actor = 'someone' WHERE seq = (SELECT MAX(seq) FROM audit)",
        [],
    )
    .unwrap();
    drop(b);
    let e = verify_with(&broken, None, None).unwrap_err().to_string();
    assert!(e.contains("the key was replaced"), "{e}");
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
    let (ok, _, err) = verify_cli(&data(&d), None, Some(&public));
    assert!(!ok && err.contains("the key was replaced"), "{err}");

    // An anchor that is not the server's: its signature does not verify; or another key's.
    let mut forged = anchor.clone();
    forged.seq -= 1;
    let e = verify_with(&records.dir(), Some(&forged), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("signature does not verify"), "{e}");
    let e = verify_with(&records.dir(), Some(&anchor), Some(&mallory))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("server key:"), "{e}");
    std::fs::write(&anchor_file, "{\"seq\": 1}").unwrap();
    let (ok, _, err) = verify_cli(&env.verify_args(), Some(&anchor_file), None);
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
async fn leads_and_auditors_read_the_latest_checkpoint_over_http_and_it_anchors_the_log() {
    let mut env = Env::start(POLICY).await;
    env.act("refund-bot", "orders.get", json!({}), "s").await;
    let (status, body) = signed_get(&env, env.key("erin"), "/v1/audit/checkpoint").await;
    assert_eq!(status, 200, "{body}");
    let anchor: Anchor = serde_json::from_value(body).unwrap();
    let records = env.client.audit(env.key("erin"), "").await.unwrap();
    assert_eq!(anchor.seq, records.last().unwrap().seq);
    assert_eq!(anchor.head, records.last().unwrap().hash);

    let (status, body) = signed_get(&env, env.key("grace"), "/v1/audit/checkpoint").await;
    assert_eq!(status, 200, "auditors read it too: {body}");
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
    let (ok, out, err) = verify_cli(
        &env.verify_args(),
        Some(&file),
        Some(&anchor.server_public_key),
    );
    assert!(ok, "{err}");
    assert!(out.contains("extends the anchor"), "{out}");
}
