//! `[[breaker]]`: automatic, reversible suspension of an agent; and `[anomaly]`: which unusual
//! calls are flagged for a lead's review. Both are checked at start: every mistake is refused
//! with its file:line.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::glob::NameGlob;
use crate::config::{ConfigError, SourceFile};
use crate::duration::Bounds;
use crate::server::roster::Roster;

/// A breaker's `window` and `cooldown`, and the anomaly's `rate_window` and `baseline`.
pub const BREAKER_TIME: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(30 * 86_400),
};

/// `min_calls` when a breaker's `max_denied_share` or the anomaly's rate does not say.
pub const DEFAULT_MIN_CALLS: u32 = 10;

/// A `[[breaker]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BreakerSpec {
    id: Spanned<String>,
    #[serde(default)]
    agents: Option<Spanned<Vec<Spanned<String>>>>,
    window: Spanned<String>,
    #[serde(default)]
    max_escalations: Option<Spanned<i64>>,
    #[serde(default)]
    max_denied_share: Option<Spanned<f64>>,
    #[serde(default)]
    min_calls: Option<Spanned<i64>>,
    cooldown: Spanned<String>,
}

/// The `[anomaly]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnomalySpec {
    #[serde(default)]
    agents: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    new_tool: Option<bool>,
    #[serde(default)]
    rate_factor: Option<Spanned<f64>>,
    #[serde(default)]
    rate_window: Option<Spanned<String>>,
    #[serde(default)]
    baseline: Option<Spanned<String>>,
    #[serde(default)]
    min_calls: Option<Spanned<i64>>,
}

/// A breaker, checked at start.
#[derive(Debug, Clone)]
pub struct Breaker {
    pub id: String,
    agents: Vec<NameGlob>,
    /// The sliding window both triggers count in.
    pub window: Duration,
    /// Approval fatigue: the call that would be the agent's `max + 1`th escalation in the window
    /// is denied and trips the breaker.
    pub max_escalations: Option<u32>,
    /// Once `min_calls` calls the policy judged are in the window, a denied share above this
    /// (or, at 1, every call denied) trips the breaker.
    pub max_denied_share: Option<f64>,
    pub min_calls: u32,
    /// How long the breaker stays open before one trial call goes through.
    pub cooldown: Duration,
}

impl Breaker {
    pub fn covers(&self, agent: &str) -> bool {
        self.agents.iter().any(|g| g.matches(agent))
    }
}

/// The call-rate anomaly: more than `factor` times the agent's own average rate.
#[derive(Debug, Clone)]
pub struct RateAnomaly {
    pub factor: f64,
    /// The recent stretch whose calls are counted.
    pub window: Duration,
    /// The stretch before `window` whose average rate is the agent's normal.
    pub baseline: Duration,
    pub min_calls: u32,
}

/// What counts as unusual; the default flags nothing.
#[derive(Debug, Clone, Default)]
pub struct Anomaly {
    agents: Vec<NameGlob>,
    /// Flag an agent's first call of a tool it has never called.
    pub new_tool: bool,
    pub rate: Option<RateAnomaly>,
}

impl Anomaly {
    /// Whether anything is flagged at all.
    pub fn enabled(&self) -> bool {
        self.new_tool || self.rate.is_some()
    }

    pub fn covers(&self, agent: &str) -> bool {
        self.agents.iter().any(|g| g.matches(agent))
    }
}

type Span = Range<usize>;

/// The agent globs of a table: each must name at least one roster agent, so a typo cannot
/// leave an agent unguarded.
fn agent_globs(
    src: &SourceFile,
    roster: &Roster,
    entry: &str,
    list: Option<Spanned<Vec<Spanned<String>>>>,
) -> Result<Vec<NameGlob>, ConfigError> {
    let Some(list) = list else {
        return Ok(vec![NameGlob::everything()]);
    };
    let span = list.span();
    let list = list.into_inner();
    if list.is_empty() {
        return Err(src.error_at(
            span,
            Some(entry),
            "agents = [] names no agent: leave it out for every agent",
        ));
    }
    list.into_iter()
        .map(|p| {
            let glob = NameGlob::new(p.get_ref()).map_err(|e| {
                src.error_at(p.span(), Some(entry), &format!("bad agent pattern: {e}"))
            })?;
            if !roster.agents.iter().any(|a| glob.matches(&a.id)) {
                return Err(src.error_at(
                    p.span(),
                    Some(entry),
                    &format!(
                        "unknown agent: \"{}\" matches no agent in the roster",
                        p.get_ref()
                    ),
                ));
            }
            Ok(glob)
        })
        .collect()
}

fn duration(
    src: &SourceFile,
    entry: &str,
    key: &str,
    text: &Spanned<String>,
) -> Result<Duration, ConfigError> {
    crate::duration::parse(text.get_ref(), BREAKER_TIME)
        .map_err(|e| src.error_at(text.span(), Some(entry), &format!("{key}: {e}")))
}

