//! What people and agents wait for, over loopback with 100 consoles connected:
//!
//! - escalation -> console: from an agent submitting a call that a rule sends to review to each
//!   of the 100 consoles having read the `escalation_created` message that carries it (every
//!   console's arrival counts), against the goal p99 <= 50 ms;
//! - decision -> agent: from an approver's signed decision being acknowledged (its HTTP response
//!   received) to the agent's long-poll of the held call returning with the outcome, against the
//!   goal p99 <= 20 ms.
//!
//! cargo bench --bench latency                         # 200 escalations at 20/s, 100 consoles
//! cargo bench --bench latency -- --escalations 100 --rate 10 --consoles 50
//!
//! The server runs in this process on a real loopback port and SQLite file (synchronous=FULL);
//! the consoles and the agent share the machine with it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gavel::client::Client;
use gavel::protocol::{ServerMessage, Verdict, Vote};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use common::{stream_as, Env, POLICY};

const CONSOLE_GOAL_MS: f64 = 50.0;
const UNBLOCK_GOAL_MS: f64 = 20.0;
/// The finance approvers the consoles take turns to be (the rule's group).
const APPROVERS: [&str; 3] = ["alice", "bob", "carol"];

struct Args {
    escalations: usize,
    rate: f64,
    consoles: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        escalations: 200,
        rate: 20.0,
        consoles: 100,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let next = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--escalations" => a.escalations = next.parse().unwrap_or(a.escalations),
            "--rate" => a.rate = next.parse().unwrap_or(a.rate),
            "--consoles" => a.consoles = next.parse().unwrap_or(a.consoles),
            _ => {
                i += 1;
                continue; // cargo passes --bench
            }
        }
        i += 2;
    }
    a
}

fn report(label: &str, mut us: Vec<u64>, goal_ms: f64) {
    us.sort_unstable();
    let pct = |p: f64| us[((p / 100.0) * (us.len() - 1) as f64).round() as usize] as f64 / 1000.0;
    let p99 = pct(99.0);
    println!(
        "{label:<28} n={:<6} p50={:>7.2}ms p99={:>7.2}ms max={:>7.2}ms  goal p99 <= {goal_ms} ms: {}",
        us.len(),
        pct(50.0),
        p99,
        pct(100.0),
        if p99 <= goal_ms { "met" } else { "missed" }
    );
}

/// A connected console: forwards (escalation id, arrival) for every `escalation_created`.
async fn console(
    url: &str,
    key: &gavel::protocol::PersonKey,
    seen: mpsc::UnboundedSender<(String, Instant)>,
) -> tokio::task::JoinHandle<()> {
    let (mut ws, welcome, _snapshot) = stream_as(url, key).await;
    assert!(
        matches!(welcome, ServerMessage::Welcome { .. }),
        "{welcome:?}"
    );
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let at = Instant::now();
            if let Ok(ServerMessage::EscalationCreated { escalation }) =
                serde_json::from_str::<ServerMessage>(&text)
            {
                if seen.send((escalation.id.clone(), at)).is_err() {
                    return;
                }
            }
        }
    })
}

/// One held call: submitted, long-polled by its agent, approved. Returns (submitted at,
/// escalation id, decision acknowledged -> long-poll returned).
async fn held_call(env: Arc<Env>, i: usize) -> (Instant, String, Duration) {
    let client = Client::new(&env.url());
    let token = env.token("refund-bot").to_string();
    let req = common::request(
        "stripe.refund",
        json!({"amount": 2000 + i}),
        &format!("s-{i}"),
    );
    let submitted = Instant::now();
    let out = client.submit(&token, &req).await.expect("submit");
    assert_eq!(out.verdict, Verdict::Pending, "{out:?}");
    let escalation = out.escalation.clone().expect("escalated");
    // The agent waits on its call.
    let poll = {
        let (client, token, id) = (client.clone(), token.clone(), out.id.clone());
        tokio::spawn(async move {
            let out = client
                .outcome(&token, &id, Duration::from_secs(30))
                .await
                .expect("long-poll");
            (Instant::now(), out)
        })
    };
    // Give the long-poll time to reach the server before the decision does.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let key = env.key("alice");
    let esc = client
        .escalation(key, &escalation)
        .await
        .expect("escalation");
    let signed = Client::sign_decision(key, &esc, Vote::Approve, "bench");
    let ack = client.decide(&signed).await.expect("decision");
    let acked = Instant::now();
    let _ = ack;
    let (returned, outcome) = poll.await.expect("poll task");
    assert_eq!(outcome.verdict, Verdict::Allow, "{outcome:?}");
    (
        submitted,
        escalation,
        returned.saturating_duration_since(acked),
    )
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let env = Arc::new(Env::start_sqlite(POLICY).await);
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let mut consoles = Vec::new();
    for c in 0..args.consoles {
        let key = env.key(APPROVERS[c % APPROVERS.len()]);
        consoles.push(console(&env.url(), key, seen_tx.clone()).await);
    }
    drop(seen_tx);
    // Every console's arrivals, by escalation.
    let arrivals: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let collector = {
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Some((id, at)) = seen_rx.recv().await {
                arrivals.lock().unwrap().entry(id).or_default().push(at);
            }
        })
    };
    println!(
        "gavel latency: {} consoles, {} escalations at {}/s, SQLite synchronous=FULL, {} cores (shared machine)",
        args.consoles,
        args.escalations,
        args.rate,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let start = tokio::time::Instant::now();
    let mut calls = Vec::new();
    for i in 0..args.escalations {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / args.rate)).await;
        calls.push(tokio::spawn(held_call(env.clone(), i)));
    }
    let mut submitted = HashMap::new();
    let mut unblock = Vec::new();
    for c in calls {
        let (at, id, waited) = c.await.expect("held call");
        submitted.insert(id, at);
        unblock.push(waited.as_micros() as u64);
    }
    // Every console has drawn every escalation by now, or never will.
    tokio::time::sleep(Duration::from_millis(500)).await;
    collector.abort();
    for c in &consoles {
        c.abort();
    }
    let arrivals = arrivals.lock().unwrap();
    let mut to_console = Vec::new();
    let mut missing = 0;
    for (id, at) in &submitted {
        let seen = arrivals.get(id).map_or(&[][..], Vec::as_slice);
        missing += args.consoles - seen.len().min(args.consoles);
        to_console.extend(
            seen.iter()
                .map(|t| t.duration_since(*at).as_micros() as u64),
        );
    }
    report("escalation -> console", to_console, CONSOLE_GOAL_MS);
    if missing > 0 {
        println!("  {missing} console arrivals never came");
    }
    report("decision ack -> agent", unblock, UNBLOCK_GOAL_MS);
}
