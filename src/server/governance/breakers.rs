//! Circuit breakers per agent: tripped by an escalation count or a denied share in a window.
//!
//! Per breaker and agent: the times of its last escalations (at most `max_escalations` kept)
//! and, in slots, its calls the policy judged and how many of them the policy denied. Counts
//! are taken when a call is recorded (`recorded`), never for a call a kill switch, breaker or
//! limit decided (`governed`), and start afresh when the breaker trips, closes or is reset.
//!
//! Open: every call of the agent is denied until `until` (the cooldown). Half-open after it:
//! one call at a time goes through as the trial (`gate`) and is judged normally; `judge` then
//! decides from it by what tripped the breaker: for escalations, a trial that asks for review
//! again is denied and re-opens the breaker; for the denied share, a trial the policy denies
//! re-opens it; a trial a limit decided says nothing and the next call is the trial; any other
//! trial closes the breaker once it is recorded. A trial whose record never lands (a failed
//! write) stops holding the others after [`TRIAL_HOLD`].
//!
//! Trips and re-opens take effect at once (stricter); a close only once its call is recorded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::TimeDelta;

use super::window::Window;
use crate::protocol::{BreakerState, BreakerStatus, Effect, Timestamp};
use crate::server::audit::{AuditEvent, BreakerClosed, BreakerTripped};
use crate::server::policy::Breaker;
use crate::server::store::RecentAction;

mod judge;
mod restore;

pub use judge::{Gate, Judged, Verdict};

/// How long a trial call holds a half-open breaker for itself before another may try.
pub const TRIAL_HOLD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Escalations,
    DeniedShare,
}

impl Trigger {
    fn name(self) -> &'static str {
        match self {
            Trigger::Escalations => "escalations",
            Trigger::DeniedShare => "denied_share",
        }
    }

    fn parse(s: &str) -> Trigger {
        match s {
            "denied_share" => Trigger::DeniedShare,
            _ => Trigger::Escalations,
        }
    }
}

#[derive(Debug, Clone)]
struct Open {
    reason: String,
    trigger: Trigger,
    since: Timestamp,
    until: Timestamp,
    /// The call being judged as the trial, since when, and whether recording it closes.
    trial: Option<Trial>,
}

#[derive(Debug, Clone)]
struct Trial {
    action: String,
    started: Timestamp,
    closes: bool,
}

/// One breaker's counts and state for one agent.
#[derive(Debug)]
struct Track {
    escalations: VecDeque<Timestamp>,
    /// (calls the policy judged, calls it denied).
    share: Window,
    /// Calls at or before this are not counted (the breaker tripped, closed or was reset).
    fresh_after: Option<Timestamp>,
    open: Option<Open>,
}

impl Track {
    fn new(b: &Breaker) -> Track {
        Track {
            escalations: VecDeque::new(),
            share: Window::new(b.window, b.window / 60),
            fresh_after: None,
            open: None,
        }
    }

    fn start_afresh(&mut self, at: Timestamp) {
        self.escalations.clear();
        self.share.clear();
        self.fresh_after = Some(at);
    }
}

struct Inner {
    list: Vec<Breaker>,
    /// Held by an operator's reset from its checks to its write.
    resets: tokio::sync::Mutex<()>,
    /// (breaker index, agent) → its track.
    tracks: Mutex<HashMap<(usize, String), Track>>,
}

impl Inner {
    fn tracks(&self) -> MutexGuard<'_, HashMap<(usize, String), Track>> {
        // Every update leaves a track whole: a panic elsewhere cannot leave it half-changed.
        self.tracks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Clone)]
pub struct Breakers {
    inner: Arc<Inner>,
}

/// Why a reset cannot be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetRefused {
    UnknownBreaker(String),
    NothingOpen,
}

fn when(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    crate::duration::to_chrono(d)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(t)
}

