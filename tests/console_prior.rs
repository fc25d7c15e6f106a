//! The escalation detail's agent side: when the agent gives up (beside the rule's deadline, and
//! marked in the queue once it has), how each earlier call of the session finally ended, and
//! `p` opening an earlier call's full args. Views as insta snapshots at 80×24 and 160×50; the
//! last test runs against a real server, with a real denial, through the console's own stream.

mod common;
mod console_fixtures;

use std::time::Duration;

use crossterm::event::KeyCode;
use serde_json::json;

use console_fixtures::*;
use gavel::client::Client;
use gavel::console::driver::Driver;
use gavel::console::state::{Connection, State};
use gavel::protocol::*;

/// Alice's console: esc-001 (hers to decide, 45 s left) whose agent gives up in 20 s, and whose
/// session's earlier calls include one a person denied and one resolved after it was raised
/// (the console knows from the stream); esc-004's agent stopped waiting 5 s ago.
fn agent_side_state() -> State {
    let mut s = live_state();
    for e in s.pending.iter_mut() {
        match e.id.as_str() {
            "esc-001" => {
                e.agent_deadline = Some(at(20));
                e.history[1] = PriorCall {
                    action: "act-p2".into(),
                    tool: "stripe.refund".into(),
                    args: json!({"amount": 2400.0, "order": "o-15", "currency": "usd"}),
                    verdict: Effect::Review,
                    at: at(-240),
                    escalation: Some("esc-p2".into()),
                    resolution: Some(Resolution::Denied),
                };
                e.history[2] = PriorCall {
                    action: "act-p3".into(),
                    tool: "email.send".into(),
                    args: json!({"to": "cfo@acme-corp.com", "subject": "Refund issued"}),
                    verdict: Effect::Review,
                    at: at(-180),
                    // Still pending when esc-001 was raised; esc-000 was approved since.
                    escalation: Some("esc-000".into()),
                    resolution: None,
                };
            }
            "esc-004" => e.agent_deadline = Some(at(-5)),
            _ => {}
        }
    }
    s.pending_changed();
    s
}

