//! Who is writing: credentials → tenant, and tenant headers checked against
//! it.
//!
//! A request authenticates with a verified client certificate (mTLS, see
//! [`crate::tls`]), `Authorization: Bearer <token>` or HTTP basic auth; the
//! credential alone decides the tenant. A tenant header a
//! client sends (`X-Scope-OrgID`, or Thanos receive's `THANOS-TENANT`) is an
//! assertion: it must name the credential's tenant, else 403. With no
//! tenants configured the relay is open and every write belongs to tenant
//! `default` (the loopback quick start).
//!
//! Verifying a secret runs Argon2 once per distinct credential; outcomes are
//! cached by [`VerifiedCache`] (see `crate::credentials`).

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::Engine as _;

use super::error::RelayError;
use crate::config::relay::TenantConfig;
use crate::credentials::{SecretHash, VerifiedCache};
use crate::tenant::{self, TenantId};
use crate::tls::ClientCertificate;

/// Thanos receive's tenant header.
pub const THANOS_TENANT_HEADER: &str = "THANOS-TENANT";

/// Maps credentials to tenants.
pub struct Authenticator {
    tenants: Vec<TenantId>,
    /// Bearer token hashes and the index of their tenant.
    bearer: Vec<(SecretHash, usize)>,
    /// Basic-auth user → password hash and tenant index.
    basic: HashMap<String, (SecretHash, usize)>,
    /// Client certificate name → tenant index.
    certificates: HashMap<String, usize>,
    /// Outcomes per presented `Authorization` value: the tenant index, or
    /// `None` for a credential that matched nothing.
    cache: VerifiedCache<Option<usize>>,
}

impl Authenticator {
    /// From tenant configs; fails on an invalid tenant id (which config
    /// validation reports first).
    pub fn new(configs: &[TenantConfig]) -> Result<Self, tenant::TenantError> {
        let mut tenants = Vec::new();
        let mut bearer = Vec::new();
        let mut basic = HashMap::new();
        let mut certificates = HashMap::new();
        for (i, t) in configs.iter().enumerate() {
            certificates.extend(t.client_certificate_names.iter().map(|n| (n.clone(), i)));
            tenants.push(tenant::from_header(Some(&t.id))?);
            bearer.extend(t.bearer_token_hashes.iter().map(|h| (h.clone(), i)));
            for u in &t.basic_auth {
                basic.insert(u.username.clone(), (u.password_hash.clone(), i));
            }
        }
        Ok(Self { tenants, bearer, basic, certificates, cache: VerifiedCache::default() })
    }

    /// True when no tenant is configured: no authentication at all.
    pub fn is_open(&self) -> bool {
        self.tenants.is_empty()
    }

