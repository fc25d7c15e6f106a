//! The approver's workflow on screen: the extend, snooze and reassign dialogs, who is on an
//! escalation, how much of its deadline has been moved, whether it was handed over, and what I
//! snoozed. Pure functions of `&State`, like every view.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use crate::protocol::{inert, Escalation, EscalationState};

use super::super::dialog::Dialog;
use super::super::handling::{HandlingDraft, HandlingKind, SNOOZE_CHOICES};
use super::super::keymap::{Action, Section};
use super::super::state::State;
use super::super::theme::Theme;
use super::cursor::input;
use super::format::{countdown, urgency_style, when_zoned};
use super::popup::{kv, popup};

fn secs(n: u64) -> String {
    crate::duration::format(std::time::Duration::from_secs(n))
}

/// "alice is on it" (or "you are"), while the claim holds.
fn claim_text(s: &State, e: &Escalation) -> Option<(String, bool)> {
    let c = e.handling.live_claim(s.now)?;
    let mine = s.me.as_ref().is_some_and(|m| m.id == c.person);
    let who = if mine {
        "you are on it".to_string()
    } else {
        format!("{} is on it", inert(&c.person))
    };
    Some((format!("{who} (until {})", when_zoned(s, c.until)), mine))
}

/// The queue row's "You" cell when the workflow has something to say: a claim, my snooze.
pub fn you_cell(s: &State, e: &Escalation) -> Option<(String, Style)> {
    let t = &s.theme;
    if s.snoozed_by_me(e).is_some() {
        return Some(("z snoozed".into(), t.muted()));
    }
    let c = e.handling.live_claim(s.now)?;
    Some(match s.me.as_ref().is_some_and(|m| m.id == c.person) {
        true => ("▶ you're on it".into(), t.fg(t.ok)),
        false => (format!("◆ {} on it", inert(&c.person)), t.fg(t.warning)),
    })
}

/// The queue title's note of what I snoozed (`n`: `State::snoozed_count`).
pub fn snoozed_note(s: &State, n: usize) -> String {
    match (n, s.show_snoozed) {
        (0, _) => String::new(),
        (n, false) => format!("· {n} snoozed "),
        (n, true) => format!("· {n} snoozed, shown "),
    }
}

/// The detail's lines about claim, extensions, hand-over and my snooze.
pub fn detail_lines(s: &State, e: &Escalation, out: &mut Vec<Line<'static>>) {
    if e.state != EscalationState::Pending {
        return;
    }
    let t = &s.theme;
    let label = |l: &str| Span::styled(format!("{l:<14}"), t.muted());
    if let Some((text, mine)) = claim_text(s, e) {
        let style = if mine { t.fg(t.ok) } else { t.fg(t.warning) };
        out.push(Line::from(vec![label("Claim"), Span::styled(text, style)]));
    }
    let h = &e.handling;
    // Only what the rule offers: an escalation without either shows as it always did.
    let extend = match (h.extend_allowed_secs, h.extended_secs) {
        (0, _) => None,
        (allowed, 0) => Some(format!("{} allowed, none used", secs(allowed))),
        (allowed, used) => Some(format!(
            "extended {} of {} allowed ({} left)",
            secs(used),
            secs(allowed),
            secs(h.extend_left_secs())
        )),
    };
    if let Some(extend) = extend {
        out.push(Line::from(vec![label("Extend"), Span::raw(extend)]));
    }
    let handover = match (&h.escalate_to, e.handed_over) {
        (_, true) => Some(format!("handed over: now with {}", inert(&e.group))),
        (Some(g), false) => Some(format!("to {} at the deadline, or now (r)", inert(g))),
        (None, false) => None,
    };
    if let Some(handover) = handover {
        out.push(Line::from(vec![label("Secondary"), Span::raw(handover)]));
    }
    if let Some(until) = s.snoozed_by_me(e) {
        out.push(Line::from(vec![
            label("Snoozed"),
            Span::styled(
                format!(
                    "by you until {} ({} wakes it)",
                    when_zoned(s, until),
                    s.keymap.key_for(Section::Queue, Action::Snooze)
                ),
                t.muted(),
            ),
        ]));
    }
}

