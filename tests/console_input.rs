//! The console's input and selection, driven headless through `update`: the cursor follows the
//! item in every view, keys typed ahead into a notice never reach what lies beneath it, pasted
//! text only goes into a text field and never sends, and a kill switch says what it will cancel.

mod console_fixtures;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use console_fixtures::*;
use gavel::console::command::Command;
use gavel::console::dialog::Dialog;
use gavel::console::event::{ConnEvent, Event, Reply};
use gavel::console::state::{State, View, RECENT_TOOLS_CAP};
use gavel::console::update::update;
use gavel::protocol::Effect;
use gavel::protocol::*;

/// Presses each key; returns every effect they asked for.
fn press_all(s: &mut State, keys: &[KeyCode]) -> Vec<Command> {
    keys.iter()
        .flat_map(|&k| update(s, Event::Key(KeyEvent::new(k, KeyModifiers::NONE))))
        .collect()
}

fn type_all(s: &mut State, text: &str) -> Vec<Command> {
    let keys: Vec<KeyCode> = text
        .chars()
        .map(|c| match c {
            '\n' => KeyCode::Enter,
            c => KeyCode::Char(c),
        })
        .collect();
    press_all(s, &keys)
}

fn view(s: &mut State, v: View) {
    while s.view != v {
        key(s, KeyCode::Tab);
    }
}

fn server(s: &mut State, m: ServerMessage) -> Vec<Command> {
    update(s, Event::Server(m))
}

fn resolved(mut e: Escalation, state: EscalationState, secs: i64) -> Escalation {
    e.state = state;
    e.resolved_at = Some(at(secs));
    e
}

// ---- selection follows the item ---------------------------------------------------------------

