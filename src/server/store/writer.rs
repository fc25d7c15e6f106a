//! The writer thread: takes every job waiting (up to [`MAX_BATCH_JOBS`]), has the backend
//! commit them in one transaction, and only then answers each caller. Concurrent requests share
//! an fsync instead of queueing for one each.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::backend::Backend;
use super::{Job, Msg, StoreError, StoreStats};

/// Most ops a single transaction takes.
pub const MAX_BATCH_JOBS: usize = 1024;

pub(super) fn spawn<B: Backend>(
    backend: B,
    stats: Arc<StoreStats>,
    rx: mpsc::Receiver<Msg>,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("gavel-store".into())
        .spawn(move || run(backend, stats, rx))
        .map(|_| ())
        .map_err(|e| StoreError::WriterThread(Arc::new(e)))
}

fn run<B: Backend>(mut backend: B, stats: Arc<StoreStats>, mut rx: mpsc::Receiver<Msg>) {
    let mut shutdown: Option<oneshot::Sender<()>> = None;
    while shutdown.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut batch = Vec::new();
        let mut probes = Vec::new();
        let mut take = |m: Msg, batch: &mut Vec<Job>| match m {
            Msg::Job(j) => batch.push(*j),
            Msg::Probe(p) => probes.push(p),
            Msg::Shutdown(s) => shutdown = Some(s),
        };
        take(first, &mut batch);
        while batch.len() < MAX_BATCH_JOBS {
            match rx.try_recv() {
                Ok(m) => take(m, &mut batch),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit(&mut backend, &stats, batch);
            backend.after_batch(!rx.is_empty());
        }
        if !probes.is_empty() {
            let result = backend.probe();
            for p in probes {
                let _ = p.send(result.clone());
            }
        }
    }
    backend.close();
    if let Some(s) = shutdown {
        let _ = s.send(());
    }
}

fn commit<B: Backend>(backend: &mut B, stats: &StoreStats, batch: Vec<Job>) {
    match backend.commit(&batch) {
        Ok(results) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.ops.fetch_add(results.len() as u64, Ordering::Relaxed);
            for (job, result) in batch.into_iter().zip(results) {
                let _ = job.reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(jobs = batch.len(), "store commit failed: {e}");
            for job in batch {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}
