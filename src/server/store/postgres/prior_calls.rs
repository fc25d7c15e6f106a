//! A session's last calls, read inside the write transaction that creates an escalation, so the
//! history it is created with is the session's as committed by every replica (the chain lock
//! is held). A row that cannot be read is an error naming its table and row.

use super::sql::Sql;
use crate::protocol::{ActionRecord, Effect, PriorCall, Resolution, Timestamp};
use crate::server::store::error::unreadable;
use crate::server::store::StoreError;

/// The last `n` calls of a session, oldest first, each escalated one with its escalation and,
/// once resolved, how it ended.
pub(super) fn last_calls(
    sql: &mut Sql,
    agent: &str,
    session: &str,
    n: u32,
) -> Result<Vec<PriorCall>, StoreError> {
    let rows = sql.query(
        "SELECT a.id, a.tool, a.record, a.effect, a.at, a.escalation, e.state
         FROM actions a LEFT JOIN escalations e ON e.id = a.escalation
         WHERE a.agent = $1 AND a.session = $2 ORDER BY a.seq DESC LIMIT $3",
        &[&agent, &session, &i64::from(n)],
    )?;
    let mut calls = rows
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            let (tool, record, verdict, at): (String, &str, &str, &str) =
                (r.get(1), r.get(2), r.get(3), r.get(4));
            let (escalation, state): (Option<String>, Option<&str>) = (r.get(5), r.get(6));
            let record: ActionRecord =
                serde_json::from_str(record).map_err(|e| unreadable("actions", &id, e))?;
            let resolution = match (&escalation, state) {
                (Some(esc), Some(state)) => resolution(esc, state)?,
                _ => None,
            };
            Ok(PriorCall {
                verdict: effect(&id, verdict)?,
                at: at
                    .parse::<Timestamp>()
                    .map_err(|e| unreadable("actions", &id, format!("time {at:?}: {e}")))?,
                action: id,
                tool,
                args: record.args,
                escalation,
                resolution,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    calls.reverse();
    Ok(calls)
}

fn effect(id: &str, text: &str) -> Result<Effect, StoreError> {
    match text {
        "allow" => Ok(Effect::Allow),
        "flag" => Ok(Effect::Flag),
        "review" => Ok(Effect::Review),
        "deny" => Ok(Effect::Deny),
        other => Err(unreadable(
            "actions",
            id,
            format!("unknown effect {other:?}"),
        )),
    }
}

/// How escalation `id` in state `text` ended; `None` while pending. One that could not be read
/// when a server started was denied then.
fn resolution(id: &str, text: &str) -> Result<Option<Resolution>, StoreError> {
    match text {
        "pending" => Ok(None),
        "approved" => Ok(Some(Resolution::Approved)),
        "denied" | "unreadable" => Ok(Some(Resolution::Denied)),
        "expired" => Ok(Some(Resolution::Expired)),
        "cancelled" => Ok(Some(Resolution::Cancelled)),
        other => Err(unreadable(
            "escalations",
            id,
            format!("unknown state {other:?}"),
        )),
    }
}
