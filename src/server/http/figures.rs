//! `GET /v1/governance`: the governance figures of a window of time, counted from the store
//! (see `protocol::figures`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use super::extract::{AnyRole, Reader};
use super::refusal::Refusal;
use crate::duration::{self, FIGURE_WINDOW};
use crate::protocol::{ErrorBody, GovernanceFigures};
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::killswitch::kill_reason;
use crate::server::store;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiguresQuery {
    /// How far back from now: `15m`, `1h`, `24h`, `7d` or any duration from a minute to 31
    /// days. One hour when left out.
    #[serde(default)]
    window: Option<String>,
}

/// How a kill switch's deny reasons start, whatever the switch's reason.
fn kill_prefix(scope: &str) -> String {
    kill_reason(scope, "")
}

/// `GET /v1/governance`.
#[utoipa::path(get, path = "/v1/governance", tag = "people",
    summary = "Governance figures over a window: deny and intervention rates, time to decide, \
        approvals per person, expiry rate, kill switch to first deny, per-bucket counts",
    security(("gavel_person" = [], "gavel_time" = [], "gavel_signature" = [])),
    params(("window" = Option<String>, Query,
        description = "How far back from now: `15m`, `1h` (the default), `24h`, `7d`, or any \
            duration from `1m` to `31d`")),
    responses(
        (status = 200, body = GovernanceFigures, description = "The window's figures"),
        (status = 400, body = ErrorBody,
            description = "`invalid_request` (a bad window), `stale_signature`"),
        (status = 401, body = ErrorBody,
            description = "`unauthorized` (unsigned), `bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `role_required`"),
        (status = 503, body = ErrorBody, description = "`storage_unavailable`"),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    reader: Reader<AnyRole>,
    query: Result<Query<FiguresQuery>, QueryRejection>,
) -> Result<Json<GovernanceFigures>, Refusal> {
    let figures = async {
        let Query(q) =
            query.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
        let window = duration::parse(q.window.as_deref().unwrap_or("1h"), FIGURE_WINDOW)
            .map_err(|e| ApiError::bad_request("invalid_request", format!("window: {e}")))?;
        let to = chrono::Utc::now();
        let from = chrono::TimeDelta::from_std(window)
            .ok()
            .and_then(|w| to.checked_sub_signed(w))
            .ok_or_else(|| ApiError::bad_request("invalid_request", "window: out of range"))?;
        app.store
            .read(move |c| store::governance_figures(c, from, to, kill_prefix))
            .await
            .map_err(ApiError::storage)
    };
    reader.caller().answer(figures.await)
}
