//! The store's access control: its authenticator built from `auth:`, the
//! tenant header it reads, and reloading `auth:` from the config file on
//! `POST /-/reload` (audited by the access layer) and SIGHUP (audited
//! here); a file that does not load keeps the credentials in force.
//!
//! Which role each route needs is beside the routes (`super::router`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::auth::{AccessControl, Authenticator, Coverage, Principal, Role, Secrets, Tenants};
use crate::config::auth::AuthConfig;
use crate::config::Config;
use crate::tenant::TENANT_HEADER;

/// Name of the principal of `auth.write_bearer_token_hashes`.
pub const WRITE_TOKEN_PRINCIPAL: &str = "write-token";

/// The store's access control and where its credentials are read from.
pub struct StoreAccess {
    /// The authenticator in force.
    pub control: Arc<AccessControl>,
    /// The config file `auth:` is re-read from; `None`: nothing to reload.
    config_file: Option<PathBuf>,
}

impl StoreAccess {
    /// An open store (no credentials, no config file).
    pub fn open() -> Self {
        Self::new(&AuthConfig::default(), None)
    }

    /// Access control per `config`, reloadable from `config_file`.
    pub fn new(config: &AuthConfig, config_file: Option<PathBuf>) -> Self {
        Self { control: Arc::new(AccessControl::new(authenticator(config), &[TENANT_HEADER])), config_file }
    }

    /// Re-reads `auth:` from the config file and puts it in force; on error
    /// the credentials in force stay (the error is logged and returned).
    pub fn reload(&self) -> Result<(), String> {
        let Some(path) = &self.config_file else { return Ok(()) };
        let result = Config::from_file(path).map(|c| self.control.replace(authenticator(&c.auth)));
        if let Err(e) = &result {
            tracing::error!(error = %e, "auth: config reload refused; the credentials in force stay");
        }
        result.map_err(|e| e.to_string())
    }
}

/// The authenticator `config` describes.
pub fn authenticator(config: &AuthConfig) -> Authenticator {
    let coverage = if !config.credentials.is_empty() {
        Coverage::Everything
    } else if !config.write_bearer_token_hashes.is_empty() {
        Coverage::Writes
    } else {
        Coverage::Nothing
    };
    let write_token = Principal {
        default_tenant: Some(crate::auth::default_tenant()),
        ..Principal::new(WRITE_TOKEN_PRINCIPAL, Tenants::All, [Role::Write])
    };
    let credentials = config.credentials.iter().map(|c| (c.principal(), c.secrets())).chain(
        (!config.write_bearer_token_hashes.is_empty()).then(|| {
            (write_token, Secrets { bearer_token_hashes: &config.write_bearer_token_hashes, ..Default::default() })
        }),
    );
    Authenticator::new(credentials, coverage, Principal::anonymous(Tenants::All))
}

/// Reloads `auth:` on every SIGHUP, for as long as the process runs.
pub fn reload_on_sighup(access: Arc<StoreAccess>, audit: AuditLog) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the auth section");
            let result = access.reload();
            audit.record(AuditEvent {
                principal: "SIGHUP".into(),
                tenant: String::new(),
                action: Action::Reload,
                target: "auth section of the config file".into(),
                outcome: if result.is_ok() { Outcome::Success } else { Outcome::Error },
                source: None,
            });
        }
    });
}
