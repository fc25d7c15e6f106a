//! `gavel gate [--server URL] -- CMD ARGS…`: an MCP stdio proxy that lets no `tools/call`
//! reach the server unless gavel allowed it.
//!
//! A client line reaches the server only if it parses strictly as exactly one JSON-RPC message
//! (see `strict`) and is not a `tools/call`, or is one gavel allowed; it is forwarded as the gate
//! re-serialised it, so the server reads exactly what was judged. Anything else is answered
//! with a JSON-RPC error when its request id can be recovered, otherwise dropped, and logged.
//! Each `tools/call` is held in its own task while gavel adjudicates it, then forwarded (allow)
//! or answered with an `isError` result (deny, expiry, gavel unreachable). Held calls block
//! nothing else; `notifications/cancelled` for a held call drops it for good, and its review is
//! withdrawn unless a retry attaches to it (see `retry`; an approval runs a call once, see
//! `settle`). A held call
//! with a progress token gets `notifications/progress` while it waits (see `progress`), so a
//! client's own timeout need not cut a long review short, and a client that negotiated MCP
//! tasks gets a gate-owned task for a call it augmented (see `task_rpc`). Server→client lines
//! pass byte for byte (except the few `task_rpc` rewrites or keeps for such a client); every
//! line goes through one writer, so the gate's own never split the server's.

mod calls;
mod dispatch;
mod http;
mod jsonrpc;
mod lifecycle;
mod lines;
mod message;
mod naming;
mod progress;
mod retry;
mod settle;
mod strict;
mod task_offer;
mod task_rpc;
mod tasks;

use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

use super::{random_hex, GateArgs, Settings};
use crate::client::Client;
use crate::protocol::{inert, ActionRequest};
use calls::Held;
use dispatch::pump_client;
use lifecycle::{
    exit_code, stop_signal, wait_exit, write_client, write_server, End, EXIT_GRACE, SIGNAL_GRACE,
};
use message::{IdKey, ToolCall};

/// Lines in flight per direction before a slow reader applies back-pressure.
const CHANNEL_LINES: usize = 256;

pub fn run(args: GateArgs) -> anyhow::Result<ExitCode> {
    if args.http {
        return http::run(args);
    }
    // Fixed before the server starts, from what the operator wrote: never from the server.
    let name =
        naming::server_name(args.name.as_deref(), &args.command).map_err(anyhow::Error::msg)?;
    let settings = Settings::resolve(
        &args.server,
        args.on_behalf_of.as_deref(),
        None,
        args.ca_cert.as_deref(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let code = runtime.block_on(proxy(args, name, settings));
    // The stdin reader may sit in a blocking read; don't wait for it.
    runtime.shutdown_background();
    code
}

/// What the gate knows about the MCP session it stands in.
#[derive(Debug)]
pub(crate) struct SessionState {
    /// Whether the server's own name, differing from the one in use, has been logged.
    told_reported_name: bool,
    /// The gavel session for this MCP session; renewed by each `initialize`.
    session: String,
    protocol_version: Option<String>,
    client_name: Option<String>,
    /// Handshake request ids whose answers carry the name the server claims (logged, not used).
    awaited: Vec<IdKey>,
    /// The client declared `capabilities.tasks` in its `initialize`.
    client_tasks: bool,
    /// The gate offered its tasks in the server's `initialize` answer (see `task_rpc`).
    tasks_offered: bool,
    /// The server itself offered task-augmented `tools/call`.
    upstream_tasks: bool,
    /// `tools/list` ids whose answers get the tools marked as task-capable.
    awaited_lists: Vec<IdKey>,
}

/// Shared by the two pumps and the held-call tasks.
pub(crate) struct Gate {
    /// `<server>` of `mcp.<server>.<tool>`: `--name`, or derived from the command line.
    server_name: String,
    client: Client,
    token: Option<String>,
    on_behalf_of: Option<String>,
    state: Mutex<SessionState>,
    held: Held,
    /// Taken at the client's EOF so the server's stdin closes once in-flight writes are done.
    to_server: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    to_client: mpsc::Sender<Out>,
    /// How often a held call with a progress token gets `notifications/progress`.
    progress_every: Duration,
    tasks: tasks::Tasks,
}

pub(crate) enum Out {
    Line(Vec<u8>),
    /// Flush and stop; acknowledged once everything before it is written.
    Close(oneshot::Sender<()>),
}

fn new_session_id() -> String {
    format!("mcp-{}", random_hex(8))
}

async fn proxy(
    args: GateArgs,
    server_name: String,
    settings: Settings,
) -> anyhow::Result<ExitCode> {
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

    let progress_every = progress::interval_from_env();
    let gate = Arc::new(Gate {
        server_name,
        client: settings.client()?,
        token: settings.token,
        on_behalf_of: settings.on_behalf_of,
        state: Mutex::new(SessionState {
            told_reported_name: false,
            session: new_session_id(),
            protocol_version: None,
            client_name: None,
            awaited: Vec::new(),
            client_tasks: false,
            tasks_offered: false,
            upstream_tasks: false,
            awaited_lists: Vec::new(),
        }),
        held: Held::new(retry::grace_from_env()),
        to_server: Mutex::new(Some(to_server)),
        to_client: to_client.clone(),
        progress_every,
        tasks: tasks::Tasks::new(progress_every.as_millis().try_into().unwrap_or(u64::MAX)),
    });

    let (client_gone_tx, client_gone) = oneshot::channel::<()>();
    tokio::spawn(pump_client(gate.clone(), client_gone_tx));
    let mut from_server = tokio::spawn(pump_server(gate.clone(), child_out));

    let end = tokio::select! {
        _ = &mut from_server => End::ServerClosed,
        status = child.wait() => End::ServerExited(status.ok()),
        // The client closed our stdin; held calls were withdrawn and the server's stdin closed
        // in turn (see pump_client).
        _ = client_gone => End::ClientGone,
        signal = stop_signal() => End::Signal(signal),
    };
    // Nothing held outlives the gate: every held call is withdrawn first (bounded).
    gate.held.abandon_all().await;
    let status = match end {
        End::ServerClosed => wait_exit(&mut child, EXIT_GRACE).await,
        End::ServerExited(status) => {
            // Let the last lines the server wrote reach the client.
            let _ = tokio::time::timeout(Duration::from_millis(500), &mut from_server).await;
            status
        }
        End::ClientGone => {
            let status = wait_exit(&mut child, EXIT_GRACE).await;
            let _ = tokio::time::timeout(Duration::from_millis(500), &mut from_server).await;
            status
        }
        End::Signal(signal) => {
            gate.close_server_input();
            let _ = wait_exit(&mut child, SIGNAL_GRACE).await;
            return Ok(ExitCode::from(128 + signal));
        }
    };
    let (ack_tx, ack) = oneshot::channel();
    if to_client.send(Out::Close(ack_tx)).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(2), ack).await;
    }
    drop(client_writer);
    Ok(exit_code(status))
}

