//! HTTP routes, authentication and request parsing.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::ApiError;
use super::refusals::truncate;
use super::reply::{person_caller, refused_caller, reply, Caller, SignedBody};
use super::roster::{Agent, Person};
use super::store::{self, AuditQuery};
use super::{killswitch, pep, queue, stream, App};
use crate::protocol::signing::Purpose;
use crate::protocol::{
    ActionRequest, Role, SignedRequest, HEADER_PERSON, HEADER_SIGNATURE, HEADER_TIME,
    MAX_BODY_BYTES, MAX_CLOCK_SKEW_SECS,
};

type AppState = State<Arc<App>>;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/actions", post(submit_action))
        .route("/v1/actions/{id}", get(get_action))
        .route("/v1/actions/{id}/withdraw", post(withdraw_action))
        .route("/v1/stream", get(open_stream))
        .route("/v1/escalations", get(list_escalations))
        .route("/v1/escalations/{id}", get(get_escalation))
        .route("/v1/escalations/{id}/decisions", post(post_decision))
        .route(
            "/v1/killswitches",
            get(list_killswitches).post(post_killswitch),
        )
        .route("/v1/flagged", get(list_flagged))
        .route("/v1/flagged/{action}/review", post(post_flag_review))
        .route("/v1/audit", get(list_audit))
        .route("/v1/audit/checkpoint", get(audit_checkpoint))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            count_in_flight,
        ))
        .with_state(app)
}

/// Counts requests being handled (`gavel_http_requests_in_flight`): what a shutdown waits for.
async fn count_in_flight(
    State(app): AppState,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    struct InFlight<'a>(&'a std::sync::atomic::AtomicU64);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    app.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let _counted = InFlight(&app.metrics.in_flight);
    next.run(req).await
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

fn agent_auth<'a>(app: &'a App, headers: &HeaderMap) -> Result<&'a Agent, ApiError> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::unauthorized(
            "unauthorized",
            "missing `Authorization: Bearer <agent token>`",
        )
    })?;
    app.roster.agent_by_token(token).ok_or_else(|| {
        ApiError::unauthorized(
            "unknown_agent",
            "the bearer token belongs to no agent in the roster",
        )
    })
}

/// People-only endpoints: refuse agent tokens outright, then check the signed request headers.
fn refuse_agents(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    if bearer(headers).is_some_and(|t| app.roster.agent_by_token(t).is_some()) {
        return Err(ApiError::forbidden(
            "agent_forbidden",
            "agent credentials can only submit actions and read their own outcomes",
        ));
    }
    Ok(())
}

fn person_auth<'a>(
    app: &'a App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<&'a Person, ApiError> {
    refuse_agents(app, headers)?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(person), Some(time), Some(signature)) = (
        header(HEADER_PERSON),
        header(HEADER_TIME),
        header(HEADER_SIGNATURE),
    ) else {
        return Err(ApiError::unauthorized(
            "unauthorized",
            "people-only endpoint: sign the request (x-gavel-person, x-gavel-time, x-gavel-signature)",
        ));
    };
    let p = app.roster.person(&person).ok_or_else(|| {
        ApiError::forbidden(
            "unknown_signer",
            format!("\"{person}\" is not a person in the roster"),
        )
    })?;
    let req = SignedRequest {
        method: method.as_str().to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string(),
        person,
        time: time.clone(),
    };
    p.key
        .verify(Purpose::Request, &req, &signature)
        .map_err(|_| {
            ApiError::unauthorized("bad_signature", "the request signature does not verify")
        })?;
    let t = chrono::DateTime::parse_from_rfc3339(&time).map_err(|_| {
        ApiError::bad_request("invalid_request", "x-gavel-time must be an RFC 3339 time")
    })?;
    if (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .abs()
        > MAX_CLOCK_SKEW_SECS
    {
        return Err(ApiError::unauthorized(
            "stale_signature",
            "the signed request is too old or from the future",
        ));
    }
    Ok(p)
}

async fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if caused_by::<tower_http::timeout::TimeoutError>(&e) {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request body did not arrive in time",
                )
            } else {
                too_large()
            }
        })?;
    serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::bad_request("invalid_request", e.to_string())
        }
        _ => ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")),
    })
}

fn caused_by<E: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<E>() {
            return true;
        }
        cur = err.source();
    }
    false
}

async fn submit_action(
    State(app): AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let agent = match agent_auth(&app, &headers) {
        Ok(a) => a,
        Err(e) => {
            return reply::<()>(&app, &method, &uri, refused_caller(&app, &headers), Err(e)).await
        }
    };
    let result = match parse_body::<ActionRequest>(&headers, body).await {
        Ok(req) => pep::submit(&app, agent, req).await,
        Err(e) => Err(e),
    };
    reply(&app, &method, &uri, Caller::Agent(&agent.id), result).await
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<f64>,
}