#[test]
fn flagged_selection_stays_on_its_action_when_rows_arrive_above() {
    let mut s = live_state();
    view(&mut s, View::Flagged);
    key(&mut s, KeyCode::Char('j'));
    assert_eq!(s.selected_flagged().unwrap().action.id, "act-f2");
    // A new flagged action goes on top of the list.
    server(
        &mut s,
        ServerMessage::Flagged {
            flagged: Box::new(flagged("act-f3", None)),
        },
    );
    assert_eq!(s.flagged[0].action.id, "act-f3");
    assert_eq!(s.selected_flagged().unwrap().action.id, "act-f2");
    assert_eq!(s.selected[View::Flagged.index()], 2, "the cursor row moved");
    // The incident is filed on the action the cursor was on.
    s.flagged[2].review = None; // reviewable
    key(&mut s, KeyCode::Char('i'));
    match &s.dialog {
        Some(Dialog::Review(r)) => assert_eq!(r.flagged.action.id, "act-f2"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn history_selection_stays_on_its_escalation_when_resolutions_arrive() {
    let mut s = live_state();
    view(&mut s, View::History);
    key(&mut s, KeyCode::Char('j'));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-00x");
    let done = resolved(
        escalation("esc-new", "mailer", "email.send", 60),
        EscalationState::Denied,
        -1,
    );
    server(
        &mut s,
        ServerMessage::EscalationResolved {
            escalation: Box::new(done),
        },
    );
    assert_eq!(s.history[0].id, "esc-new");
    assert_eq!(s.selected_escalation().unwrap().id, "esc-00x");
}

#[test]
fn kill_switch_selection_stays_on_its_scope_and_flips_that_scope() {
    let mut s = live_state();
    view(&mut s, View::KillSwitches);
    let rows = s.switch_rows();
    let pos = rows
        .iter()
        .position(|r| r.scope == "tool:postgres.query")
        .unwrap();
    for _ in 0..pos {
        key(&mut s, KeyCode::Char('j'));
    }
    assert_eq!(s.selected_scope(), Some("tool:postgres.query"));
    // A tool sorted before it appears, and an agent switch above it.
    server(
        &mut s,
        ServerMessage::Action {
            action: summary("db-agent", "aa.first", Effect::Allow, 0),
        },
    );
    server(
        &mut s,
        ServerMessage::KillSwitchChanged {
            killswitch: KillSwitch {
                scope: "agent:another".into(),
                on: true,
                reason: "r".into(),
                by: "dave".into(),
                at: at(0),
            },
        },
    );
    assert_eq!(s.selected_scope(), Some("tool:postgres.query"));
    assert_eq!(
        s.switch_rows()[s.selected[View::KillSwitches.index()]].scope,
        "tool:postgres.query"
    );
    key(&mut s, KeyCode::Char(' '));
    match &s.dialog {
        Some(Dialog::Flip(f)) => assert_eq!(f.scope, "tool:postgres.query"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn when_the_selected_row_disappears_the_cursor_takes_its_neighbour() {
    let mut s = live_state();
    // Queue: esc-001, esc-002, esc-003, esc-004 (by deadline).
    key(&mut s, KeyCode::Char('j'));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-002");
    let gone = resolved(
        escalation("esc-002", "db-agent", "postgres.execute", 240),
        EscalationState::Approved,
        0,
    );
    server(
        &mut s,
        ServerMessage::EscalationResolved {
            escalation: Box::new(gone),
        },
    );
    assert_eq!(
        s.selected_escalation().unwrap().id,
        "esc-003",
        "the row that took its place"
    );
    // The last row going: the new last row.
    key(&mut s, KeyCode::Char('G'));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-004");
    let gone = resolved(
        escalation("esc-004", "deployer", "deploy.release", 900),
        EscalationState::Expired,
        0,
    );
    server(
        &mut s,
        ServerMessage::EscalationResolved {
            escalation: Box::new(gone),
        },
    );
    assert_eq!(s.selected_escalation().unwrap().id, "esc-003");
}

#[test]
fn a_filter_keeps_the_selected_item_while_it_matches() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('j'));
    key(&mut s, KeyCode::Char('j'));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-003");
    key(&mut s, KeyCode::Char('/'));
    typed(&mut s, "refund");
    key(&mut s, KeyCode::Enter);
    assert_eq!(s.queue_rows().len(), 2);
    assert_eq!(s.selected_escalation().unwrap().id, "esc-003");
    // Filtered out: the next row shown after it (here the last one before it).
    key(&mut s, KeyCode::Char('/'));
    for _ in 0.."refund".len() {
        key(&mut s, KeyCode::Backspace);
    }
    typed(&mut s, "db-");
    key(&mut s, KeyCode::Enter);
    assert_eq!(s.selected_escalation().unwrap().id, "esc-002");
    key(&mut s, KeyCode::Esc); // clears the filter
    assert!(s.filter.is_empty());
    assert_eq!(s.selected_escalation().unwrap().id, "esc-002");
}

// ---- keys typed ahead -------------------------------------------------------------------------

#[test]
fn keys_typed_into_a_notice_never_reach_the_queue() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('j'));
    key(&mut s, KeyCode::Char('j'));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-003"); // on alice's behalf
    let mut fx = type_all(&mut s, "a");
    assert!(matches!(s.dialog, Some(Dialog::NotYours { .. })));
    // The approver typed on without looking: a reason, with letters that are commands.
    fx.extend(type_all(&mut s, "da fine reason, verified\n"));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(s.dialog.is_none(), "Enter closed the notice, and only that");
    // Only the Budgets tab's read from the start is on its way.
    assert!(s
        .in_flight
        .values()
        .all(|r| matches!(r, gavel::console::state::Request::Usage)));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-003");
}

#[test]
fn a_decision_closed_by_the_server_swallows_the_rest_of_the_typing() {
    let mut s = live_state();
    assert_eq!(s.selected_escalation().unwrap().id, "esc-001");
    key(&mut s, KeyCode::Char('d'));
    typed(&mut s, "dup");
    let mut done = escalation("esc-001", "refund-bot", "stripe.refund", 45);
    done.state = EscalationState::Approved;
    done.resolved_at = Some(at(0));
    done.decisions = vec![decision("esc-001", "carol", Vote::Approve, "ok", 0)];
    server(
        &mut s,
        ServerMessage::EscalationResolved {
            escalation: Box::new(done),
        },
    );
    assert!(matches!(s.dialog, Some(Dialog::Notice { .. })));
    insta::assert_snapshot!(screen(&s, 120, 30));
    let fx = type_all(&mut s, "licate charge, approve it anyway\n");
    assert!(fx.is_empty(), "{fx:?}");
    assert!(s.dialog.is_none());
    assert!(s
        .in_flight
        .values()
        .all(|r| matches!(r, gavel::console::state::Request::Usage)));
}

#[test]
fn help_closes_only_on_purpose() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('?'));
    let fx = type_all(&mut s, "jjd");
    assert!(fx.is_empty() && matches!(s.dialog, Some(Dialog::Help)));
    key(&mut s, KeyCode::Char('?'));
    assert!(s.dialog.is_none());
    assert_eq!(s.selected_escalation().unwrap().id, "esc-001");
}

// ---- bracketed paste --------------------------------------------------------------------------

