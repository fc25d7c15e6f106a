//! Reads need a role: escalations, kill switches and flagged actions any role; the audit log
//! the auditor or lead role.

use gavel::client::ClientError;
use serde_json::json;

use crate::common::{Env, POLICY};

/// The result of every people read, as (endpoint, Ok or the error code).
async fn reads(env: &Env, who: &str, esc: &str) -> Vec<(&'static str, Result<(), String>)> {
    let key = env.key(who);
    let c = &env.client;
    let code = |r: Result<(), ClientError>| r.map_err(|e| e.code().to_string());
    vec![
        ("escalations", code(c.escalations(key).await.map(|_| ()))),
        ("escalation", code(c.escalation(key, esc).await.map(|_| ()))),
        ("killswitches", code(c.killswitches(key).await.map(|_| ()))),
        ("flagged", code(c.flagged(key).await.map(|_| ()))),
        ("audit", code(c.audit(key, "limit=5").await.map(|_| ()))),
    ]
}

#[tokio::test]
async fn every_read_needs_a_role_and_the_audit_log_an_auditor_or_lead() {
    let env = Env::start(POLICY).await;
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2000.0}),
            "s",
        )
        .await;
    env.act("refund-bot", "stripe.refund", json!({"amount": 300.0}), "s")
        .await;
    let esc = out.escalation.unwrap();

    let no_role = Err("role_required".to_string());
    let not_auditor = Err("not_auditor".to_string());
    let expected = |audit: Result<(), String>| {
        vec![
            ("escalations", Ok(())),
            ("escalation", Ok(())),
            ("killswitches", Ok(())),
            ("flagged", Ok(())),
            ("audit", audit),
        ]
    };
    // henry has no role: nothing.
    assert_eq!(
        reads(&env, "henry", &esc).await,
        vec![
            ("escalations", no_role.clone()),
            ("escalation", no_role.clone()),
            ("killswitches", no_role.clone()),
            ("flagged", no_role.clone()),
            ("audit", not_auditor.clone()),
        ]
    );
    // An approver (carol), an operator (dave): everything but the audit log.
    assert_eq!(
        reads(&env, "carol", &esc).await,
        expected(not_auditor.clone())
    );
    assert_eq!(
        reads(&env, "dave", &esc).await,
        expected(not_auditor.clone())
    );
    // An auditor (grace) and a lead (erin): everything.
    assert_eq!(reads(&env, "grace", &esc).await, expected(Ok(())));
    assert_eq!(reads(&env, "erin", &esc).await, expected(Ok(())));

    // The refusals are 403 and carry nothing of what was asked for.
    let err = env
        .client
        .escalation(env.key("henry"), &esc)
        .await
        .unwrap_err();
    match &err {
        ClientError::Api {
            status, message, ..
        } => {
            assert_eq!(*status, 403);
            assert!(!message.contains("stripe"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
