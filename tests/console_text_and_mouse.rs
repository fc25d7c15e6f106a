//! Text fields that edit like text, and the mouse, end to end: the console headless against a
//! real server (loopback HTTP and WebSocket, real signatures), fed the same crossterm key and
//! mouse events a terminal produces. What the server stores is the proof.

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use common::console::*;
use common::{Env, POLICY};
use gavel::console::dialog::Dialog;
use gavel::console::driver::Driver;
use gavel::console::event::Event;
use gavel::console::state::View;
use gavel::console::views;
use gavel::protocol::Verdict;

fn chord(d: &mut Driver, code: KeyCode, modifiers: KeyModifiers) {
    d.apply(Event::Key(KeyEvent::new(code, modifiers)));
}

fn mouse(d: &mut Driver, kind: MouseEventKind, column: u16, row: u16) {
    d.apply(Event::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }));
}

fn click(d: &mut Driver, column: u16, row: u16) {
    mouse(d, MouseEventKind::Down(MouseButton::Left), column, row);
}

/// The screen as a person sees it, one string per row.
fn screen_rows(d: &Driver, w: u16, h: u16) -> Vec<String> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| views::render(f, &d.state)).unwrap();
    let b = term.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| b[(x, y)].symbol()).collect())
        .collect()
}

/// Three escalations on the queue, seen by alice's console.
async fn three_pending(env: &Env) -> (Driver, Vec<String>) {
    let mut c = console(env).await;
    let mut ids = Vec::new();
    for amount in [1500.0, 2500.0, 3500.0] {
        ids.push(refund(env, amount).await.escalation.unwrap());
    }
    c.wait_for("three escalations", WAIT, |s| s.pending.len() == 3)
        .await
        .unwrap();
    (c, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_reason_reaches_the_server_exactly() {
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    let out = refund(&env, 2400.0).await;
    let esc = out.escalation.clone().unwrap();
    let waiting = wait_final(&env, "refund-bot", &out.id);
    shows_pending(&mut c, &esc).await;
    select(&mut c, &esc);
    c.press(KeyCode::Char('d'));
    let reason = |c: &Driver| match &c.state.dialog {
        Some(Dialog::Decision(d)) => (d.reason.value().to_string(), d.reason.cursor()),
        other => panic!("no decision dialog: {other:?}"),
    };
    c.type_text("refunded twice already");
    c.press(KeyCode::Home);
    c.type_text("order ");
    assert_eq!(reason(&c), ("order refunded twice already".into(), 6));
    c.press(KeyCode::End);
    chord(&mut c, KeyCode::Char('w'), KeyModifiers::CONTROL);
    assert_eq!(reason(&c).0, "order refunded twice ");
    chord(&mut c, KeyCode::Backspace, KeyModifiers::ALT);
    assert_eq!(reason(&c).0, "order refunded ");
    c.type_text("by hamd");
    c.press(KeyCode::Left);
    c.press(KeyCode::Backspace);
    c.type_text("n");
    c.press(KeyCode::Home);
    for _ in 0.."order".len() {
        c.press(KeyCode::Right);
    }
    c.type_text(" was");
    c.press(KeyCode::Delete); // the space after "was"…
    c.type_text(" "); // …put back
    c.press(KeyCode::End);
    // Pasted text goes in at the cursor, as one line.
    c.apply(Event::Paste(" (ticket\r\n17)".into()));
    assert_eq!(
        reason(&c).0,
        "order was refunded by hand (ticket 17)",
        "edited as typed"
    );
    // The cursor is drawn where the next character goes: after the text, reversed.
    let rows = screen_rows(&c, 100, 30);
    assert!(
        rows.iter()
            .any(|r| r.contains("> order was refunded by hand (ticket 17) ")),
        "{rows:#?}"
    );
    c.press(KeyCode::Enter);
    c.wait_for("the acknowledgement", WAIT, |s| s.in_flight.is_empty())
        .await
        .unwrap();
    let final_ = outcome(waiting).await;
    assert_eq!(final_.verdict, Verdict::Deny);
    let stored = env.escalation(&esc).await;
    assert_eq!(stored.decisions.len(), 1);
    assert_eq!(
        stored.decisions[0].body.reason,
        "order was refunded by hand (ticket 17)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_selects_the_row_under_it_and_the_decision_is_on_that_row() {
    let env = Env::start(POLICY).await;
    let (mut c, _) = three_pending(&env).await;
    let (w, h) = (80, 24);
    c.apply(Event::Screen {
        width: w,
        height: h,
    });
    assert_eq!(c.state.selected[0], 0);
    // The third row as drawn: find it on screen, click it.
    let rows = screen_rows(&c, w, h);
    let marked = rows.iter().position(|r| r.contains("» ")).unwrap();
    let third = marked + 2;
    click(&mut c, 20, third as u16);
    assert_eq!(c.state.selected[0], 2);
    let rows = screen_rows(&c, w, h);
    assert!(rows[third].contains("» "), "{rows:#?}");
    let clicked = c.state.selected_escalation().unwrap().id.clone();
    assert_eq!(clicked, c.state.pending[c.state.queue_rows()[2]].id);
    // A click on the header or a border selects nothing.
    click(&mut c, 20, (marked - 1) as u16);
    assert_eq!(c.state.selected[0], 2);
    // The decision goes to the escalation that was clicked.
    c.press(KeyCode::Char('a'));
    c.type_text("clicked");
    c.press(KeyCode::Enter);
    c.wait_for("the acknowledgement", WAIT, |s| s.in_flight.is_empty())
        .await
        .unwrap();
    let stored = env.escalation(&clicked).await;
    assert_eq!(stored.decisions.len(), 1);
    assert_eq!(stored.decisions[0].body.reason, "clicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wheel_scrolls_lists_and_the_detail_and_tabs_switch_views() {
    let env = Env::start(POLICY).await;
    let (mut c, _) = three_pending(&env).await;
    let (w, h) = (80, 24);
    c.apply(Event::Screen {
        width: w,
        height: h,
    });
    mouse(&mut c, MouseEventKind::ScrollDown, 20, 4);
    mouse(&mut c, MouseEventKind::ScrollDown, 20, 4);
    assert_eq!(c.state.selected[0], 2);
    mouse(&mut c, MouseEventKind::ScrollUp, 20, 4);
    assert_eq!(c.state.selected[0], 1);
    // A click on the detail opens it; the wheel then scrolls it, not the list.
    let rows = screen_rows(&c, w, h);
    let detail = rows
        .iter()
        .position(|r| r.contains("┌ Escalation "))
        .unwrap();
    click(&mut c, 20, detail as u16 + 2);
    assert!(c.state.detail_open);
    mouse(&mut c, MouseEventKind::ScrollDown, 20, 10);
    assert_eq!(c.state.detail_scroll, 3);
    assert_eq!(c.state.selected[0], 1);
    let rows = screen_rows(&c, w, h);
    assert!(
        rows.iter()
            .any(|r| r.contains("scroll up") || r.contains("more lines")),
        "{rows:#?}"
    );
    // The History tab, clicked where it is drawn, then the Queue tab.
    let tab = |rows: &[String], name: &str| {
        let at = rows[0].find(name).unwrap();
        rows[0][..at].chars().count() as u16 + 2
    };
    click(&mut c, tab(&rows, "Hist"), 0);
    assert_eq!(c.state.view, View::History);
    assert!(!c.state.detail_open);
    click(&mut c, tab(&rows, "Queue"), 0);
    assert_eq!(c.state.view, View::Queue);
    // With a dialog open the mouse changes nothing beneath it.
    c.press(KeyCode::Char('d'));
    assert!(c.state.dialog.is_some());
    let before = c.state.selected[0];
    mouse(&mut c, MouseEventKind::ScrollDown, 20, 4);
    click(&mut c, 20, 0);
    assert_eq!(c.state.selected[0], before);
    assert_eq!(c.state.view, View::Queue);
}
