//! The governance figures over the API (`GET /v1/governance`, a signed read).

use super::{Client, ClientError};
use crate::protocol::{GovernanceFigures, PersonKey};

impl Client {
    /// `GET /v1/governance` over `window` (`15m`, `1h`, `24h`, `7d` or any duration the server
    /// takes).
    pub async fn governance(
        &self,
        key: &PersonKey,
        window: &str,
    ) -> Result<GovernanceFigures, ClientError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("window", window)
            .finish();
        let path = format!("/v1/governance?{query}");
        self.read(key, &path).await
    }
}
