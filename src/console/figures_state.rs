//! The Metrics view's state: which window it shows and the governance figures last fetched
//! for it (data only; `figures` changes it).

use crate::protocol::{GovernanceFigures, Timestamp, FIGURE_WINDOWS};

#[derive(Debug, Clone, PartialEq)]
pub struct FiguresState {
    /// Index into [`FIGURE_WINDOWS`].
    pub window: usize,
    /// The figures of the window shown, once fetched.
    pub figures: Option<GovernanceFigures>,
    /// The request in flight; answers to any other are stale and dropped.
    pub loading: Option<u64>,
    /// Why the last fetch failed.
    pub error: Option<String>,
    /// When the figures shown arrived.
    pub fetched_at: Option<Timestamp>,
    /// Whether the view was on screen after the last event: entering it fetches.
    pub shown: bool,
}

impl Default for FiguresState {
    fn default() -> Self {
        FiguresState {
            // One hour: long enough to mean something, short enough to be about now.
            window: 1,
            figures: None,
            loading: None,
            error: None,
            fetched_at: None,
            shown: false,
        }
    }
}

impl FiguresState {
    /// The window as the server reads it (`15m`, `1h`, `24h`, `7d`).
    pub fn window(&self) -> &'static str {
        FIGURE_WINDOWS[self.window.min(FIGURE_WINDOWS.len() - 1)]
    }
}
