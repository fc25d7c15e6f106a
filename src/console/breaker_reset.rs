//! An operator's reset of an open breaker from the Budgets view: the dialog asking why, the
//! signed request it becomes, and the server's answer. Part of `update`.

use crate::protocol::{inert, Role, UsageReport};

use super::budget_state::{BudgetRow, ResetDraft};
use super::command::Command;
use super::dialog::Dialog;
use super::state::{Level, Request, State};
use super::text_field::TextField;

/// The reset key on a row of the Budgets view.
pub(super) fn start(s: &mut State) {
    let Some(BudgetRow::Breaker(i)) = s.selected_budget_row() else {
        s.say(
            Level::Info,
            "select an open breaker to reset (they are listed below the limits)".into(),
        );
        return;
    };
    let b = s.budgets.breakers()[i].clone();
    let why = match &s.me {
        None => Some("the server has not told us who you are yet (not connected)"),
        Some(me) if !me.has_role(Role::Operator) => {
            Some("only people with the operator role reset breakers")
        }
        Some(_) => None,
    };
    if let Some(why) = why {
        s.dialog = Some(Dialog::NotYours {
            escalation: format!("{}:{}", b.agent, b.breaker),
            why: why.into(),
        });
        return;
    }
    s.dialog = Some(Dialog::BreakerReset(ResetDraft {
        breaker: b,
        reason: TextField::default(),
        error: None,
    }));
}

/// Enter in the dialog: a reason is required; then the signed reset is sent.
pub(super) fn confirm(s: &mut State, mut r: ResetDraft, fx: &mut Vec<Command>) {
    let reason = r.reason.trim().to_string();
    if reason.is_empty() {
        r.error = Some("a reason is required".into());
        s.dialog = Some(Dialog::BreakerReset(r));
        return;
    }
    let (agent, breaker) = (r.breaker.agent, r.breaker.breaker);
    let request = s.next_request;
    s.next_request += 1;
    s.in_flight.insert(
        request,
        Request::ResetBreaker {
            agent: agent.clone(),
            breaker: breaker.clone(),
        },
    );
    s.say(
        Level::Info,
        format!(
            "… resetting breaker {} of {}",
            inert(&breaker),
            inert(&agent)
        ),
    );
    fx.push(Command::ResetBreaker {
        request,
        agent,
        breaker,
        reason,
    });
}

/// The server's answer: the agent's breakers after the reset, or why it refused.
pub(super) fn on_reply(
    s: &mut State,
    agent: &str,
    breaker: &str,
    result: Result<UsageReport, String>,
) {
    let (a, b) = (inert(agent), inert(breaker));
    match result {
        Ok(after) => {
            let still = after
                .breakers
                .iter()
                .any(|x| x.agent == agent && x.breaker == breaker);
            if let Some(report) = s.budgets.report.as_mut() {
                report.breakers.retain(|x| x.agent != agent);
                report
                    .breakers
                    .extend(after.breakers.into_iter().filter(|x| x.agent == agent));
            }
            if still {
                s.say(
                    Level::Error,
                    format!("✗ breaker {b} of {a} was reset but the server still shows it open"),
                );
            } else {
                s.say(Level::Success, format!("✓ breaker {b} of {a} reset"));
            }
        }
        Err(why) => s.say(
            Level::Error,
            format!("✗ breaker {b} of {a} was NOT reset: {}", inert(&why)),
        ),
    }
    // The limits and other agents' breakers are read again at once.
    s.budgets.stale = true;
    s.budgets.asked_at = None;
}
