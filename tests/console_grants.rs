//! Standing grants in the console, driven headless: the approve dialog's "also allow calls like
//! this" (prefilled, editable, sent with the approval), the Grants view and its revoke dialog,
//! with snapshots at 80×24 and 160×50 (fixed clock and ids, so nothing volatile is recorded).

mod console_fixtures;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use console_fixtures::*;
use gavel::console::command::Command;
use gavel::console::dialog::Dialog;
use gavel::console::event::{Event, Reply};
use gavel::console::state::{Level, State, View};
use gavel::console::update::update;
use gavel::protocol::*;

fn grant(id: &str, agent: &str, tool: &str, when: Option<&str>, by: &str, left: i64) -> Grant {
    Grant {
        id: id.into(),
        agent: agent.into(),
        tool: tool.into(),
        when: when.map(str::to_string),
        reason: "incident 4411 refunds".into(),
        by: by.into(),
        created_at: at(-600),
        expires_at: at(left),
        revoked: None,
        uses: 2,
        last_used_at: Some(at(-30)),
    }
}

/// alice's live console with three grants (one expired) and esc-001 grantable.
fn with_grants() -> State {
    let mut s = live_state();
    let grants = [
        grant(
            "grt_001",
            "refund-bot",
            "stripe.refund",
            Some("args.currency == 'usd' && args.amount == 1500.0"),
            "carol",
            3000,
        ),
        grant("grt_002", "mailer", "email.*", None, "alice", 290),
        grant("grt_003", "db-agent", "postgres.query", None, "bob", -5),
    ];
    for g in grants {
        apply(
            &mut s,
            Event::Server(ServerMessage::GrantChanged { grant: Box::new(g) }),
        );
    }
    let mut e = (**s.pending.iter().find(|e| e.id == "esc-001").unwrap()).clone();
    e.rule.grantable = true;
    apply(
        &mut s,
        Event::Server(ServerMessage::EscalationUpdated {
            escalation: Box::new(e),
        }),
    );
    s
}

