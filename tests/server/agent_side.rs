//! What an escalation says about the agent side: when the agent stops waiting
//! (`wait_budget_secs` → `agent_deadline`), and how each of the session's earlier calls ended.

use gavel::client::Client;
use gavel::protocol::{Effect, Resolution, Vote};
use serde_json::json;

use crate::common::{request, Env, POLICY};

fn refund(amount: f64, session: &str) -> gavel::protocol::ActionRequest {
    request("stripe.refund", json!({ "amount": amount }), session)
}

async fn action_count(env: &Env) -> i64 {
    let records = env.records();
    let conn = rusqlite::Connection::open(records.path()).unwrap();
    conn.query_row("SELECT COUNT(*) FROM actions", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_wait_budget_becomes_the_escalations_agent_deadline_and_survives_a_restart() {
    let mut env = Env::start(POLICY).await;
    let token = env.token("refund-bot").to_string();
    let out = env
        .client
        .submit_waiting(&token, &refund(1500.0, "s"), None, Some(42.5))
        .await
        .expect("submit");
    let id = out.escalation.expect("escalated");
    let esc = env.escalation(&id).await;
    assert_eq!(
        esc.agent_deadline,
        Some(esc.created_at + chrono::Duration::milliseconds(42_500)),
        "measured by the server's clock from when the call arrived"
    );
    // Not part of the call: the same call without a budget attaches to the same escalation.
    let again = env.submit("refund-bot", refund(1500.0, "s")).await;
    assert_eq!(again.escalation.as_deref(), Some(id.as_str()));
    // A call that says nothing has no agent deadline.
    let silent = env.submit("refund-bot", refund(1600.0, "t")).await;
    let silent = env.escalation(silent.escalation.as_deref().unwrap()).await;
    assert_eq!(silent.agent_deadline, None);
    env.restart().await;
    assert_eq!(env.escalation(&id).await.agent_deadline, esc.agent_deadline);
}

#[tokio::test]
async fn hostile_wait_budgets_are_refused_and_nothing_is_recorded() {
    let env = Env::start(POLICY).await;
    let token = env.token("refund-bot").to_string();
    let http = reqwest::Client::new();
    let url = format!("{}/v1/actions", env.url());
    let before = action_count(&env).await;
    for budget in [
        "0",
        "-5",
        "0.0",
        "604800.001",
        "1e400",
        "\"60\"",
        "true",
        "[1]",
    ] {
        let body = format!(
            r#"{{"tool":"stripe.refund","session":"s","args":{{"amount":1500.0}},"wait_budget_secs":{budget}}}"#
        );
        let resp = http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{budget}");
        let err: serde_json::Value = resp.json().await.unwrap();
        let code = err["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            code == "invalid_request" || code == "invalid_json",
            "{budget}: {err}"
        );
    }
    assert_eq!(action_count(&env).await, before, "nothing was recorded");
    // The largest allowed budget, and `critical` may name the field: this server knows it.
    let body = json!({"tool": "stripe.refund", "session": "s", "args": {"amount": 1500.0},
                      "wait_budget_secs": 604800, "critical": ["wait_budget_secs"]});
    let resp = http
        .post(&url)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn an_earlier_escalated_call_shows_how_it_ended() {
    let env = Env::start(POLICY).await;
    let first = env.submit("refund-bot", refund(1500.0, "h")).await;
    let first = env.escalation(first.escalation.as_deref().unwrap()).await;
    let denied = Client::sign_decision(env.key("carol"), &first, Vote::Deny, "duplicate ticket");
    env.client.decide(&denied).await.expect("deny");
    // Another call of the session, held while the next one is raised: still pending then.
    let second = env.submit("refund-bot", refund(1700.0, "h")).await;
    let third = env.submit("refund-bot", refund(1800.0, "h")).await;
    let third = env.escalation(third.escalation.as_deref().unwrap()).await;
    let [a, b] = &third.history[..] else {
        panic!("two earlier calls: {:?}", third.history);
    };
    assert_eq!(a.action, first.action.id);
    assert_eq!(a.verdict, Effect::Review);
    assert_eq!(a.escalation.as_deref(), Some(first.id.as_str()));
    assert_eq!(a.resolution, Some(Resolution::Denied), "its final outcome");
    assert_eq!(b.escalation, second.escalation);
    assert_eq!(b.resolution, None, "still pending when this one was raised");
    // An allowed call has no escalation and no resolution.
    env.act("refund-bot", "stripe.get", json!({"id": "o-1"}), "h")
        .await;
    let fourth = env.submit("refund-bot", refund(1900.0, "h")).await;
    let fourth = env.escalation(fourth.escalation.as_deref().unwrap()).await;
    let read = fourth.history.last().unwrap();
    assert_eq!(
        (read.verdict, &read.escalation, read.resolution),
        (Effect::Allow, &None, None)
    );
}
