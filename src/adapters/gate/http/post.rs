//! A client POST: one JSON-RPC message, judged like a line of the stdio gate.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::held::{Decided, NotHeld};
use super::{forward, json_response, refusal, sse, HttpGate, MAX_BODY_BYTES};
use crate::adapters::gate::jsonrpc::{Refused, INVALID_REQUEST};
use crate::adapters::gate::message::{self, FromClient, ToolCall};
use crate::adapters::gate::strict;
use crate::protocol::{inert, ActionRequest};

pub(crate) async fn post(
    gate: Arc<HttpGate>,
    headers: HeaderMap,
    session: Option<String>,
    body: Body,
) -> Response {
    let raw = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(raw) => raw,
        Err(_) => {
            eprintln!("gavel gate: refused a POST body over {MAX_BODY_BYTES} bytes (or cut short)");
            let mut response = refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                INVALID_REQUEST,
                format!("a message is at most {MAX_BODY_BYTES} bytes"),
            );
            // The rest of the body is never read, so this connection cannot carry another
            // request: the client must not reuse it.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    let accepted = match message::read_client_line(&raw) {
        Ok(a) => a,
        Err(refused) => return refuse(&raw, refused),
    };
    let wire = accepted.wire;
    match accepted.msg {
        FromClient::ToolCall(call) => tool_call(gate, &headers, session, call, wire).await,
        FromClient::Cancelled { request_id } => {
            // A held call is withdrawn and the notice swallowed: the upstream never saw the
            // call. Otherwise the upstream gets the notice.
            if gate
                .held
                .cancel(&gate, session.as_deref().unwrap_or(""), &request_id)
                .await
            {
                return StatusCode::ACCEPTED.into_response();
            }
            pass_on(&gate, &headers, wire, None).await
        }
        FromClient::Handshake {
            id,
            new_session,
            client_name,
            protocol_version,
            // Over HTTP the gate passes the handshake through unchanged and offers no tasks of
            // its own: a task a client asks for is the upstream's, made only once allowed.
            client_tasks: _,
        } => {
            let upstream =
                match forward::send(&gate, Method::POST, &headers, Some(wire), Some(&id)).await {
                    Ok(u) => u,
                    Err(refused) => return refused,
                };
            if new_session && upstream.status().is_success() {
                let issued = forward::upstream_session(&upstream).or(session);
                gate.sessions
                    .begin(issued.as_deref(), client_name, protocol_version);
            }
            forward::stream_back(upstream)
        }
        // The gate makes no tasks over HTTP, so every task id is the upstream's, and its tool
        // list is passed on unmarked.
        FromClient::TaskOp { id, .. } | FromClient::ToolsList { id } => {
            pass_on(&gate, &headers, wire, Some(&id)).await
        }
        FromClient::Other => {
            let id = request_id(&wire);
            pass_on(&gate, &headers, wire, id.as_ref()).await
        }
    }
}

/// The id of a request (not of a response), to answer it if the upstream cannot be reached.
fn request_id(wire: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(wire).ok()?;
    v.get("method")?;
    v.get("id").cloned()
}

async fn pass_on(
    gate: &HttpGate,
    headers: &HeaderMap,
    wire: Vec<u8>,
    id: Option<&Value>,
) -> Response {
    match forward::send(gate, Method::POST, headers, Some(wire), id).await {
        Ok(upstream) => forward::stream_back(upstream),
        Err(refused) => refused,
    }
}

/// Adjudicated first; forwarded only on allow. Dropping this future (the client closed the
/// request) withdraws the call.
async fn tool_call(
    gate: Arc<HttpGate>,
    headers: &HeaderMap,
    session: Option<String>,
    call: ToolCall,
    wire: Vec<u8>,
) -> Response {
    let modern = call.protocol_version.is_some();
    let action = action_for(&gate, headers, session.as_deref(), &call);
    let tool = inert(&action.tool).into_owned();
    let shown_id = inert(&call.id.to_string()).into_owned();
    let key = session.clone().unwrap_or_default();
    if let Some(token) = call.progress_token.clone() {
        if sse::accepts_event_stream(headers) {
            return sse::held_with_progress(gate, headers.clone(), key, call, action, wire, token);
        }
    }
    let reason = match gate.held.decide(&gate, &key, &call.id, action, None).await {
        Ok(Decided::Allow(sending)) => {
            let upstream =
                forward::send(&gate, Method::POST, headers, Some(wire), Some(&call.id)).await;
            // The upstream has the call (or refused it): a cancel notice may follow it now.
            drop(sending);
            return match upstream {
                Ok(u) => forward::stream_back(u),
                Err(refused) => refused,
            };
        }
        Ok(Decided::Deny(reason)) => reason,
        Err(not) => denial_reason(not),
    };
    eprintln!("gavel gate: denied {tool} (request {shown_id}): {reason}");
    json_response(
        StatusCode::OK,
        message::denied_reply(&call.id, &reason, modern),
    )
}

/// Why a call the gate could not hold (or that was cancelled) is not forwarded.
pub(crate) fn denial_reason(not: NotHeld) -> String {
    match not {
        NotHeld::Duplicate => "another call with this request id is still held".into(),
        NotHeld::ShuttingDown => "the gate is shutting down".into(),
        NotHeld::Cancelled => "the call was cancelled".into(),
    }
}

/// A body that never reaches the upstream: logged inertly, answered with a JSON-RPC error
/// (HTTP 400) naming the request when exactly one can be recovered.
fn refuse(raw: &[u8], refused: Refused) -> Response {
    let excerpt: String = String::from_utf8_lossy(raw)
        .chars()
        .take(160)
        .map(|c| {
            if strict::is_line_break(c) || c.is_control() {
                format!("\\u{{{:04x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    eprintln!(
        "gavel gate: refused a POST body ({}): {}",
        inert(&refused.problem),
        inert(&excerpt)
    );
    let id = match refused.ids.as_slice() {
        [one] => Some(one),
        _ => None,
    };
    refusal(StatusCode::BAD_REQUEST, id, refused.code, refused.problem)
}

/// The gavel action for a call: `mcp.<name>.<tool>`, its arguments, the MCP session's gavel
/// session, and what is known about the client as context.
fn action_for(
    gate: &HttpGate,
    headers: &HeaderMap,
    session: Option<&str>,
    call: &ToolCall,
) -> ActionRequest {
    let info = gate.sessions.get(session);
    let header_version = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64)
        .map(str::to_string);
    let protocol = call
        .protocol_version
        .clone()
        .or(header_version)
        .or(info.protocol_version);
    message::action_for(
        call,
        message::Known {
            server: &gate.server_name,
            session: info.gavel_session,
            on_behalf_of: gate.on_behalf_of.clone(),
            protocol_version: protocol,
            client_name: call.client_name.clone().or(info.client_name),
            transport: Some("streamable-http"),
        },
    )
}
