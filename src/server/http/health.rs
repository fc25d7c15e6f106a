//! `/healthz`, `/readyz` and `/metrics`: for load balancers and monitoring, unauthenticated.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::openapi::Health;
use crate::server::app::App;

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

/// `GET /metrics`: Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    summary = "Prometheus metrics",
    responses((status = 200, body = String, content_type = "text/plain; version=0.0.4",
        description = "`gavel_actions_total{effect}`, `gavel_escalations_pending`, …")))]
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let m = &app.metrics;
    let pending = app.queue.pending_count();
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
