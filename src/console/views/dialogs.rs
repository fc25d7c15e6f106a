//! Pop-ups: the decision confirmation (what will be signed), kill switch flips, flag reviews,
//! "why you may not decide this", the quit question and the help.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use crate::protocol::canonical::short_digest;
use crate::protocol::{inert, Escalation, FlagVerdict, Vote};

use super::super::dialog::Dialog;
use super::super::keymap::{Action, Section};
use super::super::state::{Connection, Fetch, State};
use super::cursor::input;
use super::format::{countdown, size_text, urgency_style};
use super::popup::{kv, popup};

pub fn render(f: &mut Frame, area: Rect, s: &State) {
    if s.pending_quit {
        popup(
            f,
            area,
            s,
            " Quit? ",
            vec![
                Line::from(match &s.stashed {
                    Some(d) if s.dialog.is_none() => format!(
                        "Your half-typed decision on {} has not been sent and will be lost.",
                        inert(&d.escalation.id)
                    ),
                    _ => "What you typed has not been sent and will be lost.".to_string(),
                }),
                Line::default(),
                Line::from(Span::styled(
                    format!(
                        "y (or {} again) quit · any other key: keep editing",
                        s.keymap.key_for(Section::Dialog, Action::Quit)
                    ),
                    s.theme.accent(),
                )),
            ],
            60,
        );
        return;
    }
    let Some(d) = &s.dialog else { return };
    let t = &s.theme;
    match d {
        Dialog::Help => super::help::render(f, area, s),
        Dialog::Batch(b) => super::batch::render(f, area, s, b),
        Dialog::Query(q) => super::forms::render(f, area, s, q),
        // Drawn by `views::workflow`, which builds on these pop-ups.
        Dialog::Handling(_) => {}
        Dialog::NotYours { escalation, why } => popup(
            f,
            area,
            s,
            " Not yours to decide ",
            vec![
                Line::from(Span::styled(inert(escalation).into_owned(), t.accent())),
                Line::default(),
                Line::from(Span::styled(format!("✗ {why}"), t.fg(t.warning))),
                Line::default(),
                Line::from(Span::styled(
                    format!("The server enforces this too. {} closes.", closes(s)),
                    t.muted(),
                )),
            ],
            64,
        ),
        Dialog::Notice { title, text } => popup(
            f,
            area,
            s,
            title,
            vec![
                Line::from(Span::styled(text.clone(), t.fg(t.warning))),
                Line::default(),
                Line::from(Span::styled(
                    format!("{} closes (other keys are ignored until then).", closes(s)),
                    t.muted(),
                )),
            ],
            64,
        ),
        Dialog::Decision(dr) => {
            let e = &dr.escalation;
            let (verb, style) = match dr.vote {
                Vote::Approve => ("APPROVE", t.fg(t.approved).add_modifier(Modifier::BOLD)),
                Vote::Deny => ("DENY", t.fg(t.denied).add_modifier(Modifier::BOLD)),
            };
            let (cd, u) = countdown(e.deadline, s.now);
            let reason_label = if dr.vote == Vote::Deny {
                "Reason (required)"
            } else {
                "Reason (optional)"
            };
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(verb, style),
                    Span::raw(format!(
                        "  {} → {}  ",
                        inert(&e.action.agent),
                        inert(&e.action.tool)
                    )),
                    Span::styled(cd, urgency_style(t, u)),
                ]),
                Line::default(),
                Line::from(Span::styled("You will sign:", t.muted())),
                kv(t, "escalation", inert(&e.id).into_owned()),
                kv(
                    t,
                    "digest",
                    format!("{} (of the action shown)", short_digest(&e.digest)),
                ),
                kv(t, "verdict", verb.to_lowercase()),
                kv(t, "approver", inert(&s.key_id).into_owned()),
                Line::default(),
                Line::from(Span::styled(reason_label, t.muted())),
                input(t, &dr.reason, super::grants::reason_focused(dr)),
            ];
            lines.extend(super::grants::decision_lines(s, dr));
            if let Some(why) = not_signable(s, e) {
                lines[4] = kv(
                    t,
                    "digest",
                    format!("{} (of the whole action)", short_digest(&e.digest)),
                );
                lines.splice(
                    2..2,
                    [
                        Line::from(Span::styled(format!("⋯ {why}"), t.fg(t.warning))),
                        Line::default(),
                    ],
                );
            }
            if let Some(err) = &dr.error {
                lines.push(Line::from(Span::styled(format!("✗ {err}"), t.fg(t.danger))));
            }
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                super::grants::decision_keys(s, dr),
                t.accent(),
            )));
            popup(
                f,
                area,
                s,
                &format!(" {} escalation ", titlecase(verb)),
                lines,
                72,
            );
        }
        Dialog::Flip(fl) => {
            let what = if fl.on {
                "TURN ON (stop)"
            } else {
                "turn off (resume)"
            };
            let effect = match (fl.scope.as_str(), fl.on) {
                ("global", true) => {
                    "Every agent's every action will be denied until it is turned off.".to_string()
                }
                (sc, true) => format!("Every action matching {} will be denied.", inert(sc)),
                (_, false) => {
                    "Actions in this scope will be evaluated by policy again.".to_string()
                }
            };
            // What turning it on does to the queue, from what this console knows.
            let cancels = fl.on.then(|| {
                let n = s.cancels_if_on(&fl.scope);
                let known = if s.connection == Connection::Live {
                    ""
                } else {
                    " (last known: this console is not live)"
                };
                match n {
                    0 => Line::from(Span::styled(
                        format!("No pending escalation is in this scope{known}."),
                        t.muted(),
                    )),
                    n => Line::from(Span::styled(
                        format!(
                            "It cancels the {n} pending escalation{} in this scope{known}.",
                            if n == 1 { "" } else { "s" }
                        ),
                        t.fg(t.warning).add_modifier(Modifier::BOLD),
                    )),
                }
            });
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(format!("Kill switch {}: ", inert(&fl.scope)), t.accent()),
                    Span::styled(
                        what,
                        if fl.on {
                            t.fg(t.danger).add_modifier(Modifier::BOLD)
                        } else {
                            t.fg(t.ok)
                        },
                    ),
                ]),
                Line::from(Span::styled(effect, t.muted())),
            ];
            lines.extend(cancels);
            lines.extend([
                Line::default(),
                Line::from(Span::styled("Reason (required)", t.muted())),
                input(t, &fl.reason, !fl.in_confirm),
            ]);
            if let Some(word) = fl.confirm_word {
                lines.push(Line::from(Span::styled(
                    format!(
                        "Type {word} to confirm ({} switches field)",
                        s.keymap.key_for(Section::Dialog, Action::NextField)
                    ),
                    t.fg(t.warning),
                )));
                lines.push(input(t, &fl.confirm, fl.in_confirm));
            }
            if let Some(err) = &fl.error {
                lines.push(Line::from(Span::styled(format!("✗ {err}"), t.fg(t.danger))));
            }
            lines.push(Line::default());
            lines.push(send_or_cancel(s));
            popup(f, area, s, " Kill switch ", lines, 72);
        }
        Dialog::Revoke(r) => popup(
            f,
            area,
            s,
            " Revoke standing grant ",
            super::grants::revoke_lines(s, r),
            72,
        ),
        Dialog::BreakerReset(r) => popup(
            f,
            area,
            s,
            " Reset breaker ",
            super::budgets::reset_lines(s, r),
            72,
        ),
        Dialog::Review(r) => {
            let verb = match r.verdict {
                FlagVerdict::Acknowledge => "Acknowledge",
                FlagVerdict::Incident => "Mark as INCIDENT",
            };
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(format!("{verb}: "), t.accent()),
                    Span::raw(format!(
                        "{} {} ({})",
                        inert(&r.flagged.action.agent),
                        inert(&r.flagged.action.tool),
                        inert(&r.flagged.action.id)
                    )),
                ]),
                Line::default(),
                Line::from(Span::styled(
                    if r.verdict == FlagVerdict::Incident {
                        "Note (required)"
                    } else {
                        "Note"
                    },
                    t.muted(),
                )),
                input(t, &r.note, true),
            ];
            if let Some(err) = &r.error {
                lines.push(Line::from(Span::styled(format!("✗ {err}"), t.fg(t.danger))));
            }
            lines.push(Line::default());
            lines.push(send_or_cancel(s));
            popup(f, area, s, " Review flagged action ", lines, 72);
        }
    }
}

