//! Simulated agents for the demo: a refund bot, a mailer, a database agent and a deployer that
//! send a realistic, varied stream through the real API (mostly allowed, some denied, some
//! escalated with rationales, some flagged), plus a colleague who votes and reviews, so that
//! two-approval rules and separation of duties are visible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::client::Client;
use crate::protocol::{
    may_decide, ActionRequest, FlagVerdict, PersonInfo, PersonKey, Resolution, Role, Verdict, Vote,
};

use super::world::{World, COLLEAGUE, GROUPS, OWNER, YOU};

/// How fast the agents act.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub min: Duration,
    pub max: Duration,
    /// How long the colleague waits before voting.
    pub colleague_delay: Duration,
    /// How long an agent waits for a held call before it gives up and withdraws it (told to
    /// the server as `wait_budget_secs`, so the console shows when it gives up).
    pub patience: Duration,
}

impl Pace {
    pub fn interactive() -> Pace {
        Pace {
            min: Duration::from_millis(2500),
            max: Duration::from_millis(8000),
            colleague_delay: Duration::from_secs(8),
            patience: Duration::from_secs(4 * 60),
        }
    }
    pub fn fast() -> Pace {
        Pace {
            min: Duration::from_millis(80),
            max: Duration::from_millis(250),
            colleague_delay: Duration::from_millis(500),
            patience: Duration::from_secs(4),
        }
    }
}

/// Most calls one agent has waiting for review at once. Like a real agent working a few
/// sessions, it makes no new call while that many wait, so the demo's queue stays bounded
/// (at most this many per agent) however long nobody decides.
pub const MAX_HELD_PER_AGENT: usize = 3;

/// The agent that acts first, and the step it starts at: the deployer's production release,
/// which you may approve, so the console opens on an escalation you can decide. The others
/// start once its call is in.
const FIRST_AGENT: &str = "deployer";
const FIRST_STEP: u64 = 2;

#[derive(Debug, Default)]
pub struct Stats {
    pub submitted: AtomicU64,
    pub allowed: AtomicU64,
    pub denied: AtomicU64,
    pub escalated: AtomicU64,
    pub flagged: AtomicU64,
    pub final_allow: AtomicU64,
    pub final_deny: AtomicU64,
    /// Held calls the agents gave up on and withdrew.
    pub withdrawn: AtomicU64,
    pub errors: AtomicU64,
    pub colleague_votes: AtomicU64,
    /// The runaway crawler's calls, those held for a budget or the rules, and those denied.
    pub runaway_calls: AtomicU64,
    pub runaway_held: AtomicU64,
    pub runaway_denied: AtomicU64,
}

pub(super) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(super) type Waiters = Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>;

pub fn rand_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b) % n.max(1)
}

fn pick<T>(items: &[T]) -> &T {
    &items[rand_below(items.len() as u64) as usize]
}

pub(super) fn pause(p: &Pace) -> Duration {
    let span = p.max.saturating_sub(p.min).as_millis() as u64;
    p.min + Duration::from_millis(rand_below(span + 1))
}

/// The simulation: every task it started, stopped together.
pub struct Simulation {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Agents waiting on escalated calls (long polls): stopped with the rest.
    waiters: Waiters,
    pub stats: Arc<Stats>,
}

impl Simulation {
    pub fn start(server: &str, world: &World, pace: Pace) -> anyhow::Result<Simulation> {
        let client = Client::new(server);
        let stats = Arc::new(Stats::default());
        let waiters: Waiters = Arc::default();
        let (first_in, go) = tokio::sync::watch::channel(false);
        let mut first_in = Some(first_in);
        let mut tasks = Vec::new();
        for (agent, token) in &world.tokens {
            if agent == super::runaway::RUNAWAY {
                tasks.push(tokio::spawn(super::runaway::runaway_loop(
                    client.clone(),
                    token.clone(),
                    go.clone(),
                    pace,
                    stats.clone(),
                    waiters.clone(),
                )));
                continue;
            }
            let start = if agent == FIRST_AGENT {
                Start::First(first_in.take())
            } else {
                Start::After(go.clone())
            };
            tasks.push(tokio::spawn(agent_loop(
                client.clone(),
                Agent {
                    id: agent.clone(),
                    token: token.clone(),
                },
                start,
                pace,
                stats.clone(),
                waiters.clone(),
            )));
        }
        let colleague = world.colleague_key()?;
        tasks.push(tokio::spawn(colleague_loop(
            client,
            colleague,
            pace,
            stats.clone(),
        )));
        Ok(Simulation {
            tasks,
            waiters,
            stats,
        })
    }

    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
        for w in self
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            w.abort();
        }
    }
}

