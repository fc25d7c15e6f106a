//! The write transaction's statements, each prepared once per connection: a statement sent as
//! text costs a round trip to be prepared every time it runs.

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};

/// The statements prepared on the write connection, by their text. Prepared statements belong
/// to the session, not the transaction, so they outlive rolled-back savepoints; a new
/// connection starts with none.
#[derive(Default)]
pub(super) struct Prepared(HashMap<&'static str, Statement>);

/// The write transaction (or a job's savepoint in it) and the connection's statements.
pub(super) struct Sql<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    prepared: &'t mut Prepared,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl<'t, 'c> Sql<'t, 'c> {
    pub(super) fn new(tx: &'t mut Transaction<'c>, prepared: &'t mut Prepared) -> Sql<'t, 'c> {
        Sql { tx, prepared }
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.prepared.0.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql)?;
        self.prepared.0.insert(sql, s.clone());
        Ok(s)
    }

    /// Runs `sql`; the number of rows it changed.
    pub(super) fn execute(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let s = self.statement(sql)?;
        self.tx.execute(&s, params)
    }

    pub(super) fn query(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.tx.query(&s, params)
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.tx.query_opt(&s, params)
    }
}
