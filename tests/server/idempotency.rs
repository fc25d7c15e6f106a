//! `Idempotency-Key` on `POST /v1/actions`: the same agent, key and body get the first call's
//! outcome as it is now, never a second action; the key with another body is refused; keys are
//! per agent, checked for size and charset, and durable across restarts.

use gavel::client::Client;
use gavel::protocol::{Resolution, Verdict, Vote};
use gavel::server::audit::{verify, Expect, VerifyError};
use serde_json::{json, Value};

use crate::common::{request, Env, POLICY};

/// `POST /v1/actions` as `agent` with these `Idempotency-Key` headers: (status, body).
async fn post(env: &Env, agent: &str, keys: &[&str], body: &Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/actions", env.url()))
        .bearer_auth(env.token(agent))
        .json(body);
    for k in keys {
        req = req.header("Idempotency-Key", *k);
    }
    let resp = req.send().await.expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn call(tool: &str, args: Value) -> Value {
    json!({"tool": tool, "args": args, "session": "s", "rationale": "test"})
}

/// How many `action` records the log holds for `tool`.
async fn actions_of(env: &Env, tool: &str) -> usize {
    env.client
        .audit(env.key("grace"), "kind=action")
        .await
        .expect("audit")
        .iter()
        .filter(|r| r.body["tool"] == tool)
        .count()
}

#[tokio::test]
async fn a_repeated_key_replays_allow_deny_and_review() {
    let env = Env::start(POLICY).await;
    for (key, tool, args, verdict) in [
        ("\"k-allow\"", "orders.get", json!({}), "allow"),
        ("\"k-deny\"", "shell.exec", json!({"cmd": "ls"}), "deny"),
        (
            "\"k-review\"",
            "stripe.refund",
            json!({"amount": 4000.0}),
            "pending",
        ),
    ] {
        let body = call(tool, args);
        let (s1, first) = post(&env, "refund-bot", &[key], &body).await;
        let (s2, again) = post(&env, "refund-bot", &[key], &body).await;
        assert_eq!((s1, s2), (200, 200), "{first} {again}");
        assert_eq!(first["verdict"], verdict);
        assert_eq!(again["id"], first["id"], "{tool}");
        assert_eq!(again["verdict"], first["verdict"], "{tool}");
        assert_eq!(again["escalation"], first["escalation"], "{tool}");
        assert_eq!(actions_of(&env, tool).await, 1, "{tool}: one action");
    }
    let recorded = env
        .client
        .audit(env.key("grace"), "kind=action")
        .await
        .unwrap();
    assert_eq!(
        recorded[0].body["idempotency_key"], "k-allow",
        "the key is audited"
    );
    let keyed = env
        .client
        .audit(env.key("grace"), "kind=retried")
        .await
        .unwrap();
    assert_eq!(keyed.len(), 3, "each replay leaves a trace");
    assert!(keyed.iter().all(|r| r.body["match"] == "idempotency_key"));

    // A replay answers with the outcome as it is now: approved after the approval.
    let body = call("stripe.refund", json!({"amount": 4000.0}));
    let (_, held) = post(&env, "refund-bot", &["\"k-review\""], &body).await;
    let esc = env.escalation(held["escalation"].as_str().unwrap()).await;
    let ok = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "fine");
    env.client.decide(&ok).await.expect("approved");
    let (_, later) = post(&env, "refund-bot", &["\"k-review\""], &body).await;
    assert_eq!(
        (
            later["id"].clone(),
            later["verdict"].clone(),
            later["resolution"].clone()
        ),
        (held["id"].clone(), json!("allow"), json!("approved"))
    );
    // The same call without the key, now that it is resolved, is a new action.
    let fresh = env
        .submit(
            "refund-bot",
            request("stripe.refund", json!({"amount": 4000.0}), "s"),
        )
        .await;
    assert_ne!(json!(fresh.id), held["id"]);
}

#[tokio::test]
async fn a_key_reused_for_another_body_is_refused() {
    let env = Env::start(POLICY).await;
    let (s, first) = post(
        &env,
        "refund-bot",
        &["k1"],
        &call("orders.get", json!({"id": 1})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, refused) = post(
        &env,
        "refund-bot",
        &["k1"],
        &call("orders.get", json!({"id": 2})),
    )
    .await;
    assert_eq!(s, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains(first["id"].as_str().unwrap()), "{message}");
    // Whitespace, key order and unknown fields are not a different body.
    let same = json!({"rationale": "test", "session": "s", "args": {"id": 1}, "tool": "orders.get", "x-new": 1});
    let (s, replay) = post(&env, "refund-bot", &["k1"], &same).await;
    assert_eq!((s, &replay["id"]), (200, &first["id"]));
    assert_eq!(actions_of(&env, "orders.get").await, 1);
}

#[tokio::test]
async fn keys_are_per_agent() {
    let env = Env::start(POLICY).await;
    let body = call("orders.get", json!({}));
    let (_, a) = post(&env, "refund-bot", &["shared"], &body).await;
    let (s, b) = post(
        &env,
        "deployer",
        &["shared"],
        &call("orders.list", json!({})),
    )
    .await;
    assert_eq!(s, 200, "another agent's key is not this one's: {b}");
    let (_, c) = post(
        &env,
        "deployer",
        &["shared"],
        &call("orders.list", json!({})),
    )
    .await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["id"], c["id"]);
    // refund-bot cannot reach deployer's action through the key either.
    let (_, again) = post(&env, "refund-bot", &["shared"], &body).await;
    assert_eq!(again["id"], a["id"]);
}

