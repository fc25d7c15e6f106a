//! Held `tools/call` requests: one task each, so a call waiting for a person blocks nothing.
//!
//! The table lock orders the two ways a held call can end: its task forwards it (allow) or a
//! `notifications/cancelled` drops it. Whichever takes the entry out of the table first wins,
//! and an allowed call is written to the server before a later cancel notice can be.

use std::sync::Arc;

use serde_json::Value;

use super::message::{denied_reply, id_key, IdKey};
use super::{Gate, HeldMap};
use crate::adapters::{adjudicate, Ruling};
use crate::protocol::ActionRequest;

#[derive(Default)]
pub(crate) struct Held {
    calls: tokio::sync::Mutex<HeldMap>,
}

impl Held {
    /// Starts adjudicating a call. False when a call with the same id is already held.
    pub(crate) async fn hold(
        &self,
        gate: Arc<Gate>,
        id: &Value,
        raw: Vec<u8>,
        action: ActionRequest,
        modern: bool,
    ) -> bool {
        let key = id_key(id);
        let mut calls = self.calls.lock().await;
        if calls.contains_key(&key) {
            return false;
        }
        let call = HeldCall {
            key: key.clone(),
            id: id.clone(),
            raw,
            action,
            modern,
        };
        let task = tokio::spawn(call.decide(gate));
        calls.insert(key, task.abort_handle());
        true
    }

    /// For the client's cancel notice: a held call is dropped (never forwarded, never answered)
    /// and the notice swallowed; otherwise the notice goes to the server, after the request.
    pub(crate) async fn cancel(&self, gate: &Gate, request_id: &Value, notice: Vec<u8>) {
        let mut calls = self.calls.lock().await;
        if let Some(task) = calls.remove(&id_key(request_id)) {
            task.abort();
            eprintln!("gavel gate: call {request_id} cancelled by the client while held; dropped");
            return;
        }
        gate.send_to_server(notice).await;
    }

    /// Drops every held call (the client or the server went away).
    pub(crate) async fn abandon_all(&self) {
        let mut calls = self.calls.lock().await;
        for (_, task) in calls.drain() {
            task.abort();
        }
    }
}

struct HeldCall {
    key: IdKey,
    id: Value,
    raw: Vec<u8>,
    action: ActionRequest,
    modern: bool,
}

impl HeldCall {
    async fn decide(self, gate: Arc<Gate>) {
        let ruling = match gate.token.as_deref() {
            Some(token) => adjudicate(&gate.client, token, &self.action, None).await,
            None => Ruling::deny(format!(
                "no agent token: set {} for the gate (or agent_token in the [adapter] table of \
                 the config file)",
                crate::config::ENV_AGENT_TOKEN
            )),
        };
        let mut calls = gate.held.calls.lock().await;
        if calls.remove(&self.key).is_none() {
            return; // cancelled or abandoned meanwhile
        }
        if ruling.allow {
            // Still under the lock, so a cancel notice for this id is forwarded after it.
            gate.send_to_server(self.raw).await;
            return;
        }
        drop(calls);
        // The tool name is the client's text: made inert before it reaches a terminal.
        eprintln!(
            "gavel gate: denied {} (request {}): {}",
            crate::protocol::inert(&self.action.tool),
            self.id,
            ruling.reason
        );
        gate.reply(denied_reply(&self.id, &ruling.reason, self.modern))
            .await;
    }
}
