//! Replicas sharing a PostgreSQL store. Each follows the change feed
//! (`store::postgres::feed`: the audit records the other replicas commit, in chain order) and
//! re-reads what they changed, so its queue and deadlines, kill switches, grants and
//! governance, and the consoles and long-polls it serves, see every replica's writes.
//!
//! What stays consistent without the feed: every escalation write is fenced on the stored
//! body (`store::Change`), so a replica acting on a stale copy loses the write, re-reads, and
//! decides again; a grant revoked elsewhere cannot be used (its use is checked in the write);
//! a signature used on one replica is refused on every other (`used_signatures`). What the
//! feed brings, within its propagation delay: kill switches (a call on this replica is denied
//! once the flip's record is read here), limit and breaker counts, consoles' events.

mod apply;

use std::sync::Arc;

use tokio::sync::watch;

use super::app::App;
use super::store::postgres::feed::{self, FeedItem};

/// Follows the records after `after` that replicas other than `origin` write to the store at
/// `url`, until `stop`.
pub(crate) fn follow(
    app: Arc<App>,
    url: &str,
    origin: &str,
    after: u64,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut items = feed::start(url, origin, after, stop)?;
    tokio::spawn(async move {
        while let Some(item) = items.recv().await {
            match item {
                FeedItem::Record(record) => apply::record(&app, *record).await,
                // The feed reads on from where it was: nothing is missed, only late.
                FeedItem::Reconnected => {}
            }
        }
    });
    Ok(())
}
