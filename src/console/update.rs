//! `update(state, event) -> effects`: the only place the console's state changes. Tests drive it
//! without a terminal; the loop in `mod.rs` runs the effects it returns.

use crossterm::event::{KeyEvent, KeyEventKind};

use crate::protocol::{
    inert, ActionSummary, DecisionAck, Escalation, EscalationState, FlagVerdict, FlaggedAction,
    KillSwitch, ServerMessage, Timestamp, Vote,
};

use super::state::{
    Connection, Dialog, Level, Message, Request, State, View, ACTIVITY_CAP, HISTORY_CAP,
};

/// The word to type before the global kill switch goes on.
pub const GLOBAL_CONFIRM_WORD: &str = "STOP";

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(KeyEvent),
    Server(ServerMessage),
    Connection(ConnEvent),
    Reply {
        request: u64,
        result: Result<Reply, ApiError>,
    },
    Tick(Timestamp),
    Resize,
    NotifyUnavailable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnEvent {
    Connecting,
    /// The socket closed or could not open; the stream task retries after a backoff.
    Lost {
        attempt: u32,
        error: String,
    },
    /// The server rejected our authentication; the stream task has stopped.
    Refused {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Decision(DecisionAck),
    Flip(KillSwitch),
    Review(Box<FlaggedAction>),
}

/// A refusal or failure of a REST call, as the person should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Decide {
        request: u64,
        escalation: Box<Escalation>,
        vote: Vote,
        reason: String,
    },
    Flip {
        request: u64,
        scope: String,
        on: bool,
        reason: String,
    },
    Review {
        request: u64,
        action: String,
        verdict: FlagVerdict,
        note: String,
    },
    Notify {
        title: String,
        body: String,
    },
    Bell,
    Quit,
}

pub fn update(s: &mut State, event: Event) -> Vec<Effect> {
    let mut fx = Vec::new();
    match event {
        Event::Key(k) if k.kind != KeyEventKind::Release => super::keys::on_key(s, k, &mut fx),
        Event::Key(_) | Event::Resize => {}
        Event::Server(m) => on_server(s, m, &mut fx),
        Event::Connection(c) => on_connection(s, c),
        Event::Reply { request, result } => on_reply(s, request, result),
        Event::Tick(now) => on_tick(s, now, &mut fx),
        Event::NotifyUnavailable(why) => {
            s.notify_desktop = false;
            // The full error is in the log; the status bar keeps it short.
            tracing::info!(error = %why, "desktop notifications off");
            s.note = Some("desktop notifications off (no notification service)".into());
        }
    }
    fx
}

pub(super) fn say(s: &mut State, level: Level, text: String) {
    s.message = Some(Message {
        level,
        text,
        at: s.now,
    });
}

// ---- server events ----------------------------------------------------------------------------

fn on_server(s: &mut State, m: ServerMessage, fx: &mut Vec<Effect>) {
    match m {
        ServerMessage::Challenge { .. } | ServerMessage::Pong => {}
        ServerMessage::Welcome { person, server } => {
            s.me = Some(person);
            s.server = Some(server);
        }
        ServerMessage::Snapshot(snap) => {
            let snap = *snap;
            s.pending = snap.escalations.into_iter().map(Box::new).collect();
            s.pending.sort_by(|a, b| queue_order(a, b));
            // After a reconnect, escalations that arrived while we were away are news: one
            // notification for all of them. The first snapshot is what you see on opening.
            let mut missed = 0;
            for e in &s.pending {
                if s.notified.insert(e.id.clone()) && s.resynced && s.not_mine(e).is_none() {
                    missed += 1;
                }
            }
            if missed > 0 {
                notify(
                    s,
                    fx,
                    "Escalations waiting for you".into(),
                    format!("{missed} arrived while the console was reconnecting or catching up"),
                );
            }
            s.resynced = true;
            s.history = snap.history.into();
            s.flagged = snap.flagged;
            s.killswitches = snap
                .killswitches
                .into_iter()
                .map(|k| (k.scope.clone(), k))
                .collect();
            s.agents = snap.agents;
            s.activity = snap.activity.into_iter().take(ACTIVITY_CAP).collect();
            s.connection = Connection::Live;
            reselect(s);
        }
        ServerMessage::EscalationCreated { escalation } => {
            let e = *escalation;
            if !s.notified.contains(&e.id) && s.not_mine(&e).is_none() {
                s.notified.insert(e.id.clone());
                notify(
                    s,
                    fx,
                    "Escalation waiting for you".into(),
                    format!(
                        "{} wants {} ({})",
                        inert(&e.action.agent),
                        inert(&e.action.tool),
                        e.rule.id
                    ),
                );
            }
            upsert(s, e);
        }
        ServerMessage::EscalationUpdated { escalation } => upsert(s, *escalation),
        ServerMessage::EscalationResolved { escalation } => upsert(s, *escalation),
        ServerMessage::Flagged { flagged } | ServerMessage::FlagReviewed { flagged } => {
            upsert_flag(s, *flagged)
        }
        ServerMessage::KillSwitchChanged { killswitch } => {
            s.killswitches.insert(killswitch.scope.clone(), killswitch);
        }
        ServerMessage::Action { action } => push_activity(s, action),
    }
}

fn queue_order(a: &Escalation, b: &Escalation) -> std::cmp::Ordering {
    a.deadline.cmp(&b.deadline).then_with(|| a.id.cmp(&b.id))
}

