//! Limits at the enforcement point: the rules judge the call with `now` and the limits' `usage`
//! in view, then every limit that covers the call has its say. Only stricter: a call past a
//! `deny` limit is denied; past a `review` limit it raises a budget escalation (unless the rules
//! deny it); past `warn_at` an allow becomes a flag. The call is counted (a held review too)
//! under the ledger's lock, and released again if it is not recorded (`Hold`).

use serde_json::{json, Map, Value};

use super::ruling::{self, eval_input, Outcome, Ruling};
use crate::protocol::{ActionRecord, BudgetAsk, Effect, LimitUse, Timestamp};
use crate::server::app::App;
use crate::server::audit::AuditEvent;
use crate::server::governance::{Ledger, Standing};
use crate::server::policy::{Limit, OnExceed, Policy, Review};

/// A call counted in the limits' use, until it is recorded (`keep`); dropped before, it is
/// taken back out.
pub(super) struct Hold<'a> {
    ledger: &'a Ledger,
    id: Option<String>,
}

impl<'a> Hold<'a> {
    /// Nothing counted (a kill switch decided).
    pub fn nothing(app: &'a App) -> Hold<'a> {
        Hold {
            ledger: &app.governance.ledger,
            id: None,
        }
    }

    /// The call is recorded with `effect`: it stays counted unless it ended up denied.
    pub fn keep(mut self, effect: Effect) {
        if effect != Effect::Deny {
            self.id = None;
        }
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.ledger.release(&id);
        }
    }
}

/// The rules and then the limits on the call, and the hold of its count.
pub(super) fn rule_on<'a>(
    app: &'a App,
    record: &ActionRecord,
    now: Timestamp,
) -> (Ruling<'a>, Hold<'a>) {
    let ledger = &app.governance.ledger;
    let policy = &app.policy;
    let ruling = ledger.admit(
        &record.id,
        &record.agent,
        &record.session,
        &record.tool,
        now,
        |standing| {
            let usage = usage_map(standing);
            let mut input = eval_input(record);
            input.now = Some(now);
            input.usage = Some(&usage);
            let ruling = ruling::rule_on(policy, &input, now);
            let ruling = apply(policy, record, standing, ruling, now);
            let counts = (ruling.effect() != Effect::Deny).then(|| record.cost.unwrap_or(0.0));
            (ruling, counts)
        },
    );
    let counted = ruling.effect() != Effect::Deny && !ledger.limits().is_empty();
    let hold = Hold {
        ledger,
        id: counted.then(|| record.id.clone()),
    };
    (ruling, hold)
}

/// CEL `usage`: each covering limit's use before the call, by limit id.
fn usage_map(standing: &[Standing<'_>]) -> Value {
    let mut m = Map::new();
    for s in standing {
        let u = &s.used;
        let mut v = json!({
            "calls": u.calls,
            "cost": u.cost,
            "share": u.share(s.limit),
            "grace_calls": u.grace_calls,
            "grace_cost": u.grace_cost,
            "window_secs": s.limit.window_secs(),
        });
        if let Some(c) = s.limit.max_calls {
            v["max_calls"] = json!(c);
        }
        if let Some(c) = s.limit.max_cost {
            v["max_cost"] = json!(c);
        }
        m.insert(s.limit.id.clone(), v);
    }
    Value::Object(m)
}

fn apply<'a>(
    policy: &'a Policy,
    record: &ActionRecord,
    standing: &[Standing<'_>],
    ruling: Ruling<'a>,
    now: Timestamp,
) -> Ruling<'a> {
    if matches!(ruling.outcome, Outcome::Deny { .. }) {
        return ruling;
    }
    let cost = record.cost.unwrap_or(0.0);
    let mut review = None;
    let mut warn = None;
    for s in standing {
        let after = s.used.plus(cost);
        if after.over(s.limit) {
            match s.limit.on_exceed {
                OnExceed::Deny => return deny(ruling, record, s, cost),
                OnExceed::Review { .. } => {
                    review.get_or_insert(s);
                }
            }
        } else if s.limit.warn_at.is_some_and(|w| after.share(s.limit) >= w) {
            warn.get_or_insert((s, after.share(s.limit)));
        }
    }
    if let Some(s) = review {
        return budget(policy, ruling, record, s, cost, now);
    }
    match warn {
        Some((s, share)) => warned(ruling, s, share),
        None => ruling,
    }
}

/// "1h", "1d", "1h30m", "90s" → as short as it reads.
pub(crate) fn window_text(secs: u64) -> String {
    let mut out = String::new();
    let mut rest = secs;
    for (unit, n) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= n {
            out.push_str(&format!("{}{unit}", rest / n));
            rest %= n;
        }
    }
    if out.is_empty() {
        "0s".into()
    } else {
        out
    }
}

