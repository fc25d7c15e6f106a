//! Offering the gate's tasks to a client that negotiated them: task support added to the
//! server's `initialize` answer (revision 2025-11-25 only), listed tools marked task-capable,
//! and the session's task state. Pure rewrites of the server's answers, plus the accessors
//! `task_rpc` uses.

use serde_json::{json, Map, Value};

use super::message::IdKey;
use super::Gate;

/// The revision whose tasks the gate implements (2026-07-28 moved tasks to an extension).
pub const TASKS_REVISION: &str = "2025-11-25";

/// Unanswered `tools/list` ids remembered (to mark the answer's tools as task-capable).
const MAX_AWAITED_LISTS: usize = 64;

/// What the gate knows of the session's tasks (its state lives with the session's).
impl Gate {
    /// (the gate offered tasks, the server offers its own).
    pub(crate) fn task_support(&self) -> (bool, bool) {
        self.state
            .lock()
            .map(|s| (s.tasks_offered, s.upstream_tasks))
            .unwrap_or((false, false))
    }

    /// For a server line: (offer tasks if it answers the handshake, `tools/list` answers awaited).
    pub(crate) fn task_watch(&self, handshake: bool) -> (bool, bool) {
        self.state
            .lock()
            .map(|s| (handshake && s.client_tasks, !s.awaited_lists.is_empty()))
            .unwrap_or((false, false))
    }

    pub(crate) fn tasks_offered(&self, upstream: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.tasks_offered = true;
            s.upstream_tasks = upstream;
        }
    }

    /// True (and forgotten) when `key` is an awaited `tools/list` id.
    pub(crate) fn list_answered(&self, key: &IdKey) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        let before = s.awaited_lists.len();
        s.awaited_lists.retain(|k| k != key);
        s.awaited_lists.len() != before
    }
}

/// Remembers a `tools/list` request whose answer will be marked (bounded).
pub(crate) fn awaited_lists_push(list: &mut Vec<String>, key: String) {
    if list.len() >= MAX_AWAITED_LISTS {
        list.remove(0);
    }
    list.push(key);
}

pub fn upstream_has_tasks(raw: &[u8]) -> bool {
    serde_json::from_slice::<Value>(raw.trim_ascii())
        .ok()
        .and_then(|v| {
            v.pointer("/result/capabilities/tasks/requests/tools/call")
                .cloned()
        })
        .is_some_and(|c| c.is_object())
}

/// Adds task support for `tools/call` to an `initialize` answer of revision 2025-11-25;
/// false (unchanged) for any other answer.
pub fn offer_tasks(v: &mut Value) -> bool {
    let Some(result) = v.get_mut("result").and_then(Value::as_object_mut) else {
        return false;
    };
    if result.get("protocolVersion").and_then(Value::as_str) != Some(TASKS_REVISION) {
        return false;
    }
    let Some(caps) = result
        .get_mut("capabilities")
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    let tasks = caps.entry("tasks").or_insert_with(|| json!({}));
    if !tasks.is_object() {
        *tasks = json!({});
    }
    let tasks = obj(tasks);
    tasks.insert("list".into(), json!({}));
    tasks.insert("cancel".into(), json!({}));
    let requests = obj(tasks.entry("requests").or_insert_with(|| json!({})));
    let tools = obj(requests.entry("tools").or_insert_with(|| json!({})));
    tools.insert("call".into(), json!({}));
    true
}

/// In a `tools/list` answer: tools the server runs only as plain calls become optional tasks
/// (the gate runs the task); tools that require a task stay so.
pub fn mark_tools(v: &mut Value) {
    let Some(tools) = v.pointer_mut("/result/tools").and_then(Value::as_array_mut) else {
        return;
    };
    for tool in tools.iter_mut().filter_map(Value::as_object_mut) {
        let execution = obj(tool.entry("execution").or_insert_with(|| json!({})));
        if execution.get("taskSupport").and_then(Value::as_str) != Some("required") {
            execution.insert("taskSupport".into(), json!("optional"));
        }
    }
}

/// `v` as an object, replacing anything else with an empty one.
fn obj(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_offered_only_on_revision_2025_11_25() {
        let mut v = json!({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25",
            "capabilities":{"tools":{},"tasks":{"requests":{"tools":{"call":{}}},"x":1}}}});
        assert!(offer_tasks(&mut v));
        let tasks = &v["result"]["capabilities"]["tasks"];
        assert_eq!(tasks["requests"]["tools"]["call"], json!({}));
        assert_eq!(tasks["list"], json!({}));
        assert_eq!(tasks["x"], 1, "the server's own entries stay");
        let mut old = json!({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{}}});
        assert!(!offer_tasks(&mut old));
        assert!(old["result"]["capabilities"].get("tasks").is_none());
        let mut error = json!({"jsonrpc":"2.0","id":0,"error":{"code":1,"message":"m"}});
        assert!(!offer_tasks(&mut error));
    }

    #[test]
    fn listed_tools_become_optional_tasks_unless_required() {
        let mut v = json!({"jsonrpc":"2.0","id":2,"result":{"tools":[
            {"name":"a"},
            {"name":"b","execution":{"taskSupport":"forbidden"}},
            {"name":"c","execution":{"taskSupport":"required"}},
            "junk"]}});
        mark_tools(&mut v);
        let tools = &v["result"]["tools"];
        assert_eq!(tools[0]["execution"]["taskSupport"], "optional");
        assert_eq!(tools[1]["execution"]["taskSupport"], "optional");
        assert_eq!(tools[2]["execution"]["taskSupport"], "required");
        assert_eq!(tools[3], "junk");
    }
}
