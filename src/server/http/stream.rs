//! `GET /v1/stream`: the upgrade to the console's WebSocket; the session itself is
//! `server::stream` (it authenticates inside the socket, so there is no extractor here).

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::extract::refuse_agents;
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::listener::ConnSlot;
use crate::server::stream;

pub async fn open(
    State(app): State<Arc<App>>,
    slot: Option<Extension<ConnSlot>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Err(e) = refuse_agents(&app, &headers) {
        return e.into_response();
    }
    match ws {
        Ok(ws) => {
            let slot = slot.map(|Extension(s)| s);
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
