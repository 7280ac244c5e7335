//! The route → (roles, tenant scope) rules and the decision for one
//! request: may this principal call this route for the tenants the request
//! names, and which tenants are they.
//!
//! Tenants of a request come from its tenant headers (`X-Scope-OrgID`, on
//! the relay also Thanos's `THANOS-TENANT`); `a|b` names several tenants
//! (Mimir's tenant federation) where the route reads across tenants. A
//! request that names no tenant acts on the principal's default tenant
//! (its only one, or `default` on an open server), else it is refused with
//! 400 asking for the header.

use std::collections::BTreeSet;

use axum::http::HeaderMap;

use super::authenticator::AuthError;
use super::principal::{Principal, Role, Tenants};
use crate::audit::Action;
use crate::tenant::{self, TenantError, TenantId};

/// Separator of tenant ids in a multi-tenant header (`a|b`).
pub const TENANT_SEPARATOR: char = '|';

/// Whose data a route touches, and so which tenants the principal needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Exactly one tenant, named by the request (or the principal's default).
    Tenant,
    /// One or more tenants (`a|b`), each of which the principal must hold.
    Tenants,
    /// No tenant's data: the role for any tenant will do.
    AnyTenant,
    /// Every tenant's data (e.g. `/metrics` carries every tenant id): only
    /// a principal with tenants `"*"`.
    AllTenants,
}

/// What a route requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Nothing: the probes `/-/healthy` and `/-/ready`, which expose nothing.
    Open,
    /// A principal holding any of these roles within this scope.
    Role {
        /// Any one of them suffices.
        any_of: &'static [Role],
        /// Which tenants it must hold them for.
        scope: Scope,
    },
}

/// How a route's refusals are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorFormat {
    /// A line of text (remote write, lease, reload, `/metrics`).
    Text,
    /// Prometheus's `{"status":"error","errorType":...,"error":...}`.
    PrometheusJson,
}

/// One route's rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteRule {
    /// The route's path pattern, as the router has it (`/api/v1/label/{name}/values`).
    pub path: &'static str,
    /// What it requires.
    pub access: Access,
    /// How its refusals are written.
    pub format: ErrorFormat,
    /// How a call is audited; `None`: only refusals are (remote write is
    /// too frequent and is counted in metrics instead).
    pub audit: Option<Action>,
}

impl RouteRule {
    /// A rule needing any of `roles` within `scope`.
    pub const fn new(path: &'static str, any_of: &'static [Role], scope: Scope, format: ErrorFormat) -> Self {
        Self { path, access: Access::Role { any_of, scope }, format, audit: None }
    }

    /// A rule that lets everyone in.
    pub const fn open(path: &'static str) -> Self {
        Self { path, access: Access::Open, format: ErrorFormat::Text, audit: None }
    }

    /// The same rule, with calls audited as `action`.
    pub const fn audited(mut self, action: Action) -> Self {
        self.audit = Some(action);
        self
    }
}

/// Why a request is refused before it reaches its handler.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No or unknown credentials (401).
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// The principal holds none of the roles the route needs (403).
    #[error(
        "credential {principal:?} lacks the role {needed} that {route} needs: use a credential with role {needed}"
    )]
    MissingRole {
        /// The principal's name.
        principal: String,
        /// The roles that would do, `a or b`.
        needed: String,
        /// Method and path.
        route: String,
    },
    /// A single-tenant principal sent a tenant header naming another tenant (403).
    #[error("header {header}: {sent:?} does not match the tenant {tenant} of your credentials: drop the header or set it to {tenant}")]
    TenantMismatch {
        /// The header.
        header: &'static str,
        /// Its value.
        sent: String,
        /// The principal's only tenant.
        tenant: TenantId,
    },
    /// A tenant the principal may not act on (403).
    #[error(
        "credential {principal:?} may not act on tenant {tenant} (header {header}): its tenants are {allowed}; \
         set the header to those tenants or use a credential of tenant {tenant}"
    )]
    TenantNotAllowed {
        /// The principal's name.
        principal: String,
        /// The tenant refused.
        tenant: TenantId,
        /// The header that named it.
        header: &'static str,
        /// The principal's tenants.
        allowed: String,
    },
    /// The route exposes every tenant and the principal holds only some (403).
    #[error("{route} exposes every tenant's data and needs a credential with tenants \"*\"; credential {principal:?} holds only {allowed}")]
    NotAllTenants {
        /// Method and path.
        route: String,
        /// The principal's name.
        principal: String,
        /// Its tenants.
        allowed: String,
    },
    /// A tenant header that cannot name tenants (400).
    #[error("{0}")]
    BadTenant(#[from] TenantError),
    /// No tenant header, and the principal has no default tenant (400).
    #[error(
        "no {} header: credential {principal:?} may act on several tenants ({allowed}); set the header to the tenant \
         to act on",
        tenant::TENANT_HEADER
    )]
    TenantRequired {
        /// The principal's name.
        principal: String,
        /// Its tenants.
        allowed: String,
    },
    /// Several tenants on a route that acts on one (400).
    #[error(
        "header {header} names {count} tenants ({value}) but {route} acts on one tenant at a time: send one request \
         per tenant"
    )]
    OneTenantOnly {
        /// The header.
        header: &'static str,
        /// How many it names.
        count: usize,
        /// Its value.
        value: String,
        /// Method and path.
        route: String,
    },
    /// Two tenant headers that disagree (400).
    #[error("headers {first} and {second} name different tenants: send one of them, or the same tenant in both")]
    HeadersDisagree {
        /// One header.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
}

