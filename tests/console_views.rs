//! Snapshot tests of the console's views: ratatui's TestBackend + insta. The clock is fixed in
//! the state and every fixture uses fixed times and ids, so nothing volatile reaches a snapshot;
//! the theme snapshots record colours as text, since a plain buffer dump would hide them.

mod console_fixtures;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use serde_json::json;

use console_fixtures::*;
use gavel::console::command::Command;
use gavel::console::dialog::Dialog;
use gavel::console::event::{ConnEvent, Event, RequestError};
use gavel::console::state::{State, View};
use gavel::console::theme::Theme;
use gavel::console::update::update;
use gavel::protocol::*;

#[test]
fn queue() {
    let s = live_state();
    insta::assert_snapshot!(screen(&s, 140, 36));
}

#[test]
fn queue_narrow_terminal() {
    let s = live_state();
    insta::assert_snapshot!(screen(&s, 90, 40));
}

#[test]
fn detail_with_three_prior_calls() {
    let mut s = live_state();
    key(&mut s, KeyCode::Enter);
    assert!(s.detail_open);
    insta::assert_snapshot!(screen(&s, 100, 50));
}

#[test]
fn not_yours_escalation() {
    let mut s = live_state();
    // esc-003 is on alice's own behalf: third by deadline.
    key(&mut s, KeyCode::Char('j'));
    key(&mut s, KeyCode::Char('j'));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-003");
    key(&mut s, KeyCode::Char('a'));
    assert!(matches!(s.dialog, Some(Dialog::NotYours { .. })));
    insta::assert_snapshot!(screen(&s, 140, 36));
}

#[test]
fn deny_confirmation() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('d'));
    key(&mut s, KeyCode::Enter); // empty reason: refused locally
    typed(&mut s, "amount does not match the ticket");
    insta::assert_snapshot!(screen(&s, 140, 36));
}

#[test]
fn deny_without_reason_is_refused_locally() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('d'));
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert!(fx.is_empty());
    insta::assert_snapshot!(screen(&s, 140, 36));
}

#[test]
fn refused_decision_shows_the_server_reason() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('a'));
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    let request = match &fx[..] {
        [Command::Decide { request, .. }] => *request,
        other => panic!("{other:?}"),
    };
    apply(
        &mut s,
        Event::Reply {
            request,
            result: Err(RequestError {
                code: "expired".into(),
                message: "the deadline passed at 09:30:45".into(),
            }),
        },
    );
    insta::assert_snapshot!(screen(&s, 140, 36));
}

#[test]
fn flagged_view() {
    let mut s = live_state();
    key(&mut s, KeyCode::Tab);
    insta::assert_snapshot!(screen(&s, 140, 36));
}

#[test]
fn kill_switches() {
    let mut s = live_state();
    key(&mut s, KeyCode::Tab);
    key(&mut s, KeyCode::Tab);
    insta::assert_snapshot!(screen(&s, 140, 24));
}

#[test]
fn global_kill_switch_asks_for_a_word() {
    let mut s = live_state();
    key(&mut s, KeyCode::Tab);
    key(&mut s, KeyCode::Tab);
    key(&mut s, KeyCode::Char('!'));
    typed(&mut s, "runaway agents");
    key(&mut s, KeyCode::Enter); // no confirmation word yet
    insta::assert_snapshot!(screen(&s, 140, 24));
}

#[test]
fn history() {
    let mut s = live_state();
    // Back from the queue, whatever views come after History.
    while s.view != View::History {
        key(&mut s, KeyCode::BackTab);
    }
    insta::assert_snapshot!(screen(&s, 140, 20));
}

#[test]
fn help() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('?'));
    insta::assert_snapshot!(screen(&s, 140, 48));
}

