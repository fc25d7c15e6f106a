//! `/v1/killswitches`: the switches that are on, and an operator's signed flip.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;

use super::extract::{AnyRole, Reader, SignedBy};
use super::refusal::Refusal;
use crate::protocol::{FlipAck, KillSwitch, SignedKillSwitch};
use crate::server::{killswitch, App};

/// `GET /v1/killswitches`.
pub async fn list(
    State(app): State<Arc<App>>,
    reader: Reader<AnyRole>,
) -> Result<Json<Vec<KillSwitch>>, Refusal> {
    let switches = {
        let kill = app.kill.read().unwrap_or_else(|e| e.into_inner());
        kill.values().cloned().collect::<Vec<_>>()
    };
    reader.caller().answer(Ok(switches))
}

/// `POST /v1/killswitches`.
pub async fn flip(
    State(app): State<Arc<App>>,
    signed: SignedBy<SignedKillSwitch>,
) -> Result<Json<FlipAck>, Refusal> {
    let caller = signed.caller();
    caller.answer(killswitch::flip(&app, signed.body).await)
}
