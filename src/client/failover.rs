//! One request, to the first server in the list that takes it. The rule, in full:
//!
//! - A request goes first to the server that answered last (sticky), then to the others in
//!   the order given, so a healthy cluster is not probed in order on every call.
//! - It moves on only when a server did not answer at all, or answered 503 (not ready, its
//!   store down, shutting down: gavel records nothing then).
//! - A server that could not even be connected to (refused, connect timeout, TLS handshake
//!   failed) surely did not take the request: any request moves on. One that went quiet after
//!   the request was sent (a timeout, a reset, an answer cut off) may have taken it: only a
//!   request that is safe to repeat ([`Repeat::Safe`]) moves on; any other is reported as
//!   possibly recorded, never sent twice.
//! - Any other answer (a success, a 4xx such as a 403 or a 409, a 500, a redirect) is the
//!   answer: a refusal is never retried elsewhere until some server says yes.
//!
//! When every server fails, the error names each one and what it did; the adapters deny on it,
//! exactly as they do with one server.

use std::sync::atomic::Ordering;

use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use super::{api_error, redirect, root_cause, Client, ClientError};

/// Whether a request may go to another server after one that may have received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Repeat {
    /// Repeating it cannot do anything twice: reads (signed afresh for each server), agent
    /// submissions (their `Idempotency-Key` gets the first call's outcome back), withdraws and
    /// cost reports (the second finds the work done), decisions (the same signed decision
    /// again is acknowledged with `recorded: false`).
    Safe,
    /// A one-shot signed request (a flip, a grant, a review, a reset, a workflow change): the
    /// server refuses its signature a second time as `replayed`, so a resend after a timeout
    /// could be refused though the first landed. It moves on only from a server that surely
    /// did not take it.
    Once,
}

/// One server's failure to take a request, as the final error reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub url: String,
    /// What happened, in a few words.
    pub what: String,
    /// The request was sent and no answer came: the server may have recorded it.
    pub maybe_received: bool,
}

impl std::fmt::Display for Tried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.url, self.what)
    }
}

/// How one attempt failed to get an answer.
enum Failed {
    /// No connection: nothing was sent.
    NotSent(String),
    /// A 503: the server took nothing.
    Unavailable(ClientError),
    /// Sent, then no (whole) answer.
    NoAnswer(String),
}

impl Client {
    /// Sends the request `build` makes for a server's base URL to the servers in turn (see the
    /// module's rule) and reads the answer as `T`.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        repeat: Repeat,
        build: impl Fn(&str) -> RequestBuilder,
    ) -> Result<T, ClientError> {
        let urls = self.servers.urls();
        let n = urls.len();
        let start = self.current.load(Ordering::Relaxed) % n;
        let mut tried: Vec<(Tried, Failed)> = Vec::new();
        for step in 0..n {
            let i = (start + step) % n;
            let url = &urls[i];
            match attempt(url, build(url)).await {
                Ok(answer) => {
                    self.current.store(i, Ordering::Relaxed);
                    let bytes = answer.map_err(|e| after_failover(e, &tried))?;
                    return serde_json::from_slice(&bytes)
                        .map_err(|e| ClientError::Protocol(e.to_string()));
                }
                Err(Failed::NoAnswer(message)) if repeat == Repeat::Once => {
                    return Err(ClientError::Unanswered {
                        url: url.clone(),
                        message,
                        held_back: step + 1 < n,
                    });
                }
                Err(failed) => {
                    let what = match &failed {
                        Failed::NotSent(m) => m.clone(),
                        Failed::Unavailable(e) => short(&format!("answered 503: {e}")),
                        Failed::NoAnswer(m) => format!("no answer: {m}"),
                    };
                    let maybe_received = matches!(failed, Failed::NoAnswer(_));
                    tracing::debug!(server = %url, %what, "trying the next server");
                    let t = Tried {
                        url: url.clone(),
                        what,
                        maybe_received,
                    };
                    tried.push((t, failed));
                }
            }
        }
        Err(every_server_failed(tried))
    }
}

/// Sends `req` to the server at `url`: its answer (a success's body, or the refusal it is), or
/// how it failed to give one.
async fn attempt(url: &str, req: RequestBuilder) -> Result<Result<Vec<u8>, ClientError>, Failed> {
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Err(Failed::NotSent(root_cause(&e))),
        Err(e) => return Err(Failed::NoAnswer(root_cause(&e))),
    };
    let status = resp.status();
    if status.is_redirection() {
        return Ok(Err(redirect(url, status, resp.headers())));
    }
    let bytes = match resp.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => return Err(Failed::NoAnswer(root_cause(&e))),
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return Err(Failed::Unavailable(api_error(status, &bytes)));
    }
    Ok(if status.is_success() {
        Ok(bytes)
    } else {
        Err(api_error(status, &bytes))
    })
}

/// The error when no server answered: with one server, its own error as it always was; with
/// several, each one and what it did.
fn every_server_failed(mut tried: Vec<(Tried, Failed)>) -> ClientError {
    if tried.len() == 1 {
        let (t, failed) = tried.remove(0);
        return match failed {
            Failed::NotSent(message) => ClientError::Unreachable {
                url: t.url,
                message,
            },
            Failed::Unavailable(e) => e,
            Failed::NoAnswer(message) => ClientError::Unanswered {
                url: t.url,
                message,
                held_back: false,
            },
        };
    }
    ClientError::NoServer {
        tried: tried.into_iter().map(|(t, _)| t).collect(),
    }
}

/// A `replayed` refusal from a server reached after others failed says the signature was used
/// already, though this client sent it nowhere else that took it: say so, so nobody signs it
/// again blindly.
fn after_failover(e: ClientError, tried: &[(Tried, Failed)]) -> ClientError {
    match e {
        ClientError::Api {
            status,
            code,
            message,
        } if code == "replayed" && !tried.is_empty() => {
            let others: Vec<String> = tried.iter().map(|(t, _)| t.to_string()).collect();
            ClientError::Api {
                status,
                code,
                message: format!(
                    "{message} (sent here after {} failed: the signature was used already, so \
                     it may have been recorded; check History before signing it again)",
                    others.join(", ")
                ),
            }
        }
        e => e,
    }
}

fn short(s: &str) -> String {
    const MAX: usize = 160;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX).collect();
    out.push('…');
    out
}
