//! `/v1/grants`: standing grants — the list, an approver's signed grant, and its signed
//! revocation.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use super::extract::{AnyRole, Reader, SignedBy};
use super::refusal::Refusal;
use crate::protocol::{ErrorBody, Grant, SignedGrant, SignedGrantRevoke};
use crate::server::app::App;
use crate::server::error::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsQuery {
    /// Also expired and revoked grants.
    #[serde(default)]
    all: bool,
}

/// `GET /v1/grants`.
#[utoipa::path(get, path = "/v1/grants", tag = "people",
    summary = "Standing grants: the live ones, soonest to expire first (`all=true`: every one)",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    params(("all" = Option<bool>, Query,
        description = "Also the expired and revoked grants (default false)")),
    responses(
        (status = 200, body = Vec<Grant>, description = "Grants, with their use counts"),
        (status = 401, body = ErrorBody,
            description = "`unauthorized` (unsigned), `bad_signature`"),
        (status = 400, body = ErrorBody,
            description = "`stale_signature`, `invalid_request` (a bad query)"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `role_required`"),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    reader: Reader<AnyRole>,
    query: Result<Query<GrantsQuery>, QueryRejection>,
) -> Result<Json<Vec<Grant>>, Refusal> {
    let grants = query
        .map(|Query(q)| app.grants.list(q.all, chrono::Utc::now()))
        .map_err(|e| ApiError::bad_request("invalid_request", e.body_text()));
    reader.caller().answer(grants)
}

/// `POST /v1/grants`.
#[utoipa::path(post, path = "/v1/grants", tag = "people",
    summary = "An approver's signed standing grant (the body is signed, purpose `grant`)",
    security(()),
    request_body = SignedGrant,
    responses(
        (status = 200, body = Grant, description = "The grant, with its id and expiry"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request` (agent, tool, for_secs), \
                `bad_condition` (`when` does not compile), `reason_required`, `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_grantable` (no grantable \
                single-approval review rule covers the agent and tool), `not_eligible` (the \
                signer could not approve such calls alone)"),
        (status = 409, body = ErrorBody, description = "`replayed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    signed: SignedBy<SignedGrant>,
) -> Result<Json<Grant>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.grants.create(&app.policy, &app.roster, signed.0).await)
}

/// `POST /v1/grants/{id}/revoke`.
#[utoipa::path(post, path = "/v1/grants/{id}/revoke", tag = "people",
    summary = "Revoke a standing grant: by its signer or an operator (the body is signed, \
        purpose `grant-revoke`)",
    security(()),
    params(("id" = String, Path, description = "The grant's id (`grt_…`): the one the body signs")),
    request_body = SignedGrantRevoke,
    responses(
        (status = 200, body = Grant, description = "The revoked grant"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `grant_mismatch`, \
                `reason_required`, `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_revoker`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody,
            description = "`not_live` (already revoked or expired), `replayed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn revoke(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    signed: SignedBy<SignedGrantRevoke>,
) -> Result<Json<Grant>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.grants.revoke(&id, signed.0).await)
}
