//! How far each webhook got: the last audit seq it was told about (delivered or given up) and
//! the near-deadline warnings it was sent, one small JSON file per webhook in
//! `DATA/webhooks/ID.json`, replaced atomically (written beside, synced, renamed, directory
//! synced), so a crash leaves the old cursor or the new one, never half of one.
//!
//! A file, not a table: the cursor is delivery bookkeeping, not audited state, so it stays out
//! of the store's writer (and of `gavel audit verify`'s state check) and never queues behind
//! enforcement writes. With a PostgreSQL store the replicas take turns delivering, so the
//! cursor is a row there instead ([`PgCursor`]), written on the delivering replica's own
//! connection, again outside the store's writer.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

pub use super::cursor_pg::PgCursor;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Every audit record up to here has been dealt with.
    pub seq: u64,
    /// Ids of near-deadline warnings sent for escalations still pending.
    pub near_sent: BTreeSet<String>,
}

/// Where a webhook's cursor is kept. Both load `None` for a webhook never started and refuse a
/// damaged cursor rather than start it over.
#[derive(Clone)]
pub enum CursorStore {
    /// In the data dir (a SQLite store: this server is the only one delivering).
    File(CursorFile),
    /// In the shared PostgreSQL store, on the connection that holds the webhook lease.
    Postgres(PgCursor),
}

impl CursorStore {
    /// Blocks on the file or the database: call it off the async threads.
    pub fn load(&self) -> anyhow::Result<Option<Cursor>> {
        match self {
            CursorStore::File(f) => f.load(),
            CursorStore::Postgres(p) => p.load(),
        }
    }

    /// Durable once it returns: the file synced and renamed, or the row's UPSERT committed.
    /// Blocks: call it off the async threads.
    pub fn save(&self, cursor: &Cursor) -> anyhow::Result<()> {
        match self {
            CursorStore::File(f) => f
                .save(cursor)
                .with_context(|| format!("webhook cursor {} not saved", f.path().display())),
            CursorStore::Postgres(p) => p.save(cursor),
        }
    }
}

#[derive(Clone)]
pub struct CursorFile {
    path: PathBuf,
}

impl CursorFile {
    pub fn new(data: &Path, webhook: &str) -> CursorFile {
        CursorFile {
            path: data.join("webhooks").join(format!("{webhook}.json")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored cursor; `None` for a webhook never started. A file that cannot be read is an
    /// error: starting over from the head would skip events, from zero would replay them all.
    pub fn load(&self) -> anyhow::Result<Option<Cursor>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
                format!(
                    "webhook cursor {} is damaged (delete it to start that webhook from now)",
                    self.path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    pub fn save(&self, cursor: &Cursor) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(cursor).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_replace_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = CursorFile::new(dir.path(), "pager");
        assert_eq!(file.load().unwrap(), None);
        let mut c = Cursor {
            seq: 7,
            ..Cursor::default()
        };
        c.near_sent.insert("near_esc_1_5".into());
        file.save(&c).unwrap();
        c.seq = 9;
        file.save(&c).unwrap();
        assert_eq!(file.load().unwrap(), Some(c));
        std::fs::write(file.path(), "{\"seq\":").unwrap();
        let e = format!("{:#}", file.load().unwrap_err());
        assert!(e.contains("pager.json") && e.contains("damaged"), "{e}");
    }
}
