//! The Audit view and the History search end to end: a real server with more history than a
//! console's snapshot carries (200 recent actions and resolutions), the console driven headless.
//! The Audit view's filters and the History search both reach what the snapshot left out, page
//! by page, and people without the auditor role are told so and send nothing.

mod common;

use std::time::Duration;

use crossterm::event::KeyCode;
use serde_json::json;

use common::{Env, POLICY};
use gavel::console::dialog::Dialog;
use gavel::console::driver::Driver;
use gavel::console::state::{Connection, State, View};
use gavel::protocol::{EscalationState, Verdict, Vote};

const WAIT: Duration = Duration::from_secs(30);

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

fn to_view(c: &mut Driver, v: View) {
    while c.state.view != v {
        c.press(KeyCode::Tab);
    }
}

/// Fills the open query form: each field by name (Tab moves on), then Enter.
fn fill(c: &mut Driver, values: &[(&str, &str)]) {
    let Some(Dialog::Query(form)) = &c.state.dialog else {
        panic!("no query form: {:?}", c.state.dialog);
    };
    let names: Vec<&str> = form.fields.iter().map(|f| f.name).collect();
    for name in names {
        if let Some((_, v)) = values.iter().find(|(n, _)| *n == name) {
            c.type_text(v);
        }
        c.press(KeyCode::Tab);
    }
    c.press(KeyCode::Enter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_view_filters_reach_records_older_than_the_snapshot_and_page_in() {
    let env = Env::start(POLICY).await;
    // The oldest action, then more than a snapshot's worth of newer ones.
    let old = env
        .act("deployer", "k8s.get", json!({"pod": "web-1"}), "s-old")
        .await;
    assert_eq!(old.verdict, Verdict::Allow);
    for i in 0..220 {
        env.act("refund-bot", "orders.get", json!({ "i": i }), "s-new")
            .await;
    }
    let mut c = console_as(&env, "grace").await;
    assert!(
        !c.state.activity.iter().any(|a| a.agent == "deployer"),
        "the snapshot does not carry the old action"
    );
    to_view(&mut c, View::Audit);
    // Opening the view runs the (empty) query: the first page, with more on the server.
    c.wait_for("the first page", WAIT, |s| {
        s.audit.loading.is_none() && !s.audit.records.is_empty()
    })
    .await
    .unwrap();
    assert_eq!(c.state.audit.records.len(), 200);
    assert!(c.state.audit.more);
    // Moving to the end loads the rest from the server.
    c.press(KeyCode::End);
    c.wait_for("every record", WAIT, |s| {
        s.audit.loading.is_none() && !s.audit.more
    })
    .await
    .unwrap();
    assert!(
        c.state.audit.records.len() >= 222,
        "{}",
        c.state.audit.records.len()
    );

    // The filters: the deployer's actions only, the old one among them.
    c.press(KeyCode::Char('/'));
    fill(
        &mut c,
        &[("agent", "deployer"), ("kind", "action"), ("since", "1d")],
    );
    c.wait_for("the filtered page", WAIT, |s| s.audit.loading.is_none())
        .await
        .unwrap();
    let records = &c.state.audit.records;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].kind, "action");
    assert!(
        records[0].body.to_string().contains(&old.id),
        "{:?}",
        records[0]
    );
    // Enter opens the record's whole body.
    c.press(KeyCode::Enter);
    assert!(c.state.detail_open);

    // A time range that excludes it finds nothing.
    c.press(KeyCode::Esc);
    c.press(KeyCode::Char('/'));
    let Some(Dialog::Query(form)) = &mut c.state.dialog else {
        panic!("no form");
    };
    form.fields[2].value.clear(); // since
    form.fields[3].value = "2000-01-01".into(); // until
    c.press(KeyCode::Enter);
    c.wait_for("the empty page", WAIT, |s| s.audit.loading.is_none())
        .await
        .unwrap();
    assert!(c.state.audit.records.is_empty());
    assert!(c.state.audit.error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_auditor_role_the_audit_view_says_so_and_asks_nothing() {
    let env = Env::start(POLICY).await;
    let mut c = console_as(&env, "carol").await;
    to_view(&mut c, View::Audit);
    // (The Budgets tab's read of /v1/usage may be on its way: any role may read that.)
    assert!(!c
        .state
        .in_flight
        .values()
        .any(|r| matches!(r, gavel::console::state::Request::Audit)));
    assert!(!c.state.audit.ran);
    c.press(KeyCode::Char('/'));
    assert!(c.state.dialog.is_none());
    assert!(c
        .state
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("needs the auditor role"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_search_finds_a_resolution_older_than_the_last_200() {
    let env = Env::start(POLICY).await;
    // The old one: carol denies it.
    let old = env.refund_review(1500.0).await;
    let d = gavel::client::Client::sign_decision(env.key("carol"), &old, Vote::Deny, "dup");
    env.client.decide(&d).await.unwrap();
    // Then 210 newer resolutions: pending refunds, all cancelled by one kill switch.
    for i in 0..210 {
        let out = env
            .act(
                "refund-bot",
                "stripe.refund",
                json!({ "amount": 2000.0 + i as f64 }),
                "s-many",
            )
            .await;
        assert_eq!(out.verdict, Verdict::Pending);
    }
    env.client
        .flip(env.key("alice"), "agent:refund-bot", true, "too many")
        .await
        .unwrap();
    let mut c = console_as(&env, "alice").await;
    assert!(
        !c.state.history.iter().any(|e| e.id == old.id),
        "the snapshot's history does not reach it"
    );
    to_view(&mut c, View::History);
    c.press(KeyCode::Char('s'));
    fill(&mut c, &[("outcome", "denied"), ("decider", "carol")]);
    c.wait_for("the search results", WAIT, |s| {
        s.history_search
            .as_ref()
            .is_some_and(|h| h.loading.is_none())
    })
    .await
    .unwrap();
    let h = c.state.history_search.as_ref().unwrap();
    assert!(h.error.is_none(), "{:?}", h.error);
    assert_eq!(h.results.len(), 1);
    assert_eq!(h.results[0].id, old.id);
    assert_eq!(h.results[0].state, EscalationState::Denied);
    // The History view lists the search's results; Enter opens the old escalation.
    assert_eq!(c.state.history_rows().len(), 1);
    c.press(KeyCode::Enter);
    assert_eq!(c.state.selected_escalation().unwrap().id, old.id);
    c.press(KeyCode::Esc);

    // All cancelled ones, paged in from the server as the cursor moves down.
    c.press(KeyCode::Char('s'));
    let Some(Dialog::Query(form)) = &mut c.state.dialog else {
        panic!("no form");
    };
    for f in &mut form.fields {
        f.value.clear();
    }
    form.fields[0].value = "cancelled".into();
    c.press(KeyCode::Enter);
    c.wait_for("the first page", WAIT, |s| {
        s.history_search
            .as_ref()
            .is_some_and(|h| h.loading.is_none())
    })
    .await
    .unwrap();
    assert_eq!(c.state.history_rows().len(), 100);
    for _ in 0..3 {
        c.press(KeyCode::End);
        c.wait_for("the next page", WAIT, |s| {
            s.history_search
                .as_ref()
                .is_some_and(|h| h.loading.is_none())
        })
        .await
        .unwrap();
    }
    let h = c.state.history_search.as_ref().unwrap();
    assert_eq!(h.results.len(), 210);
    assert!(h.next.is_none());
    // Esc goes back to the live history.
    c.press(KeyCode::Esc);
    assert!(c.state.history_search.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_endpoint_refuses_bad_filters_and_cursors() {
    let env = Env::start(POLICY).await;
    for query in [
        "outcome=pending",
        "before=nonsense",
        "since=yesterday",
        "colour=red",
    ] {
        let e = env
            .client
            .history(env.key("alice"), query)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_request", "{query}: {e}");
    }
    let page = env.client.history(env.key("henry"), "").await.unwrap_err();
    assert_eq!(page.code(), "role_required");
    let page = env
        .client
        .history(env.key("alice"), "limit=5")
        .await
        .unwrap();
    assert!(page.escalations.is_empty() && page.next.is_none());
    let old = env.refund_review(1500.0).await;
    let d = gavel::client::Client::sign_decision(env.key("carol"), &old, Vote::Deny, "dup");
    env.client.decide(&d).await.unwrap();
    for query in ["", "outcome=denied", "decider=carol", "agent=refund-bot"] {
        let page = env.client.history(env.key("alice"), query).await.unwrap();
        assert_eq!(page.escalations.len(), 1, "{query}");
    }
    for query in [
        "outcome=approved",
        "decider=bob",
        "agent=mailer",
        "until=2000-01-01T00:00:00Z",
    ] {
        let page = env.client.history(env.key("alice"), query).await.unwrap();
        assert!(page.escalations.is_empty(), "{query}");
    }
}
