//! Batch decisions end to end: a real server on a loopback port, the console driven headless
//! with the keys a person presses. Marked rows decided with one reason are signed and sent one by
//! one (checked on the server and in its audit log); rows the person may not approve are shown
//! and skipped; the server's refusal of one row shows on that row; deny-all covers exactly one
//! agent's (or one session's) pending escalations, after a confirmation.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use crossterm::event::KeyCode;
use serde_json::json;

use common::{request, Env, POLICY};
use gavel::console::batch::ItemStatus;
use gavel::console::dialog::Dialog;
use gavel::console::driver::Driver;
use gavel::console::state::{Connection, State};
use gavel::protocol::{EscalationState, Verdict, Vote};

const WAIT: Duration = Duration::from_secs(15);

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

/// refund-bot asks for a refund of `amount` in `session`; the escalation's id.
async fn refund(env: &Env, amount: f64, session: &str) -> String {
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({ "amount": amount, "order": format!("o-{amount}") }),
            session,
        )
        .await;
    assert_eq!(out.verdict, Verdict::Pending, "{out:?}");
    out.escalation.unwrap()
}

async fn until_shown(c: &mut Driver, ids: &[&str]) {
    c.wait_for("the escalations in the queue", WAIT, |s| {
        ids.iter().all(|id| s.pending.iter().any(|e| e.id == *id))
    })
    .await
    .unwrap();
}

/// Puts the cursor on `id` the way a person would (Home, then down).
fn select(c: &mut Driver, id: &str) {
    let pos = c
        .state
        .queue_rows()
        .iter()
        .position(|&i| c.state.pending[i].id == id)
        .expect("in the queue");
    c.press(KeyCode::Home);
    for _ in 0..pos {
        c.press(KeyCode::Down);
    }
    assert_eq!(c.state.selected_escalation().unwrap().id, id);
}

fn mark(c: &mut Driver, id: &str) {
    select(c, id);
    c.press(KeyCode::Char(' '));
    assert!(c.state.marks.contains(id), "{id} marked");
}

fn batch(c: &Driver) -> &gavel::console::batch::BatchDraft {
    match &c.state.dialog {
        Some(Dialog::Batch(b)) => b,
        other => panic!("no batch dialog: {other:?}"),
    }
}

