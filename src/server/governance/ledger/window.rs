//! One limit's use in one fixed window, and the arithmetic on it: saturating counts and costs
//! that stay finite and never go below zero.

use chrono::TimeZone;

use crate::protocol::{LimitScope, LimitState, LimitUse, Timestamp};
use crate::server::policy::Limit;

/// Where a use is counted: the limit (its index in the policy), the agent, the session for
/// `per = "session"`, and the window's start (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub limit: usize,
    pub agent: String,
    pub session: Option<String>,
    pub start: i64,
}

/// The calls and cost counted in a window, and the grace approved for it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Use {
    pub calls: u64,
    pub cost: f64,
    pub grace_calls: u64,
    pub grace_cost: f64,
}

/// Adds `b` to a cost, keeping it finite and not negative.
pub fn add_cost(a: f64, b: f64) -> f64 {
    let s = a + b;
    if s.is_finite() {
        s.max(0.0)
    } else {
        f64::MAX
    }
}

/// The start of the window of `limit` that holds `t`, aligned to the UTC epoch.
pub fn window_start(limit: &Limit, t: Timestamp) -> i64 {
    let w = limit.window_secs().max(1) as i64;
    t.timestamp().div_euclid(w).saturating_mul(w)
}

pub fn window_end(limit: &Limit, start: i64) -> i64 {
    start.saturating_add(limit.window_secs() as i64)
}

pub fn key_for(index: usize, limit: &Limit, agent: &str, session: &str, t: Timestamp) -> Key {
    Key {
        limit: index,
        agent: agent.to_string(),
        session: match limit.per {
            LimitScope::Agent => None,
            LimitScope::Session => Some(session.to_string()),
        },
        start: window_start(limit, t),
    }
}

fn at(secs: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(secs, 0)
        .single()
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

impl Use {
    /// The most calls and cost the window allows, grace included.
    pub fn caps(&self, limit: &Limit) -> (Option<u64>, Option<f64>) {
        (
            limit.max_calls.map(|m| m.saturating_add(self.grace_calls)),
            limit.max_cost.map(|m| add_cost(m, self.grace_cost)),
        )
    }

    /// The larger of calls and cost as a share of its cap.
    pub fn share(&self, limit: &Limit) -> f64 {
        let (calls, cost) = self.caps(limit);
        let a = calls.map_or(0.0, |c| self.calls as f64 / c.max(1) as f64);
        let b = cost.map_or(0.0, |c| if c > 0.0 { self.cost / c } else { 0.0 });
        a.max(b)
    }

    /// This use with one more call of `cost`.
    pub fn plus(&self, cost: f64) -> Use {
        Use {
            calls: self.calls.saturating_add(1),
            cost: add_cost(self.cost, cost),
            ..*self
        }
    }

    /// Whether this use is past the cap (a use exactly at the cap is within it).
    pub fn over(&self, limit: &Limit) -> bool {
        let (calls, cost) = self.caps(limit);
        calls.is_some_and(|c| self.calls > c) || cost.is_some_and(|c| self.cost > c)
    }

    /// Whether one more call, of any cost, would be past the cap.
    pub fn full(&self, limit: &Limit) -> bool {
        let (calls, cost) = self.caps(limit);
        calls.is_some_and(|c| self.calls >= c) || cost.is_some_and(|c| self.cost >= c)
    }

    pub fn report(&self, limit: &Limit, key: &Key) -> LimitUse {
        let share = self.share(limit);
        let state = if self.full(limit) {
            LimitState::Exceeded
        } else if limit.warn_at.is_some_and(|w| share >= w) {
            LimitState::Warning
        } else {
            LimitState::Ok
        };
        LimitUse {
            limit: limit.id.clone(),
            per: limit.per,
            agent: key.agent.clone(),
            session: key.session.clone(),
            window_secs: limit.window_secs(),
            window_start: at(key.start),
            resets_at: at(window_end(limit, key.start)),
            calls: self.calls,
            max_calls: limit.max_calls,
            cost: self.cost,
            max_cost: limit.max_cost,
            grace_calls: self.grace_calls,
            grace_cost: self.grace_cost,
            warn_at: limit.warn_at,
            share,
            state,
        }
    }
}
