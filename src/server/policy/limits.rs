//! `[[limit]]`: rate and cost envelopes per agent or session over a window, for tool globs.
//!
//! Windows are fixed and aligned to the UTC epoch (a `1h` window runs from one full hour to the
//! next), so a limit's use frees up all at once, at a time the deny reason can name. Everything
//! is checked at start: a mistake is refused with its file:line, never found by the first call.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::glob::{NameGlob, Segments};
use super::{compile_globs, Expiry, ReviewSpec, Rule, RuleEffect};
use crate::config::{ConfigError, SourceFile};
use crate::protocol::LimitScope;
use crate::server::roster::Roster;

/// A limit's `window`: a second to a year, in whole seconds.
pub const LIMIT_WINDOW: crate::duration::Bounds = crate::duration::Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(366 * 86_400),
};

/// The largest `max_cost` or `grace_cost` a policy may name; agents' costs are bounded alike.
pub const MAX_COST: f64 = 1e12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum OnExceedSpec {
    Deny,
    Review,
}

/// A `[[limit]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitSpec {
    id: Spanned<String>,
    #[serde(default)]
    agents: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    tools: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    per: Option<LimitScope>,
    window: Spanned<String>,
    #[serde(default)]
    max_calls: Option<Spanned<i64>>,
    #[serde(default)]
    max_cost: Option<Spanned<f64>>,
    #[serde(default)]
    warn_at: Option<Spanned<f64>>,
    #[serde(default)]
    on_exceed: Option<Spanned<OnExceedSpec>>,
    #[serde(default)]
    grace_calls: Option<Spanned<i64>>,
    #[serde(default)]
    grace_cost: Option<Spanned<f64>>,
    #[serde(default)]
    approvers: Option<Spanned<String>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
}

/// What happens to a call that would take a limit's use past its maximum.
#[derive(Debug, Clone, PartialEq)]
pub enum OnExceed {
    Deny,
    /// A budget escalation to `approvers`; approved, the grace is added for the window.
    Review {
        grace_calls: u64,
        grace_cost: f64,
    },
}

/// A limit, checked at start.
pub struct Limit {
    pub id: String,
    agents: Vec<NameGlob>,
    tools: Vec<NameGlob>,
    pub per: LimitScope,
    pub window: Duration,
    pub max_calls: Option<u64>,
    pub max_cost: Option<f64>,
    pub warn_at: Option<f64>,
    pub on_exceed: OnExceed,
    /// For `on_exceed = "review"`: the rule a budget escalation is raised under (id = the
    /// limit's id, the approvers, one approval, the timeout).
    pub rule: Option<Rule>,
}

impl std::fmt::Debug for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limit")
            .field("id", &self.id)
            .field("per", &self.per)
            .field("window", &self.window)
            .field("max_calls", &self.max_calls)
            .field("max_cost", &self.max_cost)
            .field("warn_at", &self.warn_at)
            .field("on_exceed", &self.on_exceed)
            .finish()
    }
}

impl Clone for Limit {
    fn clone(&self) -> Limit {
        Limit {
            id: self.id.clone(),
            agents: self.agents.clone(),
            tools: self.tools.clone(),
            per: self.per,
            window: self.window,
            max_calls: self.max_calls,
            max_cost: self.max_cost,
            warn_at: self.warn_at,
            on_exceed: self.on_exceed.clone(),
            // A limit's rule has no condition: nothing but plain data to copy.
            rule: self.rule.as_ref().map(|r| Rule {
                id: r.id.clone(),
                tools: r.tools.clone(),
                agents: r.agents.clone(),
                condition: None,
                program: None,
                effect: r.effect.clone(),
                reason: r.reason.clone(),
            }),
        }
    }
}

impl Limit {
    /// Grace an approved budget escalation adds: (calls, cost).
    pub fn grace(&self) -> Option<(u64, f64)> {
        match self.on_exceed {
            OnExceed::Deny => None,
            OnExceed::Review {
                grace_calls,
                grace_cost,
            } => Some((grace_calls, grace_cost)),
        }
    }

    /// Whether the limit counts calls of `agent` to `tool`.
    pub fn covers(&self, agent: &str, tool: &str) -> bool {
        let (a, t) = (Segments::of(agent), Segments::of(tool));
        self.agents.iter().any(|g| g.matches_segments(&a))
            && self.tools.iter().any(|g| g.matches_segments(&t))
    }

    pub fn window_secs(&self) -> u64 {
        self.window.as_secs()
    }

    /// The review a budget escalation asks for, when `on_exceed = "review"`.
    pub fn review_spec(&self) -> Option<&ReviewSpec> {
        match &self.rule.as_ref()?.effect {
            RuleEffect::Review(spec) => Some(spec),
            _ => None,
        }
    }
}

/// The file's limits, or the first mistake in them with its file:line.
pub(super) fn parse(
    src: &SourceFile,
    roster: &Roster,
    specs: Vec<LimitSpec>,
) -> Result<Vec<Limit>, ConfigError> {
    let mut limits: Vec<Limit> = Vec::new();
    for spec in specs {
        let limit = parse_one(src, roster, spec, &limits)?;
        limits.push(limit);
    }
    Ok(limits)
}

