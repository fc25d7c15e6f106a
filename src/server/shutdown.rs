//! The server's stop signal, shared by every part that waits on something.

use tokio::sync::watch;

/// Resolves once the server is asked to stop.
pub(crate) async fn stopped(mut rx: watch::Receiver<bool>) {
    loop {
        let stop = *rx.borrow_and_update();
        if stop || rx.changed().await.is_err() {
            return;
        }
    }
}
