//! One read connection and the statements it has prepared: each query is parsed and described
//! once per connection, then only bound and run (one round trip, not two).

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Client, Row, RowIter, Statement};

use crate::server::store::postgres::connect;
use crate::server::store::StoreError;

/// A query's parameters, in `$n` order.
pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    pub fn open(url: &str) -> Result<Conn, StoreError> {
        let mut client = connect(url)?;
        // Each read is planned for its parameters, as an unprepared query would be: a generic
        // plan would have to serve every combination of the optional filters (`$1 IS NULL OR
        // …`) at once.
        client.batch_execute("SET plan_cache_mode = force_custom_plan")?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// Whether the connection is gone (the database restarted, the network dropped it).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// A statement that failed is prepared anew next time: the tables it was described
    /// against may have changed under it.
    fn forget_on_error<T>(&mut self, result: Result<T, postgres::Error>) -> Result<T, StoreError> {
        result.map_err(|e| {
            self.statements.clear();
            StoreError::from(e)
        })
    }

    pub fn query(&mut self, sql: &'static str, params: Params) -> Result<Vec<Row>, StoreError> {
        let s = self.statement(sql)?;
        let result = self.client.query(&s, params);
        self.forget_on_error(result)
    }

    pub fn query_opt(
        &mut self,
        sql: &'static str,
        params: Params,
    ) -> Result<Option<Row>, StoreError> {
        let s = self.statement(sql)?;
        let result = self.client.query_opt(&s, params);
        self.forget_on_error(result)
    }

    /// The rows one at a time as they arrive, for answers that may be long.
    pub fn stream(&mut self, sql: &'static str, params: Params) -> Result<RowIter<'_>, StoreError> {
        let s = self.statement(sql)?;
        match self.client.query_raw(&s, params.iter().copied()) {
            Ok(rows) => Ok(rows),
            Err(e) => {
                self.statements.clear();
                Err(e.into())
            }
        }
    }
}
