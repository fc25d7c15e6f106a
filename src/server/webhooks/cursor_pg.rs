//! A webhook's cursor as a row of `webhook_cursors` in the shared PostgreSQL store: the same
//! JSON body as the file, so whichever replica holds the webhook lease next goes on from where
//! the last one got. Written on the lease's own session ([`Session`]), one committed UPSERT per
//! save, so a cursor is saved durably and only while this replica's session holds the lease.

use anyhow::Context as _;
use postgres::{Client, GenericClient};

use super::cursor::Cursor;
use super::lease::{Session, CHECK_TIMEOUT};

/// One webhook's row, written on the lease's session.
#[derive(Clone)]
pub struct PgCursor {
    session: Session,
    webhook: String,
}

impl PgCursor {
    pub fn new(session: Session, webhook: &str) -> PgCursor {
        PgCursor {
            session,
            webhook: webhook.to_string(),
        }
    }

    /// Blocks.
    pub fn load(&self) -> anyhow::Result<Option<Cursor>> {
        self.session
            .with(|c| load(c, &self.webhook))
            .unwrap_or_else(|| Err(self.lease_gone()))
    }

    /// Blocks. Fails once this replica has lost the lease, even if the database is reachable.
    pub fn save(&self, cursor: &Cursor) -> anyhow::Result<()> {
        self.session
            .with(|c| save(c, &self.webhook, cursor))
            .unwrap_or_else(|| Err(self.lease_gone()))
    }

    /// Whether the lease's session is alive, and so still holds the lock it took. Blocks.
    pub fn confirm(&self) -> anyhow::Result<()> {
        let checked = self.session.with(|c| c.is_valid(CHECK_TIMEOUT));
        checked.ok_or_else(|| self.lease_gone())?.with_context(|| {
            format!(
                "webhook {}: the webhook lease's connection does not answer",
                self.webhook
            )
        })
    }

    fn lease_gone(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "webhook cursor {}: this replica no longer holds the webhook lease",
            self.webhook
        )
    }
}

/// The stored cursor; `None` for a webhook never started. A row that does not read as a cursor
/// is an error: starting over from the head would skip events, from zero would replay them all.
pub fn load(c: &mut impl GenericClient, webhook: &str) -> anyhow::Result<Option<Cursor>> {
    let row = c
        .query_opt(
            "SELECT body FROM webhook_cursors WHERE webhook = $1",
            &[&webhook],
        )
        .with_context(|| format!("reading webhook cursor {webhook} from PostgreSQL"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    serde_json::from_str(row.get(0)).map(Some).with_context(|| {
        format!(
            "webhook cursor {webhook} in PostgreSQL is damaged (delete its row of \
             webhook_cursors to start that webhook from now)"
        )
    })
}

/// Replaces the stored cursor; committed when it returns.
pub fn save(c: &mut impl GenericClient, webhook: &str, cursor: &Cursor) -> anyhow::Result<()> {
    let body = serde_json::to_string(cursor).context("encoding a webhook cursor")?;
    c.execute(
        "INSERT INTO webhook_cursors (webhook, body) VALUES ($1, $2)
         ON CONFLICT (webhook) DO UPDATE SET body = excluded.body",
        &[&webhook, &body],
    )
    .with_context(|| format!("webhook cursor {webhook} not saved to PostgreSQL"))?;
    Ok(())
}

/// At a replica's start: stores `fresh` for each of `webhooks` that has no cursor yet (one
/// seen for the first time starts at the log's head as this replica found it), leaves the
/// others as they are, and checks that every one can be read, so a damaged cursor stops the
/// start as the file's does. Any replica may do this: an existing row is never replaced.
pub fn create_missing(c: &mut Client, webhooks: &[String], fresh: &Cursor) -> anyhow::Result<()> {
    let body = serde_json::to_string(fresh).context("encoding a webhook cursor")?;
    for webhook in webhooks {
        c.execute(
            "INSERT INTO webhook_cursors (webhook, body) VALUES ($1, $2)
             ON CONFLICT (webhook) DO NOTHING",
            &[webhook, &body],
        )
        .with_context(|| format!("webhook cursor {webhook} not created in PostgreSQL"))?;
        load(c, webhook)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::postgres::test_db::TestDb;

    #[test]
    fn cursors_round_trip_through_the_table_and_damage_is_an_error() {
        let db = TestDb::fresh();
        let mut c = db.migrated();
        assert_eq!(load(&mut c, "pager").unwrap(), None);
        let mut cursor = Cursor {
            seq: 7,
            ..Cursor::default()
        };
        cursor.near_sent.insert("near_esc_1_5".into());
        save(&mut c, "pager", &cursor).unwrap();
        cursor.seq = 9;
        save(&mut c, "pager", &cursor).unwrap();
        // Another connection sees it: the save was committed.
        let mut other = db.connect();
        assert_eq!(load(&mut other, "pager").unwrap(), Some(cursor.clone()));
        assert_eq!(load(&mut other, "slack").unwrap(), None);

        // Creating the missing ones leaves existing cursors alone.
        let fresh = Cursor {
            seq: 42,
            ..Cursor::default()
        };
        create_missing(&mut other, &["pager".into(), "slack".into()], &fresh).unwrap();
        assert_eq!(load(&mut c, "pager").unwrap(), Some(cursor));
        assert_eq!(load(&mut c, "slack").unwrap(), Some(fresh.clone()));

        c.execute(
            "UPDATE webhook_cursors SET body = '{\"seq\":' WHERE webhook = 'pager'",
            &[],
        )
        .unwrap();
        let e = format!("{:#}", load(&mut c, "pager").unwrap_err());
        assert!(e.contains("pager") && e.contains("damaged"), "{e}");
        let e = create_missing(&mut c, &["pager".into()], &fresh).unwrap_err();
        assert!(format!("{e:#}").contains("damaged"), "{e:#}");
    }
}
