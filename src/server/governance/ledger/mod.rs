//! The limits' use per agent and session, in fixed windows aligned to the UTC epoch.
//!
//! State lives in memory, rebuilt at start from the calls of the current windows (`restore`):
//! every call that was not denied counts (a held review too, until its escalation ends without
//! approval: then it is released), at its cost (the reported actual cost once there is one),
//! and an approved budget escalation adds its limit's grace to the window it was raised in. A
//! call is counted when it is judged (`admit`, under one lock, so two calls at once cannot both
//! take the last unit) and released if it is not recorded after all. Windows that have ended
//! are dropped, so memory is bounded by the calls of the current windows.

mod window;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::TimeZone;

use crate::protocol::{Effect, Escalation, EscalationState, LimitUse, Resolution, Timestamp};
use crate::server::policy::Limit;
use crate::server::store::RecentAction;
pub use window::{add_cost, Key, Use};

/// One limit that covers a call, and its use before the call.
pub struct Standing<'l> {
    pub index: usize,
    pub limit: &'l Limit,
    pub key: Key,
    pub used: Use,
}

/// What a counted call added, so it can be released or its cost replaced.
struct Counted {
    keys: Vec<Key>,
    cost: f64,
    /// The latest end of its windows: after it, nothing of it is left to change.
    until: i64,
}

#[derive(Default)]
struct State {
    uses: HashMap<Key, Use>,
    counted: HashMap<String, Counted>,
    pruned_at: i64,
}

/// Cheap to clone: clones share one state (the queue holds one to hear of resolutions).
#[derive(Clone)]
pub struct Ledger {
    limits: Arc<Vec<Limit>>,
    state: Arc<Mutex<State>>,
}

impl Ledger {
    pub fn new(limits: &[Limit]) -> Ledger {
        Ledger {
            limits: Arc::new(limits.to_vec()),
            state: Arc::default(),
        }
    }

    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change is a few map updates that leave it whole: poison is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The earliest time whose calls the current windows count; `None` without limits.
    pub fn lookback(&self, now: Timestamp) -> Option<Timestamp> {
        self.limits
            .iter()
            .map(|l| window::window_start(l, now))
            .min()
            .and_then(|s| chrono::Utc.timestamp_opt(s, 0).single())
    }

    /// Rebuilds the use of the current windows from the calls recorded since `lookback`.
    pub fn restore(&self, calls: &[RecentAction], now: Timestamp) {
        let mut st = self.state();
        for c in calls {
            let counts = c.effect != Effect::Deny
                && matches!(c.resolution, None | Some(Resolution::Approved));
            if !counts {
                continue;
            }
            let cost = c.cost.unwrap_or(0.0);
            self.count(
                &mut st, &c.id, &c.agent, &c.session, &c.tool, cost, c.at, now,
            );
            if c.effect == Effect::Review && c.resolution == Some(Resolution::Approved) {
                if let Some(id) = c.governed.as_deref().and_then(|g| g.strip_prefix("limit:")) {
                    self.grant(&mut st, id, &c.agent, &c.session, c.at, now);
                }
            }
        }
    }

    /// Counts a call in every limit that covers it whose window is still current.
    #[allow(clippy::too_many_arguments)]
    fn count(
        &self,
        st: &mut State,
        id: &str,
        agent: &str,
        session: &str,
        tool: &str,
        cost: f64,
        at: Timestamp,
        now: Timestamp,
    ) {
        // Counted already (a replica that started while the call was recorded elsewhere reads
        // it both at start and from the change feed).
        if st.counted.contains_key(id) {
            return;
        }
        let mut keys = Vec::new();
        let mut until = i64::MIN;
        for (i, l) in self.limits.iter().enumerate() {
            if !l.covers(agent, tool) {
                continue;
            }
            let key = window::key_for(i, l, agent, session, at);
            let end = window::window_end(l, key.start);
            if end <= now.timestamp() {
                continue;
            }
            let u = st.uses.entry(key.clone()).or_default();
            *u = u.plus(cost);
            until = until.max(end);
            keys.push(key);
        }
        if !keys.is_empty() {
            st.counted
                .insert(id.to_string(), Counted { keys, cost, until });
        }
    }

    /// Adds limit `id`'s grace to the window that holds `at`, if it is still current.
    fn grant(
        &self,
        st: &mut State,
        id: &str,
        agent: &str,
        session: &str,
        at: Timestamp,
        now: Timestamp,
    ) {
        let Some((i, l)) = self.limits.iter().enumerate().find(|(_, l)| l.id == id) else {
            return;
        };
        let Some((calls, cost)) = l.grace() else {
            return;
        };
        let key = window::key_for(i, l, agent, session, at);
        if window::window_end(l, key.start) <= now.timestamp() {
            return;
        }
        let u = st.uses.entry(key).or_default();
        u.grace_calls = u.grace_calls.saturating_add(calls);
        u.grace_cost = add_cost(u.grace_cost, cost);
    }

