//! The Metrics view: the governance figures of a window (`GET /v1/governance`): each rate with
//! the counts it comes from, sparklines of the window's buckets, votes per person with the
//! likely rubber stamps marked, and how long each kill switch took to deny its first call.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use ratatui::Frame;

use crate::protocol::{
    inert, GovernanceFigures, RUBBER_STAMP_MAX_MEDIAN_SECS, RUBBER_STAMP_MIN_APPROVALS,
};

use super::super::keymap::Action;
use super::super::state::State;
use super::format::{clip, duration_text, title_note, when};
use super::hint::key;

/// Columns before a sparkline: its name and total.
const SPARK_LABEL: u16 = 18;

pub fn render(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let fs = &s.figures;
    let mut title = format!(" Governance · last {} ", fs.window());
    if let Some(at) = fs.fetched_at {
        title.push_str(&format!("· as of {} ", when(s, at)));
    }
    if fs.loading.is_some() {
        title.push_str("· loading… ");
    }
    title.push_str(&title_note(s));
    let hint = format!(
        " {} shorter · {} longer · {} refresh ",
        key(s, Action::ShorterWindow),
        key(s, Action::LongerWindow),
        key(s, Action::Refresh)
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border())
        .title(Span::styled(title, t.accent()))
        .title_bottom(Line::from(Span::styled(hint, t.muted())).right_aligned());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(figures) = &fs.figures else {
        let text = match &fs.error {
            Some(e) => Line::from(Span::styled(
                format!(" ✗ the figures could not be fetched: {}", inert(e)),
                t.fg(t.danger),
            )),
            None => Line::from(Span::styled(" Fetching the figures…", t.muted())),
        };
        f.render_widget(Paragraph::new(text), inner);
        return;
    };
    let [rates, sparks, _, lists] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let mut lines = rate_lines(s, figures);
    if let Some(e) = &fs.error {
        lines[0] = Line::from(Span::styled(
            format!(" ✗ refresh failed: {}", inert(e)),
            t.fg(t.danger),
        ));
    }
    f.render_widget(Paragraph::new(lines), rates);
    render_sparklines(f, sparks, s, figures);
    let [people, switches] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(lists);
    f.render_widget(Paragraph::new(people_lines(s, figures, people)), people);
    f.render_widget(Paragraph::new(switch_lines(s, figures, switches)), switches);
}

/// A share as a percentage, or a dash when there was nothing to count.
fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r.is_finite() => format!("{:>5.1}%", r * 100.0),
        _ => "     –".into(),
    }
}

/// Seconds as a person reads them: tenths under a minute, then minutes and hours.
fn secs_text(secs: Option<f64>) -> String {
    match secs {
        Some(x) if x.is_finite() && x < 60.0 => format!("{x:.1}s"),
        Some(x) if x.is_finite() => duration_text(chrono::Duration::seconds(x as i64)),
        _ => "–".into(),
    }
}

fn rate_lines(s: &State, g: &GovernanceFigures) -> Vec<Line<'static>> {
    let t = &s.theme;
    let line = |name: &str, value: String, note: String| {
        Line::from(vec![
            Span::styled(format!(" {name:<18}"), t.muted()),
            Span::styled(value, t.fg(t.text).add_modifier(Modifier::BOLD)),
            Span::raw(format!("  {note}")),
        ])
    };
    vec![
        line(
            "Policy deny rate",
            percent(g.policy_deny_rate),
            format!(
                "{} of {} calls (+{} by kill switch, breaker, limit)",
                g.policy_denies, g.calls, g.governance_denies
            ),
        ),
        line(
            "Intervention rate",
            percent(g.intervention_rate),
            format!(
                "{} reviews + {} flags of {} calls",
                g.reviews, g.flags, g.calls
            ),
        ),
        line(
            "Time to decide",
            format!("{:>6}", secs_text(g.time_to_decide_mean_secs)),
            format!(
                "mean · p90 {} · {} decided by people",
                secs_text(g.time_to_decide_p90_secs),
                g.decided
            ),
        ),
        line(
            "Expiry rate",
            percent(g.expiry_rate),
            format!("{} expired of {} ended", g.expired, g.resolved),
        ),
    ]
}

