//! The filters of `GET /v1/audit`, answered from the audit table's typed columns.

use serde::Deserialize;

/// Filters for `GET /v1/audit`: `agent` matches the record's actor or the agent it concerns,
/// `verdict` its effect, resolution or vote.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuditQuery {
    pub agent: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub kind: Option<String>,
    pub verdict: Option<String>,
    pub after_seq: Option<u64>,
    pub limit: Option<u32>,
}

/// Most records one query answers, and how many when the query does not say.
pub const MAX_AUDIT_LIMIT: u32 = 10_000;
pub const DEFAULT_AUDIT_LIMIT: u32 = 1000;

impl AuditQuery {
    pub fn limit(&self) -> u32 {
        self.limit
            .unwrap_or(DEFAULT_AUDIT_LIMIT)
            .min(MAX_AUDIT_LIMIT)
    }
}
