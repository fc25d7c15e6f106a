//! The mouse: a click on a list row selects it, on a view's tab switches to it, on the detail
//! opens it; the wheel scrolls the list, the open detail or the help. Part of `update`. What is
//! under the pointer is the views' own geometry (`views::hit`), so a click lands on what is drawn.
//! With a dialog open the mouse does nothing: a click never changes what lies beneath it.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

use super::command::Command;
use super::dialog::Dialog;
use super::keymap::Action;
use super::keys::on_action;
use super::scroll::help_wheel;
use super::selection::move_to;
use super::state::{State, View};
use super::views::hit::{target_at, Target};

/// Rows of text one wheel notch scrolls (a list moves its cursor one row per notch).
const WHEEL_ROWS: i32 = 3;

pub(super) fn on_mouse(s: &mut State, m: MouseEvent, fx: &mut Vec<Command>) {
    if s.pending_quit {
        return;
    }
    let wheel = match m.kind {
        MouseEventKind::ScrollDown => Some(1),
        MouseEventKind::ScrollUp => Some(-1),
        _ => None,
    };
    match &s.dialog {
        Some(Dialog::Help) => {
            if let Some(dir) = wheel {
                help_wheel(s, dir * WHEEL_ROWS);
            }
            return;
        }
        Some(_) => return,
        None => {}
    }
    if let Some(dir) = wheel {
        let action = if dir > 0 { Action::Down } else { Action::Up };
        let detail = s.detail_open && s.view != View::KillSwitches;
        for _ in 0..if detail { WHEEL_ROWS } else { 1 } {
            on_action(s, action, fx);
        }
        return;
    }
    if m.kind != MouseEventKind::Down(MouseButton::Left) {
        return;
    }
    let Some(screen) = s.screen else { return };
    match target_at(s, screen, m.column, m.row) {
        Target::Tab(v) if v != s.view => {
            s.view = v;
            s.detail_open = false;
            s.detail_scroll = 0;
        }
        Target::Row(i) => move_to(s, i),
        Target::Detail if !s.detail_open => on_action(s, Action::Open, fx),
        _ => {}
    }
}
