//! `auth:`: who may write to the store. With no credentials configured the
//! store accepts unauthenticated writes (the quick start on loopback); with
//! any, every remote write must present one of them, which is how the relay
//! (and only the relay) reaches a store that is exposed beyond loopback.

use serde::Deserialize;

use crate::credentials::SecretHash;

/// `auth:` section of the store's config.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Hashes (`rampart hash-secret`) of the bearer tokens allowed to
    /// remote-write, e.g. the relay's service token; empty: no check.
    pub write_bearer_token_hashes: Vec<SecretHash>,
}
