//! The MCP side of the gate's tasks (see `tasks`; offering them is `task_offer`): starting one for an augmented `tools/call`, answering `tasks/*`, and taking the server's
//! answer to a forwarded task call.
//!
//! Tasks are offered only to a client that declared `capabilities.tasks` in a session whose
//! server answered protocol revision 2025-11-25; every other client keeps the plain held call.
//! The server never sees the augmentation: an allowed task call reaches it as a plain
//! `tools/call` under a request id of the gate's own, and its answer becomes the task's result.

use std::sync::Arc;

use serde_json::{json, Value};

use super::calls::{Call, Ending};
use super::jsonrpc::INVALID_PARAMS;
use super::message::{denied_result, id_key, ToolCall};
use super::task_offer::{mark_tools, offer_tasks, upstream_has_tasks};
use super::tasks::{self, Answer, Full, Status, Stop};
use super::{strict, Gate};
use crate::protocol::{inert, ActionRequest};

const INTERNAL_ERROR: i64 = -32603;
/// How often expired tasks are looked for (a ttl is at least a minute).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers an augmented `tools/call` with a new task, then holds the call for it.
pub(crate) async fn start(gate: &Arc<Gate>, call: &ToolCall, wire: &[u8], action: ActionRequest) {
    // The server gets the call as judged, minus the augmentation, under the gate's own id:
    // random and unrelated to the task id, so the client cannot send a request of its own
    // whose answer would pass for the task's result.
    let mut random = [0u8; 16];
    let Some(mut v) = getrandom::fill(&mut random)
        .ok()
        .and_then(|()| serde_json::from_slice::<Value>(wire).ok())
    else {
        let why = "the gate could not prepare the call (no randomness for its request id)";
        gate.reply(rpc_error(&call.id, INTERNAL_ERROR, why)).await;
        return;
    };
    let gate_id = json!(format!("gavel-call-{}", hex::encode(random)));
    v["id"] = gate_id.clone();
    if let Some(params) = v.get_mut("params").and_then(Value::as_object_mut) {
        params.remove("task");
    }
    let (made, stops) = gate.tasks.create(call.task.flatten());
    run_stops(gate, stops).await;
    let (task_id, shown) = match made {
        Ok(made) => made,
        Err(Full) => {
            let why = "too many gavel tasks are still working; try again when one has finished";
            gate.reply(rpc_error(&call.id, INTERNAL_ERROR, why)).await;
            return;
        }
    };
    gate.reply(line(
        &json!({"jsonrpc": "2.0", "id": call.id, "result": {"task": shown}}),
    ))
    .await;
    let held = gate
        .held
        .hold(
            gate.clone(),
            Call {
                id: gate_id,
                wire: strict::to_wire(&v),
                action,
                modern: false,
                progress: call.progress_token.clone(),
                ending: Ending::Task(task_id.clone()),
            },
        )
        .await;
    // Expired tasks go, and a call still held with one is withdrawn: one sweeper per gate.
    if gate.tasks.start_sweeping() {
        let sweeper = gate.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                let stops = sweeper.tasks.expire();
                run_stops(&sweeper, stops).await;
            }
        });
    }
    if held.is_err() {
        let reason = "the gate is shutting down";
        finished(gate, &task_id, Status::Failed, reason, denied(reason)).await;
    }
}