#[test]
fn offline() {
    let mut s = live_state();
    apply(
        &mut s,
        Event::Connection(ConnEvent::Lost {
            attempt: 1,
            error: "connection reset".into(),
        }),
    );
    apply(&mut s, Event::Tick(at(5)));
    apply(&mut s, Event::Connection(ConnEvent::Connecting));
    apply(
        &mut s,
        Event::Connection(ConnEvent::Lost {
            attempt: 2,
            error: "connection refused".into(),
        }),
    );
    insta::assert_snapshot!(screen(&s, 140, 36));
}

#[test]
fn reconnecting_to_the_next_replica() {
    let mut s = live_state();
    s.replicas = 3;
    apply(
        &mut s,
        Event::Connection(ConnEvent::Lost {
            attempt: 1,
            error: "gavel-a.example:7878: connection reset".into(),
        }),
    );
    apply(
        &mut s,
        Event::Connection(ConnEvent::Server {
            index: 1,
            url: "https://gavel-b.example:7878".into(),
        }),
    );
    apply(&mut s, Event::Connection(ConnEvent::Connecting));
    insta::assert_snapshot!(screen(&s, 140, 16));
}

#[test]
fn live_on_a_replica() {
    let mut s = State::new("https://gavel-a.example:7878", "alice", t0());
    s.replicas = 2;
    apply(
        &mut s,
        Event::Connection(ConnEvent::Server {
            index: 1,
            url: "https://gavel-b.example:7878".into(),
        }),
    );
    let live = live_state();
    s.connection = live.connection.clone();
    s.me = live.me.clone();
    s.resynced = true;
    insta::assert_snapshot!(screen(&s, 140, 16));
}

#[test]
fn connecting_before_welcome() {
    let s = State::new("http://127.0.0.1:7878", "alice", t0());
    insta::assert_snapshot!(screen(&s, 100, 16));
}

#[test]
fn hostile_strings_render_inert() {
    let mut s = live_state();
    let mut e = escalation(
        "esc-evil",
        "evil\x1b[2J-bot",
        "shell\x1b]0;pwned\x07.exec",
        30,
    );
    e.action.args = json!({"cmd": "rm -rf / \x1b[8m hidden \x1b[0m", "\x1b[31mkey": ["\u{9b}31m", "\u{202e}txt.exe"]});
    e.action.rationale =
        Some("trust me\r\n\x1b]8;;http://evil\x07click\x1b]8;;\x07\n\tsecond line".into());
    e.rule.reason = "reason \x1b[5m".into();
    e.history[0].args = json!({"q": "\x1b[1A\x1b[2K"});
    apply(
        &mut s,
        Event::Server(ServerMessage::EscalationCreated {
            escalation: Box::new(e),
        }),
    );
    key(&mut s, KeyCode::Char('g'));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-evil");
    let list = screen(&s, 160, 36);
    key(&mut s, KeyCode::Enter);
    let detail = screen(&s, 120, 60);
    for text in [&list, &detail] {
        assert!(!text.contains('\x1b') && !text.contains('\u{9b}') && !text.contains('\u{202e}'));
    }
    assert!(list.contains("evil\\x1b[2J-bot"), "{list}");
    assert!(detail.contains("\\u001b[8m hidden"), "{detail}");
    assert!(
        detail.contains("\\x1b]8;;http://evil\\x07click"),
        "{detail}"
    );
    insta::assert_snapshot!(detail);
}

#[test]
fn ten_thousand_pending_render_quickly() {
    let mut s = live_state();
    let many: Vec<Escalation> = (0..10_000)
        .map(|i| {
            escalation(
                &format!("esc-{i:05}"),
                "refund-bot",
                "stripe.refund",
                60 + i,
            )
        })
        .collect();
    let snapshot = Snapshot {
        escalations: many,
        flagged: vec![],
        killswitches: vec![],
        history: vec![],
        agents: vec![],
        activity: vec![],
        grants: vec![],
        part: 1,
        parts: 1,
    };
    apply(
        &mut s,
        Event::Server(ServerMessage::Snapshot(Box::new(snapshot))),
    );
    key(&mut s, KeyCode::Char('G'));
    let start = std::time::Instant::now();
    for i in 0..10 {
        apply(&mut s, Event::Tick(at(i)));
        render(&s, 160, 50);
    }
    let per_frame = start.elapsed() / 10;
    eprintln!("{per_frame:?} per frame with 10,000 pending");
    assert_eq!(s.selected_escalation().unwrap().id, "esc-09999");
    // Generous for debug builds on a loaded 2-core CI box; a release build is far below.
    assert!(
        per_frame < std::time::Duration::from_millis(250),
        "{per_frame:?} per frame"
    );
}

