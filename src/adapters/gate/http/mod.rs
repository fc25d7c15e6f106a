//! `gavel gate --http --upstream URL --name NAME [--listen ADDR]`: a reverse proxy for a remote
//! MCP server over Streamable HTTP that lets no `tools/call` reach it unless gavel allowed it.
//!
//! The gate serves one endpoint, at the upstream URL's path. A POST body reaches the upstream
//! only if it parses strictly as exactly one JSON-RPC message (the stdio gate's `strict` and
//! `message`), and it goes as the gate re-serialised it. A `tools/call` is adjudicated first, in
//! its own task, while its POST waits: allowed, it is forwarded and the upstream's answer (JSON
//! or an SSE stream) streams back; otherwise the POST is answered with an `isError` result. A
//! call that asks for progress is answered at once with an SSE stream instead (`sse`).
//! `notifications/cancelled` for a held call, or the client closing the held POST, withdraws
//! it (after a grace for a retry, which gavel attaches to the same action; one approval runs
//! one attempt: `held`). GET (the server's own SSE stream), DELETE (end of session) and every other POST pass
//! through; so do end-to-end headers (`Authorization`, `Mcp-Session-Id`,
//! `MCP-Protocol-Version`, `Last-Event-ID`), while hop-by-hop ones are dropped. Each MCP session
//! (the upstream's `Mcp-Session-Id`) is one gavel session.

mod attempts;
mod forward;
mod held;
mod post;
mod sessions;
mod sse;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;
use reqwest::Url;

use super::jsonrpc::{self, INVALID_REQUEST};
use super::{naming, stop_signal, GateArgs, Settings};
use crate::client::Client;
use crate::protocol::inert;

/// Loopback, next to the gavel server's own 7878: nobody else can drive the agent's token.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7879";
/// The largest POST body read; a bigger one is refused unread (HTTP 413).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// `Mcp-Session-Id` is visible ASCII; a longer one than this is refused.
const MAX_SESSION_ID: usize = 256;

/// What every request handler shares.
pub(crate) struct HttpGate {
    /// `<server>` of `mcp.<server>.<tool>`: `--name`, sanitised.
    server_name: String,
    upstream: Url,
    /// The upstream hop: no redirects, no overall timeout (SSE streams are long-lived).
    http: reqwest::Client,
    gavel: Client,
    token: Option<String>,
    on_behalf_of: Option<String>,
    /// IP the gate listens on: an `Origin` other than it or loopback is refused.
    listen_ip: std::net::IpAddr,
    sessions: sessions::Sessions,
    held: held::Held,
    /// How often a held call that asked for progress hears from the gate (read once, at start).
    progress_every: std::time::Duration,
}