fn time_text(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What the use stands at, e.g. `100 of 100 calls` or `cost 48.20 of 50.00 (this call 3.00)`.
fn use_text(limit: &Limit, used: &LimitUse, cost: f64) -> String {
    let mut parts = Vec::new();
    if let Some(m) = limit.max_calls {
        let cap = m.saturating_add(used.grace_calls);
        let grace = if used.grace_calls > 0 {
            format!(" (with {} grace)", used.grace_calls)
        } else {
            String::new()
        };
        parts.push(format!("{} of {cap} calls{grace}", used.calls));
    }
    if let Some(m) = limit.max_cost {
        let cap = m + used.grace_cost;
        let grace = if used.grace_cost > 0.0 {
            format!(" (with {:.2} grace)", used.grace_cost)
        } else {
            String::new()
        };
        parts.push(format!(
            "cost {:.2} of {cap:.2}{grace}, this call {cost:.2}",
            used.cost
        ));
    }
    parts.join(" and ")
}

fn deny<'a>(ruling: Ruling<'a>, record: &ActionRecord, s: &Standing<'_>, cost: f64) -> Ruling<'a> {
    let used = s.used.report(s.limit, &s.key);
    let reason = format!(
        "limit \"{}\": {} in this {} window; frees up at {}",
        s.limit.id,
        use_text(s.limit, &used, cost),
        window_text(s.limit.window_secs()),
        time_text(used.resets_at),
    );
    let mut events = ruling.events;
    events.push(AuditEvent::limit_exceeded(record, "deny", &used));
    Ruling {
        outcome: Outcome::Deny { rule: None },
        reason,
        governed: Some(format!("limit:{}", s.limit.id)),
        events,
        budget: None,
    }
}

fn budget<'a>(
    policy: &'a Policy,
    ruling: Ruling<'a>,
    record: &ActionRecord,
    s: &Standing<'_>,
    cost: f64,
    now: Timestamp,
) -> Ruling<'a> {
    let used = s.used.report(s.limit, &s.key);
    let (grace_calls, grace_cost) = s.limit.grace().unwrap_or((0, 0.0));
    let whose = match &used.session {
        Some(session) => format!("{} (session {session})", record.agent),
        None => record.agent.clone(),
    };
    let mut grants = Vec::new();
    if grace_calls > 0 {
        grants.push(format!("{grace_calls} more calls"));
    }
    if grace_cost > 0.0 {
        grants.push(format!("{grace_cost:.2} more cost"));
    }
    let ask = format!(
        "limit \"{}\": {whose} has used {} in this {} window (until {}); approving allows {} in this window",
        s.limit.id,
        use_text(s.limit, &used, cost),
        window_text(s.limit.window_secs()),
        time_text(used.resets_at),
        grants.join(" and "),
    );
    let (outcome, reason) = match ruling.outcome {
        // The rules asked for a review themselves: theirs stands, with the budget ask added.
        Outcome::Review { .. } => (ruling.outcome, format!("{}; {ask}", ruling.reason)),
        _ => {
            let (Some(rule), Some(spec)) =
                (policy.limits[s.index].rule.as_ref(), s.limit.review_spec())
            else {
                return deny(ruling, record, s, cost);
            };
            match crate::duration::deadline_after(now, spec.timeout) {
                Ok(deadline) => (
                    Outcome::Review {
                        rule,
                        // No rule of the file: never grantable, raised by nothing.
                        review: Review {
                            rule: usize::MAX,
                            errored: false,
                            spec: spec.clone(),
                            raised_by: Vec::new(),
                        },
                        deadline,
                    },
                    ask,
                ),
                Err(_) => return deny(ruling, record, s, cost),
            }
        }
    };
    let mut events = ruling.events;
    events.push(AuditEvent::limit_exceeded(record, "review", &used));
    Ruling {
        outcome,
        reason,
        governed: Some(format!("limit:{}", s.limit.id)),
        events,
        budget: Some(BudgetAsk {
            usage: used,
            grace_calls,
            grace_cost,
        }),
    }
}

fn warned<'a>(ruling: Ruling<'a>, s: &Standing<'_>, share: f64) -> Ruling<'a> {
    let note = format!(
        "limit \"{}\" is at {:.0}% of its {} window (warns at {:.0}%)",
        s.limit.id,
        share * 100.0,
        window_text(s.limit.window_secs()),
        s.limit.warn_at.unwrap_or(1.0) * 100.0,
    );
    match ruling.outcome {
        Outcome::Allow { rule } => Ruling {
            outcome: Outcome::Flag { rule },
            reason: format!("{}; flagged: {note}", ruling.reason),
            governed: Some(format!("limit:{}", s.limit.id)),
            ..ruling
        },
        Outcome::Flag { .. } => Ruling {
            reason: format!("{}; {note}", ruling.reason),
            ..ruling
        },
        _ => ruling,
    }
}

#[cfg(test)]
mod tests {
    use super::window_text;

    #[test]
    fn windows_read_short() {
        assert_eq!(window_text(3600), "1h");
        assert_eq!(window_text(86_400), "1d");
        assert_eq!(window_text(5400), "1h30m");
        assert_eq!(window_text(90), "1m30s");
    }
}
