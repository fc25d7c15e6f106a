//! `gavel audit query` and `gavel audit export` as an auditor runs them, against a real server.

mod common;

use std::process::Output;

use common::{Env, POLICY};
use gavel::client::Client;
use gavel::protocol::{AuditRecord, Vote};
use serde_json::{json, Value};

async fn audit(env: &Env, person: &str, words: &[&str]) -> Output {
    let mut all = vec!["audit"];
    all.extend_from_slice(words);
    env.run_as(person, &all).await
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A small history: an allowed read, a denied shell command, a refund carol approved, and an
/// email by another agent.
async fn history(env: &Env) {
    env.act("refund-bot", "orders.get", json!({"id": "o-1"}), "s")
        .await;
    env.act("refund-bot", "shell.exec", json!({"cmd": "ls"}), "s")
        .await;
    let esc = env.refund_review(2000.0).await;
    env.client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &esc,
            Vote::Approve,
            "checked the order",
        ))
        .await
        .unwrap();
    env.act("mailer", "email.send", json!({"to": "x@example.com"}), "s2")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_answers_what_an_agent_did_and_who_authorised_it() {
    let env = Env::start(POLICY).await;
    history(&env).await;

    let all: Vec<AuditRecord> = serde_json::from_str(&ok(&audit(
        &env,
        "grace",
        &["query", "--agent", "refund-bot", "--json"],
    )
    .await))
    .unwrap();
    assert!(
        all.iter().all(|r| r.body["agent"] == "refund-bot"),
        "{all:?}"
    );
    let kinds: Vec<&str> = all.iter().map(|r| r.kind.as_str()).collect();
    for kind in [
        "action",
        "escalation_created",
        "decision",
        "escalation_resolved",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    // Who decided, and why, is in the record.
    let decision = all.iter().find(|r| r.kind == "decision").unwrap();
    assert_eq!(decision.actor, "carol");
    assert!(
        decision.body.to_string().contains("checked the order"),
        "{decision:?}"
    );

    // The table: one line per record, the body's plain fields; filters by kind and time.
    let table = ok(&audit(
        &env,
        "grace",
        &["query", "--agent", "refund-bot", "--kind", "action"],
    )
    .await);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines.iter().all(|l| l.contains("\taction\t")), "{table}");
    for tool in ["orders.get", "shell.exec", "stripe.refund"] {
        assert!(table.contains(&format!("tool={tool}")), "{table}");
    }
    let future = ok(&audit(&env, "grace", &["query", "--since", "2999-01-01"]).await);
    assert!(future.is_empty(), "{future}");
    let past = ok(&audit(&env, "grace", &["query", "--until", "2000-01-01T00:00:00Z"]).await);
    assert!(past.is_empty(), "{past}");

    // Not an auditor: refused with the server's reason; a bad time: refused before sending.
    let refused = audit(&env, "carol", &["query"]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not_auditor"));
    let bad = audit(&env, "grace", &["query", "--since", "yesterday"]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}

/// The exported records form one chain ending at the exported checkpoint's head.
fn assert_chain(records: &[AuditRecord], first_seq: u64, checkpoint: &Value) {
    assert!(!records.is_empty());
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, first_seq + i as u64, "contiguous");
        if i > 0 {
            assert_eq!(r.prev_hash, records[i - 1].hash, "linked");
        }
    }
    let last = records.last().unwrap();
    assert_eq!(checkpoint["seq"], last.seq);
    assert_eq!(checkpoint["head"], last.hash);
    assert!(checkpoint["signature"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_is_the_chain_up_to_a_signed_checkpoint_in_jsonl_and_csv() {
    let env = Env::start(POLICY).await;
    history(&env).await;

    let text = ok(&audit(&env, "grace", &["export", "--format", "jsonl"]).await);
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let checkpoint = lines.pop().unwrap()["checkpoint"].clone();
    let records: Vec<AuditRecord> = lines
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    assert_chain(&records, 1, &checkpoint);

    // From a sequence number on: only what follows it.
    let after = records[2].seq;
    let text = ok(&audit(
        &env,
        "grace",
        &[
            "export",
            "--format",
            "jsonl",
            "--since-seq",
            &after.to_string(),
        ],
    )
    .await);
    let tail: Vec<&str> = text.lines().collect();
    let first: AuditRecord = serde_json::from_str(tail[0]).unwrap();
    assert_eq!(first.seq, after + 1);

    // CSV: the same records, the body as JSON, the checkpoint as the last row.
    let text = ok(&audit(&env, "grace", &["export", "--format", "csv"]).await);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["seq", "time", "kind", "actor", "body", "prev_hash", "hash"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let (last, rows) = rows.split_last().unwrap();
    assert_eq!(&last[2], "checkpoint");
    let checkpoint: Value = serde_json::from_str(&last[4]).unwrap();
    let records: Vec<AuditRecord> = rows
        .iter()
        .map(|row| {
            serde_json::from_value(json!({
                "seq": row[0].parse::<u64>().unwrap(), "time": &row[1], "kind": &row[2],
                "actor": &row[3], "body": serde_json::from_str::<Value>(&row[4]).unwrap(),
                "prev_hash": &row[5], "hash": &row[6],
            }))
            .unwrap()
        })
        .collect();
    assert_chain(&records, 1, &checkpoint);
    assert_eq!(&last[6], checkpoint["head"].as_str().unwrap());
}