fn hint(t: &Theme, text: &str) -> Line<'static> {
    Line::from(Span::styled(text.to_string(), t.accent()))
}

/// The extend, snooze or reassign dialog, when one is open (over everything, like the others).
pub fn render_dialog(f: &mut Frame, area: Rect, s: &State) {
    if let (Some(Dialog::Handling(d)), false) = (&s.dialog, s.pending_quit) {
        dialog(f, area, s, d);
    }
}

fn dialog(f: &mut Frame, area: Rect, s: &State, d: &HandlingDraft) {
    let t = &s.theme;
    let e = &d.escalation;
    let (cd, u) = countdown(e.deadline, s.now);
    let mut lines = vec![Line::from(vec![
        Span::raw(format!(
            "{}  {} → {}  ",
            inert(&e.id),
            inert(&e.action.agent),
            inert(&e.action.tool)
        )),
        Span::styled(cd, urgency_style(t, u)),
    ])];
    let title = match d.kind {
        HandlingKind::Extend => {
            let h = &e.handling;
            lines.push(Line::default());
            lines.push(kv(t, "deadline", when_zoned(s, e.deadline)));
            lines.push(kv(
                t,
                "allowance",
                format!(
                    "{} left of {} (rule {})",
                    secs(h.extend_left_secs()),
                    secs(h.extend_allowed_secs),
                    inert(&e.rule.id)
                ),
            ));
            lines.push(Line::default());
            lines.push(Line::from(Span::styled("Add (e.g. 5m, 1h30m)", t.muted())));
            lines.push(input(t, &d.by, !d.in_reason));
            lines.push(Line::from(Span::styled("Reason (required)", t.muted())));
            lines.push(input(t, &d.reason, d.in_reason));
            " Extend deadline "
        }
        HandlingKind::Snooze => {
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                "Hide it from your queue (only yours) until:",
                t.muted(),
            )));
            for (i, choice) in SNOOZE_CHOICES.iter().enumerate() {
                let line = format!(
                    "{} {}. {choice}",
                    if i == d.choice { "▶" } else { " " },
                    i + 1
                );
                lines.push(Line::from(Span::styled(
                    line,
                    if i == d.choice {
                        t.selected().add_modifier(Modifier::BOLD)
                    } else {
                        t.base()
                    },
                )));
            }
            lines.push(Line::from(Span::styled(
                "It comes back before the deadline whatever you choose; the deadline still runs.",
                t.muted(),
            )));
            " Snooze "
        }
        HandlingKind::Reassign => {
            let to = e.handling.escalate_to.as_deref().unwrap_or("?");
            lines.push(Line::default());
            lines.push(kv(
                t,
                "hand over",
                format!("from {} to {} now", inert(&e.group), inert(to)),
            ));
            lines.push(Line::from(Span::styled(
                "Its deadline starts again; it cannot be handed over a second time.",
                t.fg(t.warning),
            )));
            lines.push(Line::default());
            lines.push(Line::from(Span::styled("Reason (required)", t.muted())));
            lines.push(input(t, &d.reason, true));
            " Reassign "
        }
    };
    if let Some(err) = &d.error {
        lines.push(Line::from(Span::styled(format!("✗ {err}"), t.fg(t.danger))));
    }
    lines.push(Line::default());
    lines.push(hint(
        t,
        match d.kind {
            HandlingKind::Extend => "Enter send · Tab switches field · Esc cancel",
            HandlingKind::Snooze => "↑↓ or 1–3 choose · Enter send · Esc cancel",
            HandlingKind::Reassign => "Enter send · Esc cancel",
        },
    ));
    popup(f, area, s, title, lines, 72);
}