/// What an agent does next: its tool call, given how many it has made.
pub fn next_action(agent: &str, step: u64) -> ActionRequest {
    let session = format!("{agent}-{}", step / 7 + 1);
    let (tool, args, rationale, on_behalf_of, parent): (&str, Value, &str, Option<String>, Option<&str>) =
        match agent {
            "refund-bot" => {
                let order = format!("o-{}", 4100 + rand_below(900));
                let customer = pick(&["maria.k", "j.osei", "li.wei", "p.novak"]).to_string();
                // It acts for the support lead who runs it (the roster's acts_for); the
                // customer is part of what it does.
                let obo = Some(OWNER.to_string());
                match step % 4 {
                    0 => ("stripe.get", json!({"id": order, "customer": customer}), "Look up the order the customer wrote about", obo, Some("support-triage")),
                    1 => ("stripe.list", json!({"customer": format!("cus_{customer}"), "limit": 10}), "List the customer's recent charges to find the duplicate", obo, Some("support-triage")),
                    _ => {
                        let amount = *pick(&[19.0, 45.0, 80.0, 240.0, 610.0, 1450.0, 2380.0, 4999.0, 12500.0]);
                        if step % 17 == 6 {
                            // Acts on your own behalf: separation of duties must refuse you.
                            return ActionRequest {
                                tool: "stripe.refund".into(),
                                args: json!({"amount": 1890.0, "order": order, "currency": "usd", "reason": "refund for your own account request"}),
                                session,
                                on_behalf_of: Some(YOU.into()),
                                rationale: Some("You asked me to refund your team's duplicate conference booking.".into()),
                                cost: Some(0.01),
                                parent: Some("support-triage".into()),
                                context: json!({}),
                            };
                        }
                        let why = if amount > 10000.0 {
                            "Enterprise customer cancelled within the trial window; contract says full refund of the annual plan"
                        } else if amount > 1000.0 {
                            "Customer was charged twice for the same order (two identical charges 3 minutes apart); refunding the duplicate"
                        } else {
                            "Item arrived damaged; photo attached to the ticket"
                        };
                        ("stripe.refund", json!({"amount": amount, "order": order, "currency": "usd", "reason": "duplicate", "customer": customer}), why, obo, Some("support-triage"))
                    }
                }
            }
            "mailer" => match step % 5 {
                0 | 3 => ("email.read", json!({"folder": "inbox", "unread": true}), "Check for replies", None, None),
                1 => ("email.send", json!({"to": "team@example.com", "subject": "Daily digest", "body": "12 tickets closed, 3 open."}), "Send the team its daily digest", None, None),
                2 => {
                    let to = pick(&["cfo@acme-corp.com", "buyer@northwind.io", "press@dailytech.news"]);
                    let subject = if step % 10 == 2 {
                        // Hostile text: the console must show the escape sequences inert.
                        "Invoice \u{1b}[31mOVERDUE\u{1b}[0m \u{1b}]0;pwned\u{7}"
                    } else {
                        "Re: your renewal quote"
                    };
                    ("email.send", json!({"to": to, "subject": subject, "body": "Hi,\n\nFollowing up on our call: the revised quote is attached, valid until Friday.\n\nBest,\nThe Example team"}), "The customer asked for the revised quote by end of day", None, None)
                }
                _ => {
                    let recipients: Vec<String> = (0..150).map(|i| format!("user{i}@customers.example.org")).collect();
                    ("email.send_bulk", json!({"recipients": recipients, "subject": "Spring promotion"}), "Marketing asked for the spring promo blast", None, None)
                }
            },
            "db-agent" => match step % 5 {
                0 | 2 => ("postgres.query", json!({"database": "prod-orders", "sql": "SELECT id, status FROM orders WHERE updated_at > now() - interval '1 hour'"}), "Check which orders changed in the last hour", None, Some("oncall-runbook")),
                1 => ("postgres.execute", json!({"database": "staging-orders", "sql": "UPDATE orders SET status = 'void' WHERE id = 17"}), "Reproduce the bug on staging", None, Some("oncall-runbook")),
                3 => ("postgres.execute", json!({"database": "prod-orders", "sql": "UPDATE orders SET status = 'refunded' WHERE id IN (4417, 4418) AND status = 'paid'"}), "Two orders were refunded in Stripe but still show as paid; fix the status to stop the reminder emails", None, Some("oncall-runbook")),
                _ => ("postgres.execute", json!({"database": "prod-orders", "sql": "DROP TABLE orders_backup_2024"}), "Free disk space: the backup table is a year old", None, Some("oncall-runbook")),
            },
            _ => match step % 4 {
                0 => ("deploy.get", json!({"service": "checkout", "environment": "production"}), "Check what is running", None, Some("release-train")),
                1 => ("deploy.release", json!({"service": "checkout", "environment": "staging", "build": 4800 + step}), "CI is green on main", None, Some("release-train")),
                2 => ("deploy.release", json!({"service": "checkout", "environment": "production", "build": 4800 + step, "canary": "10%"}), "Staging soaked for 30 minutes with no errors; this build fixes the double-charge bug", None, Some("release-train")),
                _ => ("deploy.rollback", json!({"service": "search", "environment": "staging", "to": "build-4790"}), "Latency regression on staging", None, Some("release-train")),
            },
        };
    ActionRequest {
        tool: tool.into(),
        args,
        session,
        on_behalf_of,
        rationale: Some(rationale.into()),
        cost: Some(0.01),
        parent: parent.map(String::from),
        context: json!({"demo": true}),
    }
}

