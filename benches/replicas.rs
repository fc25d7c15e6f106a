//! How fast replicas on one PostgreSQL hear each other, over loopback:
//!
//! - kill switch: from replica B acknowledging a flip to the first call replica A denies under
//!   it (four agents calling A back to back, so the first deny is seen within a call's time);
//! - console events: from replica B answering an agent whose call it escalated to a console
//!   connected to replica A drawing-ready (the `escalation_created` message read), beside the
//!   same for a console on B itself (the floor: no replica in between).
//!
//! cargo bench --bench replicas                 # 100 flips, 200 escalations
//! cargo bench --bench replicas -- --rounds 50
//!
//! Percentiles are printed with the machine's core count; the PostgreSQL is the test one
//! (`GAVEL_TEST_POSTGRES`, default the local server), each run on a fresh database.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gavel::protocol::{ServerMessage, Verdict};
use serde_json::json;

use common::cluster::Cluster;
use common::{next_msg, request, stream_as, POLICY};

fn rounds() -> usize {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == "--rounds")
        .and_then(|i| argv.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
}

fn report(label: &str, mut us: Vec<u64>) {
    us.sort_unstable();
    let pct = |p: f64| us[((p / 100.0) * (us.len() - 1) as f64).round() as usize] as f64 / 1000.0;
    println!(
        "{label:<44} n={:<5} p50={:>7.2}ms p90={:>7.2}ms p99={:>7.2}ms max={:>7.2}ms",
        us.len(),
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(100.0)
    );
}

/// Flips a switch on replica 1 and times the first deny under it on replica 0.
async fn kill_switch(c: &Cluster, rounds: usize) {
    let mut lat = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let scope = "tool:orders.get";
        // Off first (both replicas agree it is off before the clock starts).
        c.client(1)
            .flip(c.key("alice"), scope, false, "bench reset")
            .await
            .unwrap();
        loop {
            let out = c
                .client(0)
                .submit(
                    c.token("refund-bot"),
                    &request("orders.get", json!({}), "s"),
                )
                .await
                .unwrap();
            if out.verdict == Verdict::Allow {
                break;
            }
        }
        let denied = Arc::new(AtomicBool::new(false));
        let acked: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let first_deny: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let mut callers = Vec::new();
        for w in 0..4 {
            let (client, token) = (c.client(0).clone(), c.token("refund-bot").to_string());
            let (denied, first_deny, acked) = (denied.clone(), first_deny.clone(), acked.clone());
            callers.push(tokio::spawn(async move {
                while !denied.load(Ordering::SeqCst) {
                    let sent = Instant::now();
                    let req = request("orders.get", json!({"w": w}), &format!("r{round}"));
                    let out = client.submit(&token, &req).await.unwrap();
                    // Only a call sent after the flip was acknowledged counts.
                    let after_ack = acked.lock().unwrap().is_some_and(|a| sent >= a);
                    if out.verdict == Verdict::Deny && after_ack {
                        let mut f = first_deny.lock().unwrap();
                        if f.is_none() {
                            *f = Some(Instant::now());
                        }
                        denied.store(true, Ordering::SeqCst);
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        c.client(1)
            .flip(c.key("alice"), scope, true, "bench")
            .await
            .unwrap();
        let ack = Instant::now();
        *acked.lock().unwrap() = Some(ack);
        for t in callers {
            t.await.unwrap();
        }
        let first = first_deny.lock().unwrap().unwrap();
        lat.push(first.saturating_duration_since(ack).as_micros() as u64);
    }
    report("kill switch: B acknowledged -> A denies", lat);
}

/// Escalates a call on replica 1 and times its arrival at consoles on replicas 0 and 1.
async fn console_events(c: &Cluster, rounds: usize) {
    let (mut far, _, _) = stream_as(&c.url(0), c.key("carol")).await;
    let (mut near, _, _) = stream_as(&c.url(1), c.key("carol")).await;
    let (mut far_lat, mut near_lat) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        // A fresh session each time, and withdrawn after, so the per-agent pending bound never
        // turns one into a deny.
        let req = request(
            "stripe.refund",
            json!({"amount": 5000.0, "i": i}),
            &format!("c{i}"),
        );
        let out = c
            .client(1)
            .submit(c.token("refund-bot"), &req)
            .await
            .unwrap();
        let answered = Instant::now();
        let id = out.escalation.clone().expect("escalated");
        let (a, b) = tokio::join!(arrival(&mut far, &id), arrival(&mut near, &id));
        far_lat.push(a.saturating_duration_since(answered).as_micros() as u64);
        near_lat.push(b.saturating_duration_since(answered).as_micros() as u64);
        c.client(1)
            .withdraw(c.token("refund-bot"), &out.id)
            .await
            .unwrap();
    }
    report("console: B answered -> console on A has it", far_lat);
    report("console: B answered -> console on B has it", near_lat);
}

/// When escalation `id`'s creation reached `ws`.
async fn arrival(ws: &mut common::Ws, id: &str) -> Instant {
    loop {
        if let ServerMessage::EscalationCreated { escalation } = next_msg(ws).await {
            if escalation.id == id {
                return Instant::now();
            }
        }
    }
}

fn main() {
    let rounds = rounds();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = Cluster::start(POLICY, 2).await;
        println!(
            "gavel replicas: 2 replicas on one PostgreSQL over loopback, {} cores",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
        kill_switch(&c, rounds).await;
        console_events(&c, rounds * 2).await;
    });
}
