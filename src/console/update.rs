//! `update(state, event) -> effects`: the only place the console's state changes. Tests drive it
//! without a terminal; the loop in `mod.rs` runs the effects it returns.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::protocol::{
    inert, ActionSummary, DecisionAck, Escalation, EscalationState, FlagVerdict, FlaggedAction,
    KillSwitch, Role, ServerMessage, Timestamp, Vote,
};

use super::keymap::{Action, Section};
use super::state::{
    Connection, DecisionDraft, Dialog, FlipDraft, Level, Message, Request, ReviewDraft, State,
    View, ACTIVITY_CAP, HISTORY_CAP,
};

/// The word to type before the global kill switch goes on.
pub const GLOBAL_CONFIRM_WORD: &str = "STOP";
const PAGE: usize = 10;

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
        Event::Key(k) if k.kind != KeyEventKind::Release => on_key(s, k, &mut fx),
        Event::Key(_) | Event::Resize => {}
        Event::Server(m) => on_server(s, m, &mut fx),
        Event::Connection(c) => on_connection(s, c),
        Event::Reply { request, result } => on_reply(s, request, result),
        Event::Tick(now) => on_tick(s, now, &mut fx),
        Event::NotifyUnavailable(why) => {
            s.notify_desktop = false;
            s.note = Some(format!(
                "desktop notifications unavailable ({})",
                inert(&why)
            ));
        }
    }
    fx
}