fn render_sparklines(f: &mut Frame, area: Rect, s: &State, g: &GovernanceFigures) {
    let t = &s.theme;
    let series: [(&str, Vec<u64>, _); 5] = [
        (
            "Calls",
            g.series.iter().map(|b| b.calls).collect(),
            t.accent,
        ),
        (
            "Denies",
            g.series.iter().map(|b| b.denies).collect(),
            t.denied,
        ),
        (
            "Reviews",
            g.series.iter().map(|b| b.reviews).collect(),
            t.pending,
        ),
        (
            "Decided",
            g.series.iter().map(|b| b.decided).collect(),
            t.approved,
        ),
        (
            "Expired",
            g.series.iter().map(|b| b.expired).collect(),
            t.expired,
        ),
    ];
    // One scale for the three call series, so a bar of denies reads against the calls'.
    let call_max = series[0].1.iter().copied().max().unwrap_or(0).max(1);
    let rows = Layout::vertical([Constraint::Length(1); 5]).split(area);
    for (i, (name, data, colour)) in series.into_iter().enumerate() {
        let [label, bars] =
            Layout::horizontal([Constraint::Length(SPARK_LABEL), Constraint::Min(0)])
                .areas(rows[i]);
        let total: u64 = data.iter().sum();
        f.render_widget(
            Paragraph::new(Span::styled(format!(" {name:<9}{total:>7} "), t.muted())),
            label,
        );
        let max = if i < 3 {
            call_max
        } else {
            data.iter().copied().max().unwrap_or(0).max(1)
        };
        // Each bucket as wide as the room allows (up to three columns), so a trend reads.
        let per = (bars.width as usize / data.len().max(1)).clamp(1, 3);
        let wide: Vec<u64> = data
            .iter()
            .flat_map(|&n| std::iter::repeat_n(n, per))
            .collect();
        let width = (wide.len() as u16).min(bars.width);
        f.render_widget(
            Sparkline::default()
                .data(&wide)
                .max(max)
                .style(t.fg(colour)),
            Rect { width, ..bars },
        );
    }
}

fn people_lines(s: &State, g: &GovernanceFigures, area: Rect) -> Vec<Line<'static>> {
    let t = &s.theme;
    let w = area.width as usize;
    let name_w = w.saturating_sub(32).clamp(6, 24);
    let mut lines = vec![Line::from(Span::styled(
        clip(
            &format!(
                " {:<name_w$} {:>5} {:>5} {:>9}",
                "Approver", "Appr.", "Deny", "Median"
            ),
            w,
        ),
        t.muted(),
    ))];
    if g.approvals_per_person.is_empty() {
        lines.push(Line::from(Span::styled(
            " No votes in this window.",
            t.muted(),
        )));
        return lines;
    }
    let room = (area.height as usize).saturating_sub(2);
    let shown = g.approvals_per_person.len().min(room.max(1));
    for p in &g.approvals_per_person[..shown] {
        let row = format!(
            " {:<name_w$} {:>5} {:>5} {:>9}",
            clip(&inert(&p.person), name_w),
            p.approvals,
            p.denials,
            secs_text(p.median_secs_to_approve)
        );
        let mut spans = vec![Span::raw(row)];
        if p.looks_rubber_stamped() {
            spans.push(Span::styled(" ⚠ stamp?", t.fg(t.warning)));
        }
        lines.push(Line::from(spans));
    }
    let hidden = g.approvals_per_person.len() - shown;
    let note = if hidden > 0 {
        format!(" … {hidden} more")
    } else {
        format!(
            " ⚠ ≥{RUBBER_STAMP_MIN_APPROVALS} approvals, median under {RUBBER_STAMP_MAX_MEDIAN_SECS:.0}s"
        )
    };
    lines.push(Line::from(Span::styled(clip(&note, w), t.muted())));
    lines
}

fn switch_lines(s: &State, g: &GovernanceFigures, area: Rect) -> Vec<Line<'static>> {
    let t = &s.theme;
    let w = area.width as usize;
    let mut lines = vec![Line::from(Span::styled(
        clip(" Kill switch on → first deny", w),
        t.muted(),
    ))];
    if g.killswitch_to_first_deny.is_empty() {
        lines.push(Line::from(Span::styled(" No switch turned on.", t.muted())));
        return lines;
    }
    let room = (area.height as usize).saturating_sub(1).max(1);
    for k in g.killswitch_to_first_deny.iter().take(room) {
        let after = match k.first_deny_after_secs {
            Some(x) => format!("+{}", secs_text(Some(x))),
            None => "no deny yet".into(),
        };
        let head = format!(" {} {}", when(s, k.flipped_at), inert(&k.scope));
        let head_w = w.saturating_sub(after.len() + 2);
        lines.push(Line::from(vec![
            Span::raw(format!("{:<head_w$}", clip(&head, head_w))),
            Span::styled(format!(" {after}"), t.fg(t.accent)),
        ]));
    }
    lines
}
