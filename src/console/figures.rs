//! The Metrics view's fetches, part of `update`: the governance figures of the chosen window
//! asked for when the view is entered, when the window changes and on the refresh key; an
//! answer to anything but the latest request is dropped, so a slow answer for the old window
//! never shows under the new one's name.

use crate::protocol::{GovernanceFigures, FIGURE_WINDOWS};

use super::command::Command;
use super::keymap::Action;
use super::state::{Request, State, View};

/// After every event: entering the view fetches its figures.
pub(super) fn keep_loaded(s: &mut State, fx: &mut Vec<Command>) {
    let shown = s.view == View::Metrics;
    if shown && !s.figures.shown {
        fetch(s, fx);
    }
    s.figures.shown = shown;
}

/// Asks for the current window's figures (again).
pub(super) fn fetch(s: &mut State, fx: &mut Vec<Command>) {
    let request = s.next_request;
    s.next_request += 1;
    if let Some(old) = s.figures.loading.replace(request) {
        s.in_flight.remove(&old);
    }
    s.in_flight.insert(request, Request::Figures);
    s.figures.error = None;
    fx.push(Command::Figures {
        request,
        window: s.figures.window().to_string(),
    });
}

/// `[` and `]`: the next shorter or longer window, fetched at once.
pub(super) fn change_window(s: &mut State, action: Action, fx: &mut Vec<Command>) {
    if s.view != View::Metrics {
        return;
    }
    let last = FIGURE_WINDOWS.len() - 1;
    let next = match action {
        Action::ShorterWindow => s.figures.window.saturating_sub(1),
        _ => (s.figures.window + 1).min(last),
    };
    if next == s.figures.window {
        return;
    }
    s.figures.window = next;
    // The old window's figures would read as the new one's until the answer comes.
    s.figures.figures = None;
    s.figures.fetched_at = None;
    fetch(s, fx);
}

pub(super) fn on_reply(s: &mut State, request: u64, result: Result<GovernanceFigures, String>) {
    if s.figures.loading != Some(request) {
        return;
    }
    s.figures.loading = None;
    match result {
        Ok(f) => {
            s.figures.figures = Some(f);
            s.figures.fetched_at = Some(s.now);
            s.figures.error = None;
        }
        Err(e) => s.figures.error = Some(e),
    }
}
