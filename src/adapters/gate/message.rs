//! What the gate needs to know about a JSON-RPC line, and the replies it writes itself.
//! Pure functions: the proxy loop in `mod.rs` decides what to do with them.

use serde_json::{json, Map, Value};

/// `_meta` keys of the 2026-07-28 revision (no `initialize`; every request says who it is).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// A request id as a map key: its JSON text, so the number `1` and the string `"1"` differ.
pub type IdKey = String;

pub fn id_key(id: &Value) -> IdKey {
    id.to_string()
}

/// A client→server message, as far as the gate cares.
#[derive(Debug, Clone, PartialEq)]
pub enum FromClient {
    /// A `tools/call` request: must be adjudicated before it may reach the server.
    ToolCall(ToolCall),
    /// A `tools/call` that cannot be adjudicated (no id, no tool name): never forwarded.
    BadToolCall { id: Option<Value>, problem: String },
    /// `notifications/cancelled` for one of the client's requests.
    Cancelled { request_id: Value },
    /// `initialize` (classic) or `server/discover` (2026-07-28): the answer names the server.
    Handshake {
        id: Value,
        /// True for `initialize`: a new MCP session begins.
        new_session: bool,
        client_name: Option<String>,
        protocol_version: Option<String>,
    },
    /// A JSON-RPC batch holding calls or cancellations: split and handled one by one.
    Batch(Vec<Value>),
    /// Anything else, malformed lines included: forwarded byte for byte.
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
}

pub fn classify(line: &[u8]) -> FromClient {
    match serde_json::from_slice::<Value>(trim(line)) {
        Ok(Value::Array(items)) => {
            let gated = items.iter().any(|m| {
                matches!(
                    classify_value(m),
                    FromClient::ToolCall(_)
                        | FromClient::BadToolCall { .. }
                        | FromClient::Cancelled { .. }
                )
            });
            if gated {
                FromClient::Batch(items)
            } else {
                FromClient::Other
            }
        }
        Ok(v) => classify_value(&v),
        Err(_) => FromClient::Other,
    }
}

pub fn classify_value(msg: &Value) -> FromClient {
    let Some(method) = msg.get("method").and_then(Value::as_str) else {
        return FromClient::Other;
    };
    let id = msg.get("id").filter(|id| !id.is_null()).cloned();
    let params = msg.get("params");
    let meta = params.and_then(|p| p.get("_meta"));
    let meta_str = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    let meta_client = meta
        .and_then(|m| m.get(META_CLIENT_INFO))
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str);
    match method {
        "tools/call" => {
            let Some(id) = id else {
                return FromClient::BadToolCall {
                    id: None,
                    problem: "tools/call without an id".into(),
                };
            };
            let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
                return FromClient::BadToolCall {
                    id: Some(id),
                    problem: "tools/call without a tool name".into(),
                };
            };
            let arguments = match params.and_then(|p| p.get("arguments")) {
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(a) => a.clone(),
            };
            FromClient::ToolCall(ToolCall {
                id,
                name: name.to_string(),
                arguments,
                protocol_version: meta_str(META_PROTOCOL_VERSION).map(str::to_string),
                client_name: meta_client.map(str::to_string),
            })
        }
        "notifications/cancelled" => match params.and_then(|p| p.get("requestId")) {
            Some(rid) if !rid.is_null() => FromClient::Cancelled {
                request_id: rid.clone(),
            },
            _ => FromClient::Other,
        },
        "initialize" | "server/discover" => match id {
            Some(id) => FromClient::Handshake {
                id,
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
            },
            None => FromClient::Other,
        },
        _ => FromClient::Other,
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

/// The reply for a call gavel refused: a tool result with `isError`, so the model reads why.
pub fn denied_reply(id: &Value, reason: &str, modern: bool) -> Vec<u8> {
    let mut result = json!({
        "content": [{"type": "text", "text": format!("Denied by gavel: {reason}")}],
        "isError": true,
    });
    if modern {
        // Required on the 2026-07-28 wire, ignored by older peers.
        result["resultType"] = json!("complete");
    }
    let mut line = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
    line.push('\n');
    line.into_bytes()
}