    /// The tenant of a request, after checking its tenant headers. May run
    /// a slow hash (first sight of a credential): call it where blocking is
    /// allowed.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        certificate: Option<&ClientCertificate>,
    ) -> Result<TenantId, RelayError> {
        let by_certificate = certificate.and_then(|c| c.names.iter().find_map(|n| self.certificates.get(n))).copied();
        let tenant = if self.is_open() {
            tenant::from_header(None).map_err(|_| RelayError::BadCredentials)?
        } else if let Some(i) = by_certificate {
            self.tenants[i].clone()
        } else {
            let value = headers.get(axum::http::header::AUTHORIZATION).ok_or(RelayError::MissingCredentials)?;
            let index = self.cache.get_or_verify(value.as_bytes(), || self.verify(value.as_bytes()));
            self.tenants[index.ok_or(RelayError::BadCredentials)?].clone()
        };
        for header in [tenant::TENANT_HEADER, THANOS_TENANT_HEADER] {
            if let Some(sent) = headers.get(header) {
                if sent.as_bytes() != tenant.as_str().as_bytes() {
                    return Err(RelayError::TenantMismatch {
                        header,
                        sent: String::from_utf8_lossy(sent.as_bytes()).into_owned(),
                        tenant,
                    });
                }
            }
        }
        Ok(tenant)
    }

    /// Full verification of an `Authorization` value (slow).
    fn verify(&self, value: &[u8]) -> Option<usize> {
        let value = std::str::from_utf8(value).ok()?;
        let (scheme, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.bearer.iter().find(|(h, _)| h.verify(rest.as_bytes())).map(|(_, i)| *i);
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, password) = decoded.split_once(':')?;
            let (hash, i) = self.basic.get(user)?;
            return hash.verify(password.as_bytes()).then_some(*i);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::config::relay::BasicAuthUser;
    use crate::credentials::hash_secret;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn credentials_choose_the_tenant_and_headers_may_only_confirm_it() {
        let parse = |s: &str| SecretHash::parse(&hash_secret(s.as_bytes())).expect("hash");
        let auth = Authenticator::new(&[
            TenantConfig { id: "team-a".into(), bearer_token_hashes: vec![parse("token-a")], ..Default::default() },
            TenantConfig {
                id: "team-b".into(),
                basic_auth: vec![BasicAuthUser { username: "prom".into(), password_hash: parse("pw-b") }],
                client_certificate_names: vec!["workload-b.example".into()],
                ..Default::default()
            },
        ])
        .expect("valid tenants");
        let ok = |h: &[(&'static str, &str)]| auth.authenticate(&headers(h), None).map(|t| t.to_string());
        assert_eq!(ok(&[("authorization", "Bearer token-a")]).expect("a"), "team-a");
        assert_eq!(ok(&[("authorization", "bearer token-a")]).expect("scheme is case-insensitive"), "team-a");
        assert_eq!(ok(&[("authorization", &basic("prom", "pw-b"))]).expect("b"), "team-b");
        assert_eq!(ok(&[("authorization", &basic("prom", "pw-b")), ("THANOS-TENANT", "team-b")]).expect("b"), "team-b");
        assert_eq!(ok(&[("authorization", "Bearer token-a"), ("X-Scope-OrgID", "team-a")]).expect("a"), "team-a");

        let refused = |h: &[(&'static str, &str)]| auth.authenticate(&headers(h), None).expect_err("refused");
        assert!(matches!(refused(&[]), RelayError::MissingCredentials));
        for bad in ["Bearer token-b", "Bearer", "token-a", &basic("prom", "pw-a"), &basic("nobody", "pw-b"), "Basic !!"]
        {
            assert!(matches!(refused(&[("authorization", bad)]), RelayError::BadCredentials), "{bad}");
        }
        let err = refused(&[("authorization", "Bearer token-a"), ("X-Scope-OrgID", "team-b")]);
        assert_eq!(err.class().http_status(), 403);
        assert_eq!(
            err.to_string(),
            "header X-Scope-OrgID: \"team-b\" does not match the tenant team-a of your credentials: drop the header \
             or set it to team-a"
        );
        let cert = |names: &[&str]| ClientCertificate { names: names.iter().map(|n| n.to_string()).collect() };
        let by_cert = auth.authenticate(&headers(&[]), Some(&cert(&["unknown", "workload-b.example"])));
        assert_eq!(by_cert.expect("certificate").as_str(), "team-b");
        let err = auth.authenticate(&headers(&[]), Some(&cert(&["unknown"]))).expect_err("unknown certificate");
        assert!(matches!(err, RelayError::MissingCredentials), "{err}");
        let err = refused(&[("authorization", &basic("prom", "pw-b")), ("THANOS-TENANT", "team-a")]);
        assert!(matches!(err, RelayError::TenantMismatch { header: "THANOS-TENANT", .. }), "{err}");
    }

    #[test]
    fn without_tenants_everything_is_default_and_other_tenants_are_refused() {
        let auth = Authenticator::new(&[]).expect("no tenants");
        assert!(auth.is_open());
        assert_eq!(auth.authenticate(&headers(&[]), None).expect("open").as_str(), "default");
        assert_eq!(
            auth.authenticate(&headers(&[("X-Scope-OrgID", "default")]), None).expect("open").as_str(),
            "default"
        );
        let err = auth.authenticate(&headers(&[("X-Scope-OrgID", "other")]), None).expect_err("other tenant");
        assert_eq!(err.class().http_status(), 403);
    }
}