/// `tasks/get`, `tasks/result`, `tasks/cancel`, `tasks/list` from the client.
pub(crate) async fn answer(
    gate: &Arc<Gate>,
    id: Value,
    method: &str,
    task_id: Option<String>,
    wire: Vec<u8>,
) {
    let (offered, upstream) = gate.task_support();
    if !offered {
        // Not negotiated with the gate: the server's business, as before.
        gate.send_to_server(wire).await;
        return;
    }
    if method == "tasks/list" {
        // One page holds them all (at most 64), so the gate never hands out a cursor.
        let cursor = serde_json::from_slice::<Value>(&wire)
            .ok()
            .and_then(|v| v.pointer("/params/cursor").cloned())
            .is_some_and(|c| !c.is_null());
        if cursor {
            gate.reply(rpc_error(&id, INVALID_PARAMS, "no such cursor"))
                .await;
            return;
        }
        let tasks = gate.tasks.list();
        gate.reply(line(
            &json!({"jsonrpc": "2.0", "id": id, "result": {"tasks": tasks}}),
        ))
        .await;
        return;
    }
    let Some(task_id) = task_id else {
        gate.reply(rpc_error(&id, INVALID_PARAMS, "`taskId` must be a string"))
            .await;
        return;
    };
    if !gate.tasks.knows(&task_id) {
        if upstream {
            gate.send_to_server(wire).await;
        } else {
            let why = format!(
                "no such task: {}",
                inert(&task_id.chars().take(80).collect::<String>())
            );
            gate.reply(rpc_error(&id, INVALID_PARAMS, &why)).await;
        }
        return;
    }
    match method {
        "tasks/get" => match gate.tasks.get(&task_id) {
            Some(task) => {
                gate.reply(line(&json!({"jsonrpc": "2.0", "id": id, "result": task})))
                    .await
            }
            None => {
                gate.reply(rpc_error(&id, INVALID_PARAMS, "the task has expired"))
                    .await
            }
        },
        "tasks/cancel" => match gate.tasks.cancel(&task_id) {
            Ok((task, stop)) => {
                // Withdrawn from gavel (or cancelled at the server) before the client hears so.
                run_stops(gate, stop.into_iter().collect()).await;
                gate.reply(line(&json!({"jsonrpc": "2.0", "id": id, "result": task})))
                    .await;
            }
            Err(why) => gate.reply(rpc_error(&id, INVALID_PARAMS, &why)).await,
        },
        _ => {
            // tasks/result waits until the task is terminal; the task's own ttl bounds that.
            let Some(mut done) = gate.tasks.watch(&task_id) else {
                gate.reply(rpc_error(&id, INVALID_PARAMS, "the task has expired"))
                    .await;
                return;
            };
            let gate = gate.clone();
            tokio::spawn(async move {
                let Some(_waiting) = gate.tasks.waiter() else {
                    let why = "too many tasks/result requests are waiting; poll tasks/get instead";
                    gate.reply(rpc_error(&id, INTERNAL_ERROR, why)).await;
                    return;
                };
                let ended = done.wait_for(|d| *d).await.is_ok();
                let reply = match gate.tasks.answer(&task_id).filter(|_| ended) {
                    Some(Answer::Result(r)) => {
                        line(&json!({"jsonrpc": "2.0", "id": id, "result": r}))
                    }
                    Some(Answer::Error(e)) => {
                        line(&json!({"jsonrpc": "2.0", "id": id, "error": e}))
                    }
                    None => rpc_error(&id, INVALID_PARAMS, "the task has expired"),
                };
                gate.reply(reply).await;
            });
        }
    }
}

fn denied(reason: &str) -> Answer {
    Answer::Result(denied_result(reason, false))
}

async fn finished(gate: &Gate, task_id: &str, status: Status, message: &str, answer: Answer) {
    if let Some(task) = gate
        .tasks
        .finish(task_id, status, message.to_string(), answer)
    {
        gate.notify(tasks::status_notification(task)).await;
    }
}

/// Stops what ended tasks still have running: a held call is withdrawn from gavel (bounded),
/// a forwarded one is cancelled at the server.
async fn run_stops(gate: &Gate, stops: Vec<Stop>) {
    for stop in stops {
        match stop {
            Stop::Held(key) => gate.held.stop(&key).await,
            Stop::Forwarded(gate_id) => {
                let Ok(request_id) = serde_json::from_str::<Value>(&gate_id) else {
                    continue;
                };
                let notice = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": request_id, "reason": "the task was cancelled"}});
                // Through the held-call table, so the notice cannot overtake the call it
                // cancels (written under that table's lock).
                gate.held.cancel(gate, &request_id, line(&notice)).await;
            }
        }
    }
}

/// Server → client: takes the answers to forwarded task calls (`None`: not for the client),
/// offers tasks in the `initialize` answer, and marks listed tools as task-capable.
pub(crate) async fn from_server(gate: &Gate, raw: Vec<u8>, handshake: bool) -> Option<Vec<u8>> {
    let (offer, lists) = gate.task_watch(handshake);
    if !offer && !lists && !gate.tasks.any_forwarded() {
        return Some(raw);
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(raw.trim_ascii()) else {
        return Some(raw);
    };
    if v.get("method").is_some() {
        return Some(raw); // the server's own request or notification
    }
    let Some(key) = v.get("id").map(id_key) else {
        return Some(raw);
    };
    if let Some(task_id) = gate.tasks.take_forwarded(&key) {
        let (status, message, answer) = match (v.get("result"), v.get("error")) {
            (Some(r), _) if r.get("isError") == Some(&Value::Bool(true)) => (
                Status::Failed,
                "the tool reported an error",
                Answer::Result(r.clone()),
            ),
            (Some(r), _) => (Status::Completed, "completed", Answer::Result(r.clone())),
            (None, Some(e)) => (
                Status::Failed,
                "the server answered with an error",
                Answer::Error(e.clone()),
            ),
            (None, None) => return None,
        };
        finished(gate, &task_id, status, message, answer).await;
        return None;
    }
    if offer && offer_tasks(&mut v) {
        gate.tasks_offered(upstream_has_tasks(&raw));
        return Some(line(&v));
    }
    if lists && gate.list_answered(&key) {
        mark_tools(&mut v);
        return Some(line(&v));
    }
    Some(raw)
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Vec<u8> {
    line(
        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": format!("gavel gate: {message}")}}),
    )
}

fn line(v: &Value) -> Vec<u8> {
    let mut s = v.to_string();
    s.push('\n');
    s.into_bytes()
}
