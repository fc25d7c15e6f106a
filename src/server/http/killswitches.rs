//! `/v1/killswitches`: the switches that are on, and an operator's signed flip.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;

use super::extract::{AnyRole, Reader, SignedBy};
use super::refusal::Refusal;
use crate::protocol::{FlipAck, KillSwitch, SignedKillSwitch};
use crate::server::app::App;

/// `GET /v1/killswitches`.
pub async fn list(
    State(app): State<Arc<App>>,
    reader: Reader<AnyRole>,
) -> Result<Json<Vec<KillSwitch>>, Refusal> {
    reader.caller().answer(Ok(app.kill.all()))
}

/// `POST /v1/killswitches`.
pub async fn flip(
    State(app): State<Arc<App>>,
    signed: SignedBy<SignedKillSwitch>,
) -> Result<Json<FlipAck>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.queue.flip(&app.roster, signed.0).await)
}
