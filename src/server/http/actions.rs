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
    inert, parse_idempotency_key, ActionOutcome, ActionSubmission, ErrorBody, ACTION_FIELDS,
    HEADER_IDEMPOTENCY_KEY, MAX_CRITICAL_FIELDS, MAX_CRITICAL_NAME_LEN,
};
use crate::server::app::App;
use crate::server::enforce;
use crate::server::error::ApiError;

/// The longest long-poll, in seconds.
const MAX_WAIT_SECS: f64 = 300.0;

/// `POST /v1/actions`, with an optional `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/actions", tag = "agents",
    summary = "Submit a tool call for adjudication",
    security(("agent_token" = [])),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "One key per logical call (1 to 128 bytes of visible ASCII, optionally a \
            quoted structured-field string): the same agent, key and body within 24 h get the \
            first call's outcome as it is now, never a second action")),
    request_body = ActionSubmission,
    responses(
        (status = 200, body = ActionOutcome,
            description = "The verdict: `allow` (maybe `flagged`), `deny`, or `pending` with the \
                escalation and its deadline (a retry of a pending review answers with it)"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `on_behalf_of_required`, \
                `unsupported_critical_field`, `invalid_idempotency_key`"),
        (status = 401, body = ErrorBody, description = "`unauthorized`, `unknown_agent`"),
        (status = 403, body = ErrorBody, description = "`on_behalf_of_not_allowed`"),
        (status = 422, body = ErrorBody,
            description = "`idempotency_key_reused`: the key was sent before with another body"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn submit(
    State(app): State<Arc<App>>,
    agent: AgentCaller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ActionSubmission>,
) -> Result<Json<ActionOutcome>, Refusal> {
    let result = async {
        understands(&body.critical)?;
        let key = idempotency_key(&headers)?;
        enforce::submit(&app, &agent.0, body.action, body.wait_budget_secs, key).await
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
