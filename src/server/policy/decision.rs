//! Choosing the outcome of a call from the rules, so that errors never loosen policy.
//!
//! Precedence: deny > review > flag > allow; among equals the first rule in the file decides.
//! A condition that fails to evaluate counts as a match for deny, review and flag rules and as
//! no match for allow rules. Then, because the failed condition might have been true or false,
//! the review asks for at least what every rule that could have decided it asks for: each
//! review rule whose condition failed before the first review rule that matched cleanly, and
//! that rule. The most approvals, owner separation if any asks for it, the shortest timeout and
//! `extend` allowance, a hand-over on expiry only if all hand over to the same group. Rules that
//! need different approver groups cannot be met by one review: the call is denied, saying so.

use crate::protocol::Effect;

use super::glob::Segments;
use super::{EvalInput, Expiry, ReviewSpec, Rule, RuleEffect};

/// The outcome of evaluating the rules for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow {
        rule: usize,
    },
    Flag {
        rule: usize,
        /// The rule's condition failed to evaluate and counted as a match.
        errored: bool,
    },
    Review(Review),
    Deny {
        /// The deciding rule; `None` when no rule matched or rules conflict.
        rule: Option<usize>,
        cause: DenyCause,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyCause {
    /// No rule matched: deny by default.
    NoRule,
    /// A deny rule matched (`errored`: its condition failed and counted as a match).
    Rule { errored: bool },
    /// Review rules that could each have decided name different approver groups.
    GroupConflict {
        rules: Vec<usize>,
        groups: Vec<String>,
    },
}

/// A review and what it requires, raised by other rules when conditions failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The deciding rule (first among equals).
    pub rule: usize,
    /// Its condition failed to evaluate and counted as a match.
    pub errored: bool,
    /// What the review requires: the deciding rule's, raised by `raised_by`.
    pub spec: ReviewSpec,
    /// Other review rules the requirements were raised to, in file order.
    pub raised_by: Vec<usize>,
}

impl Decision {
    pub fn effect(&self) -> Effect {
        match self {
            Decision::Allow { .. } => Effect::Allow,
            Decision::Flag { .. } => Effect::Flag,
            Decision::Review(_) => Effect::Review,
            Decision::Deny { .. } => Effect::Deny,
        }
    }

    /// The deciding rule, if one did.
    pub fn rule(&self) -> Option<usize> {
        match self {
            Decision::Allow { rule } | Decision::Flag { rule, .. } => Some(*rule),
            Decision::Review(r) => Some(r.rule),
            Decision::Deny { rule, .. } => *rule,
        }
    }
}

/// Decides a call; `eval` gives a rule's condition (true when it has none).
pub(super) fn decide(
    rules: &[Rule],
    input: &EvalInput<'_>,
    mut eval: impl FnMut(&Rule) -> Result<bool, String>,
) -> Decision {
    // Review rules that could decide: failed ones before the first clean match, and that one.
    let mut reviews: Vec<Candidate<'_>> = Vec::new();
    let mut clean_review = false;
    let mut flag: Option<(usize, bool)> = None;
    let mut allow: Option<usize> = None;
    let (tool, agent) = (Segments::of(input.tool), Segments::of(input.agent));
    for (i, rule) in rules.iter().enumerate() {
        let kind = rule.effect.kind();
        let irrelevant = match kind {
            Effect::Deny => false,
            Effect::Review => clean_review,
            Effect::Flag => flag.is_some() || !reviews.is_empty(),
            Effect::Allow => allow.is_some() || flag.is_some() || !reviews.is_empty(),
        };
        if irrelevant || !rule.applies_to(&tool, &agent) {
            continue;
        }
        let (matched, errored) = match eval(rule) {
            Ok(b) => (b, false),
            Err(_) => (kind != Effect::Allow, true),
        };
        if !matched {
            continue;
        }
        match &rule.effect {
            RuleEffect::Deny => {
                return Decision::Deny {
                    rule: Some(i),
                    cause: DenyCause::Rule { errored },
                }
            }
            RuleEffect::Review(spec) => {
                reviews.push(Candidate {
                    rule: i,
                    errored,
                    spec,
                });
                clean_review = !errored;
            }
            RuleEffect::Flag => flag = Some((i, errored)),
            RuleEffect::Allow => allow = Some(i),
        }
    }
    if let Some((first, others)) = reviews.split_first() {
        return join(first, others);
    }
    match (flag, allow) {
        (Some((rule, errored)), _) => Decision::Flag { rule, errored },
        (None, Some(rule)) => Decision::Allow { rule },
        (None, None) => Decision::Deny {
            rule: None,
            cause: DenyCause::NoRule,
        },
    }
}

