//! `/v1/audit`: the audit log, filtered, and its latest signed checkpoint.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::IntoResponse;

use super::extract::{Auditors, Reader};
use crate::protocol::{AuditRecord, ErrorBody};
use crate::server::app::App;
use crate::server::audit::Anchor;
use crate::server::error::ApiError;
use crate::server::store::{self, AuditQuery};

/// `GET /v1/audit?kind=&actor=&since=&until=&limit=...`.
#[utoipa::path(get, path = "/v1/audit", tag = "people",
    summary = "The audit log, filtered, oldest first",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    params(
        ("agent" = Option<String>, Query, description = "Only records about this agent"),
        ("since" = Option<String>, Query,
            format = DateTime, description = "Records at or after this time (RFC 3339)"),
        ("until" = Option<String>, Query,
            format = DateTime, description = "Records at or before this time (RFC 3339)"),
        ("kind" = Option<String>, Query,
            description = "Only records of this kind (`action`, `decision`, `refused`…)"),
        ("verdict" = Option<String>, Query,
            description = "An action's effect, a resolution or a vote"),
        ("after_seq" = Option<u64>, Query, description = "Records after this sequence number"),
        ("limit" = Option<u32>, Query,
            description = "At most this many records (default 1000, at most 10000)"),
    ),
    responses(
        (status = 200, body = Vec<AuditRecord>, description = "Audit records"),
        (status = 401, body = ErrorBody,
            description = "`unauthorized` (unsigned), `bad_signature`"),
        (status = 400, body = ErrorBody,
            description = "`stale_signature` (`x-gavel-time` more than 300 s off)"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_auditor`"),
        (status = 503, body = ErrorBody, description = "`storage_unavailable`"),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    reader: Reader<Auditors>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> impl IntoResponse {
    let records = async {
        let Query(mut q) =
            query.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
        normalise_times(&mut q)?;
        app.store
            .read(move |c| store::audit_records(c, &q))
            .await
            .map_err(ApiError::storage)
    };
    reader.caller().answer(records.await)
}

/// Stored times are RFC 3339 UTC with microseconds; compare like with like.
fn normalise_times(q: &mut AuditQuery) -> Result<(), ApiError> {
    for t in [&mut q.since, &mut q.until].into_iter().flatten() {
        let parsed = chrono::DateTime::parse_from_rfc3339(t).map_err(|_| {
            ApiError::bad_request("invalid_request", format!("`{t}` is not an RFC 3339 time"))
        })?;
        *t = parsed
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    }
    Ok(())
}

/// `GET /v1/audit/checkpoint`: the latest signed checkpoint, to keep elsewhere as an anchor.
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "people",
    summary = "The latest checkpoint the server signed, an anchor for `gavel audit verify`",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    responses(
        (status = 200, body = Anchor, description = "The checkpoint"),
        (status = 401, body = ErrorBody,
            description = "`unauthorized` (unsigned), `bad_signature`"),
        (status = 400, body = ErrorBody,
            description = "`stale_signature` (`x-gavel-time` more than 300 s off)"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_auditor`"),
        (status = 404, body = ErrorBody, description = "`not_found`: no record yet"),
        (status = 503, body = ErrorBody, description = "`storage_unavailable`"),
    ))]
pub async fn checkpoint(
    State(app): State<Arc<App>>,
    reader: Reader<Auditors>,
) -> impl IntoResponse {
    let anchor = app
        .store
        .read(store::latest_anchor)
        .await
        .map_err(ApiError::storage)
        .and_then(|a| a.ok_or_else(|| ApiError::not_found("checkpoint")));
    reader.caller().answer(anchor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(since: &str) -> AuditQuery {
        serde_json::from_value(serde_json::json!({ "since": since })).unwrap()
    }

    #[test]
    fn times_are_compared_as_stored_utc_micros() {
        let mut q = query("2026-01-02T03:04:05+02:00");
        normalise_times(&mut q).unwrap();
        assert_eq!(q.since.as_deref(), Some("2026-01-02T01:04:05.000000Z"));
        let mut bad = query("yesterday");
        assert_eq!(
            normalise_times(&mut bad).unwrap_err().code,
            "invalid_request"
        );
    }
}