/// Colours as text: each run of cells with the same style on a few rows.
fn styled_runs(b: &Buffer, rows: &[u16]) -> String {
    let mut out = String::new();
    for &y in rows {
        let mut run = String::new();
        let mut style = None;
        for x in 0..b.area.width {
            let c = &b[(x, y)];
            let st = (c.fg, c.bg, c.modifier);
            if style != Some(st) {
                if let Some((fg, bg, m)) = style {
                    if !run.trim().is_empty() {
                        out.push_str(&format!("{:?}/{:?}/{:?}: {}\n", fg, bg, m, run.trim()));
                    }
                }
                run.clear();
                style = Some(st);
            }
            run.push_str(c.symbol());
        }
        if let Some((fg, bg, m)) = style {
            if !run.trim().is_empty() {
                out.push_str(&format!("{:?}/{:?}/{:?}: {}\n", fg, bg, m, run.trim()));
            }
        }
    }
    out
}

#[test]
fn each_theme() {
    for name in ["dark", "light", "high-contrast"] {
        let mut s = live_state();
        s.theme = Theme::built_in(name).unwrap();
        let term = render(&s, 140, 36);
        // Tabs, the header and the first rows of the queue (urgent, soon, calm), the status bar.
        let runs = styled_runs(term.backend().buffer(), &[0, 2, 3, 4, 5, 35]);
        insta::assert_snapshot!(format!("theme_{name}"), runs);
    }
}

#[test]
fn quit_asks_when_a_decision_is_half_typed() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('a'));
    typed(&mut s, "looks right");
    key(&mut s, KeyCode::Esc);
    assert!(s.dialog.is_none() && s.stashed.is_some());
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)),
    );
    assert!(fx.is_empty() && !s.quit && s.pending_quit);
    insta::assert_snapshot!(screen(&s, 140, 36));
    key(&mut s, KeyCode::Char('n'));
    assert!(!s.quit && !s.pending_quit);
    // The draft resumes where it was.
    key(&mut s, KeyCode::Char('a'));
    match &s.dialog {
        Some(Dialog::Decision(d)) => assert_eq!(d.reason, "looks right"),
        other => panic!("{other:?}"),
    }
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Char('q'));
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)),
    );
    assert!(s.quit);
    assert_eq!(fx, vec![Command::Quit]);
}

#[test]
fn q_quits_at_once_when_nothing_is_typed() {
    let mut s = live_state();
    let fx = update(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)),
    );
    assert!(s.quit);
    assert_eq!(fx, vec![Command::Quit]);
}

#[test]
fn arrivals_do_not_move_the_cursor() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('j'));
    let before = s.selected_escalation().unwrap().id.clone();
    let sooner = escalation("esc-new", "mailer", "email.send", 5);
    apply(
        &mut s,
        Event::Server(ServerMessage::EscalationCreated {
            escalation: Box::new(sooner),
        }),
    );
    assert_eq!(s.pending[0].id, "esc-new", "soonest deadline first");
    assert_eq!(s.selected_escalation().unwrap().id, before);
}

#[test]
fn deadline_under_a_minute_notifies_once() {
    let mut s = live_state();
    let fx = update(&mut s, Event::Tick(at(1)));
    // esc-001 (yours, 44 s left) warns; esc-003 (not yours) does not.
    let notes = fx
        .iter()
        .filter(|e| matches!(e, Command::Notify { .. }))
        .count();
    assert_eq!(notes, 1, "{fx:?}");
    assert!(fx.contains(&Command::Bell));
    assert!(update(&mut s, Event::Tick(at(2))).is_empty());
}

