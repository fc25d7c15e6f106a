//! `[[breaker]]`: automatic, reversible suspension of an agent; and `[anomaly]`: which unusual
//! calls are flagged for a lead's review.

use serde::Deserialize;

use crate::config::{ConfigError, SourceFile};
use crate::server::roster::Roster;

/// A `[[breaker]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BreakerSpec {}

/// The `[anomaly]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnomalySpec {}

/// A breaker, checked at start.
#[derive(Debug, Clone)]
pub struct Breaker {
    pub id: String,
}

/// What counts as unusual; the default flags nothing.
#[derive(Debug, Clone, Default)]
pub struct Anomaly {}

/// The file's breakers, or the first mistake in them with its file:line.
pub(super) fn parse(
    _src: &SourceFile,
    _roster: &Roster,
    specs: Vec<BreakerSpec>,
) -> Result<Vec<Breaker>, ConfigError> {
    let _ = specs;
    Ok(Vec::new())
}

/// The `[anomaly]` table, or its first mistake with its file:line.
pub(super) fn parse_anomaly(
    _src: &SourceFile,
    spec: Option<AnomalySpec>,
) -> Result<Anomaly, ConfigError> {
    let _ = spec;
    Ok(Anomaly::default())
}
