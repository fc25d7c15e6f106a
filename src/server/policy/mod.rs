//! `policy.toml`: ordered rules with CEL conditions, deny by default.

mod breakers;
mod condition;
mod decision;
pub mod functions;
pub mod glob;
mod grantable;
mod limits;
mod strict;

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::roster::Roster;
use crate::config::{ConfigError, SourceFile};
use crate::protocol::canonical::sha256_hex;
use crate::protocol::{Effect, RuleRef};

pub use breakers::{Anomaly, Breaker, RateAnomaly};
use condition::Condition;
pub use condition::CEL_VARIABLES;
pub use decision::{Decision, DenyCause, Review};
use glob::{NameGlob, Segments};
pub use grantable::GrantCondition;
pub use limits::{Limit, OnExceed, MAX_COST};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
    #[serde(default)]
    limit: Vec<limits::LimitSpec>,
    #[serde(default)]
    breaker: Vec<breakers::BreakerSpec>,
    #[serde(default)]
    anomaly: Option<breakers::AnomalySpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum OnExpiry {
    Deny,
    Escalate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: Spanned<String>,
    #[serde(default)]
    tools: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    agents: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    when: Option<Spanned<String>>,
    effect: Effect,
    reason: String,
    #[serde(default)]
    approvers: Option<Spanned<String>>,
    #[serde(default)]
    approvals: Option<Spanned<u32>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    on_expiry: Option<OnExpiry>,
    #[serde(default)]
    escalate_to: Option<Spanned<String>>,
    #[serde(default)]
    separate_owner: Option<bool>,
    #[serde(default)]
    extend: Option<Spanned<String>>,
    grantable: Option<Spanned<bool>>,
}

/// What happens when a review's deadline passes with too few approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    Deny,
    /// Hand over once to this group, with a fresh deadline of the same length.
    Escalate(String),
}

/// What a review asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSpec {
    pub group: String,
    pub approvals: u32,
    /// Between `duration::POLICY_TIMEOUT`'s bounds, checked at start.
    pub timeout: Duration,
    pub expiry: Expiry,
    pub separate_owner: bool,
    /// How much approvers may add to the deadline in total (`extend`); `None`: nothing.
    pub extend: Option<Duration>,
    /// Standing grants may cover calls this rule reviews (`grantable = true`).
    pub grantable: bool,
}

/// A rule's effect; a review carries what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleEffect {
    Allow,
    Flag,
    Deny,
    Review(ReviewSpec),
}

impl RuleEffect {
    pub fn kind(&self) -> Effect {
        match self {
            RuleEffect::Allow => Effect::Allow,
            RuleEffect::Flag => Effect::Flag,
            RuleEffect::Deny => Effect::Deny,
            RuleEffect::Review(_) => Effect::Review,
        }
    }
}

pub struct Rule {
    pub id: String,
    tools: Vec<NameGlob>,
    agents: Vec<NameGlob>,
    pub condition: Option<String>,
    program: Option<Condition>,
    pub effect: RuleEffect,
    pub reason: String,
}

impl Rule {
    pub fn to_ref(&self) -> RuleRef {
        RuleRef {
            id: self.id.clone(),
            effect: self.effect.kind(),
            reason: self.reason.clone(),
            condition: self.condition.clone(),
            grantable: false,
        }
    }

    fn applies_to(&self, tool: &Segments<'_>, agent: &Segments<'_>) -> bool {
        self.tools.iter().any(|p| p.matches_segments(tool))
            && self.agents.iter().any(|p| p.matches_segments(agent))
    }
}

pub struct Policy {
    pub rules: Vec<Rule>,
    /// Rate and cost envelopes (`[[limit]]`), checked before the rules.
    pub limits: Vec<Limit>,
    /// Circuit breakers (`[[breaker]]`), checked before the limits.
    pub breakers: Vec<Breaker>,
    /// Which unusual calls are flagged (`[anomaly]`).
    pub anomaly: Anomaly,
    /// sha256 of the file, recorded in the audit log.
    pub digest: String,
    /// Short form of the digest, part of every action digest.
    pub version: String,
    /// The variables some rule's condition names: all a call's context needs.
    uses: condition::Vars,
}

