//! The console driven headless against the harness's server, as a person would: connect as
//! someone, raise escalations, put the cursor on one.

use std::time::Duration;

use crossterm::event::KeyCode;
use serde_json::json;

use gavel::console::driver::Driver;
use gavel::console::state::{Connection, State};
use gavel::protocol::{ActionOutcome, Verdict};

use super::Env;

pub const WAIT: Duration = Duration::from_secs(15);

/// The shared harness's server, and the console as alice (finance approver, operator, owner of
/// refund-bot).
pub async fn console(env: &Env) -> Driver {
    console_as(env, "alice").await
}

pub async fn console_as(env: &Env, who: &str) -> Driver {
    let state = State::new(&env.url(), who, chrono::Utc::now());
    let key = gavel::protocol::PersonKey::read(&env.key_file(who)).unwrap();
    let mut d = Driver::start(&env.url(), key, state);
    d.wait_for("a live stream", WAIT, |s| {
        s.connection == Connection::Live && s.me.is_some()
    })
    .await
    .unwrap();
    d
}

/// The agent's long poll for the final outcome, as a task.
pub fn wait_final(env: &Env, agent: &str, id: &str) -> tokio::task::JoinHandle<ActionOutcome> {
    let (client, token, id) = (
        env.client.clone(),
        env.token(agent).to_string(),
        id.to_string(),
    );
    tokio::spawn(async move {
        let until = tokio::time::Instant::now() + WAIT;
        client.wait_final(&token, &id, until).await.unwrap()
    })
}

pub async fn refund(env: &Env, amount: f64) -> ActionOutcome {
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": amount, "order": "o-1"}),
            "s-e2e",
        )
        .await;
    assert_eq!(out.verdict, Verdict::Pending, "{out:?}");
    out
}

/// Waits until the console lists `escalation` as pending.
pub async fn shows_pending(d: &mut Driver, escalation: &str) {
    d.wait_for("the escalation", WAIT, |s| {
        s.pending.iter().any(|e| e.id == escalation)
    })
    .await
    .unwrap();
}

/// Put the cursor on an escalation the way a person would: Home, then down.
pub fn select(d: &mut Driver, escalation: &str) {
    let rows = d.state.queue_rows();
    let pos = rows
        .iter()
        .position(|&i| d.state.pending[i].id == escalation)
        .expect("the escalation is in the queue");
    d.press(KeyCode::Home);
    for _ in 0..pos {
        d.press(KeyCode::Down);
    }
    assert_eq!(d.state.selected_escalation().unwrap().id, escalation);
}

pub async fn outcome(h: tokio::task::JoinHandle<ActionOutcome>) -> ActionOutcome {
    tokio::time::timeout(WAIT, h)
        .await
        .expect("the agent got an answer in time")
        .unwrap()
}