struct Agent {
    id: String,
    token: String,
}

/// When an agent starts: first (telling the others once its first call is in), or after that.
enum Start {
    First(Option<tokio::sync::watch::Sender<bool>>),
    After(tokio::sync::watch::Receiver<bool>),
}

async fn agent_loop(
    client: Client,
    agent: Agent,
    start: Start,
    pace: Pace,
    stats: Arc<Stats>,
    waiters: Waiters,
) {
    let (offset, mut first_in) = match start {
        Start::First(tx) => (FIRST_STEP, tx),
        Start::After(mut go) => {
            // Bounded: a first agent that failed does not stop the others for long.
            let _ = tokio::time::timeout(Duration::from_secs(5), go.wait_for(|v| *v)).await;
            // A quick warm-up so sessions have history before the first escalation.
            (rand_below(4), None)
        }
    };
    let held = Arc::new(tokio::sync::Semaphore::new(MAX_HELD_PER_AGENT));
    let budget = crate::protocol::budget_secs(pace.patience);
    for step in 0.. {
        // Never closed, so always a permit: waits while MAX_HELD_PER_AGENT calls are held.
        let Ok(permit) = held.clone().acquire_owned().await else {
            return;
        };
        let req = next_action(&agent.id, step + offset);
        let submitted = client
            .submit_waiting(&agent.token, &req, None, budget)
            .await;
        if let Some(tx) = first_in.take() {
            let _ = tx.send(true);
        }
        match submitted {
            Ok(out) => {
                bump(&stats.submitted);
                if out.flagged {
                    bump(&stats.flagged);
                }
                match out.verdict {
                    Verdict::Allow => bump(&stats.allowed),
                    Verdict::Deny => bump(&stats.denied),
                    Verdict::Pending => {
                        bump(&stats.escalated);
                        let held = Held {
                            token: agent.token.clone(),
                            action: out.id,
                            patience: pace.patience,
                        };
                        wait_in_background(&client, held, &stats, permit, &waiters);
                    }
                }
            }
            Err(e) => {
                bump(&stats.errors);
                tracing::debug!(agent = %agent.id, error = %e, "demo agent call failed");
            }
        }
        let wait = if step < 3 {
            Duration::from_millis(150)
        } else {
            pause(&pace)
        };
        tokio::time::sleep(wait).await;
    }
}

