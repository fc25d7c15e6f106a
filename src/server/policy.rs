//! `policy.toml`: ordered rules with CEL conditions, deny by default.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::roster::Roster;
use crate::config::{ConfigError, SourceFile};
use crate::protocol::canonical::sha256_hex;
use crate::protocol::{Effect, RuleRef};

/// Variables a condition may use.
pub const CEL_VARIABLES: &[&str] = &[
    "args",
    "agent",
    "tool",
    "session",
    "context",
    "on_behalf_of",
    "cost",
    "rationale",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExpiry {
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
}

#[derive(Debug, Clone)]
pub struct ReviewSpec {
    pub group: String,
    pub approvals: u32,
    pub timeout: Duration,
    pub on_expiry: OnExpiry,
    pub escalate_to: Option<String>,
    pub separate_owner: bool,
}

pub struct Rule {
    pub id: String,
    tools: Vec<glob::Pattern>,
    agents: Vec<glob::Pattern>,
    pub condition: Option<String>,
    program: Option<cel::Program>,
    pub effect: Effect,
    pub reason: String,
    pub review: Option<ReviewSpec>,
}

impl Rule {
    pub fn to_ref(&self) -> RuleRef {
        RuleRef {
            id: self.id.clone(),
            effect: self.effect,
            reason: self.reason.clone(),
            condition: self.condition.clone(),
        }
    }
}

pub struct Policy {
    pub rules: Vec<Rule>,
    /// sha256 of the file, recorded in the audit log.
    pub digest: String,
    /// Short form of the digest, part of every action digest.
    pub version: String,
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
}

/// The outcome of evaluating the rules for one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub effect: Effect,
    /// Index of the deciding rule; `None` means no rule matched (deny by default).
    pub rule: Option<usize>,
    /// True when the deciding rule's condition failed to evaluate and counted as a match.
    pub errored: bool,
}

pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut num = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        any = true;
    }
    if !num.is_empty() || !any || total == 0 {
        return None;
    }
    Some(Duration::from_secs(total))
}

