//! `auth:`: who may use the store. `credentials` lists principals with
//! their tenants and roles (see `crate::auth`); with any of them every
//! endpoint but the probes needs a credential. `write_bearer_token_hashes`
//! is the shorthand from before roles existed: each hash is a credential
//! with role `write` for every tenant (the relay's service token), and
//! when it is all that is configured only writes are checked. With
//! neither, the store is open (the loopback quick start).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::auth::{self, CredentialConfig};
use crate::credentials::SecretHash;

/// `auth:` section of the store's config.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Principals, their tenants and roles, and their secrets.
    pub credentials: Vec<CredentialConfig>,
    /// Hashes (`rampart hash-secret`) of bearer tokens that may write for
    /// every tenant, e.g. the relay's service token; a request without a
    /// tenant header writes to tenant `default`.
    pub write_bearer_token_hashes: Vec<SecretHash>,
}

impl AuthConfig {
    /// Problems serde cannot see, by key path.
    pub fn problems(&self) -> Vec<String> {
        auth::problems("auth.credentials", &self.credentials, &mut BTreeMap::new())
    }
}
