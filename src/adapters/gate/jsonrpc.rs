//! The shape of a JSON-RPC 2.0 message: exactly one request, notification or response, and
//! the errors the gate answers with when a line is none of those.

use serde_json::{json, Map, Value};

/// A line the gate refuses: never forwarded, in whole or in part.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// Request ids to answer with a JSON-RPC error; empty when none can be recovered.
    pub ids: Vec<Value>,
    pub code: i64,
    pub problem: String,
}

/// JSON-RPC 2.0 error codes.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;

/// The three shapes of a JSON-RPC 2.0 message; nothing else is one.
pub enum Rpc<'a> {
    Request {
        id: &'a Value,
        method: &'a str,
        params: Option<&'a Map<String, Value>>,
    },
    Notification {
        method: &'a str,
        params: Option<&'a Map<String, Value>>,
    },
    Response,
}

/// The id to answer when `v` looks like a request: a string or number `id` beside a `method`.
fn answerable_id(v: &Value) -> Option<Value> {
    let obj = v.as_object()?;
    obj.get("method")?;
    obj.get("id")
        .filter(|id| id.is_string() || id.is_number())
        .cloned()
}

/// Request ids are strings or integers (JSON-RPC discourages fractions; MCP forbids null).
pub fn is_id(v: &Value) -> bool {
    v.is_string() || v.is_i64() || v.is_u64()
}

pub fn shape(v: &Value) -> Result<Rpc<'_>, Refused> {
    let invalid = |problem: String| Refused {
        ids: answerable_id(v).into_iter().collect(),
        code: INVALID_REQUEST,
        problem,
    };
    let obj = match v {
        Value::Object(obj) => obj,
        Value::Array(items) => {
            return Err(Refused {
                ids: items.iter().filter_map(answerable_id).collect(),
                code: INVALID_REQUEST,
                problem: "a JSON-RPC batch: MCP has no batches (since revision 2025-06-18); \
                          send one message per line"
                    .into(),
            })
        }
        _ => return Err(invalid("not a JSON-RPC message (a JSON object)".into())),
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("`jsonrpc` must be \"2.0\"".into()));
    }
    let has = |k: &str| obj.contains_key(k);
    let (allowed, what): (&[&str], _) = match (has("method"), has("result"), has("error")) {
        (true, false, false) => (&["jsonrpc", "id", "method", "params"], "request"),
        (false, true, false) => (&["jsonrpc", "id", "result"], "response"),
        (false, false, true) => (&["jsonrpc", "id", "error"], "error response"),
        _ => {
            return Err(invalid(
                "a message has exactly one of `method`, `result` and `error`".into(),
            ))
        }
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        let k: String = k.chars().take(64).collect();
        return Err(invalid(format!("unexpected member {k:?} in a {what}")));
    }
    let id = obj.get("id");
    match what {
        "request" => {
            let Some(method) = obj.get("method").and_then(Value::as_str) else {
                return Err(invalid("`method` must be a string".into()));
            };
            let params = match obj.get("params") {
                None | Some(Value::Null) => None,
                Some(Value::Object(p)) => Some(p),
                Some(_) => return Err(invalid("`params` must be an object".into())),
            };
            match id {
                None => Ok(Rpc::Notification { method, params }),
                Some(id) if is_id(id) => Ok(Rpc::Request { id, method, params }),
                Some(_) => Err(invalid("a request id is a string or an integer".into())),
            }
        }
        "response" => match id {
            Some(id) if is_id(id) => Ok(Rpc::Response),
            _ => Err(invalid("a response id is a string or an integer".into())),
        },
        _ => {
            let error = obj.get("error").and_then(Value::as_object);
            let well_formed = error.is_some_and(|e| {
                (e.get("code").is_some_and(|c| c.is_i64() || c.is_u64()))
                    && e.get("message").is_some_and(Value::is_string)
            });
            if !well_formed {
                return Err(invalid(
                    "`error` needs an integer `code` and a `message`".into(),
                ));
            }
            match id {
                Some(id) if is_id(id) || id.is_null() => Ok(Rpc::Response),
                _ => Err(invalid(
                    "an error response id is a string, an integer or null".into(),
                )),
            }
        }
    }
}

/// The JSON-RPC error the gate answers a refused request with.
pub fn error_reply(id: &Value, code: i64, message: &str) -> Vec<u8> {
    let mut line = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": format!("gavel gate refused the message: {message}")},
    })
    .to_string();
    line.push('\n');
    line.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::message::read_client_line;
    use super::*;

    fn refused(line: &[u8]) -> Refused {
        match read_client_line(line) {
            Err(r) => r,
            Ok(a) => panic!("accepted {}: {a:?}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn batches_are_refused_whole_and_each_request_answered() {
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"x"}},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":9,"result":{}}]"#;
        let r = refused(batch);
        assert_eq!(r.code, INVALID_REQUEST);
        assert_eq!(r.ids, vec![json!(1), json!("b")]);
        assert!(r.problem.contains("batch"), "{}", r.problem);
        assert_eq!(refused(b"[]").ids, Vec::<Value>::new());
    }

    #[test]
    fn only_the_three_json_rpc_shapes_pass() {
        for (line, code, answered) in [
            (
                &br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#[..],
                INVALID_REQUEST,
                true,
            ),
            (br#"{"id":1,"method":"ping"}"#, INVALID_REQUEST, true),
            (
                br#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#,
                INVALID_REQUEST,
                true,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","result":{}}"#,
                INVALID_REQUEST,
                true,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}"#,
                INVALID_REQUEST,
                true,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":7}"#,
                INVALID_REQUEST,
                true,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#,
                INVALID_REQUEST,
                true,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                INVALID_REQUEST,
                true,
            ),
            (
                br#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
                INVALID_REQUEST,
                false,
            ),
            (
                br#"{"jsonrpc":"2.0","id":null,"method":"tools/call"}"#,
                INVALID_REQUEST,
                false,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#,
                INVALID_REQUEST,
                false,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}"#,
                INVALID_REQUEST,
                false,
            ),
            (
                br#"{"jsonrpc":"2.0","id":[1],"result":{}}"#,
                INVALID_REQUEST,
                false,
            ),
            (br#"{"jsonrpc":"2.0"}"#, INVALID_REQUEST, false),
            (br#""tools/call""#, INVALID_REQUEST, false),
            (b"not json at all", PARSE_ERROR, false),
            (b"", PARSE_ERROR, false),
            (b"\xff\xfe", PARSE_ERROR, false),
        ] {
            let r = refused(line);
            assert_eq!(r.code, code, "{}", String::from_utf8_lossy(line));
            assert_eq!(
                !r.ids.is_empty(),
                answered,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
