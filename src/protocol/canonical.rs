//! RFC 8785 (JCS) canonical JSON and the action digest that approvers sign.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// A value that has no RFC 8785 form (a non-finite number, a map with non-string or duplicate
/// keys). Nothing is ever hashed or signed in its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot be written as canonical JSON: {0}")]
pub struct CanonicalError(pub String);

/// Canonical bytes of any serialisable value (RFC 8785: sorted keys, no insignificant whitespace,
/// ECMAScript number formatting).
pub fn canonical_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    serde_json_canonicalizer::to_vec(&value).map_err(|e| CanonicalError(e.to_string()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hash_hex(&Sha256::digest(bytes).into())
}

/// A 32-byte hash as 64 lowercase hex digits, written into a fixed buffer: `hex::encode` goes
/// a char at a time, a measurable part of `gavel audit verify`, which does this for every record.
pub fn hash_hex(hash: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    hex::encode_to_slice(hash, &mut out).expect("64 hex digits for 32 bytes");
    String::from_utf8(out.to_vec()).expect("hex digits are ASCII")
}

/// Exactly what an approval covers. Changing any field changes the digest, so an approval can
/// never be applied to a different action.
#[derive(Debug, Clone, Serialize)]
pub struct DigestInput<'a> {
    pub agent: &'a str,
    pub tool: &'a str,
    pub args: &'a Value,
    pub session: &'a str,
    pub on_behalf_of: Option<&'a str>,
    pub policy_version: &'a str,
}

/// `sha256:<hex>` over the canonical JSON of the action.
pub fn action_digest(input: &DigestInput<'_>) -> Result<String, CanonicalError> {
    Ok(format!("sha256:{}", sha256_hex(&canonical_bytes(input)?)))
}

/// The first 12 hex digits of a digest, for people to compare by eye.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_and_normalises_numbers() {
        let v = json!({"b": 1.0, "a": {"z": [1, 2e3], "y": "é"}});
        assert_eq!(
            String::from_utf8(canonical_bytes(&v).unwrap()).unwrap(),
            r#"{"a":{"y":"é","z":[1,2000]},"b":1}"#
        );
    }

    #[test]
    fn what_has_no_canonical_form_is_an_error_never_empty_bytes() {
        let mut keyed = std::collections::HashMap::new();
        keyed.insert((1, 2), "a tuple key");
        let e = canonical_bytes(&keyed).unwrap_err();
        assert!(e.to_string().contains("canonical JSON"), "{e}");
        #[derive(Serialize)]
        struct Twice {
            amount: u32,
            #[serde(flatten)]
            rest: std::collections::BTreeMap<String, u32>,
        }
        let twice = Twice {
            amount: 1,
            rest: [("amount".to_string(), 2)].into(),
        };
        assert!(canonical_bytes(&twice).is_err(), "a duplicate key");
    }

    #[test]
    fn digest_changes_with_every_field() {
        let args = json!({"amount": 1500.0});
        let other_args = json!({"amount": 1500.01});
        let base = DigestInput {
            agent: "refund-bot",
            tool: "stripe.refund",
            args: &args,
            session: "s-1",
            on_behalf_of: Some("bob"),
            policy_version: "p1",
        };
        let d = action_digest(&base).unwrap();
        assert!(d.starts_with("sha256:") && d.len() == 7 + 64);
        let variants = [
            DigestInput {
                agent: "other",
                ..base.clone()
            },
            DigestInput {
                tool: "stripe.charge",
                ..base.clone()
            },
            DigestInput {
                args: &other_args,
                ..base.clone()
            },
            DigestInput {
                session: "s-2",
                ..base.clone()
            },
            DigestInput {
                on_behalf_of: None,
                ..base.clone()
            },
            DigestInput {
                policy_version: "p2",
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(action_digest(&v).unwrap(), d, "{v:?}");
        }
        // Key order in args does not matter: canonical form.
        let reordered: Value = serde_json::from_str(r#"{"amount":1500.0}"#).unwrap();
        assert_eq!(
            action_digest(&DigestInput {
                args: &reordered,
                ..base
            })
            .unwrap(),
            d
        );
    }
}
