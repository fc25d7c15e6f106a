//! The webhook lease: which of the replicas sharing a PostgreSQL store delivers webhooks.
//!
//! A plain thread (the synchronous client runs its own runtime) keeps a connection of its own
//! and tries every [`TRY_EVERY`] to take the session advisory lock [`WEBHOOK_LOCK`]. The
//! replica whose session holds it is elected; PostgreSQL releases it when that session ends
//! (the replica stops, dies, or loses the database), and the next try of another replica
//! takes it. While elected, the thread checks its connection every [`TRY_EVERY`] with a
//! trivial query: a failure, or no answer within [`CHECK_TIMEOUT`], means this replica may no
//! longer hold the lock, so it reports itself deposed at once and drops the connection (which
//! releases the lock if the session was still alive), then campaigns again on a new one.
//!
//! The elected session is shared ([`Session`]): the cursors are written on it, and each worker
//! asks it right before each delivery whether it still answers, so a cursor is saved and an
//! event sent only while the session that holds the lock is alive (short of the moment between
//! that question and the send).

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use postgres::Client;
use tokio::sync::{mpsc, oneshot};

use crate::server::store::postgres::{connect, WEBHOOK_LOCK};

/// How often a replica tries for the lock, and how often the holder checks its connection.
pub const TRY_EVERY: Duration = Duration::from_secs(1);
/// How long the holder's check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection that holds (or tries for) the lock, shared with the cursors while elected.
/// The campaign lets it go when deposed or ended; uses after that find it gone.
#[derive(Clone)]
pub struct Session(Arc<Conn>);

struct Conn(Mutex<Option<Client>>);

impl Session {
    fn new(client: Client) -> Session {
        Session(Arc::new(Conn(Mutex::new(Some(client)))))
    }

    /// Runs `f` on the connection, after any other use of it; `None` if the campaign has let
    /// the connection go. Blocks.
    pub fn with<T>(&self, f: impl FnOnce(&mut Client) -> T) -> Option<T> {
        let mut conn = self.0 .0.lock().unwrap_or_else(PoisonError::into_inner);
        conn.as_mut().map(f)
    }

    /// As [`Session::with`], or `None` also if another use keeps the connection longer than
    /// `within` (a write stuck on a dead network must not hold up the check that notices).
    fn try_with<T>(&self, within: Duration, f: impl FnOnce(&mut Client) -> T) -> Option<T> {
        self.lock_within(within)?.as_mut().map(f)
    }

    fn lock_within(&self, within: Duration) -> Option<MutexGuard<'_, Option<Client>>> {
        let until = Instant::now() + within;
        loop {
            match self.0 .0.try_lock() {
                Ok(conn) => return Some(conn),
                Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(TryLockError::WouldBlock) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(TryLockError::WouldBlock) => return None,
            }
        }
    }

    /// Takes the connection away from every holder of this session, so nothing more is written
    /// on it, and closes it, which ends the session and so releases its lock. Closing a
    /// connection to a database gone silent can take long: `aside` does it on a thread of its
    /// own. A connection kept busy past [`CHECK_TIMEOUT`] is left to its last holder.
    fn release(&self, aside: bool) {
        let taken = self
            .lock_within(CHECK_TIMEOUT)
            .and_then(|mut conn| conn.take());
        if let Some(client) = taken {
            close(client, aside);
        }
    }
}

/// The synchronous client blocks on its own runtime as it closes, which cannot happen on an
/// async thread: the last holder of a session may be a worker there.
impl Drop for Conn {
    fn drop(&mut self) {
        let client = self
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(client) = client {
            close(client, tokio::runtime::Handle::try_current().is_ok());
        }
    }
}

fn close(client: Client, aside: bool) {
    if !aside {
        return drop(client);
    }
    let spawned = std::thread::Builder::new()
        .name("gavel-webhook-lease-close".into())
        .spawn(move || drop(client));
    if let Err(e) = spawned {
        // Leaked rather than closed on an async thread; the database ends the session when
        // this process exits.
        tracing::error!("webhook lease: cannot start a thread to close its connection: {e}");
    }
}

