//! The Kill switches view: every scope with its state, and the selected switch's detail (who
//! flipped it, when, why, and the escalations turning it on cancelled). Enter opens the detail;
//! flipping is its own key, with its own confirmation.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Table, TableState};
use ratatui::Frame;

use crate::protocol::{inert, Escalation, EscalationState, KillSwitch, Scope};

use super::super::keymap::Action;
use super::super::rows::SwitchRow;
use super::super::state::State;
use super::super::theme::Theme;
use super::detail::{effect_style, render_lines};
use super::format::{duration_text, title_note, when, when_zoned};
use super::hint::key;
use super::layout::{window, Column};
use super::lists::{block, fit_table, render_table, split};

pub fn render(f: &mut Frame, area: Rect, s: &State) {
    let rows = s.switch_rows();
    let selected = s
        .selected_scope()
        .and_then(|k| rows.iter().find(|r| r.scope == k));
    if s.detail_open {
        if let Some(r) = selected {
            render_lines(f, area, s, "Kill switch", detail_lines(s, r), true);
            return;
        }
    }
    let [list, detail] = split(area, rows.len());
    table(f, list, s, &rows);
    if let Some(r) = selected {
        render_lines(f, detail, s, "Kill switch", detail_lines(s, r), false);
    }
}

/// State word and style: never by colour alone.
fn state_word(t: &Theme, s: &State, r: &SwitchRow) -> Span<'static> {
    let stopped = t.fg(t.danger).add_modifier(Modifier::BOLD);
    match &r.state {
        Some(k) if k.on => Span::styled("■ STOPPED", stopped),
        // Under the global switch nothing runs, whatever its own switch says.
        _ if s.global_stopped() && r.scope != "global" => Span::styled("■ (global)", stopped),
        _ => Span::styled("○ running", t.fg(t.ok)),
    }
}

fn table(f: &mut Frame, area: Rect, s: &State, rows: &[SwitchRow]) {
    let t = &s.theme;
    let sel = s.selected[2];
    let cells = rows
        .iter()
        .map(|r| {
            // Who and when; why is in the detail beside or below the list.
            let flip = match &r.state {
                Some(k) => format!("{} {}", inert(&k.by), when(s, k.at)),
                None => "—".into(),
            };
            let activity = match &r.last_activity {
                Some(a) => {
                    let (w, _) = effect_style(t, a.effect);
                    format!("{} {} → {w}", when(s, a.at), inert(&a.tool))
                }
                None => "—".into(),
            };
            vec![
                Line::from(inert(&r.scope).into_owned()),
                Line::from(state_word(t, s, r)),
                Line::from(r.actions.to_string()).right_aligned(),
                Line::from(activity),
                Line::from(flip),
            ]
        })
        .collect();
    let header = ["Scope", "State", "Recent", "Last action", "Flipped by"];
    let cols = vec![
        Column::new(10, 40).weight(150),
        Column::new(9, 10),
        Column::new(6, 6),
        Column::new(12, 40),
        Column::new(10, 40).weight(110),
    ];
    let fit = fit_table(s, &header, cols, cells, area.width);
    let stopped = rows
        .iter()
        .filter(|r| r.state.as_ref().is_some_and(|k| k.on))
        .count();
    let title = if s.global_stopped() {
        format!(
            " Kill switches · GLOBAL STOP IS ON: every action is denied {}",
            title_note(s)
        )
    } else {
        format!(" Kill switches · {stopped} on {}", title_note(s))
    };
    let height = area.height.saturating_sub(3) as usize;
    let range = window(rows.len(), sel, height);
    let more = if rows.len() > range.len() {
        format!("{}–{} of {} · ", range.start + 1, range.end, rows.len())
    } else {
        String::new()
    };
    let hint = format!(
        " {more}{} detail · {} flip · {} stop everything ",
        key(s, Action::Open),
        key(s, Action::Toggle),
        key(s, Action::StopAll)
    );
    let (rows, state): (Vec<_>, TableState) =
        super::lists::windowed(fit.rows, sel, area.height, t.selected());
    let table = Table::new(rows, fit.widths)
        .header(fit.header)
        .block(block(s, title, &hint, area.width));
    render_table(f, area, table, state);
}

/// The escalations a switch cancelled when it was turned on, as far as this console's history
/// holds them: cancelled at the moment of the flip, in its scope, for its reason.
fn cancelled_by<'a>(s: &'a State, k: &KillSwitch) -> Vec<&'a Escalation> {
    let Some(scope) = Scope::parse(&k.scope) else {
        return Vec::new();
    };
    s.history
        .iter()
        .filter(|e| {
            e.state == EscalationState::Cancelled
                && scope.covers(&e.action.agent, &e.action.tool)
                && e.resolved_at
                    .is_some_and(|r| (r - k.at).num_seconds().abs() <= 1)
                && e.resolution_reason
                    .as_deref()
                    .is_some_and(|why| why.contains(&k.scope))
        })
        .collect()
}

