//! The network side of the console, as tokio tasks that send typed events into the loop: the
//! WebSocket stream (challenge, signed auth, snapshot, live events; reconnect with backoff and
//! resync from a fresh snapshot; with several replicas, the next one when the stream drops) and
//! the REST calls that decisions, flips and reviews become.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc::Sender;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{host_port, stream_url, Client, ClientError};
use crate::protocol::signing::Purpose;
use crate::protocol::{
    ClientMessage, PersonKey, ServerMessage, StreamAuth, CLOSE_AUTH, CLOSE_NO_ROLE,
};

use super::command::Command;
use super::event::{ConnEvent, Event, Reply, RequestError};

/// How long a REST call may take before we say so (it may still have been recorded).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENCE_LIMIT: Duration = Duration::from_secs(50);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

type Call = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply, ClientError>> + Send>>;

enum End {
    /// The loop is gone: stop.
    LoopGone,
    Refused(String),
    Lost(String),
}

pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(250).saturating_mul(1u32 << attempt.min(6));
    let mut jitter = [0u8; 1];
    let _ = getrandom::fill(&mut jitter);
    base.min(BACKOFF_MAX) + Duration::from_millis(jitter[0] as u64)
}

/// Runs until the loop's receiver is dropped or the server refuses our key. With several
/// replicas it starts on the one the client last heard from, moves to the next at once when a
/// connection fails or drops, and backs off only after trying every one; once live on a
/// replica, the console's REST calls go there too.
pub fn spawn_stream(
    client: Client,
    key: Arc<PersonKey>,
    tx: Sender<Event>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let servers = client.servers().urls().to_vec();
        let n = servers.len();
        let mut index = client.current_index();
        // Failures since the stream was last live.
        let mut attempt = 0u32;
        loop {
            let url = &servers[index];
            let mut trying = vec![ConnEvent::Connecting];
            if n > 1 {
                trying.insert(
                    0,
                    ConnEvent::Server {
                        index,
                        url: url.clone(),
                    },
                );
            }
            for event in trying {
                if tx.send(Event::Connection(event)).await.is_err() {
                    return;
                }
            }
            let live = |client: &Client| client.stick_to(index);
            match session(&client, url, &key, &tx, &mut attempt, live).await {
                End::LoopGone => return,
                End::Refused(reason) => {
                    tracing::warn!(%reason, "stream authentication refused");
                    let _ = tx
                        .send(Event::Connection(ConnEvent::Refused { reason }))
                        .await;
                    return;
                }
                End::Lost(error) => {
                    attempt += 1;
                    tracing::info!(attempt, server = %url, %error, "stream lost; reconnecting");
                    let error = if n > 1 {
                        format!("{}: {error}", host_port(url))
                    } else {
                        error
                    };
                    if tx
                        .send(Event::Connection(ConnEvent::Lost { attempt, error }))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    index = (index + 1) % n;
                    // Every replica failed once more since the stream was live: wait before
                    // the next round (with one server, before every retry, as always).
                    if (attempt as usize).is_multiple_of(n) {
                        tokio::time::sleep(backoff(attempt / n as u32)).await;
                    }
                }
            }
        }
    })
}

/// One connection to the server at `base`, until it ends; `live` runs once the stream is
/// authenticated and its snapshot has come.
async fn session(
    client: &Client,
    base: &str,
    key: &PersonKey,
    tx: &Sender<Event>,
    attempt: &mut u32,
    live: impl Fn(&Client),
) -> End {
    let url = stream_url(base);
    let ws = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_tls_with_config(
            &url,
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(client.tls_config())),
        ),
    )
    .await
    {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return End::Lost(short_error(&e.to_string())),
        Err(_) => return End::Lost("connect timed out".into()),
    };
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    // A server that vanished without closing (power loss, a dropped route) never sends a FIN;
    // our pings get answered by a pong, so silence this long means the link is dead.
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            msg = stream.next() => {
                last_heard = tokio::time::Instant::now();
                let text = match msg {
                    None => return End::Lost("connection closed".into()),
                    Some(Err(e)) => return End::Lost(short_error(&e.to_string())),
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(frame))) => {
                        return match frame {
                            // Refused for who we are: retrying will not help.
                            Some(f) if [CLOSE_AUTH, CLOSE_NO_ROLE].map(CloseCode::from).contains(&f.code) => {
                                End::Refused(f.reason.to_string())
                            }
                            Some(f) => End::Lost(format!("closed by server: {} {}", u16::from(f.code), f.reason)),
                            None => End::Lost("closed by server".into()),
                        };
                    }
                    Some(Ok(_)) => continue,
                };
                let message: ServerMessage = match serde_json::from_str(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "unparseable stream message ignored");
                        continue;
                    }
                };
                match &message {
                    ServerMessage::Challenge { nonce } => {
                        let auth = StreamAuth { nonce: nonce.clone(), person: key.id.clone() };
                        let reply = ClientMessage::Auth {
                            person: key.id.clone(),
                            signature: key.sign(Purpose::StreamAuth, &auth),
                        };
                        let body = serde_json::to_string(&reply).unwrap_or_default();
                        if let Err(e) = sink.send(Message::text(body)).await {
                            return End::Lost(short_error(&e.to_string()));
                        }
                    }
                    ServerMessage::Snapshot(_) => {
                        *attempt = 0;
                        live(client);
                    }
                    _ => {}
                }
                if tx.send(Event::Server(message)).await.is_err() {
                    return End::LoopGone;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    return End::Lost(format!("no answer from the server for {}s", SILENCE_LIMIT.as_secs()));
                }
                let body = serde_json::to_string(&ClientMessage::Ping).unwrap_or_default();
                if let Err(e) = sink.send(Message::text(body)).await {
                    return End::Lost(short_error(&e.to_string()));
                }
            }
            _ = tx.closed() => return End::LoopGone,
        }
    }
}

