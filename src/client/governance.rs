//! Cost and rate governance over the API: the limits' use and open breakers (a signed read),
//! an operator's breaker reset (signed, purpose `breaker-reset`), and an agent's report of what
//! a finished call actually cost (agent token).

use std::time::Duration;

use super::failover::Repeat;
use super::{Client, ClientError};
use crate::protocol::signing::Purpose;
use crate::protocol::{
    now_rfc3339, BreakerResetBody, CostRecorded, CostReport, PersonKey, SignedBreakerReset,
    UsageReport,
};

impl Client {
    /// `GET /v1/usage`, for one agent or all.
    pub async fn usage(
        &self,
        key: &PersonKey,
        agent: Option<&str>,
    ) -> Result<UsageReport, ClientError> {
        let path = match agent {
            Some(a) => {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("agent", a)
                    .finish();
                format!("/v1/usage?{query}")
            }
            None => "/v1/usage".to_string(),
        };
        self.read(key, &path).await
    }

    /// Signs a reset of `agent`'s breakers (one, or every open one) as `key`'s person.
    pub fn sign_breaker_reset(
        key: &PersonKey,
        agent: &str,
        breaker: Option<&str>,
        reason: &str,
    ) -> SignedBreakerReset {
        let body = BreakerResetBody {
            scope: format!("agent:{agent}"),
            breaker: breaker.map(str::to_string),
            reason: reason.to_string(),
            operator: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::BreakerReset, &body);
        SignedBreakerReset { body, signature }
    }

    /// `POST /v1/breakers/reset`: the agent's breakers after the reset. One-shot: sent to
    /// another replica only when the one before surely did not take it.
    pub async fn reset_breaker(
        &self,
        key: &PersonKey,
        agent: &str,
        breaker: Option<&str>,
        reason: &str,
    ) -> Result<UsageReport, ClientError> {
        let signed = Self::sign_breaker_reset(key, agent, breaker, reason);
        self.call(Repeat::Once, |base| {
            self.http
                .post(format!("{base}/v1/breakers/reset"))
                .json(&signed)
        })
        .await
    }

    /// `POST /v1/actions/{id}/cost` as the agent that made the call: its actual cost replaces
    /// the estimate in the limits that counted it. A cost that is negative or not finite is
    /// refused here, before anything is sent (JSON cannot carry it faithfully). Safe to send to
    /// another replica after one went quiet: the same cost replaces the estimate again.
    pub async fn report_cost(
        &self,
        token: &str,
        id: &str,
        cost: f64,
    ) -> Result<CostRecorded, ClientError> {
        if !cost.is_finite() || cost < 0.0 {
            return Err(ClientError::Config(format!(
                "a call's cost must be a finite number of 0 or more, not {cost}"
            )));
        }
        self.call(Repeat::Safe, |base| {
            self.http
                .post(format!("{base}/v1/actions/{id}/cost"))
                .bearer_auth(token)
                .timeout(Duration::from_secs(5))
                .json(&CostReport { cost })
        })
        .await
    }
}