impl AccessError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            AccessError::Unauthenticated(_) => 401,
            AccessError::MissingRole { .. }
            | AccessError::TenantMismatch { .. }
            | AccessError::TenantNotAllowed { .. }
            | AccessError::NotAllTenants { .. } => 403,
            AccessError::BadTenant(_)
            | AccessError::TenantRequired { .. }
            | AccessError::OneTenantOnly { .. }
            | AccessError::HeadersDisagree { .. } => 400,
        }
    }

    /// Prometheus's `errorType` for the JSON format.
    pub fn error_type(&self) -> &'static str {
        match self.status() {
            401 => "unauthorized",
            403 => "forbidden",
            _ => "bad_data",
        }
    }

    /// Stable name for metrics (`rampart_relay_requests_refused_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            AccessError::Unauthenticated(AuthError::Missing) => "missing_credentials",
            AccessError::Unauthenticated(AuthError::Invalid) => "bad_credentials",
            AccessError::MissingRole { .. } => "missing_role",
            AccessError::TenantMismatch { .. }
            | AccessError::TenantNotAllowed { .. }
            | AccessError::NotAllTenants { .. } => "tenant_mismatch",
            AccessError::BadTenant(_)
            | AccessError::TenantRequired { .. }
            | AccessError::OneTenantOnly { .. }
            | AccessError::HeadersDisagree { .. } => "bad_tenant",
        }
    }
}

/// The tenants a request names in one header: `a` or `a|b|...`, sorted,
/// each a valid id.
pub fn parse_tenants(value: &[u8]) -> Result<BTreeSet<TenantId>, TenantError> {
    let text = String::from_utf8_lossy(value);
    text.split(TENANT_SEPARATOR).map(|id| tenant::from_header(Some(id))).collect()
}