fn titlecase(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// "Enter send · Esc cancel", in the keys the keymap has.
fn send_or_cancel(s: &State) -> Line<'static> {
    let key = |a| s.keymap.key_for(Section::Dialog, a);
    Line::from(Span::styled(
        format!(
            "{} send · {} cancel",
            key(Action::Confirm),
            key(Action::Cancel)
        ),
        s.theme.accent(),
    ))
}

/// "Esc or Enter closes", in the keys the keymap has.
fn closes(s: &State) -> String {
    let key = |a| s.keymap.key_for(Section::Dialog, a);
    format!("{} or {}", key(Action::Cancel), key(Action::Confirm))
}

/// Why a decision dialog may not sign on its copy, if so: its arguments were left out.
fn not_signable(s: &State, e: &Escalation) -> Option<String> {
    let elided = e.args_elided()?;
    let size = size_text(elided.bytes);
    let whole_here = s
        .pending
        .iter()
        .any(|p| p.id == e.id && p.args_elided().is_none());
    Some(match (whole_here, s.fetches.get(&e.id)) {
        (true, _) => format!(
            "The whole arguments ({size}) are here now: {}, read them in the detail, then \
             decide again (your reason is kept). Nothing is signed from this copy.",
            s.keymap.key_for(Section::Dialog, Action::Cancel)
        ),
        (false, Some(Fetch::Failed(why))) => format!(
            "The arguments ({size}) were too large for the stream and could not be fetched: \
             {why}. {} tries again; nothing is signed before they are shown.",
            s.keymap.key_for(Section::Dialog, Action::Confirm)
        ),
        (false, _) => format!(
            "The arguments ({size}) were too large for the stream: fetching them. Nothing is \
             signed before they are shown."
        ),
    })
}
