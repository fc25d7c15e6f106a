//! How budgets read on screen wherever they appear: money, calls against their maximum with
//! grace, a share as a bar, a limit's state in words and colour, the "budget" tag of a queue
//! row, and the ask of a budget escalation in its detail.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::protocol::{inert, BudgetAsk, Escalation, LimitState, LimitUse};

use super::super::state::State;
use super::super::theme::Theme;
use super::format::when_zoned;

/// Cells of a share bar, and of one on a narrow screen.
pub const BAR: usize = 10;
pub const BAR_NARROW: usize = 5;

/// `$48.20`; a value that is not a finite number says so rather than printing `NaN`.
pub fn money(v: f64) -> String {
    if v.is_finite() {
        format!("${v:.2}")
    } else {
        "$?".into()
    }
}

/// `83/100`, `83/100+20` with grace, `83` with no maximum.
pub fn calls_text(l: &LimitUse) -> String {
    match l.max_calls {
        Some(max) if l.grace_calls > 0 => format!("{}/{max}+{}", l.calls, l.grace_calls),
        Some(max) => format!("{}/{max}", l.calls),
        None => l.calls.to_string(),
    }
}

/// `$48.20/$50.00`, `…+$10.00` with grace, `$48.20` with no maximum, `—` for a limit that
/// counts only calls (and has no cost reported).
pub fn cost_text(l: &LimitUse) -> String {
    match l.max_cost {
        None if l.cost == 0.0 => "—".into(),
        Some(max) if l.grace_cost > 0.0 => {
            format!("{}/{}+{}", money(l.cost), money(max), money(l.grace_cost))
        }
        Some(max) => format!("{}/{}", money(l.cost), money(max)),
        None => money(l.cost),
    }
}

/// A share as a whole percentage; past 100% shown as it is, never wrapped.
pub fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.0}%", (share * 100.0).clamp(0.0, 99_999.0))
    } else {
        "?%".into()
    }
}

/// `██████░░░░` for a share of 0.6 in `cells`: the bar stops at full past the limit.
pub fn bar(share: f64, cells: usize) -> String {
    let filled = if share.is_finite() {
        ((share.clamp(0.0, 1.0) * cells as f64).round() as usize).min(cells)
    } else {
        cells
    };
    format!("{}{}", "█".repeat(filled), "░".repeat(cells - filled))
}

/// The state's word (colour alone never carries it) and colour.
pub fn state_word(t: &Theme, st: LimitState) -> (&'static str, Style) {
    match st {
        LimitState::Ok => ("ok", t.fg(t.ok)),
        LimitState::Warning => ("⚠ warning", t.fg(t.warning).add_modifier(Modifier::BOLD)),
        LimitState::Exceeded => ("✗ exceeded", t.fg(t.danger).add_modifier(Modifier::BOLD)),
    }
}

/// `refund-bot` or `refund-bot/sess-1` for a per-session limit.
pub fn who(l: &LimitUse) -> String {
    match &l.session {
        Some(sess) => format!("{}/{}", inert(&l.agent), inert(sess)),
        None => inert(&l.agent).into_owned(),
    }
}

/// A window's length as policy writes it: `1h`, `30m`, `1d`, `90s`.
pub fn window_text(secs: u64) -> String {
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The Rule cell of a queue or history row: a budget escalation is tagged before its rule.
pub fn rule_cell(t: &Theme, e: &Escalation) -> Line<'static> {
    let rule = Span::raw(inert(&e.rule.id).into_owned());
    match &e.budget {
        Some(_) => Line::from(vec![
            Span::styled(
                "budget",
                t.fg(t.warning)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ),
            Span::raw(" "),
            rule,
        ]),
        None => Line::from(rule),
    }
}

/// What a budget escalation asks, in one sentence: what was spent of what, in which window,
/// and what approving adds until when.
pub fn ask_sentence(s: &State, ask: &BudgetAsk) -> String {
    let l = &ask.usage;
    let mut spent = Vec::new();
    if let Some(max) = l.max_cost {
        spent.push(format!(
            "has spent {} of {}",
            money(l.cost),
            money(max + l.grace_cost)
        ));
    }
    if let Some(max) = l.max_calls {
        spent.push(format!(
            "made {} of {} calls",
            l.calls,
            max.saturating_add(l.grace_calls)
        ));
    }
    if spent.is_empty() {
        spent.push(format!("made {} calls", l.calls));
    }
    let mut more = Vec::new();
    if ask.grace_calls > 0 {
        more.push(format!("{} more calls", ask.grace_calls));
    }
    if ask.grace_cost > 0.0 {
        more.push(money(ask.grace_cost));
    }
    let grants = if more.is_empty() {
        "approving lets this call run".to_string()
    } else {
        format!("approving grants {}", more.join(" / "))
    };
    format!(
        "{} {} this {} window of limit {}; {grants} until {}",
        who(l),
        spent.join(" and "),
        window_text(l.window_secs),
        inert(&l.limit),
        when_zoned(s, l.resets_at)
    )
}

/// The detail's Budget section of a budget escalation (none for any other).
pub fn ask_lines(s: &State, e: &Escalation, out: &mut Vec<Line<'static>>) {
    let Some(ask) = &e.budget else { return };
    let t = &s.theme;
    let (word, style) = state_word(t, ask.usage.state);
    out.push(Line::from(vec![
        Span::styled(format!("{:<14}", "Budget"), t.fg(t.warning)),
        Span::styled(word, style),
        Span::styled(
            format!(
                "  {} {}",
                bar(ask.usage.share, BAR),
                percent(ask.usage.share)
            ),
            style,
        ),
    ]));
    out.push(Line::from(vec![
        Span::raw(" ".repeat(14)),
        Span::raw(ask_sentence(s, ask)),
    ]));
}