/// A message of a split batch as its own line.
pub fn to_line(msg: &Value) -> Vec<u8> {
    let mut line = msg.to_string();
    line.push('\n');
    line.into_bytes()
}

/// The server part of `mcp.<server>.<tool>`: letters, digits, `-` and `_` only, lower case, so
/// a name can neither add a `.` level nor smuggle glob characters into policy matching.
pub fn policy_server_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 64 {
            break;
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "unnamed".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The name when neither `--name` nor the server says one: the command's file stem.
pub fn name_from_command(command: &[String]) -> String {
    let stem = command
        .first()
        .and_then(|c| std::path::Path::new(c).file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or("");
    policy_server_name(stem)
}

pub fn qualified_tool(server: &str, tool: &str) -> String {
    format!("mcp.{server}.{tool}")
}

fn trim(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_with_number_and_string_ids() {
        let FromClient::ToolCall(c) = classify(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#,
        ) else {
            panic!("not a tool call")
        };
        assert_eq!((c.id, c.name.as_str()), (json!(7), "echo"));
        assert_eq!(c.arguments, json!({"message":"hi"}));
        let FromClient::ToolCall(c) = classify(
            b"{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}\r\n",
        ) else {
            panic!("not a tool call")
        };
        assert_eq!(c.id, json!("abc"));
        assert_eq!(c.arguments, json!({}));
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
    }

    #[test]
    fn modern_requests_carry_version_and_client_in_meta() {
        let line = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"py","version":"1"}}}}"#;
        let FromClient::ToolCall(c) = classify(line) else {
            panic!("not a tool call")
        };
        assert_eq!(c.protocol_version.as_deref(), Some("2026-07-28"));
        assert_eq!(c.client_name.as_deref(), Some("py"));
        let FromClient::Handshake {
            new_session,
            protocol_version,
            ..
        } = classify(
            br#"{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        )
        else {
            panic!("not a handshake")
        };
        assert!(!new_session);
        assert_eq!(protocol_version.as_deref(), Some("2026-07-28"));
    }

    #[test]
    fn calls_that_cannot_be_judged_are_never_plain_traffic() {
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#),
            FromClient::BadToolCall { id: None, .. }
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}"#),
            FromClient::BadToolCall { id: Some(_), .. }
        ));
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}]"#;
        assert!(matches!(classify(batch), FromClient::Batch(v) if v.len() == 2));
        let harmless = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#;
        assert_eq!(classify(harmless), FromClient::Other);
    }

    #[test]
    fn everything_else_passes() {
        for line in [
            &b"not json at all"[..],
            b"",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{}}",
            b"\xff\xfe",
        ] {
            assert_eq!(classify(line), FromClient::Other, "{line:?}");
        }
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r1","reason":"x"}}"#),
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
    fn denied_reply_answers_the_same_id() {
        let v: Value =
            serde_json::from_slice(&denied_reply(&json!("q-9"), "rule r: no", false)).unwrap();
        assert_eq!(
            v,
            json!({"jsonrpc":"2.0","id":"q-9","result":{"content":[{"type":"text","text":"Denied by gavel: rule r: no"}],"isError":true}})
        );
        let v: Value = serde_json::from_slice(&denied_reply(&json!(4), "x", true)).unwrap();
        assert_eq!(v["result"]["resultType"], "complete");
        assert_eq!(v["id"], json!(4));
    }

    #[test]
    fn server_names_cannot_add_levels_or_globs() {
        assert_eq!(
            policy_server_name("mcp-servers/everything"),
            "mcp-servers-everything"
        );
        assert_eq!(policy_server_name("Evil.*.Name"), "evil-name");
        assert_eq!(policy_server_name("..."), "unnamed");
        assert_eq!(
            name_from_command(&["/usr/bin/mcp-server-filesystem".into(), "/tmp".into()]),
            "mcp-server-filesystem"
        );
        assert_eq!(qualified_tool("everything", "echo"), "mcp.everything.echo");
    }
}