fn compile_globs(
    src: &SourceFile,
    entry: &str,
    what: &str,
    list: Option<Vec<Spanned<String>>>,
) -> Result<Vec<glob::Pattern>, ConfigError> {
    let list = match list {
        None => return Ok(vec![glob::Pattern::new("*").expect("valid glob")]),
        Some(l) => l,
    };
    list.into_iter()
        .map(|p| {
            glob::Pattern::new(p.get_ref()).map_err(|e| {
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
            let tools = compile_globs(src, &entry, "tool", spec.tools)?;
            let agents = compile_globs(src, &entry, "agent", spec.agents)?;
            let (condition, program) = match &spec.when {
                None => (None, None),
                Some(w) => {
                    let text = w.get_ref().clone();
                    let program = compile_condition(&text).map_err(|(offset_in_expr, msg)| {
                        // Point into the string: the value span starts at its opening quote.
                        let start = w.span().start + 1 + offset_in_expr;
                        err(start..start, &format!("condition does not parse: {msg}"))
                    })?;
                    (Some(text), Some(program))
                }
            };
            let review = if spec.effect == Effect::Review {
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
                let timeout_d = parse_duration(timeout.get_ref()).ok_or_else(|| {
                    err(
                        timeout.span(),
                        "timeout must look like \"90s\", \"10m\", \"1h30m\"",
                    )
                })?;
                let on_expiry = spec.on_expiry.unwrap_or(OnExpiry::Deny);
                let escalate_to = match (&on_expiry, &spec.escalate_to) {
                    (OnExpiry::Escalate, None) => {
                        return Err(err(
                            spec.id.span(),
                            "on_expiry = \"escalate\" needs escalate_to = \"GROUP\"",
                        ))
                    }
                    (OnExpiry::Deny, Some(e)) => {
                        return Err(err(e.span(), "escalate_to needs on_expiry = \"escalate\""))
                    }
                    (_, Some(e)) => {
                        let n = roster.approvers_in(e.get_ref());
                        if n < approvals as usize {
                            return Err(err(
                                e.span(),
                                &format!("unknown group \"{}\": it has {n} approver(s), {approvals} needed", e.get_ref()),
                            ));
                        }
                        Some(e.get_ref().clone())
                    }
                    (_, None) => None,
                };
                Some(ReviewSpec {
                    group: group.get_ref().clone(),
                    approvals,
                    timeout: timeout_d,
                    on_expiry,
                    escalate_to,
                    separate_owner: spec.separate_owner.unwrap_or(false),
                })
            } else {
                let review_only = [
                    ("approvers", spec.approvers.as_ref().map(|s| s.span())),
                    ("approvals", spec.approvals.as_ref().map(|s| s.span())),
                    ("timeout", spec.timeout.as_ref().map(|s| s.span())),
                    ("escalate_to", spec.escalate_to.as_ref().map(|s| s.span())),
                ];
                if let Some((key, Some(span))) = review_only.into_iter().find(|(_, s)| s.is_some())
                {
                    return Err(err(
                        span,
                        &format!("`{key}` only applies to effect = \"review\""),
                    ));
                }
                None
            };
            rules.push(Rule {
                id,
                tools,
                agents,
                condition,
                program,
                effect: spec.effect,
                reason: spec.reason,
                review,
            });
        }
        let digest = sha256_hex(src.text.as_bytes());
        Ok(Policy {
            rules,
            version: digest[..16].to_string(),
            digest,
        })
    }

    /// Deny > review > flag > allow; among equals the first rule in the file decides. A condition
    /// that fails to evaluate never loosens: it counts as a match for deny/review/flag rules and
    /// as no match for allow rules.
    pub fn evaluate(&self, input: &EvalInput<'_>) -> Evaluation {
        // The CEL standard library is built once per thread, not per call: building it
        // dominated evaluation time.
        CEL_ROOT.with(|root| self.evaluate_in(root, input))
    }

    fn evaluate_in(
        &self,
        root: &cel::Context<'static, 'static>,
        input: &EvalInput<'_>,
    ) -> Evaluation {
        let mut best = Evaluation {
            effect: Effect::Deny,
            rule: None,
            errored: false,
        };
        let mut matched_any = false;
        let mut ctx: Option<cel::Context> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            if matched_any && rule.effect.precedence() <= best.effect.precedence() {
                continue;
            }
            if !rule.tools.iter().any(|p| p.matches(input.tool))
                || !rule.agents.iter().any(|p| p.matches(input.agent))
            {
                continue;
            }
            let (matched, errored) = match &rule.program {
                None => (true, false),
                Some(program) => {
                    let ctx = ctx.get_or_insert_with(|| cel_context(root, input));
                    match program.execute(ctx) {
                        Ok(cel::Value::Bool(b)) => (b, false),
                        Ok(_) | Err(_) => (rule.effect != Effect::Allow, true),
                    }
                }
            };
            if matched {
                matched_any = true;
                best = Evaluation {
                    effect: rule.effect,
                    rule: Some(i),
                    errored,
                };
                if rule.effect == Effect::Deny {
                    break;
                }
            }
        }
        best
    }
}

thread_local! {
    static CEL_ROOT: cel::Context<'static, 'static> = cel::Context::default();
}

/// Parses a CEL condition and checks it only uses known variables. Errors carry the byte offset
/// inside the expression.
fn compile_condition(text: &str) -> Result<cel::Program, (usize, String)> {
    let program = cel::Program::compile(text).map_err(|errs| {
        let first = errs.errors.first();
        let offset = first
            .map(|e| {
                let (line, col) = (e.pos.0.max(1) as usize, e.pos.1.max(0) as usize);
                text.split_inclusive('\n')
                    .take(line - 1)
                    .map(str::len)
                    .sum::<usize>()
                    + col
            })
            .unwrap_or(0);
        let msg = first
            .map(|e| e.msg.clone())
            .unwrap_or_else(|| errs.to_string());
        (offset.min(text.len()), msg)
    })?;
    let refs = program.references();
    for v in refs.variables() {
        if !CEL_VARIABLES.contains(&v) {
            let offset = text.find(v).unwrap_or(0);
            return Err((
                offset,
                format!(
                    "unknown variable `{v}` (known: {})",
                    CEL_VARIABLES.join(", ")
                ),
            ));
        }
    }
    Ok(program)
}

fn cel_context<'r>(
    root: &'r cel::Context<'static, 'static>,
    input: &EvalInput<'_>,
) -> cel::Context<'r, 'static> {
    let mut ctx = root.new_inner_scope();
    // Adding plain JSON values cannot fail; a failure leaves the variable unset, which makes
    // conditions on it error, which never loosens (see `evaluate`).
    let _ = ctx.add_variable("args", input.args);
    let _ = ctx.add_variable("context", input.context);
    ctx.add_variable_from_value("agent", input.agent.to_string());
    ctx.add_variable_from_value("tool", input.tool.to_string());
    ctx.add_variable_from_value("session", input.session.to_string());
    ctx.add_variable_from_value("on_behalf_of", input.on_behalf_of.unwrap_or("").to_string());
    ctx.add_variable_from_value("rationale", input.rationale.unwrap_or("").to_string());
    ctx.add_variable_from_value("cost", input.cost.unwrap_or(0.0));
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> Policy {
        let root = env!("CARGO_MANIFEST_DIR");
        let roster =
            Roster::load(std::path::Path::new(&format!("{root}/assets/roster.toml"))).unwrap();
        let src =
            SourceFile::read(std::path::Path::new(&format!("{root}/assets/policy.toml"))).unwrap();
        Policy::parse(&src, &roster).unwrap()
    }

    fn eval(p: &Policy, tool: &str, args: Value) -> (Effect, Option<String>) {
        let ctx = json!({});
        let e = p.evaluate(&EvalInput {
            agent: "refund-bot",
            tool,
            args: &args,
            session: "s",
            context: &ctx,
            on_behalf_of: None,
            cost: None,
            rationale: None,
        });
        (e.effect, e.rule.map(|i| p.rules[i].id.clone()))
    }

    #[test]
    fn example_policy_decides_as_documented() {
        let p = example();
        let r = |s: &str| Some(s.to_string());
        assert_eq!(
            eval(&p, "stripe.refund", json!({"amount": 50.0})),
            (Effect::Allow, r("refund-small"))
        );
        assert_eq!(
            eval(&p, "stripe.refund", json!({"amount": 500.0})),
            (Effect::Flag, r("refund-medium"))
        );
        assert_eq!(
            eval(&p, "stripe.refund", json!({"amount": 5000.0})),
            (Effect::Review, r("refund-large"))
        );
        assert_eq!(
            eval(&p, "stripe.refund", json!({"amount": 50000.0})),
            (Effect::Review, r("refund-huge"))
        );
        // Missing amount: the allow rule errors (no match), the review rules error (match).
        assert_eq!(eval(&p, "stripe.refund", json!({})).0, Effect::Review);
        assert_eq!(
            eval(&p, "email.send", json!({"to": "a@example.com"})),
            (Effect::Allow, r("email-internal"))
        );
        assert_eq!(
            eval(&p, "email.send", json!({"to": "x@gmail.com"})),
            (Effect::Review, r("email-external"))
        );
        assert_eq!(
            eval(
                &p,
                "postgres.execute",
                json!({"database": "prod-main", "sql": "DROP TABLE users"})
            ),
            (Effect::Deny, r("db-destructive"))
        );
        assert_eq!(
            eval(
                &p,
                "postgres.execute",
                json!({"database": "prod-main", "sql": "update t set x=1"})
            ),
            (Effect::Review, r("db-prod-write"))
        );
        assert_eq!(
            eval(&p, "shell.exec", json!({"command": "ls"})),
            (Effect::Deny, None)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        for bad in ["", "10", "m", "5x", "0s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
