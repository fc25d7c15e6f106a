//! The runaway: a docs crawler that works calmly for a while, then loops the way an agent stuck
//! on a task does, fetching the same pages faster and faster. Its hourly spend envelope warns
//! first (its calls are flagged), then runs out: a budget escalation asks you for more room.
//! Asking again and again, it trips the approval-fatigue breaker, which denies it until the
//! cooldown ends or an operator resets it (`gavel breaker reset agent:crawler`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::agents::{bump, pause, wait_in_background, Held, Pace, Stats, Waiters};
use crate::client::Client;
use crate::protocol::{ActionRequest, Verdict};

/// The runaway agent's id, in the demo roster and the example policy.
pub const RUNAWAY: &str = "crawler";

/// Calls it makes at the agents' usual pace before it starts looping.
const CALM_CALLS: u64 = 6;

/// Each fetch's estimated cost (an LLM summarises every page it fetches).
const COST_PER_FETCH: f64 = 0.25;

fn fetch(step: u64) -> ActionRequest {
    let looping = step >= CALM_CALLS;
    let page = if looping { step % 3 } else { step };
    let rationale = if looping {
        format!("Page {page} may have changed since I last read it; re-reading it to be sure")
    } else {
        format!("Indexing the product docs for the support bot: page {page}")
    };
    ActionRequest {
        tool: "web.fetch".into(),
        args: json!({"url": format!("https://docs.example.com/guide/page-{page}"), "summarise": true}),
        session: "crawl-docs".into(),
        on_behalf_of: None,
        rationale: Some(rationale),
        cost: Some(COST_PER_FETCH),
        parent: Some("docs-index".into()),
        context: json!({"demo": true}),
    }
}

/// How long it waits before its next call: the usual pace while calm, much faster once it
/// loops, and a pause after a denial (it keeps trying, but the demo's history stays readable).
fn next_wait(pace: &Pace, step: u64, denied: bool) -> Duration {
    if denied {
        pace.max * 2
    } else if step < CALM_CALLS {
        pause(pace)
    } else {
        pace.min / 4
    }
}

pub(super) async fn runaway_loop(
    client: Client,
    token: String,
    mut go: tokio::sync::watch::Receiver<bool>,
    pace: Pace,
    stats: Arc<Stats>,
    waiters: Waiters,
) {
    // After the first agent's call, as the others; bounded, as theirs.
    let _ = tokio::time::timeout(Duration::from_secs(5), go.wait_for(|v| *v)).await;
    // One held call at a time: it waits for your answer on its budget before looping on.
    let held = Arc::new(tokio::sync::Semaphore::new(1));
    // A looping agent does not wait long for an answer.
    let patience = pace.patience / 4;
    let budget = crate::protocol::budget_secs(patience);
    for step in 0.. {
        let Ok(permit) = held.clone().acquire_owned().await else {
            return;
        };
        let mut denied = false;
        match client
            .submit_waiting(&token, &fetch(step), None, budget)
            .await
        {
            Ok(out) => {
                bump(&stats.submitted);
                bump(&stats.runaway_calls);
                if out.flagged {
                    bump(&stats.flagged);
                }
                match out.verdict {
                    Verdict::Allow => bump(&stats.allowed),
                    Verdict::Deny => {
                        bump(&stats.denied);
                        bump(&stats.runaway_denied);
                        denied = true;
                    }
                    Verdict::Pending => {
                        bump(&stats.escalated);
                        bump(&stats.runaway_held);
                        let held = Held {
                            token: token.clone(),
                            action: out.id,
                            patience,
                        };
                        wait_in_background(&client, held, &stats, permit, &waiters);
                    }
                }
            }
            Err(e) => {
                bump(&stats.errors);
                tracing::debug!(agent = RUNAWAY, error = %e, "demo agent call failed");
            }
        }
        tokio::time::sleep(next_wait(&pace, step, denied)).await;
    }
}
