//! `/v1/actions`: an agent submits a call, reads (or long-polls) its outcome, withdraws it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::extract::{AgentCaller, JsonBody};
use super::refusal::Refusal;
use crate::protocol::{
    inert, parse_idempotency_key, ActionOutcome, ActionSubmission, ACTION_FIELDS,
    HEADER_IDEMPOTENCY_KEY, MAX_CRITICAL_FIELDS, MAX_CRITICAL_NAME_LEN,
};
use crate::server::app::App;
use crate::server::enforce;
use crate::server::error::ApiError;

/// The longest long-poll, in seconds.
const MAX_WAIT_SECS: f64 = 300.0;

/// `POST /v1/actions`, with an optional `Idempotency-Key`.
pub async fn submit(
    State(app): State<Arc<App>>,
    agent: AgentCaller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ActionSubmission>,
) -> Result<Json<ActionOutcome>, Refusal> {
    let result = async {
        understands(&body.critical)?;
        let key = idempotency_key(&headers)?;
        enforce::submit(&app, &agent.0, body.action, key).await
    };
    agent.caller().answer(result.await)
}

/// Refuses a body that lists, as critical, a field this server does not know: the client relies
/// on a meaning that would otherwise be ignored.
fn understands(critical: &[String]) -> Result<(), ApiError> {
    if critical.len() > MAX_CRITICAL_FIELDS {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "`critical` lists {} fields; at most {MAX_CRITICAL_FIELDS}",
                critical.len()
            ),
        ));
    }
    for name in critical {
        if name.len() > MAX_CRITICAL_NAME_LEN {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!(
                    "a `critical` field name is {} bytes; at most {MAX_CRITICAL_NAME_LEN}",
                    name.len()
                ),
            ));
        }
        if !ACTION_FIELDS.contains(&name.as_str()) {
            return Err(ApiError::bad_request(
                "unsupported_critical_field",
                format!(
                    "this server does not understand the critical field {}; nothing was done",
                    inert(name)
                ),
            ));
        }
    }
    Ok(())
}

/// The request's `Idempotency-Key`, if it sent exactly one; a malformed one is refused.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(HEADER_IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "send one Idempotency-Key header, not several",
        ));
    }
    parse_idempotency_key(value.as_bytes())
        .map(Some)
        .map_err(|e| ApiError::bad_request("invalid_idempotency_key", e))
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
