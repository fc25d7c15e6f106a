//! `/v1/killswitches`: the switches that are on, and an operator's signed flip.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;

use super::extract::{AnyRole, Reader, SignedBy};
use super::refusal::Refusal;
use crate::protocol::{ErrorBody, FlipAck, KillSwitch, SignedKillSwitch};
use crate::server::app::App;

/// `GET /v1/killswitches`.
#[utoipa::path(get, path = "/v1/killswitches", tag = "people",
    summary = "The kill switches",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    responses(
        (status = 200, body = Vec<KillSwitch>,
            description = "Every switch flipped so far, on or off"),
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
) -> Result<Json<Vec<KillSwitch>>, Refusal> {
    reader.caller().answer(Ok(app.kill.all()))
}

/// `POST /v1/killswitches`.
#[utoipa::path(post, path = "/v1/killswitches", tag = "people",
    summary = "An operator's signed flip of a kill switch (the body is signed, purpose \
        `killswitch`)",
    security(()),
    request_body = SignedKillSwitch,
    responses(
        (status = 200, body = FlipAck,
            description = "The switch's new state and the escalations it cancelled"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `bad_scope`, `unknown_agent_scope`, \
                `reason_required`, `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_operator`"),
        (status = 409, body = ErrorBody, description = "`replayed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn flip(
    State(app): State<Arc<App>>,
    signed: SignedBy<SignedKillSwitch>,
) -> Result<Json<FlipAck>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.queue.flip(&app.roster, signed.0).await)
}