async fn get_action(
    State(app): AppState,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let agent = match agent_auth(&app, &headers) {
        Ok(a) => a,
        Err(e) => {
            return reply::<()>(&app, &method, &uri, refused_caller(&app, &headers), Err(e)).await
        }
    };
    let result = match query {
        Err(e) => Err(ApiError::bad_request("invalid_request", e.body_text())),
        Ok(Query(q)) => {
            let wait = q.wait.unwrap_or(0.0);
            if !(0.0..=300.0).contains(&wait) {
                Err(ApiError::bad_request(
                    "invalid_request",
                    "wait must be between 0 and 300 seconds",
                ))
            } else {
                queue::action_outcome(&app, &agent.id, &id, Duration::from_secs_f64(wait)).await
            }
        }
    };
    let retry = matches!(&result, Err(e) if e.code == "shutting_down");
    let mut response = reply(&app, &method, &uri, Caller::Agent(&agent.id), result).await;
    if retry {
        // Another replica, or this one restarted, will answer: ask again in a moment.
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    response
}

async fn withdraw_action(
    State(app): AppState,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let agent = match agent_auth(&app, &headers) {
        Ok(a) => a,
        Err(e) => {
            return reply::<()>(&app, &method, &uri, refused_caller(&app, &headers), Err(e)).await
        }
    };
    let result = queue::withdraw(&app, &agent.id, &id).await;
    reply(&app, &method, &uri, Caller::Agent(&agent.id), result).await
}

async fn open_stream(
    State(app): AppState,
    slot: Option<axum::Extension<super::listener::ConnSlot>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Err(e) = refuse_agents(&app, &headers) {
        return e.into_response();
    }
    match ws {
        Ok(ws) => {
            let slot = slot.map(|axum::Extension(s)| s);
            ws.on_upgrade(move |socket| stream::serve(app, socket, slot))
        }
        Err(_) => ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            "connect with a WebSocket client",
        )
        .into_response(),
    }
}

/// Who may make a people-only read.
#[derive(Clone, Copy)]
enum Readers {
    /// Anyone with a role: approver, lead, operator or auditor.
    AnyRole,
    /// The audit log: auditors and leads.
    Audit,
}

fn may_read(p: &Person, readers: Readers) -> Result<(), ApiError> {
    let roles = &p.info;
    match readers {
        Readers::AnyRole if roles.roles.is_empty() => Err(ApiError::forbidden(
            "role_required",
            format!(
                "\"{}\" has no role in the roster; reading needs one (approver, lead, operator or auditor)",
                roles.id
            ),
        )),
        Readers::Audit if !roles.has_role(Role::Auditor) && !roles.has_role(Role::Lead) => {
            Err(ApiError::forbidden(
                "not_auditor",
                "only people with the auditor or lead role read the audit log",
            ))
        }
        _ => Ok(()),
    }
}

/// Runs a people-only read: the signed request and the reader's role are checked, then `read`
/// answers.
async fn people_read<T, Fut>(
    app: &App,
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    readers: Readers,
    read: impl FnOnce() -> Fut,
) -> Response
where
    T: Serialize,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    match person_auth(app, method, uri, headers) {
        Ok(p) => {
            let r = match may_read(p, readers) {
                Ok(()) => read().await,
                Err(e) => Err(e),
            };
            reply(app, method, uri, person_caller(&p.info.id, headers), r).await
        }
        Err(e) => reply::<()>(app, method, uri, refused_caller(app, headers), Err(e)).await,
    }
}

async fn list_escalations(
    State(app): AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    people_read(
        &app,
        (&method, &uri, &headers),
        Readers::AnyRole,
        || async { Ok(queue::pending(&app).await) },
    )
    .await
}

async fn get_escalation(
    State(app): AppState,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    people_read(
        &app,
        (&method, &uri, &headers),
        Readers::AnyRole,
        || async {
            queue::get_escalation(&app, &id)
                .await
                .and_then(|e| e.ok_or_else(|| ApiError::not_found("escalation")))
        },
    )
    .await
}

async fn list_killswitches(
    State(app): AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    people_read(
        &app,
        (&method, &uri, &headers),
        Readers::AnyRole,
        || async {
            let kill = app.kill.read().unwrap_or_else(|e| e.into_inner());
            Ok(kill.values().cloned().collect::<Vec<_>>())
        },
    )
    .await
}

async fn list_flagged(
    State(app): AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    people_read(
        &app,
        (&method, &uri, &headers),
        Readers::AnyRole,
        || async {
            app.store
                .read(|c| store::flagged(c, 500))
                .await
                .map_err(ApiError::storage)
        },
    )
    .await
}

async fn list_audit(
    State(app): AppState,
    query: Result<Query<AuditQuery>, QueryRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    people_read(&app, (&method, &uri, &headers), Readers::Audit, || async {
        let Query(mut q) =
            query.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
        normalise_times(&mut q)?;
        app.store
            .read(move |c| store::audit_records(c, &q))
            .await
            .map_err(ApiError::storage)
    })
    .await
}

/// Stored times are RFC 3339 UTC with microseconds; compare like with like.
fn normalise_times(q: &mut AuditQuery) -> Result<(), ApiError> {
    for t in [&mut q.since, &mut q.until].into_iter().flatten() {
        let parsed = chrono::DateTime::parse_from_rfc3339(t).map_err(|_| {
            ApiError::bad_request("invalid_request", format!("`{t}` is not an RFC 3339 time"))
        })?;
        *t = parsed
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    }
    Ok(())
}

