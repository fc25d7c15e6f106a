//! Desktop notifications and the terminal bell. Where there is no notification service, the first
//! failure turns them off with a note in the status bar; nothing crashes and nothing blocks.

use std::io::Write;

use tokio::sync::mpsc::Sender;

use super::event::Event;

pub fn desktop(title: String, body: String, tx: Sender<Event>) {
    tokio::task::spawn_blocking(move || {
        let shown = notify_rust::Notification::new()
            .appname("gavel")
            .summary(&title)
            .body(&body)
            .show();
        if let Err(e) = shown {
            tracing::info!(error = %e, "desktop notification failed; turning them off");
            let _ = tx.blocking_send(Event::NotifyUnavailable(
                e.to_string().chars().take(60).collect(),
            ));
        }
    });
}

pub fn bell() {
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x07");
    let _ = out.flush();
}