/// A call the server holds for review, and how long its agent waits for it.
pub(super) struct Held {
    pub token: String,
    pub action: String,
    pub patience: Duration,
}

/// Waits for `held` in a task of its own, stopped with the simulation; `permit` is the call's
/// place among the agent's held calls.
pub(super) fn wait_in_background(
    client: &Client,
    held: Held,
    stats: &Arc<Stats>,
    permit: tokio::sync::OwnedSemaphorePermit,
    waiters: &Waiters,
) {
    let waiter = tokio::spawn(wait_or_withdraw(
        client.clone(),
        held,
        stats.clone(),
        permit,
    ));
    let mut w = waiters.lock().unwrap_or_else(|e| e.into_inner());
    w.retain(|h| !h.is_finished());
    w.push(waiter.abort_handle());
}

/// Waits for a held call's outcome until the agent's patience runs out, then withdraws it, as
/// gavel's adapters do; the call's place among the agent's held calls is freed either way.
async fn wait_or_withdraw(
    client: Client,
    held: Held,
    stats: Arc<Stats>,
    _place: tokio::sync::OwnedSemaphorePermit,
) {
    let Held {
        token,
        action,
        patience,
    } = held;
    let until = tokio::time::Instant::now() + patience;
    let out = match client.wait_final(&token, &action, until).await {
        Ok(o) if o.verdict == Verdict::Pending => client.withdraw(&token, &action).await,
        other => other,
    };
    match out {
        Ok(o) if o.verdict == Verdict::Allow => bump(&stats.final_allow),
        Ok(o) if o.resolution == Some(Resolution::Cancelled) => bump(&stats.withdrawn),
        Ok(_) => bump(&stats.final_deny),
        Err(_) => bump(&stats.errors),
    }
}

/// Sam, a colleague: gives the first vote on two-approval escalations, approves what you may not
/// (your own requests) after a while, and acknowledges staging deploys.
async fn colleague_loop(client: Client, key: PersonKey, pace: Pace, stats: Arc<Stats>) {
    let me = PersonInfo {
        id: COLLEAGUE.into(),
        name: "Sam Rivera".into(),
        roles: vec![Role::Approver, Role::Lead],
        groups: GROUPS.iter().map(|g| g.to_string()).collect(),
    };
    let delay = chrono::Duration::from_std(pace.colleague_delay).unwrap_or_default();
    loop {
        tokio::time::sleep(Duration::from_millis(1500).min(pace.colleague_delay)).await;
        let now = chrono::Utc::now();
        if let Ok(pending) = client.escalations(&key).await {
            for e in pending {
                if may_decide(&e, &me, Vote::Approve).is_err() || now - e.created_at < delay {
                    continue;
                }
                let (vote, reason) = if e.approvals_required >= 2 {
                    (Vote::Approve, "Second pair of eyes: matches the ticket")
                } else if e.action.on_behalf_of.as_deref() == Some(YOU)
                    && now - e.created_at > delay * 4
                {
                    (
                        Vote::Approve,
                        "Approved on your behalf: you cannot approve your own request",
                    )
                } else {
                    continue;
                };
                let d = Client::sign_decision(&key, &e, vote, reason);
                if client.decide(&d).await.is_ok() {
                    bump(&stats.colleague_votes);
                }
            }
        }
        if let Ok(flags) = client.flagged(&key).await {
            for f in flags.into_iter().filter(|f| f.review.is_none()) {
                if f.action.tool == "deploy.release" && now - f.flagged_at > delay * 3 {
                    let _ = client
                        .review_flag(
                            &key,
                            &f.action.id,
                            FlagVerdict::Acknowledge,
                            "Fine: CI green, staging only",
                        )
                        .await;
                }
            }
        }
    }
}
