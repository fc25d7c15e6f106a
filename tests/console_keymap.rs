//! The keymap as people meet it: hints on screen come from the active keymap (a rebind changes
//! them), a conflicting user keymap is refused at start with its file and line, and the help
//! lists every binding and scrolls so each can be read at 80×24.

mod console_fixtures;

use std::process::Command;

use crossterm::event::KeyCode;

use console_fixtures::*;
use gavel::console::dialog::Dialog;
use gavel::console::event::Event;
use gavel::console::keymap::{Keymap, Section};
use gavel::console::state::State;

/// The console's keymap with `user` written as `<config dir>/keymap.toml`, loaded as at start.
fn keymap_with(user: &str) -> Keymap {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keymap.toml"), user).unwrap();
    gavel::console::keymap_file::load(dir.path()).unwrap()
}

#[test]
fn a_rebind_changes_the_hints_in_the_views() {
    let mut s = live_state();
    let before = screen(&s, 160, 50);
    assert!(
        before.contains("you may decide this (a approve · d deny)"),
        "{before}"
    );
    assert!(before.contains("│ ? help"), "{before}");
    s.keymap = keymap_with(
        "[[queue]]\non = [\"y\"]\nrun = \"approve\"\n\n[[queue]]\non = [\"n\"]\nrun = \"deny\"\n\n\
         [[queue]]\non = [\"N\"]\nrun = \"next_mine\"\n\n[[global]]\non = [\"f1\"]\nrun = \"help\"\n\n\
         [[killswitches]]\non = [\"t\"]\nrun = \"toggle\"\n\n[[dialog]]\non = [\"ctrl-s\"]\nrun = \"confirm\"\n",
    );
    let after = screen(&s, 160, 50);
    assert!(
        after.contains("you may decide this (y approve · n deny)"),
        "{after}"
    );
    assert!(after.contains("│ F1 help"), "{after}");
    assert!(!after.contains("a approve"), "{after}");
    // The key really does what the hint says.
    key(&mut s, KeyCode::Char('n'));
    assert!(
        matches!(s.dialog, Some(Dialog::Decision(_))),
        "{:?}",
        s.dialog
    );
    let dialog = screen(&s, 160, 50);
    assert!(dialog.contains("Ctrl-s send · Esc cancel"), "{dialog}");
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Tab);
    key(&mut s, KeyCode::Tab);
    let switches = screen(&s, 160, 50);
    assert!(
        switches.contains("t flip · ! stop everything"),
        "{switches}"
    );
    key(&mut s, KeyCode::BackTab);
    key(&mut s, KeyCode::BackTab);
    insta::assert_snapshot!("rebound_queue_80x24", screen(&s, 80, 24));
}

#[test]
fn a_conflicting_keymap_is_refused_at_start_with_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    std::fs::create_dir_all(config.join("gavel")).unwrap();
    let keymap = config.join("gavel").join("keymap.toml");
    std::fs::write(
        &keymap,
        "# swap approve onto d, forgetting deny\n[[queue]]\non = [\"d\"]\nrun = \"approve\"\n",
    )
    .unwrap();
    let key = home.path().join("alice.key");
    let gavel = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(args)
            .env_remove("GAVEL_CONFIG")
            .env_remove("GAVEL_SERVER")
            .env_remove("GAVEL_KEY")
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", &config)
            .output()
            .unwrap()
    };
    let out = gavel(&["keygen", "--id", "alice", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let out = gavel(&[
        "console",
        "--server",
        "http://127.0.0.1:9",
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3: queue.on: ", keymap.display())),
        "{err}"
    );
    assert!(err.contains("`d` would run both approve and deny"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// The help opened on a `w`×`h` screen.
fn help_at(s: &mut State, w: u16, h: u16) -> String {
    apply(
        s,
        Event::Screen {
            width: w,
            height: h,
        },
    );
    key(s, KeyCode::Char('?'));
    assert_eq!(s.dialog, Some(Dialog::Help));
    screen(s, w, h)
}

#[test]
fn help_scrolls_and_every_binding_can_be_read_at_80x24() {
    let mut s = live_state();
    let top = help_at(&mut s, 80, 24);
    insta::assert_snapshot!("help_80x24_top", top);
    assert!(top.contains("▼"), "{top}");
    // Scroll to the end one row at a time, collecting what was on screen.
    let mut seen = top.clone();
    let mut last = top;
    for _ in 0..200 {
        key(&mut s, KeyCode::Char('j'));
        let now = screen(&s, 80, 24);
        if now == last {
            break;
        }
        seen.push_str(&now);
        last = now;
    }
    insta::assert_snapshot!("help_80x24_bottom", last);
    assert!(last.contains("▼ 0 more"), "{last}");
    assert!(last.contains("Rebind keys in"), "{last}");
    for section in Section::ALL {
        for b in s.keymap.bindings(section) {
            let start: String = b.desc.chars().take(40).collect();
            assert!(seen.contains(&start), "never shown: {start}");
        }
    }
    // G and g jump to the ends; the help is still open and the queue untouched.
    key(&mut s, KeyCode::Char('g'));
    assert_eq!(s.help_scroll, 0);
    key(&mut s, KeyCode::Char('G'));
    assert_eq!(screen(&s, 80, 24), last);
    // The wheel scrolls it too.
    let before = s.help_scroll;
    wheel(&mut s, false, 10, 10);
    assert_eq!(s.help_scroll, before - 3);
    assert_eq!(s.selected_escalation().unwrap().id, "esc-001");
    key(&mut s, KeyCode::Esc);
    assert_eq!(s.dialog, None);
}

#[test]
fn help_at_160x50() {
    let mut s = live_state();
    let text = help_at(&mut s, 160, 50);
    insta::assert_snapshot!("help_160x50", text);
}

fn wheel(s: &mut State, down: bool, column: u16, row: u16) {
    use crossterm::event::{KeyModifiers, MouseEvent, MouseEventKind};
    apply(
        s,
        Event::Mouse(MouseEvent {
            kind: if down {
                MouseEventKind::ScrollDown
            } else {
                MouseEventKind::ScrollUp
            },
            column,
            row,
            modifiers: KeyModifiers::NONE,
        }),
    );
}