/// A review rule that could decide the call.
struct Candidate<'r> {
    rule: usize,
    errored: bool,
    spec: &'r ReviewSpec,
}

/// The deciding review `first`, raised to be at least as strict as each of `others`.
fn join(first: &Candidate<'_>, others: &[Candidate<'_>]) -> Decision {
    let mut spec = first.spec.clone();
    if others.iter().any(|c| c.spec.group != spec.group) {
        let all = std::iter::once(first).chain(others);
        return Decision::Deny {
            rule: None,
            cause: DenyCause::GroupConflict {
                rules: all.clone().map(|c| c.rule).collect(),
                groups: all.map(|c| c.spec.group.clone()).collect(),
            },
        };
    }
    for other in others.iter().map(|c| c.spec) {
        spec.approvals = spec.approvals.max(other.approvals);
        spec.separate_owner |= other.separate_owner;
        spec.timeout = spec.timeout.min(other.timeout);
        // The least time any of them allows to be added (none if one allows none).
        spec.extend = spec.extend.min(other.extend);
        if spec.expiry != other.expiry {
            spec.expiry = Expiry::Deny;
        }
    }
    Decision::Review(Review {
        rule: first.rule,
        errored: first.errored,
        spec,
        raised_by: others.iter().map(|c| c.rule).collect(),
    })
}

const FAILED: &str =
    "its condition could not be evaluated for this call, which never loosens policy";

/// The reason given for a decision, to the agent, the approvers and the audit log.
pub(super) fn reason(rules: &[Rule], decision: &Decision) -> String {
    let ids = |list: &[usize]| {
        list.iter()
            .map(|&i| format!("\"{}\"", rules[i].id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match decision {
        Decision::Deny {
            cause: DenyCause::NoRule,
            ..
        } => "no policy rule allows this call (deny by default)".to_string(),
        Decision::Deny {
            cause:
                DenyCause::GroupConflict {
                    rules: list,
                    groups,
                },
            ..
        } => {
            format!(
                "a condition could not be evaluated for this call, so review rules {} could each apply; \
                 they need different approver groups ({}) and no single review satisfies all of them, \
                 so the call is denied",
                ids(list),
                groups.join(", ")
            )
        }
        Decision::Deny {
            rule: Some(i),
            cause: DenyCause::Rule { errored },
        }
        | Decision::Flag { rule: i, errored } => with_failure(&rules[*i].reason, *errored),
        Decision::Allow { rule } => rules[*rule].reason.clone(),
        Decision::Deny { rule: None, .. } => "denied".to_string(),
        Decision::Review(r) => {
            let mut text = with_failure(&rules[r.rule].reason, r.errored);
            if !r.raised_by.is_empty() {
                text += &format!(
                    " [a condition could not be evaluated, so this review is held to what rules {} \
                     also ask: {}]",
                    ids(&r.raised_by),
                    requirements(&r.spec)
                );
            }
            text
        }
    }
}

fn with_failure(reason: &str, errored: bool) -> String {
    if errored {
        format!("{reason} ({FAILED})")
    } else {
        reason.to_string()
    }
}

fn requirements(spec: &ReviewSpec) -> String {
    let mut parts = vec![format!(
        "{} approval{} from {}",
        spec.approvals,
        if spec.approvals == 1 { "" } else { "s" },
        spec.group
    )];
    if spec.separate_owner {
        parts.push("not the agent's owner".into());
    }
    parts.push(format!("within {}", crate::duration::format(spec.timeout)));
    parts.push(match &spec.expiry {
        Expiry::Deny => "denied on expiry".into(),
        Expiry::Escalate(g) => format!("handed to {g} on expiry"),
    });
    parts.join(", ")
}
