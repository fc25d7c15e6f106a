//! `gavel gate [--server URL] -- CMD ARGS…`: a transparent MCP stdio proxy.
//!
//! Every line passes through byte for byte, except client→server `tools/call` requests: each is
//! held in its own task while gavel adjudicates it, then forwarded unchanged (allow) or answered
//! by the gate with an `isError` result (deny, expiry, gavel unreachable). Held calls block
//! nothing else; `notifications/cancelled` for a held call drops it for good.

mod calls;
mod message;

use std::collections::HashMap;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use super::{random_hex, GateArgs, Settings};
use crate::client::Client;
use crate::protocol::ActionRequest;
use calls::Held;
use message::{classify, classify_value, FromClient, IdKey, ToolCall};

/// How long the server gets to exit after its stdin closes before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);
/// Lines in flight per direction before a slow reader applies back-pressure.
const CHANNEL_LINES: usize = 256;

pub fn run(args: GateArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(
        args.server.as_deref(),
        args.on_behalf_of.as_deref(),
        None,
        args.ca_cert.as_deref(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let code = runtime.block_on(proxy(args, settings));
    // The stdin reader may sit in a blocking read; don't wait for it.
    runtime.shutdown_background();
    code
}

/// What the gate knows about the MCP session it stands in.
#[derive(Debug)]
pub(crate) struct SessionState {
    /// `--name`, which wins over anything the server says.
    explicit_name: Option<String>,
    /// From `serverInfo.name`, once the server has answered the handshake.
    learned_name: Option<String>,
    fallback_name: String,
    /// The gavel session for this MCP session; renewed by each `initialize`.
    session: String,
    protocol_version: Option<String>,
    client_name: Option<String>,
    /// Handshake request ids whose answers will name the server.
    awaited: Vec<IdKey>,
}

impl SessionState {
    fn server_name(&self) -> &str {
        self.explicit_name
            .as_deref()
            .or(self.learned_name.as_deref())
            .unwrap_or(&self.fallback_name)
    }
}

/// Shared by the two pumps and the held-call tasks.
pub(crate) struct Gate {
    client: Client,
    token: Option<String>,
    on_behalf_of: Option<String>,
    state: Mutex<SessionState>,
    held: Held,
    /// Taken at the client's EOF so the server's stdin closes once in-flight writes are done.
    to_server: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    to_client: mpsc::Sender<Out>,
}

pub(crate) enum Out {
    Line(Vec<u8>),
    /// Flush and stop; acknowledged once everything before it is written.
    Close(oneshot::Sender<()>),
}

fn new_session_id() -> String {
    format!("mcp-{}", random_hex(8))
}

async fn proxy(args: GateArgs, settings: Settings) -> anyhow::Result<ExitCode> {
    let (program, rest) = args
        .command
        .split_first()
        .context("no MCP server command given after --")?;
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // The server is third-party code: it gets neither the agent's token nor a person's key.
        .env_remove(crate::config::ENV_AGENT_TOKEN)
        .env_remove(crate::config::ENV_KEY)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start the MCP server `{program}`"))?;
    let (Some(child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        anyhow::bail!("the MCP server's stdin/stdout could not be piped");
    };

    let (to_server, server_rx) = mpsc::channel(CHANNEL_LINES);
    let (to_client, client_rx) = mpsc::channel(CHANNEL_LINES);
    let client_writer = tokio::spawn(write_client(tokio::io::stdout(), client_rx));
    tokio::spawn(write_server(child_in, server_rx));

    let gate = Arc::new(Gate {
        client: settings.client()?,
        token: settings.token,
        on_behalf_of: settings.on_behalf_of,
        state: Mutex::new(SessionState {
            explicit_name: args.name.as_deref().map(message::policy_server_name),
            learned_name: None,
            fallback_name: message::name_from_command(&args.command),
            session: new_session_id(),
            protocol_version: None,
            client_name: None,
            awaited: Vec::new(),
        }),
        held: Held::default(),
        to_server: Mutex::new(Some(to_server)),
        to_client: to_client.clone(),
    });

    let (client_gone_tx, client_gone) = oneshot::channel::<()>();
    tokio::spawn(pump_client(gate.clone(), client_gone_tx));
    let mut from_server = tokio::spawn(pump_server(gate.clone(), child_out));

    let status = tokio::select! {
        _ = &mut from_server => wait_exit(&mut child, EXIT_GRACE).await,
        status = child.wait() => {
            // Let the last lines the server wrote reach the client.
            let _ = tokio::time::timeout(Duration::from_millis(500), &mut from_server).await;
            status.ok()
        }
        _ = client_gone => {
            // The client closed our stdin; the server's stdin is closed in turn (see pump_client).
            let status = wait_exit(&mut child, EXIT_GRACE).await;
            let _ = tokio::time::timeout(Duration::from_millis(500), &mut from_server).await;
            status
        }
    };
    gate.held.abandon_all().await;
    let (ack_tx, ack) = oneshot::channel();
    if to_client.send(Out::Close(ack_tx)).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(2), ack).await;
    }
    drop(client_writer);
    Ok(exit_code(status))
}

async fn wait_exit(child: &mut Child, grace: Duration) -> Option<std::process::ExitStatus> {
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            eprintln!("gavel gate: the MCP server did not exit after its input closed; killing it");
            let _ = child.start_kill();
            child.wait().await.ok()
        }
    }
}

/// The server's exit status as ours: its code, or 128 + the signal that ended it.
fn exit_code(status: Option<std::process::ExitStatus>) -> ExitCode {
    let Some(status) = status else {
        return ExitCode::FAILURE;
    };
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return ExitCode::from(u8::try_from(128 + sig).unwrap_or(1));
        }
    }
    ExitCode::FAILURE
}

