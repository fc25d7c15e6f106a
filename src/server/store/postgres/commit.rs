//! The write transaction on PostgreSQL.

use crate::server::store::backend::Backend;
use crate::server::store::{Job, Reply, StoreError};

/// The write connection.
pub struct PgWriter {}

impl Backend for PgWriter {
    fn commit(&mut self, _jobs: &[Job]) -> Result<Vec<Result<Reply, StoreError>>, StoreError> {
        todo!("PostgreSQL commit")
    }
    fn probe(&mut self) -> Result<(), StoreError> {
        todo!("PostgreSQL probe")
    }
    fn close(&mut self) {}
}
