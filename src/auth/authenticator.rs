//! Credentials → principal: a verified client certificate (its CN or a DNS
//! name), `Authorization: Bearer <token>` or HTTP basic auth.
//!
//! Verifying a secret runs Argon2 once per distinct `Authorization` value;
//! outcomes are cached by [`VerifiedCache`] (see `crate::credentials`). An
//! authenticator is immutable: a config reload builds a new one (with an
//! empty cache), so cached outcomes never outlive the credentials they were
//! verified against.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use base64::Engine as _;

use super::config::{BasicAuthUser, CredentialConfig};
use super::principal::{Principal, Role};
use crate::credentials::{SecretHash, VerifiedCache};

/// The certificate names of a TLS connection, handed to each of its
/// requests as an extension by the listener.
pub use crate::tls::ClientCertificate;

/// Which routes need a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// None: no credentials are configured (the loopback quick start).
    Nothing,
    /// Only routes that need the `write` role: just the write shorthands
    /// are configured (the store's `auth.write_bearer_token_hashes`, the
    /// relay's `tenants`), which protected writes only before roles existed.
    Writes,
    /// Every route but the probes.
    Everything,
}

/// How a principal proves who it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Secrets<'a> {
    /// Hashes of bearer tokens.
    pub bearer_token_hashes: &'a [SecretHash],
    /// Basic-auth users.
    pub basic_auth: &'a [BasicAuthUser],
    /// Client certificate names.
    pub client_certificate_names: &'a [String],
}

impl CredentialConfig {
    /// This credential's secrets.
    pub fn secrets(&self) -> Secrets<'_> {
        Secrets {
            bearer_token_hashes: &self.bearer_token_hashes,
            basic_auth: &self.basic_auth,
            client_certificate_names: &self.client_certificate_names,
        }
    }
}

/// Credentials that identify nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header and no known client certificate.
    #[error(
        "missing credentials: send Authorization: Bearer <token>, HTTP basic auth or a client certificate of a \
         credential configured on this server"
    )]
    Missing,
    /// A token, user or password that matches no credential, or a malformed header.
    #[error("invalid credentials: the token or user and password match no credential of this server")]
    Invalid,
}

/// Maps credentials to principals.
pub struct Authenticator {
    principals: Vec<Arc<Principal>>,
    /// Bearer token hashes and the index of their principal.
    bearer: Vec<(SecretHash, usize)>,
    /// Basic-auth user → password hash and principal index.
    basic: HashMap<String, (SecretHash, usize)>,
    /// Client certificate name → principal index.
    certificates: HashMap<String, usize>,
    /// Outcomes per presented `Authorization` value.
    cache: VerifiedCache<Option<usize>>,
    coverage: Coverage,
    /// Who requests are on routes that need no credential.
    anonymous: Arc<Principal>,
}

impl Authenticator {
    /// From principals and their secrets (validated config: user names are
    /// unique); `anonymous` is who requests are where `coverage` asks for no
    /// credential.
    pub fn new<'a>(
        credentials: impl IntoIterator<Item = (Principal, Secrets<'a>)>,
        coverage: Coverage,
        anonymous: Principal,
    ) -> Self {
        let mut principals = Vec::new();
        let mut bearer = Vec::new();
        let mut basic = HashMap::new();
        let mut certificates = HashMap::new();
        for (i, (principal, secrets)) in credentials.into_iter().enumerate() {
            principals.push(Arc::new(principal));
            bearer.extend(secrets.bearer_token_hashes.iter().map(|h| (h.clone(), i)));
            basic.extend(secrets.basic_auth.iter().map(|u| (u.username.clone(), (u.password_hash.clone(), i))));
            certificates.extend(secrets.client_certificate_names.iter().map(|n| (n.clone(), i)));
        }
        Self {
            principals,
            bearer,
            basic,
            certificates,
            cache: VerifiedCache::default(),
            coverage,
            anonymous: Arc::new(anonymous),
        }
    }

    /// Which routes need a credential.
    pub fn coverage(&self) -> Coverage {
        self.coverage
    }

    /// True when a route that any of `roles` may use needs a credential.
    pub fn requires_credentials(&self, roles: &[Role]) -> bool {
        match self.coverage {
            Coverage::Nothing => false,
            Coverage::Writes => roles.contains(&Role::Write),
            Coverage::Everything => true,
        }
    }

