//! The governance figures of a window, counted from rows a backend streams in (calls, ended
//! escalations, votes, kill switch flips) without keeping the rows: memory grows with the
//! people who voted and the flips, both capped, not with the calls.

use std::collections::HashMap;

use crate::protocol::{
    share, Effect, FigureBucket, GovernanceFigures, KillswitchBite, PersonFigures, Timestamp, Vote,
    FIGURE_BUCKETS, MAX_FIGURE_FLIPS, MAX_FIGURE_PEOPLE,
};

/// Times to decide (or to approve, per person) kept for the mean, median and p90: beyond this
/// the figures describe the first ones of the window.
const MAX_SAMPLES: usize = 100_000;
/// People tracked while counting; votes of anyone past this many are not counted.
const MAX_TRACKED_PEOPLE: usize = 1_000;

/// How a call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Denied by a rule or by no rule matching.
    PolicyDeny,
    /// Denied by a kill switch, a breaker or a limit.
    GovernanceDeny,
    Other(Effect),
}

#[derive(Default)]
struct Person {
    approvals: u64,
    denials: u64,
    approve_secs: Vec<f64>,
}

/// The figures as they are counted.
pub struct FigureTally {
    from: Timestamp,
    window_secs: u64,
    out: GovernanceFigures,
    decide_secs: Vec<f64>,
    people: HashMap<String, Person>,
}

impl FigureTally {
    pub fn new(from: Timestamp, to: Timestamp) -> FigureTally {
        let window_secs = (to - from).num_seconds().max(1) as u64;
        let step = window_secs as f64 / FIGURE_BUCKETS as f64;
        let series = (0..FIGURE_BUCKETS)
            .map(|i| FigureBucket {
                start: from + chrono::Duration::milliseconds((step * 1000.0 * i as f64) as i64),
                ..FigureBucket::default()
            })
            .collect();
        FigureTally {
            from,
            window_secs,
            out: GovernanceFigures {
                window_secs,
                from,
                to,
                calls: 0,
                policy_denies: 0,
                governance_denies: 0,
                reviews: 0,
                flags: 0,
                policy_deny_rate: None,
                intervention_rate: None,
                resolved: 0,
                decided: 0,
                expired: 0,
                time_to_decide_mean_secs: None,
                time_to_decide_p90_secs: None,
                expiry_rate: None,
                approvals_per_person: Vec::new(),
                killswitch_to_first_deny: Vec::new(),
                series,
            },
            decide_secs: Vec::new(),
            people: HashMap::new(),
        }
    }

    fn bucket(&mut self, at: Timestamp) -> &mut FigureBucket {
        let offset = (at - self.from).num_milliseconds().max(0) as u128;
        let i = (offset * FIGURE_BUCKETS as u128 / (self.window_secs as u128 * 1000)) as usize;
        &mut self.out.series[i.min(FIGURE_BUCKETS - 1)]
    }

    pub fn call(&mut self, at: Timestamp, kind: CallKind) {
        let o = &mut self.out;
        o.calls = o.calls.saturating_add(1);
        match kind {
            CallKind::PolicyDeny => o.policy_denies = o.policy_denies.saturating_add(1),
            CallKind::GovernanceDeny => o.governance_denies = o.governance_denies.saturating_add(1),
            CallKind::Other(Effect::Review) => o.reviews = o.reviews.saturating_add(1),
            CallKind::Other(Effect::Flag) => o.flags = o.flags.saturating_add(1),
            CallKind::Other(_) => {}
        }
        let b = self.bucket(at);
        b.calls = b.calls.saturating_add(1);
        match kind {
            CallKind::PolicyDeny | CallKind::GovernanceDeny | CallKind::Other(Effect::Deny) => {
                b.denies = b.denies.saturating_add(1)
            }
            CallKind::Other(Effect::Review) => b.reviews = b.reviews.saturating_add(1),
            CallKind::Other(_) => {}
        }
    }