#[test]
fn pasted_text_goes_into_the_field_and_a_newline_never_sends() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('d'));
    let fx = update(
        &mut s,
        Event::Paste("double charge\r\nsee ticket 17\n\u{1b}[31m".into()),
    );
    assert!(fx.is_empty(), "{fx:?}");
    match &s.dialog {
        Some(Dialog::Decision(d)) => assert_eq!(d.reason, "double charge see ticket 17 [31m"),
        other => panic!("{other:?}"),
    }
    // The flip dialog and the review dialog likewise.
    key(&mut s, KeyCode::Esc);
    view(&mut s, View::KillSwitches);
    key(&mut s, KeyCode::Char('!'));
    let fx = update(&mut s, Event::Paste("runaway\n".into()));
    assert!(fx.is_empty());
    key(&mut s, KeyCode::Tab);
    let fx = update(&mut s, Event::Paste("STOP\n".into()));
    assert!(fx.is_empty());
    match &s.dialog {
        Some(Dialog::Flip(f)) => assert_eq!((&*f.reason, &*f.confirm), ("runaway ", "STOP ")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_paste_with_no_text_field_open_does_nothing() {
    let mut s = live_state();
    let before = s.selected_escalation().unwrap().id.clone();
    let fx = update(&mut s, Event::Paste("d\nlooks wrong\n".into()));
    assert!(fx.is_empty() && s.dialog.is_none());
    assert_eq!(s.selected_escalation().unwrap().id, before);
    // Into the filter it goes, as one line.
    key(&mut s, KeyCode::Char('/'));
    update(&mut s, Event::Paste("refund\n".into()));
    assert_eq!(s.filter, "refund ");
}

// ---- not live ---------------------------------------------------------------------------------

#[test]
fn a_console_that_is_not_live_never_says_the_queue_is_empty() {
    // Before any data.
    let s = State::new("http://127.0.0.1:7878", "alice", t0());
    let text = screen(&s, 120, 20);
    assert!(!text.contains("Nothing waits"), "{text}");
    assert!(text.contains("No data yet"), "{text}");
    // Live with an empty queue: it may say so.
    let mut s = live_state();
    for id in ["esc-001", "esc-002", "esc-003", "esc-004"] {
        let e = resolved(
            escalation(id, "refund-bot", "stripe.refund", 60),
            EscalationState::Expired,
            1,
        );
        server(
            &mut s,
            ServerMessage::EscalationResolved {
                escalation: Box::new(e),
            },
        );
    }
    assert!(screen(&s, 120, 20).contains("Nothing waits for a decision"));
    // Then the connection drops, is refused, or comes back halfway.
    apply(&mut s, Event::Tick(at(30)));
    let lost = ConnEvent::Lost {
        attempt: 1,
        error: "connection reset".into(),
    };
    apply(&mut s, Event::Connection(lost));
    for v in View::ALL {
        view(&mut s, v);
        let text = screen(&s, 120, 20);
        assert!(!text.contains("Nothing waits"), "{text}");
        assert!(text.contains("not live: as of 09:30:30"), "{:?}: {text}", v);
    }
    view(&mut s, View::Queue);
    insta::assert_snapshot!(screen(&s, 120, 20));
    apply(
        &mut s,
        Event::Connection(ConnEvent::Refused {
            reason: "no role".into(),
        }),
    );
    assert!(!screen(&s, 120, 20).contains("Nothing waits"));
}

#[test]
fn a_snapshot_in_parts_is_applied_only_whole() {
    let mut s = State::new("http://127.0.0.1:7878", "alice", t0());
    apply(
        &mut s,
        Event::Server(ServerMessage::Welcome {
            person: me(),
            server: ServerInfo {
                version: "0".into(),
                policy_version: "p1".into(),
            },
        }),
    );
    let part = |n: u32, ids: &[&str]| {
        let mut p = Snapshot::whole(
            ids.iter()
                .map(|id| escalation(id, "refund-bot", "stripe.refund", 60))
                .collect(),
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        p.part = n;
        p.parts = 2;
        ServerMessage::Snapshot(Box::new(p))
    };
    server(&mut s, part(1, &["esc-a", "esc-b"]));
    assert!(s.pending.is_empty() && !s.resynced);
    assert!(screen(&s, 120, 20).contains("receiving the server's state (1 of 2 parts)"));
    server(&mut s, part(2, &["esc-c"]));
    assert_eq!(s.pending.len(), 3);
    assert_eq!(s.connection, gavel::console::state::Connection::Live);
}

// ---- kill switches ----------------------------------------------------------------------------

#[test]
fn the_flip_dialog_says_how_many_pending_escalations_it_cancels() {
    let mut s = live_state();
    view(&mut s, View::KillSwitches);
    let pos = s
        .switch_rows()
        .iter()
        .position(|r| r.scope == "agent:refund-bot")
        .unwrap();
    for _ in 0..pos {
        key(&mut s, KeyCode::Char('j'));
    }
    key(&mut s, KeyCode::Char(' '));
    assert_eq!(s.cancels_if_on("agent:refund-bot"), 2); // esc-001 and esc-003
    let text = screen(&s, 140, 24);
    assert!(
        text.contains("It cancels the 2 pending escalations in this scope."),
        "{text}"
    );
    insta::assert_snapshot!(text);
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Char('!'));
    assert!(screen(&s, 140, 24).contains("It cancels the 4 pending escalations"));
}

#[test]
fn kill_switch_rows_stay_bounded_however_many_tools_agents_send() {
    let mut s = live_state();
    for i in 0..500 {
        server(
            &mut s,
            ServerMessage::Action {
                action: summary("refund-bot", &format!("tool-{i:03}"), Effect::Deny, i),
            },
        );
    }
    let rows = s.switch_rows();
    let tools = rows.iter().filter(|r| r.scope.starts_with("tool:")).count();
    // The switched scope agent:mailer is also a roster agent; no tool is switched.
    assert_eq!(tools, RECENT_TOOLS_CAP);
    assert_eq!(rows.len(), 1 + 3 + RECENT_TOOLS_CAP);
    assert!(rows.iter().any(|r| r.scope == "tool:tool-499"));
    assert!(!rows.iter().any(|r| r.scope == "tool:tool-000"));
}

// ---- arguments left out of the stream ---------------------------------------------------------

fn big(id: &str) -> Escalation {
    let mut e = escalation(id, "refund-bot", "stripe.refund", 300);
    e.action.args = json!("<elided: 250123 bytes>");
    e.elided = vec![Elided {
        field: "action.args".into(),
        bytes: 250_123,
    }];
    e
}

#[test]
fn an_escalation_whose_arguments_were_left_out_is_signed_only_once_they_are_shown() {
    let mut s = live_state();
    let fx = server(
        &mut s,
        ServerMessage::EscalationCreated {
            escalation: Box::new(big("esc-big")),
        },
    );
    assert!(fx.iter().all(|e| !matches!(e, Command::Fetch { .. })));
    let text = screen(&s, 140, 36);
    assert!(text.contains("⋯244K"), "{text}");
    // Selecting it fetches the whole escalation, once.
    let pos = s
        .queue_rows()
        .iter()
        .position(|&i| s.pending[i].id == "esc-big");
    let mut fx = Vec::new();
    for _ in 0..pos.unwrap() {
        fx.extend(type_all(&mut s, "j"));
    }
    let fetches: Vec<u64> = fx
        .iter()
        .filter_map(|e| match e {
            Command::Fetch {
                request,
                escalation,
            } if escalation == "esc-big" => Some(*request),
            _ => None,
        })
        .collect();
    assert_eq!(fetches.len(), 1, "{fx:?}");
    key(&mut s, KeyCode::Enter);
    insta::assert_snapshot!("args_left_out_detail", screen(&s, 100, 40));
    key(&mut s, KeyCode::Esc);
    // Approving before they are here signs nothing.
    let fx = type_all(&mut s, "averified the refund\n");
    assert!(
        fx.iter().all(|e| !matches!(e, Command::Decide { .. })),
        "{fx:?}"
    );
    insta::assert_snapshot!("args_left_out_approve", screen(&s, 100, 30));
    // The whole escalation arrives.
    let mut whole = escalation("esc-big", "refund-bot", "stripe.refund", 300);
    whole.action.args = json!({"amount": 1500.0, "blob": "x".repeat(250_000)});
    apply(
        &mut s,
        Event::Reply {
            request: fetches[0],
            result: Ok(Reply::Escalation(Box::new(whole))),
        },
    );
    let shown = s.pending.iter().find(|e| e.id == "esc-big").unwrap();
    assert!(shown.elided.is_empty());
    assert_eq!(shown.action.args["blob"].as_str().unwrap().len(), 250_000);
    // The dialog was opened on the partial copy: still no signature from it.
    let fx = type_all(&mut s, "\n");
    assert!(fx.iter().all(|e| !matches!(e, Command::Decide { .. })));
    // Closed, read, decided again: the reason is kept and now it signs the whole action.
    key(&mut s, KeyCode::Esc);
    let fx = type_all(&mut s, "a\n");
    match &fx[..] {
        [Command::Decide {
            escalation, reason, ..
        }] => {
            assert!(escalation.elided.is_empty());
            assert_eq!(reason, "verified the refund");
        }
        other => panic!("{other:?}"),
    }
    // A later vote arrives as a partial copy again: the whole arguments stay.
    server(
        &mut s,
        ServerMessage::EscalationUpdated {
            escalation: Box::new(big("esc-big")),
        },
    );
    let shown = s.pending.iter().find(|e| e.id == "esc-big").unwrap();
    assert!(shown.elided.is_empty() && shown.action.args["blob"].is_string());
}
