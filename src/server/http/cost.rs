//! `POST /v1/actions/{id}/cost`: an agent reports what a finished call actually cost. The
//! report replaces the estimate in the limits' use and in `actions.cost`, in one store write
//! with its audit record.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;

use super::extract::{AgentCaller, JsonBody};
use super::refusal::Refusal;
use crate::protocol::{CostRecorded, CostReport, Effect, ErrorBody};
use crate::server::app::App;
use crate::server::audit::AuditEvent;
use crate::server::error::ApiError;
use crate::server::policy::MAX_COST;
use crate::server::store::{self, Op};

/// `POST /v1/actions/{id}/cost`.
#[utoipa::path(post, path = "/v1/actions/{id}/cost", tag = "agents",
    summary = "Report a finished call's actual cost, replacing its estimate in the limits",
    security(("agent_token" = [])),
    params(("id" = String, Path, description = "The action's id (`act_…`)")),
    request_body = CostReport,
    responses(
        (status = 200, body = CostRecorded,
            description = "The cost recorded, and the agent's limits' use with it"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request` (a negative, non-finite or too \
                large cost)"),
        (status = 401, body = ErrorBody, description = "`unauthorized`, `unknown_agent`"),
        (status = 404, body = ErrorBody, description = "`not_found` (also another agent's action)"),
        (status = 409, body = ErrorBody, description = "`action_denied`: a denied call never ran"),
        (status = 503, body = ErrorBody, description = "`storage_unavailable`"),
    ))]
pub async fn report(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    agent: AgentCaller,
    JsonBody(body): JsonBody<CostReport>,
) -> Result<Json<CostRecorded>, Refusal> {
    let result = record(&app, &agent.0.id, id, body.cost).await;
    agent.caller().answer(result)
}

async fn record(app: &App, agent: &str, id: String, cost: f64) -> Result<CostRecorded, ApiError> {
    if !cost.is_finite() || !(0.0..=MAX_COST).contains(&cost) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`cost` must be a number from 0 to {MAX_COST:e}"),
        ));
    }
    let key = id.clone();
    let found = app
        .store
        .read(move |r| store::costed_action(r, &key))
        .await
        .map_err(ApiError::storage)?;
    // Another agent's call is as unknown as one that never was.
    let Some(action) = found.filter(|a| a.agent == agent) else {
        return Err(ApiError::not_found("action"));
    };
    if action.effect == Effect::Deny {
        return Err(ApiError::conflict(
            "action_denied",
            format!("action {id} was denied, so it never ran and has no cost to report"),
        ));
    }
    let audit = vec![AuditEvent::cost_reported(
        &action.id,
        &action.agent,
        &action.tool,
        action.cost,
        cost,
    )];
    app.store
        .write(
            Op::CostReported {
                action: action.id.clone(),
                cost,
            },
            audit,
        )
        .await
        .map_err(ApiError::storage)?;
    let now = chrono::Utc::now();
    let counted = app.governance.ledger.cost_reported(&action.id, cost);
    Ok(CostRecorded {
        action: action.id,
        cost,
        previous: action.cost,
        counted,
        limits: app.governance.ledger.report(Some(agent), now),
    })
}
