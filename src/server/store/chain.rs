//! The audit chain as the writer extends it: each record linked to the head before it, and a
//! checkpoint over the new head signed with the server's key at the end of every transaction.
//! What is hashed and signed is the same for every backend; a backend only stores the rows.
//!
//! Only some checkpoints stay: the newest, which covers every record, and the last one before
//! each multiple of [`KEEP_EVERY`] records. The newest alone proves the whole chain (any record
//! edited, inserted or removed before it changes the head it signs), so dropping the ones in
//! between weakens nothing; it saves a row per commit, and `gavel audit verify` a signature
//! check per commit. The kept ones say how far the log had reached by when.

use chrono::Utc;

use super::error::{json, StoreError};
use crate::protocol::signing::Purpose;
use crate::protocol::PersonKey;
use crate::server::audit::{record_hash, AuditEvent, CheckpointBody, GENESIS};

/// The last record: its seq (0 before the first) and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Head {
        Head {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

/// One record ready to be stored: every column of the audit table.
pub struct Link<'e> {
    pub seq: u64,
    pub time: String,
    pub event: &'e AuditEvent,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A signed checkpoint over a head.
pub struct Checkpoint {
    pub seq: u64,
    pub head: String,
    pub signature: String,
    pub time: String,
}

/// One checkpoint is kept for every this many records (see the module's comment).
pub const KEEP_EVERY: u64 = 1024;

/// The checkpoint at `prev` that the one at `new` makes redundant, if it does: `prev` goes
/// unless `new` starts a new run of [`KEEP_EVERY`] records, which keeps `prev` as the last of
/// its run. Seq 0 is the genesis, which has no checkpoint.
pub fn superseded(prev: u64, new: u64) -> Option<u64> {
    (prev > 0 && prev / KEEP_EVERY == new / KEEP_EVERY).then_some(prev)
}

pub struct Chain {
    key: PersonKey,
}

impl Chain {
    pub fn new(key: PersonKey) -> Chain {
        Chain { key }
    }

    /// The record `event` becomes after `head`; `head` moves to it. An event that cannot be
    /// written as JSON is an error, and `head` stays.
    pub fn link<'e>(&self, head: &mut Head, event: &'e AuditEvent) -> Result<Link<'e>, StoreError> {
        let body = event.body()?;
        let seq = head.seq + 1;
        let time = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let hash = record_hash(&head.hash, seq, &time, event.kind(), event.actor(), &body)
            .map_err(|e| StoreError::Unencodable {
                what: "an audit record",
                problem: format!("{}: {e}", event.kind()),
            })?;
        let link = Link {
            seq,
            time,
            body: json("an audit record", &body)?,
            event,
            prev_hash: std::mem::replace(&mut head.hash, hash.clone()),
            hash,
        };
        head.seq = seq;
        Ok(link)
    }

    /// The server's signature over `head`.
    pub fn checkpoint(&self, head: &Head) -> Result<Checkpoint, StoreError> {
        let signature = self
            .key
            .try_sign(
                Purpose::Checkpoint,
                &CheckpointBody {
                    seq: head.seq,
                    head: &head.hash,
                },
            )
            .map_err(|e| StoreError::Unencodable {
                what: "a checkpoint",
                problem: e.to_string(),
            })?;
        Ok(Checkpoint {
            seq: head.seq,
            head: head.hash.clone(),
            signature,
            time: Utc::now().to_rfc3339(),
        })
    }
}

/// A hash as both stores' audit tables keep it: its 32 bytes.
pub fn hash_bytes(hex_hash: &str) -> Result<[u8; 32], StoreError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut bytes).map_err(|e| StoreError::Unencodable {
        what: "an audit hash",
        problem: e.to_string(),
    })?;
    Ok(bytes)
}
