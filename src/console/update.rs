//! `update(state, event) -> commands`: the only place the console's state changes. Tests drive
//! it without a terminal; the driver runs the commands it returns. Keys, the server's stream and
//! answers to requests each have their own module; this one routes events to them and keeps the
//! connection state and the clock.

use crossterm::event::KeyEventKind;

use crate::protocol::{inert, Timestamp};

use super::command::{notify, Command};
use super::event::{ConnEvent, Event};
use super::selection::reselect_all;
use super::state::{Connection, State};
use super::{audit_query, batch, fields, history_search, keys, mouse, replies, server_events};

pub fn update(s: &mut State, event: Event) -> Vec<Command> {
    let mut fx = Vec::new();
    match event {
        Event::Key(k) if k.kind != KeyEventKind::Release => keys::on_key(s, k, &mut fx),
        Event::Key(_) | Event::Resize => return fx,
        Event::Paste(text) => fields::on_paste(s, &text),
        Event::Mouse(m) => mouse::on_mouse(s, m, &mut fx),
        Event::Screen { width, height } => {
            s.screen = Some((width, height));
            return fx;
        }
        Event::Server(m) => server_events::on_server(s, m, &mut fx),
        Event::Connection(c) => on_connection(s, c),
        Event::Reply { request, result } => replies::on_reply(s, request, result),
        Event::Tick(now) => {
            on_tick(s, now, &mut fx);
            // A snooze that ends brings its row back: the cursor stays on its item.
            super::selection::reselect(s, super::state::View::Queue);
            // Calls seen, or a window or cooldown ended: the Budgets view reads again.
            super::budgets::keep_fresh(s, &mut fx);
            return fx;
        }
        Event::NotifyUnavailable(why) => {
            s.notify_desktop = false;
            // The full error is in the log; the status bar keeps it short.
            tracing::info!(error = %why, "desktop notifications off");
            s.note = Some("desktop notifications off (no notification service)".into());
        }
    }
    batch::prune_marks(s);
    reselect_all(s);
    replies::fetch_whole_if_needed(s, &mut fx);
    audit_query::keep_loaded(s, &mut fx);
    history_search::keep_loaded(s, &mut fx);
    super::budgets::keep_fresh(s, &mut fx);
    super::figures::keep_loaded(s, &mut fx);
    super::grant_keys::send_accepted(s, &mut fx);
    fx
}

fn on_connection(s: &mut State, c: ConnEvent) {
    if let ConnEvent::Server { index, url } = c {
        s.server_url = inert(&url).into_owned();
        s.replica = index;
        return;
    }
    if s.connection == Connection::Live {
        s.live_until = Some(s.now);
    }
    // A snapshot cut off halfway is never applied.
    s.incoming = None;
    s.connection = match c {
        ConnEvent::Connecting => match &s.connection {
            r @ Connection::Reconnecting { .. } => r.clone(),
            _ => Connection::Connecting,
        },
        ConnEvent::Lost { attempt, error } => {
            let since = match &s.connection {
                Connection::Reconnecting { since, .. } => *since,
                _ => s.now,
            };
            Connection::Reconnecting {
                attempt,
                since,
                error: inert(&error).into_owned(),
            }
        }
        ConnEvent::Refused { reason } => Connection::Refused {
            since: s.now,
            reason: inert(&reason).into_owned(),
        },
        ConnEvent::Server { .. } => return,
    };
}

fn on_tick(s: &mut State, now: Timestamp, fx: &mut Vec<Command>) {
    s.now = now;
    let mut warn = Vec::new();
    for e in &s.pending {
        let left = (e.deadline - now).num_seconds();
        if (0..60).contains(&left) && !s.warned.contains(&e.id) && s.not_mine(e).is_none() {
            warn.push((
                e.id.clone(),
                format!(
                    "{} {} — {left}s left",
                    inert(&e.action.agent),
                    inert(&e.action.tool)
                ),
            ));
        }
    }
    for (id, body) in warn {
        s.warned.insert(id);
        notify(s, fx, "Escalation expires in under a minute".into(), body);
    }
}
