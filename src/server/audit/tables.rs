//! Compares the state tables with the state the log implies; the first difference is named,
//! in this order: escalations (state, decisions, hand-overs), kill switches, flagged actions and
//! their reviews, used signatures, actions and their effect, idempotency keys.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::replay::{Implied, ImpliedDecision, ImpliedReview};
use crate::protocol::{Escalation, FlaggedAction, KillSwitch};

type Check = Result<(), String>;

fn sql(e: rusqlite::Error) -> String {
    format!("cannot read the tables: {e}")
}

fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} cannot be read: {e}"))
}

fn same_time(a: &str, b: &str) -> bool {
    match (a.parse::<DateTime<Utc>>(), b.parse::<DateTime<Utc>>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn short(signature: &str) -> &str {
    &signature[..signature.len().min(16)]
}

pub(super) fn compare(conn: &Connection, implied: &Implied) -> Check {
    escalations(conn, implied)?;
    killswitches(conn, implied)?;
    flagged(conn, implied)?;
    used_signatures(conn, implied)?;
    super::action_table::actions(conn, implied)?;
    super::grant_table::grants(conn, implied)?;
    super::key_table::idempotency_keys(conn, implied)
}

fn escalations(conn: &Connection, implied: &Implied) -> Check {
    let mut stmt = conn
        .prepare("SELECT id, action, state, body, resolved_at FROM escalations ORDER BY id")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut seen = 0usize;
    while let Some(row) = rows.next().map_err(sql)? {
        let id: String = row.get(0).map_err(sql)?;
        let action: String = row.get(1).map_err(sql)?;
        let state: String = row.get(2).map_err(sql)?;
        let body: String = row.get(3).map_err(sql)?;
        let resolved_at: Option<String> = row.get(4).map_err(sql)?;
        let Some(log) = implied.escalations.get(&id) else {
            return Err(format!(
                "escalation {id} is in the table but the log never created it"
            ));
        };
        seen += 1;
        let differs = |what: &str, table: &dyn std::fmt::Display, log: &dyn std::fmt::Display| {
            Err(format!(
                "escalation {id} has {what} {table} in the table but the log says {log}"
            ))
        };
        if action != log.action {
            return differs("action", &action, &log.action);
        }
        if state != log.state {
            return Err(format!(
                "escalation {id} is {state} in the table but the log says {}",
                log.state
            ));
        }
        if resolved_at.is_some() != (state != "pending") {
            return Err(format!(
                "escalation {id} is {state} but its resolution time says otherwise"
            ));
        }
        if state == "unreadable" {
            continue; // The log records that its body could not be read; it was denied.
        }
        let esc: Escalation = parse(&format!("escalation {id}'s stored body"), &body)?;
        // The state column names a state as the protocol spells it.
        let body_state = match to_json(&esc.state)? {
            Value::String(name) => name,
            other => return Err(format!("escalation {id}'s state {other} is not a name")),
        };
        if esc.id != id || esc.action.id != log.action {
            return differs(
                "a body for",
                &format!("{}/{}", esc.id, esc.action.id),
                &log.action,
            );
        }
        if body_state != log.state {
            return Err(format!(
                "escalation {id} is {body_state} in its stored body but the log says {}",
                log.state
            ));
        }
        if esc.digest != log.digest {
            return differs("digest", &esc.digest, &log.digest);
        }
        if esc.group != log.group {
            return differs("group", &esc.group, &log.group);
        }
        if u64::from(esc.approvals_required) != log.approvals_required {
            return differs(
                "approvals required",
                &esc.approvals_required,
                &log.approvals_required,
            );
        }
        let deadline = esc.deadline.to_rfc3339();
        if !same_time(&deadline, &log.deadline) {
            return differs("deadline", &deadline, &log.deadline);
        }
        if esc.handed_over != log.handed_over {
            return differs("handed_over", &esc.handed_over, &log.handed_over);
        }
        if esc.handling.extended_secs != log.extended_secs {
            return differs(
                "extended_secs",
                &esc.handling.extended_secs,
                &log.extended_secs,
            );
        }
        decisions(&id, &esc, &log.decisions)?;
    }
    if seen < implied.escalations.len() {
        if let Some(missing) = first_missing(conn, "escalations", "id", implied.escalations.keys())?
        {
            return Err(format!(
                "escalation {missing} is in the log but not in the table"
            ));
        }
    }
    Ok(())
}

fn decisions(id: &str, esc: &Escalation, log: &[ImpliedDecision]) -> Check {
    for (i, d) in esc.decisions.iter().enumerate() {
        let table = ImpliedDecision {
            approver: d.body.approver.clone(),
            verdict: serde_json::to_value(d.body.verdict).map_err(|e| e.to_string())?,
            reason: d.body.reason.clone(),
            digest: d.body.digest.clone(),
            issued_at: d.body.issued_at.clone(),
            signature: d.signature.clone(),
        };
        match log.get(i) {
            None => {
                return Err(format!(
                    "escalation {id} has a decision by {} ({}) in the table that the log does not record",
                    table.approver, table.verdict
                ))
            }
            Some(l) if *l != table => {
                return Err(format!(
                    "escalation {id}'s decision {} is by {} ({}) in the table but the log says by {} ({})",
                    i + 1,
                    table.approver,
                    table.verdict,
                    l.approver,
                    l.verdict
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(l) = log.get(esc.decisions.len()) {
        return Err(format!(
            "escalation {id} lacks the decision by {} ({}) that the log records",
            l.approver, l.verdict
        ));
    }
    Ok(())
}

fn killswitches(conn: &Connection, implied: &Implied) -> Check {
    let mut stmt = conn
        .prepare("SELECT scope, body FROM killswitches ORDER BY scope")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut seen = 0usize;
    while let Some(row) = rows.next().map_err(sql)? {
        let scope: String = row.get(0).map_err(sql)?;
        let body: String = row.get(1).map_err(sql)?;
        let Some(log) = implied.killswitches.get(&scope) else {
            return Err(format!(
                "kill switch {scope} is in the table but the log never flipped it"
            ));
        };
        seen += 1;
        let k: KillSwitch = parse(&format!("kill switch {scope}'s stored body"), &body)?;
        let onoff = |on: bool| if on { "on" } else { "off" };
        if k.scope != scope {
            return Err(format!(
                "kill switch {scope}'s stored body is for {}",
                k.scope
            ));
        }
        if k.on != log.on {
            return Err(format!(
                "kill switch {scope} is {} in the table but the log says {}",
                onoff(k.on),
                onoff(log.on)
            ));
        }
        if k.by != log.by || k.reason != log.reason {
            return Err(format!(
                "kill switch {scope} was flipped by {} ({:?}) in the table but the log says by {} ({:?})",
                k.by, k.reason, log.by, log.reason
            ));
        }
    }
    if seen < implied.killswitches.len() {
        if let Some(m) = first_missing(conn, "killswitches", "scope", implied.killswitches.keys())?
        {
            return Err(format!(
                "kill switch {m} is in the log but not in the table"
            ));
        }
    }
    Ok(())
}

fn flagged(conn: &Connection, implied: &Implied) -> Check {
    let mut stmt = conn
        .prepare("SELECT action, reviewed, body FROM flagged ORDER BY action")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut seen = 0usize;
    while let Some(row) = rows.next().map_err(sql)? {
        let action: String = row.get(0).map_err(sql)?;
        let reviewed: i64 = row.get(1).map_err(sql)?;
        let body: String = row.get(2).map_err(sql)?;
        let Some(log) = implied.flagged.get(&action) else {
            return Err(format!(
                "flagged action {action} is in the table but the log never flagged it"
            ));
        };
        seen += 1;
        let f: FlaggedAction = parse(&format!("flagged action {action}'s stored body"), &body)?;
        if f.action.id != action {
            return Err(format!(
                "flagged action {action}'s stored body is for {}",
                f.action.id
            ));
        }
        let table = match &f.review {
            None => None,
            Some(r) => Some(ImpliedReview {
                reviewer: r.body.reviewer.clone(),
                review: serde_json::to_value(r.body.review).map_err(|e| e.to_string())?,
                note: r.body.note.clone(),
                signature: r.signature.clone(),
            }),
        };
        match (reviewed != 0, &table, log) {
            (false, None, None) => {}
            (true, Some(t), Some(l)) if t == l => {}
            (_, _, None) => {
                return Err(format!(
                    "flagged action {action} is reviewed in the table but the log records no review of it"
                ))
            }
            (_, _, Some(l)) => {
                return Err(format!(
                    "flagged action {action}'s review differs from the log's: the log says {} by {}",
                    l.review, l.reviewer
                ))
            }
        }
    }
    if seen < implied.flagged.len() {
        if let Some(m) = first_missing(conn, "flagged", "action", implied.flagged.keys())? {
            return Err(format!(
                "flagged action {m} is in the log but not in the table"
            ));
        }
    }
    Ok(())
}

fn used_signatures(conn: &Connection, implied: &Implied) -> Check {
    let mut stmt = conn
        .prepare("SELECT signature FROM used_signatures ORDER BY signature")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut seen = 0usize;
    while let Some(row) = rows.next().map_err(sql)? {
        let signature: String = row.get(0).map_err(sql)?;
        if !implied.used_signatures.contains_key(&signature) {
            return Err(format!(
                "used signature {}… is in the table but the log never used it",
                short(&signature)
            ));
        }
        seen += 1;
    }
    if seen < implied.used_signatures.len() {
        let keys = implied.used_signatures.keys();
        if let Some(m) = first_missing(conn, "used_signatures", "signature", keys)? {
            return Err(format!(
                "the log used signature {}… (record {}) but the table lacks it, so it could be replayed",
                short(&m),
                implied.used_signatures[&m]
            ));
        }
    }
    Ok(())
}

/// The first key the log knows that the table lacks.
fn first_missing<'a>(
    conn: &Connection,
    table: &str,
    column: &str,
    keys: impl Iterator<Item = &'a String>,
) -> Result<Option<String>, String> {
    let mut stmt = conn
        .prepare(&format!("SELECT 1 FROM {table} WHERE {column} = ?1"))
        .map_err(sql)?;
    for key in keys {
        if !stmt.exists([key]).map_err(sql)? {
            return Ok(Some(key.clone()));
        }
    }
    Ok(None)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}
