//! The console's loop, on any ratatui backend: apply what arrives (drained, then drawn once),
//! and wake for the clock only when it changes something (`clock::next_wake`): once a second
//! while a countdown is on screen, not at all in between otherwise. Idle, the console sleeps.

use std::time::Duration;

use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use super::clock;
use super::driver::Driver;
use super::views;

/// What the loop did: tests count these over a stretch with no input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoopStats {
    /// Frames drawn.
    pub draws: u64,
    /// Times the loop woke: an event, the clock, or a stop.
    pub wakeups: u64,
    /// Of those, the clock's.
    pub ticks: u64,
}

/// Runs until the person quits, `stop` says so, or the terminal is gone.
pub async fn run<B: Backend>(
    driver: &mut Driver,
    terminal: &mut Terminal<B>,
    stop: &mut mpsc::Receiver<()>,
) -> anyhow::Result<LoopStats> {
    let mut stats = LoopStats::default();
    let mut dirty = true;
    loop {
        if dirty {
            if let Err(e) = terminal.draw(|f| views::render(f, &driver.state)) {
                // The terminal is gone (window closed, ssh dropped): nobody is left to read an
                // error, so stop cleanly and let the caller tidy up.
                tracing::warn!(error = %e, "cannot draw: the terminal is gone; closing");
                return Ok(stats);
            }
            stats.draws += 1;
        }
        let wake = clock::next_wake(&driver.state);
        let sleep = (wake - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            got = driver.step(Duration::from_secs(3600)) => {
                dirty = got;
                // The clock may have stood still while nothing counted: what is drawn now
                // counts from the present.
                if got && clock::next_wake(&driver.state) <= chrono::Utc::now() {
                    driver.tick();
                }
            }
            _ = tokio::time::sleep(sleep) => {
                driver.tick();
                stats.ticks += 1;
                dirty = true;
            }
            // A closed terminal (SIGHUP) or a kill (SIGTERM) still restores the terminal and,
            // in the demo, stops the server and removes its temporary files.
            Some(()) = stop.recv() => {
                tracing::info!("stop signal: closing the console");
                return Ok(stats);
            }
        }
        stats.wakeups += 1;
        if driver.state.quit {
            return Ok(stats);
        }
    }
}