    /// Who requests are on routes that need no credential.
    pub fn anonymous(&self) -> Arc<Principal> {
        self.anonymous.clone()
    }

    /// The principal of a request's credentials. May run a slow hash (first
    /// sight of a credential): call it where blocking is allowed.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        certificate: Option<&ClientCertificate>,
    ) -> Result<Arc<Principal>, AuthError> {
        let by_certificate = certificate.and_then(|c| c.names.iter().find_map(|n| self.certificates.get(n)));
        if let Some(&i) = by_certificate {
            return Ok(self.principals[i].clone());
        }
        let value = headers.get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
        let index = self.cache.get_or_verify(value.as_bytes(), || self.verify(value.as_bytes()));
        index.map(|i| self.principals[i].clone()).ok_or(AuthError::Invalid)
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
pub(crate) mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::auth::principal::Tenants;
    use crate::credentials::hash_secret;
    use crate::tenant;

    pub(crate) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    pub(crate) fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    fn hash(s: &str) -> SecretHash {
        SecretHash::parse(&hash_secret(s.as_bytes())).expect("hash")
    }

    #[test]
    fn each_kind_of_credential_finds_its_principal() {
        let tokens = [hash("token-a")];
        let users = [BasicAuthUser { username: "ops".into(), password_hash: hash("pw") }];
        let certs = ["workload.example".to_owned()];
        let team_a = Tenants::one(tenant::from_header(Some("a")).expect("id"));
        let auth = Authenticator::new(
            [
                (
                    Principal::new("reader-a", team_a, [Role::Read]),
                    Secrets { bearer_token_hashes: &tokens, ..Default::default() },
                ),
                (
                    Principal::new("ops", Tenants::All, [Role::Admin]),
                    Secrets { basic_auth: &users, ..Default::default() },
                ),
                (
                    Principal::new("workload", Tenants::All, [Role::Write]),
                    Secrets { client_certificate_names: &certs, ..Default::default() },
                ),
            ],
            Coverage::Everything,
            Principal::anonymous(Tenants::All),
        );
        let name = |h: &[(&'static str, &str)], cert: Option<&ClientCertificate>| {
            auth.authenticate(&headers(h), cert).map(|p| p.name.clone())
        };
        assert_eq!(name(&[("authorization", "Bearer token-a")], None), Ok("reader-a".into()));
        assert_eq!(name(&[("authorization", "bearer  token-a ")], None), Ok("reader-a".into()));
        assert_eq!(name(&[("authorization", &basic("ops", "pw"))], None), Ok("ops".into()));
        let cert = ClientCertificate { names: vec!["other".into(), "workload.example".into()] };
        assert_eq!(name(&[("authorization", "Bearer wrong")], Some(&cert)), Ok("workload".into()));

        assert_eq!(name(&[], None), Err(AuthError::Missing));
        let unknown = ClientCertificate { names: vec!["other".into()] };
        assert_eq!(name(&[], Some(&unknown)), Err(AuthError::Missing));
        for bad in ["Bearer token-b", "Bearer", "token-a", &basic("ops", "pw2"), &basic("nobody", "pw"), "Basic !!"] {
            assert_eq!(name(&[("authorization", bad)], None), Err(AuthError::Invalid), "{bad}");
        }
        // A cached outcome answers the same.
        assert_eq!(name(&[("authorization", "Bearer token-b")], None), Err(AuthError::Invalid));
        assert_eq!(name(&[("authorization", "Bearer token-a")], None), Ok("reader-a".into()));
    }

    #[test]
    fn coverage_decides_which_routes_need_a_credential() {
        let make = |c| Authenticator::new([], c, Principal::anonymous(Tenants::All));
        let open = make(Coverage::Nothing);
        assert!(!open.requires_credentials(&[Role::Write]) && !open.requires_credentials(&[Role::Admin]));
        assert_eq!(open.anonymous().name, "anonymous");
        let writes = make(Coverage::Writes);
        assert!(writes.requires_credentials(&[Role::Write]) && !writes.requires_credentials(&[Role::Read]));
        let all = make(Coverage::Everything);
        assert!(all.requires_credentials(&[Role::Read]) && all.requires_credentials(&[Role::Metrics]));
    }
}
