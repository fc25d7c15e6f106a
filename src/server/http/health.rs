//! `/healthz`, `/readyz` and `/metrics`: for load balancers and monitoring, unauthenticated.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::openapi::Health;
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::metrics::{render, Format};

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    summary = "Liveness: the process answers",
    responses((status = 200, body = Health, description = "`{\"status\": \"ok\"}`")))]
pub async fn healthz() -> Json<Health> {
    Json(Health::new("ok", None))
}

/// `GET /readyz`: 200 while the store can write, 503 saying why when it cannot (or when the
/// server is stopping). `/healthz` only says the process answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    summary = "Readiness: the store can write",
    responses(
        (status = 200, body = Health, description = "`{\"status\": \"ready\"}`"),
        (status = 503, body = Health,
            description = "`{\"status\": \"unavailable\", \"reason\": …}`"),
    ))]
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
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
        None => Json(Health::new("ready", None)).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health::new("unavailable", Some(reason))),
        )
            .into_response(),
    }
}

/// `GET /metrics`: every family in `metrics::registry`, in the format the scrape accepts.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    summary = "Prometheus metrics",
    responses((status = 200,
        description = "OpenMetrics 1.0 text when `Accept` names `application/openmetrics-text` \
            (as Prometheus does), otherwise the Prometheus text format 0.0.4. Families: \
            `gavel_actions_total{effect}`, `gavel_enforcement_duration_seconds`, \
            `gavel_escalations_pending`, `gavel_escalation_oldest_pending_age_seconds`, … \
            (docs/PROTOCOL.md lists them all)",
        content(
            (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
            (String = "text/plain; version=0.0.4; charset=utf-8"),
        ))))]
pub async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let format = Format::accepted(&headers);
    match render(&app.registry, format) {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, format.content_type()),
                (header::VARY, "accept"),
            ],
            text,
        )
            .into_response(),
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the metrics could not be encoded",
        )
        .into_response(),
    }
}
