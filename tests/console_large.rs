//! End to end: agents sending the largest arguments the server accepts cannot lock a console
//! out. A real server on a loopback port, real HTTP and WebSocket, the console's state driven
//! headless; every wait is on an event with a bounded timeout.

mod common;

use std::time::Duration;

use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::json;

use common::{Env, POLICY};
use gavel::client::Client;
use gavel::console::driver::Driver;
use gavel::console::state::{Connection, Level, State};
use gavel::protocol::{Verdict, Vote};

const WAIT: Duration = Duration::from_secs(60);
const BLOB: usize = 250_000;

async fn console_as(env: &Env, who: &str) -> Driver {
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

/// A refund escalation with `BLOB` bytes of arguments, in one session so that the earlier calls
/// shown beside each escalation are as large.
async fn huge_refund(env: &Env, amount: f64) -> (String, String) {
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": amount, "blob": "x".repeat(BLOB)}),
            "s-huge",
        )
        .await;
    assert_eq!(out.verdict, Verdict::Pending, "{out:?}");
    (out.id, out.escalation.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_huge_escalations_leave_every_console_live_and_decidable() {
    let env = Env::start(POLICY).await;
    let mut before = console_as(&env, "alice").await;
    // A resolved history of such escalations…
    for i in 0..20 {
        let (_, esc) = huge_refund(&env, 1100.0 + i as f64).await;
        let e = env.escalation(&esc).await;
        env.client
            .decide(&Client::sign_decision(
                env.key("carol"),
                &e,
                Vote::Deny,
                "duplicate",
            ))
            .await
            .unwrap();
    }
    // …and twenty pending.
    let mut pending = Vec::new();
    for i in 0..20 {
        pending.push(huge_refund(&env, 2000.0 + i as f64).await);
    }

    // A console that was open all along has them all, and is live.
    before
        .wait_for("the twenty escalations", WAIT, |s| {
            s.pending.len() == 20 && s.history.len() >= 20
        })
        .await
        .unwrap();
    assert_eq!(before.state.connection, Connection::Live);

    // A console opening now gets a snapshot it accepts.
    let mut c = console_as(&env, "alice").await;
    assert_eq!(c.state.pending.len(), 20);
    assert_eq!(c.state.history.len(), 20);
    assert!(c.state.history.iter().all(|e| e.args_elided().is_some()));
    // Left out and marked (the selected one may already be fetched whole).
    let marked = c
        .state
        .pending
        .iter()
        .filter(|e| e.args_elided().is_some_and(|x| x.bytes > BLOB as u64))
        .count();
    assert!(marked >= 19, "{marked}");
    // All twenty on screen, each with the marker.
    let mut term = Terminal::new(TestBackend::new(160, 60)).unwrap();
    term.draw(|f| gavel::console::views::render(f, &c.state))
        .unwrap();
    let screen: String = term
        .backend()
        .buffer()
        .content
        .iter()
        .map(|cell| cell.symbol())
        .collect();
    assert!(
        screen.matches("⋯244K").count() >= 19,
        "the marker on every row:\n{screen}"
    );

    // The selected one is fetched whole, on demand, with the signed read.
    c.wait_for("the whole of the selected escalation", WAIT, |s| {
        s.selected_escalation().is_some_and(|e| e.elided.is_empty())
    })
    .await
    .unwrap();
    let shown = c.state.selected_escalation().unwrap().clone();
    assert_eq!(shown.action.args["blob"].as_str().unwrap().len(), BLOB);
    assert!(shown.history.iter().all(|p| p.args["blob"].is_string()));

    // And decided: the approval signs the whole action the console now shows.
    let (action, esc) = pending
        .iter()
        .find(|(_, esc)| *esc == shown.id)
        .cloned()
        .unwrap();
    c.press(KeyCode::Char('a'));
    c.type_text("checked the whole payload");
    c.press(KeyCode::Enter);
    c.wait_for("the acknowledgement", WAIT, |s| s.sending() == 0)
        .await
        .unwrap();
    let msg = c.state.message.clone().unwrap();
    assert_eq!(msg.level, Level::Success, "{}", msg.text);
    assert!(msg.text.contains(&esc), "{}", msg.text);
    let outcome = env.poll("refund-bot", &action).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Allow, "{outcome:?}");

    // Both consoles are still live and the approval reached them.
    for d in [&mut before, &mut c] {
        d.wait_for("the approval", WAIT, |s| {
            s.connection == Connection::Live && s.pending.len() == 19
        })
        .await
        .unwrap();
    }
}
