//! Delivering one event to one webhook: signed POSTs, each with its own time limit, retried
//! with exponential backoff and jitter until a 2xx answer or until the webhook's
//! `give_up_after` has passed (then logged and given up).

use std::time::{Duration, Instant};

use backon::{BackoffBuilder as _, ExponentialBuilder};
use tokio::sync::watch;

use super::body::render;
use super::config::Webhook;
use super::events::Event;
use super::signing::{sign, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::server::shutdown::stopped;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How long a stopping server lets an attempt in flight finish.
const STOP_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// The receiver answered 2xx.
    Done,
    /// Retried until `give_up_after`; logged.
    GaveUp,
    /// The server is stopping; the event goes out after the next start.
    Stopped,
}

/// Sends `ev` until it is delivered, given up, or the server stops.
pub async fn deliver(hook: &Webhook, ev: &Event, shutdown: &watch::Receiver<bool>) -> Delivered {
    let body = match serde_json::to_vec(&render(hook.format, hook.routing_key.as_deref(), ev)) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(webhook = %hook.id, event = %ev.id, "webhook body not encoded: {e}");
            return Delivered::GaveUp;
        }
    };
    let started = Instant::now();
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(hook.retry_backoff)
        .with_max_delay(MAX_BACKOFF.max(hook.retry_backoff))
        .with_jitter()
        .without_max_times()
        .build();
    for attempt in 1u32.. {
        let attempt_now = attempt_once(hook, ev, &body);
        tokio::pin!(attempt_now);
        let result = tokio::select! {
            biased;
            r = &mut attempt_now => r,
            _ = stopped(shutdown.clone()) => {
                // An attempt in flight gets a moment to finish, so a restart right after a
                // receiver took the event does not send it again.
                match tokio::time::timeout(STOP_GRACE, &mut attempt_now).await {
                    Ok(Ok(())) => return Delivered::Done,
                    _ => return Delivered::Stopped,
                }
            }
        };
        let problem = match result {
            Ok(()) => {
                tracing::debug!(webhook = %hook.id, event = %ev.id, attempt, "webhook delivered");
                return Delivered::Done;
            }
            Err(problem) => problem,
        };
        let delay = delays.next().unwrap_or(MAX_BACKOFF);
        if started.elapsed() + delay > hook.give_up_after {
            tracing::error!(
                webhook = %hook.id, event = %ev.id, attempts = attempt,
                "webhook delivery given up after {:?}: {problem}", started.elapsed()
            );
            return Delivered::GaveUp;
        }
        tracing::warn!(
            webhook = %hook.id, event = %ev.id, attempt,
            "webhook delivery failed ({problem}); next attempt in {delay:?}"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(shutdown.clone()) => return Delivered::Stopped,
        }
    }
    Delivered::GaveUp
}

/// One signed POST; a problem is what the log says about it.
async fn attempt_once(hook: &Webhook, ev: &Event, body: &[u8]) -> Result<(), String> {
    // Signed per attempt: receivers refuse old timestamps, and a retry may come much later.
    let timestamp = chrono::Utc::now().timestamp();
    let mut req = hook
        .http
        .post(hook.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(HEADER_ID, &ev.id)
        .header(HEADER_TIMESTAMP, timestamp.to_string());
    if let Some(key) = &hook.key {
        req = req.header(HEADER_SIGNATURE, sign(key, &ev.id, timestamp, body));
    }
    let answer = req
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

/// The error without the URL, which may itself be a secret (Slack's are).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {detail}")
    }
}
