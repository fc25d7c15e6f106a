//! Action rows past `keep_actions`: the running server prunes the rows of old allowed and
//! denied calls, keeps escalated and flagged calls' rows and every call's audit record, and
//! `gavel audit verify` still proves the log, telling a pruned row from a deleted one.

use std::time::Duration;

use chrono::Utc;
use gavel::protocol::{
    ActionRecord, Effect, Escalation, FlaggedAction, PersonKey, Timestamp, Verdict,
};
use gavel::server::audit::AuditEvent;
use gavel::server::store::{ActionWrite, ExpiryPlan, Op, Store};
use serde_json::json;

use crate::common::Env;

/// Everything allowed; a tool the agent never called before is flagged.
const POLICY: &str = r#"
[[rule]]
id = "anything"
tools = ["**"]
effect = "allow"
reason = "allowed"

[anomaly]
agents = ["refund-bot"]
new_tool = true
"#;

fn record(id: &str, tool: &str, at: Timestamp) -> ActionRecord {
    serde_json::from_value(json!({
        "id": id, "agent": "refund-bot", "tool": tool, "args": {"n": id},
        "session": "s1", "submitted_at": at, "policy_version": "1",
    }))
    .unwrap()
}

/// A call as the enforcement point writes it, with its audit record.
fn call(record: ActionRecord, effect: Effect) -> (Op, Vec<AuditEvent>) {
    let audit = vec![AuditEvent::action(
        &record,
        "sha256:d",
        effect,
        Some("anything"),
        "r",
        vec![],
        None,
    )];
    let at = record.submitted_at;
    let escalation = (effect == Effect::Review).then(|| {
        let esc: Escalation = serde_json::from_value(json!({
            "id": format!("esc_{}", record.id), "action": record, "digest": "sha256:d",
            "rule": {"id": "anything", "effect": "review", "reason": "r"},
            "history": [], "group": "finance", "approvals_required": 1, "separate_owner": false,
            "created_at": at, "deadline": at + chrono::Duration::minutes(10), "state": "pending",
        }))
        .unwrap();
        let plan = ExpiryPlan {
            escalate_to: None,
            timeout_secs: 600,
        };
        (esc, plan)
    });
    let flagged = (effect == Effect::Flag).then(|| {
        serde_json::from_value::<FlaggedAction>(json!({
            "action": record, "flagged_at": at,
            "rule": {"id": "anything", "effect": "flag", "reason": "r"},
        }))
        .unwrap()
    });
    let op = Op::Action(Box::new(ActionWrite {
        record,
        effect,
        rule: Some("anything".into()),
        reason: "r".into(),
        escalation,
        flagged,
        key: None,
        grant: None,
        governed: None,
    }));
    (op, audit)
}

/// Writes `calls` into the store the server of `env` will open, with its key.
async fn write_before_start(env: &Env, calls: Vec<(Op, Vec<AuditEvent>)>) {
    std::fs::create_dir_all(&env.data).unwrap();
    let key = PersonKey::generate("server");
    key.write_new(&env.data.join("server.key")).unwrap();
    let store = match &env.store {
        None => Store::open(&env.data, key).unwrap(),
        Some(url) => Store::open_postgres(url, key, "writer").unwrap(),
    };
    for (op, audit) in calls {
        store.write(op, audit).await.unwrap();
    }
    store.shutdown().await;
}

fn verify(env: &Env) -> std::process::Output {
    let place = match &env.store {
        None => ["--data", env.data.to_str().unwrap()],
        Some(url) => ["--store", url.as_str()],
    };
    std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify"])
        .args(place)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_allowed_and_denied_rows_are_pruned_and_the_log_still_verifies() {
    let mut env = Env::new(POLICY);
    let old = Utc::now() - chrono::Duration::days(40);
    let recent = Utc::now() - chrono::Duration::days(2);
    write_before_start(
        &env,
        vec![
            call(record("act_old_allowed", "crm.lookup", old), Effect::Allow),
            call(record("act_old_denied", "db.drop", old), Effect::Deny),
            call(
                record("act_old_reviewed", "stripe.refund", old),
                Effect::Review,
            ),
            call(record("act_old_flagged", "email.send", old), Effect::Flag),
            call(record("act_recent", "crm.lookup", recent), Effect::Allow),
        ],
    )
    .await;
    env.boot().await;

    // The sweep at start prunes the old plain calls; everything else is still answered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while env.poll("refund-bot", "act_old_allowed").await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old allowed call's row was never pruned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = env.poll("refund-bot", "act_old_denied").await.unwrap_err();
    assert!(gone.to_string().contains("not_found"), "{gone}");
    for kept in ["act_old_reviewed", "act_old_flagged", "act_recent"] {
        let out = env.poll("refund-bot", kept).await;
        assert!(out.is_ok(), "{kept} is still answered: {:?}", out.err());
    }
    let erin = env.key("erin");
    let pruned = env.client.audit(erin, "kind=actions_pruned").await.unwrap();
    assert_eq!(pruned.len(), 1, "{pruned:?}");
    assert_eq!(pruned[0].body["count"], 2, "{:?}", pruned[0].body);
    let logged = env.client.audit(erin, "kind=action").await.unwrap();
    assert_eq!(logged.len(), 5, "every call's record stays");

    // A pruned call's tool stays known to the anomaly baseline, across a restart.
    env.restart().await;
    let again = env.act("refund-bot", "db.drop", json!({}), "s2").await;
    assert!(
        !again.flagged,
        "db.drop was called before: {}",
        again.reason
    );
    let new = env.act("refund-bot", "vault.read", json!({}), "s2").await;
    assert_eq!(
        (new.verdict, new.flagged),
        (Verdict::Allow, true),
        "{}",
        new.reason
    );
    env.stop().await;

    let out = verify(&env);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("action rows of allowed and denied calls before"),
        "{said}"
    );
}