fn short_error(e: &str) -> String {
    e.chars().take(120).collect()
}

fn request_error(e: ClientError) -> RequestError {
    match e {
        ClientError::Api { code, message, .. } => RequestError { code, message },
        ClientError::Unreachable { message, .. } => RequestError {
            code: "unreachable".into(),
            message: format!("cannot reach the server ({message}); nothing was sent"),
        },
        e @ ClientError::Unanswered { .. } => RequestError {
            code: e.code().into(),
            message: format!("{e}: check History before doing it again"),
        },
        e @ ClientError::NoServer { .. } => RequestError {
            code: e.code().into(),
            message: if e.maybe_recorded() {
                format!("{e}; one went quiet after it was sent, so it may have been recorded: check History")
            } else {
                format!("{e}; nothing was recorded")
            },
        },
        e @ (ClientError::Redirect { .. } | ClientError::Config(_)) => RequestError {
            code: e.code().into(),
            message: format!("{e}; nothing was sent"),
        },
        ClientError::Protocol(m) => RequestError {
            code: "protocol".into(),
            message: format!(
                "unexpected answer ({m}); check History to see whether it was recorded"
            ),
        },
    }
}

/// Runs one REST command as a task; its answer comes back as `Event::Reply`.
pub fn run_command(client: &Client, key: &Arc<PersonKey>, tx: &Sender<Event>, command: Command) {
    let (client, key, tx) = (client.clone(), key.clone(), tx.clone());
    tokio::spawn(async move {
        let (request, call) = match command {
            Command::Decide {
                request,
                escalation,
                vote,
                reason,
            } => {
                let d = Client::sign_decision(&key, &escalation, vote, &reason);
                tracing::info!(escalation = %escalation.id, ?vote, "sending decision");
                let fut = async move { client.decide(&d).await.map(Reply::Decision) };
                (request, Box::pin(fut) as Call)
            }
            Command::Flip {
                request,
                scope,
                on,
                reason,
            } => {
                tracing::info!(%scope, on, "flipping kill switch");
                let fut = async move {
                    client
                        .flip(&key, &scope, on, &reason)
                        .await
                        .map(Reply::Flip)
                };
                (request, Box::pin(fut) as Call)
            }
            Command::Review {
                request,
                action,
                verdict,
                note,
            } => {
                tracing::info!(%action, ?verdict, "reviewing flagged action");
                let fut = async move {
                    client
                        .review_flag(&key, &action, verdict, &note)
                        .await
                        .map(|f| Reply::Review(Box::new(f)))
                };
                (request, Box::pin(fut) as Call)
            }
            Command::Handle {
                request,
                escalation,
                call,
            } => {
                tracing::info!(%escalation, ?call, "sending a workflow change");
                let fut =
                    async move { super::workflow::call(client, &key, &escalation, call).await };
                (request, Box::pin(fut) as Call)
            }
            Command::Fetch {
                request,
                escalation,
            } => {
                tracing::info!(%escalation, "fetching the whole escalation");
                let fut = async move {
                    client
                        .escalation(&key, &escalation)
                        .await
                        .map(|e| Reply::Escalation(Box::new(e)))
                };
                (request, Box::pin(fut) as Call)
            }
            Command::Audit { request, query } => {
                let fut = async move { client.audit(&key, &query).await.map(Reply::Audit) };
                (request, Box::pin(fut) as Call)
            }
            Command::History { request, query } => {
                let fut = async move { client.history(&key, &query).await.map(Reply::History) };
                (request, Box::pin(fut) as Call)
            }
            Command::Grant { request, grant } => {
                tracing::info!(agent = %grant.agent, tool = %grant.tool, "creating a grant");
                let fut = async move {
                    client
                        .create_grant(&key, &grant)
                        .await
                        .map(|g| Reply::Grant(Box::new(g)))
                };
                (request, Box::pin(fut) as Call)
            }
            Command::Revoke {
                request,
                grant,
                reason,
            } => {
                tracing::info!(%grant, "revoking a grant");
                let fut = async move {
                    client
                        .revoke_grant(&key, &grant, &reason)
                        .await
                        .map(|g| Reply::Grant(Box::new(g)))
                };
                (request, Box::pin(fut) as Call)
            }
            Command::Usage { request } => {
                let fut = async move { client.usage(&key, None).await.map(Reply::Usage) };
                (request, Box::pin(fut) as Call)
            }
            Command::ResetBreaker {
                request,
                agent,
                breaker,
                reason,
            } => {
                tracing::info!(%agent, %breaker, "resetting a breaker");
                let fut = async move {
                    client
                        .reset_breaker(&key, &agent, Some(&breaker), &reason)
                        .await
                        .map(Reply::Usage)
                };
                (request, Box::pin(fut) as Call)
            }
            Command::Figures { request, window } => {
                let fut = async move {
                    client
                        .governance(&key, &window)
                        .await
                        .map(|f| Reply::Figures(Box::new(f)))
                };
                (request, Box::pin(fut) as Call)
            }
            Command::Notify { .. } | Command::Bell | Command::Quit => return,
        };
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
            Ok(r) => r.map_err(request_error),
            Err(_) => Err(RequestError {
                code: "timeout".into(),
                message: format!(
                    "no answer within {}s; it may or may not have been recorded: check History",
                    REQUEST_TIMEOUT.as_secs()
                ),
            }),
        };
        if let Err(e) = &result {
            tracing::warn!(code = %e.code, message = %e.message, "request refused or failed");
        }
        let _ = tx.send(Event::Reply { request, result }).await;
    });
}
