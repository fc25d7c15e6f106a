//! The breakers at the enforcement point: an open breaker denies before the limits and rules
//! (`open`); after them, the call that trips a breaker and a half-open breaker's trial are
//! judged (`judged`), their records written with the call; once the call is recorded, its
//! counts are taken (`recorded`).

use super::ruling::{Outcome, Ruling};
use crate::protocol::{ActionRecord, Timestamp};
use crate::server::app::App;
use crate::server::governance::breakers::{Gate, Judged, Verdict};
use crate::server::store::{ActionWrite, RecentAction};

fn governed_by(breaker: &str) -> Option<String> {
    Some(format!("breaker:{breaker}"))
}

/// The open breaker that denies the call, if one does.
pub(super) fn open<'p>(app: &App, record: &ActionRecord, now: Timestamp) -> Option<Ruling<'p>> {
    match app.governance.breakers.gate(&record.agent, &record.id, now) {
        Gate::Deny { breaker, reason } => Some(Ruling {
            governed: governed_by(&breaker),
            ..Ruling::new(Outcome::Deny { rule: None }, reason)
        }),
        Gate::Pass | Gate::Trial => None,
    }
}

/// The ruling after the breakers counted it: denied when it trips a breaker by asking for one
/// review too many, with the records of every trip and close it causes.
pub(super) fn judged<'p>(
    app: &App,
    record: &ActionRecord,
    mut ruling: Ruling<'p>,
    now: Timestamp,
) -> Ruling<'p> {
    let breakers = &app.governance.breakers;
    if !breakers.enabled() {
        return ruling;
    }
    // A kill switch or an open breaker decided it: nothing to count or judge.
    if ruling
        .governed
        .as_deref()
        .is_some_and(|g| g.starts_with("breaker:") || g.starts_with("killswitch:"))
    {
        return ruling;
    }
    let call = Judged {
        agent: &record.agent,
        action: &record.id,
        review: matches!(ruling.outcome, Outcome::Review { .. }),
        policy_denied: matches!(ruling.outcome, Outcome::Deny { .. }) && ruling.governed.is_none(),
        // A budget escalation asks a person like any other review: approval fatigue counts
        // it. A limit's deny says nothing of how the agent behaves under the rules.
        governed: ruling.governed.is_some() && !matches!(ruling.outcome, Outcome::Review { .. }),
    };
    // A review that joins an escalation already pending asks nobody anything new.
    let would_attach = || {
        super::record::digest(record)
            .ok()
            .and_then(|d| app.queue.pending_with_digest(&record.agent, &d))
            .is_some()
    };
    let (verdict, events) = breakers.judge(&call, now, would_attach);
    ruling.events.extend(events);
    if let Verdict::Deny { breaker, reason } = verdict {
        ruling.outcome = Outcome::Deny { rule: None };
        ruling.reason = reason;
        ruling.governed = governed_by(&breaker);
    }
    ruling
}

/// The call as governance counts it, taken from its write before the write is sent.
pub(super) fn recent(write: &ActionWrite) -> RecentAction {
    RecentAction {
        id: write.record.id.clone(),
        agent: write.record.agent.clone(),
        session: write.record.session.clone(),
        tool: write.record.tool.clone(),
        effect: write.effect,
        rule: write.rule.clone(),
        governed: write.governed.clone(),
        cost: write.record.cost,
        resolution: None,
        at: write.record.submitted_at,
    }
}

/// Counts a call once it is durable.
pub(super) fn recorded(app: &App, call: &RecentAction) {
    app.governance.breakers.recorded(call);
    app.governance
        .anomaly
        .recorded(&call.agent, &call.tool, call.at);
}
