//! The console's grant flow end to end: a real server on a loopback port, real WebSocket and
//! HTTP, the console driven headless with the keys a person presses. Approve with "also allow
//! calls like this", see the next such call allowed by the grant, revoke it from the Grants view.

mod common;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use common::Env;
use gavel::console::driver::Driver;
use gavel::console::event::Event;
use gavel::console::state::{Connection, Level, State, View};
use gavel::protocol::Verdict;

const WAIT: Duration = Duration::from_secs(15);

const POLICY: &str = r#"
[[rule]]
id = "refund-large"
tools = ["stripe.refund"]
when = "args.amount > 1000.0"
effect = "review"
reason = "Refunds above $1,000 need a finance approver"
approvers = "finance"
timeout = "10m"
grantable = true
"#;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_with_a_grant_then_the_next_such_call_needs_nobody_until_revoked() {
    let env = Env::start(POLICY).await;
    let mut c = console_as(&env, "carol").await;
    let args = json!({"amount": 1500.0, "currency": "usd"});
    let first = env
        .act("refund-bot", "stripe.refund", args.clone(), "s1")
        .await;
    assert_eq!(first.verdict, Verdict::Pending);
    let esc = first.escalation.clone().unwrap();
    c.wait_for("the escalation", WAIT, |s| {
        s.pending.iter().any(|e| e.id == esc && e.rule.grantable)
    })
    .await
    .unwrap();
    c.press(KeyCode::Home);
    c.press(KeyCode::Char('a'));
    c.type_text("verified the ticket");
    c.apply(Event::Key(KeyEvent::new(
        KeyCode::Char('g'),
        KeyModifiers::CONTROL,
    )));
    c.press(KeyCode::Enter);
    c.wait_for("both answers", WAIT, |s| s.in_flight.is_empty())
        .await
        .unwrap();
    let msg = c.state.message.clone().unwrap();
    assert_eq!(msg.level, Level::Success, "{}", msg.text);
    assert!(msg.text.contains("grt_"), "{}", msg.text);
    let first_final = env.poll("refund-bot", &first.id).await.unwrap();
    assert_eq!(first_final.verdict, Verdict::Allow);

    let granted = c.state.grants.values().next().cloned().expect("the grant");
    assert_eq!(granted.by, "carol");
    assert_eq!(
        granted.when.as_deref(),
        Some("args.amount == 1500.0 && args.currency == 'usd'")
    );
    let secs = (granted.expires_at - granted.created_at).num_seconds();
    assert_eq!(secs, 3600);

    // The same call again: allowed by the grant, nobody asked; the console hears the use.
    let second = env
        .act("refund-bot", "stripe.refund", args.clone(), "s2")
        .await;
    assert_eq!(
        (second.verdict, second.grant.as_deref()),
        (Verdict::Allow, Some(granted.id.as_str()))
    );
    let id = granted.id.clone();
    c.wait_for("the use counted", WAIT, |s| {
        s.grants.get(&id).is_some_and(|g| g.uses == 1)
            && s.activity
                .iter()
                .any(|a| a.grant.as_deref() == Some(id.as_str()))
    })
    .await
    .unwrap();
    assert!(c.state.pending.is_empty());

    // Revoke it from the Grants view.
    while c.state.view != View::Grants {
        c.press(KeyCode::Tab);
    }
    assert_eq!(c.state.selected_grant().unwrap().id, id);
    c.press(KeyCode::Char('r'));
    c.type_text("ticket closed");
    c.press(KeyCode::Enter);
    c.wait_for("the revocation", WAIT, |s| {
        s.in_flight.is_empty() && s.grant_rows().is_empty()
    })
    .await
    .unwrap();
    let third = env.act("refund-bot", "stripe.refund", args, "s3").await;
    assert_eq!(third.verdict, Verdict::Pending);
}
