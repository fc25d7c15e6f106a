//! The ruling on a call: a kill switch that covers it, or else the policy's decision, with a
//! review's deadline set. Governance (breakers, limits, anomalies) turns rulings into stricter
//! ones and says so in `governed` and `events`.

use crate::protocol::{ActionRecord, BudgetAsk, Effect, Grant, Timestamp};
use crate::server::audit::AuditEvent;
use crate::server::killswitch::{kill_reason, KillSwitches};
use crate::server::policy::{Decision, EvalInput, Policy, Review, Rule};

/// The outcome of a call and the reason given for it, to the agent, approvers and audit log.
pub(super) struct Ruling<'p> {
    pub outcome: Outcome<'p>,
    pub reason: String,
    /// The breaker or limit that decided the call (`breaker:ID`, `limit:ID`), if one did.
    pub governed: Option<String>,
    /// Audit records the ruling brings besides the call's own (a limit hit, a breaker tripped),
    /// written in the same transaction as the call.
    pub events: Vec<AuditEvent>,
    /// On a review a limit raised or joined: the more room it asks for (a budget escalation).
    pub budget: Option<BudgetAsk>,
}

pub(super) enum Outcome<'p> {
    Allow {
        rule: &'p Rule,
    },
    /// A review under `rule` that a standing grant covers: allowed, naming the grant.
    Granted {
        rule: &'p Rule,
        grant: Grant,
    },
    Flag {
        rule: &'p Rule,
    },
    /// `rule` is `None` for a kill switch, no matching rule, or a review that cannot be held.
    Deny {
        rule: Option<&'p Rule>,
    },
    Review {
        rule: &'p Rule,
        review: Review,
        deadline: Timestamp,
    },
}

impl<'p> Ruling<'p> {
    /// A ruling that no governance part touched.
    pub fn new(outcome: Outcome<'p>, reason: String) -> Ruling<'p> {
        Ruling {
            outcome,
            reason,
            governed: None,
            events: Vec::new(),
            budget: None,
        }
    }

    pub fn effect(&self) -> Effect {
        match &self.outcome {
            Outcome::Allow { .. } | Outcome::Granted { .. } => Effect::Allow,
            Outcome::Flag { .. } => Effect::Flag,
            Outcome::Deny { .. } => Effect::Deny,
            Outcome::Review { .. } => Effect::Review,
        }
    }

    /// The deciding rule's id, if a rule decided.
    pub fn rule_id(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Allow { rule }
            | Outcome::Flag { rule }
            | Outcome::Review { rule, .. }
            | Outcome::Granted { rule, .. } => Some(rule.id.clone()),
            Outcome::Deny { rule } => rule.map(|r| r.id.clone()),
        }
    }

    /// The review rules a failed condition raised this review's requirements to.
    pub fn raised_by(&self, policy: &Policy) -> Vec<String> {
        match &self.outcome {
            Outcome::Review { review, .. } => review
                .raised_by
                .iter()
                .map(|&i| policy.rules[i].id.clone())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The kill switch that covers the call, as a deny: checked before anything else. It is
/// `governed` by `killswitch:SCOPE`, so governance (a breaker's denied share) never counts it
/// as the policy's denial, at run time or when rebuilt from the store.
pub(super) fn killed<'p>(kill: &KillSwitches, record: &ActionRecord) -> Option<Ruling<'p>> {
    kill.covering(&record.agent, &record.tool).map(|k| Ruling {
        governed: Some(format!("killswitch:{}", k.scope)),
        ..Ruling::new(
            Outcome::Deny { rule: None },
            kill_reason(&k.scope, &k.reason),
        )
    })
}

/// The policy's rules on the call, as `input` shows it to their conditions.
pub(super) fn rule_on<'p>(policy: &'p Policy, input: &EvalInput<'_>, now: Timestamp) -> Ruling<'p> {
    let decision = policy.evaluate(input);
    let reason = policy.reason(&decision);
    let rule = |i: usize| &policy.rules[i];
    let outcome = match decision {
        Decision::Allow { rule: i } => Outcome::Allow { rule: rule(i) },
        Decision::Flag { rule: i, .. } => Outcome::Flag { rule: rule(i) },
        Decision::Deny { rule: i, .. } => Outcome::Deny { rule: i.map(rule) },
        // A review without a deadline is refused rather than run unbounded.
        Decision::Review(review) => {
            match crate::duration::deadline_after(now, review.spec.timeout) {
                Ok(deadline) => Outcome::Review {
                    rule: rule(review.rule),
                    review,
                    deadline,
                },
                Err(e) => {
                    return Ruling::new(
                        Outcome::Deny { rule: None },
                        format!(
                            "{reason}; its deadline cannot be set ({e}), so the call is denied"
                        ),
                    )
                }
            }
        }
    };
    Ruling::new(outcome, reason)
}

/// What a policy condition can see of a call.
pub(super) fn eval_input(r: &ActionRecord) -> EvalInput<'_> {
    EvalInput {
        agent: &r.agent,
        tool: &r.tool,
        args: &r.args,
        session: &r.session,
        context: &r.context,
        on_behalf_of: r.on_behalf_of.as_deref(),
        cost: r.cost,
        rationale: r.rationale.as_deref(),
        now: Some(r.submitted_at),
        usage: None,
    }
}