/// A signed POST: agent tokens are refused before anything else; then the body is parsed and
/// its signer authenticated (a roster person whose key verifies the signature) before `act`
/// runs. Until then, a refusal is counted with the signer as a claim; after, it is recorded
/// against the person.
async fn people_post<T, R, Fut>(
    app: &App,
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    body: Body,
    act: impl FnOnce(T) -> Fut,
) -> Response
where
    T: SignedBody,
    R: Serialize,
    Fut: std::future::Future<Output = Result<R, ApiError>>,
{
    if let Err(e) = refuse_agents(app, headers) {
        return reply::<()>(app, method, uri, refused_caller(app, headers), Err(e)).await;
    }
    let signed = match parse_body::<T>(headers, body).await {
        Ok(signed) => signed,
        Err(e) => return reply::<()>(app, method, uri, refused_caller(app, headers), Err(e)).await,
    };
    let claimed = signed.signer().to_string();
    let unauthenticated = Caller::Unauthenticated {
        claimed_person: Some(&claimed),
    };
    let Some(person) = app.roster.person(&claimed) else {
        let e = ApiError::forbidden(
            "unknown_signer",
            format!(
                "\"{}\" is not a person in the roster",
                truncate(&claimed, 64)
            ),
        );
        return reply::<()>(app, method, uri, unauthenticated, Err(e)).await;
    };
    if !signed.verifies(&person.key) {
        let e = ApiError::unauthorized(
            "bad_signature",
            "the signature does not verify with the signer's roster key",
        );
        return reply::<()>(app, method, uri, unauthenticated, Err(e)).await;
    }
    let signature = signed.signature().to_string();
    let r = act(signed).await;
    let caller = Caller::Person {
        id: &person.info.id,
        signature: &signature,
    };
    reply(app, method, uri, caller, r).await
}

async fn post_decision(
    State(app): AppState,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    people_post(&app, (&method, &uri, &headers), body, |d| {
        queue::decide(&app, &id, d)
    })
    .await
}

async fn post_killswitch(
    State(app): AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    people_post(&app, (&method, &uri, &headers), body, |f| {
        killswitch::flip(&app, f)
    })
    .await
}

async fn post_flag_review(
    State(app): AppState,
    Path(action): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    people_post(&app, (&method, &uri, &headers), body, |r| {
        queue::review_flag(&app, &action, r)
    })
    .await
}

/// `GET /readyz`: 200 while the store can write, 503 saying why when it cannot (or when the
/// server is stopping). `/healthz` only says the process answers.
async fn readyz(State(app): AppState) -> Response {
    let problem = if *app.shutdown.borrow() {
        Some("the server is shutting down".to_string())
    } else {
        app.store
            .ready()
            .await
            .err()
            .map(|e| format!("the store cannot write: {e}"))
    };
    match problem {
        None => Json(json!({"status": "ready"})).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": reason})),
        )
            .into_response(),
    }
}

/// `GET /v1/audit/checkpoint`: the latest signed checkpoint, to keep elsewhere as an anchor.
async fn audit_checkpoint(
    State(app): AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    people_read(&app, (&method, &uri, &headers), Readers::Audit, || async {
        app.store
            .read(store::latest_anchor)
            .await
            .map_err(ApiError::storage)
            .and_then(|a| a.ok_or_else(|| ApiError::not_found("checkpoint")))
    })
    .await
}

async fn metrics(State(app): AppState) -> Response {
    let m = &app.metrics;
    let pending = app.core.lock().await.pending.len();
    let text = format!(
        "# TYPE gavel_actions_total counter\n\
         gavel_actions_total{{effect=\"allow\"}} {}\n\
         gavel_actions_total{{effect=\"deny\"}} {}\n\
         gavel_actions_total{{effect=\"review\"}} {}\n\
         gavel_actions_total{{effect=\"flag\"}} {}\n\
         # TYPE gavel_decisions_total counter\ngavel_decisions_total {}\n\
         # TYPE gavel_refused_total counter\ngavel_refused_total {}\n\
         # TYPE gavel_escalations_pending gauge\ngavel_escalations_pending {}\n\
         # TYPE gavel_http_requests_in_flight gauge\ngavel_http_requests_in_flight {}\n\
         # TYPE gavel_store_commits_total counter\ngavel_store_commits_total {}\n\
         # TYPE gavel_store_ops_total counter\ngavel_store_ops_total {}\n",
        m.actions_allow.load(Ordering::Relaxed),
        m.actions_deny.load(Ordering::Relaxed),
        m.actions_review.load(Ordering::Relaxed),
        m.actions_flag.load(Ordering::Relaxed),
        m.decisions.load(Ordering::Relaxed),
        m.refused.load(Ordering::Relaxed),
        pending,
        m.in_flight.load(Ordering::Relaxed),
        app.store.stats.commits.load(Ordering::Relaxed),
        app.store.stats.ops.load(Ordering::Relaxed),
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}
