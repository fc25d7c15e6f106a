//! A session's last calls, read inside the write transaction that creates an escalation, so the
//! history it is created with is the session's as committed by every replica (the chain lock
//! is held). The query and the rows' reading are the reader's.

use super::reader::read::{prior_calls, LAST_CALLS};
use super::sql::Sql;
use crate::protocol::PriorCall;
use crate::server::store::StoreError;

/// The last `n` calls of a session, oldest first.
pub(super) fn last_calls(
    sql: &mut Sql,
    agent: &str,
    session: &str,
    n: u32,
) -> Result<Vec<PriorCall>, StoreError> {
    let rows = sql.query(LAST_CALLS, &[&agent, &session, &i64::from(n)])?;
    prior_calls(&rows)
}
