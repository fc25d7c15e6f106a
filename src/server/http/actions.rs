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
use crate::protocol::{ActionOutcome, ActionRequest};
use crate::server::app::App;
use crate::server::enforce;
use crate::server::error::ApiError;

/// The longest long-poll, in seconds.
const MAX_WAIT_SECS: f64 = 300.0;

/// `POST /v1/actions`.
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
pub async fn withdraw(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    agent: AgentCaller,
) -> Result<Json<ActionOutcome>, Refusal> {
    agent
        .caller()
        .answer(app.queue.withdraw(&agent.0.id, &id).await)
}