async fn write_client<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::Receiver<Out>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            Out::Line(line) => {
                if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
                    return; // the client is gone; the stdin side will notice too
                }
            }
            Out::Close(ack) => {
                let _ = out.flush().await;
                let _ = ack.send(());
                return;
            }
        }
    }
}

/// Owns the server's stdin: closing the channel (every sender dropped) closes it.
async fn write_server(mut child_in: tokio::process::ChildStdin, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = rx.recv().await {
        if child_in.write_all(&line).await.is_err() || child_in.flush().await.is_err() {
            return;
        }
    }
    let _ = child_in.shutdown().await;
}

/// Client → server. Ends at the client's EOF: held calls are dropped (nobody is left to answer)
/// and the server's stdin is closed once the last allowed call has been written.
async fn pump_client(gate: Arc<Gate>, client_gone: oneshot::Sender<()>) {
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let raw = std::mem::take(&mut line);
        match classify(&raw) {
            FromClient::Batch(items) => {
                // Split so each call is gated on its own; the rest is forwarded line by line.
                for item in items {
                    let own = message::to_line(&item);
                    handle(&gate, classify_value(&item), own).await;
                }
            }
            other => handle(&gate, other, raw).await,
        }
    }
    gate.held.abandon_all().await;
    // Dropping the last sender lets write_server close the server's stdin.
    if let Ok(mut tx) = gate.to_server.lock() {
        tx.take();
    }
    let _ = client_gone.send(());
}

async fn handle(gate: &Arc<Gate>, msg: FromClient, raw: Vec<u8>) {
    match msg {
        FromClient::ToolCall(call) => {
            let modern = call.protocol_version.is_some();
            let id = call.id.clone();
            let action = gate.action_for(&call);
            if !gate.held.hold(gate.clone(), &id, raw, action, modern).await {
                let reason = "another call with this request id is still held";
                gate.reply(message::denied_reply(&id, reason, modern)).await;
            }
        }
        FromClient::BadToolCall { id, problem } => {
            eprintln!("gavel gate: dropped a malformed tools/call ({problem})");
            if let Some(id) = id {
                gate.reply(message::denied_reply(&id, &problem, false))
                    .await;
            }
        }
        FromClient::Cancelled { request_id } => {
            // A held call is dropped silently: the server never saw it, so the notice is not
            // forwarded either. Otherwise the server gets the notice as sent.
            gate.held.cancel(gate, &request_id, raw).await;
        }
        FromClient::Handshake {
            id,
            new_session,
            client_name,
            protocol_version,
        } => {
            if let Ok(mut s) = gate.state.lock() {
                if new_session {
                    s.session = new_session_id();
                }
                s.awaited.push(message::id_key(&id));
                s.client_name = client_name.or(s.client_name.take());
                s.protocol_version = protocol_version.or(s.protocol_version.take());
            }
            gate.send_to_server(raw).await;
        }
        FromClient::Batch(_) | FromClient::Other => gate.send_to_server(raw).await,
    }
}

/// Server → client, byte for byte; peeks only at answers to handshakes to learn the name.
async fn pump_server(gate: Arc<Gate>, child_out: tokio::process::ChildStdout) {
    let mut reader = BufReader::new(child_out);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        gate.learn_from_server(&line);
        if gate
            .to_client
            .send(Out::Line(std::mem::take(&mut line)))
            .await
            .is_err()
        {
            return;
        }
    }
}

impl Gate {
    pub(crate) async fn send_to_server(&self, line: Vec<u8>) {
        let tx = self.to_server.lock().ok().and_then(|tx| tx.clone());
        if let Some(tx) = tx {
            let _ = tx.send(line).await;
        }
    }

    pub(crate) async fn reply(&self, line: Vec<u8>) {
        let _ = self.to_client.send(Out::Line(line)).await;
    }

    fn learn_from_server(&self, line: &[u8]) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if s.awaited.is_empty() {
            return;
        }
        if let Some((key, name)) = message::handshake_answer(line, &s.awaited) {
            s.awaited.retain(|k| k != &key);
            if let Some(name) = name {
                s.learned_name = Some(message::policy_server_name(&name));
            }
        }
    }

    /// The gavel action for a call: `mcp.<server>.<tool>`, the call's arguments, this MCP
    /// session's gavel session, and what is known about server and client as context.
    fn action_for(&self, call: &ToolCall) -> ActionRequest {
        let (server, session, protocol, client) = match self.state.lock() {
            Ok(s) => (
                s.server_name().to_string(),
                s.session.clone(),
                call.protocol_version
                    .clone()
                    .or_else(|| s.protocol_version.clone()),
                call.client_name.clone().or_else(|| s.client_name.clone()),
            ),
            Err(_) => ("unnamed".into(), new_session_id(), None, None),
        };
        let mut context = Map::new();
        context.insert("adapter".into(), json!("mcp-gate"));
        context.insert("mcp_server".into(), json!(server));
        context.insert("mcp_tool".into(), json!(call.name));
        if let Some(p) = protocol {
            context.insert("protocol_version".into(), json!(p));
        }
        if let Some(c) = client {
            context.insert("mcp_client".into(), json!(c));
        }
        ActionRequest {
            tool: message::qualified_tool(&server, &call.name),
            args: call.arguments.clone(),
            session,
            on_behalf_of: self.on_behalf_of.clone(),
            rationale: None,
            cost: None,
            parent: None,
            context: Value::Object(context),
        }
    }
}

/// The pending-call table keyed by request id, shared with `calls`.
pub(crate) type HeldMap = HashMap<IdKey, tokio::task::AbortHandle>;
