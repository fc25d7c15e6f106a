//! Pruning action rows past `keep_actions`, as both backends do it: rows are examined in the
//! table's order from a cursor, so the rows that stay (escalated and flagged calls) are stepped
//! over once per sweep, not on every pass; the sweep stops at the first row submitted at or
//! after the horizon. A row whose time or effect cannot be read stays.

use crate::protocol::{Effect, Timestamp};
use crate::server::audit::{ActionsPruned, AuditEvent};
use crate::server::store::rows::{effect, time};
use crate::server::store::{Pruned, Reply};

/// One pass: the rows it examined and those it deletes.
pub(super) struct Sweep {
    before: Timestamp,
    limit: u32,
    through: i64,
    seen: u32,
    reached: bool,
    /// (seq, agent, tool) of each row to delete.
    pub doomed: Vec<(i64, String, String)>,
}

/// An action row as a sweep reads it.
pub(super) struct Row<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub at: &'a str,
    pub effect: &'a str,
    pub escalated: bool,
    pub agent: String,
    pub tool: String,
}

impl Sweep {
    pub fn new(before: Timestamp, after: i64, limit: u32) -> Sweep {
        Sweep {
            before,
            limit,
            through: after,
            seen: 0,
            reached: false,
            doomed: Vec::new(),
        }
    }

    /// Takes the next row in the table's order; `false` once the horizon is reached, when the
    /// sweep reads no further.
    pub fn row(&mut self, r: Row) -> bool {
        let at = time("actions", r.id, r.at).ok();
        if at.is_some_and(|at| at >= self.before) {
            self.reached = true;
            return false;
        }
        let plain = effect("actions", r.id, r.effect)
            .is_ok_and(|e| matches!(e, Effect::Allow | Effect::Deny))
            && !r.escalated;
        if at.is_some() && plain {
            self.doomed.push((r.seq, r.agent, r.tool));
        }
        self.through = r.seq;
        self.seen += 1;
        true
    }

    /// The answer, and the `actions_pruned` record when any row went: `count` of the doomed
    /// rows were deleted (another replica's sweep may have taken the others).
    pub fn finish(&self, count: u64) -> (Reply, Vec<AuditEvent>) {
        let audit = if count > 0 {
            vec![AuditEvent::ActionsPruned(ActionsPruned {
                before: self.before,
                count,
            })]
        } else {
            vec![]
        };
        let reply = Reply::Pruned(Pruned {
            count,
            through: self.through,
            more: !self.reached && self.seen == self.limit,
        });
        (reply, audit)
    }
}

#[cfg(test)]
#[path = "prune_tests.rs"]
mod tests;
