//! Each agent's own recent rate and the tools it has called: what an unusual call is measured
//! against.
//!
//! New tool: the agent has never called this tool before, by any outcome: the baseline is every
//! (agent, tool) pair in the store at start (`tools_called`) plus every call recorded since. An
//! agent's remembered tools are capped at [`MAX_TOOLS`]; past it, every tool not remembered is
//! new (flagged, never let through unseen).
//!
//! Rate: the agent's calls in the last `rate_window` (this one included) against its average
//! over the `baseline` before that window, scaled to one window; flagged when above
//! `rate_factor` times that and at least `min_calls`. An agent with no calls in the baseline
//! has an average of zero, so its first burst of `min_calls` is flagged. Counted in slots (see
//! `window`), every recorded call of every outcome.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use super::window::Window;
use crate::protocol::Timestamp;
use crate::server::policy::Anomaly;
use crate::server::store::RecentAction;

/// Most distinct tools remembered per agent.
pub const MAX_TOOLS: usize = 10_000;

#[derive(Default)]
struct Seen {
    tools: HashSet<String>,
    calls: Option<Window>,
}

pub struct Baseline {
    anomaly: Anomaly,
    agents: Mutex<HashMap<String, Seen>>,
}

impl Baseline {
    pub fn new(anomaly: &Anomaly) -> Baseline {
        Baseline {
            anomaly: anomaly.clone(),
            agents: Mutex::new(HashMap::new()),
        }
    }

    fn agents(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.agents.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn span(&self) -> Option<Duration> {
        self.anomaly
            .rate
            .as_ref()
            .map(|r| r.window.saturating_add(r.baseline))
    }

    /// The earliest time whose calls the baseline needs; `None` when nothing is flagged.
    pub fn lookback(&self, now: Timestamp) -> Option<Timestamp> {
        let span = crate::duration::to_chrono(self.span()?)?;
        Some(now.checked_sub_signed(span).unwrap_or(now))
    }

    pub fn restore(&self, calls: &[RecentAction], _now: Timestamp) {
        for c in calls {
            self.recorded(&c.agent, &c.tool, c.at);
        }
    }

    /// Whether the baseline needs every (agent, tool) pair ever called.
    /// Whether anything is flagged as unusual at all.
    pub fn enabled(&self) -> bool {
        self.anomaly.enabled()
    }

    pub fn wants_tools_called(&self) -> bool {
        self.anomaly.new_tool
    }

    pub fn restore_tools(&self, pairs: Vec<(String, String)>) {
        let mut agents = self.agents();
        for (agent, tool) in pairs {
            if self.anomaly.covers(&agent) {
                remember(agents.entry(agent).or_default(), tool);
            }
        }
    }

    /// Counts a recorded call.
    pub fn recorded(&self, agent: &str, tool: &str, at: Timestamp) {
        if !self.anomaly.enabled() || !self.anomaly.covers(agent) {
            return;
        }
        let mut agents = self.agents();
        let seen = agents.entry(agent.to_string()).or_default();
        if self.anomaly.new_tool {
            remember(seen, tool.to_string());
        }
        if let (Some(rate), Some(span)) = (&self.anomaly.rate, self.span()) {
            seen.calls
                .get_or_insert_with(|| Window::new(span, rate.window / 10))
                .add(at, 1, 0);
        }
    }

    /// What is unusual about this call, if anything, in words for the reason.
    pub fn unusual(&self, agent: &str, tool: &str, now: Timestamp) -> Option<String> {
        if !self.anomaly.enabled() || !self.anomaly.covers(agent) {
            return None;
        }
        let agents = self.agents();
        let seen = agents.get(agent);
        if self.anomaly.new_tool && !seen.is_some_and(|s| s.tools.contains(tool)) {
            return Some(format!("{agent} has never called {tool} before"));
        }
        let rate = self.anomaly.rate.as_ref()?;
        let (recent, before) = seen.and_then(|s| s.calls.as_ref()).map_or((0, 0), |w| {
            (
                w.last(now, rate.window).0,
                w.before(now, rate.window, rate.baseline).0,
            )
        });
        let recent = recent.saturating_add(1);
        let usual = before as f64 * rate.window.as_secs_f64() / rate.baseline.as_secs_f64();
        if recent < u64::from(rate.min_calls) || recent as f64 <= rate.factor * usual {
            return None;
        }
        Some(format!(
            "{agent} made {recent} calls within {} (its usual rate over the {} before: {usual:.1}; \
             flagged above {}x)",
            crate::duration::format(rate.window),
            crate::duration::format(rate.baseline),
            rate.factor
        ))
    }
}

fn remember(seen: &mut Seen, tool: String) {
    if seen.tools.len() < MAX_TOOLS {
        seen.tools.insert(tool);
    }
}