#[test]
fn a_burst_of_ten_thousand_arrivals_is_absorbed() {
    let mut s = live_state();
    let start = std::time::Instant::now();
    for i in 0..10_000 {
        let e = escalation(
            &format!("esc-b{i:05}"),
            "refund-bot",
            "stripe.refund",
            60 + (i * 7919) % 10_000,
        );
        apply(
            &mut s,
            Event::Server(ServerMessage::EscalationCreated {
                escalation: Box::new(e),
            }),
        );
    }
    let took = start.elapsed();
    assert_eq!(s.pending.len(), 10_004);
    assert!(
        s.pending.windows(2).all(|w| w[0].deadline <= w[1].deadline),
        "sorted by deadline"
    );
    eprintln!("10,000 arrivals applied in {took:?}");
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}

#[test]
fn escalations_missed_while_reconnecting_notify_once() {
    let mut s = live_state();
    apply(
        &mut s,
        Event::Connection(ConnEvent::Lost {
            attempt: 1,
            error: "reset".into(),
        }),
    );
    let mut snap = Snapshot {
        escalations: s.pending.iter().map(|e| (**e).clone()).collect(),
        flagged: vec![],
        killswitches: vec![],
        history: vec![],
        agents: vec![],
        activity: vec![],
        grants: vec![],
        part: 1,
        parts: 1,
    };
    snap.escalations
        .push(escalation("esc-missed", "refund-bot", "stripe.refund", 400));
    let fx = update(
        &mut s,
        Event::Server(ServerMessage::Snapshot(Box::new(snap.clone()))),
    );
    let bodies: Vec<&String> = fx
        .iter()
        .filter_map(|e| match e {
            Command::Notify { body, .. } => Some(body),
            _ => None,
        })
        .collect();
    assert_eq!(bodies.len(), 1, "{fx:?}");
    assert!(bodies[0].starts_with("1 arrived"), "{}", bodies[0]);
    assert_eq!(s.connection, gavel::console::state::Connection::Live);
    // The same snapshot again is no news.
    assert!(update(
        &mut s,
        Event::Server(ServerMessage::Snapshot(Box::new(snap)))
    )
    .is_empty());
}

#[test]
fn global_stop_shows_on_every_row() {
    let mut s = live_state();
    apply(
        &mut s,
        Event::Server(ServerMessage::KillSwitchChanged {
            killswitch: KillSwitch {
                scope: "global".into(),
                on: true,
                reason: "runaway agents".into(),
                by: "alice".into(),
                at: at(-5),
            },
        }),
    );
    key(&mut s, KeyCode::Tab);
    key(&mut s, KeyCode::Tab);
    insta::assert_snapshot!(screen(&s, 140, 16));
}

#[test]
fn n_jumps_to_the_next_escalation_you_may_decide() {
    let mut s = live_state();
    // Queue: esc-001 (yours), esc-002 (yours), esc-003 (requester), esc-004 (other group).
    key(&mut s, KeyCode::Char('n'));
    assert_eq!(s.selected_escalation().unwrap().id, "esc-002");
    key(&mut s, KeyCode::Char('n'));
    assert_eq!(
        s.selected_escalation().unwrap().id,
        "esc-001",
        "wraps around"
    );
}

#[test]
fn tiny_terminals_do_not_panic() {
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (60, 12)] {
        for view_tabs in 0..4 {
            let mut s = live_state();
            for _ in 0..view_tabs {
                key(&mut s, KeyCode::Tab);
            }
            render(&s, w, h);
            key(&mut s, KeyCode::Enter);
            render(&s, w, h);
            key(&mut s, KeyCode::Esc);
            key(&mut s, KeyCode::Char('?'));
            render(&s, w, h);
            key(&mut s, KeyCode::Esc);
            key(&mut s, KeyCode::Char('d'));
            key(&mut s, KeyCode::Char('!'));
            render(&s, w, h);
        }
    }
}
