//! `[[webhook]]` tables of the server's config file: where on-call paging events are POSTed.
//!
//! Everything that can be checked from the file alone is checked when it is parsed, with the
//! file, line and key of the mistake (unknown keys and event names included). What depends on
//! the environment (`secret_env`, `routing_key_env`) is read when the server starts, and a
//! missing variable is reported at the line that names it ([`Place`]).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{ConfigError, SourceFile};
use crate::duration::{self, Bounds};

/// The events a webhook may subscribe to, by their names on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "escalation.created")]
    EscalationCreated,
    #[serde(rename = "escalation.near_deadline")]
    EscalationNearDeadline,
    #[serde(rename = "escalation.resolved")]
    EscalationResolved,
    /// A circuit breaker opened for an agent (audit kind `breaker_tripped`).
    #[serde(rename = "breaker.tripped")]
    BreakerTripped,
    #[serde(rename = "killswitch.flipped")]
    KillswitchFlipped,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::EscalationCreated,
        EventType::EscalationNearDeadline,
        EventType::EscalationResolved,
        EventType::BreakerTripped,
        EventType::KillswitchFlipped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::EscalationCreated => "escalation.created",
            EventType::EscalationNearDeadline => "escalation.near_deadline",
            EventType::EscalationResolved => "escalation.resolved",
            EventType::BreakerTripped => "breaker.tripped",
            EventType::KillswitchFlipped => "killswitch.flipped",
        }
    }
}

/// The body a receiver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    Json,
    Slack,
    Pagerduty,
}

/// A table as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookTable {
    id: Option<Spanned<String>>,
    url: Spanned<String>,
    format: Option<Spanned<WebhookFormat>>,
    events: Option<Spanned<Vec<EventType>>>,
    secret: Option<Spanned<String>>,
    secret_env: Option<Spanned<String>>,
    routing_key: Option<Spanned<String>>,
    routing_key_env: Option<Spanned<String>>,
    near_deadline: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    retry_backoff: Option<Spanned<String>>,
    give_up_after: Option<Spanned<String>>,
    ca_cert: Option<PathBuf>,
}

/// Where in a config file a value was written, for errors found after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub entry: String,
}

impl Place {
    pub fn error(&self, message: &str) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
            entry: Some(self.entry.clone()),
            message: message.to_string(),
        }
    }
}

/// A secret as configured: in the file, or the name of the environment variable holding it.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Literal(String),
    Env { var: String, at: Place },
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Literal(_) => f.write_str("Secret::Literal(<redacted>)"),
            Secret::Env { var, .. } => write!(f, "Secret::Env({var})"),
        }
    }
}

/// A checked `[[webhook]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEntry {
    /// Names the webhook in logs (never the URL, which may be a secret) and keys its cursor.
    pub id: String,
    pub url: String,
    pub format: WebhookFormat,
    pub events: Vec<EventType>,
    /// A Standard Webhooks secret (`whsec_…`); required for `format = "json"`.
    pub secret: Option<Secret>,
    /// PagerDuty's integration key; required for, and only for, `format = "pagerduty"`.
    pub routing_key: Option<Secret>,
    pub near_deadline: Duration,
    /// One delivery attempt's limit.
    pub timeout: Duration,
    /// The first retry's delay; each next one doubles, with jitter, up to ten minutes.
    pub retry_backoff: Duration,
    /// How long one event is retried before it is given up (and logged).
    pub give_up_after: Duration,
    pub ca_cert: Option<PathBuf>,
    pub at: Place,
}

pub const NEAR_DEADLINE: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(30 * 86_400),
};
pub const TIMEOUT: Bounds = Bounds {
    min: Duration::from_millis(10),
    max: Duration::from_secs(300),
};
pub const RETRY_BACKOFF: Bounds = Bounds {
    min: Duration::from_millis(1),
    max: Duration::from_secs(3600),
};
pub const GIVE_UP_AFTER: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(30 * 86_400),
};

/// Standard Webhooks secrets are 24 to 64 random bytes.
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// Decodes a `whsec_<base64>` secret into the HMAC key.
pub fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    let how = "generate one with `echo whsec_$(head -c 32 /dev/urandom | base64)`";
    let b64 = text
        .strip_prefix("whsec_")
        .ok_or_else(|| format!("a secret starts with `whsec_`: {how}"))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| format!("a secret is `whsec_` and base64: {how}"))?;
    if !SECRET_BYTES.contains(&key.len()) {
        return Err(format!(
            "a secret holds 24 to 64 bytes, this one {}: {how}",
            key.len()
        ));
    }
    Ok(key)
}