/// Decides whether `principal` may call `route` (method and path, for
/// messages) under `access`, and returns the tenants it acts on (empty for
/// [`Scope::AnyTenant`] and [`Scope::AllTenants`], which name none).
/// `tenant_headers` are the headers that may name tenants, in order.
pub fn authorize(
    principal: &Principal,
    any_of: &[Role],
    scope: Scope,
    route: &str,
    headers: &HeaderMap,
    tenant_headers: &[&'static str],
) -> Result<Vec<TenantId>, AccessError> {
    if !any_of.iter().any(|r| principal.has_role(*r)) {
        let needed: Vec<&str> = any_of.iter().map(|r| r.as_str()).collect();
        return Err(AccessError::MissingRole {
            principal: principal.name.clone(),
            needed: needed.join(" or "),
            route: route.to_owned(),
        });
    }
    match scope {
        Scope::AnyTenant => Ok(Vec::new()),
        Scope::AllTenants if principal.tenants == Tenants::All => Ok(Vec::new()),
        Scope::AllTenants => Err(AccessError::NotAllTenants {
            route: route.to_owned(),
            principal: principal.name.clone(),
            allowed: principal.tenants.to_string(),
        }),
        Scope::Tenant | Scope::Tenants => {
            let tenants = named_tenants(principal, headers, tenant_headers)?;
            if scope == Scope::Tenant && tenants.len() > 1 {
                let header = tenant_headers.iter().copied().find(|h| headers.contains_key(*h)).unwrap_or_default();
                let value = headers.get(header).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                return Err(AccessError::OneTenantOnly {
                    header,
                    count: tenants.len(),
                    value: value.unwrap_or_default(),
                    route: route.to_owned(),
                });
            }
            Ok(tenants)
        }
    }
}

/// The tenants the headers name (each held by the principal), or the
/// principal's default tenant when none is named.
fn named_tenants(
    principal: &Principal,
    headers: &HeaderMap,
    tenant_headers: &[&'static str],
) -> Result<Vec<TenantId>, AccessError> {
    let mut named: Option<(&'static str, BTreeSet<TenantId>)> = None;
    for &header in tenant_headers {
        let Some(value) = headers.get(header) else { continue };
        let tenants = parse_tenants(value.as_bytes())?;
        for t in &tenants {
            if principal.tenants.contains(t) {
                continue;
            }
            return Err(match &principal.default_tenant {
                Some(only) if principal.tenants == Tenants::one(only.clone()) => AccessError::TenantMismatch {
                    header,
                    sent: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    tenant: only.clone(),
                },
                _ => AccessError::TenantNotAllowed {
                    principal: principal.name.clone(),
                    tenant: t.clone(),
                    header,
                    allowed: principal.tenants.to_string(),
                },
            });
        }
        match &named {
            Some((first, earlier)) if *earlier != tenants => {
                return Err(AccessError::HeadersDisagree { first, second: header })
            }
            Some(_) => {}
            None => named = Some((header, tenants)),
        }
    }
    match (named, &principal.default_tenant) {
        (Some((_, tenants)), _) => Ok(tenants.into_iter().collect()),
        (None, Some(default)) => Ok(vec![default.clone()]),
        (None, None) => Err(AccessError::TenantRequired {
            principal: principal.name.clone(),
            allowed: principal.tenants.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::authenticator::tests::headers;

    const HEADERS: &[&str] = &[tenant::TENANT_HEADER, "THANOS-TENANT"];

    fn id(s: &str) -> TenantId {
        tenant::from_header(Some(s)).expect("id")
    }

    fn ids(v: &[TenantId]) -> Vec<&str> {
        v.iter().map(TenantId::as_str).collect()
    }

    #[test]
    fn roles_and_tenants_decide_and_the_header_selects_tenants() {
        let reader_a = Principal::new("reader-a", Tenants::one(id("a")), [Role::Read]);
        let reader_ab = Principal::new("reader-ab", Tenants::Only([id("a"), id("b")].into()), [Role::Read]);
        let ops = Principal::new("ops", Tenants::All, [Role::Admin, Role::Metrics]);
        let route = "GET /api/v1/query";
        let check = |p: &Principal, roles: &'static [Role], scope, h: &[(&'static str, &str)]| {
            authorize(p, roles, scope, route, &headers(h), HEADERS)
        };
        let read = &[Role::Read][..];

        assert_eq!(ids(&check(&reader_a, read, Scope::Tenants, &[]).expect("default")), ["a"]);
        assert_eq!(ids(&check(&reader_a, read, Scope::Tenant, &[("X-Scope-OrgID", "a")]).expect("a")), ["a"]);
        let both = check(&reader_ab, read, Scope::Tenants, &[("X-Scope-OrgID", "b|a|b")]).expect("a|b");
        assert_eq!(ids(&both), ["a", "b"]);
        let err = check(&reader_a, read, Scope::Tenants, &[("X-Scope-OrgID", "a|b")]).expect_err("b");
        assert_eq!(err.status(), 403);
        assert_eq!(
            err.to_string(),
            "header X-Scope-OrgID: \"a|b\" does not match the tenant a of your credentials: drop the header or set it to a"
        );
        let err = check(&reader_ab, read, Scope::Tenants, &[("X-Scope-OrgID", "c")]).expect_err("c");
        assert!(matches!(&err, AccessError::TenantNotAllowed { tenant, .. } if tenant.as_str() == "c"), "{err}");
        assert_eq!(err.error_type(), "forbidden");
        let err = check(&reader_ab, read, Scope::Tenants, &[]).expect_err("which tenant");
        assert_eq!((err.status(), err.reason()), (400, "bad_tenant"));
        assert!(err.to_string().starts_with("no X-Scope-OrgID header: credential \"reader-ab\""), "{err}");
        let err = check(&reader_ab, read, Scope::Tenant, &[("X-Scope-OrgID", "a|b")]).expect_err("one tenant");
        assert!(matches!(err, AccessError::OneTenantOnly { count: 2, .. }), "{err}");
        let err = check(&reader_ab, read, Scope::Tenant, &[("X-Scope-OrgID", "a"), ("THANOS-TENANT", "b")]);
        assert!(matches!(err, Err(AccessError::HeadersDisagree { .. })), "{err:?}");
        let err = check(&reader_ab, read, Scope::Tenant, &[("X-Scope-OrgID", "a/b")]).expect_err("bad id");
        assert_eq!((err.status(), err.error_type()), (400, "bad_data"));
        assert!(err.to_string().contains("tenant id \"a/b\""), "{err}");

        let err = check(&reader_a, &[Role::Rules, Role::Admin], Scope::AnyTenant, &[]).expect_err("no role");
        assert_eq!((err.status(), err.error_type(), err.reason()), (403, "forbidden", "missing_role"));
        assert_eq!(
            err.to_string(),
            "credential \"reader-a\" lacks the role rules or admin that GET /api/v1/query needs: use a credential with \
             role rules or admin"
        );
        assert!(check(&ops, &[Role::Rules, Role::Admin], Scope::AnyTenant, &[]).expect("admin").is_empty());
        assert!(check(&reader_a, read, Scope::AnyTenant, &[("X-Scope-OrgID", "zzz")]).is_ok(), "header unused");
        assert!(check(&ops, &[Role::Metrics], Scope::AllTenants, &[]).is_ok());
        let metrics_a = Principal::new("scraper-a", Tenants::one(id("a")), [Role::Metrics]);
        let err = check(&metrics_a, &[Role::Metrics], Scope::AllTenants, &[]).expect_err("not all tenants");
        assert_eq!(err.status(), 403);
        assert!(err.to_string().contains("needs a credential with tenants \"*\""), "{err}");

        let open = Principal::anonymous(Tenants::All);
        assert_eq!(ids(&check(&open, read, Scope::Tenants, &[]).expect("default")), ["default"]);
        assert_eq!(ids(&check(&open, read, Scope::Tenants, &[("X-Scope-OrgID", "x|y")]).expect("x|y")), ["x", "y"]);
    }
}