fn ctrl(s: &mut State, c: char) -> Vec<Command> {
    update(
        s,
        Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

fn to_grants(s: &mut State) {
    while s.view != View::Grants {
        key(s, KeyCode::Tab);
    }
}

#[test]
fn grants_view_lists_live_grants_soonest_to_expire_first() {
    let mut s = with_grants();
    to_grants(&mut s);
    let ids: Vec<&str> = s.grant_rows().iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["grt_002", "grt_001"], "the expired one is not listed");
    insta::assert_snapshot!("grants_view_80x24", screen(&s, 80, 24));
    insta::assert_snapshot!("grants_view_160x50", screen(&s, 160, 50));
}

#[test]
fn approve_with_a_grant_prefills_the_condition_and_sends_both() {
    let mut s = with_grants();
    assert_eq!(s.selected_escalation().unwrap().id, "esc-001");
    key(&mut s, KeyCode::Char('a'));
    typed(&mut s, "same refund again");
    let fx = ctrl(&mut s, 'g');
    assert!(fx.is_empty());
    let Some(Dialog::Decision(d)) = &s.dialog else {
        panic!("the approve dialog")
    };
    let g = d.grant.as_ref().expect("offered on a grantable review");
    assert!(g.on);
    assert_eq!(
        g.condition,
        "args.amount == 1500.0 && args.currency == 'usd' && args.order == 'o-17'"
    );
    assert_eq!(g.duration, "1h");
    insta::assert_snapshot!("approve_with_grant_160x50", screen(&s, 160, 50));
    // Narrow the condition: drop the order (typed keys go to the condition field now).
    for _ in 0.." && args.order == 'o-17'".len() {
        key(&mut s, KeyCode::Backspace);
    }
    key(&mut s, KeyCode::Tab); // to the duration
    key(&mut s, KeyCode::Backspace);
    key(&mut s, KeyCode::Backspace);
    typed(&mut s, "30m");
    insta::assert_snapshot!("approve_with_grant_80x24", screen(&s, 80, 24));
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert!(s.dialog.is_none());
    // The approval goes first; the grant only once the approval is accepted.
    let (request, esc) = match &fx[..] {
        [Command::Decide {
            request,
            escalation,
            vote: Vote::Approve,
            reason,
        }] if reason == "same refund again" => (*request, (**escalation).clone()),
        other => panic!("the approval alone: {other:?}"),
    };
    let mut approved = esc;
    approved.state = EscalationState::Approved;
    let fx = update(
        &mut s,
        Event::Reply {
            request,
            result: Ok(Reply::Decision(DecisionAck {
                escalation: Box::new(approved),
                recorded: true,
            })),
        },
    );
    let grant_cmd = match &fx[..] {
        [Command::Grant { grant, .. }] => grant.clone(),
        other => panic!("the grant: {other:?}"),
    };
    assert_eq!(
        grant_cmd,
        gavel::client::GrantRequest {
            agent: "refund-bot".into(),
            tool: "stripe.refund".into(),
            when: Some("args.amount == 1500.0 && args.currency == 'usd'".into()),
            for_secs: 1800,
            reason: "same refund again".into(),
        }
    );
    assert!(s.grants_queued.is_empty());
}

#[test]
fn a_refused_approval_sends_no_grant() {
    let mut s = with_grants();
    key(&mut s, KeyCode::Char('a'));
    typed(&mut s, "again");
    ctrl(&mut s, 'g');
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    let [Command::Decide { request, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    let fx = update(
        &mut s,
        Event::Reply {
            request: *request,
            result: Err(gavel::console::event::RequestError {
                code: "expired".into(),
                message: "the deadline has passed".into(),
            }),
        },
    );
    assert!(fx.is_empty(), "{fx:?}");
    assert!(s.grants_queued.is_empty());
    let m = s.message.clone().unwrap();
    assert!(m.text.contains("standing grant was not sent"), "{}", m.text);
}

#[test]
fn a_grant_needs_a_reason_and_a_duration_within_bounds_and_is_offered_only_where_it_may_apply() {
    let mut s = with_grants();
    key(&mut s, KeyCode::Char('a'));
    ctrl(&mut s, 'g');
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert!(fx.is_empty(), "nothing is sent: {fx:?}");
    let Some(Dialog::Decision(d)) = &s.dialog else {
        panic!("still open")
    };
    assert!(d.error.as_deref().unwrap().contains("reason"), "{d:?}");
    key(&mut s, KeyCode::Tab); // condition → duration
    typed(&mut s, "0d"); // "1h0d"
    key(&mut s, KeyCode::Tab); // → reason
    typed(&mut s, "why");
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert!(fx.is_empty());
    let Some(Dialog::Decision(d)) = &s.dialog else {
        panic!("still open")
    };
    assert!(d.error.as_deref().unwrap().contains("duration"), "{d:?}");
    // Ctrl-g again: no grant; the approval alone goes.
    ctrl(&mut s, 'g');
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert_eq!(fx.len(), 1, "{fx:?}");
    assert!(matches!(fx[0], Command::Decide { .. }));

    // Not grantable (esc-002 needs two approvals): the key says why, nothing is offered.
    let mut s = with_grants();
    key(&mut s, KeyCode::Char('j'));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-002");
    key(&mut s, KeyCode::Char('a'));
    ctrl(&mut s, 'g');
    let Some(Dialog::Decision(d)) = &s.dialog else {
        panic!("the approve dialog")
    };
    assert!(d.grant.is_none());
    assert!(d.error.as_deref().unwrap().contains("not offered"));
}

#[test]
fn revoke_asks_for_a_reason_and_only_the_signer_or_an_operator_may() {
    let mut s = with_grants();
    to_grants(&mut s);
    // alice is an operator: she may revoke carol's grant (second row).
    key(&mut s, KeyCode::Down);
    assert_eq!(s.selected_grant().unwrap().id, "grt_001");
    key(&mut s, KeyCode::Char('r'));
    assert!(matches!(s.dialog, Some(Dialog::Revoke(_))));
    key(&mut s, KeyCode::Enter);
    let Some(Dialog::Revoke(r)) = &s.dialog else {
        panic!("still open")
    };
    assert!(r.error.is_some(), "a reason is required");
    typed(&mut s, "incident closed");
    insta::assert_snapshot!("revoke_dialog_80x24", screen(&s, 80, 24));
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    let (request, grant) = match &fx[..] {
        [Command::Revoke {
            request,
            grant,
            reason,
        }] => {
            assert_eq!(reason, "incident closed");
            (*request, grant.clone())
        }
        other => panic!("one revoke: {other:?}"),
    };
    assert_eq!(grant, "grt_001");
    let mut revoked = s.grants["grt_001"].clone();
    revoked.revoked = Some(GrantRevocation {
        by: "alice".into(),
        reason: "incident closed".into(),
        at: at(0),
    });
    apply(
        &mut s,
        Event::Reply {
            request,
            result: Ok(Reply::Grant(Box::new(revoked))),
        },
    );
    let m = s.message.clone().unwrap();
    assert_eq!(m.level, Level::Success, "{}", m.text);
    assert_eq!(s.grant_rows().len(), 1, "a revoked grant leaves the view");

    // Without the operator role, only your own grants.
    let mut s = with_grants();
    s.me.as_mut().unwrap().roles = vec![Role::Approver];
    to_grants(&mut s);
    key(&mut s, KeyCode::Down);
    key(&mut s, KeyCode::Char('r'));
    assert!(matches!(s.dialog, Some(Dialog::NotYours { .. })));
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Up);
    assert_eq!(s.selected_grant().unwrap().by, "alice");
    key(&mut s, KeyCode::Char('r'));
    assert!(matches!(s.dialog, Some(Dialog::Revoke(_))));
}

#[test]
fn hostile_grant_text_renders_inert() {
    let mut s = with_grants();
    let mut g = grant(
        "grt_004",
        "refund-bot",
        "stripe.\u{1b}[2Jrefund",
        Some("args.note == '\u{202e}evil'"),
        "carol",
        100,
    );
    g.reason = "\u{7}bell".into();
    apply(
        &mut s,
        Event::Server(ServerMessage::GrantChanged { grant: Box::new(g) }),
    );
    to_grants(&mut s);
    let text = screen(&s, 160, 50);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'));
}