/// What the campaign tells the replica.
pub enum News {
    /// This replica holds the lock on this session.
    Elected(Session),
    /// It may not any more: stop delivering now.
    Deposed,
}

/// The running campaign thread.
pub struct Campaign {
    quit: Sender<()>,
    done: oneshot::Receiver<()>,
}

/// Starts campaigning on `url`; news arrives on `news` in order.
pub fn campaign(url: &str, news: mpsc::Sender<News>) -> std::io::Result<Campaign> {
    let (quit, quit_rx) = std::sync::mpsc::channel();
    let (done_tx, done) = oneshot::channel();
    let url = url.to_string();
    std::thread::Builder::new()
        .name("gavel-webhook-lease".into())
        .spawn(move || {
            run(&url, &news, &quit_rx);
            drop(done_tx);
        })?;
    Ok(Campaign { quit, done })
}

impl Campaign {
    /// Stops campaigning and, once the thread has dropped its connection, lets the lock go.
    /// Waits at most `within` (a connection attempt to an unreachable database may take
    /// longer; the thread then ends on its own).
    pub async fn end(self, within: Duration) {
        drop(self.quit);
        let _ = tokio::time::timeout(within, self.done).await;
    }
}

/// Connects, seeks the lock, holds it while the connection is healthy; again, until told to
/// quit or nobody listens.
fn run(url: &str, news: &mpsc::Sender<News>, quit: &Receiver<()>) {
    let mut unreachable = false;
    loop {
        let session = match connect(url) {
            Ok(c) => Session::new(c),
            Err(e) => {
                if !std::mem::replace(&mut unreachable, true) {
                    tracing::warn!("webhook lease: {e}; trying again every {TRY_EVERY:?}");
                }
                if pause(quit) {
                    return;
                }
                continue;
            }
        };
        unreachable = false;
        match seek(&session, quit) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!("webhook lease: lost the database ({e}); reconnecting");
                continue;
            }
        }
        tracing::info!("webhook lease taken: this replica delivers the webhooks");
        if news.blocking_send(News::Elected(session.clone())).is_err() {
            return session.release(false);
        }
        let Some(problem) = hold(&session, quit) else {
            return session.release(false);
        };
        tracing::warn!("webhook lease lost ({problem}): this replica stops delivering webhooks");
        let told = news.blocking_send(News::Deposed);
        session.release(true);
        // Stand aside for two tries of the others before trying again, so a replica that is
        // still reachable takes over rather than the one that just lost its session.
        if told.is_err()
            || !matches!(
                quit.recv_timeout(2 * TRY_EVERY),
                Err(RecvTimeoutError::Timeout)
            )
        {
            return;
        }
    }
}

/// Tries for the lock until this session holds it (`true`), the campaign ends (`false`) or the
/// connection fails.
fn seek(session: &Session, quit: &Receiver<()>) -> Result<bool, postgres::Error> {
    loop {
        let tried =
            session.with(|c| c.query_one("SELECT pg_try_advisory_lock($1)", &[&WEBHOOK_LOCK]));
        // Only this thread lets the session go.
        let Some(row) = tried else { return Ok(false) };
        if row?.get::<_, bool>(0) {
            return Ok(true);
        }
        if pause(quit) {
            return Ok(false);
        }
    }
}

/// Checks the connection every [`TRY_EVERY`]: returns what went wrong when a check fails, or
/// `None` when the campaign ends.
fn hold(session: &Session, quit: &Receiver<()>) -> Option<String> {
    loop {
        if pause(quit) {
            return None;
        }
        match session.try_with(CHECK_TIMEOUT, |c| c.is_valid(CHECK_TIMEOUT)) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Some(e.to_string()),
            None => return Some(format!("its connection stayed busy over {CHECK_TIMEOUT:?}")),
        }
    }
}

/// Waits [`TRY_EVERY`]; true if the campaign is to end.
fn pause(quit: &Receiver<()>) -> bool {
    !matches!(quit.recv_timeout(TRY_EVERY), Err(RecvTimeoutError::Timeout))
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
