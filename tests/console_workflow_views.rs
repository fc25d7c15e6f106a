//! Snapshots and key handling of the approver's workflow in the console (claim, snooze, extend,
//! reassign), on the fixed live state of `console_fixtures`, at 80×24 and 160×50.

mod console_fixtures;

use chrono::Duration;
use crossterm::event::KeyCode;

use console_fixtures::*;
use gavel::console::command::Command;
use gavel::console::dialog::Dialog;
use gavel::console::event::Event;
use gavel::console::state::State;
use gavel::console::update::update;
use gavel::console::workflow::{HandlingCall, HandlingKind};
use gavel::protocol::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 50)];

/// The escalation to change in place; the queue's cache is told first.
fn pending<'a>(s: &'a mut State, id: &str) -> &'a mut Escalation {
    s.pending_changed();
    s.pending.iter_mut().find(|e| e.id == id).unwrap()
}

/// The live state with a claim by bob on esc-002, an extend allowance on esc-001 (10m of 30m
/// used) and a secondary group on esc-001.
fn workflow_state() -> State {
    let mut s = live_state();
    let e = pending(&mut s, "esc-001");
    e.handling.extend_allowed_secs = 1800;
    e.handling.extended_secs = 600;
    e.handling.escalate_to = Some("finance-leads".into());
    pending(&mut s, "esc-002").handling.claim = Some(Claim {
        person: "bob".into(),
        until: at(600),
    });
    s
}

fn keys(s: &mut State, code: KeyCode) -> Vec<Command> {
    update(
        s,
        Event::Key(crossterm::event::KeyEvent::new(
            code,
            crossterm::event::KeyModifiers::NONE,
        )),
    )
}

#[test]
fn extend_dialog_shows_the_allowance_left_and_sends_within_it() {
    let mut s = workflow_state();
    key(&mut s, KeyCode::Char('e'));
    let Some(Dialog::Handling(d)) = &s.dialog else {
        panic!("the extend dialog opens: {:?}", s.dialog)
    };
    assert_eq!((d.kind, d.by.value()), (HandlingKind::Extend, "5m"));
    // No reason: refused here, nothing sent.
    assert!(keys(&mut s, KeyCode::Enter).is_empty());
    typed(&mut s, "waiting for the CFO");
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("extend_{w}x{h}"), screen(&s, w, h));
    }
    // More than is left: refused here too.
    key(&mut s, KeyCode::Tab);
    for _ in 0..2 {
        key(&mut s, KeyCode::Backspace);
    }
    typed(&mut s, "25m");
    assert!(keys(&mut s, KeyCode::Enter).is_empty());
    let Some(Dialog::Handling(d)) = &s.dialog else {
        panic!()
    };
    assert!(
        d.error.as_deref().unwrap().contains("at most 20m"),
        "{:?}",
        d.error
    );
    for _ in 0..3 {
        key(&mut s, KeyCode::Backspace);
    }
    typed(&mut s, "15m");
    let fx = keys(&mut s, KeyCode::Enter);
    assert!(
        matches!(&fx[..], [Command::Handle { escalation, call: HandlingCall::Extend { by_secs: 900, reason }, .. }]
            if escalation == "esc-001" && reason == "waiting for the CFO"),
        "{fx:?}"
    );
    assert!(s.dialog.is_none());
}

#[test]
fn extend_without_an_allowance_says_so() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('e'));
    match &s.dialog {
        Some(Dialog::NotYours { why, .. }) => assert!(why.contains("allows no extension"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn snooze_dialog_offers_three_choices_and_hides_what_i_snoozed() {
    let mut s = workflow_state();
    key(&mut s, KeyCode::Char('j')); // esc-002: 4 minutes left
    key(&mut s, KeyCode::Char('z'));
    key(&mut s, KeyCode::Down);
    key(&mut s, KeyCode::Down);
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("snooze_{w}x{h}"), screen(&s, w, h));
    }
    let fx = keys(&mut s, KeyCode::Enter);
    let until = match &fx[..] {
        [Command::Handle {
            call: HandlingCall::Snooze { until },
            ..
        }] => *until,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        until,
        at(240) - Duration::seconds(60),
        "shortly before the deadline"
    );

    // The server's answer holds my snooze: the queue hides it and says so.
    let mut e = pending(&mut s, "esc-002").clone();
    e.handling.snoozed.insert("alice".into(), until);
    e.handling.snoozed.insert("carol".into(), at(10));
    apply(
        &mut s,
        Event::Server(ServerMessage::EscalationUpdated {
            escalation: Box::new(e),
        }),
    );
    assert!(!s.queue_rows().iter().any(|&i| s.pending[i].id == "esc-002"));
    assert_eq!(s.snoozed_count(), 1);
    // The cursor left the hidden row: what is selected is what the highlighted row shows.
    let sel = s.selected_escalation().unwrap().id.clone();
    assert_eq!(sel, s.pending[s.queue_rows()[s.selected[0]]].id);
    assert_ne!(sel, "esc-002");
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("queue_snoozed_{w}x{h}"), screen(&s, w, h));
    }
    // Z shows them; Z again hides them.
    key(&mut s, KeyCode::Char('Z'));
    assert!(s.queue_rows().iter().any(|&i| s.pending[i].id == "esc-002"));
    key(&mut s, KeyCode::Char('Z'));
    // It comes back on its own when the clock passes the snooze.
    apply(&mut s, Event::Tick(until + Duration::seconds(1)));
    assert!(s.queue_rows().iter().any(|&i| s.pending[i].id == "esc-002"));
    assert_eq!(s.snoozed_count(), 0);
}

#[test]
fn claim_toggles_and_shows_who_is_on_it() {
    let mut s = workflow_state();
    let fx = keys(&mut s, KeyCode::Char('c'));
    assert!(
        matches!(&fx[..], [Command::Handle { escalation, call: HandlingCall::Claim { claim: true }, .. }] if escalation == "esc-001"),
        "{fx:?}"
    );
    pending(&mut s, "esc-001").handling.claim = Some(Claim {
        person: "alice".into(),
        until: at(900),
    });
    let fx = keys(&mut s, KeyCode::Char('c'));
    assert!(
        matches!(
            &fx[..],
            [Command::Handle {
                call: HandlingCall::Claim { claim: false },
                ..
            }]
        ),
        "{fx:?}"
    );
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("queue_claims_{w}x{h}"), screen(&s, w, h));
    }
    key(&mut s, KeyCode::Enter);
    insta::assert_snapshot!("detail_workflow_160x50", screen(&s, 160, 50));
}

#[test]
fn reassign_asks_why_and_only_with_a_secondary_group() {
    let mut s = workflow_state();
    key(&mut s, KeyCode::Char('r'));
    assert!(matches!(&s.dialog, Some(Dialog::Handling(d)) if d.kind == HandlingKind::Reassign));
    typed(&mut s, "I am off shift");
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("reassign_{w}x{h}"), screen(&s, w, h));
    }
    let fx = keys(&mut s, KeyCode::Enter);
    assert!(
        matches!(&fx[..], [Command::Handle { call: HandlingCall::Reassign { reason }, .. }] if reason == "I am off shift"),
        "{fx:?}"
    );
    // esc-002 has no secondary group.
    key(&mut s, KeyCode::Char('j'));
    key(&mut s, KeyCode::Char('r'));
    match &s.dialog {
        Some(Dialog::NotYours { why, .. }) => assert!(why.contains("secondary group"), "{why}"),
        other => panic!("{other:?}"),
    }
}
