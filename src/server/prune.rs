//! Keeping action rows for `keep_actions`. The audit log keeps every call's record for good;
//! the actions table is the enforcement point's working copy (a call's status, retries by
//! `Idempotency-Key`, the governance windows, the figures, the history beside an escalation),
//! so the rows of allowed and denied calls go once older than the setting and than any window
//! governance counts. Escalated and flagged calls keep theirs. Each commit that prunes writes
//! an `actions_pruned` record, so `gavel audit verify` tells a pruned row from a deleted one.
//!
//! A sweep runs at start and then every [`EVERY`], in jobs of at most [`ROWS_PER_JOB`] rows a
//! little apart, so it never holds the writer for long.

use std::sync::Arc;
use std::time::Duration;

use super::app::App;
use super::shutdown::stopped;
use super::store::{Op, Pruned, Reply};
use crate::duration::DAY;

/// `keep_actions` when unset: the longest window of the governance figures, so they count
/// every call of any window they answer for.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(31 * DAY);

/// How often a sweep starts.
const EVERY: Duration = Duration::from_secs(600);
/// Rows one job examines.
const ROWS_PER_JOB: u32 = 1024;
/// The pause between one sweep's jobs: other commits go between them.
const PAUSE: Duration = Duration::from_millis(50);

/// Prunes until the server stops.
pub(crate) fn spawn(app: Arc<App>, keep: Duration) {
    tokio::spawn(async move {
        // Where the next job starts (by the table's order); a restart sweeps from the start.
        let mut cursor = 0;
        loop {
            cursor = sweep(&app, keep, cursor).await;
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stopped(app.shutdown.clone()) => return,
            }
        }
    });
}

/// One sweep up to the horizon; the cursor it reached.
async fn sweep(app: &App, keep: Duration, mut cursor: i64) -> i64 {
    let now = chrono::Utc::now();
    let kept = crate::duration::to_chrono(keep).and_then(|k| now.checked_sub_signed(k));
    let Some(mut before) = kept else {
        return cursor;
    };
    if let Some(counted) = app.governance.lookback(now) {
        before = before.min(counted);
    }
    loop {
        let op = Op::PruneActions {
            before,
            after: cursor,
            limit: ROWS_PER_JOB,
        };
        match app.store.write(op, vec![]).await {
            Ok(Reply::Pruned(Pruned { through, more, .. })) => {
                cursor = through;
                if !more {
                    return cursor;
                }
            }
            Ok(_) => return cursor,
            Err(e) => {
                tracing::warn!("pruning action rows: {e}; trying again in {EVERY:?}");
                return cursor;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PAUSE) => {}
            _ = stopped(app.shutdown.clone()) => return cursor,
        }
    }
}
