//! Cost and rate governance over the API: the limits' use and open breakers (a signed read),
//! and an operator's breaker reset (signed, purpose `breaker-reset`).

use reqwest::Method;

use super::{Client, ClientError};
use crate::protocol::signing::Purpose;
use crate::protocol::{now_rfc3339, BreakerResetBody, PersonKey, SignedBreakerReset, UsageReport};

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
        self.send(self.signed(key, Method::GET, &path)).await
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

    /// `POST /v1/breakers/reset`: the agent's breakers after the reset.
    pub async fn reset_breaker(
        &self,
        key: &PersonKey,
        agent: &str,
        breaker: Option<&str>,
        reason: &str,
    ) -> Result<UsageReport, ClientError> {
        let signed = Self::sign_breaker_reset(key, agent, breaker, reason);
        let req = self
            .http
            .post(format!("{}/v1/breakers/reset", self.base))
            .json(&signed);
        self.send(req).await
    }
}