fn say(s: &mut State, level: Level, text: String) {
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
            s.pending = snap.escalations;
            s.pending.sort_by(queue_order);
            for e in &s.pending {
                s.notified.insert(e.id.clone());
            }
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
        s.pending.insert(at, e);
    } else {
        s.history.retain(|h| h.id != e.id);
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
fn reselect(s: &mut State) {
    let rows = s.queue_rows();
    if let Some(id) = &s.selected_id {
        if let Some(pos) = rows.iter().position(|&i| &s.pending[i].id == id) {
            s.selected[0] = pos;
            return;
        }
    }
    s.selected[0] = s.selected[0].min(rows.len().saturating_sub(1));
    s.selected_id = rows.get(s.selected[0]).map(|&i| s.pending[i].id.clone());
    for v in [View::Flagged, View::History] {
        let n = match v {
            View::Flagged => s.flagged.len(),
            _ => s.history.len(),
        };
        s.selected[v.index()] = s.selected[v.index()].min(n.saturating_sub(1));
    }
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
        (Request::Flip { scope, on }, Ok(Reply::Flip(k))) => {
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
            let _ = on;
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

// ---- keys -------------------------------------------------------------------------------------

fn section(view: View) -> Section {
    match view {
        View::Queue => Section::Queue,
        View::Flagged => Section::Flagged,
        View::KillSwitches => Section::KillSwitches,
        View::History => Section::History,
    }
}

/// Text typed into a field (printable characters without ctrl/alt).
fn typed(k: &KeyEvent) -> Option<char> {
    match k.code {
        KeyCode::Char(c)
            if !k
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

fn on_key(s: &mut State, k: KeyEvent, fx: &mut Vec<Effect>) {
    if s.pending_quit {
        if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            s.quit = true;
            fx.push(Effect::Quit);
        }
        {
            s.pending_quit = false;
        }
        return;
    }
    if s.filter_editing {
        match k.code {
            KeyCode::Enter => s.filter_editing = false,
            KeyCode::Esc => {
                s.filter_editing = false;
                s.filter.clear();
            }
            KeyCode::Backspace => {
                s.filter.pop();
            }
            _ => {
                if let Some(c) = typed(&k) {
                    s.filter.push(c);
                }
            }
        }
        s.selected = [0; 4];
        s.selected_id = None;
        reselect(s);
        return;
    }
    if s.dialog.is_some() {
        return on_dialog_key(s, k, fx);
    }
    let Some(action) = s.keymap.action(section(s.view), &k) else {
        return;
    };
    on_action(s, action, fx);
}

fn on_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let rows = s.row_count();
    let sel = s.view.index();
    let detail = s.detail_open && matches!(s.view, View::Queue | View::History | View::Flagged);
    match action {
        Action::Down if detail => s.detail_scroll = s.detail_scroll.saturating_add(1),
        Action::Up if detail => s.detail_scroll = s.detail_scroll.saturating_sub(1),
        Action::PageDown if detail => s.detail_scroll = s.detail_scroll.saturating_add(PAGE as u16),
        Action::PageUp if detail => s.detail_scroll = s.detail_scroll.saturating_sub(PAGE as u16),
        Action::Down => move_to(s, (s.selected[sel] + 1).min(rows.saturating_sub(1))),
        Action::Up => move_to(s, s.selected[sel].saturating_sub(1)),
        Action::PageDown => move_to(s, (s.selected[sel] + PAGE).min(rows.saturating_sub(1))),
        Action::PageUp => move_to(s, s.selected[sel].saturating_sub(PAGE)),
        Action::Top => move_to(s, 0),
        Action::Bottom => move_to(s, rows.saturating_sub(1)),
        Action::NextView | Action::PrevView => {
            let n = View::ALL.len();
            let step = if action == Action::NextView { 1 } else { n - 1 };
            s.view = View::ALL[(sel + step) % n];
            s.detail_open = false;
            s.detail_scroll = 0;
        }
        Action::Open => {
            if matches!(s.view, View::Queue | View::History | View::Flagged) && rows > 0 {
                s.detail_open = true;
                s.detail_scroll = 0;
            } else if s.view == View::KillSwitches {
                start_flip(s, None);
            }
        }
        Action::Back => {
            if s.detail_open {
                s.detail_open = false;
                s.detail_scroll = 0;
            } else if !s.filter.is_empty() {
                s.filter.clear();
                reselect(s);
            } else {
                s.message = None;
            }
        }
        Action::Filter => s.filter_editing = true,
        Action::Help => s.dialog = Some(Dialog::Help),
        Action::Quit => {
            s.quit = true;
            fx.push(Effect::Quit);
        }
        Action::Approve => start_decision(s, Vote::Approve),
        Action::Deny => start_decision(s, Vote::Deny),
        Action::Acknowledge => start_review(s, FlagVerdict::Acknowledge),
        Action::Incident => start_review(s, FlagVerdict::Incident),
        Action::Toggle => start_flip(s, None),
        Action::StopAll => start_flip(s, Some("global".into())),
        Action::Confirm | Action::Cancel => {}
    }
}

fn move_to(s: &mut State, pos: usize) {
    let v = s.view.index();
    s.selected[v] = pos;
    s.detail_scroll = 0;
    if s.view == View::Queue {
        let rows = s.queue_rows();
        s.selected_id = rows.get(pos).map(|&i| s.pending[i].id.clone());
    }
}

fn start_decision(s: &mut State, vote: Vote) {
    let Some(e) = s.selected_escalation().cloned() else {
        say(s, Level::Info, "nothing selected to decide".into());
        return;
    };
    if let Some(why) = s.not_mine(&e) {
        let why = match (&s.me, &why) {
            (None, _) => "the server has not told us who you are yet (not connected)".into(),
            _ => why.to_string(),
        };
        s.dialog = Some(Dialog::NotYours {
            escalation: e.id.clone(),
            why,
        });
        return;
    }
    if s.in_flight
        .values()
        .any(|r| matches!(r, Request::Decide { escalation, .. } if *escalation == e.id))
    {
        say(
            s,
            Level::Info,
            format!("your decision on {} is still being sent", e.id),
        );
        return;
    }
    s.dialog = Some(Dialog::Decision(DecisionDraft {
        escalation: e,
        vote,
        reason: String::new(),
        error: None,
    }));
}

fn start_review(s: &mut State, verdict: FlagVerdict) {
    let Some(f) = s.selected_flagged().cloned() else {
        say(s, Level::Info, "no flagged action selected".into());
        return;
    };
    let why = if !s.me.as_ref().is_some_and(|m| m.has_role(Role::Lead)) {
        Some("only people with the lead role review flagged actions".to_string())
    } else {
        f.review.as_ref().map(|r| {
            format!(
                "already reviewed by {} ({})",
                inert(&r.body.reviewer),
                verdict_word(r.body.review)
            )
        })
    };
    if let Some(why) = why {
        s.dialog = Some(Dialog::NotYours {
            escalation: f.action.id.clone(),
            why,
        });
        return;
    }
    s.dialog = Some(Dialog::Review(ReviewDraft {
        flagged: f,
        verdict,
        note: String::new(),
        error: None,
    }));
}

fn start_flip(s: &mut State, scope: Option<String>) {
    let scope = match scope {
        Some(sc) => sc,
        None => {
            if s.view != View::KillSwitches {
                return;
            }
            match s.switch_rows().get(s.selected[View::KillSwitches.index()]) {
                Some(r) => r.scope.clone(),
                None => return,
            }
        }
    };
    if !s.me.as_ref().is_some_and(|m| m.has_role(Role::Operator)) {
        s.dialog = Some(Dialog::NotYours {
            escalation: scope,
            why: "only people with the operator role flip kill switches".into(),
        });
        return;
    }
    let on = !s.killswitches.get(&scope).is_some_and(|k| k.on);
    let confirm_word = (scope == "global" && on).then_some(GLOBAL_CONFIRM_WORD);
    s.dialog = Some(Dialog::Flip(FlipDraft {
        scope,
        on,
        reason: String::new(),
        confirm_word,
        confirm: String::new(),
        in_confirm: false,
        error: None,
    }));
}

fn on_dialog_key(s: &mut State, k: KeyEvent, fx: &mut Vec<Effect>) {
    let action = s.keymap.action(Section::Dialog, &k);
    let Some(dialog) = s.dialog.as_mut() else {
        return;
    };
    match dialog {
        Dialog::Help | Dialog::NotYours { .. } => {
            if action == Some(Action::Quit) {
                s.quit = true;
                fx.push(Effect::Quit);
            }
            s.dialog = None;
            return;
        }
        _ => {}
    }
    match action {
        Some(Action::Cancel) => s.dialog = None,
        Some(Action::Quit) => {
            if s.half_typed() {
                s.pending_quit = true;
            } else {
                s.quit = true;
                fx.push(Effect::Quit);
            }
        }
        Some(Action::Confirm) => confirm_dialog(s, fx),
        _ => edit_field(dialog, &k),
    }
}

fn edit_field(dialog: &mut Dialog, k: &KeyEvent) {
    let field = match dialog {
        Dialog::Decision(d) => {
            d.error = None;
            &mut d.reason
        }
        Dialog::Review(r) => {
            r.error = None;
            &mut r.note
        }
        Dialog::Flip(f) => {
            f.error = None;
            if k.code == KeyCode::Tab && f.confirm_word.is_some() {
                f.in_confirm = !f.in_confirm;
                return;
            }
            if f.in_confirm {
                &mut f.confirm
            } else {
                &mut f.reason
            }
        }
        _ => return,
    };
    match k.code {
        KeyCode::Backspace => {
            field.pop();
        }
        _ => {
            if let Some(c) = typed(k) {
                if field.chars().count() < crate::protocol::MAX_TEXT_LEN {
                    field.push(c);
                }
            }
        }
    }
}

fn next_request(s: &mut State, req: Request) -> u64 {
    let id = s.next_request;
    s.next_request += 1;
    s.in_flight.insert(id, req);
    id
}

fn confirm_dialog(s: &mut State, fx: &mut Vec<Effect>) {
    match s.dialog.take() {
        Some(Dialog::Decision(mut d)) => {
            let reason = d.reason.trim().to_string();
            if d.vote == Vote::Deny && reason.is_empty() {
                d.error = Some("a reason is required to deny".into());
                s.dialog = Some(Dialog::Decision(d));
                return;
            }
            let request = next_request(
                s,
                Request::Decide {
                    escalation: d.escalation.id.clone(),
                    vote: d.vote,
                },
            );
            let verb = if d.vote == Vote::Approve {
                "approval"
            } else {
                "denial"
            };
            say(
                s,
                Level::Info,
                format!("… sending your {verb} of {}", d.escalation.id),
            );
            fx.push(Effect::Decide {
                request,
                escalation: Box::new(d.escalation),
                vote: d.vote,
                reason,
            });
        }
        Some(Dialog::Flip(mut f)) => {
            let reason = f.reason.trim().to_string();
            if reason.is_empty() {
                f.error = Some("a reason is required".into());
                f.in_confirm = false;
                s.dialog = Some(Dialog::Flip(f));
                return;
            }
            if let Some(word) = f.confirm_word {
                if f.confirm.trim() != word {
                    f.error = Some(format!(
                        "type {word} in the confirmation field (Tab moves there)"
                    ));
                    f.in_confirm = true;
                    s.dialog = Some(Dialog::Flip(f));
                    return;
                }
            }
            let request = next_request(
                s,
                Request::Flip {
                    scope: f.scope.clone(),
                    on: f.on,
                },
            );
            say(
                s,
                Level::Info,
                format!(
                    "… turning kill switch {} {}",
                    f.scope,
                    if f.on { "on" } else { "off" }
                ),
            );
            fx.push(Effect::Flip {
                request,
                scope: f.scope,
                on: f.on,
                reason,
            });
        }
        Some(Dialog::Review(mut r)) => {
            let note = r.note.trim().to_string();
            if note.is_empty() && r.verdict == FlagVerdict::Incident {
                r.error = Some("a note is required for an incident".into());
                s.dialog = Some(Dialog::Review(r));
                return;
            }
            let action = r.flagged.action.id.clone();
            let request = next_request(
                s,
                Request::Review {
                    action: action.clone(),
                    verdict: r.verdict,
                },
            );
            say(s, Level::Info, format!("… sending review of {action}"));
            fx.push(Effect::Review {
                request,
                action,
                verdict: r.verdict,
                note,
            });
        }
        other => s.dialog = other,
    }
}