/// Server → client, byte for byte; peeks only at answers to handshakes, for the name the server claims.
async fn pump_server(gate: Arc<Gate>, child_out: tokio::process::ChildStdout) {
    let mut reader = BufReader::new(child_out);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let handshake = gate.note_claimed_name(&line);
        let Some(out) = task_rpc::from_server(&gate, std::mem::take(&mut line), handshake).await
        else {
            continue; // the answer to a task's call: kept for tasks/result
        };
        if gate.to_client.send(Out::Line(out)).await.is_err() {
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

    /// Drops the last sender to the server's stdin writer, which closes the server's stdin once
    /// the lines already sent are written.
    fn close_server_input(&self) {
        if let Ok(mut tx) = self.to_server.lock() {
            tx.take();
        }
    }

    pub(crate) async fn reply(&self, line: Vec<u8>) {
        let _ = self.to_client.send(Out::Line(line)).await;
    }

    /// A notification the gate itself sends the client, as one whole line.
    pub(crate) async fn notify(&self, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.reply(line.into_bytes()).await;
    }

    /// Logs the server's claimed name once; true when `line` answered a handshake.
    fn note_claimed_name(&self, line: &[u8]) -> bool {
        let claimed = {
            let Ok(mut s) = self.state.lock() else {
                return false;
            };
            if s.awaited.is_empty() {
                return false;
            }
            let Some((key, name)) = message::handshake_answer(line, &s.awaited) else {
                return false;
            };
            s.awaited.retain(|k| k != &key);
            // The server's own name is its claim, never used for policy: said once, inertly.
            match name {
                Some(claimed)
                    if !s.told_reported_name
                        && naming::policy_server_name(&claimed).as_deref()
                            != Some(self.server_name.as_str()) =>
                {
                    s.told_reported_name = true;
                    claimed
                }
                _ => return true,
            }
        };
        // Outside the lock: a slow stderr must not stall the other pumps.
        eprintln!(
            "gavel gate: the server calls itself \"{}\"; policy names it `{}` \
             (--name or its command line, never the server's claim)",
            inert(&claimed.chars().take(120).collect::<String>()),
            self.server_name
        );
        true
    }

    /// The gavel action for a call, in this MCP session's gavel session.
    fn action_for(&self, call: &ToolCall) -> ActionRequest {
        let (session, protocol_version, client_name) = match self.state.lock() {
            Ok(s) => (
                s.session.clone(),
                call.protocol_version
                    .clone()
                    .or_else(|| s.protocol_version.clone()),
                call.client_name.clone().or_else(|| s.client_name.clone()),
            ),
            Err(_) => (new_session_id(), None, None),
        };
        message::action_for(
            call,
            message::Known {
                server: &self.server_name,
                session,
                on_behalf_of: self.on_behalf_of.clone(),
                protocol_version,
                client_name,
                transport: None,
            },
        )
    }
}
