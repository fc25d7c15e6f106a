//! What the gate needs to know about a JSON-RPC line, and the replies it writes itself.
//! Pure functions: the proxy loop in `mod.rs` decides what to do with them.

use serde_json::{json, Map, Value};

use super::jsonrpc::{self, Refused, Rpc, INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR};
use super::strict;

/// `_meta` keys of the 2026-07-28 revision (no `initialize`; every request says who it is).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// A request id as a map key: its JSON text, so the number `1` and the string `"1"` differ.
pub type IdKey = String;

pub fn id_key(id: &Value) -> IdKey {
    id.to_string()
}

/// A client→server message the gate accepted, as far as it cares.
#[derive(Debug, Clone, PartialEq)]
pub enum FromClient {
    /// A `tools/call` request: must be adjudicated before it may reach the server.
    ToolCall(ToolCall),
    /// `tasks/get`, `tasks/result`, `tasks/cancel` or `tasks/list` (see `tasks`).
    TaskOp {
        id: Value,
        method: String,
        /// `params.taskId` when it is a string.
        task_id: Option<String>,
    },
    /// `tools/list`: its answer may be marked for tasks (see `task_rpc`).
    ToolsList { id: Value },
    /// `notifications/cancelled` for one of the client's requests.
    Cancelled { request_id: Value },
    /// `initialize` (classic) or `server/discover` (2026-07-28): the answer carries the name the server claims.
    Handshake {
        id: Value,
        /// True for `initialize`: a new MCP session begins.
        new_session: bool,
        client_name: Option<String>,
        protocol_version: Option<String>,
        /// The client declared `capabilities.tasks` (revision 2025-11-25).
        client_tasks: bool,
    },
    /// Any other single JSON-RPC message: forwarded as it was parsed.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: Value,
    pub name: String,
    pub arguments: Value,
    /// The 2026-07-28 per-request protocol version, when the request carries one.
    pub protocol_version: Option<String>,
    pub client_name: Option<String>,
    /// `_meta.progressToken`: the client wants `notifications/progress` for this call.
    pub progress_token: Option<Value>,
    /// `params.task`: the client asks for a task (2025-11-25); the ttl it asks for, if any.
    pub task: Option<Option<u64>>,
}

/// A line the gate lets through: what it is, and the bytes the server gets for it (the
/// re-serialised value the gate judged, never the client's own bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub msg: FromClient,
    pub wire: Vec<u8>,
}

/// Judges one client line: it must parse strictly as exactly one JSON-RPC 2.0 message.
pub fn read_client_line(line: &[u8]) -> Result<Accepted, Refused> {
    let value = strict::parse(line).map_err(|e| Refused {
        ids: strict::recover_request_id(line).into_iter().collect(),
        code: PARSE_ERROR,
        problem: e.to_string(),
    })?;
    let msg = classify(&value)?;
    Ok(Accepted {
        msg,
        wire: strict::to_wire(&value),
    })
}

