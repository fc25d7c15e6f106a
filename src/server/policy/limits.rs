//! `[[limit]]`: rate and cost envelopes per agent or session over a window, for tool globs.

use serde::Deserialize;

use crate::config::{ConfigError, SourceFile};
use crate::server::roster::Roster;

/// A `[[limit]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitSpec {}

/// A limit, checked at start.
#[derive(Debug, Clone)]
pub struct Limit {
    pub id: String,
}

/// The file's limits, or the first mistake in them with its file:line.
pub(super) fn parse(
    _src: &SourceFile,
    _roster: &Roster,
    specs: Vec<LimitSpec>,
) -> Result<Vec<Limit>, ConfigError> {
    let _ = specs;
    Ok(Vec::new())
}
