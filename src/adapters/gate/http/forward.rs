//! The hop to the upstream and back: end-to-end headers pass both ways, hop-by-hop ones do
//! not, and the upstream's body (a JSON answer or an SSE stream that may last the session)
//! streams to the client chunk by chunk, never buffered whole.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::{refusal, HttpGate};
use crate::protocol::inert;

/// JSON-RPC "server error" for an upstream the gate cannot reach or will not relay.
const UPSTREAM_ERROR: i64 = -32000;

/// Headers about one connection (RFC 9110 §7.6.1), or that the gate sets itself: never copied
/// from one hop to the next.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

/// Request headers the gate does not pass on: the body is the gate's own serialisation (its
/// type and encoding are the gate's), and `Origin` was checked against the gate's own origin.
const REQUEST_ONLY: &[&str] = &["content-type", "content-encoding", "origin"];

/// `headers` minus hop-by-hop ones, those the `Connection` header names, and `also`.
pub(crate) fn end_to_end(headers: &HeaderMap, also: &[&str]) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || also.contains(&n) || named.iter().any(|c| c == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Sends one request upstream; the error is the response the client gets instead.
pub(crate) async fn send(
    gate: &HttpGate,
    method: Method,
    headers: &HeaderMap,
    body: Option<Vec<u8>>,
    id: Option<&Value>,
) -> Result<reqwest::Response, Response> {
    let mut out = end_to_end(headers, REQUEST_ONLY);
    let mut req = gate.http.request(method, gate.upstream.clone());
    if let Some(body) = body {
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        req = req.body(body);
    }
    let upstream = req.headers(out).send().await.map_err(|e| {
        // reqwest's own message is one level; the cause (refused, TLS, DNS) is below it.
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why = format!("{why}: {s}");
            source = s.source();
        }
        eprintln!(
            "gavel gate: the upstream {} did not answer: {}",
            gate.upstream,
            inert(&why)
        );
        refusal(
            StatusCode::BAD_GATEWAY,
            id,
            UPSTREAM_ERROR,
            format!("the MCP server {} cannot be reached", gate.upstream),
        )
    })?;
    if upstream.status().is_redirection() {
        eprintln!(
            "gavel gate: the upstream answered with a redirect ({}); not followed",
            upstream.status()
        );
        return Err(refusal(
            StatusCode::BAD_GATEWAY,
            id,
            UPSTREAM_ERROR,
            "the MCP server answered with a redirect, which the gate does not follow".into(),
        ));
    }
    Ok(upstream)
}

/// The upstream's answer as the client's: status, end-to-end headers, the body streamed.
pub(crate) fn stream_back(upstream: reqwest::Response) -> Response {
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = end_to_end(upstream.headers(), &[]);
    let chunks = futures_util::stream::unfold(Some(upstream), |state| async move {
        let mut upstream = state?;
        match upstream.chunk().await {
            Ok(Some(bytes)) => Some((Ok::<Bytes, reqwest::Error>(bytes), Some(upstream))),
            Ok(None) => None,
            // Reported once; the client sees the stream end abruptly, as the upstream's did.
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// GET (the server's SSE stream) and DELETE (end of session): nothing to judge, passed on.
pub(crate) async fn relay(gate: &HttpGate, method: Method, headers: &HeaderMap) -> Response {
    match send(gate, method, headers, None, None).await {
        Ok(upstream) => stream_back(upstream),
        Err(refused) => refused,
    }
}

/// The upstream's `Mcp-Session-Id`, when it gave one.
pub(crate) fn upstream_session(upstream: &reqwest::Response) -> Option<String> {
    upstream
        .headers()
        .get(HeaderName::from_static("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
