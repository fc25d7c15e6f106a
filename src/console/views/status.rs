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
use super::layout::width;

/// What the tab bar starts with, before the views' tabs (left out when room is short).
const TABS_LEAD: &str = " gavel ";

/// One view's tab: full (`Kill switches (1 on)`) or short (`Kill(1)`).
fn tab_label(s: &State, v: View, short: bool) -> String {
    let count = match v {
        View::Queue => format!(" ({})", s.pending.len()),
        View::Flagged => format!(" ({})", s.unreviewed_flags()),
        View::KillSwitches if s.global_stopped() => {
            if short {
                " (■)".into()
            } else {
                " (■ GLOBAL)".into()
            }
        }
        View::KillSwitches => {
            let on = s.killswitches.values().filter(|k| k.on).count();
            if short {
                format!(" ({on})")
            } else {
                format!(" ({on} on)")
            }
        }
        View::History => format!(" ({})", s.history.len()),
        View::Audit => String::new(),
        View::Grants => format!(" ({})", s.grant_rows().len()),
        // Limits in use, or how many need a look (warning, exceeded, breakers open).
        View::Budgets => match (&s.budgets.report, s.budgets.alerts()) {
            (None, _) => String::new(),
            (Some(r), 0) => format!(" ({})", r.limits.len()),
            (Some(_), n) => format!(" ({n}!)"),
        },
        View::Metrics => format!(" ({})", s.figures.window()),
    };
    // Before any state arrived, a count would claim an empty queue.
    let count = if s.resynced { count } else { " (–)".into() };
    if short {
        // Seven views and more: short names, counts close up, no padding (`Kill(1)`).
        let title = match v {
            View::Flagged => "Flags",
            View::KillSwitches => "Kill",
            View::History => "Hist",
            View::Budgets => "Budget",
            v => v.title(),
        };
        return format!("{title}{}", count.trim_start());
    }
    format!(" {}{count} ", v.title())
}

/// Whether the tab bar needs its short form in `cols` columns: every tab, the one on screen
/// included, stays readable rather than cut off at the right.
fn short_tabs(s: &State, cols: u16) -> bool {
    let full: usize = View::ALL
        .iter()
        .map(|&v| width(&tab_label(s, v, false)) + 1)
        .sum();
    width(TABS_LEAD) + full > cols as usize
}

/// The tab bar's lead and each view's tab as drawn in `cols` columns (clicks are measured
/// against the same texts).
pub fn tab_texts(s: &State, cols: u16) -> (&'static str, Vec<(View, String)>) {
    let short = short_tabs(s, cols);
    let lead = if short { "" } else { TABS_LEAD };
    let tabs = View::ALL
        .iter()
        .map(|&v| (v, tab_label(s, v, short)))
        .collect();
    (lead, tabs)
}

pub fn tabs(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let (lead, tabs) = tab_texts(s, area.width);
    let mut spans = vec![Span::styled(lead, t.accent())];
    for (v, text) in tabs {
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

/// With several replicas, which one the console is on (or trying), right after the connection
/// state so a narrow bar keeps it: `replica 2 of 3: host:port`.
fn replica(s: &State) -> Option<String> {
    (s.replicas > 1).then(|| {
        format!(
            "│ replica {} of {}: {} ",
            s.replica + 1,
            s.replicas,
            crate::client::host_port(&s.server_url)
        )
    })
}

/// `mine`: how many pending escalations are the viewer's to decide (`State::mine_count`).
pub fn status_bar(f: &mut Frame, area: Rect, s: &State, mine: usize) {
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
    let mut spans = vec![Span::styled(
        format!(" {conn} "),
        style.add_modifier(Modifier::BOLD),
    )];
    let on = replica(s);
    if let Some(on) = &on {
        spans.push(Span::styled(on.clone(), t.accent()));
    }
    spans.extend([
        Span::raw(format!("│ {who} ")),
        Span::raw(if s.resynced {
            format!(
                "│ {} pending, {} yours · {} flagged ",
                s.pending.len(),
                mine,
                s.unreviewed_flags()
            )
        } else {
            "│ no data yet ".to_string()
        }),
    ]);
    if s.budgets.alerts() > 0 {
        let n = s.budgets.alerts();
        spans.push(Span::styled(
            format!("│ ⚠ {n} budget alert{} ", if n == 1 { "" } else { "s" }),
            t.fg(t.warning).add_modifier(Modifier::BOLD),
        ));
    }
    if s.sending() > 0 {
        spans.push(Span::styled(
            format!("│ {} sending ", s.sending()),
            t.fg(t.warning),
        ));
    }
    if let Some(n) = &s.note {
        spans.push(Span::styled(format!("│ {n} "), t.muted()));
    }
    if on.is_none() {
        spans.push(Span::styled(format!("│ {} ", s.server_url), t.muted()));
    }
    spans.push(Span::styled(
        format!("│ {} help", key(s, Action::Help)),
        t.muted(),
    ));
    f.render_widget(
        Paragraph::new(clip_line(Line::from(spans), area.width as usize)),
        area,
    );
}
