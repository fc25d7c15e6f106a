//! `GET /v1/stream`: the upgrade to the console's WebSocket; the session itself is
//! `server::stream` (it authenticates inside the socket, so there is no extractor here).

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::extract::refuse_agents;
use crate::protocol::ErrorBody;
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::listener::ConnSlot;
use crate::server::stream;

/// `GET /v1/stream`: the WebSocket upgrade.
#[utoipa::path(get, path = "/v1/stream", tag = "people",
    summary = "The console's WebSocket stream",
    description = "Upgrade to a WebSocket. The server sends a `challenge` (`ServerMessage`); the \
        client answers an `auth` (`ClientMessage`) signing `{nonce, person}` (purpose \
        `stream-auth`) within 10 s; the server sends `welcome`, the `snapshot` parts, then live \
        events. A failed authentication closes with 4001, a person with no role with 4003.",
    security(()),
    responses(
        (status = 101,
            description = "Switching to the WebSocket protocol; messages are `ServerMessage` and \
                `ClientMessage`"),
        (status = 403, body = ErrorBody, description = "`agent_forbidden`: an agent token"),
        (status = 426, body = ErrorBody,
            description = "`websocket_required`: no upgrade requested"),
    ))]
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
