use reqwest::Method;
use serde_json::json;

use crate::common::{Env, POLICY};

async fn audit_count(env: &Env) -> usize {
    env.client
        .audit(env.key("erin"), "limit=10000")
        .await
        .unwrap()
        .len()
}

async fn action_count(env: &Env) -> i64 {
    let records = env.records();
    let conn = rusqlite::Connection::open(records.path()).unwrap();
    conn.query_row("SELECT COUNT(*) FROM actions", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn bad_input_gets_a_coded_error_and_only_a_refusal_record() {
    let env = Env::start(POLICY).await;
    let token = env.token("refund-bot").to_string();
    let http = reqwest::Client::new();
    let url = format!("{}/v1/actions", env.url());
    let big = format!(
        r#"{{"tool":"x.get","session":"s","args":{{"blob":"{}"}}}}"#,
        "a".repeat(300 * 1024)
    );
    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        (
            "malformed JSON",
            Some(&token),
            "{\"tool\": ".into(),
            400,
            "invalid_json",
        ),
        (
            "not JSON",
            Some(&token),
            "tool=x".into(),
            400,
            "invalid_json",
        ),
        (
            "wrong type",
            Some(&token),
            r#"{"tool": 5, "session": "s"}"#.into(),
            400,
            "invalid_request",
        ),
        (
            "missing tool",
            Some(&token),
            r#"{"session": "s"}"#.into(),
            400,
            "invalid_request",
        ),
        (
            "missing session",
            Some(&token),
            r#"{"tool": "x.get"}"#.into(),
            400,
            "invalid_request",
        ),
        (
            "duplicate field",
            Some(&token),
            r#"{"tool": "x.get", "session": "s", "session": "t"}"#.into(),
            400,
            "invalid_request",
        ),
        (
            "empty tool",
            Some(&token),
            r#"{"tool": " ", "session": "s"}"#.into(),
            400,
            "invalid_request",
        ),
        (
            "long tool",
            Some(&token),
            format!(r#"{{"tool": "{}", "session": "s"}}"#, "t".repeat(300)),
            400,
            "invalid_request",
        ),
        (
            "negative cost",
            Some(&token),
            r#"{"tool": "x.get", "session": "s", "cost": -1}"#.into(),
            400,
            "invalid_request",
        ),
        ("oversized", Some(&token), big, 413, "body_too_large"),
        (
            "unknown agent",
            Some("not-a-token"),
            r#"{"tool": "x.get", "session": "s"}"#.into(),
            401,
            "unknown_agent",
        ),
        (
            "no token",
            None,
            r#"{"tool": "x.get", "session": "s"}"#.into(),
            401,
            "unauthorized",
        ),
    ];
    let audit_before = audit_count(&env).await;
    let mut recorded = 0;
    for (name, tok, body, status, code) in cases.iter() {
        let mut req = http
            .post(&url)
            .body(body.clone())
            .header("content-type", "application/json");
        if let Some(t) = tok {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), *status, "{name}");
        let v: serde_json::Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("{name}: JSON error body: {e}"));
        assert_eq!(v["error"]["code"], *code, "{name}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}"
        );
        // Nothing written but the refusal's audit record (+ the audit read's own nothing); an
        // unauthenticated refusal is only counted, to be written with its window's counts.
        if *tok == Some(token.as_str()) {
            recorded += 1;
        }
        assert_eq!(action_count(&env).await, 0, "{name}");
        assert_eq!(audit_count(&env).await, audit_before + recorded, "{name}");
    }
    let refusals = env
        .client
        .audit(env.key("erin"), "kind=refused")
        .await
        .unwrap();
    assert_eq!(refusals.len(), cases.len() - 2);
    assert_eq!(refusals.last().unwrap().body["code"], "body_too_large");
    assert!(refusals.iter().all(|r| r.actor == "refund-bot"));
    // The server still works.
    assert_eq!(
        env.act("refund-bot", "x.get", json!({}), "s").await.verdict,
        gavel::protocol::Verdict::Allow
    );
}

#[tokio::test]
async fn unknown_endpoints_and_ids_get_json_errors() {
    let env = Env::start(POLICY).await;
    let (status, body) = env
        .client
        .raw::<()>(Method::GET, "/v2/nothing", None, None)
        .await
        .unwrap();
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let err = env.poll("mailer", "act_missing").await.unwrap_err();
    assert_eq!(err.code(), "not_found");
    let (status, body) = env
        .client
        .raw::<()>(Method::GET, "/healthz", None, None)
        .await
        .unwrap();
    assert_eq!(
        (status.as_u16(), body["status"].as_str()),
        (200, Some("ok"))
    );
}