#[tokio::test]
async fn a_key_survives_a_restart() {
    let mut env = Env::start(POLICY).await;
    let body = call("stripe.refund", json!({"amount": 200.0}));
    let (_, first) = post(&env, "refund-bot", &["k-restart"], &body).await;
    assert_eq!(first["verdict"], "allow");
    assert_eq!(first["flagged"], true);
    env.restart().await;
    let (s, again) = post(&env, "refund-bot", &["k-restart"], &body).await;
    assert_eq!((s, &again["id"]), (200, &first["id"]));
    assert_eq!(actions_of(&env, "stripe.refund").await, 1);
    env.stop().await;
    verify(&env.records().path(), &Expect::default()).expect("audit verifies");
}

#[tokio::test]
async fn simultaneous_calls_with_one_key_make_one_action() {
    let env = Env::start(POLICY).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (url, token) = (env.url(), env.token("refund-bot").to_string());
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{url}/v1/actions"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", "\"race\"")
                    .json(&call("orders.get", json!({})))
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap()["id"].clone());
    }
    assert!(ids.iter().all(|i| i == &ids[0] && i.is_string()), "{ids:?}");
    assert_eq!(actions_of(&env, "orders.get").await, 1);
}

#[tokio::test]
async fn hostile_keys_are_refused_and_record_nothing() {
    let env = Env::start(POLICY).await;
    let body = call("orders.get", json!({}));
    let long = "k".repeat(129);
    for keys in [
        vec![long.as_str()],
        vec!["\"\""],
        vec!["a b"],
        vec!["a\\b"],
        vec!["\"half"],
        vec!["one", "two"],
    ] {
        let (s, refused) = post(&env, "refund-bot", &keys, &body).await;
        assert_eq!(s, 400, "{keys:?}: {refused}");
        assert_eq!(
            refused["error"]["code"], "invalid_idempotency_key",
            "{keys:?}"
        );
    }
    assert_eq!(actions_of(&env, "orders.get").await, 0);
    // The longest key, quoted or bare, is one key.
    let longest = "k".repeat(128);
    let quoted = format!("\"{longest}\"");
    let (_, a) = post(&env, "refund-bot", &[&longest], &body).await;
    let (_, b) = post(&env, "refund-bot", &[&quoted], &body).await;
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["verdict"], json!(Verdict::Allow));
}

#[tokio::test]
async fn the_client_sends_a_key_and_a_pending_retry_with_a_new_key_attaches() {
    let env = Env::start(POLICY).await;
    let token = env.token("refund-bot");
    let req = request("stripe.refund", json!({"amount": 3000.0}), "s");
    let first = env
        .client
        .submit_with_key(token, &req, Some("c-1"))
        .await
        .unwrap();
    let replay = env
        .client
        .submit_with_key(token, &req, Some("c-1"))
        .await
        .unwrap();
    // A second logical call with its own key, same call while pending: attached, and its key
    // now names the pending action too.
    let attached = env
        .client
        .submit_with_key(token, &req, Some("c-2"))
        .await
        .unwrap();
    let by_new_key = env
        .client
        .submit_with_key(token, &req, Some("c-2"))
        .await
        .unwrap();
    for o in [&replay, &attached, &by_new_key] {
        assert_eq!((&o.id, &o.escalation), (&first.id, &first.escalation));
    }
    let withdrawn = env.client.withdraw(token, &first.id).await.unwrap();
    assert_eq!(withdrawn.resolution, Some(Resolution::Cancelled));
    let after = env
        .client
        .submit_with_key(token, &req, Some("c-2"))
        .await
        .unwrap();
    assert_eq!(
        (&after.id, after.resolution),
        (&first.id, Some(Resolution::Cancelled)),
        "a key answers with its action's outcome now, even a final one"
    );
}

#[tokio::test]
async fn verify_catches_a_key_row_edited_to_name_another_action() {
    let mut env = Env::start(POLICY).await;
    let (_, a) = post(
        &env,
        "refund-bot",
        &["k-a"],
        &call("orders.get", json!({"n": 1})),
    )
    .await;
    let (_, b) = post(
        &env,
        "refund-bot",
        &["k-b"],
        &call("orders.get", json!({"n": 2})),
    )
    .await;
    env.stop().await;
    // The records as written (on PostgreSQL, a copy of them), edited then verified again.
    let records = env.records();
    let db = records.path();
    verify(&db, &Expect::default()).expect("verifies as written");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let edited = conn
        .execute(
            "UPDATE idempotency_keys SET action = ?1 WHERE key = 'k-a'",
            [b["id"].as_str().unwrap()],
        )
        .unwrap();
    assert_eq!(edited, 1);
    drop(conn);
    match verify(&db, &Expect::default()) {
        Err(VerifyError::State(problem)) => assert_eq!(
            problem,
            format!(
                "idempotency key \"k-a\" of refund-bot names action {} in the table, which the \
                 log never said",
                b["id"].as_str().unwrap()
            )
        ),
        other => panic!(
            "expected a state problem, got {other:?} (a was {})",
            a["id"]
        ),
    }
}