/// A count of at least 1 that fits a u32.
fn count(src: &SourceFile, entry: &str, key: &str, n: &Spanned<i64>) -> Result<u32, ConfigError> {
    u32::try_from(*n.get_ref())
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| {
            src.error_at(
                n.span(),
                Some(entry),
                &format!("{key} must be a whole number from 1 to {}", u32::MAX),
            )
        })
}

/// The file's breakers, or the first mistake in them with its file:line.
pub(super) fn parse(
    src: &SourceFile,
    roster: &Roster,
    specs: Vec<BreakerSpec>,
) -> Result<Vec<Breaker>, ConfigError> {
    let mut out: Vec<Breaker> = Vec::new();
    for spec in specs {
        let id = spec.id.get_ref().clone();
        let entry = format!("breaker \"{id}\"");
        let err = |span: Span, msg: &str| src.error_at(span, Some(&entry), msg);
        if id.is_empty() {
            return Err(err(spec.id.span(), "id must not be empty"));
        }
        if out.iter().any(|b| b.id == id) {
            return Err(err(spec.id.span(), "duplicate breaker id"));
        }
        let agents = agent_globs(src, roster, &entry, spec.agents)?;
        let window = duration(src, &entry, "window", &spec.window)?;
        let cooldown = duration(src, &entry, "cooldown", &spec.cooldown)?;
        let max_escalations = spec
            .max_escalations
            .as_ref()
            .map(|n| count(src, &entry, "max_escalations", n))
            .transpose()?;
        let max_denied_share = match &spec.max_denied_share {
            None => None,
            Some(s) => {
                let v = *s.get_ref();
                if !(v.is_finite() && v > 0.0 && v <= 1.0) {
                    return Err(err(
                        s.span(),
                        "max_denied_share must be a share above 0 and at most 1, e.g. 0.5",
                    ));
                }
                Some(v)
            }
        };
        let min_calls = match (&spec.min_calls, max_denied_share) {
            (Some(n), None) => {
                return Err(err(
                    n.span(),
                    "min_calls only applies with max_denied_share",
                ))
            }
            (Some(n), Some(_)) => count(src, &entry, "min_calls", n)?,
            (None, _) => DEFAULT_MIN_CALLS,
        };
        if max_escalations.is_none() && max_denied_share.is_none() {
            return Err(err(
                spec.id.span(),
                "a breaker needs a trigger: max_escalations and/or max_denied_share",
            ));
        }
        out.push(Breaker {
            id,
            agents,
            window,
            max_escalations,
            max_denied_share,
            min_calls,
            cooldown,
        });
    }
    Ok(out)
}

/// The `[anomaly]` table, or its first mistake with its file:line.
pub(super) fn parse_anomaly(
    src: &SourceFile,
    roster: &Roster,
    spec: Option<AnomalySpec>,
) -> Result<Anomaly, ConfigError> {
    let Some(spec) = spec else {
        return Ok(Anomaly::default());
    };
    let entry = "anomaly";
    let err = |span: Span, msg: &str| src.error_at(span, Some(entry), msg);
    let agents = agent_globs(src, roster, entry, spec.agents)?;
    let rate = match &spec.rate_factor {
        None => {
            let stray = [
                ("rate_window", spec.rate_window.as_ref().map(|s| s.span())),
                ("baseline", spec.baseline.as_ref().map(|s| s.span())),
                ("min_calls", spec.min_calls.as_ref().map(|s| s.span())),
            ];
            if let Some((key, Some(span))) = stray.into_iter().find(|(_, s)| s.is_some()) {
                return Err(err(span, &format!("{key} only applies with rate_factor")));
            }
            None
        }
        Some(f) => {
            let factor = *f.get_ref();
            if !(factor.is_finite() && factor > 1.0 && factor <= 1e6) {
                return Err(err(
                    f.span(),
                    "rate_factor must be a number above 1 (and at most 1000000), e.g. 5.0",
                ));
            }
            let window = match &spec.rate_window {
                Some(w) => duration(src, entry, "rate_window", w)?,
                None => Duration::from_secs(300),
            };
            let baseline = match &spec.baseline {
                Some(b) => duration(src, entry, "baseline", b)?,
                None => Duration::from_secs(3600),
            };
            if baseline < window {
                let span = spec.baseline.as_ref().map_or(f.span(), |b| b.span());
                return Err(err(
                    span,
                    "baseline must be at least as long as rate_window",
                ));
            }
            let min_calls = spec
                .min_calls
                .as_ref()
                .map(|n| count(src, entry, "min_calls", n))
                .transpose()?
                .unwrap_or(DEFAULT_MIN_CALLS);
            Some(RateAnomaly {
                factor,
                window,
                baseline,
                min_calls,
            })
        }
    };
    Ok(Anomaly {
        agents,
        new_tool: spec.new_tool.unwrap_or(false),
        rate,
    })
}

#[cfg(test)]
mod tests;
