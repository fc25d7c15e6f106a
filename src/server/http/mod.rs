//! The HTTP API: one router, its layers, and one file per resource. Handlers take extractors
//! (`extract`) for who is calling and what they sent, and answer `Result<Json<_>, Refusal>`;
//! the `refusal` middleware records every refusal with the request's method and path.

mod actions;
mod audit;
mod breakers;
mod cost;
mod credentials;
mod escalations;
mod extract;
mod figures;
mod flags;
mod grants;
mod handling;
mod health;
mod history;
mod killswitches;
mod openapi;
mod refusal;
mod stream;
mod usage;

use std::any::Any;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::app::App;
use super::error::ApiError;
use crate::protocol::MAX_BODY_BYTES;

/// The header that names a request in the logs and in its response: the caller's own, or one
/// made here.
pub const REQUEST_ID: &str = "x-request-id";

/// Every route, each with its `#[utoipa::path]` description: the router and `/openapi.json` are
/// both made from this one list, so neither names a route the other lacks. Add routes here only.
fn api() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::serve))
        .routes(routes!(actions::submit))
        .routes(routes!(actions::get))
        .routes(routes!(actions::withdraw))
        .routes(routes!(cost::report))
        .routes(routes!(stream::open))
        .routes(routes!(escalations::list))
        .routes(routes!(escalations::get))
        .routes(routes!(escalations::decide))
        .routes(routes!(handling::extend))
        .routes(routes!(handling::claim))
        .routes(routes!(handling::snooze))
        .routes(routes!(handling::reassign))
        .routes(routes!(killswitches::list, killswitches::flip))
        .routes(routes!(flags::list))
        .routes(routes!(flags::review))
        .routes(routes!(audit::list))
        .routes(routes!(audit::checkpoint))
        .routes(routes!(history::search))
        .routes(routes!(grants::list, grants::create))
        .routes(routes!(grants::revoke))
        .routes(routes!(usage::get))
        .routes(routes!(figures::get))
        .routes(routes!(breakers::reset))
}

pub fn router(app: Arc<App>) -> Router {
    let (routes, doc) = api().split_for_parts();
    let routes = routes
        .layer(Extension(openapi::Document::new(doc)))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            refusal::record_refusals,
        ));
    with_standard_layers(routes)
        .layer(middleware::from_fn_with_state(app.clone(), count_in_flight))
        .with_state(app)
}

/// Request ids, tracing, and a JSON 500 for a handler that panics (the connection and the
/// server carry on). The connection, header and body timeouts are the listener's.
fn with_standard_layers<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            })
            // A 5xx is logged where it arises (the store, a panic); a 503 at shutdown is no
            // failure at all.
            .on_failure(DefaultOnFailure::new().level(Level::DEBUG)))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(CatchPanicLayer::custom(answer_panic)),
    )
}

/// A handler that panicked: logged, and answered like any other error.
fn answer_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!("a request handler panicked: {what}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the server failed while answering; it is logged under this request's x-request-id",
    )
    .into_response()
}

/// Counts requests being handled (`gavel_http_requests_in_flight`): what a shutdown waits for.
async fn count_in_flight(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let _counted = app.metrics.request();
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    async fn call(router: &Router, path: &str, id: Option<&str>) -> Response {
        let mut req = axum::http::Request::get(path);
        if let Some(id) = id {
            req = req.header(REQUEST_ID, id);
        }
        router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn panicking() -> Router {
        with_standard_layers(
            Router::new()
                .route(
                    "/boom",
                    get(|| async {
                        if true {
                            panic!("boom");
                        }
                        "unreached"
                    }),
                )
                .route("/ok", get(|| async { "ok" })),
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_json_500_and_the_router_keeps_serving() {
        let router = panicking();
        let response = call(&router, "/boom", None).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key(REQUEST_ID));
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: crate::protocol::ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.error.code, "internal_error");
        let after = call(&router, "/ok", None).await;
        assert_eq!(after.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn request_ids_are_made_when_absent_and_kept_when_given() {
        let router = panicking();
        let made = call(&router, "/ok", None).await;
        let made = made.headers()[REQUEST_ID].to_str().unwrap().to_string();
        assert_eq!(made.len(), 36, "a UUID: {made}");
        let other = call(&router, "/ok", None).await;
        assert_ne!(other.headers()[REQUEST_ID], made.as_str());
        let given = call(&router, "/ok", Some("trace-me-7")).await;
        assert_eq!(given.headers()[REQUEST_ID], "trace-me-7");
    }
}
