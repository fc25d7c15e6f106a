//! The breakers' part in judging one call: before the limits and rules (`gate`: an open
//! breaker denies, a half-open one takes the call as its trial), and after them (`judge`: the
//! call that trips a breaker, and what a trial decides).

use super::{
    closed_event, open_reason, push_escalation, trip, Breakers, Track, Trial, Trigger, TRIAL_HOLD,
};
use crate::protocol::Timestamp;
use crate::server::audit::AuditEvent;
use crate::server::policy::Breaker;

/// What the open breakers say about a call before it is judged.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    Pass,
    /// This call is the trial of the agent's half-open breakers.
    Trial,
    Deny {
        breaker: String,
        reason: String,
    },
}

/// A call as the rules (and grants and limits) judged it.
pub struct Judged<'a> {
    pub agent: &'a str,
    pub action: &'a str,
    /// It would raise an escalation.
    pub review: bool,
    /// The policy's rules denied it.
    pub policy_denied: bool,
    /// A limit denied it: it says nothing of how the agent behaves under the rules. (A budget
    /// escalation is a review like any other.)
    pub governed: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Unchanged,
    Deny { breaker: String, reason: String },
}

fn trial_busy(trial: Option<&Trial>, action: &str, now: Timestamp) -> bool {
    trial.is_some_and(|t| t.action != action && super::after(t.started, TRIAL_HOLD) > now)
}

impl Breakers {
    /// Before the limits and rules: the first open breaker denies; half-open ones take this
    /// call as their one trial, unless another trial is being judged.
    pub fn gate(&self, agent: &str, action: &str, now: Timestamp) -> Gate {
        let mut tracks = self.inner.tracks();
        let mut trials = Vec::new();
        for (i, b) in self.inner.list.iter().enumerate() {
            let Some(open) = tracks
                .get(&(i, agent.to_string()))
                .and_then(|t| t.open.as_ref())
            else {
                continue;
            };
            if now < open.until {
                return Gate::Deny {
                    breaker: b.id.clone(),
                    reason: open_reason(b, agent, open),
                };
            }
            if trial_busy(open.trial.as_ref(), action, now) {
                return Gate::Deny {
                    breaker: b.id.clone(),
                    reason: format!(
                        "breaker \"{}\" is half-open for {agent}: one trial call is being \
                         judged; try again shortly ({})",
                        b.id, open.reason
                    ),
                };
            }
            trials.push(i);
        }
        if trials.is_empty() {
            return Gate::Pass;
        }
        for i in trials {
            if let Some(open) = tracks
                .get_mut(&(i, agent.to_string()))
                .and_then(|t| t.open.as_mut())
            {
                open.trial = Some(Trial {
                    action: action.to_string(),
                    started: now,
                    closes: false,
                });
            }
        }
        Gate::Trial
    }

    /// After the rules: trips the breakers this call trips (the call that would be an
    /// escalation past `max_escalations` is denied), and decides the trials. `would_attach`
    /// says whether a review would join an escalation already pending (no new one is asked).
    /// A review let through is counted here, before its write, so two at once cannot both be
    /// the last one allowed (a write that then fails leaves it counted: stricter, never looser).
    pub fn judge(
        &self,
        call: &Judged<'_>,
        now: Timestamp,
        mut would_attach: impl FnMut() -> bool,
    ) -> (Verdict, Vec<AuditEvent>) {
        let mut tracks = self.inner.tracks();
        let mut verdict = Verdict::Unchanged;
        let mut events = Vec::new();
        let mut attaches = None;
        let mut would_attach = || *attaches.get_or_insert_with(&mut would_attach);
        for (i, b) in self.inner.list.iter().enumerate() {
            if !b.covers(call.agent) {
                continue;
            }
            let track = tracks
                .entry((i, call.agent.to_string()))
                .or_insert_with(|| Track::new(b));
            let governed = call.governed || verdict != Verdict::Unchanged;
            let Some(open) = &mut track.open else {
                if governed {
                    continue;
                }
                if let Some((v, e)) = closed(b, track, call, now, &mut would_attach) {
                    events.push(e);
                    if let Some(v) = v {
                        verdict = v;
                    }
                }
                continue;
            };
            let Some(trial) = open.trial.as_mut().filter(|t| t.action == call.action) else {
                continue;
            };
            if governed {
                open.trial = None;
                continue;
            }
            let again = match open.trigger {
                Trigger::Escalations if call.review => {
                    "the trial call after the cooldown asked for review again"
                }
                Trigger::DeniedShare if call.policy_denied => {
                    "the trial call after the cooldown was denied again"
                }
                _ => {
                    trial.closes = true;
                    events.push(closed_event(b, call.agent, call.action, now));
                    continue;
                }
            };
            let (reopened, e) = trip(b, call.agent, call.action, open.trigger, again.into(), now);
            if open.trigger == Trigger::Escalations {
                verdict = Verdict::Deny {
                    breaker: b.id.clone(),
                    reason: open_reason(b, call.agent, &reopened),
                };
            }
            track.open = Some(reopened);
            track.start_afresh(now);
            events.push(e);
        }
        (verdict, events)
    }
}

/// A closed breaker's counts with this call: the trip it causes, if any, and whether the call
/// is denied for it.
fn closed(
    b: &Breaker,
    track: &mut Track,
    call: &Judged<'_>,
    now: Timestamp,
    would_attach: &mut impl FnMut() -> bool,
) -> Option<(Option<Verdict>, AuditEvent)> {
    let window = crate::duration::format(b.window);
    let start = crate::duration::to_chrono(b.window).and_then(|w| now.checked_sub_signed(w));
    while track
        .escalations
        .front()
        .is_some_and(|t| start.is_some_and(|s| *t <= s))
    {
        track.escalations.pop_front();
    }
    if let Some(max) = b.max_escalations.filter(|_| call.review && !would_attach()) {
        if track.escalations.len() < max as usize {
            push_escalation(b, track, now);
        } else {
            let n = u64::from(max).saturating_add(1);
            let why = format!("{n} escalations within {window} (max {max})");
            let (open, e) = trip(b, call.agent, call.action, Trigger::Escalations, why, now);
            let reason = open_reason(b, call.agent, &open);
            track.open = Some(open);
            track.start_afresh(now);
            let verdict = Verdict::Deny {
                breaker: b.id.clone(),
                reason,
            };
            return Some((Some(verdict), e));
        }
    }
    let max = b.max_denied_share?;
    let (calls, denied) = track.share.last(now, b.window);
    let calls = calls.saturating_add(1);
    let denied = denied.saturating_add(u64::from(call.policy_denied));
    let exceeds = denied as f64 / calls as f64 > max || (max >= 1.0 && denied == calls);
    if calls < u64::from(b.min_calls) || !exceeds {
        return None;
    }
    let why = format!("{denied} of {calls} calls denied within {window} (max share {max})");
    let (open, e) = trip(b, call.agent, call.action, Trigger::DeniedShare, why, now);
    track.open = Some(open);
    track.start_afresh(now);
    Some((None, e))
}
