//! Snapshots of the batch dialog (before and after sending), the deny-all confirmation, the
//! Audit view (with records, a record's body, and for someone without the role) and a history
//! search, at 80×24 and 160×50. Fixed clock and ids: nothing volatile reaches a snapshot.

mod console_fixtures;

use crossterm::event::KeyCode;
use serde_json::json;

use console_fixtures::*;
use gavel::console::command::Command;
use gavel::console::event::{Event, Reply, RequestError};
use gavel::console::state::{State, View};
use gavel::console::update::update;
use gavel::protocol::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 50)];

fn both(name: &str, s: &State) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(s, w, h));
    }
}

/// Marks the first three queue rows (esc-001 yours, esc-002 needs two, esc-003 on your behalf).
fn marked_three() -> State {
    let mut s = live_state();
    for _ in 0..3 {
        key(&mut s, KeyCode::Char(' '));
    }
    s
}

#[test]
fn queue_with_marks() {
    let s = marked_three();
    assert_eq!(s.marks.len(), 3);
    both("queue_with_marks", &s);
}

#[test]
fn batch_approve_dialog() {
    let mut s = marked_three();
    key(&mut s, KeyCode::Char('a'));
    typed(&mut s, "matches the tickets");
    both("batch_approve_dialog", &s);
}

#[test]
fn batch_results_per_item() {
    let mut s = marked_three();
    key(&mut s, KeyCode::Char('a'));
    typed(&mut s, "matches the tickets");
    let fx = update(
        &mut s,
        Event::Key(crossterm::event::KeyEvent::new(
            KeyCode::Enter,
            crossterm::event::KeyModifiers::NONE,
        )),
    );
    let sent: Vec<(u64, Escalation)> = fx
        .into_iter()
        .filter_map(|c| match c {
            Command::Decide {
                request,
                escalation,
                ..
            } => Some((request, *escalation)),
            _ => None,
        })
        .collect();
    // esc-003 is on alice's own behalf: never sent.
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (first, mut e) = sent[0].clone();
    e.state = EscalationState::Approved;
    e.resolved_at = Some(at(1));
    apply(
        &mut s,
        Event::Reply {
            request: first,
            result: Ok(Reply::Decision(DecisionAck {
                escalation: Box::new(e),
                recorded: true,
            })),
        },
    );
    apply(
        &mut s,
        Event::Reply {
            request: sent[1].0,
            result: Err(RequestError {
                code: "not_pending".into(),
                message: "the escalation is no longer pending (denied)".into(),
            }),
        },
    );
    both("batch_results_per_item", &s);
}

#[test]
fn deny_all_from_agent_confirmation() {
    let mut s = live_state();
    // esc-001 is refund-bot's; so is esc-003.
    key(&mut s, KeyCode::Char('D'));
    key(&mut s, KeyCode::Char('a'));
    both("deny_all_from_agent_confirmation", &s);
}

fn record(seq: u64, kind: &str, actor: &str, body: serde_json::Value) -> AuditRecord {
    AuditRecord {
        seq,
        time: at(seq as i64 * 7 - 600),
        kind: kind.into(),
        actor: actor.into(),
        body,
        prev_hash: format!("{:064x}", seq - 1),
        hash: format!("{seq:064x}"),
    }
}

/// The Audit view as an auditor, its first page answered.
fn audit_state() -> State {
    let mut s = live_state();
    if let Some(me) = s.me.as_mut() {
        me.roles = vec![Role::Auditor];
    }
    let mut request = None;
    for _ in 0..4 {
        for c in update(
            &mut s,
            Event::Key(crossterm::event::KeyEvent::new(
                KeyCode::Tab,
                crossterm::event::KeyModifiers::NONE,
            )),
        ) {
            if let Command::Audit { request: r, query } = c {
                assert!(query.contains("after_seq=0"), "{query}");
                request = Some(r);
            }
        }
    }
    assert_eq!(s.view, View::Audit);
    let records = vec![
        record(1, "server_start", "server", json!({"policy": "p1"})),
        record(
            2,
            "action",
            "refund-bot",
            json!({"id": "act-1", "agent": "refund-bot", "tool": "stripe.refund", "effect": "review",
                   "args": {"amount": 1500.0, "order": "o-17"}}),
        ),
        record(
            3,
            "escalation_created",
            "server",
            json!({"escalation": "esc-001", "action": "act-1", "rule": "refund-large"}),
        ),
        record(
            4,
            "decision",
            "alice",
            json!({"escalation": "esc-001", "verdict": "approve", "reason": "matches the ticket"}),
        ),
        record(
            5,
            "escalation_resolved",
            "server",
            json!({"escalation": "esc-001", "state": "approved"}),
        ),
    ];
    apply(
        &mut s,
        Event::Reply {
            request: request.expect("the view asked for its first page"),
            result: Ok(Reply::Audit(records)),
        },
    );
    s
}

#[test]
fn audit_view() {
    let s = audit_state();
    assert_eq!(s.audit.records.len(), 5);
    assert!(!s.audit.more, "a short page is the last");
    both("audit_view", &s);
}

#[test]
fn audit_record_body() {
    let mut s = audit_state();
    key(&mut s, KeyCode::Down);
    key(&mut s, KeyCode::Enter);
    both("audit_record_body", &s);
}

#[test]
fn audit_query_form() {
    let mut s = audit_state();
    key(&mut s, KeyCode::Char('/'));
    typed(&mut s, "refund-bot");
    key(&mut s, KeyCode::Tab);
    key(&mut s, KeyCode::Tab);
    typed(&mut s, "yesterday");
    key(&mut s, KeyCode::Enter); // refused locally: not a time
    both("audit_query_form", &s);
}

#[test]
fn audit_view_needs_the_role() {
    let mut s = live_state();
    if let Some(me) = s.me.as_mut() {
        me.roles = vec![Role::Approver];
    }
    let mut asked = false;
    for _ in 0..4 {
        let fx = update(
            &mut s,
            Event::Key(crossterm::event::KeyEvent::new(
                KeyCode::Tab,
                crossterm::event::KeyModifiers::NONE,
            )),
        );
        asked |= fx.iter().any(|c| matches!(c, Command::Audit { .. }));
    }
    assert!(!asked, "nothing is asked without the role");
    both("audit_view_needs_the_role", &s);
}

#[test]
fn history_search_results() {
    let mut s = live_state();
    for _ in 0..3 {
        key(&mut s, KeyCode::Tab);
    }
    assert_eq!(s.view, View::History);
    key(&mut s, KeyCode::Char('s'));
    typed(&mut s, "denied");
    key(&mut s, KeyCode::Tab);
    typed(&mut s, "carol");
    let fx = update(
        &mut s,
        Event::Key(crossterm::event::KeyEvent::new(
            KeyCode::Enter,
            crossterm::event::KeyModifiers::NONE,
        )),
    );
    let Some(Command::History { request, query }) = fx.into_iter().next() else {
        panic!("no search sent");
    };
    assert_eq!(query, "outcome=denied&decider=carol&limit=100");
    let mut old = escalation("esc-0old", "refund-bot", "stripe.refund", -86_400);
    old.state = EscalationState::Denied;
    old.resolved_at = Some(at(-86_000));
    old.decisions = vec![decision(
        "esc-0old",
        "carol",
        Vote::Deny,
        "duplicate",
        -86_000,
    )];
    apply(
        &mut s,
        Event::Reply {
            request,
            result: Ok(Reply::History(HistoryPage {
                escalations: vec![old],
                next: None,
            })),
        },
    );
    both("history_search_results", &s);
}
