//! A newer client's body: fields this server does not know are ignored (not stored, not in the
//! digest), unless the body lists one in `critical`, which refuses the call. Duplicate keys,
//! wrong types and oversized values are still refused.

use serde_json::Value;

use crate::common::{Env, POLICY};

async fn post(env: &Env, body: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/actions", env.url()))
        .bearer_auth(env.token("refund-bot"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn action_records(env: &Env) -> Vec<Value> {
    env.client
        .audit(env.key("grace"), "kind=action")
        .await
        .expect("audit")
        .into_iter()
        .map(|r| r.body)
        .collect()
}

#[tokio::test]
async fn unknown_fields_are_ignored_and_kept_out_of_the_digest_and_the_store() {
    let env = Env::start(POLICY).await;
    let (s, newer) = post(
        &env,
        r#"{"tool": "stripe.refund", "args": {"amount": 4000.0}, "session": "s",
            "agent": "root", "x_trace": {"deep": [1, 2, {"z": null}]}, "priority": "high"}"#,
    )
    .await;
    assert_eq!(
        (s, newer["verdict"].as_str()),
        (200, Some("pending")),
        "{newer}"
    );
    let esc = env.escalation(newer["escalation"].as_str().unwrap()).await;
    assert_eq!(esc.action.agent, "refund-bot", "identity is the token's");
    let stored = serde_json::to_string(&esc).unwrap();
    assert!(
        !stored.contains("x_trace") && !stored.contains("priority"),
        "{stored}"
    );
    let audited = action_records(&env).await;
    assert!(
        !audited[0].to_string().contains("x_trace"),
        "{}",
        audited[0]
    );
    // The same call from an older client has the same digest: it attaches.
    let (_, older) = post(
        &env,
        r#"{"tool": "stripe.refund", "args": {"amount": 4000.0}, "session": "s"}"#,
    )
    .await;
    assert_eq!(older["escalation"], newer["escalation"]);
    assert_eq!(older["id"], newer["id"]);
}

#[tokio::test]
async fn an_unknown_critical_field_refuses_the_call() {
    let env = Env::start(POLICY).await;
    let (s, refused) = post(
        &env,
        r#"{"tool": "orders.get", "session": "s", "max_spend": 5, "critical": ["args", "max_spend"]}"#,
    )
    .await;
    assert_eq!(s, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "unsupported_critical_field");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_spend"),
        "{refused}"
    );
    assert!(action_records(&env).await.is_empty(), "nothing recorded");
    // The refusal itself is on record, naming the agent.
    let refusals = env
        .client
        .audit(env.key("grace"), "kind=refused")
        .await
        .unwrap();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].actor, "refund-bot");

    // Fields it knows may be critical.
    let (s, ok) = post(
        &env,
        r#"{"tool": "orders.get", "session": "s", "cost": 0.5, "critical": ["cost", "on_behalf_of"]}"#,
    )
    .await;
    assert_eq!((s, ok["verdict"].as_str()), (200, Some("allow")), "{ok}");
}

#[tokio::test]
async fn strictness_stays_where_it_protects() {
    let env = Env::start(POLICY).await;
    let many = serde_json::to_string(&vec!["tool"; 33]).unwrap();
    let long = serde_json::to_string(&["x".repeat(65)]).unwrap();
    for (what, body) in [
        (
            "duplicate key",
            r#"{"tool": "orders.get", "tool": "shell.exec", "session": "s"}"#.to_string(),
        ),
        (
            "duplicate args",
            r#"{"tool": "orders.get", "args": {}, "args": {"a": 1}, "session": "s"}"#.to_string(),
        ),
        (
            "wrong type",
            r#"{"tool": "orders.get", "session": "s", "cost": "free"}"#.to_string(),
        ),
        (
            "critical not a list",
            r#"{"tool": "orders.get", "session": "s", "critical": "cost"}"#.to_string(),
        ),
        (
            "too many critical",
            format!(r#"{{"tool": "orders.get", "session": "s", "critical": {many}}}"#),
        ),
        (
            "long critical name",
            format!(r#"{{"tool": "orders.get", "session": "s", "critical": {long}}}"#),
        ),
        (
            "oversized tool",
            format!(r#"{{"tool": "{}", "session": "s"}}"#, "t".repeat(300)),
        ),
    ] {
        let (s, refused) = post(&env, &body).await;
        assert_eq!(s, 400, "{what}: {refused}");
        assert_eq!(
            refused["error"]["code"], "invalid_request",
            "{what}: {refused}"
        );
    }
    // An unknown field is still bounded by the body limit.
    let huge = format!(
        r#"{{"tool": "orders.get", "session": "s", "x_blob": "{}"}}"#,
        "a".repeat(300 * 1024)
    );
    let (s, refused) = post(&env, &huge).await;
    assert_eq!(
        (s, refused["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    assert!(action_records(&env).await.is_empty());
}
