//! A held `tools/call` whose client asked for progress (`_meta.progressToken`) and accepts
//! `text/event-stream`: the POST is answered at once with an SSE stream, so the client hears
//! `notifications/progress` while a person decides (many clients give up on a silent request).
//! The progress stops before the answer; then the upstream's answer (allowed) or the gate's
//! denial is the stream's last message. A client that hangs up while the call is held drops the
//! stream's receiver, and that withdraws the call as a closed POST does.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::held::Decided;
use super::{forward, post::denial_reason, HttpGate, MAX_BODY_BYTES};
use crate::adapters::gate::jsonrpc;
use crate::adapters::gate::message::{self, ToolCall};
use crate::adapters::gate::progress::keep_alive;
use crate::protocol::{inert, ActionRequest};

/// Frames queued for a slow client at most; the sender waits past that.
const QUEUE: usize = 32;

/// True when `Accept` lists `text/event-stream` (or a range that covers it) without `q=0`.
pub(crate) fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let kind = parts.next().unwrap_or_default().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            !refused && matches!(kind.as_str(), "text/event-stream" | "text/*" | "*/*")
        })
}

/// One JSON-RPC message as one SSE event. `json` is compact (serde escapes every line break).
fn frame(json: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(json);
    Bytes::from(format!("event: message\ndata: {}\n\n", text.trim_end()))
}

/// Answers the POST with an SSE stream now; adjudicates, sends progress, then the answer.
pub(crate) fn held_with_progress(
    gate: Arc<HttpGate>,
    headers: HeaderMap,
    session: String,
    call: ToolCall,
    action: ActionRequest,
    wire: Vec<u8>,
    token: Value,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    tokio::spawn(async move {
        let every = gate.progress_every;
        run(gate, headers, session, call, action, wire, token, every, tx).await;
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        let bytes = rx.recv().await?;
        Some((Ok::<Bytes, std::convert::Infallible>(bytes), rx))
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    *response.status_mut() = StatusCode::OK;
    response
}

#[allow(clippy::too_many_arguments)]
async fn run(
    gate: Arc<HttpGate>,
    headers: HeaderMap,
    session: String,
    call: ToolCall,
    action: ActionRequest,
    wire: Vec<u8>,
    token: Value,
    every: Duration,
    tx: mpsc::Sender<Bytes>,
) {
    let tool = inert(&action.tool).into_owned();
    let shown_id = inert(&call.id.to_string()).into_owned();
    let modern = call.protocol_version.is_some();
    let (seen_tx, seen) = watch::channel(None);
    // Nothing halts progress but the end of the wait: this future is dropped then.
    let (_halt, halted) = watch::channel(false);
    let progress_tx = tx.clone();
    let decided = {
        let decide = gate
            .held
            .decide(&gate, &session, &call.id, action, Some(seen_tx));
        let progress = keep_alive(token, every, seen, halted, move |n| {
            let tx = progress_tx.clone();
            async move {
                let _ = tx.send(frame(n.to_string().as_bytes())).await;
            }
        });
        tokio::select! {
            d = decide => d,
            // The client hung up: dropping `decide` withdraws the call.
            () = tx.closed() => return,
            never = progress => match never {},
        }
    };
    let reason = match decided {
        Ok(Decided::Allow(sending)) => {
            let upstream =
                forward::send(&gate, Method::POST, &headers, Some(wire), Some(&call.id)).await;
            drop(sending);
            match upstream {
                Ok(u) => relay(u, &call.id, &tx).await,
                Err(refused) => {
                    let body = axum::body::to_bytes(refused.into_body(), MAX_BODY_BYTES)
                        .await
                        .unwrap_or_default();
                    let _ = tx.send(frame(&body)).await;
                }
            }
            return;
        }
        Ok(Decided::Deny(reason)) => reason,
        Err(not) => denial_reason(not),
    };
    eprintln!("gavel gate: denied {tool} (request {shown_id}): {reason}");
    let _ = tx
        .send(frame(&message::denied_reply(&call.id, &reason, modern)))
        .await;
}

/// The upstream's answer into the client's stream: an SSE answer's bytes as they come (its
/// events are already framed), a JSON answer as one event, anything else as an error.
async fn relay(mut upstream: reqwest::Response, id: &Value, tx: &mpsc::Sender<Bytes>) {
    let sse = upstream
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
    if sse && upstream.status().is_success() {
        loop {
            let next = tokio::select! {
                c = upstream.chunk() => c,
                // The client went away: stop reading the upstream.
                () = tx.closed() => return,
            };
            match next {
                Ok(Some(bytes)) => {
                    if tx.send(bytes).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    eprintln!("gavel gate: the upstream's answer broke off: {e}");
                    return;
                }
            }
        }
    }
    let status = upstream.status();
    let body = read_bounded(&mut upstream).await;
    let message = body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .filter(|v| v.is_object() && status.is_success());
    let bytes = match message {
        Some(v) => v.to_string().into_bytes(),
        None => jsonrpc::error_reply(
            id,
            -32000,
            &format!(
                "the MCP server answered HTTP {} without a JSON-RPC message",
                status.as_u16()
            ),
        ),
    };
    let _ = tx.send(frame(&bytes)).await;
}

/// The upstream's JSON body, if it is at most [`MAX_BODY_BYTES`].
async fn read_bounded(upstream: &mut reqwest::Response) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = upstream.chunk().await.ok()? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn event_stream_must_be_acceptable() {
        assert!(accepts_event_stream(&accept(
            "application/json, text/event-stream"
        )));
        assert!(accepts_event_stream(&accept("*/*")));
        assert!(!accepts_event_stream(&accept("application/json")));
        assert!(!accepts_event_stream(&accept(
            "application/json, text/event-stream;q=0"
        )));
        assert!(!accepts_event_stream(&HeaderMap::new()));
    }

    #[test]
    fn a_message_is_one_event() {
        let f = frame(b"{\"a\":\"x\\ny\"}\n");
        assert_eq!(&f[..], b"event: message\ndata: {\"a\":\"x\\ny\"}\n\n");
    }
}