fn label(t: &Theme, l: &str) -> Span<'static> {
    Span::styled(format!("{l:<14}"), t.muted())
}

fn field(t: &Theme, l: &str, v: String) -> Line<'static> {
    Line::from(vec![label(t, l), Span::raw(v)])
}

fn heading(t: &Theme, h: &str) -> Line<'static> {
    Line::from(Span::styled(h.to_string(), t.accent()))
}

fn what_it_stops(scope: &str) -> String {
    match Scope::parse(scope) {
        Some(Scope::Global) => "every action of every agent".into(),
        Some(Scope::Agent(a)) => format!("every action of agent {}", inert(&a)),
        Some(Scope::Tool(tool)) => format!("every call of tool {}, by any agent", inert(&tool)),
        None => "(not a scope the server knows)".into(),
    }
}

pub fn detail_lines(s: &State, r: &SwitchRow) -> Vec<Line<'static>> {
    let t = &s.theme;
    let mut out = vec![Line::from(vec![
        Span::styled(inert(&r.scope).into_owned(), t.accent()),
        Span::raw("  "),
        state_word(t, s, r),
    ])];
    out.push(field(t, "Stops", what_it_stops(&r.scope)));
    match &r.state {
        None => out.push(field(
            t,
            "State",
            "off: never turned on (no flip on record)".into(),
        )),
        Some(k) => {
            let ago = duration_text(s.now - k.at);
            let state = if k.on {
                "ON: every action in scope is denied"
            } else {
                "off: actions in scope run"
            };
            out.push(field(t, "State", state.into()));
            let verb = if k.on {
                "Turned on by"
            } else {
                "Turned off by"
            };
            out.push(field(t, verb, inert(&k.by).into_owned()));
            out.push(field(
                t,
                "When",
                format!("{} ({ago} ago)", when_zoned(s, k.at)),
            ));
            out.push(field(t, "Reason", inert(&k.reason).into_owned()));
        }
    }
    if s.global_stopped() && r.scope != "global" {
        out.push(Line::from(Span::styled(
            "■ the global switch is on: nothing runs, whatever this switch says",
            t.fg(t.danger),
        )));
    }
    out.push(Line::default());
    cancelled_lines(s, r, &mut out);
    out.push(Line::default());
    out.push(heading(t, "Now"));
    let activity = match &r.last_activity {
        Some(a) => {
            let (w, st) = effect_style(t, a.effect);
            vec![
                label(t, "Recent"),
                Span::raw(format!(
                    "{} action{}; last {} {} by {} → ",
                    r.actions,
                    if r.actions == 1 { "" } else { "s" },
                    when(s, a.at),
                    inert(&a.tool),
                    inert(&a.agent)
                )),
                Span::styled(w, st),
            ]
        }
        None => vec![
            label(t, "Recent"),
            Span::styled("no action in scope seen yet", t.muted()),
        ],
    };
    out.push(Line::from(activity));
    let on = r.state.as_ref().is_some_and(|k| k.on);
    if !on {
        let n = s.cancels_if_on(&r.scope);
        out.push(field(
            t,
            "Pending",
            format!("{n} in scope; turning it on cancels them"),
        ));
    }
    out.push(Line::default());
    out.push(Line::from(Span::styled(
        format!(
            "Space turns it {} (asks for a reason) · ! stops everything",
            if on { "off" } else { "on" }
        ),
        t.muted(),
    )));
    out
}

fn cancelled_lines(s: &State, r: &SwitchRow, out: &mut Vec<Line<'static>>) {
    let t = &s.theme;
    out.push(heading(t, "Cancelled when it was turned on"));
    let Some(k) = r.state.as_ref().filter(|k| k.on) else {
        out.push(Line::from(Span::styled(
            "  nothing: it is not on (turning a switch off cancels nothing)",
            t.muted(),
        )));
        return;
    };
    let cancelled = cancelled_by(s, k);
    if cancelled.is_empty() {
        out.push(Line::from(Span::styled(
            "  none in this console's history (nothing in scope was waiting, or it was \
             before this console connected: `gavel audit query` has every record)",
            t.muted(),
        )));
        return;
    }
    let shown = cancelled.len().min(20);
    for e in &cancelled[..shown] {
        out.push(Line::from(vec![
            Span::styled(format!("  {}  ", inert(&e.id)), t.accent()),
            Span::raw(format!(
                "{} {} · rule {} · raised {}",
                inert(&e.action.agent),
                inert(&e.action.tool),
                inert(&e.rule.id),
                when(s, e.created_at)
            )),
        ]));
    }
    if cancelled.len() > shown {
        out.push(Line::from(Span::styled(
            format!(
                "  and {} more (History lists them all)",
                cancelled.len() - shown
            ),
            t.muted(),
        )));
    }
}
