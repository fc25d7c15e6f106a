//! The limits' use at scrape time, per limit and agent (sessions summed, so a label never
//! carries an agent-chosen string): the share of each envelope used, and its calls and cost.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use crate::protocol::{LimitUse, Timestamp};

/// Each limit's use in its current windows: the ledger answers it (it reports to the
/// metrics, so the metrics reach it through this, not by name).
pub(crate) trait BudgetSummary: Send + Sync {
    fn budget_uses(&self, now: Timestamp) -> Vec<LimitUse>;
}

pub(crate) struct BudgetUse(pub Arc<dyn BudgetSummary>);

impl std::fmt::Debug for BudgetUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetUse").finish_non_exhaustive()
    }
}

/// (largest share, calls, cost) per (limit, agent).
type Totals = BTreeMap<(String, String), (f64, u64, f64)>;

impl Collector for BudgetUse {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut totals: Totals = BTreeMap::new();
        for u in self.0.budget_uses(Utc::now()) {
            let t = totals.entry((u.limit, u.agent)).or_default();
            t.0 = t.0.max(u.share);
            t.1 = t.1.saturating_add(u.calls);
            t.2 += u.cost;
        }
        // A family without samples trips OpenMetrics parsers: none until a limit is in use.
        if totals.is_empty() {
            return Ok(());
        }
        family(
            &mut encoder,
            "budget_use_ratio",
            "Share of each limit's envelope used in its current window (calls or cost, whichever \
             is nearer its maximum with grace; for per-session limits the fullest session).",
            &totals,
            |t| t.0,
        )?;
        family(
            &mut encoder,
            "budget_calls",
            "Calls counted by each limit in its current window (sessions summed).",
            &totals,
            |t| t.1 as f64,
        )?;
        family(
            &mut encoder,
            "budget_cost",
            "Cost counted by each limit in its current window (sessions summed; reported actual \
             costs replace estimates).",
            &totals,
            |t| t.2,
        )
    }
}

fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    totals: &Totals,
    value: impl Fn(&(f64, u64, f64)) -> f64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(0.0f64);
    let mut metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
    for ((limit, agent), t) in totals {
        let labels = [("limit", limit.as_str()), ("agent", agent.as_str())];
        ConstGauge::new(value(t)).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}