impl WebhookTable {
    fn check(self, src: &SourceFile, base: &Path, n: usize) -> Result<WebhookEntry, ConfigError> {
        let entry = match &self.id {
            Some(id) => format!("webhook \"{}\"", id.get_ref()),
            None => format!("webhook #{n}"),
        };
        let err = |span: std::ops::Range<usize>, msg: &str| src.error_at(span, Some(&entry), msg);
        let place = |span: std::ops::Range<usize>| {
            let (line, col) = src.line_col(span.start);
            Place {
                file: src.name.clone(),
                line,
                col,
                entry: entry.clone(),
            }
        };
        let url = reqwest::Url::parse(self.url.get_ref())
            .map_err(|e| err(self.url.span(), &format!("`url`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(err(
                self.url.span(),
                "`url` must be an http:// or https:// URL",
            ));
        }
        let id = match &self.id {
            Some(id) => {
                let ok = (1..=64).contains(&id.get_ref().len())
                    && id
                        .get_ref()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    return Err(err(id.span(), "`id`: 1 to 64 letters, digits, `-` or `_`"));
                }
                id.get_ref().clone()
            }
            None => {
                let digest = crate::protocol::canonical::sha256_hex(self.url.get_ref().as_bytes());
                format!("url-{}", &digest[..16])
            }
        };
        let format = self
            .format
            .as_ref()
            .map_or(WebhookFormat::Json, |f| *f.get_ref());
        let format_span = self.format.as_ref().map_or(self.url.span(), |f| f.span());
        let events = match &self.events {
            None => EventType::ALL.to_vec(),
            Some(list) if list.get_ref().is_empty() => {
                return Err(err(
                    list.span(),
                    "`events` is empty: leave it out for every event",
                ))
            }
            Some(list) => {
                let mut seen = HashSet::new();
                list.get_ref()
                    .iter()
                    .copied()
                    .filter(|e| seen.insert(*e))
                    .collect()
            }
        };
        let secret = one_of(&self.secret, &self.secret_env, "secret", &err, &place)?;
        if let Some(Secret::Literal(s)) = &secret {
            let span = self.secret.as_ref().map(|s| s.span()).unwrap_or_default();
            decode_secret(s).map_err(|m| err(span, &format!("`secret`: {m}")))?;
        }
        if format == WebhookFormat::Json && secret.is_none() {
            return Err(err(
                format_span,
                "a \"json\" webhook is signed: add `secret` or `secret_env`",
            ));
        }
        let routing_key = one_of(
            &self.routing_key,
            &self.routing_key_env,
            "routing_key",
            &err,
            &place,
        )?;
        match (format, &routing_key) {
            (WebhookFormat::Pagerduty, None) => {
                return Err(err(
                    format_span,
                    "a \"pagerduty\" webhook needs `routing_key` or `routing_key_env`",
                ))
            }
            (WebhookFormat::Pagerduty, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                let span = [&self.routing_key, &self.routing_key_env]
                    .into_iter()
                    .flatten()
                    .map(|s| s.span())
                    .next()
                    .unwrap_or_default();
                return Err(err(
                    span,
                    "`routing_key` only applies to format = \"pagerduty\"",
                ));
            }
        }
        let dur = |v: &Option<Spanned<String>>, key: &str, bounds: Bounds, default: Duration| {
            v.as_ref().map_or(Ok(default), |v| {
                duration::parse(v.get_ref(), bounds)
                    .map_err(|e| err(v.span(), &format!("`{key}`: {e}")))
            })
        };
        let ca_cert = self
            .ca_cert
            .map(|p| if p.is_relative() { base.join(p) } else { p });
        Ok(WebhookEntry {
            id,
            url: url.to_string(),
            format,
            events,
            secret,
            routing_key,
            near_deadline: dur(
                &self.near_deadline,
                "near_deadline",
                NEAR_DEADLINE,
                Duration::from_secs(300),
            )?,
            timeout: dur(&self.timeout, "timeout", TIMEOUT, Duration::from_secs(10))?,
            retry_backoff: dur(
                &self.retry_backoff,
                "retry_backoff",
                RETRY_BACKOFF,
                Duration::from_secs(1),
            )?,
            give_up_after: dur(
                &self.give_up_after,
                "give_up_after",
                GIVE_UP_AFTER,
                Duration::from_secs(86_400),
            )?,
            ca_cert,
            at: place(self.url.span()),
        })
    }
}

/// `key` or `key_env`, not both; an empty value is refused.
fn one_of(
    literal: &Option<Spanned<String>>,
    env: &Option<Spanned<String>>,
    key: &str,
    err: &dyn Fn(std::ops::Range<usize>, &str) -> ConfigError,
    place: &dyn Fn(std::ops::Range<usize>) -> Place,
) -> Result<Option<Secret>, ConfigError> {
    match (literal, env) {
        (Some(_), Some(e)) => Err(err(
            e.span(),
            &format!("give `{key}` or `{key}_env`, not both"),
        )),
        (Some(v), None) if v.get_ref().is_empty() => {
            Err(err(v.span(), &format!("`{key}` is empty")))
        }
        (None, Some(e)) if e.get_ref().is_empty() => {
            Err(err(e.span(), &format!("`{key}_env` names no variable")))
        }
        (Some(v), None) => Ok(Some(Secret::Literal(v.get_ref().clone()))),
        (None, Some(e)) => Ok(Some(Secret::Env {
            var: e.get_ref().clone(),
            at: place(e.span()),
        })),
        (None, None) => Ok(None),
    }
}

/// Checks every table; two webhooks may not share an id (their cursors would collide).
pub(super) fn check(
    tables: Vec<WebhookTable>,
    src: &SourceFile,
    base: &Path,
) -> Result<Vec<WebhookEntry>, ConfigError> {
    let mut ids = HashSet::new();
    let mut out = Vec::new();
    for (i, table) in tables.into_iter().enumerate() {
        let span = table.id.as_ref().map_or(table.url.span(), |s| s.span());
        let entry = table.check(src, base, i + 1)?;
        if !ids.insert(entry.id.clone()) {
            return Err(src.error_at(
                span,
                Some(&entry.at.entry),
                "two webhooks with the same id (or, without ids, the same url): give each its own `id`",
            ));
        }
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
