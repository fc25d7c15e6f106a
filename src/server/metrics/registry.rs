//! Every family `/metrics` exposes, registered in one place when the server starts.

use prometheus_client::registry::Registry;

use super::budget::BudgetUse;
use super::families::Metrics;
use super::live::Live;

/// The registry of `metrics`' families and the `live` ones, all named `gavel_…`.
pub(crate) fn registry(metrics: &Metrics, live: Live, budget: BudgetUse) -> Registry {
    let mut r = Registry::with_prefix("gavel");
    // Counters get their `_total` suffix from the library. Units are in the names, without
    // `# UNIT` lines: not every OpenMetrics parser takes one on a histogram.
    r.register(
        "actions",
        "Agent calls judged and recorded, by policy effect (allow, flag, review, deny)",
        metrics.actions.clone(),
    );
    r.register(
        "enforcement_duration_seconds",
        "Time from an agent's parsed request to its recorded verdict (kill switches, policy, \
         the durable write); retries answered from an earlier call are not counted",
        metrics.enforcement.clone(),
    );
    r.register(
        "decisions",
        "Votes of approvers counted on pending escalations",
        metrics.decisions.clone(),
    );
    r.register(
        "escalation_time_to_decide_seconds",
        "Time from an escalation's creation to its approval or denial by people",
        metrics.time_to_decide.clone(),
    );
    r.register(
        "escalations_resolved",
        "Escalations resolved, by outcome (approved, denied, expired, cancelled)",
        metrics.resolved.clone(),
    );
    r.register(
        "escalations_handed_over",
        "Escalations handed over to their rule's second group at the first deadline",
        metrics.handed_over.clone(),
    );
    r.register(
        "refused",
        "Requests refused with a client error, by error code",
        metrics.refused.clone(),
    );
    r.register(
        "http_requests_in_flight",
        "HTTP requests being handled now, this scrape included (what a graceful shutdown waits \
         for)",
        metrics.in_flight.clone(),
    );
    // Circuit breakers (`gavel_breakers_open`) are read at scrape time by `live`.
    r.register_collector(Box::new(live));
    // Limits and budgets: `gavel_budget_use_ratio`, `gavel_budget_calls`, `gavel_budget_cost`.
    r.register_collector(Box::new(budget));
    r
}
