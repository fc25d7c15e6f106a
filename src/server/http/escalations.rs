//! `/v1/escalations`: the pending escalations, one escalation, and the signed decisions on it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;

use super::extract::{AnyRole, Reader, SignedBy};
use super::refusal::Refusal;
use crate::protocol::{DecisionAck, ErrorBody, Escalation, SignedDecision};
use crate::server::app::App;
use crate::server::error::ApiError;

/// `GET /v1/escalations`: those still pending, soonest deadline first.
#[utoipa::path(get, path = "/v1/escalations", tag = "people",
    summary = "The pending escalations, soonest deadline first",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    responses(
        (status = 200, body = Vec<Escalation>, description = "Pending escalations"),
        (status = 401, body = ErrorBody,
            description = "`unauthorized` (unsigned), `bad_signature`"),
        (status = 400, body = ErrorBody,
            description = "`stale_signature` (`x-gavel-time` more than 300 s off)"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `role_required`"),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    reader: Reader<AnyRole>,
) -> Result<Json<Vec<Escalation>>, Refusal> {
    reader.caller().answer(Ok(app.queue.pending()))
}

/// `GET /v1/escalations/{id}`.
#[utoipa::path(get, path = "/v1/escalations/{id}", tag = "people",
    summary = "One escalation, in any state, whole",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    params(("id" = String, Path, description = "The escalation's id (`esc_…`)")),
    responses(
        (status = 200, body = Escalation, description = "The escalation"),
        (status = 401, body = ErrorBody,
            description = "`unauthorized` (unsigned), `bad_signature`"),
        (status = 400, body = ErrorBody,
            description = "`stale_signature` (`x-gavel-time` more than 300 s off)"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `role_required`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 503, body = ErrorBody, description = "`storage_unavailable`"),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    reader: Reader<AnyRole>,
) -> Result<Json<Escalation>, Refusal> {
    let escalation = app
        .queue
        .get(&id)
        .await
        .and_then(|e| e.ok_or_else(|| ApiError::not_found("escalation")));
    reader.caller().answer(escalation)
}

/// `POST /v1/escalations/{id}/decisions`: an approver's signed vote.
#[utoipa::path(post, path = "/v1/escalations/{id}/decisions", tag = "people",
    summary = "An approver's signed vote (the body is signed, purpose `decision`)",
    security(()),
    params(("id" = String, Path, description = "The escalation's id: the one the body signs")),
    request_body = SignedDecision,
    responses(
        (status = 200, body = DecisionAck,
            description = "The escalation's new state; `recorded: false` for an identical \
                resubmission"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `escalation_mismatch`, \
                `reason_required`, `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_approver`, `outside_group`, \
                `self_approval`, `owner_approval`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody,
            description = "`already_voted`, `not_pending`, `expired`, `digest_mismatch`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn decide(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    signed: SignedBy<SignedDecision>,
) -> Result<Json<DecisionAck>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.queue.decide(&id, signed.0).await)
}
