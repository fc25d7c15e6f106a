//! Folds the WAL into the database file on its own thread and connection, so the writer's
//! commits never pay for it. SQLite's automatic checkpoint runs inside the commit that crosses
//! its threshold: that commit writes and fsyncs the database file before anyone it carries is
//! answered, a stall of milliseconds in the tail of the allow path. A passive checkpoint here
//! waits for no one and blocks no one; the writer restarts the WAL from its start once a
//! checkpoint has caught up.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::server::store::StoreError;

/// How often the WAL is folded in: often enough that it stays a few megabytes.
const EVERY: Duration = Duration::from_millis(100);

pub struct Checkpointer {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = super::connect(path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gavel-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    passive(&conn);
                }
            })
            .map_err(|e| StoreError::WriterThread(std::sync::Arc::new(e)))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for a checkpoint under way to finish.
    pub fn stop(&mut self) {
        let _ = self.stop.send(());
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

fn passive(conn: &Connection) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!("background WAL checkpoint failed: {e}");
    }
}