    /// An escalation that ended at `resolved_at`: `decided` when people's votes ended it,
    /// `expired` when time did. `created_at` is `None` when its body does not say.
    pub fn ended(
        &mut self,
        created_at: Option<Timestamp>,
        resolved_at: Timestamp,
        decided: bool,
        expired: bool,
    ) {
        let o = &mut self.out;
        o.resolved = o.resolved.saturating_add(1);
        if decided {
            o.decided = o.decided.saturating_add(1);
            if let Some(created) = created_at {
                if self.decide_secs.len() < MAX_SAMPLES {
                    self.decide_secs.push(secs_between(created, resolved_at));
                }
            }
        }
        if expired {
            o.expired = o.expired.saturating_add(1);
        }
        let b = self.bucket(resolved_at);
        if decided {
            b.decided = b.decided.saturating_add(1);
        }
        if expired {
            b.expired = b.expired.saturating_add(1);
        }
    }

    /// One vote on an escalation that ended in the window. `secs` is from the escalation's
    /// creation to the vote, when both times are known.
    pub fn vote(&mut self, person: &str, verdict: Vote, secs: Option<f64>) {
        if !self.people.contains_key(person) && self.people.len() >= MAX_TRACKED_PEOPLE {
            return;
        }
        let p = self.people.entry(person.to_string()).or_default();
        match verdict {
            Vote::Approve => {
                p.approvals = p.approvals.saturating_add(1);
                if let Some(s) = secs.filter(|s| s.is_finite()) {
                    if p.approve_secs.len() < MAX_SAMPLES {
                        p.approve_secs.push(s.max(0.0));
                    }
                }
            }
            Vote::Deny => p.denials = p.denials.saturating_add(1),
        }
    }

    /// A kill switch turned on at `flipped_at`, and its first deny after, if any.
    pub fn flip(&mut self, scope: String, flipped_at: Timestamp, first_deny: Option<Timestamp>) {
        if self.out.killswitch_to_first_deny.len() < MAX_FIGURE_FLIPS {
            self.out.killswitch_to_first_deny.push(KillswitchBite {
                scope,
                flipped_at,
                first_deny_after_secs: first_deny.map(|d| secs_between(flipped_at, d)),
            });
        }
    }

    pub fn finish(mut self) -> GovernanceFigures {
        let o = &mut self.out;
        o.policy_deny_rate = share(o.policy_denies, o.calls);
        o.intervention_rate = share(o.reviews.saturating_add(o.flags), o.calls);
        o.expiry_rate = share(o.expired, o.resolved);
        sort(&mut self.decide_secs);
        if !self.decide_secs.is_empty() {
            o.time_to_decide_mean_secs =
                Some(self.decide_secs.iter().sum::<f64>() / self.decide_secs.len() as f64);
            o.time_to_decide_p90_secs = percentile(&self.decide_secs, 0.9);
        }
        let mut people: Vec<PersonFigures> = self
            .people
            .into_iter()
            .map(|(person, mut p)| {
                sort(&mut p.approve_secs);
                PersonFigures {
                    person,
                    approvals: p.approvals,
                    denials: p.denials,
                    median_secs_to_approve: percentile(&p.approve_secs, 0.5),
                }
            })
            .collect();
        people.sort_by(|a, b| {
            (b.approvals, b.denials, &a.person).cmp(&(a.approvals, a.denials, &b.person))
        });
        people.truncate(MAX_FIGURE_PEOPLE);
        o.approvals_per_person = people;
        o.killswitch_to_first_deny
            .sort_by_key(|k| std::cmp::Reverse(k.flipped_at));
        self.out
    }
}

/// Seconds from `a` to `b`, never below zero.
pub fn secs_between(a: Timestamp, b: Timestamp) -> f64 {
    ((b - a).num_milliseconds().max(0) as f64) / 1000.0
}

fn sort(v: &mut [f64]) {
    v.sort_by(|a, b| a.total_cmp(b));
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
