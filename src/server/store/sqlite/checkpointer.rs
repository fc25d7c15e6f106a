//! WAL checkpoints off the writer's path. SQLite's automatic checkpoint runs inside the commit
//! that crosses its threshold: it copies the WAL's pages into the database file and syncs it
//! (measured: about 4.7 ms every 40-odd commits), and every call waiting on that commit, or
//! arriving meanwhile, waits for it too.
//!
//! Here a thread of its own, with its own connection, does that copy and sync while the writer
//! goes on committing. The WAL starts over only once every page in it has been copied, and a
//! checkpoint that runs beside a writer rarely catches up (the WAL has grown by the time it
//! finishes); nor does a checkpoint on another connection alone lead the writer to start the
//! WAL over (seen in `the_wal_starts_over_under_steady_writes`). So after each run the writer,
//! between two batches, runs a checkpoint of its own, which copies only what was committed
//! during the run, and its next commit starts the WAL over.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::connect;
use crate::server::store::StoreError;

/// The writer wakes the checkpointer after this many commits.
const COMMITS_PER_RUN: u64 = 200;
/// Or, under a light load, after this long.
const IDLE_RUN: Duration = Duration::from_millis(500);
/// Batches the writer's catch-up may wait for a moment with no call waiting.
const MAX_DEFERRED: u32 = 64;

/// The writer's side.
pub struct Checkpointer {
    wake: Option<SyncSender<()>>,
    /// Set by the checkpointer after a run that copied pages; cleared by the writer once it
    /// has run its own checkpoint after it.
    ran: Arc<AtomicBool>,
    commits: u64,
    deferred: u32,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = connect(path)?;
        let (wake, rx) = mpsc::sync_channel(1);
        let ran = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("gavel-checkpoint".into())
            .spawn({
                let ran = ran.clone();
                move || run(conn, rx, &ran)
            })
            .map_err(|e| StoreError::WriterThread(Arc::new(e)))?;
        Ok(Checkpointer {
            wake: Some(wake),
            ran,
            commits: 0,
            deferred: 0,
            thread: Some(thread),
        })
    }

    /// After each commit: wakes the checkpointer every [`COMMITS_PER_RUN`] commits.
    pub fn committed(&mut self) {
        self.commits += 1;
        if self.commits.is_multiple_of(COMMITS_PER_RUN) {
            if let Some(wake) = &self.wake {
                let _ = wake.try_send(());
            }
        }
    }

    /// Between batches: after a run of the checkpointer, copies what was committed during it,
    /// so the writer's next commit starts the WAL over. Busy (the checkpointer is running
    /// again) is no failure: this waits for the run after it.
    pub fn catch_up(&mut self, conn: &Connection, waiting: bool) {
        if !self.ran.load(Ordering::Acquire) {
            return;
        }
        // Not while calls wait, unless they have waited through many batches already.
        self.deferred += 1;
        if waiting && self.deferred < MAX_DEFERRED {
            return;
        }
        self.deferred = 0;
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0)) {
            Ok(0) => self.ran.store(false, Ordering::Release),
            Ok(_) => {}
            Err(e) => tracing::warn!("WAL checkpoint: {e}"),
        }
    }

    /// Stops the thread (the writer then folds the WAL in itself).
    pub fn stop(&mut self) {
        self.wake = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: Connection, rx: Receiver<()>, ran: &AtomicBool) {
    loop {
        match rx.recv_timeout(IDLE_RUN) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        match result {
            // (busy, frames in the WAL, frames copied so far): the writer's turn.
            Ok((_, _, copied)) if copied > 0 => ran.store(true, Ordering::Release),
            Ok(_) => {}
            Err(e) => tracing::warn!("WAL checkpoint: {e}"),
        }
    }
}
