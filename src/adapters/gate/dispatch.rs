//! Client → server: each line the client writes is read strictly, then refused, held for
//! gavel (a `tools/call`), answered by the gate (its own tasks), or passed to the server.

use std::sync::Arc;

use serde_json::Value;
use tokio::io::BufReader;
use tokio::sync::oneshot;

use super::calls::{Call, Ending, NotHeld};
use super::jsonrpc::{self, Refused};
use super::lines::{self, Line, MAX_LINE_BYTES};
use super::message::{self, FromClient};
use super::{new_session_id, strict, task_offer, task_rpc, Gate};
use crate::protocol::inert;

/// Client → server. Ends at the client's EOF: held calls are withdrawn (nobody is left to
/// answer) and the server's stdin is closed once the last allowed call has been written.
pub(super) async fn pump_client(gate: Arc<Gate>, client_gone: oneshot::Sender<()>) {
    let mut stdin = BufReader::new(tokio::io::stdin());
    loop {
        let raw = match lines::next_line(&mut stdin, MAX_LINE_BYTES).await {
            Ok(Line::Complete(raw)) => raw,
            Ok(Line::TooLong(n)) => {
                eprintln!(
                    "gavel gate: dropped a client line of {n} bytes (at most {MAX_LINE_BYTES})"
                );
                continue;
            }
            Ok(Line::Eof) | Err(_) => break,
        };
        match message::read_client_line(&raw) {
            Ok(accepted) => handle(&gate, accepted.msg, accepted.wire).await,
            Err(refused) => refuse(&gate, &raw, refused).await,
        }
    }
    gate.held.abandon_all().await;
    gate.close_server_input();
    let _ = client_gone.send(());
}

/// A line that never reaches the server: logged inertly, and each recoverable request id
/// answered with a JSON-RPC error.
async fn refuse(gate: &Gate, raw: &[u8], refused: Refused) {
    // Line and paragraph separators too: a terminal or log viewer may break the line there.
    let excerpt: String = String::from_utf8_lossy(raw)
        .chars()
        .take(160)
        .map(|c| {
            if strict::is_line_break(c) {
                format!("\\u{{{:04x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    let answered = if refused.ids.is_empty() {
        "no request id to answer".to_string()
    } else {
        let ids: Vec<String> = refused.ids.iter().map(Value::to_string).collect();
        format!("answered {}", ids.join(", "))
    };
    eprintln!(
        "gavel gate: refused a client line ({}; {}): {}",
        inert(&refused.problem),
        inert(&answered),
        inert(&excerpt)
    );
    for id in &refused.ids {
        gate.reply(jsonrpc::error_reply(id, refused.code, &refused.problem))
            .await;
    }
}

async fn handle(gate: &Arc<Gate>, msg: FromClient, wire: Vec<u8>) {
    match msg {
        FromClient::ToolCall(call) => {
            let modern = call.protocol_version.is_some();
            let action = gate.action_for(&call);
            if call.task.is_some() && gate.task_support().0 {
                task_rpc::start(gate, &call, &wire, action).await;
                return;
            }
            let refused = match gate
                .held
                .hold(
                    gate.clone(),
                    Call {
                        id: call.id.clone(),
                        wire,
                        action,
                        modern,
                        progress: call.progress_token.clone(),
                        ending: Ending::Reply,
                    },
                )
                .await
            {
                Ok(()) => return,
                Err(NotHeld::Duplicate) => "another call with this request id is still held",
                Err(NotHeld::ShuttingDown) => "the gate is shutting down",
            };
            gate.reply(message::denied_reply(&call.id, refused, modern))
                .await;
        }
        FromClient::TaskOp {
            id,
            method,
            task_id,
        } => task_rpc::answer(gate, id, &method, task_id, wire).await,
        FromClient::ToolsList { id } => {
            if let Ok(mut s) = gate.state.lock() {
                if s.tasks_offered {
                    task_offer::awaited_lists_push(&mut s.awaited_lists, message::id_key(&id));
                }
            }
            gate.send_to_server(wire).await;
        }
        FromClient::Cancelled { request_id } => {
            // A held call is withdrawn and dropped: the server never saw it, so the notice is
            // not forwarded either. Otherwise the server gets the notice.
            gate.held.cancel(gate, &request_id, wire).await;
        }
        FromClient::Handshake {
            id,
            new_session,
            client_name,
            protocol_version,
            client_tasks,
        } => {
            if let Ok(mut s) = gate.state.lock() {
                if new_session {
                    s.session = new_session_id();
                    s.client_tasks = client_tasks;
                    s.tasks_offered = false;
                }
                s.awaited.push(message::id_key(&id));
                s.client_name = client_name.or(s.client_name.take());
                s.protocol_version = protocol_version.or(s.protocol_version.take());
            }
            gate.send_to_server(wire).await;
        }
        FromClient::Other => gate.send_to_server(wire).await,
    }
}
