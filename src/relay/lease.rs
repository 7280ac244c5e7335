//! The relay's side of the HA lease held in the store: asks the store's
//! `POST /api/v1/ha_tracker/elect` (see `crate::api::ha_tracker`) for the
//! authoritative election of a cluster, with the relay's service token and
//! the tenant in the tenant header.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ha::{Election, Lease};

/// Path of the store's election endpoint.
pub const ELECT_PATH: &str = "/api/v1/ha_tracker/elect";

/// Body of an election request.
#[derive(Debug, Serialize, Deserialize)]
pub struct ElectRequest {
    /// The cluster.
    pub cluster: String,
    /// The replica seen.
    pub replica: String,
    /// Newest sample timestamp of that replica the relay accepted or holds.
    pub max_ts: i64,
    /// The relay's failover timeout, in milliseconds.
    pub failover_timeout_ms: u64,
}

/// A lease client that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// `store.url` is not a URL.
    #[error("store.url {url:?}: {source}")]
    Url {
        /// The URL as configured.
        url: String,
        /// The parser's complaint.
        #[source]
        source: <reqwest::Url as std::str::FromStr>::Err,
    },
}

/// Client of the store's lease.
pub struct StoreLease {
    client: reqwest::Client,
    url: reqwest::Url,
    bearer_token: Option<String>,
    tenant_header: String,
    failover_timeout: Duration,
    runtime: tokio::runtime::Handle,
}

impl StoreLease {
    /// A lease client for the store whose write URL is `write_url`, asking
    /// with `client` (the forwarder's, `super::forward::store_client`);
    /// calls run on `runtime` (the caller blocks on them).
    pub fn new(
        client: reqwest::Client,
        write_url: &str,
        bearer_token: Option<String>,
        tenant_header: String,
        failover_timeout: Duration,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, LeaseError> {
        let mut url =
            reqwest::Url::parse(write_url).map_err(|source| LeaseError::Url { url: write_url.to_owned(), source })?;
        url.set_path(ELECT_PATH);
        Ok(Self { client, url, bearer_token, tenant_header, failover_timeout, runtime })
    }
}

impl Lease for StoreLease {
    fn elect(&self, tenant: &str, cluster: &str, replica: &str, max_ts: i64) -> Option<Election> {
        let body = ElectRequest {
            cluster: cluster.to_owned(),
            replica: replica.to_owned(),
            max_ts,
            failover_timeout_ms: u64::try_from(self.failover_timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let mut req = self.client.post(self.url.clone()).header(self.tenant_header.as_str(), tenant).json(&body);
        if let Some(token) = &self.bearer_token {
            req = req.bearer_auth(token);
        }
        let result = self.runtime.block_on(async {
            let r = req.send().await?.error_for_status()?;
            r.json::<Election>().await
        });
        match result {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(tenant, cluster, error = %e, "ha: asking the store's lease failed");
                None
            }
        }
    }
}