/// What a condition can see of an action.
pub struct EvalInput<'a> {
    pub agent: &'a str,
    pub tool: &'a str,
    pub args: &'a Value,
    pub session: &'a str,
    pub context: &'a Value,
    pub on_behalf_of: Option<&'a str>,
    pub cost: Option<f64>,
    pub rationale: Option<&'a str>,
    /// When the call is judged (CEL `now`, a timestamp).
    pub now: Option<crate::protocol::Timestamp>,
    /// CEL `usage`: each covering limit's use before this call, by limit id.
    pub usage: Option<&'a Value>,
}

fn compile_globs(
    src: &SourceFile,
    entry: &str,
    what: &str,
    list: Option<Vec<Spanned<String>>>,
) -> Result<Vec<NameGlob>, ConfigError> {
    let Some(list) = list else {
        return Ok(vec![NameGlob::everything()]);
    };
    list.into_iter()
        .map(|p| {
            NameGlob::new(p.get_ref()).map_err(|e| {
                src.error_at(p.span(), Some(entry), &format!("bad {what} pattern: {e}"))
            })
        })
        .collect()
}

impl Policy {
    pub fn parse(src: &SourceFile, roster: &Roster) -> Result<Policy, ConfigError> {
        let file: PolicyFile = src.deserialize()?;
        let mut rules: Vec<Rule> = Vec::new();
        for spec in file.rule {
            let id = spec.id.get_ref().clone();
            let entry = format!("rule \"{id}\"");
            let err =
                |span: std::ops::Range<usize>, msg: &str| src.error_at(span, Some(&entry), msg);
            if id.is_empty() {
                return Err(err(spec.id.span(), "id must not be empty"));
            }
            if rules.iter().any(|r| r.id == id) {
                return Err(err(spec.id.span(), "duplicate rule id"));
            }
            let tools = compile_globs(src, &entry, "tool", spec.tools.clone())?;
            let agents = compile_globs(src, &entry, "agent", spec.agents.clone())?;
            let (condition, program) = match &spec.when {
                None => (None, None),
                Some(w) => {
                    let text = w.get_ref().clone();
                    let program = Condition::compile(&text).map_err(|(offset_in_expr, msg)| {
                        let start = condition_offset(&src.text, w.span(), &text, offset_in_expr);
                        err(start..start, &msg)
                    })?;
                    (Some(text), Some(program))
                }
            };
            let effect = match spec.effect {
                Effect::Review => RuleEffect::Review(review_spec(&spec, roster, &err)?),
                other => {
                    refuse_review_keys(&spec, &err)?;
                    match other {
                        Effect::Allow => RuleEffect::Allow,
                        Effect::Flag => RuleEffect::Flag,
                        _ => RuleEffect::Deny,
                    }
                }
            };
            rules.push(Rule {
                id,
                tools,
                agents,
                condition,
                program,
                effect,
                reason: spec.reason,
            });
        }
        let limits = limits::parse(src, roster, file.limit)?;
        let breakers = breakers::parse(src, roster, file.breaker)?;
        let anomaly = breakers::parse_anomaly(src, roster, file.anomaly)?;
        let digest = sha256_hex(src.text.as_bytes());
        let uses = rules
            .iter()
            .filter_map(|r| r.program.as_ref())
            .fold(condition::Vars::default(), |set, p| set.union(p.uses()));
        Ok(Policy {
            uses,
            rules,
            limits,
            breakers,
            anomaly,
            version: digest[..16].to_string(),
            digest,
        })
    }

    /// The rules, in precedence deny > review > flag > allow, first among equals deciding. A
    /// condition that fails to evaluate never loosens: see `decision`.
    pub fn evaluate(&self, input: &EvalInput<'_>) -> Decision {
        condition::with_root(|root| {
            let mut ctx = None;
            decision::decide(&self.rules, input, |rule| match &rule.program {
                None => Ok(true),
                Some(program) => {
                    let ctx = ctx.get_or_insert_with(|| condition::context(root, input, self.uses));
                    program.eval(ctx)
                }
            })
        })
    }

    /// The reason given for a decision, to the agent, the approvers and the audit log.
    pub fn reason(&self, decision: &Decision) -> String {
        decision::reason(&self.rules, decision)
    }
}