fn classify(v: &Value) -> Result<FromClient, Refused> {
    let (id, method, params) = match jsonrpc::shape(v)? {
        Rpc::Response => return Ok(FromClient::Other),
        Rpc::Notification { method, params } => (None, method, params),
        Rpc::Request { id, method, params } => (Some(id), method, params),
    };
    let meta = params.and_then(|p| p.get("_meta"));
    let meta_str = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    let meta_client = meta
        .and_then(|m| m.get(META_CLIENT_INFO))
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str);
    match (method, id) {
        ("tools/call", None) => Err(Refused {
            ids: vec![],
            code: INVALID_REQUEST,
            problem: "a tools/call without an id".into(),
        }),
        ("tools/call", Some(id)) => {
            let bad_params = |problem: &str| Refused {
                ids: vec![id.clone()],
                code: INVALID_PARAMS,
                problem: problem.into(),
            };
            let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
                return Err(bad_params("a tools/call without a tool name"));
            };
            let arguments = match params.and_then(|p| p.get("arguments")) {
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(a @ Value::Object(_)) => a.clone(),
                Some(_) => return Err(bad_params("tools/call `arguments` must be an object")),
            };
            let task = match params.and_then(|p| p.get("task")) {
                None => None,
                Some(Value::Object(t)) => match t.get("ttl") {
                    None | Some(Value::Null) => Some(None),
                    Some(ttl) => match ttl.as_u64() {
                        Some(ms) => Some(Some(ms)),
                        None => {
                            return Err(bad_params("tools/call `task.ttl` must be milliseconds"))
                        }
                    },
                },
                Some(_) => return Err(bad_params("tools/call `task` must be an object")),
            };
            Ok(FromClient::ToolCall(ToolCall {
                id: id.clone(),
                name: name.to_string(),
                arguments,
                protocol_version: meta_str(META_PROTOCOL_VERSION).map(str::to_string),
                client_name: meta_client.map(str::to_string),
                progress_token: meta
                    .and_then(|m| m.get("progressToken"))
                    .filter(|t| is_progress_token(t))
                    .cloned(),
                task,
            }))
        }
        ("notifications/cancelled", None) => {
            match params
                .and_then(|p| p.get("requestId"))
                .filter(|r| jsonrpc::is_id(r))
            {
                Some(rid) => Ok(FromClient::Cancelled {
                    request_id: rid.clone(),
                }),
                None => Ok(FromClient::Other),
            }
        }
        ("initialize" | "server/discover", Some(id)) => Ok(FromClient::Handshake {
            id: id.clone(),
            new_session: method == "initialize",
            client_name: params
                .and_then(|p| p.get("clientInfo"))
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
                .or(meta_client)
                .map(str::to_string),
            protocol_version: params
                .and_then(|p| p.get("protocolVersion"))
                .and_then(Value::as_str)
                .or(meta_str(META_PROTOCOL_VERSION))
                .map(str::to_string),
            client_tasks: params
                .and_then(|p| p.get("capabilities"))
                .and_then(|c| c.get("tasks"))
                .is_some_and(Value::is_object),
        }),
        ("tasks/get" | "tasks/result" | "tasks/cancel" | "tasks/list", Some(id)) => {
            Ok(FromClient::TaskOp {
                id: id.clone(),
                method: method.to_string(),
                task_id: params
                    .and_then(|p| p.get("taskId"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        }
        ("tools/list", Some(id)) => Ok(FromClient::ToolsList { id: id.clone() }),
        _ => Ok(FromClient::Other),
    }
}

/// For a server→client line answering one of `awaited` handshake ids: that id and the server's
/// name (`serverInfo.name` of `initialize`, or the serverInfo `_meta` stamp of `server/discover`).
pub fn handshake_answer(line: &[u8], awaited: &[IdKey]) -> Option<(IdKey, Option<String>)> {
    let msg: Value = serde_json::from_slice(trim(line)).ok()?;
    if msg.get("method").is_some() {
        return None; // a server→client request, its own id space
    }
    let key = id_key(msg.get("id")?);
    if !awaited.contains(&key) {
        return None;
    }
    let result = msg.get("result");
    let name = result
        .and_then(|r| r.get("serverInfo"))
        .or_else(|| {
            result
                .and_then(|r| r.get("_meta"))
                .and_then(|m| m.get(META_SERVER_INFO))
        })
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some((key, name))
}

/// Longest progress token the gate echoes back (the gate repeats it every few seconds).
const MAX_PROGRESS_TOKEN_LEN: usize = 256;

/// A progress token is a string or an integer (MCP); an oversized one gets no progress.
fn is_progress_token(t: &Value) -> bool {
    match t {
        Value::String(s) => s.len() <= MAX_PROGRESS_TOKEN_LEN,
        _ => jsonrpc::is_id(t),
    }
}

/// The reply for a call gavel refused: a tool result with `isError`, so the model reads why.
pub fn denied_reply(id: &Value, reason: &str, modern: bool) -> Vec<u8> {
    let result = denied_result(reason, modern);
    let mut line = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
    line.push('\n');
    line.into_bytes()
}

/// The tool result for a call gavel refused.
pub fn denied_result(reason: &str, modern: bool) -> Value {
    let mut result = json!({
        "content": [{"type": "text", "text": format!("Denied by gavel: {reason}")}],
        "isError": true,
    });
    if modern {
        // Required on the 2026-07-28 wire, ignored by older peers.
        result["resultType"] = json!("complete");
    }
    result
}

pub fn qualified_tool(server: &str, tool: &str) -> String {
    format!("mcp.{server}.{tool}")
}

/// What a gate knows about a call besides the call itself.
pub struct Known<'a> {
    /// `<server>` of `mcp.<server>.<tool>`.
    pub server: &'a str,
    /// The gavel session of the MCP session the call came in.
    pub session: String,
    pub on_behalf_of: Option<String>,
    pub protocol_version: Option<String>,
    pub client_name: Option<String>,
    /// `streamable-http` for the HTTP gate; none for stdio.
    pub transport: Option<&'static str>,
}

/// The gavel action for a call: `mcp.<server>.<tool>`, the call's arguments, the session, and
/// what is known about server and client as context (visible to CEL, never to the digest).
pub fn action_for(call: &ToolCall, known: Known<'_>) -> crate::protocol::ActionRequest {
    let mut context = Map::new();
    context.insert("adapter".into(), json!("mcp-gate"));
    if let Some(t) = known.transport {
        context.insert("mcp_transport".into(), json!(t));
    }
    context.insert("mcp_server".into(), json!(known.server));
    context.insert("mcp_tool".into(), json!(call.name));
    if let Some(p) = known.protocol_version {
        context.insert("protocol_version".into(), json!(p));
    }
    if let Some(c) = known.client_name {
        context.insert("mcp_client".into(), json!(c));
    }
    crate::protocol::ActionRequest {
        tool: qualified_tool(known.server, &call.name),
        args: call.arguments.clone(),
        session: known.session,
        on_behalf_of: known.on_behalf_of,
        rationale: None,
        cost: None,
        parent: None,
        context: Value::Object(context),
    }
}

fn trim(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(line: &[u8]) -> FromClient {
        match read_client_line(line) {
            Ok(a) => a.msg,
            Err(r) => panic!("refused {}: {r:?}", String::from_utf8_lossy(line)),
        }
    }

    fn refused(line: &[u8]) -> Refused {
        match read_client_line(line) {
            Err(r) => r,
            Ok(a) => panic!("accepted {}: {a:?}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn tool_calls_with_number_and_string_ids() {
        let FromClient::ToolCall(c) = accepted(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#,
        ) else {
            panic!("not a tool call")
        };
        assert_eq!((c.id, c.name.as_str()), (json!(7), "echo"));
        assert_eq!(c.arguments, json!({"message":"hi"}));
        let FromClient::ToolCall(c) = accepted(
            b"{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}\r\n",
        ) else {
            panic!("not a tool call")
        };
        assert_eq!(c.id, json!("abc"));
        assert_eq!(c.arguments, json!({}));
        assert_eq!(c.progress_token, None);
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
    }

    #[test]
    fn what_the_server_gets_is_what_was_judged() {
        // Escaped spellings decode before judging, and the server gets the decoded form.
        let line = br#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"append\u005fnote","arguments":{"n":1.50}}}"#;
        let a = read_client_line(line).unwrap();
        let FromClient::ToolCall(c) = &a.msg else {
            panic!("not a tool call: {a:?}")
        };
        assert_eq!(c.name, "append_note");
        assert_eq!(
            String::from_utf8(a.wire).unwrap(),
            "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"arguments\":{\"n\":1.5},\"name\":\"append_note\"}}\n"
        );
    }

    #[test]
    fn progress_tokens_are_strings_or_integers_of_bounded_size() {
        let call = |token: &str| {
            let line = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","_meta":{{"progressToken":{token}}}}}}}"#
            );
            match accepted(line.as_bytes()) {
                FromClient::ToolCall(c) => c.progress_token,
                other => panic!("not a tool call: {other:?}"),
            }
        };
        assert_eq!(call("7"), Some(json!(7)));
        assert_eq!(call(r#""p-1""#), Some(json!("p-1")));
        for bad in ["true", "null", "1.5", "[1]", "{}"] {
            assert_eq!(call(bad), None, "{bad}");
        }
        let long = format!("\"{}\"", "a".repeat(MAX_PROGRESS_TOKEN_LEN + 1));
        assert_eq!(call(&long), None);
    }

    #[test]
    fn a_task_request_is_an_object_with_an_optional_ttl_in_milliseconds() {
        let call = |task: &str| {
            let line = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","task":{task}}}}}"#
            );
            read_client_line(line.as_bytes()).map(|a| match a.msg {
                FromClient::ToolCall(c) => c.task,
                other => panic!("not a tool call: {other:?}"),
            })
        };
        assert_eq!(call("{}").unwrap(), Some(None));
        assert_eq!(call(r#"{"ttl":60000}"#).unwrap(), Some(Some(60000)));
        for bad in [
            "5",
            "[]",
            r#"{"ttl":-1}"#,
            r#"{"ttl":"1"}"#,
            r#"{"ttl":1.5}"#,
        ] {
            let refused = call(bad).expect_err(bad);
            assert_eq!(
                (refused.ids, refused.code),
                (vec![json!(1)], INVALID_PARAMS),
                "{bad}"
            );
        }
        assert!(matches!(
            accepted(br#"{"jsonrpc":"2.0","id":2,"method":"tasks/get","params":{"taskId":"t"}}"#),
            FromClient::TaskOp { task_id: Some(t), .. } if t == "t"
        ));
    }

    #[test]
    fn modern_requests_carry_version_and_client_in_meta() {
        let line = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"py","version":"1"}}}}"#;
        let FromClient::ToolCall(c) = accepted(line) else {
            panic!("not a tool call")
        };
        assert_eq!(c.protocol_version.as_deref(), Some("2026-07-28"));
        assert_eq!(c.client_name.as_deref(), Some("py"));
        let FromClient::Handshake {
            new_session,
            protocol_version,
            ..
        } = accepted(
            br#"{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        )
        else {
            panic!("not a handshake")
        };
        assert!(!new_session);
        assert_eq!(protocol_version.as_deref(), Some("2026-07-28"));
    }

    #[test]
    fn calls_that_cannot_be_judged_are_refused_with_the_id_when_known() {
        let r = refused(br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#);
        assert_eq!((r.ids, r.code), (vec![], INVALID_REQUEST));
        let r = refused(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}"#);
        assert_eq!((r.ids, r.code), (vec![json!(3)], INVALID_PARAMS));
        let r = refused(
            br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#,
        );
        assert_eq!((r.ids, r.code), (vec![json!(3)], INVALID_PARAMS));
        let r = refused(
            br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","x":NaN}}"#,
        );
        assert_eq!((r.ids, r.code), (vec![json!(4)], PARSE_ERROR));
    }

    #[test]
    fn everything_else_passes() {
        for line in [
            &b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/list\"}"[..],
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/list\",\"params\":null}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
            b"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"m\"}}",
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{}}",
        ] {
            assert_eq!(accepted(line), FromClient::Other, "{line:?}");
        }
        assert_eq!(
            accepted(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r1","reason":"x"}}"#),
            FromClient::Cancelled { request_id: json!("r1") }
        );
    }

    #[test]
    fn handshake_answers_name_the_server() {
        let awaited = vec![id_key(&json!(0))];
        let init = br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"mcp-servers/everything","version":"2"},"capabilities":{}}}"#;
        assert_eq!(
            handshake_answer(init, &awaited),
            Some(("0".to_string(), Some("mcp-servers/everything".to_string())))
        );
        let discover = br#"{"jsonrpc":"2.0","id":0,"result":{"supportedVersions":["2026-07-28"],"capabilities":{},"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"notes","version":"1"}}}}"#;
        assert_eq!(
            handshake_answer(discover, &awaited).and_then(|a| a.1),
            Some("notes".to_string())
        );
        // A server→client request that happens to reuse the id is not the answer.
        let request = br#"{"jsonrpc":"2.0","id":0,"method":"roots/list"}"#;
        assert_eq!(handshake_answer(request, &awaited), None);
        assert_eq!(handshake_answer(init, &[]), None);
        assert_eq!(handshake_answer(b"garbage", &awaited), None);
    }

    #[test]
    fn replies_answer_the_same_id() {
        let v: Value =
            serde_json::from_slice(&denied_reply(&json!("q-9"), "rule r: no", false)).unwrap();
        assert_eq!(
            v,
            json!({"jsonrpc":"2.0","id":"q-9","result":{"content":[{"type":"text","text":"Denied by gavel: rule r: no"}],"isError":true}})
        );
        let v: Value = serde_json::from_slice(&denied_reply(&json!(4), "x", true)).unwrap();
        assert_eq!(v["result"]["resultType"], "complete");
        assert_eq!(v["id"], json!(4));
        let v: Value =
            serde_json::from_slice(&jsonrpc::error_reply(&json!(5), PARSE_ERROR, "bad")).unwrap();
        assert_eq!(v["id"], json!(5));
        assert_eq!(v["error"]["code"], json!(-32700));
        assert!(v.get("result").is_none());
    }

    #[test]
    fn tool_names_are_qualified_by_server() {
        assert_eq!(qualified_tool("everything", "echo"), "mcp.everything.echo");
    }
}
