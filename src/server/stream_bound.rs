//! Bounds on what the stream carries, so no agent payload can break a console: large
//! agent-supplied values are left out (and listed in `elided`), a large snapshot is sent in
//! parts, and no message is ever sent over `MAX_STREAM_MESSAGE_BYTES`.

use std::io;

use serde::Serialize;
use serde_json::Value;

use crate::protocol::{
    elided_placeholder, Elided, Escalation, FlaggedAction, ServerMessage, Snapshot,
    MAX_STREAM_MESSAGE_BYTES, STREAM_INLINE_VALUE_BYTES,
};

/// Counts the bytes of a serialisation without keeping them.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The length of `v`'s compact JSON, as it appears inside a message.
fn json_len<T: Serialize + ?Sized>(v: &T) -> usize {
    let mut c = Counter(0);
    // Our types and JSON values always serialise (string keys, finite numbers) and the counter
    // never fails; if that ever changed, the value counts as too large to carry.
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => usize::MAX,
    }
}

fn elide(v: &mut Value, field: String, out: &mut Vec<Elided>) {
    let bytes = json_len(v);
    if bytes > STREAM_INLINE_VALUE_BYTES {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        *v = Value::String(elided_placeholder(bytes));
        out.push(Elided { field, bytes });
    }
}

/// Leaves out the arguments, context and earlier calls' arguments that are too large to carry.
pub fn bound_escalation(e: &mut Escalation) {
    elide(&mut e.action.args, "action.args".into(), &mut e.elided);
    elide(
        &mut e.action.context,
        "action.context".into(),
        &mut e.elided,
    );
    for (i, p) in e.history.iter_mut().enumerate() {
        elide(&mut p.args, format!("history.{i}.args"), &mut e.elided);
    }
}

pub fn bound_flagged(f: &mut FlaggedAction) {
    elide(&mut f.action.args, "action.args".into(), &mut f.elided);
    elide(
        &mut f.action.context,
        "action.context".into(),
        &mut f.elided,
    );
}

/// Bounds a live event in place.
pub fn bound_message(msg: &mut ServerMessage) {
    match msg {
        ServerMessage::EscalationCreated { escalation }
        | ServerMessage::EscalationUpdated { escalation }
        | ServerMessage::EscalationResolved { escalation } => bound_escalation(escalation),
        ServerMessage::Flagged { flagged } | ServerMessage::FlagReviewed { flagged } => {
            bound_flagged(flagged)
        }
        ServerMessage::Snapshot(s) => {
            for e in s.escalations.iter_mut().chain(s.history.iter_mut()) {
                bound_escalation(e);
            }
            for f in &mut s.flagged {
                bound_flagged(f);
            }
        }
        ServerMessage::Challenge { .. }
        | ServerMessage::Welcome { .. }
        | ServerMessage::KillSwitchChanged { .. }
        | ServerMessage::Action { .. }
        | ServerMessage::GrantChanged { .. }
        | ServerMessage::Pong => {}
    }
}

/// The message's text, or `None` (logged) if it would break the bound: never sent.
pub fn encode(msg: &ServerMessage) -> Option<String> {
    match serde_json::to_string(msg) {
        Ok(text) if text.len() <= MAX_STREAM_MESSAGE_BYTES => Some(text),
        Ok(text) => {
            tracing::error!(
                bytes = text.len(),
                limit = MAX_STREAM_MESSAGE_BYTES,
                "a stream message over the bound was not sent"
            );
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "a stream message could not be encoded");
            None
        }
    }
}

fn empty_part() -> Snapshot {
    Snapshot::whole(
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    )
}

/// Room for items in one part: the bound less the largest possible empty part.
fn part_budget() -> usize {
    let mut envelope = empty_part();
    envelope.part = u32::MAX;
    envelope.parts = u32::MAX;
    MAX_STREAM_MESSAGE_BYTES.saturating_sub(json_len(&ServerMessage::Snapshot(Box::new(envelope))))
}

/// Appends `items` to the parts, opening a new part when the current one is full.
fn pack<T: Serialize>(
    items: Vec<T>,
    parts: &mut Vec<Snapshot>,
    room: &mut usize,
    budget: usize,
    list: fn(&mut Snapshot) -> &mut Vec<T>,
    what: &str,
) {
    for item in items {
        let size = json_len(&item).saturating_add(1); // and the comma before it
        if size > budget {
            // Unreachable under the input limits once large values are elided; never sent.
            tracing::error!(
                bytes = size,
                what,
                "a snapshot item over the bound was left out"
            );
            continue;
        }
        if size > *room || parts.is_empty() {
            parts.push(empty_part());
            *room = budget;
        }
        *room -= size;
        let last = parts.len() - 1;
        list(&mut parts[last]).push(item);
    }
}

/// The snapshot as the texts of its parts, in order, each within the bound.
pub fn snapshot_parts(mut snap: Snapshot) -> Vec<String> {
    for e in snap.escalations.iter_mut().chain(snap.history.iter_mut()) {
        bound_escalation(e);
    }
    for f in &mut snap.flagged {
        bound_flagged(f);
    }
    let budget = part_budget();
    let mut parts = vec![empty_part()];
    let mut room = budget;
    let Snapshot {
        escalations,
        flagged,
        killswitches,
        history,
        agents,
        activity,
        grants,
        ..
    } = snap;
    let r = &mut room;
    pack(
        escalations,
        &mut parts,
        r,
        budget,
        |s| &mut s.escalations,
        "escalation",
    );
    pack(
        history,
        &mut parts,
        r,
        budget,
        |s| &mut s.history,
        "history",
    );
    pack(
        flagged,
        &mut parts,
        r,
        budget,
        |s| &mut s.flagged,
        "flagged",
    );
    pack(
        killswitches,
        &mut parts,
        r,
        budget,
        |s| &mut s.killswitches,
        "killswitch",
    );
    pack(agents, &mut parts, r, budget, |s| &mut s.agents, "agent");
    pack(
        activity,
        &mut parts,
        r,
        budget,
        |s| &mut s.activity,
        "activity",
    );
    pack(grants, &mut parts, r, budget, |s| &mut s.grants, "grant");
    let n = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    parts
        .into_iter()
        .zip(1..=n)
        .filter_map(|(mut p, i)| {
            p.part = i;
            p.parts = n;
            encode(&ServerMessage::Snapshot(Box::new(p)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_one_every_websocket_client_accepts() {
        // tungstenite's defaults, which the console uses: 16 MiB frames, 64 MiB messages.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
        assert!(config
            .max_frame_size
            .is_some_and(|m| MAX_STREAM_MESSAGE_BYTES * 8 <= m));
        assert!(config
            .max_message_size
            .is_some_and(|m| MAX_STREAM_MESSAGE_BYTES * 8 <= m));
    }

    #[test]
    fn small_values_stay_and_large_ones_are_listed() {
        let mut v = serde_json::json!({"a": 1});
        let mut out = Vec::new();
        elide(&mut v, "action.args".into(), &mut out);
        assert!(out.is_empty() && v["a"] == 1);
        let mut v = serde_json::json!({"blob": "x".repeat(STREAM_INLINE_VALUE_BYTES)});
        let size = json_len(&v) as u64;
        elide(&mut v, "action.args".into(), &mut out);
        assert_eq!(
            out,
            vec![Elided {
                field: "action.args".into(),
                bytes: size
            }]
        );
        assert_eq!(v, Value::String(format!("<elided: {size} bytes>")));
    }
}
