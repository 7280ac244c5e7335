//! The relay's credentials: each `tenants[]` entry's secrets are a
//! credential with role `write` for that tenant (named `writer:<tenant>`),
//! and `auth.credentials` adds principals with other roles or several
//! tenants (see `crate::auth`). The access layer then decides every
//! request: the tenant of a write comes from the credential; a tenant
//! header (`X-Scope-OrgID`, or Thanos receive's `THANOS-TENANT`) only
//! selects among the credential's tenants (else 403), and must be sent by
//! a credential that writes for several tenants.
//!
//! With no tenants and no credentials the relay is open and every write
//! belongs to tenant `default` (the loopback quick start); with tenants
//! only, only writes need a credential.
//!
//! The config is re-read on SIGHUP; a file that does not load keeps the
//! credentials in force (logged and audited).

use std::path::PathBuf;
use std::sync::Arc;

use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::auth::{AccessControl, Authenticator, Coverage, Principal, Role, Secrets, Tenants};
use crate::config::relay::RelayConfig;
use crate::tenant::{self, TenantError, TENANT_HEADER};

/// Thanos receive's tenant header.
pub const THANOS_TENANT_HEADER: &str = "THANOS-TENANT";

/// The headers that name the tenant of a relay request, in order.
pub const TENANT_HEADERS: &[&str] = &[TENANT_HEADER, THANOS_TENANT_HEADER];

/// The authenticator `config` describes; fails on an invalid tenant id
/// (which config validation reports first).
pub fn authenticator(config: &RelayConfig) -> Result<Authenticator, TenantError> {
    let coverage = if !config.auth.credentials.is_empty() {
        Coverage::Everything
    } else if !config.tenants.is_empty() {
        Coverage::Writes
    } else {
        Coverage::Nothing
    };
    let mut credentials = Vec::new();
    for t in &config.tenants {
        let id = tenant::from_header(Some(&t.id))?;
        let principal = Principal::new(format!("writer:{id}"), Tenants::one(id), [Role::Write]);
        let secrets = Secrets {
            bearer_token_hashes: &t.bearer_token_hashes,
            basic_auth: &t.basic_auth,
            client_certificate_names: &t.client_certificate_names,
        };
        credentials.push((principal, secrets));
    }
    credentials.extend(config.auth.credentials.iter().map(|c| (c.principal(), c.secrets())));
    let anonymous = Principal::anonymous(Tenants::one(crate::auth::default_tenant()));
    Ok(Authenticator::new(credentials, coverage, anonymous))
}

/// Re-reads the relay's config file on every SIGHUP and puts its
/// credentials in force; a file that does not load changes nothing.
pub fn reload_on_sighup(control: Arc<AccessControl>, config_file: Option<PathBuf>, audit: AuditLog) {
    let Some(path) = config_file else { return };
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the relay's credentials");
            let result = RelayConfig::from_file(&path)
                .map_err(|e| e.to_string())
                .and_then(|c| authenticator(&c).map_err(|e| e.to_string()))
                .map(|a| control.replace(a));
            if let Err(e) = &result {
                tracing::error!(error = %e, "relay: config reload refused; the credentials in force stay");
            }
            audit.record(AuditEvent {
                principal: "SIGHUP".into(),
                tenant: String::new(),
                action: Action::Reload,
                target: format!("credentials of {}", path.display()),
                outcome: if result.is_ok() { Outcome::Success } else { Outcome::Error },
                source: None,
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};
    use base64::Engine as _;

    use super::*;
    use crate::auth::{authorize, AccessError, Scope};
    use crate::config::relay::{BasicAuthUser, TenantConfig};
    use crate::credentials::{hash_secret, SecretHash};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    /// The tenant a write with these headers goes to, as the access layer decides.
    fn write_tenant(auth: &Authenticator, h: &[(&'static str, &str)]) -> Result<String, AccessError> {
        let h = headers(h);
        let principal =
            if auth.requires_credentials(&[Role::Write]) { auth.authenticate(&h, None)? } else { auth.anonymous() };
        let tenants = authorize(&principal, &[Role::Write], Scope::Tenant, "POST /api/v1/write", &h, TENANT_HEADERS)?;
        Ok(tenants[0].to_string())
    }

    #[test]
    fn tenant_credentials_choose_the_tenant_and_headers_may_only_confirm_it() {
        let parse = |s: &str| SecretHash::parse(&hash_secret(s.as_bytes())).expect("hash");
        let config = RelayConfig {
            tenants: vec![
                TenantConfig { id: "team-a".into(), bearer_token_hashes: vec![parse("token-a")], ..Default::default() },
                TenantConfig {
                    id: "team-b".into(),
                    basic_auth: vec![BasicAuthUser { username: "prom".into(), password_hash: parse("pw-b") }],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let auth = authenticator(&config).expect("valid tenants");
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("prom:pw-b"));
        assert_eq!(write_tenant(&auth, &[("authorization", "Bearer token-a")]).expect("a"), "team-a");
        assert_eq!(
            write_tenant(&auth, &[("authorization", &basic), ("THANOS-TENANT", "team-b")]).expect("b"),
            "team-b"
        );
        let err = write_tenant(&auth, &[("authorization", "Bearer token-a"), ("X-Scope-OrgID", "team-b")])
            .expect_err("other tenant");
        assert_eq!(err.status(), 403);
        assert_eq!(
            err.to_string(),
            "header X-Scope-OrgID: \"team-b\" does not match the tenant team-a of your credentials: drop the header \
             or set it to team-a"
        );
        assert_eq!(write_tenant(&auth, &[]).expect_err("no credentials").status(), 401);
        // Tenant credentials do not guard reads: those stay as open as before roles.
        assert!(!auth.requires_credentials(&[Role::Admin]));
    }

    #[test]
    fn without_tenants_everything_is_default_and_other_tenants_are_refused() {
        let auth = authenticator(&RelayConfig::default()).expect("no tenants");
        assert_eq!(write_tenant(&auth, &[]).expect("open"), "default");
        assert_eq!(write_tenant(&auth, &[("X-Scope-OrgID", "default")]).expect("open"), "default");
        let err = write_tenant(&auth, &[("X-Scope-OrgID", "other")]).expect_err("other tenant");
        assert_eq!(err.status(), 403);
    }
}
