//! The texts both backends store and read back the same way: JSON bodies, effects, RFC 3339
//! times, escalation states and the `Idempotency-Key` stamps. A text that cannot be read is an
//! error naming its table and row, never skipped and never replaced by a default.

use chrono::{Duration, SecondsFormat};
use serde::de::DeserializeOwned;

use super::error::unreadable;
use super::StoreError;
use crate::protocol::{Effect, Resolution, Timestamp, IDEMPOTENCY_KEY_RETENTION_SECS};

/// A JSON body.
pub fn parse<T: DeserializeOwned>(
    table: &'static str,
    row: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| unreadable(table, row, e))
}

pub fn effect(table: &'static str, row: &str, text: &str) -> Result<Effect, StoreError> {
    match text {
        "allow" => Ok(Effect::Allow),
        "flag" => Ok(Effect::Flag),
        "review" => Ok(Effect::Review),
        "deny" => Ok(Effect::Deny),
        other => Err(unreadable(table, row, format!("unknown effect {other:?}"))),
    }
}

pub fn time(table: &'static str, row: &str, text: &str) -> Result<Timestamp, StoreError> {
    text.parse()
        .map_err(|e| unreadable(table, row, format!("time {text:?}: {e}")))
}

/// How an escalation in state `text` ended; `None` while pending. One that could not be read
/// when the server started was denied then.
pub fn resolution(
    table: &'static str,
    row: &str,
    text: &str,
) -> Result<Option<Resolution>, StoreError> {
    match text {
        "pending" => Ok(None),
        "approved" => Ok(Some(Resolution::Approved)),
        "denied" | "unreadable" => Ok(Some(Resolution::Denied)),
        "expired" => Ok(Some(Resolution::Expired)),
        "cancelled" => Ok(Some(Resolution::Cancelled)),
        other => Err(unreadable(table, row, format!("unknown state {other:?}"))),
    }
}

/// An `Idempotency-Key`'s creation time as stored: fixed width, UTC, so text order is time
/// order.
pub fn key_stamp(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The oldest creation time a key may have at `now` and still count.
pub fn key_cutoff(now: Timestamp) -> String {
    key_stamp(now - Duration::seconds(IDEMPOTENCY_KEY_RETENTION_SECS))
}
