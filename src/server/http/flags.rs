//! `/v1/flagged`: actions allowed but flagged for review, and a lead's signed review of one.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;

use super::extract::{AnyRole, Reader, SignedBy};
use super::refusal::Refusal;
use crate::protocol::{ErrorBody, FlaggedAction, SignedFlagReview};
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::store;

/// How many flagged actions a read returns.
const FLAGGED_READ: u32 = 500;

/// `GET /v1/flagged`.
#[utoipa::path(get, path = "/v1/flagged", tag = "people",
    summary = "Actions allowed but flagged for review, unreviewed first",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    responses(
        (status = 200, body = Vec<FlaggedAction>, description = "Flagged actions (at most 500)"),
        (status = 401, body = ErrorBody,
            description = "`unauthorized` (unsigned), `bad_signature`"),
        (status = 400, body = ErrorBody,
            description = "`stale_signature` (`x-gavel-time` more than 300 s off)"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `role_required`"),
        (status = 503, body = ErrorBody, description = "`storage_unavailable`"),
    ))]
pub async fn list(State(app): State<Arc<App>>, reader: Reader<AnyRole>) -> impl IntoResponse {
    let flagged = app
        .store
        .read(|c| store::flagged(c, FLAGGED_READ))
        .await
        .map_err(ApiError::storage);
    reader.caller().answer(flagged)
}

/// `POST /v1/flagged/{action}/review`.
#[utoipa::path(post, path = "/v1/flagged/{action}/review", tag = "people",
    summary = "A lead's signed review of a flagged action (the body is signed, purpose \
        `flag-review`)",
    security(()),
    params(("action" = String, Path,
        description = "The flagged action's id: the one the body signs")),
    request_body = SignedFlagReview,
    responses(
        (status = 200, body = FlaggedAction, description = "The reviewed flagged action"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `action_mismatch`, \
                `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_lead`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody, description = "`already_reviewed`, `replayed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn review(
    State(app): State<Arc<App>>,
    Path(action): Path<String>,
    signed: SignedBy<SignedFlagReview>,
) -> Result<Json<FlaggedAction>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.flags.review(&action, signed.0).await)
}
