//! `GET /v1/history`: resolved escalations searched on the server (outcome, decider, agent,
//! time), paged, so a console's search covers all history and not only its snapshot's window.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;

use super::extract::{AnyRole, Reader};
use super::refusal::Refusal;
use crate::protocol::{ErrorBody, HistoryPage};
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::store::{self, HistoryQuery};

#[utoipa::path(get, path = "/v1/history", tag = "people",
    summary = "Resolved escalations matching a search, newest resolution first, paged",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    params(
        ("outcome" = Option<String>, Query,
            description = "`approved`, `denied`, `expired` or `cancelled`"),
        ("decider" = Option<String>, Query, description = "Someone who voted on it, either way"),
        ("agent" = Option<String>, Query, description = "Only this agent's escalations"),
        ("since" = Option<String>, Query,
            format = DateTime, description = "Resolved at or after this time (RFC 3339)"),
        ("until" = Option<String>, Query,
            format = DateTime, description = "Resolved at or before this time (RFC 3339)"),
        ("before" = Option<String>, Query,
            description = "The previous page's `next`: the page after it"),
        ("limit" = Option<u32>, Query,
            description = "At most this many escalations (default 50, at most 200)"),
    ),
    responses(
        (status = 200, body = HistoryPage, description = "One page of matching escalations"),
        (status = 400, body = ErrorBody,
            description = "`invalid_request` (a bad filter or cursor), `stale_signature`"),
        (status = 401, body = ErrorBody,
            description = "`unauthorized` (unsigned), `bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `role_required`"),
        (status = 503, body = ErrorBody, description = "`storage_unavailable`"),
    ))]
pub async fn search(
    State(app): State<Arc<App>>,
    reader: Reader<AnyRole>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, Refusal> {
    let page = async {
        let Query(mut q) =
            query.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
        q.normalise()
            .map_err(|m| ApiError::bad_request("invalid_request", m))?;
        let (escalations, next) = app
            .store
            .read(move |c| store::resolved_history(c, &q))
            .await
            .map_err(ApiError::storage)?;
        Ok(HistoryPage { escalations, next })
    };
    reader.caller().answer(page.await)
}
