//! How the gate's processes end: the signals that stop it, the grace its MCP server gets to
//! exit, and the server's exit status passed on as the gate's own; plus the two writers that own
//! the client's stdout and the server's stdin.

use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::process::Child;
use tokio::sync::mpsc;

use super::Out;

/// How long the server gets to exit after its stdin closes before it is killed.
pub(super) const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Why the gate stops.
pub(super) enum End {
    ServerClosed,
    ServerExited(Option<std::process::ExitStatus>),
    ClientGone,
    /// SIGTERM, SIGINT or SIGHUP (an MCP client's last step before killing the server).
    Signal(u8),
}

/// How long the server gets after a signal stopped the gate.
pub(super) const SIGNAL_GRACE: Duration = Duration::from_secs(1);

/// Resolves with the signal's number when the gate is told to stop.
#[cfg(unix)]
pub(super) async fn stop_signal() -> u8 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        // Without handlers the default actions stay in place.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => 15,
        _ = int.recv() => 2,
        _ = hup.recv() => 1,
    }
}

#[cfg(not(unix))]
pub(super) async fn stop_signal() -> u8 {
    match tokio::signal::ctrl_c().await {
        Ok(()) => 2,
        Err(_) => std::future::pending().await,
    }
}

pub(super) async fn wait_exit(
    child: &mut Child,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            eprintln!("gavel gate: the MCP server did not exit after its input closed; killing it");
            let _ = child.start_kill();
            child.wait().await.ok()
        }
    }
}

/// The server's exit status as ours: its code, or 128 + the signal that ended it.
pub(super) fn exit_code(status: Option<std::process::ExitStatus>) -> ExitCode {
    let Some(status) = status else {
        return ExitCode::FAILURE;
    };
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return ExitCode::from(u8::try_from(128 + sig).unwrap_or(1));
        }
    }
    ExitCode::FAILURE
}

pub(super) async fn write_client<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::Receiver<Out>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            Out::Line(line) => {
                if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
                    return; // the client is gone; the stdin side will notice too
                }
            }
            Out::Close(ack) => {
                let _ = out.flush().await;
                let _ = ack.send(());
                return;
            }
        }
    }
}

/// Owns the server's stdin: closing the channel (every sender dropped) closes it.
pub(super) async fn write_server(
    mut child_in: tokio::process::ChildStdin,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    while let Some(line) = rx.recv().await {
        if child_in.write_all(&line).await.is_err() || child_in.flush().await.is_err() {
            return;
        }
    }
    let _ = child_in.shutdown().await;
}
