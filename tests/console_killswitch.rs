//! End to end against a real server: Enter on a kill switch opens its detail (who flipped it,
//! when, why, what it cancelled) and never flips it; flipping stays on its own key with its
//! confirmation. Uses the shared harness in `tests/common`; waits on events, never sleeps.

mod common;
mod console_fixtures;

use std::time::Duration;

use crossterm::event::KeyCode;
use serde_json::json;

use common::{Env, POLICY};
use console_fixtures::screen;
use gavel::console::driver::Driver;
use gavel::console::state::{Connection, State, View};
use gavel::protocol::{KillSwitch, Verdict};

const WAIT: Duration = Duration::from_secs(15);

async fn console(env: &Env) -> Driver {
    let state = State::new(&env.url(), "alice", chrono::Utc::now());
    let key = gavel::protocol::PersonKey::read(&env.key_file("alice")).unwrap();
    let mut d = Driver::start(&env.url(), key, state);
    d.wait_for("a live stream", WAIT, |s| {
        s.connection == Connection::Live && s.me.is_some()
    })
    .await
    .unwrap();
    d
}

fn select_switch(c: &mut Driver, scope: &str) {
    while c.state.view != View::KillSwitches {
        c.press(KeyCode::Tab);
    }
    let row = c
        .state
        .switch_rows()
        .iter()
        .position(|r| r.scope == scope)
        .expect("the scope is listed");
    c.press(KeyCode::Home);
    for _ in 0..row {
        c.press(KeyCode::Down);
    }
    assert_eq!(c.state.selected_scope(), Some(scope));
}

async fn switches(env: &Env) -> Vec<KillSwitch> {
    let mut all = env.client.killswitches(env.key("alice")).await.unwrap();
    all.sort_by(|a, b| a.scope.cmp(&b.scope));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_on_a_kill_switch_opens_its_detail_and_does_not_flip_it() {
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    // Two of mailer's calls wait for a person; the operator stops mailer with Space.
    let mut held = Vec::new();
    for to in ["a@partner.example", "b@partner.example"] {
        let out = env
            .act("mailer", "email.send", json!({"to": to}), "s-m")
            .await;
        assert_eq!(out.verdict, Verdict::Pending, "{out:?}");
        held.push(out.escalation.unwrap());
    }
    c.wait_for("mailer's escalations", WAIT, |s| {
        held.iter().all(|id| s.pending.iter().any(|e| &e.id == id))
    })
    .await
    .unwrap();
    select_switch(&mut c, "agent:mailer");
    c.press(KeyCode::Char(' '));
    assert!(c.state.dialog.is_some(), "Space asks first");
    c.type_text("sending duplicates");
    c.press(KeyCode::Enter);
    c.wait_for("the flip and its cancellations", WAIT, |s| {
        s.in_flight.is_empty()
            && s.killswitches.get("agent:mailer").is_some_and(|k| k.on)
            && held.iter().all(|id| s.history.iter().any(|e| &e.id == id))
    })
    .await
    .unwrap();
    let before = switches(&env).await;

    // Enter on the switch that is on: its detail, not a flip.
    c.press(KeyCode::Enter);
    assert!(c.state.detail_open, "Enter opens the detail");
    assert!(c.state.dialog.is_none(), "Enter does not start a flip");
    assert!(c.state.in_flight.is_empty(), "nothing was sent");
    c.tick();
    let detail = screen(&c.state, 120, 40);
    for want in [
        "agent:mailer",
        "■ STOPPED",
        "Turned on by  alice",
        "Reason        sending duplicates",
        "Cancelled when it was turned on",
        held[0].as_str(),
        held[1].as_str(),
    ] {
        assert!(detail.contains(want), "{want} missing:\n{detail}");
    }

    // Enter on the global switch, which is off: its detail; it stays off.
    c.press(KeyCode::Esc);
    assert!(!c.state.detail_open);
    select_switch(&mut c, "global");
    c.press(KeyCode::Enter);
    assert!(c.state.detail_open && c.state.dialog.is_none());
    assert!(c.state.in_flight.is_empty());
    let detail = screen(&c.state, 120, 40);
    assert!(detail.contains("never turned on"), "{detail}");

    // The server agrees: nothing changed, and agents other than mailer still run.
    assert_eq!(switches(&env).await, before);
    assert!(!before.iter().any(|k| k.scope == "global"), "{before:?}");
    let other = env
        .act("refund-bot", "stripe.get", json!({"id": "o-1"}), "s-r")
        .await;
    assert_eq!(other.verdict, Verdict::Allow, "{other:?}");
}