pub fn run(args: GateArgs) -> anyhow::Result<ExitCode> {
    let raw_name = args
        .name
        .as_deref()
        .context("--http needs --name NAME: there is no command line to name the server by")?;
    let server_name = naming::server_name(Some(raw_name), &[]).map_err(anyhow::Error::msg)?;
    let upstream_raw = args
        .upstream
        .as_deref()
        .context("--http needs --upstream URL")?;
    let upstream = upstream_url(upstream_raw)?;
    let listen: SocketAddr = args
        .listen
        .as_deref()
        .unwrap_or(DEFAULT_LISTEN)
        .parse()
        .context("--listen takes IP:PORT, like 127.0.0.1:7879")?;
    let settings = Settings::resolve(
        &args.server,
        args.on_behalf_of.as_deref(),
        None,
        args.ca_cert.as_deref(),
    )?;
    let gavel = settings.client()?;
    // On loopback a connection costs next to nothing, and a reused one can stall each answer
    // by a delayed ACK (about 40 ms with the Python SDK's server, whose answer comes in two
    // writes); a remote upstream keeps its connections, since a handshake costs round trips.
    let idle_per_host = if upstream_is_loopback(&upstream) {
        0
    } else {
        usize::MAX
    };
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(idle_per_host)
        // A redirect would send the judged call somewhere else: never followed.
        .redirect(reqwest::redirect::Policy::none())
        .use_preconfigured_tls((*gavel.tls_config()).clone())
        .build()
        .context("cannot build the HTTP client for the upstream")?;
    let gate = Arc::new(HttpGate {
        server_name,
        upstream,
        http,
        gavel,
        token: settings.token,
        on_behalf_of: settings.on_behalf_of,
        listen_ip: listen.ip(),
        sessions: sessions::Sessions::default(),
        held: held::Held::new(super::retry::grace_from_env()),
        progress_every: super::progress::interval_from_env(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let code = runtime.block_on(serve(gate, listen));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

fn upstream_url(raw: &str) -> anyhow::Result<Url> {
    let url = Url::parse(raw).with_context(|| format!("--upstream {raw:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        anyhow::bail!("--upstream must be an http:// or https:// URL, not {raw:?}");
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        anyhow::bail!(
            "--upstream takes no fragment or credentials in the URL; the client's Authorization \
             header is passed through"
        );
    }
    Ok(url)
}

fn upstream_is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn serve(gate: Arc<HttpGate>, listen: SocketAddr) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        eprintln!(
            "gavel gate: listening on {local}, beyond loopback: whoever reaches it acts with \
             this gate's agent token"
        );
    }
    eprintln!(
        "gavel gate: listening on http://{local}{} for {} as mcp.{}.*",
        gate.upstream.path(),
        gate.upstream,
        gate.server_name
    );
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(gate.clone());
    // Without TCP_NODELAY, an SSE answer's small writes wait on the client's delayed ACK
    // (about 40 ms per call).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let code = tokio::select! {
        r = axum::serve(listener, app) => {
            r.context("the HTTP gate stopped")?;
            ExitCode::SUCCESS
        }
        signal = stop_signal() => ExitCode::from(128 + signal),
    };
    // Nothing held outlives the gate: every held call is withdrawn first (bounded).
    gate.held.abandon_all().await;
    Ok(code)
}

async fn handle(State(gate): State<Arc<HttpGate>>, req: Request) -> Response {
    if req.uri().path() != gate.upstream.path() {
        return (
            StatusCode::NOT_FOUND,
            format!("the MCP endpoint is {}\n", gate.upstream.path()),
        )
            .into_response();
    }
    if let Some(refused) = foreign_origin(&gate, req.headers()) {
        return refused;
    }
    let session = match session_id(req.headers()) {
        Ok(s) => s,
        Err(problem) => return refusal(StatusCode::BAD_REQUEST, None, INVALID_REQUEST, problem),
    };
    let (parts, body) = req.into_parts();
    match parts.method {
        Method::POST => post::post(gate, parts.headers, session, body).await,
        Method::GET => forward::relay(&gate, Method::GET, &parts.headers).await,
        Method::DELETE => {
            let response = forward::relay(&gate, Method::DELETE, &parts.headers).await;
            if response.status().is_success() {
                if let Some(s) = &session {
                    gate.sessions.end(s);
                    gate.held.abandon_session(&gate, s).await;
                }
            }
            response
        }
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, POST, DELETE")],
        )
            .into_response(),
    }
}

/// A browser page must not drive the gate through DNS rebinding: an `Origin` must be loopback
/// or the address the gate listens on.
fn foreign_origin(gate: &HttpGate, headers: &HeaderMap) -> Option<Response> {
    let origin = headers.get(header::ORIGIN)?;
    let host = origin
        .to_str()
        .ok()
        .and_then(|o| Url::parse(o).ok())
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()));
    let ok = host.is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback() || ip == gate.listen_ip)
    });
    if ok {
        return None;
    }
    let shown = inert(&String::from_utf8_lossy(origin.as_bytes())).into_owned();
    eprintln!("gavel gate: refused a request from origin {shown}");
    Some(refusal(
        StatusCode::FORBIDDEN,
        None,
        INVALID_REQUEST,
        "requests from this Origin are not accepted".into(),
    ))
}

/// The client's `Mcp-Session-Id`, if any: visible ASCII, bounded.
fn session_id(headers: &HeaderMap) -> Result<Option<String>, String> {
    let Some(v) = headers.get("mcp-session-id") else {
        return Ok(None);
    };
    let b = v.as_bytes();
    if b.is_empty() || b.len() > MAX_SESSION_ID || !b.iter().all(|c| (0x21..=0x7e).contains(c)) {
        return Err("Mcp-Session-Id must be 1 to 256 visible ASCII characters".into());
    }
    Ok(Some(String::from_utf8_lossy(b).into_owned()))
}

/// A JSON-RPC error from the gate itself, with `id` when one request can be answered.
pub(crate) fn refusal(
    status: StatusCode,
    id: Option<&serde_json::Value>,
    code: i64,
    problem: String,
) -> Response {
    let id = id.cloned().unwrap_or(serde_json::Value::Null);
    json_response(status, jsonrpc::error_reply(&id, code, &problem))
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}
