//! Answers to the REST calls the console made (decisions, flips, reviews, fetches), and the
//! fetch of a whole escalation whose stream copy left values out. Part of `update`.

use crate::protocol::{inert, Escalation, EscalationState, Vote};

pub(super) use super::asks::fetch;
use super::command::Command;
use super::event::{Reply, RequestError};
use super::grant_keys::{on_grant_refused, on_grant_reply};
use super::server_events::{keep_whole, upsert, upsert_flag};
use super::state::{Fetch, Level, Request, State, View};
use super::words::{state_word, verdict_word};

pub(super) fn on_reply(s: &mut State, request: u64, result: Result<Reply, RequestError>) {
    let Some(req) = s.in_flight.remove(&request) else {
        return;
    };
    let why = |e: RequestError| format!("{} ({})", e.message, e.code);
    match (req, result) {
        (Request::BatchDecide { escalation, vote }, result) => {
            super::batch::on_reply(s, request, escalation, vote, result)
        }
        (Request::Audit, Ok(Reply::Audit(page))) => {
            super::audit_query::on_page(s, request, Ok(page))
        }
        (Request::Audit, Err(e)) => super::audit_query::on_page(s, request, Err(why(e))),
        (Request::History, Ok(Reply::History(page))) => {
            super::history_search::on_page(s, request, Ok(page))
        }
        (Request::History, Err(e)) => super::history_search::on_page(s, request, Err(why(e))),
        (Request::Usage, Ok(Reply::Usage(report))) => {
            super::budgets::on_report(s, request, Ok(report))
        }
        (Request::Usage, Err(e)) => super::budgets::on_report(s, request, Err(why(e))),
        (Request::ResetBreaker { agent, breaker }, Ok(Reply::Usage(after))) => {
            super::breaker_reset::on_reply(s, &agent, &breaker, Ok(after))
        }
        (Request::ResetBreaker { agent, breaker }, Err(e)) => {
            super::breaker_reset::on_reply(s, &agent, &breaker, Err(why(e)))
        }
        (Request::Figures, Ok(Reply::Figures(f))) => super::figures::on_reply(s, request, Ok(*f)),
        (Request::Figures, Err(e)) => super::figures::on_reply(s, request, Err(why(e))),
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
            s.say(
                Level::Success,
                format!("✓ your {verb} of {escalation} was accepted{again}; {progress}"),
            );
            super::grant_keys::approval_answered(s, &escalation, true);
            upsert(s, e);
        }
        (Request::Decide { escalation, vote }, Err(e)) => {
            let verb = if vote == Vote::Approve {
                "approval"
            } else {
                "denial"
            };
            s.say(
                Level::Error,
                format!(
                    "✗ your {verb} of {escalation} was NOT recorded: {} ({})",
                    inert(&e.message),
                    e.code
                ),
            );
            super::grant_keys::approval_answered(s, &escalation, false);
        }
        (Request::Flip { scope, .. }, Ok(Reply::Flip(ack))) => {
            let k = ack.killswitch;
            let cancelled = match ack.cancelled.len() {
                0 => String::new(),
                1 => "; it cancelled 1 pending escalation".to_string(),
                n => format!("; it cancelled {n} pending escalations"),
            };
            s.say(
                Level::Success,
                format!(
                    "✓ kill switch {scope} is now {}{cancelled}",
                    if k.on {
                        "ON: actions are denied"
                    } else {
                        "off"
                    }
                ),
            );
            s.killswitches.insert(k.scope.clone(), k);
        }
        (Request::Flip { scope, on }, Err(e)) => s.say(
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
            s.say(
                Level::Success,
                format!("✓ flagged action {action} marked {}", verdict_word(verdict)),
            );
            upsert_flag(s, f);
        }
        (Request::Review { action, .. }, Err(e)) => s.say(
            Level::Error,
            format!(
                "✗ review of {action} was NOT recorded: {} ({})",
                inert(&e.message),
                e.code
            ),
        ),
        (Request::Fetch { escalation }, Ok(Reply::Escalation(whole))) => {
            got_whole(s, &escalation, *whole)
        }
        (Request::Fetch { escalation }, Err(e)) => {
            let why = format!("{} ({})", inert(&e.message), e.code);
            s.say(
                Level::Error,
                format!("✗ could not fetch the whole of {escalation}: {why}"),
            );
            s.fetches.insert(escalation, Fetch::Failed(why));
        }
        (Request::Handle { escalation, what }, result) => {
            super::workflow::on_reply(s, &escalation, what, result)
        }
        (req @ (Request::Grant { .. } | Request::Revoke { .. }), Ok(Reply::Grant(g))) => {
            on_grant_reply(s, &req, *g)
        }
        (req @ (Request::Grant { .. } | Request::Revoke { .. }), Err(e)) => {
            on_grant_refused(s, &req, format!("{} ({})", inert(&e.message), e.code))
        }
        (req, Ok(other)) => s.say(
            Level::Error,
            format!("unexpected answer to {req:?}: {other:?}"),
        ),
    }
}

/// Fetches the whole of the selected escalation when its stream copy left values out, once; a
/// failed fetch is retried when the person asks (a or d), not in a loop.
pub(super) fn fetch_whole_if_needed(s: &mut State, fx: &mut Vec<Command>) {
    if !matches!(s.view, View::Queue | View::History) {
        return;
    }
    let Some(e) = s.selected_escalation() else {
        return;
    };
    if e.elided.is_empty() || s.fetches.contains_key(&e.id) {
        return;
    }
    let id = e.id.clone();
    fetch(s, id, fx);
}

/// The whole escalation arrived: it replaces the stream's copy wherever that is shown, if it is
/// the same escalation (same id and digest) and whole.
fn got_whole(s: &mut State, asked: &str, whole: Escalation) {
    if whole.id != asked || !whole.elided.is_empty() {
        let why = format!("the server answered for {} instead", inert(&whole.id));
        s.say(
            Level::Error,
            format!("✗ could not fetch the whole of {asked}: {why}"),
        );
        s.fetches.insert(asked.to_string(), Fetch::Failed(why));
        return;
    }
    let shown_digest = s
        .pending
        .iter()
        .map(|e| &**e)
        .chain(s.history.iter())
        .find(|e| e.id == whole.id)
        .map(|e| e.digest.clone());
    if shown_digest.as_ref().is_some_and(|d| *d != whole.digest) {
        let why = "its digest differs from the one the stream showed".to_string();
        s.say(
            Level::Error,
            format!("✗ the whole of {asked} was not used: {why}"),
        );
        s.fetches.insert(asked.to_string(), Fetch::Failed(why));
        return;
    }
    s.fetches.remove(asked);
    for e in s.pending.iter_mut().filter(|e| e.id == whole.id) {
        keep_whole(&whole, e);
    }
    s.pending_changed();
    for e in s.history.iter_mut().filter(|e| e.id == whole.id) {
        keep_whole(&whole, e);
    }
    if let Some(d) = s.stashed.as_mut().filter(|d| d.escalation.id == whole.id) {
        keep_whole(&whole, &mut d.escalation);
    }
    super::batch::got_whole(s, &whole);
    // An open decision dialog keeps the copy it was opened on: what is signed must have been
    // shown, so the person closes it, reads the arguments and decides again (the reason is kept).
}