/// Insert or replace an escalation wherever its state says it belongs.
fn upsert(s: &mut State, e: Escalation) {
    if let Some(i) = s.pending.iter().position(|p| p.id == e.id) {
        s.pending.remove(i);
    }
    if e.state == EscalationState::Pending {
        let at = s
            .pending
            .binary_search_by(|p| queue_order(p, &e))
            .unwrap_or_else(|i| i);
        s.pending.insert(at, Box::new(e));
    } else {
        s.history.retain(|h| h.id != e.id);
        if s.stashed.as_ref().is_some_and(|d| d.escalation.id == e.id) {
            s.stashed = None;
        }
        if let Some(Dialog::Decision(d)) = &s.dialog {
            if d.escalation.id == e.id {
                let what = format!(
                    "{} was {} before you sent your decision",
                    e.id,
                    state_word(e.state)
                );
                s.dialog = None;
                say(s, Level::Info, what);
            }
        }
        s.history.push_front(e);
        s.history.truncate(HISTORY_CAP);
    }
    reselect(s);
}

pub fn state_word(st: EscalationState) -> &'static str {
    match st {
        EscalationState::Pending => "pending",
        EscalationState::Approved => "approved",
        EscalationState::Denied => "denied",
        EscalationState::Expired => "expired",
        EscalationState::Cancelled => "cancelled",
    }
}

fn upsert_flag(s: &mut State, f: FlaggedAction) {
    match s.flagged.iter_mut().find(|x| x.action.id == f.action.id) {
        Some(slot) => *slot = f,
        None => s.flagged.insert(0, f),
    }
}

fn push_activity(s: &mut State, a: ActionSummary) {
    s.activity.push_front(a);
    s.activity.truncate(ACTIVITY_CAP);
}

/// Keep the cursor on the same escalation when others arrive or leave.
pub(super) fn reselect(s: &mut State) {
    for v in [View::Flagged, View::History] {
        let n = match v {
            View::Flagged => s.flagged.len(),
            _ => s.history.len(),
        };
        s.selected[v.index()] = s.selected[v.index()].min(n.saturating_sub(1));
    }
    // Without a filter the rows are the queue itself: no allocation per arrival, which matters
    // when a burst of thousands arrives.
    let found = match (&s.selected_id, s.filter.is_empty()) {
        (Some(id), true) => s.pending.iter().position(|e| &e.id == id),
        (Some(id), false) => s.queue_rows().iter().position(|&i| &s.pending[i].id == id),
        (None, _) => None,
    };
    if let Some(pos) = found {
        s.selected[0] = pos;
        return;
    }
    let rows = s.queue_rows();
    s.selected[0] = s.selected[0].min(rows.len().saturating_sub(1));
    s.selected_id = rows.get(s.selected[0]).map(|&i| s.pending[i].id.clone());
}

fn on_connection(s: &mut State, c: ConnEvent) {
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
    };
}

fn on_reply(s: &mut State, request: u64, result: Result<Reply, ApiError>) {
    let Some(req) = s.in_flight.remove(&request) else {
        return;
    };
    match (req, result) {
        (Request::Decide { escalation, vote }, Ok(Reply::Decision(ack))) => {
            let e = *ack.escalation;
            let progress = match e.state {
                EscalationState::Pending => format!(
                    "still pending: {}/{} approvals",
                    e.approvals_received(),
                    e.approvals_required
                ),
                st => format!("now {}", state_word(st)),
            };
            let verb = if vote == Vote::Approve {
                "approval"
            } else {
                "denial"
            };
            let again = if ack.recorded {
                ""
            } else {
                " (already recorded before)"
            };
            say(
                s,
                Level::Success,
                format!("✓ your {verb} of {escalation} was accepted{again}; {progress}"),
            );
            upsert(s, e);
        }
        (Request::Decide { escalation, vote }, Err(e)) => {
            let verb = if vote == Vote::Approve {
                "approval"
            } else {
                "denial"
            };
            say(
                s,
                Level::Error,
                format!(
                    "✗ your {verb} of {escalation} was NOT recorded: {} ({})",
                    inert(&e.message),
                    e.code
                ),
            );
        }
        (Request::Flip { scope, .. }, Ok(Reply::Flip(k))) => {
            say(
                s,
                Level::Success,
                format!(
                    "✓ kill switch {scope} is now {}",
                    if k.on {
                        "ON: actions are denied"
                    } else {
                        "off"
                    }
                ),
            );
            s.killswitches.insert(k.scope.clone(), k);
        }
        (Request::Flip { scope, on }, Err(e)) => say(
            s,
            Level::Error,
            format!(
                "✗ kill switch {scope} was NOT turned {}: {} ({})",
                if on { "on" } else { "off" },
                inert(&e.message),
                e.code
            ),
        ),
        (Request::Review { action, verdict }, Ok(Reply::Review(f))) => {
            let f = *f;
            say(
                s,
                Level::Success,
                format!("✓ flagged action {action} marked {}", verdict_word(verdict)),
            );
            upsert_flag(s, f);
        }
        (Request::Review { action, .. }, Err(e)) => say(
            s,
            Level::Error,
            format!(
                "✗ review of {action} was NOT recorded: {} ({})",
                inert(&e.message),
                e.code
            ),
        ),
        (req, Ok(other)) => say(
            s,
            Level::Error,
            format!("unexpected answer to {req:?}: {other:?}"),
        ),
    }
}

pub fn verdict_word(v: FlagVerdict) -> &'static str {
    match v {
        FlagVerdict::Acknowledge => "acknowledged",
        FlagVerdict::Incident => "an incident",
    }
}

fn on_tick(s: &mut State, now: Timestamp, fx: &mut Vec<Effect>) {
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

fn notify(s: &State, fx: &mut Vec<Effect>, title: String, body: String) {
    if s.notify_desktop {
        fx.push(Effect::Notify { title, body });
    }
    if s.notify_bell {
        fx.push(Effect::Bell);
    }
}