    /// Judges a call against the limits that cover it: `judge` sees their use before the call
    /// and says whether the call counts, and at what cost. Counting happens under the same
    /// lock, so the next call sees it. A call no limit covers is judged without the lock, so
    /// calls outside every envelope never wait on each other here.
    #[allow(clippy::too_many_arguments)]
    pub fn admit<R>(
        &self,
        id: &str,
        agent: &str,
        session: &str,
        tool: &str,
        now: Timestamp,
        judge: impl FnOnce(&[Standing<'_>]) -> (R, Option<f64>),
    ) -> R {
        if !self.limits.iter().any(|l| l.covers(agent, tool)) {
            return judge(&[]).0;
        }
        let mut st = self.state();
        self.prune(&mut st, now);
        let standing: Vec<Standing<'_>> = self
            .limits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.covers(agent, tool))
            .map(|(i, l)| {
                let key = window::key_for(i, l, agent, session, now);
                let used = st.uses.get(&key).copied().unwrap_or_default();
                Standing {
                    index: i,
                    limit: l,
                    key,
                    used,
                }
            })
            .collect();
        let (r, counted) = judge(&standing);
        if let Some(cost) = counted {
            self.count(&mut st, id, agent, session, tool, cost, now, now);
        }
        r
    }

    /// Takes a counted call back out: it was not recorded, was denied, or its review ended
    /// without approval.
    pub fn release(&self, id: &str) {
        let mut st = self.state();
        let Some(c) = st.counted.remove(id) else {
            return;
        };
        for k in &c.keys {
            if let Some(u) = st.uses.get_mut(k) {
                u.calls = u.calls.saturating_sub(1);
                u.cost = add_cost(u.cost, -c.cost);
            }
        }
    }

    /// An escalation ended: one that was not approved releases its call; an approved budget
    /// escalation adds its grace to the window the call was held in.
    pub fn resolved(&self, esc: &Escalation, now: Timestamp) {
        if esc.state != EscalationState::Approved {
            self.release(&esc.action.id);
            return;
        }
        if let Some(ask) = &esc.budget {
            let mut st = self.state();
            let a = &esc.action;
            self.grant(
                &mut st,
                &ask.usage.limit,
                &a.agent,
                &a.session,
                a.submitted_at,
                now,
            );
        }
    }

    /// Replaces a counted call's cost with its reported actual cost. Answers whether the call
    /// was still counted in a current window.
    pub fn cost_reported(&self, id: &str, cost: f64) -> bool {
        let mut st = self.state();
        let Some(c) = st.counted.get_mut(id) else {
            return false;
        };
        let delta = cost - c.cost;
        c.cost = cost;
        let keys = c.keys.clone();
        for k in &keys {
            if let Some(u) = st.uses.get_mut(k) {
                u.cost = add_cost(u.cost, delta);
            }
        }
        true
    }

    /// Every limit in use in its current window, for one agent or all.
    pub fn report(&self, agent: Option<&str>, now: Timestamp) -> Vec<LimitUse> {
        self.uses(agent, now, usize::MAX).0
    }

    /// The limits in use in their current windows, in key order: at most `most`, the fullest
    /// kept, and how many were left out.
    pub fn uses(&self, agent: Option<&str>, now: Timestamp, most: usize) -> (Vec<LimitUse>, u64) {
        let st = self.state();
        let t = now.timestamp();
        let mut out: Vec<(&Key, LimitUse)> = st
            .uses
            .iter()
            .filter(|(k, _)| agent.is_none_or(|a| a == k.agent))
            .filter_map(|(k, u)| {
                let l = self.limits.get(k.limit)?;
                (k.start <= t && window::window_end(l, k.start) > t).then(|| (k, u.report(l, k)))
            })
            .collect();
        let omitted = out.len().saturating_sub(most);
        if omitted > 0 {
            out.sort_by(|a, b| b.1.share.total_cmp(&a.1.share));
            out.truncate(most);
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        (out.into_iter().map(|(_, u)| u).collect(), omitted as u64)
    }

    /// Drops ended windows and the calls only they held, at most once a second.
    fn prune(&self, st: &mut State, now: Timestamp) {
        let t = now.timestamp();
        if t <= st.pruned_at {
            return;
        }
        st.pruned_at = t;
        let limits = &*self.limits;
        st.uses.retain(|k, _| {
            limits
                .get(k.limit)
                .is_some_and(|l| window::window_end(l, k.start) > t)
        });
        st.counted.retain(|_, c| c.until > t);
    }
}

impl crate::server::metrics::BudgetSummary for Ledger {
    fn budget_uses(&self, now: Timestamp) -> Vec<LimitUse> {
        self.report(None, now)
    }
}

#[cfg(test)]
mod tests;
