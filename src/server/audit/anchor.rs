//! Anchors: a signed checkpoint exported from the log and kept elsewhere, so that cutting the
//! tail of the log (records and checkpoints together), deleting it, or re-signing it with
//! another key is detected later.

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{CheckpointBody, VerifyError};
use crate::protocol::signing::Purpose;
use crate::protocol::PublicKey;

/// The latest signed checkpoint, as `gavel audit checkpoint` prints it (one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub seq: u64,
    pub head: String,
    pub signature: String,
    pub server_public_key: String,
    /// When the server signed it (not covered by the signature; for people).
    pub time: String,
}

/// The newest checkpoint and the key it is signed with; `None` before the first record.
pub fn latest_anchor(conn: &Connection) -> Result<Option<Anchor>, rusqlite::Error> {
    let key: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'server_public_key'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let Some(server_public_key) = key else {
        return Ok(None);
    };
    conn.query_row(
        "SELECT seq, head, signature, time FROM checkpoints ORDER BY seq DESC LIMIT 1",
        [],
        |r| {
            Ok(Anchor {
                seq: r.get::<_, i64>(0)? as u64,
                head: r.get(1)?,
                signature: r.get(2)?,
                server_public_key: server_public_key.clone(),
                time: r.get(3)?,
            })
        },
    )
    .optional()
}

impl Anchor {
    /// Reads an anchor file: one JSON object, as `gavel audit checkpoint` wrote it.
    pub fn parse(text: &str) -> Result<Anchor, String> {
        serde_json::from_str(text.trim()).map_err(|e| format!("not a gavel checkpoint: {e}"))
    }

    /// The anchor's own key against the expected one and the log's, and its signature.
    pub(super) fn check_key(
        &self,
        expected: Option<&PublicKey>,
        log_key: &PublicKey,
    ) -> Result<(), VerifyError> {
        let own = PublicKey::parse(&self.server_public_key)
            .map_err(|e| VerifyError::Anchor(format!("server_public_key: {e}")))?;
        if let Some(expected) = expected {
            if *expected != own {
                return Err(VerifyError::Key(format!(
                    "the anchor is signed with {own}, not the expected {expected}"
                )));
            }
        }
        own.verify(
            Purpose::Checkpoint,
            &CheckpointBody {
                seq: self.seq,
                head: &self.head,
            },
            &self.signature,
        )
        .map_err(|_| {
            VerifyError::Anchor(format!(
                "its signature does not verify with {own}: it is not a checkpoint that key signed"
            ))
        })?;
        if own != *log_key {
            return Err(VerifyError::Key(format!(
                "the log is signed with {log_key}, but the anchor with {own}: the key was replaced"
            )));
        }
        Ok(())
    }

    /// The log extends the anchor: it reaches the anchor's record, with the anchored hash there.
    pub(super) fn check_against(&self, heads: &[String]) -> Result<u64, VerifyError> {
        let records = heads.len() as u64;
        if self.seq == 0 {
            return Err(VerifyError::Anchor("covers no record (seq 0)".into()));
        }
        if records < self.seq {
            return Err(VerifyError::Anchor(format!(
                "the log ends at record {records}, but the anchor covers records up to {}: the tail was cut",
                self.seq
            )));
        }
        if heads[(self.seq - 1) as usize] != self.head {
            return Err(VerifyError::Anchor(format!(
                "record {} has another hash than the anchor's head: the log diverges from the anchored one",
                self.seq
            )));
        }
        Ok(self.seq)
    }
}
