//! `/v1/usage`: each limit's use per agent or session, and the breakers that are open.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use super::extract::{AnyRole, Reader};
use super::refusal::Refusal;
use crate::protocol::{ErrorBody, UsageReport};
use crate::server::app::App;
use crate::server::error::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Only this agent's use.
    #[serde(default)]
    agent: Option<String>,
}

/// `GET /v1/usage`.
#[utoipa::path(get, path = "/v1/usage", tag = "people",
    summary = "Each limit's use in its current window, per agent or session, and every breaker \
        that is not closed",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    params(("agent" = Option<String>, Query, description = "Only this agent's use")),
    responses(
        (status = 200, body = UsageReport, description = "Limits in use and breakers not closed"),
        (status = 401, body = ErrorBody,
            description = "`unauthorized` (unsigned), `bad_signature`"),
        (status = 400, body = ErrorBody,
            description = "`stale_signature`, `invalid_request` (a bad query)"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `role_required`"),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    reader: Reader<AnyRole>,
    query: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<UsageReport>, Refusal> {
    let report = query
        .map(|Query(q)| {
            app.governance
                .report(q.agent.as_deref(), chrono::Utc::now())
        })
        .map_err(|e| ApiError::bad_request("invalid_request", e.body_text()));
    reader.caller().answer(report)
}
