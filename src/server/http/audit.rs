//! `/v1/audit`: the audit log, filtered, and its latest signed checkpoint.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::IntoResponse;

use super::extract::{Auditors, Reader};
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::store::{self, AuditQuery};

/// `GET /v1/audit?kind=&actor=&since=&until=&limit=...`.
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
