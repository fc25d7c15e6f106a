//! `GET /v1/stream`: challenge → signed auth → welcome → snapshot → live events.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine as _;
use tokio::sync::broadcast::error::RecvError;

use super::app::App;
use super::listener::ConnSlot;
use super::store;
use super::stream_bound::{bound_message, encode, snapshot_parts};
use crate::protocol::signing::Purpose;
use crate::protocol::{
    ClientMessage, ServerMessage, Snapshot, StreamAuth, CLOSE_AUTH, CLOSE_NO_ROLE,
};

const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How many resolved escalations, flagged actions and recent actions a snapshot carries.
const SNAPSHOT_RECENT: u32 = 200;

async fn send_text(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

/// Sends a message within the stream's bound; one that cannot be bounded is logged and skipped.
async fn send(socket: &mut WebSocket, msg: &ServerMessage) -> bool {
    match encode(msg) {
        Some(text) => send_text(socket, text).await,
        None => true,
    }
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_string().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// The snapshot, as the texts of its bounded parts.
async fn snapshot(app: &App) -> Option<Vec<String>> {
    let escalations = app.queue.pending();
    let rest = app
        .store
        .read(|c| {
            Ok((
                store::flagged(c, SNAPSHOT_RECENT)?,
                store::recent_resolved(c, SNAPSHOT_RECENT)?,
                store::recent_activity(c, SNAPSHOT_RECENT)?,
            ))
        })
        .await
        .ok()?;
    let killswitches = app.kill.all();
    let mut snap = Snapshot::whole(
        escalations,
        rest.0,
        killswitches,
        rest.1,
        app.roster.agent_infos(),
        rest.2,
    );
    snap.grants = app.grants.list(false, chrono::Utc::now());
    // Bounding serialises every escalation: off the async workers.
    tokio::task::spawn_blocking(move || snapshot_parts(snap))
        .await
        .ok()
}

async fn send_snapshot(socket: &mut WebSocket, parts: Vec<String>) -> bool {
    for text in parts {
        if !send_text(socket, text).await {
            return false;
        }
    }
    true
}

/// Serves one console. `slot` is the connection's place among the server's connections: pinned
/// once the person is known, so a flood of other connections never closes an approver's stream.
pub async fn serve(app: Arc<App>, mut socket: WebSocket, slot: Option<ConnSlot>) {
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).expect("the operating system's random source failed");
    let nonce = base64::engine::general_purpose::STANDARD.encode(nonce);
    if !send(
        &mut socket,
        &ServerMessage::Challenge {
            nonce: nonce.clone(),
        },
    )
    .await
    {
        return;
    }
    let auth = match tokio::time::timeout(AUTH_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<ClientMessage>(&t).ok(),
        _ => None,
    };
    let Some(ClientMessage::Auth { person, signature }) = auth else {
        return close(
            socket,
            CLOSE_AUTH,
            "authenticate first: answer the challenge with a signed auth message",
        )
        .await;
    };
    let Some(p) = app.roster.person(&person) else {
        return close(socket, CLOSE_AUTH, "unknown person: not in the roster").await;
    };
    if p.key
        .verify(
            Purpose::StreamAuth,
            &StreamAuth {
                nonce,
                person: person.clone(),
            },
            &signature,
        )
        .is_err()
    {
        return close(
            socket,
            CLOSE_AUTH,
            "bad signature: the auth does not verify with your roster key",
        )
        .await;
    }
    // Everything the stream carries is a read: a person with no role may read nothing.
    if p.info.roles.is_empty() {
        return close(
            socket,
            CLOSE_NO_ROLE,
            "no role: the roster gives you no role (approver, lead, operator or auditor), \
             so the stream is closed",
        )
        .await;
    }
    if let Some(ConnSlot(slot)) = &slot {
        slot.pin();
    }
    let welcome = ServerMessage::Welcome {
        person: p.info.clone(),
        server: app.info.clone(),
    };
    // Subscribe before the snapshot so nothing falls between them (events carry full state).
    let mut events = app.bus.subscribe();
    if !send(&mut socket, &welcome).await {
        return;
    }
    let Some(snap) = snapshot(&app).await else {
        return close(socket, 1011, "the server could not read its store").await;
    };
    if !send_snapshot(&mut socket, snap).await {
        return;
    }
    let shutdown = super::shutdown::stopped(app.shutdown.clone());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(mut msg) => {
                    bound_message(&mut msg);
                    if !send(&mut socket, &msg).await { return }
                }
                Err(RecvError::Lagged(_)) => {
                    // This console fell behind: resync it with a fresh snapshot.
                    match snapshot(&app).await {
                        Some(parts) => if !send_snapshot(&mut socket, parts).await { return },
                        None => return close(socket, 1011, "the server could not read its store").await,
                    }
                }
                Err(RecvError::Closed) => return close(socket, 1001, "server shutting down").await,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(ClientMessage::Ping) = serde_json::from_str::<ClientMessage>(&t) {
                        if !send(&mut socket, &ServerMessage::Pong).await { return }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = &mut shutdown => return close(socket, 1001, "server shutting down").await,
        }
    }
}
