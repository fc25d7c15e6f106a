//! Every action row `keep_actions` lets go of once its call is old enough, pruned with the
//! server's own op on a stopped server's store, as a store looks in the long run.

use std::path::Path;

use gavel::server::store::{Op, Reply, Store};

/// Prunes the store in `data` (or at `url`, with the key in `data`) as if every call were
/// older than `keep_actions`.
pub async fn prune_all(data: &Path, url: Option<&str>) {
    let key = gavel::protocol::PersonKey::read(&data.join("server.key")).expect("server.key");
    let opened = match url {
        None => Store::open(data, key),
        Some(url) => Store::open_postgres(url, key, "bench"),
    };
    let store = opened.expect("opening the store to prune it");
    let before = chrono::Utc::now() + chrono::Duration::days(1);
    let mut after = 0;
    loop {
        let op = Op::PruneActions {
            before,
            after,
            limit: 4096,
        };
        match store.write(op, vec![]).await.expect("pruning") {
            Reply::Pruned(p) if p.more => after = p.through,
            _ => break,
        }
    }
    store.shutdown().await;
}
