//! An idle console does not spin: the loop draws when something arrives and wakes for the clock
//! once a second only while a countdown is on screen; with nothing counting it sleeps. A real
//! server on a loopback port, the real loop on a TestBackend; the assertions are on how many
//! times it woke and drew over a stretch with no input, not on how long anything took.

mod common;

use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use common::console::*;
use common::{Env, POLICY};
use gavel::console::driver::Driver;
use gavel::console::event_loop::{self, LoopStats};

/// Runs the console's loop for `secs` seconds with no input, then stops it.
async fn idle_for(c: &mut Driver, secs: u64) -> LoopStats {
    let mut term = Terminal::new(TestBackend::new(160, 40)).unwrap();
    let (tx, mut stop) = mpsc::channel(1);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let _ = tx.send(()).await;
    });
    event_loop::run(c, &mut term, &mut stop).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_counting_on_screen_the_loop_sleeps() {
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    assert!(c.state.pending.is_empty());
    let stats = idle_for(&mut c, 4).await;
    // The clock never woke it; the first frame and at most what the server sent on its own
    // (the first read of the budgets' usage answering) were drawn.
    assert_eq!(stats.ticks, 0, "{stats:?}");
    assert!(stats.draws <= 3, "{stats:?}");
    assert!(stats.wakeups <= 2, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_countdown_on_screen_wakes_the_loop_once_a_second() {
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    let out = refund(&env, 1500.0).await;
    let esc = out.escalation.unwrap();
    c.wait_for("the escalation", WAIT, |s| {
        s.pending.iter().any(|e| e.id == esc)
    })
    .await
    .unwrap();
    let stats = idle_for(&mut c, 4).await;
    // At most one tick per second shown (the countdown changes; a loaded machine may run fewer),
    // a frame for each: not a fixed high rate.
    assert!((1..=5).contains(&stats.ticks), "{stats:?}");
    assert!(stats.draws <= stats.ticks + 2, "{stats:?}");
    assert!(stats.wakeups <= stats.ticks + 2, "{stats:?}");
}
