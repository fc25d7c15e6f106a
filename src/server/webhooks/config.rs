//! A checked `[[webhook]]` table made ready to send: secrets read from the environment and
//! decoded, and an HTTP client with the TLS settings every gavel client uses.

use std::time::Duration;

use crate::config::webhook::{
    decode_secret, EventType, Place, Secret, WebhookEntry, WebhookFormat,
};
use crate::config::ConfigError;

/// One webhook as the worker uses it.
pub struct Webhook {
    pub id: String,
    pub url: reqwest::Url,
    pub format: WebhookFormat,
    pub events: Vec<EventType>,
    /// The HMAC key (the decoded `whsec_` secret); no signature header without one.
    pub key: Option<Vec<u8>>,
    pub routing_key: Option<String>,
    pub near_deadline: Duration,
    pub timeout: Duration,
    pub retry_backoff: Duration,
    pub give_up_after: Duration,
    pub http: reqwest::Client,
}

impl Webhook {
    pub fn wants(&self, kind: EventType) -> bool {
        self.events.contains(&kind)
    }

    /// Reads what the entry names from the environment; a missing variable or an unreadable CA
    /// file is an error at the line that names it.
    pub fn resolve(entry: &WebhookEntry) -> Result<Webhook, ConfigError> {
        let key = entry
            .secret
            .as_ref()
            .map(|s| {
                let (text, at) = value(s, &entry.at)?;
                decode_secret(&text).map_err(|m| at.error(&format!("`secret`: {m}")))
            })
            .transpose()?;
        let routing_key = entry
            .routing_key
            .as_ref()
            .map(|s| value(s, &entry.at).map(|(v, _)| v))
            .transpose()?;
        let tls = crate::client::tls_client_config(entry.ca_cert.as_deref())
            .map_err(|e| entry.at.error(&format!("`ca_cert`: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(entry.timeout)
            .timeout(entry.timeout)
            // A receiver that points elsewhere has not received the event.
            .redirect(reqwest::redirect::Policy::none())
            .use_preconfigured_tls(tls)
            .user_agent(concat!("gavel-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| entry.at.error(&format!("cannot build an HTTP client: {e}")))?;
        let url =
            reqwest::Url::parse(&entry.url).map_err(|e| entry.at.error(&format!("`url`: {e}")))?;
        Ok(Webhook {
            id: entry.id.clone(),
            url,
            format: entry.format,
            events: entry.events.clone(),
            key,
            routing_key,
            near_deadline: entry.near_deadline,
            timeout: entry.timeout,
            retry_backoff: entry.retry_backoff,
            give_up_after: entry.give_up_after,
            http,
        })
    }
}

/// The secret's text and where it was configured.
fn value<'a>(secret: &'a Secret, table: &'a Place) -> Result<(String, &'a Place), ConfigError> {
    match secret {
        Secret::Literal(v) => Ok((v.clone(), table)),
        Secret::Env { var, at } => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok((v, at)),
            _ => Err(at.error(&format!("the environment variable `{var}` is not set"))),
        },
    }
}
