//! `/v1/actions`: an agent submits a call, reads (or long-polls) its outcome, withdraws it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::extract::{AgentCaller, JsonBody};
use super::refusal::Refusal;
use crate::protocol::{ActionOutcome, ActionRequest, ErrorBody};
use crate::server::app::App;
use crate::server::enforce;
use crate::server::error::ApiError;

/// The longest long-poll, in seconds.
const MAX_WAIT_SECS: f64 = 300.0;

/// `POST /v1/actions`.
#[utoipa::path(post, path = "/v1/actions", tag = "agents",
    summary = "Submit a tool call for adjudication",
    security(("agent_token" = [])),
    request_body = ActionRequest,
    responses(
        (status = 200, body = ActionOutcome,
            description = "The verdict: `allow` (maybe `flagged`), `deny`, or `pending` with the \
                escalation and its deadline"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `on_behalf_of_required`"),
        (status = 401, body = ErrorBody, description = "`unauthorized`, `unknown_agent`"),
        (status = 403, body = ErrorBody, description = "`on_behalf_of_not_allowed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn submit(
    State(app): State<Arc<App>>,
    agent: AgentCaller,
    JsonBody(req): JsonBody<ActionRequest>,
) -> Result<Json<ActionOutcome>, Refusal> {
    agent
        .caller()
        .answer(enforce::submit(&app, &agent.0, req).await)
}

#[derive(Deserialize)]
pub struct WaitQuery {
    wait: Option<f64>,
}

/// `GET /v1/actions/{id}?wait=SECONDS`: the outcome, waiting up to `wait` for a pending one.
#[utoipa::path(get, path = "/v1/actions/{id}", tag = "agents",
    summary = "Read (or long-poll) the outcome of one of the agent's own actions",
    security(("agent_token" = [])),
    params(
        ("id" = String, Path, description = "The action's id (`act_…`)"),
        ("wait" = Option<f64>, Query, minimum = 0, maximum = 300,
            description = "Seconds to wait for a pending outcome to become final (0–300, default \
                0)"),
    ),
    responses(
        (status = 200, body = ActionOutcome, description = "The outcome, final or still `pending`"),
        (status = 400, body = ErrorBody, description = "`invalid_request` (`wait` out of range)"),
        (status = 401, body = ErrorBody, description = "`unauthorized`, `unknown_agent`"),
        (status = 404, body = ErrorBody, description = "`not_found` (also another agent's action)"),
        (status = 503, body = ErrorBody,
            description = "`shutting_down` (with `Retry-After: 1`: ask again) or \
                `storage_unavailable`"),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    agent: AgentCaller,
) -> Response {
    let result = match query {
        Err(e) => Err(ApiError::bad_request("invalid_request", e.body_text())),
        Ok(Query(q)) => {
            let wait = q.wait.unwrap_or(0.0);
            if !(0.0..=MAX_WAIT_SECS).contains(&wait) {
                Err(ApiError::bad_request(
                    "invalid_request",
                    "wait must be between 0 and 300 seconds",
                ))
            } else {
                app.queue
                    .outcome(&agent.0.id, &id, Duration::from_secs_f64(wait))
                    .await
            }
        }
    };
    let retry = matches!(&result, Err(e) if e.code == "shutting_down");
    let mut response = agent.caller().answer(result).into_response();
    if retry {
        // Another replica, or this one restarted, will answer: ask again in a moment.
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// `POST /v1/actions/{id}/withdraw`.
#[utoipa::path(post, path = "/v1/actions/{id}/withdraw", tag = "agents",
    summary = "Withdraw a call whose client gave up: a pending escalation is cancelled",
    security(("agent_token" = [])),
    params(("id" = String, Path, description = "The action's id (`act_…`)")),
    responses(
        (status = 200, body = ActionOutcome,
            description = "The outcome: `cancelled`, or the final one unchanged"),
        (status = 401, body = ErrorBody, description = "`unauthorized`, `unknown_agent`"),
        (status = 404, body = ErrorBody, description = "`not_found` (also another agent's action)"),
        (status = 503, body = ErrorBody, description = "`storage_unavailable`"),
    ))]
pub async fn withdraw(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    agent: AgentCaller,
) -> Result<Json<ActionOutcome>, Refusal> {
    agent
        .caller()
        .answer(app.queue.withdraw(&agent.0.id, &id).await)
}
