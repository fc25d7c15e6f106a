//! `wait_budget_secs` on `POST /v1/actions`: how long the agent side (a hook, a gate, a client)
//! will wait for the outcome. An adapter's budget is often far shorter than the rule's timeout
//! (Claude Code's hook gives up after its own `timeout`); approvers need to see that, because
//! an approval after the agent stopped waiting runs nothing.
//!
//! Relative seconds rather than an absolute time: the adapter knows a duration, not a shared
//! clock, and an agent host's clock may be minutes off; the server turns it into
//! `Escalation::agent_deadline` with its own clock when the call arrives.

use chrono::Duration;

use super::wire::Timestamp;

/// The longest budget accepted: a week. Anything longer is a mistake or an attack, and would
/// outlive every rule's timeout anyway.
pub const MAX_WAIT_BUDGET_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// When the agent gives up on a call received at `received` with `secs` of budget. Refuses a
/// budget that is not finite, not positive (already past) or longer than
/// [`MAX_WAIT_BUDGET_SECS`].
pub fn agent_deadline(received: Timestamp, secs: f64) -> Result<Timestamp, String> {
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_WAIT_BUDGET_SECS {
        return Err(format!(
            "`wait_budget_secs` must be a number of seconds above 0 and at most \
             {MAX_WAIT_BUDGET_SECS} (a week), got {secs}"
        ));
    }
    Ok(received + Duration::milliseconds((secs * 1000.0).round() as i64))
}

/// The budget to report for `left` of waiting time: whole milliseconds, never zero (a budget
/// that is spent is not reported at all).
pub fn budget_secs(left: std::time::Duration) -> Option<f64> {
    let ms = left.as_millis();
    (ms > 0).then(|| (ms.min(MAX_WAIT_BUDGET_SECS as u128 * 1000) as f64) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_become_deadlines_and_hostile_ones_are_refused() {
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            agent_deadline(t, 42.5).unwrap(),
            "2026-01-01T00:00:42.500Z".parse::<Timestamp>().unwrap()
        );
        assert!(agent_deadline(t, MAX_WAIT_BUDGET_SECS).is_ok());
        for bad in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            MAX_WAIT_BUDGET_SECS + 1.0,
            1e300,
        ] {
            assert!(agent_deadline(t, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_spent_budget_is_not_reported() {
        assert_eq!(budget_secs(std::time::Duration::ZERO), None);
        assert_eq!(
            budget_secs(std::time::Duration::from_millis(41_250)),
            Some(41.25)
        );
        assert_eq!(
            budget_secs(std::time::Duration::from_secs(u64::MAX / 2)),
            Some(MAX_WAIT_BUDGET_SECS)
        );
    }
}