async fn until_answered(c: &mut Driver) {
    c.wait_for("every decision of the batch answered", WAIT, |s| {
        matches!(&s.dialog, Some(Dialog::Batch(b)) if b.sent
            && !b.items.iter().any(|i| matches!(i.status, ItemStatus::Sending(_))))
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_marked_escalations_approved_with_one_reason_are_three_signed_decisions() {
    let env = Env::start(POLICY).await;
    let mut c = console_as(&env, "alice").await;
    let ids = [
        refund(&env, 1500.0, "s-1").await,
        refund(&env, 2500.0, "s-2").await,
        refund(&env, 3500.0, "s-3").await,
    ];
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    until_shown(&mut c, &ids).await;
    for id in &ids {
        mark(&mut c, id);
    }
    c.press(KeyCode::Char('a'));
    let b = batch(&c);
    assert_eq!(b.vote, Vote::Approve);
    assert_eq!(b.items.len(), 3);
    assert!(b.items.iter().all(|i| i.status == ItemStatus::Ready));
    // Every one's arguments are in the dialog, as the person reads them before signing.
    assert!(b
        .items
        .iter()
        .all(|i| i.escalation.args_elided().is_none()
            && i.escalation.action.args["amount"].is_number()));
    c.type_text("matches the tickets");
    c.press(KeyCode::Enter);
    until_answered(&mut c).await;
    let b = batch(&c);
    for item in &b.items {
        match &item.status {
            ItemStatus::Accepted(what) => assert!(what.contains("approved"), "{what}"),
            other => panic!("{}: {other:?}", item.escalation.id),
        }
    }
    // On the server: three approvals, each by alice with the one reason, each its own signature.
    let mut signatures = HashSet::new();
    for id in &ids {
        let e = env.escalation(id).await;
        assert_eq!(e.state, EscalationState::Approved, "{id}");
        assert_eq!(e.decisions.len(), 1);
        let d = &e.decisions[0];
        assert_eq!(d.body.approver, "alice");
        assert_eq!(d.body.reason, "matches the tickets");
        assert_eq!(d.body.digest, e.digest, "signed over its own digest");
        signatures.insert(d.signature.clone());
    }
    assert_eq!(signatures.len(), 3, "three separate signatures");
    // And in the audit log: three decision records by alice, one per escalation.
    let records = env
        .client
        .audit(env.key("grace"), "kind=decision")
        .await
        .unwrap();
    let decided: HashSet<String> = records
        .iter()
        .filter(|r| r.actor == "alice")
        .filter_map(|r| r.body["escalation"].as_str().map(str::to_string))
        .collect();
    assert_eq!(decided, ids.iter().map(|s| s.to_string()).collect());
    // The marks dropped as the escalations resolved; Enter closes the results.
    c.wait_for("the marks to drop", WAIT, |s| s.marks.is_empty())
        .await
        .unwrap();
    c.press(KeyCode::Enter);
    assert!(c.state.dialog.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_shows_which_are_not_yours_and_the_servers_refusal_per_row() {
    let env = Env::start(POLICY).await;
    let mut c = console_as(&env, "alice").await;
    let ok = refund(&env, 1500.0, "s-1").await;
    let raced = refund(&env, 2500.0, "s-2").await;
    // Two approvers other than the owner: alice owns refund-bot, so not hers to approve.
    let huge = refund(&env, 20000.0, "s-3").await;
    until_shown(&mut c, &[&ok, &raced, &huge]).await;
    for id in [&ok, &raced, &huge] {
        mark(&mut c, id);
    }
    c.press(KeyCode::Char('a'));
    let status = |c: &Driver, id: &str| {
        batch(c)
            .items
            .iter()
            .find(|i| i.escalation.id == id)
            .unwrap()
            .status
            .clone()
    };
    match status(&c, &huge) {
        ItemStatus::NotYours(why) => assert!(why.contains("own this agent"), "{why}"),
        other => panic!("{other:?}"),
    }
    c.type_text("batch");
    // Bob denies one before alice sends; the console has not heard yet (no event is applied
    // between his answer and her Enter), so it sends, and the server refuses that one.
    let e = env.escalation(&raced).await;
    let denial = gavel::client::Client::sign_decision(env.key("bob"), &e, Vote::Deny, "no");
    env.client.decide(&denial).await.unwrap();
    c.press(KeyCode::Enter);
    until_answered(&mut c).await;
    assert!(matches!(status(&c, &ok), ItemStatus::Accepted(_)));
    match status(&c, &raced) {
        ItemStatus::Refused(why) => assert!(why.contains("not_pending"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(status(&c, &huge), ItemStatus::NotYours(_)));
    // The one not hers was never sent: still pending, no vote on it.
    let h = env.escalation(&huge).await;
    assert_eq!(h.state, EscalationState::Pending);
    assert!(h.decisions.is_empty());
    assert_eq!(env.escalation(&ok).await.state, EscalationState::Approved);
    let msg = c.state.message.clone().unwrap();
    assert!(
        msg.text.contains("1 accepted, 1 refused, 1 not sent"),
        "{}",
        msg.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_all_from_a_session_then_an_agent_asks_first_and_denies_only_those() {
    let env = Env::start(POLICY).await;
    let mut c = console_as(&env, "bob").await;
    let a1 = refund(&env, 1500.0, "s-a").await;
    let a2 = refund(&env, 1600.0, "s-a").await;
    let b1 = refund(&env, 1700.0, "s-b").await;
    let mut mail = request("email.send", json!({"to": "x@example.com"}), "s-a");
    mail.on_behalf_of = Some("bob".into());
    let mail = env.submit("mailer", mail).await.escalation.unwrap();
    until_shown(&mut c, &[&a1, &a2, &b1, &mail]).await;

    // D then s on a row of session s-a: both of refund-bot's s-a escalations, nothing else.
    select(&mut c, &a1);
    c.press(KeyCode::Char('D'));
    assert!(c.state.dialog.is_none(), "a prefix, not yet a dialog");
    c.press(KeyCode::Char('s'));
    let b = batch(&c);
    assert_eq!(b.vote, Vote::Deny);
    assert_eq!(b.scope.as_deref(), Some("session s-a of agent refund-bot"));
    let listed: HashSet<&str> = b.items.iter().map(|i| i.escalation.id.as_str()).collect();
    assert_eq!(listed, HashSet::from([a1.as_str(), a2.as_str()]));
    // Confirming needs a reason; nothing is sent without one.
    let sent_before = c.state.in_flight.len();
    c.press(KeyCode::Enter);
    assert_eq!(
        batch(&c).error.as_deref(),
        Some("a reason is required to deny")
    );
    assert_eq!(c.state.in_flight.len(), sent_before);
    c.type_text("runaway session");
    c.press(KeyCode::Enter);
    until_answered(&mut c).await;
    c.press(KeyCode::Esc);
    for id in [&a1, &a2] {
        let e = env.escalation(id).await;
        assert_eq!(e.state, EscalationState::Denied, "{id}");
        assert_eq!(e.decisions[0].body.reason, "runaway session");
    }
    assert_eq!(env.escalation(&b1).await.state, EscalationState::Pending);

    // Any other key after D cancels.
    c.wait_for("the denials to reach the queue", WAIT, |s| {
        !s.pending.iter().any(|e| e.id == a1 || e.id == a2)
    })
    .await
    .unwrap();
    select(&mut c, &b1);
    c.press(KeyCode::Char('D'));
    c.press(KeyCode::Char('x'));
    assert!(c.state.dialog.is_none() && !c.state.deny_all_prefix);

    // D then a: every pending refund-bot escalation (only b1 is left), not the mailer's.
    c.press(KeyCode::Char('D'));
    c.press(KeyCode::Char('a'));
    let b = batch(&c);
    assert_eq!(b.scope.as_deref(), Some("agent refund-bot"));
    assert_eq!(b.items.len(), 1);
    assert_eq!(b.items[0].escalation.id, b1);
    c.type_text("stop the bot");
    c.press(KeyCode::Enter);
    until_answered(&mut c).await;
    assert_eq!(env.escalation(&b1).await.state, EscalationState::Denied);
    let m = env.escalation(&mail).await;
    assert_eq!(
        m.state,
        EscalationState::Pending,
        "another agent's is untouched"
    );
    assert!(m.decisions.is_empty());
}
