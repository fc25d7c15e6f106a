//! `/v1/flagged`: actions allowed but flagged for review, and a lead's signed review of one.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;

use super::extract::{AnyRole, Reader, SignedBy};
use super::refusal::Refusal;
use crate::protocol::{FlaggedAction, SignedFlagReview};
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::store;

/// How many flagged actions a read returns.
const FLAGGED_READ: u32 = 500;

/// `GET /v1/flagged`.
pub async fn list(State(app): State<Arc<App>>, reader: Reader<AnyRole>) -> impl IntoResponse {
    let flagged = app
        .store
        .read(|c| store::flagged(c, FLAGGED_READ))
        .await
        .map_err(ApiError::storage);
    reader.caller().answer(flagged)
}

/// `POST /v1/flagged/{action}/review`.
pub async fn review(
    State(app): State<Arc<App>>,
    Path(action): Path<String>,
    signed: SignedBy<SignedFlagReview>,
) -> Result<Json<FlaggedAction>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.flags.review(&action, signed.0).await)
}
