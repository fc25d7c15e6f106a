//! The HTTP API: one router, its layers, and one file per resource. Handlers take extractors
//! (`extract`) for who is calling and what they sent, and answer `Result<Json<_>, Refusal>`;
//! the `refusal` middleware records every refusal with the request's method and path.

mod actions;
mod audit;
mod credentials;
mod escalations;
mod extract;
mod flags;
mod health;
mod killswitches;
mod refusal;
mod stream;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::error::ApiError;
use super::App;
use crate::protocol::MAX_BODY_BYTES;

pub fn router(app: Arc<App>) -> Router {
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/v1/actions", post(actions::submit))
        .route("/v1/actions/{id}", get(actions::get))
        .route("/v1/actions/{id}/withdraw", post(actions::withdraw))
        .route("/v1/stream", get(stream::open))
        .route("/v1/escalations", get(escalations::list))
        .route("/v1/escalations/{id}", get(escalations::get))
        .route("/v1/escalations/{id}/decisions", post(escalations::decide))
        .route(
            "/v1/killswitches",
            get(killswitches::list).post(killswitches::flip),
        )
        .route("/v1/flagged", get(flags::list))
        .route("/v1/flagged/{action}/review", post(flags::review))
        .route("/v1/audit", get(audit::list))
        .route("/v1/audit/checkpoint", get(audit::checkpoint))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            refusal::record_refusals,
        ));
    routes
        .layer(middleware::from_fn_with_state(app.clone(), count_in_flight))
        .with_state(app)
}

/// Counts requests being handled (`gavel_http_requests_in_flight`): what a shutdown waits for.
async fn count_in_flight(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    struct InFlight<'a>(&'a AtomicU64);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    app.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let _counted = InFlight(&app.metrics.in_flight);
    next.run(req).await
}
