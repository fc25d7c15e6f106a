//! A call retried while its escalation is pending (same agent, tool, args, session,
//! on_behalf_of and policy: the same digest) attaches to that escalation: the same action and
//! escalation ids, one decision for both, one `retried` audit record per retry. Race-free, and
//! across restarts; a resolved escalation is never attached to.

use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::{ActionOutcome, EscalationState, Resolution, Verdict, Vote};
use gavel::server::audit::{verify, Expect};
use serde_json::json;

use crate::common::{Env, POLICY};

/// refund-bot's refund held for review (refund-large), in session `s`.
async fn refund(env: &Env, amount: f64) -> ActionOutcome {
    env.act(
        "refund-bot",
        "stripe.refund",
        json!({ "amount": amount }),
        "s",
    )
    .await
}

/// The audit records of `kind` about action `action`, read by the auditor.
async fn records(env: &Env, kind: &str, action: &str) -> Vec<serde_json::Value> {
    env.client
        .audit(env.key("grace"), &format!("kind={kind}"))
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.body["action"] == action)
        .map(|r| r.body)
        .collect()
}

async fn pending_count(env: &Env) -> usize {
    env.client
        .escalations(env.key("alice"))
        .await
        .expect("escalations")
        .len()
}

/// The chain and the state tables agree with what happened.
async fn verified(mut env: Env) {
    env.stop().await;
    verify(&env.records().path(), &Expect::default()).expect("audit verifies");
}

#[tokio::test]
async fn a_retry_attaches_and_one_approval_answers_both_waiters() {
    let env = Env::start(POLICY).await;
    let first = refund(&env, 4000.0).await;
    let retry = refund(&env, 4000.0).await;
    assert_eq!(first.verdict, Verdict::Pending);
    assert_eq!(
        (&retry.id, &retry.escalation, retry.verdict),
        (&first.id, &first.escalation, Verdict::Pending)
    );
    assert_eq!(pending_count(&env).await, 1);
    assert_eq!(records(&env, "action", &first.id).await.len(), 1);
    let traces = records(&env, "retried", &first.id).await;
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_eq!(traces[0]["match"], "pending_escalation");
    assert_eq!(traces[0]["escalation"], json!(first.escalation));

    // Both callers wait; one approval answers both.
    let token = env.token("refund-bot").to_string();
    let waiters = [first.id.clone(), retry.id.clone()].map(|id| {
        let (client, token) = (env.client.clone(), token.clone());
        tokio::spawn(async move { client.outcome(&token, &id, Duration::from_secs(30)).await })
    });
    let esc = env.escalation(first.escalation.as_deref().unwrap()).await;
    let approval = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "ok");
    env.client.decide(&approval).await.expect("approved");
    for w in waiters {
        let out = w.await.unwrap().expect("outcome");
        assert_eq!(
            (out.verdict, out.resolution),
            (Verdict::Allow, Some(Resolution::Approved))
        );
    }
    verified(env).await;
}

#[tokio::test]
async fn identical_submissions_at_once_make_one_escalation() {
    let env = Env::start(POLICY).await;
    let token = env.token("refund-bot").to_string();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (client, token) = (env.client.clone(), token.clone());
            tokio::spawn(async move {
                let req = crate::common::request("stripe.refund", json!({"amount": 5000.0}), "s");
                client.submit(&token, &req).await
            })
        })
        .collect();
    let mut outs = Vec::new();
    for c in calls {
        outs.push(c.await.unwrap().expect("submitted"));
    }
    assert!(
        outs.iter().all(|o| o.id == outs[0].id
            && o.escalation == outs[0].escalation
            && o.verdict == Verdict::Pending),
        "{outs:?}"
    );
    assert_eq!(pending_count(&env).await, 1);
    assert_eq!(records(&env, "action", &outs[0].id).await.len(), 1);
    assert_eq!(records(&env, "retried", &outs[0].id).await.len(), 7);
    verified(env).await;
}

#[tokio::test]
async fn a_retry_after_a_restart_attaches_to_the_restored_escalation() {
    let mut env = Env::start(POLICY).await;
    let first = refund(&env, 4000.0).await;
    env.restart().await;
    let retry = refund(&env, 4000.0).await;
    assert_eq!(
        (&retry.id, &retry.escalation),
        (&first.id, &first.escalation)
    );
    assert_eq!(pending_count(&env).await, 1);
    // Withdrawing through the retry's answer cancels the one escalation.
    let gone = env
        .client
        .withdraw(env.token("refund-bot"), &retry.id)
        .await
        .expect("withdrawn");
    assert_eq!(gone.resolution, Some(Resolution::Cancelled));
    assert_eq!(pending_count(&env).await, 0);
    verified(env).await;
}

#[tokio::test]
async fn a_retry_after_a_decision_is_a_new_action() {
    let env = Env::start(POLICY).await;
    let first = refund(&env, 4000.0).await;
    let esc = env.escalation(first.escalation.as_deref().unwrap()).await;
    let deny = Client::sign_decision(env.key("carol"), &esc, Vote::Deny, "no");
    env.client.decide(&deny).await.expect("denied");
    let again = refund(&env, 4000.0).await;
    assert_eq!(again.verdict, Verdict::Pending);
    assert_ne!(again.id, first.id);
    assert_ne!(again.escalation, first.escalation);
    assert_eq!(
        env.escalation(&esc.id).await.state,
        EscalationState::Denied,
        "the first stays denied"
    );
    assert_eq!(pending_count(&env).await, 1);
    verified(env).await;
}

#[tokio::test]
async fn only_the_same_call_attaches() {
    let env = Env::start(POLICY).await;
    let first = refund(&env, 4000.0).await;
    // Other args, another session, another agent's same call: each its own escalation.
    let other_args = refund(&env, 4001.0).await;
    let other_session = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 4000.0}),
            "s2",
        )
        .await;
    let other_agent = env
        .act("deployer", "stripe.refund", json!({"amount": 4000.0}), "s")
        .await;
    let ids: std::collections::BTreeSet<_> = [&first, &other_args, &other_session, &other_agent]
        .iter()
        .map(|o| o.escalation.clone().expect("held"))
        .collect();
    assert_eq!(ids.len(), 4);
    // What is not in the digest (rationale, context, cost, parent) does not make it another call.
    let mut req = crate::common::request("stripe.refund", json!({"amount": 4000.0}), "s");
    req.rationale = Some("asking again".into());
    req.context = json!({"attempt": 2});
    let retry = env.submit("refund-bot", req).await;
    assert_eq!(retry.escalation, first.escalation);
    // Allowed and denied calls never attach: each is its own action.
    let a = env.act("refund-bot", "orders.get", json!({}), "s").await;
    let b = env.act("refund-bot", "orders.get", json!({}), "s").await;
    assert_ne!(a.id, b.id);
    verified(env).await;
}
