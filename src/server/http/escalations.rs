//! `/v1/escalations`: the pending escalations, one escalation, and the signed decisions on it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;

use super::extract::{AnyRole, Reader, SignedBy};
use super::refusal::Refusal;
use crate::protocol::{DecisionAck, Escalation, SignedDecision};
use crate::server::app::App;
use crate::server::error::ApiError;

/// `GET /v1/escalations`: those still pending, soonest deadline first.
pub async fn list(
    State(app): State<Arc<App>>,
    reader: Reader<AnyRole>,
) -> Result<Json<Vec<Escalation>>, Refusal> {
    reader.caller().answer(Ok(app.queue.pending()))
}

/// `GET /v1/escalations/{id}`.
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
pub async fn decide(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    signed: SignedBy<SignedDecision>,
) -> Result<Json<DecisionAck>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.queue.decide(&id, signed.0).await)
}
