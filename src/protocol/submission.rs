//! What `POST /v1/actions` carries besides the action: the `critical` fields a client needs
//! understood, and the `Idempotency-Key` header that makes resending a call safe. See
//! `docs/PROTOCOL.md`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::wire::ActionRequest;

/// The fields of `POST /v1/actions` this version understands: what `critical` may name.
pub const ACTION_FIELDS: [&str; 10] = [
    "tool",
    "args",
    "session",
    "on_behalf_of",
    "rationale",
    "cost",
    "parent",
    "context",
    "critical",
    "wait_budget_secs",
];
/// Most names a `critical` list may hold, and the longest name.
pub const MAX_CRITICAL_FIELDS: usize = 32;
pub const MAX_CRITICAL_NAME_LEN: usize = 64;

/// What the server reads from a `POST /v1/actions` body: the action, and `critical`, the
/// fields the client says must be understood (like JWS `crit`): a server that does not know one
/// refuses the call rather than run it without a meaning the client relied on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ActionSubmission {
    #[serde(flatten)]
    pub action: ActionRequest,
    /// Fields this server must understand, or refuse the call (at most 32 names of at most 64
    /// bytes). Fields not listed here that the server does not know are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 32)]
    pub critical: Vec<String>,
    /// How long the agent side will wait for this call's outcome, in seconds from when the
    /// server receives it (see [`super::wait_budget`]): approvers see when the agent gives up.
    /// Not part of the action, its digest or its idempotency fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0, maximum = 604800)]
    pub wait_budget_secs: Option<f64>,
}

/// `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) on `POST /v1/actions`: the
/// same agent, key and body within [`IDEMPOTENCY_KEY_RETENTION_SECS`] get the first call's
/// outcome instead of a new action.
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest key, in bytes (quotes excluded).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
/// How long the server remembers a key: 24 hours.
pub const IDEMPOTENCY_KEY_RETENTION_SECS: i64 = 24 * 3600;

/// Reads an `Idempotency-Key` value: a structured-field string (`"…"`) or the bare text, 1 to
/// [`MAX_IDEMPOTENCY_KEY_LEN`] bytes of visible ASCII other than `"` and `\`.
pub fn parse_idempotency_key(value: &[u8]) -> Result<&str, String> {
    let inner = match value {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    if inner.is_empty() {
        return Err("the Idempotency-Key is empty".into());
    }
    if inner.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(format!(
            "the Idempotency-Key is {} bytes; at most {MAX_IDEMPOTENCY_KEY_LEN} allowed",
            inner.len()
        ));
    }
    if let Some(bad) = inner
        .iter()
        .find(|&&b| !(0x21..=0x7e).contains(&b) || b == b'"' || b == b'\\')
    {
        return Err(format!(
            "the Idempotency-Key may hold only visible ASCII other than quote and backslash \
             (found byte 0x{bad:02x})"
        ));
    }
    // Checked above: ASCII only.
    std::str::from_utf8(inner).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_body_ignores_unknown_fields_but_not_duplicates_or_wrong_types() {
        let sub: ActionSubmission = serde_json::from_str(
            r#"{"tool":"t","session":"s","agent":"root","x_new":{"deep":[1]},"critical":["tool"]}"#,
        )
        .unwrap();
        assert_eq!(sub.action.tool, "t");
        assert_eq!(sub.critical, ["tool"]);
        assert!(!serde_json::to_string(&sub.action).unwrap().contains("root"));
        for bad in [
            r#"{"tool":"t","tool":"u","session":"s"}"#,
            r#"{"tool":"t","session":"s","critical":[],"critical":["x"]}"#,
            r#"{"tool":5,"session":"s"}"#,
            r#"{"tool":"t","session":"s","cost":"1"}"#,
            r#"{"tool":"t","session":"s","critical":"tool"}"#,
            r#"{"session":"s"}"#,
        ] {
            assert!(
                serde_json::from_str::<ActionSubmission>(bad).is_err(),
                "{bad}"
            );
        }
    }

    /// `critical` may name exactly the fields the server reads into the action.
    #[test]
    fn the_known_fields_are_the_ones_read() {
        let full = ActionSubmission {
            action: ActionRequest {
                tool: "t".into(),
                args: serde_json::json!({}),
                session: "s".into(),
                on_behalf_of: Some("p".into()),
                rationale: Some("r".into()),
                cost: Some(1.0),
                parent: Some("x".into()),
                context: serde_json::json!({}),
            },
            critical: vec!["tool".into()],
            wait_budget_secs: Some(42.0),
        };
        let value = serde_json::to_value(&full).unwrap();
        let mut written: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut known = ACTION_FIELDS.to_vec();
        written.sort_unstable();
        known.sort_unstable();
        assert_eq!(written, known);
    }

    #[test]
    fn idempotency_keys_are_short_visible_ascii() {
        assert_eq!(parse_idempotency_key(b"abc-1").unwrap(), "abc-1");
        assert_eq!(parse_idempotency_key(b"\"abc-1\"").unwrap(), "abc-1");
        let longest = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN);
        assert!(parse_idempotency_key(longest.as_bytes()).is_ok());
        for bad in [
            &b""[..],
            b"\"\"",
            b"a b",
            b"a\\b",
            b"a\"b",
            "é".as_bytes(),
            b"a\x01",
            "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1).as_bytes(),
        ] {
            assert!(parse_idempotency_key(bad).is_err(), "{bad:?}");
        }
    }
}