#[test]
fn the_detail_says_when_the_agent_gives_up_before_the_deadline() {
    let mut s = agent_side_state();
    key(&mut s, KeyCode::Enter);
    let text = screen(&s, 80, 24);
    assert!(
        text.contains("Agent waits   gives up in 20s, before the deadline in 45s"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn the_queue_marks_an_escalation_whose_agent_stopped_waiting() {
    let s = agent_side_state();
    let text = screen(&s, 160, 50);
    let row = text
        .lines()
        .find(|l| l.contains("deploy.release"))
        .unwrap_or_else(|| panic!("esc-004's row:\n{text}"));
    assert!(row.contains("⊘ gave up"), "{row}");
    insta::assert_snapshot!(text);
}

#[test]
fn earlier_calls_show_their_final_outcome_and_p_opens_their_args() {
    let mut s = agent_side_state();
    key(&mut s, KeyCode::Enter);
    let all = screen(&s, 160, 50);
    let row = |text: &str, tool: &str| -> String {
        text.lines()
            .find(|l| l.contains(tool) && l.contains("09:2"))
            .unwrap_or_else(|| panic!("no {tool} row:\n{text}"))
            .to_string()
    };
    assert!(row(&all, "stripe.get").contains("allow"), "{all}");
    assert!(row(&all, "stripe.refund").contains("✗ denied"), "{all}");
    assert!(row(&all, "email.send").contains("✓ approved"), "{all}");
    // p opens the oldest shown, then the next: the denied refund, with its args in full.
    key(&mut s, KeyCode::Char('p'));
    assert_eq!(s.prior_open, Some(("esc-001".into(), 0)));
    key(&mut s, KeyCode::Char('p'));
    assert_eq!(s.prior_open, Some(("esc-001".into(), 1)));
    let open = screen(&s, 160, 50);
    assert!(row(&open, "stripe.refund").contains("▾"), "{open}");
    for l in [
        "action act-p2",
        "\"amount\": 2400.0",
        "\"currency\": \"usd\"",
        "\"order\": \"o-15\"",
    ] {
        assert!(open.contains(l), "{l}:\n{open}");
    }
    insta::assert_snapshot!("prior_call_open_160x50", open);
    // At 80×24 the detail scrolls to the earlier calls.
    let small = screen(&s, 80, 24);
    assert!(small.contains("\"amount\": 2400.0"), "{small}");
    insta::assert_snapshot!("prior_call_open_80x24", small);
    key(&mut s, KeyCode::Char('p'));
    assert_eq!(s.prior_open, Some(("esc-001".into(), 2)));
    key(&mut s, KeyCode::Char('p'));
    assert_eq!(s.prior_open, None, "after the last, none is open");
    assert!(!screen(&s, 160, 50).contains("action act-p2"));
}

#[test]
fn the_console_starts_on_the_first_escalation_it_may_decide() {
    // Alice may not approve esc-003 (on her own behalf): with it first in the queue, the cursor
    // starts on esc-001, the first one she may decide, and stays where she puts it.
    let mut s = State::new("http://127.0.0.1:7878", "alice", t0());
    let mut hers = escalation("esc-003", "refund-bot", "stripe.refund", 30);
    hers.action.on_behalf_of = Some("alice".into());
    let yours = escalation("esc-001", "refund-bot", "stripe.refund", 45);
    apply(
        &mut s,
        gavel::console::event::Event::Server(ServerMessage::Welcome {
            person: me(),
            server: ServerInfo {
                version: "0.1.0".into(),
                policy_version: "p1".into(),
            },
        }),
    );
    apply(
        &mut s,
        gavel::console::event::Event::Server(ServerMessage::Snapshot(Box::new(Snapshot {
            escalations: vec![hers, yours],
            flagged: vec![],
            killswitches: vec![],
            history: vec![],
            agents: vec![],
            activity: vec![],
            grants: vec![],
            part: 1,
            parts: 1,
        }))),
    );
    assert_eq!(s.pending[0].id, "esc-003", "soonest deadline first");
    assert_eq!(
        s.selected_escalation().map(|e| e.id.as_str()),
        Some("esc-001")
    );
    key(&mut s, KeyCode::Char('k'));
    assert_eq!(
        s.selected_escalation().map(|e| e.id.as_str()),
        Some("esc-003")
    );
    let sooner = escalation("esc-005", "refund-bot", "stripe.refund", 10);
    apply(
        &mut s,
        gavel::console::event::Event::Server(ServerMessage::EscalationCreated {
            escalation: Box::new(sooner),
        }),
    );
    assert_eq!(
        s.selected_escalation().map(|e| e.id.as_str()),
        Some("esc-003"),
        "moved by hand: the cursor stays"
    );
}

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_earlier_call_shows_denied_in_the_live_console_and_p_shows_its_args() {
    let env = common::Env::start(common::POLICY).await;
    let args = json!({"amount": 1500.0, "order": "o-77", "note": "first try"});
    let first = env
        .act("refund-bot", "stripe.refund", args.clone(), "s-prior")
        .await;
    let first = env.escalation(first.escalation.as_deref().unwrap()).await;
    let deny = Client::sign_decision(env.key("carol"), &first, Vote::Deny, "wrong order");
    env.client.decide(&deny).await.expect("denied");
    let second = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 1600.0}),
            "s-prior",
        )
        .await;
    let second = second.escalation.unwrap();

    let state = State::new(&env.url(), "alice", chrono::Utc::now());
    let key_ = PersonKey::read(&env.key_file("alice")).unwrap();
    let mut c = Driver::start(&env.url(), key_, state);
    c.wait_for("the second escalation", WAIT, |s| {
        s.connection == Connection::Live && s.pending.iter().any(|e| e.id == second)
    })
    .await
    .unwrap();
    // Alice may decide it, so the console starts on it.
    assert_eq!(
        c.state.selected_escalation().map(|e| e.id.clone()),
        Some(second.clone())
    );
    c.press(KeyCode::Enter);
    let text = screen(&c.state, 160, 50);
    let row = text
        .lines()
        .find(|l| l.contains("stripe.refund") && l.contains("first try"))
        .unwrap_or_else(|| panic!("the earlier refund:\n{text}"));
    assert!(row.contains("✗ denied"), "{row}");
    c.press(KeyCode::Char('p'));
    let open = screen(&c.state, 160, 50);
    assert!(
        open.contains(&format!("action {}", first.action.id)),
        "{open}"
    );
    assert!(open.contains("\"note\": \"first try\""), "{open}");
    assert!(open.contains("\"order\": \"o-77\""), "{open}");
}