/// Where, in the file, byte `offset` of a condition's text is. The value span includes its
/// quotes; for a basic string with escapes the position is the string's start.
fn condition_offset(file: &str, span: std::ops::Range<usize>, text: &str, offset: usize) -> usize {
    let raw = file.get(span.clone()).unwrap_or("");
    let quote = if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
        3
    } else {
        1
    };
    let inner = raw
        .get(quote..raw.len().saturating_sub(quote))
        .unwrap_or("");
    if inner == text {
        span.start + quote + offset
    } else {
        span.start
    }
}

type ErrAt<'a> = dyn Fn(std::ops::Range<usize>, &str) -> ConfigError + 'a;

fn review_spec(
    spec: &RuleSpec,
    roster: &Roster,
    err: &ErrAt<'_>,
) -> Result<ReviewSpec, ConfigError> {
    let group = spec.approvers.as_ref().ok_or_else(|| {
        err(
            spec.id.span(),
            "a review rule needs `approvers = \"GROUP\"`",
        )
    })?;
    let members = roster.approvers_in(group.get_ref());
    if members == 0 {
        return Err(err(
            group.span(),
            &format!(
                "unknown group \"{}\": no approver in the roster has it",
                group.get_ref()
            ),
        ));
    }
    let approvals = spec.approvals.as_ref().map(|a| *a.get_ref()).unwrap_or(1);
    if approvals == 0 || approvals as usize > members {
        let span = spec
            .approvals
            .as_ref()
            .map(|a| a.span())
            .unwrap_or(group.span());
        return Err(err(
            span,
            &format!(
                "approvals = {approvals} cannot be met: group \"{}\" has {members} approver(s)",
                group.get_ref()
            ),
        ));
    }
    let timeout = spec.timeout.as_ref().ok_or_else(|| {
        err(
            spec.id.span(),
            "a review rule needs `timeout`, e.g. \"10m\"",
        )
    })?;
    let timeout_d = crate::duration::parse(timeout.get_ref(), crate::duration::POLICY_TIMEOUT)
        .map_err(|e| err(timeout.span(), &format!("timeout: {e}")))?;
    let expiry = match (spec.on_expiry.unwrap_or(OnExpiry::Deny), &spec.escalate_to) {
        (OnExpiry::Escalate, None) => {
            return Err(err(
                spec.id.span(),
                "on_expiry = \"escalate\" needs escalate_to = \"GROUP\"",
            ))
        }
        (OnExpiry::Deny, Some(e)) => {
            return Err(err(e.span(), "escalate_to needs on_expiry = \"escalate\""))
        }
        (OnExpiry::Escalate, Some(e)) => {
            let n = roster.approvers_in(e.get_ref());
            if n < approvals as usize {
                return Err(err(
                    e.span(),
                    &format!(
                        "unknown group \"{}\": it has {n} approver(s), {approvals} needed",
                        e.get_ref()
                    ),
                ));
            }
            Expiry::Escalate(e.get_ref().clone())
        }
        (OnExpiry::Deny, None) => Expiry::Deny,
    };
    let extend = match &spec.extend {
        None => None,
        Some(e) => Some(
            crate::duration::parse(e.get_ref(), crate::duration::POLICY_TIMEOUT)
                .map_err(|why| err(e.span(), &format!("extend: {why}")))?,
        ),
    };
    Ok(ReviewSpec {
        group: group.get_ref().clone(),
        approvals,
        timeout: timeout_d,
        expiry,
        separate_owner: spec.separate_owner.unwrap_or(false),
        extend,
        grantable: spec.grantable.as_ref().is_some_and(|g| *g.get_ref()),
    })
}

fn refuse_review_keys(spec: &RuleSpec, err: &ErrAt<'_>) -> Result<(), ConfigError> {
    let review_only = [
        ("approvers", spec.approvers.as_ref().map(|s| s.span())),
        ("approvals", spec.approvals.as_ref().map(|s| s.span())),
        ("timeout", spec.timeout.as_ref().map(|s| s.span())),
        ("escalate_to", spec.escalate_to.as_ref().map(|s| s.span())),
        ("extend", spec.extend.as_ref().map(|s| s.span())),
        ("grantable", spec.grantable.as_ref().map(|s| s.span())),
    ];
    if let Some((key, Some(span))) = review_only.into_iter().find(|(_, s)| s.is_some()) {
        return Err(err(
            span,
            &format!("`{key}` only applies to effect = \"review\""),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod example_tests;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod tests;
