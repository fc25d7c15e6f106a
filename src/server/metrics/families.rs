//! The families the server counts into as things happen, and the one call each part makes.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::protocol::{Effect, Escalation, EscalationState};
use crate::server::store::state_name;

/// Enforcement takes from a fraction of a millisecond (allowed, one group commit) to a second
/// (a store under load): upper bounds in seconds.
pub(super) const ENFORCEMENT_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A person decides within seconds, or hours later: upper bounds in seconds, up to a day.
pub(super) const DECIDE_BUCKETS: [f64; 14] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
    86400.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct EffectLabel {
    effect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CodeLabel {
    code: &'static str,
}

const EFFECTS: [Effect; 4] = [Effect::Allow, Effect::Flag, Effect::Review, Effect::Deny];
const RESOLUTIONS: [EscalationState; 4] = [
    EscalationState::Approved,
    EscalationState::Denied,
    EscalationState::Expired,
    EscalationState::Cancelled,
];

/// The families counted into; clones of them (they share their values) are in the registry.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(super) actions: Family<EffectLabel, Counter>,
    /// `actions`' counters, in `EFFECTS` order, looked up once.
    by_effect: [Counter; 4],
    pub(super) decisions: Counter,
    pub(super) refused: Family<CodeLabel, Counter>,
    pub(super) in_flight: Gauge,
    pub(super) enforcement: Histogram,
    pub(super) time_to_decide: Histogram,
    pub(super) resolved: Family<OutcomeLabel, Counter>,
    /// `resolved`'s counters, in `RESOLUTIONS` order.
    by_outcome: [Counter; 4],
    pub(super) handed_over: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let actions = Family::<EffectLabel, Counter>::default();
        let by_effect =
            EFFECTS.map(|e| actions.get_or_create_owned(&EffectLabel { effect: e.as_str() }));
        let resolved = Family::<OutcomeLabel, Counter>::default();
        let by_outcome = RESOLUTIONS.map(|s| {
            resolved.get_or_create_owned(&OutcomeLabel {
                outcome: state_name(s),
            })
        });
        Metrics {
            actions,
            by_effect,
            decisions: Counter::default(),
            refused: Family::default(),
            in_flight: Gauge::default(),
            enforcement: Histogram::new(ENFORCEMENT_BUCKETS),
            time_to_decide: Histogram::new(DECIDE_BUCKETS),
            resolved,
            by_outcome,
            handed_over: Counter::default(),
        }
    }
}

impl Metrics {
    /// A call was judged and recorded with `effect`, `took` after its request was parsed.
    pub fn enforced(&self, effect: Effect, took: Duration) {
        self.by_effect[effect_index(effect)].inc();
        self.enforcement.observe(took.as_secs_f64());
    }

    /// A person's vote was counted.
    pub fn decision(&self) {
        self.decisions.inc();
    }

    /// A request was refused with `code` (a 4xx). Codes are the server's own constants, so
    /// the label set stays small whatever a caller sends.
    pub fn refused(&self, code: &'static str) {
        self.refused.get_or_create(&CodeLabel { code }).inc();
    }

    /// An escalation left the queue, however (a vote, its deadline, a withdrawal, a kill
    /// switch); a person's decision also says how long it waited for them.
    pub fn resolved(&self, esc: &Escalation) {
        let Some(i) = RESOLUTIONS.iter().position(|s| *s == esc.state) else {
            return;
        };
        self.by_outcome[i].inc();
        let by_person = matches!(
            esc.state,
            EscalationState::Approved | EscalationState::Denied
        );
        if let (true, Some(at)) = (by_person, esc.resolved_at) {
            let waited = (at - esc.created_at).to_std().unwrap_or_default();
            self.time_to_decide.observe(waited.as_secs_f64());
        }
    }

    /// An escalation's deadline handed it over to its rule's second group.
    pub fn handed_over(&self) {
        self.handed_over.inc();
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn request(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }
}

fn effect_index(effect: Effect) -> usize {
    match effect {
        Effect::Allow => 0,
        Effect::Flag => 1,
        Effect::Review => 2,
        Effect::Deny => 3,
    }
}

/// A request being handled (`gavel_http_requests_in_flight`), until dropped.
pub(crate) struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