fn parse_one(
    src: &SourceFile,
    roster: &Roster,
    spec: LimitSpec,
    earlier: &[Limit],
) -> Result<Limit, ConfigError> {
    let id = spec.id.get_ref().clone();
    let entry = format!("limit \"{id}\"");
    let err = |span: std::ops::Range<usize>, msg: &str| src.error_at(span, Some(&entry), msg);
    if id.trim().is_empty() {
        return Err(err(spec.id.span(), "id must not be empty"));
    }
    if earlier.iter().any(|l| l.id == id) {
        return Err(err(spec.id.span(), "duplicate limit id"));
    }
    if let Some(list) = &spec.agents {
        for a in list {
            let glob = NameGlob::new(a.get_ref())
                .map_err(|e| err(a.span(), &format!("bad agent pattern: {e}")))?;
            if !roster.agents.iter().any(|ag| glob.matches(&ag.id)) {
                return Err(err(
                    a.span(),
                    &format!("unknown agent \"{}\": no agent in the roster", a.get_ref()),
                ));
            }
        }
    }
    let agents = compile_globs(src, &entry, "agent", spec.agents.clone())?;
    let tools = compile_globs(src, &entry, "tool", spec.tools.clone())?;
    let window = crate::duration::parse(spec.window.get_ref(), LIMIT_WINDOW)
        .map_err(|e| err(spec.window.span(), &format!("window: {e}")))?;
    if window.subsec_nanos() != 0 {
        return Err(err(
            spec.window.span(),
            "window must be a whole number of seconds",
        ));
    }
    let max_calls = match &spec.max_calls {
        None => None,
        Some(m) if *m.get_ref() < 1 => {
            return Err(err(m.span(), "max_calls must be at least 1"));
        }
        Some(m) => Some(*m.get_ref() as u64),
    };
    let max_cost = match &spec.max_cost {
        None => None,
        Some(m) => Some(positive_cost(m, "max_cost", &err)?),
    };
    if max_calls.is_none() && max_cost.is_none() {
        return Err(err(
            spec.id.span(),
            "a limit needs `max_calls`, `max_cost` or both",
        ));
    }
    let warn_at = match &spec.warn_at {
        None => None,
        Some(w) => {
            let v = *w.get_ref();
            if !(v > 0.0 && v <= 1.0) {
                return Err(err(w.span(), "warn_at must be a share in (0, 1], e.g. 0.8"));
            }
            Some(v)
        }
    };
    let on_exceed = spec
        .on_exceed
        .as_ref()
        .map(|o| *o.get_ref())
        .unwrap_or(OnExceedSpec::Deny);
    let (on_exceed, rule) = match on_exceed {
        OnExceedSpec::Deny => {
            let review_only = [
                ("grace_calls", spec.grace_calls.as_ref().map(|s| s.span())),
                ("grace_cost", spec.grace_cost.as_ref().map(|s| s.span())),
                ("approvers", spec.approvers.as_ref().map(|s| s.span())),
                ("timeout", spec.timeout.as_ref().map(|s| s.span())),
            ];
            if let Some((key, Some(span))) = review_only.into_iter().find(|(_, s)| s.is_some()) {
                return Err(err(
                    span,
                    &format!("`{key}` only applies to on_exceed = \"review\""),
                ));
            }
            (OnExceed::Deny, None)
        }
        OnExceedSpec::Review => {
            let grace_calls = match &spec.grace_calls {
                None => 0,
                Some(g) if *g.get_ref() < 0 => {
                    return Err(err(g.span(), "grace_calls must not be negative"));
                }
                Some(g) => *g.get_ref() as u64,
            };
            let grace_cost = match &spec.grace_cost {
                None => 0.0,
                Some(g) if *g.get_ref() == 0.0 => 0.0,
                Some(g) => positive_cost(g, "grace_cost", &err)?,
            };
            if grace_calls == 0 && grace_cost == 0.0 {
                return Err(err(
                    spec.id.span(),
                    "on_exceed = \"review\" needs `grace_calls` or `grace_cost`: what approving grants",
                ));
            }
            let group = spec.approvers.as_ref().ok_or_else(|| {
                err(
                    spec.id.span(),
                    "on_exceed = \"review\" needs `approvers = \"GROUP\"`",
                )
            })?;
            if roster.approvers_in(group.get_ref()) == 0 {
                return Err(err(
                    group.span(),
                    &format!(
                        "unknown group \"{}\": no approver in the roster has it",
                        group.get_ref()
                    ),
                ));
            }
            let timeout = match &spec.timeout {
                None => Duration::from_secs(15 * 60),
                Some(t) => crate::duration::parse(t.get_ref(), crate::duration::POLICY_TIMEOUT)
                    .map_err(|e| err(t.span(), &format!("timeout: {e}")))?,
            };
            let rule = Rule {
                id: id.clone(),
                tools: tools.clone(),
                agents: agents.clone(),
                condition: None,
                program: None,
                effect: RuleEffect::Review(ReviewSpec {
                    group: group.get_ref().clone(),
                    approvals: 1,
                    timeout,
                    expiry: Expiry::Deny,
                    separate_owner: false,
                    extend: None,
                    grantable: false,
                }),
                reason: format!("limit \"{id}\" is used up; approving grants more in this window"),
            };
            (
                OnExceed::Review {
                    grace_calls,
                    grace_cost,
                },
                Some(rule),
            )
        }
    };
    Ok(Limit {
        id,
        agents,
        tools,
        per: spec.per.unwrap_or(LimitScope::Agent),
        window,
        max_calls,
        max_cost,
        warn_at,
        on_exceed,
        rule,
    })
}

type ErrAt<'a> = dyn Fn(std::ops::Range<usize>, &str) -> ConfigError + 'a;

fn positive_cost(v: &Spanned<f64>, key: &str, err: &ErrAt<'_>) -> Result<f64, ConfigError> {
    let x = *v.get_ref();
    if !x.is_finite() || x <= 0.0 || x > MAX_COST {
        return Err(err(
            v.span(),
            &format!("{key} must be a positive number at most {MAX_COST:e}"),
        ));
    }
    Ok(x)
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
