//! What standing grants ask of the policy: which reviews a grant may cover, which rules a new
//! grant could cover, and a grant's condition, compiled and evaluated exactly as a rule's `when`
//! (strict relations; an evaluation error never matches).

use super::condition::{self, Condition};
use super::glob::NameGlob;
use super::{EvalInput, Policy, Review, ReviewSpec, Rule, RuleEffect};

/// A grant's `when`: CEL over the call, checked when the grant is created.
pub struct GrantCondition {
    program: Condition,
}

impl GrantCondition {
    /// Compiles `text` as a rule condition would be; the error names the byte offset.
    pub fn compile(text: &str) -> Result<GrantCondition, String> {
        Condition::compile(text)
            .map(|program| GrantCondition { program })
            .map_err(|(offset, msg)| format!("{msg} (at byte {offset} of the condition)"))
    }

    /// True only when the condition evaluates to true: an error (a missing field, a type
    /// mismatch) is no match, so a grant never covers a call it cannot judge.
    pub fn holds(&self, input: &EvalInput<'_>) -> bool {
        condition::with_root(|root| {
            let ctx = condition::context(root, input, self.program.uses());
            self.program.eval(&ctx) == Ok(true)
        })
    }
}

impl Policy {
    /// The rule of `review`, if a grant may cover the review: the rule says `grantable = true`,
    /// the review asks for one approval, its condition evaluated cleanly, and no other rule
    /// raised its requirements (a raised review is held to what several rules ask, which no
    /// single grant speaks for).
    pub fn grantable_review(&self, review: &Review) -> Option<&Rule> {
        let rule = self.rules.get(review.rule)?;
        let RuleEffect::Review(own) = &rule.effect else {
            return None;
        };
        let covered = own.grantable
            && review.spec.grantable
            && review.spec.approvals == 1
            && !review.errored
            && review.raised_by.is_empty();
        covered.then_some(rule)
    }

    /// Grantable single-approval review rules for `agent` whose tools may overlap `tool`:
    /// what a new grant for them could ever cover. (Two globs overlap here when one matches
    /// the other's text; a grant refused by this could never be used anyway.)
    pub fn grantable_rules(&self, agent: &str, tool: &NameGlob) -> Vec<(&Rule, &ReviewSpec)> {
        self.rules
            .iter()
            .filter_map(|r| match &r.effect {
                RuleEffect::Review(spec) if spec.grantable && spec.approvals == 1 => {
                    Some((r, spec))
                }
                _ => None,
            })
            .filter(|(r, _)| r.agents.iter().any(|a| a.matches(agent)))
            .filter(|(r, _)| {
                r.tools
                    .iter()
                    .any(|t| t.matches(tool.as_str()) || tool.matches(t.as_str()))
            })
            .collect()
    }
}
