//! Families read at scrape time from the parts that hold them, rather than counted twice: the
//! pending escalations (from the queue's memory, one short lock, no store query), the kill
//! switches that are on, and the store writer's group-commit counts.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Utc;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::server::killswitch::KillSwitches;
use crate::server::store::StoreStats;

/// How many escalations are pending and when the oldest was created: the queue answers it
/// (the queue reports to the metrics, so the metrics reach it through this, not by name).
pub(crate) trait PendingSummary: Send + Sync {
    fn pending_summary(&self) -> (usize, Option<chrono::DateTime<Utc>>);
}

/// How many agents each breaker of the policy is open (or half-open) for, every breaker listed:
/// governance answers it.
pub(crate) trait OpenBreakers: Send + Sync {
    fn open_breakers(&self) -> Vec<(String, u64)>;
}

/// The parts a scrape reads.
pub(crate) struct Live {
    pub queue: Arc<dyn PendingSummary>,
    pub breakers: Arc<dyn OpenBreakers>,
    pub kill: Arc<KillSwitches>,
    pub store: Arc<StoreStats>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (pending, oldest) = self.queue.pending_summary();
        let age = oldest
            .and_then(|created| (Utc::now() - created).to_std().ok())
            .map_or(0.0, |d| d.as_secs_f64());
        gauge(
            &mut encoder,
            "escalations_pending",
            "Escalations waiting for a decision now.",
            ConstGauge::new(pending as i64),
        )?;
        gauge(
            &mut encoder,
            "escalation_oldest_pending_age_seconds",
            "How long the oldest pending escalation has waited (0 when none is pending).",
            ConstGauge::new(age),
        )?;
        gauge(
            &mut encoder,
            "killswitches_on",
            "Kill switches that are on (global, agent or tool).",
            ConstGauge::new(self.kill.on_count() as i64),
        )?;
        breakers_open(&mut encoder, self.breakers.open_breakers())?;
        counter(
            &mut encoder,
            "store_commits",
            "Store transactions committed (each one fsync); ops per commit shows group commit at work.",
            self.store.commits.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "store_ops",
            "Writes committed to the store, over all its commits.",
            self.store.ops.load(Ordering::Relaxed),
        )
    }
}

fn gauge<N>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: ConstGauge<N>,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<N>: EncodeMetric,
{
    let metric = encoder.encode_descriptor(name, help, None, value.metric_type())?;
    value.encode(metric)
}

/// `gavel_breakers_open{breaker="ID"}`: one sample per breaker in the policy, so a breaker that
/// opens shows as a change, not as a new series. A policy without breakers has no such family
/// (a family without samples is not one every parser takes).
fn breakers_open(
    encoder: &mut DescriptorEncoder,
    open: Vec<(String, u64)>,
) -> Result<(), std::fmt::Error> {
    if open.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(
        "breakers_open",
        "Agents each circuit breaker is open or half-open for now (their calls are denied).",
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (breaker, n) in open {
        let labels = [("breaker", breaker)];
        let sample = family.encode_family(&labels)?;
        ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX)).encode(sample)?;
    }
    Ok(())
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let value = ConstCounter::new(value);
    let metric = encoder.encode_descriptor(name, help, None, value.metric_type())?;
    value.encode(metric)
}
