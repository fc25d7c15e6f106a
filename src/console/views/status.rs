//! The tab bar, the message line and the status bar.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::protocol::{inert, Role};

use super::super::keymap::Action;
use super::super::state::{Connection, Level, State, View};
use super::format::{clip_line, when};
use super::hint::key;

/// What the tab bar starts with, before the views' tabs.
pub const TABS_LEAD: &str = " gavel ";

/// A view's tab as the tab bar shows it (its clicks are measured against the same text).
pub fn tab_text(s: &State, v: View) -> String {
    let count = match v {
        View::Queue => format!(" ({})", s.pending.len()),
        View::Flagged => format!(" ({})", s.unreviewed_flags()),
        View::KillSwitches => {
            if s.global_stopped() {
                " (■ GLOBAL)".into()
            } else {
                let on = s.killswitches.values().filter(|k| k.on).count();
                format!(" ({on} on)")
            }
        }
        View::History => format!(" ({})", s.history.len()),
        View::Audit => String::new(),
        View::Grants => format!(" ({})", s.grant_rows().len()),
    };
    // Before any state arrived, a count would claim an empty queue.
    let count = if s.resynced { count } else { " (–)".into() };
    format!(" {}{} ", v.title(), count)
}

pub fn tabs(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let mut spans = vec![Span::styled(TABS_LEAD, t.accent())];
    for v in View::ALL {
        let text = tab_text(s, v);
        if v == s.view {
            spans.push(Span::styled(text, t.selected()));
        } else {
            spans.push(Span::styled(text, t.muted()));
        }
        spans.push(Span::raw(" "));
    }
    if s.filter_editing || !s.filter.is_empty() {
        let style = t.fg(t.warning);
        spans.push(Span::styled(" / ", style));
        spans.extend(super::cursor::spans(&s.filter, s.filter_editing, style));
    }
    f.render_widget(
        Paragraph::new(clip_line(Line::from(spans), area.width as usize)),
        area,
    );
}

pub fn message(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let line = match &s.message {
        Some(m) => {
            let style = match m.level {
                Level::Info => t.fg(t.accent),
                Level::Success => t.fg(t.ok).add_modifier(Modifier::BOLD),
                Level::Error => t.fg(t.danger).add_modifier(Modifier::BOLD),
            };
            Line::from(vec![
                Span::styled(format!(" {} ", when(s, m.at)), t.muted()),
                Span::styled(m.text.clone(), style),
            ])
        }
        None => Line::default(),
    };
    f.render_widget(Paragraph::new(clip_line(line, area.width as usize)), area);
}

pub fn status_bar(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let (conn, style) = match &s.connection {
        Connection::Connecting => match &s.incoming {
            Some(p) => (
                format!("◌ receiving state {}/{}", p.part, p.parts),
                t.fg(t.warning),
            ),
            None => ("◌ connecting".to_string(), t.fg(t.warning)),
        },
        Connection::Live => ("● live".to_string(), t.fg(t.ok)),
        Connection::Reconnecting {
            attempt,
            since,
            error,
        } => (
            format!(
                "↻ reconnecting {attempt} · offline since {} ({})",
                when(s, *since),
                error
            ),
            t.fg(t.danger),
        ),
        Connection::Refused { since, reason } => (
            format!("✗ refused since {}: {reason}", when(s, *since)),
            t.fg(t.danger),
        ),
    };
    let who = match &s.me {
        Some(me) => {
            let roles: Vec<&str> = me
                .roles
                .iter()
                .map(|r| match r {
                    Role::Approver => "approver",
                    Role::Lead => "lead",
                    Role::Operator => "operator",
                    Role::Auditor => "auditor",
                })
                .collect();
            format!(
                "{} ({}) {}",
                inert(&me.name),
                inert(&me.id),
                roles.join("+")
            )
        }
        None => format!("{} (not yet confirmed)", inert(&s.key_id)),
    };
    let mut spans = vec![
        Span::styled(format!(" {conn} "), style.add_modifier(Modifier::BOLD)),
        Span::raw(format!("│ {who} ")),
        Span::raw(if s.resynced {
            format!(
                "│ {} pending, {} yours · {} flagged ",
                s.pending.len(),
                s.mine_count(),
                s.unreviewed_flags()
            )
        } else {
            "│ no data yet ".to_string()
        }),
    ];
    if s.sending() > 0 {
        spans.push(Span::styled(
            format!("│ {} sending ", s.sending()),
            t.fg(t.warning),
        ));
    }
    if let Some(n) = &s.note {
        spans.push(Span::styled(format!("│ {n} "), t.muted()));
    }
    spans.push(Span::styled(format!("│ {} ", s.server_url), t.muted()));
    spans.push(Span::styled(
        format!("│ {} help", key(s, Action::Help)),
        t.muted(),
    ));
    f.render_widget(
        Paragraph::new(clip_line(Line::from(spans), area.width as usize)),
        area,
    );
}