impl Breakers {
    pub fn new(breakers: &[Breaker]) -> Breakers {
        Breakers {
            inner: Arc::new(Inner {
                list: breakers.to_vec(),
                resets: tokio::sync::Mutex::new(()),
                tracks: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.inner.list.is_empty()
    }

    /// The earliest time whose calls the breakers' windows count; `None` without breakers.
    pub fn lookback(&self, now: Timestamp) -> Option<Timestamp> {
        let longest = self.inner.list.iter().map(|b| b.window).max()?;
        let back = crate::duration::to_chrono(longest).unwrap_or(TimeDelta::zero());
        Some(now.checked_sub_signed(back).unwrap_or(now))
    }

    /// Counts a recorded call: its own trial closes a breaker; otherwise, while closed, a call
    /// the policy judged counts for the share. Its escalation was counted when it was judged.
    pub fn recorded(&self, call: &RecentAction) {
        self.take(call, false);
    }

    /// `recorded`, and with `escalations` the call's escalation too (a call read back at start).
    fn take(&self, call: &RecentAction, escalations: bool) {
        let mut tracks = self.inner.tracks();
        for (i, b) in self.inner.list.iter().enumerate() {
            if !b.covers(&call.agent) {
                continue;
            }
            let track = tracks
                .entry((i, call.agent.clone()))
                .or_insert_with(|| Track::new(b));
            if let Some(open) = &track.open {
                if open
                    .trial
                    .as_ref()
                    .is_some_and(|t| t.action == call.id && t.closes)
                {
                    track.open = None;
                    track.start_afresh(call.at);
                }
                continue;
            }
            count(b, track, call, escalations);
        }
    }

    /// Every breaker not closed, for one agent or all.
    pub fn report(&self, agent: Option<&str>, now: Timestamp) -> Vec<BreakerStatus> {
        let tracks = self.inner.tracks();
        let mut out: Vec<BreakerStatus> = tracks
            .iter()
            .filter(|((_, a), _)| agent.is_none_or(|x| x == a))
            .filter_map(|((i, a), t)| {
                let open = t.open.as_ref()?;
                Some(BreakerStatus {
                    breaker: self.inner.list[*i].id.clone(),
                    agent: a.clone(),
                    state: if now < open.until {
                        BreakerState::Open
                    } else {
                        BreakerState::HalfOpen
                    },
                    reason: open.reason.clone(),
                    since: open.since,
                    until: open.until,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.agent, &a.breaker).cmp(&(&b.agent, &b.breaker)));
        out
    }

    /// How many agents each breaker is open (or half-open) for, every breaker listed.
    pub fn open_counts(&self) -> Vec<(String, u64)> {
        let tracks = self.inner.tracks();
        self.inner
            .list
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let n = tracks
                    .iter()
                    .filter(|((j, _), t)| *j == i && t.open.is_some())
                    .count();
                (b.id.clone(), n as u64)
            })
            .collect()
    }

    /// One reset at a time, from its checks to its write.
    pub async fn reset_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.resets.lock().await
    }

    /// The ids of the agent's breakers a reset of `breaker` (or of every one) would close.
    pub fn resettable(
        &self,
        agent: &str,
        breaker: Option<&str>,
    ) -> Result<Vec<String>, ResetRefused> {
        if let Some(id) = breaker {
            if !self.inner.list.iter().any(|b| b.id == id) {
                return Err(ResetRefused::UnknownBreaker(id.to_string()));
            }
        }
        let tracks = self.inner.tracks();
        let ids: Vec<String> = self
            .inner
            .list
            .iter()
            .enumerate()
            .filter(|(_, b)| breaker.is_none_or(|id| id == b.id))
            .filter(|(i, _)| {
                tracks
                    .get(&(*i, agent.to_string()))
                    .is_some_and(|t| t.open.is_some())
            })
            .map(|(_, b)| b.id.clone())
            .collect();
        if ids.is_empty() {
            return Err(ResetRefused::NothingOpen);
        }
        Ok(ids)
    }

    /// Closes the agent's breakers `ids` after their reset was recorded; counts start afresh.
    pub fn reset(&self, agent: &str, ids: &[String], at: Timestamp) {
        let mut tracks = self.inner.tracks();
        for (i, b) in self.inner.list.iter().enumerate() {
            if ids.contains(&b.id) {
                if let Some(t) = tracks.get_mut(&(i, agent.to_string())) {
                    t.open = None;
                    t.start_afresh(at);
                }
            }
        }
    }
}

impl crate::server::metrics::OpenBreakers for Breakers {
    fn open_breakers(&self) -> Vec<(String, u64)> {
        self.open_counts()
    }
}

/// Counts one call of a closed breaker's agent.
fn count(b: &Breaker, track: &mut Track, call: &RecentAction, escalations: bool) {
    if track.fresh_after.is_some_and(|f| call.at <= f) {
        return;
    }
    if escalations && call.effect == Effect::Review {
        push_escalation(b, track, call.at);
    }
    if b.max_denied_share.is_some() && call.governed.is_none() {
        let denied = u64::from(call.effect == Effect::Deny);
        track.share.add(call.at, 1, denied);
    }
}

/// Keeps the last `max_escalations` escalation times: all a trip needs.
fn push_escalation(b: &Breaker, track: &mut Track, at: Timestamp) {
    if let Some(max) = b.max_escalations {
        track.escalations.push_back(at);
        while track.escalations.len() > max as usize {
            track.escalations.pop_front();
        }
    }
}

/// The record of a trip and the open state it starts.
fn trip(
    b: &Breaker,
    agent: &str,
    action: &str,
    trigger: Trigger,
    reason: String,
    now: Timestamp,
) -> (Open, AuditEvent) {
    let until = after(now, b.cooldown);
    let event = AuditEvent::BreakerTripped(BreakerTripped {
        breaker: b.id.clone(),
        agent: agent.to_string(),
        reason: reason.clone(),
        trigger: trigger.name().to_string(),
        action: action.to_string(),
        since: now,
        until,
    });
    (
        Open {
            reason,
            trigger,
            since: now,
            until,
            trial: None,
        },
        event,
    )
}

fn closed_event(b: &Breaker, agent: &str, action: &str, now: Timestamp) -> AuditEvent {
    AuditEvent::BreakerClosed(BreakerClosed {
        breaker: b.id.clone(),
        agent: agent.to_string(),
        action: action.to_string(),
        reason: "the trial call after the cooldown was judged normally".to_string(),
        at: now,
    })
}

/// The reason an open breaker gives for denying a call.
fn open_reason(b: &Breaker, agent: &str, open: &Open) -> String {
    format!(
        "breaker \"{}\" is open for {agent} since {}: {}; it half-opens at {} or when an \
         operator resets it",
        b.id,
        when(open.since),
        open.reason,
        when(open.until)
    )
}

#[cfg(test)]
mod tests;
