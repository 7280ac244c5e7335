//! Who a request acts as: a [`Principal`] (a name for logs and the audit
//! log), the tenants it may act on and the [`Role`]s it holds for them.
//!
//! Invariant: a principal's roles apply to every tenant it may act on; a
//! credential that needs different roles for different tenants is two
//! credentials.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

use crate::tenant::{self, TenantId};

/// Name of the principal of requests to a server without credentials.
pub const ANONYMOUS: &str = "anonymous";
/// Name recorded for requests whose credentials were not accepted.
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// What a principal may do for its tenants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Remote write, and the HA lease that deduplicates writes.
    Write,
    /// Queries, metadata, remote read, rules and alerts, status.
    Read,
    /// Reloading rule files (`/-/reload`).
    Rules,
    /// Admin actions (flush, series deletion) and reloads.
    Admin,
    /// Scraping `/metrics`. Its own role because `/metrics` carries every
    /// tenant's id as label values (per-tenant counters), so it must not be
    /// open, and a scraper should not also be able to read any tenant's data.
    Metrics,
}

impl Role {
    /// The name config files use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Write => "write",
            Role::Read => "read",
            Role::Rules => "rules",
            Role::Admin => "admin",
            Role::Metrics => "metrics",
        }
    }

    /// Every role, for the principal of an open server.
    pub const ALL: [Role; 5] = [Role::Write, Role::Read, Role::Rules, Role::Admin, Role::Metrics];
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tenants a principal may act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tenants {
    /// Every tenant (`"*"` in config): a service or an operator.
    All,
    /// These tenants only (never empty).
    Only(BTreeSet<TenantId>),
}

impl Tenants {
    /// Exactly one tenant.
    pub fn one(tenant: TenantId) -> Self {
        Tenants::Only(BTreeSet::from([tenant]))
    }

    /// True when `tenant` is one of them.
    pub fn contains(&self, tenant: &TenantId) -> bool {
        match self {
            Tenants::All => true,
            Tenants::Only(set) => set.contains(tenant),
        }
    }
}

impl fmt::Display for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tenants::All => f.write_str("*"),
            Tenants::Only(set) => {
                let ids: Vec<&str> = set.iter().map(TenantId::as_str).collect();
                f.write_str(&ids.join(", "))
            }
        }
    }
}

/// An authenticated identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The credential's name, as logs and the audit log show it.
    pub name: String,
    /// Tenants it may act on.
    pub tenants: Tenants,
    /// Roles it holds for each of them.
    pub roles: BTreeSet<Role>,
    /// The tenant of a request that names none: the only tenant of a
    /// single-tenant principal, `default` on an open server; `None` means
    /// such a request must name its tenant.
    pub default_tenant: Option<TenantId>,
}

impl Principal {
    /// A principal whose default tenant is its only one, if it has exactly one.
    pub fn new(name: impl Into<String>, tenants: Tenants, roles: impl IntoIterator<Item = Role>) -> Self {
        let default_tenant = match &tenants {
            Tenants::Only(set) if set.len() == 1 => set.iter().next().cloned(),
            _ => None,
        };
        Self { name: name.into(), tenants, roles: roles.into_iter().collect(), default_tenant }
    }

    /// The principal of a server without credentials: every role on
    /// `tenants`, and tenant `default` for requests that name none.
    pub fn anonymous(tenants: Tenants) -> Self {
        Self { default_tenant: Some(default_tenant()), ..Self::new(ANONYMOUS, tenants, Role::ALL) }
    }

    /// True when it holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Tenant `default`, of requests without a tenant header.
pub fn default_tenant() -> TenantId {
    tenant::from_header(None).expect("the default tenant id is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> TenantId {
        tenant::from_header(Some(s)).expect("tenant id")
    }

    #[test]
    fn a_single_tenant_is_the_default_and_several_need_naming() {
        let one = Principal::new("grafana-a", Tenants::one(id("a")), [Role::Read]);
        assert_eq!(one.default_tenant, Some(id("a")));
        assert!(one.has_role(Role::Read) && !one.has_role(Role::Write));
        assert!(one.tenants.contains(&id("a")) && !one.tenants.contains(&id("b")));
        let two = Principal::new("ops", Tenants::Only([id("a"), id("b")].into()), [Role::Read]);
        assert_eq!(two.default_tenant, None);
        assert_eq!(two.tenants.to_string(), "a, b");
        let all = Principal::new("relay", Tenants::All, [Role::Write]);
        assert_eq!(all.default_tenant, None);
        assert!(all.tenants.contains(&id("anything")));
        let open = Principal::anonymous(Tenants::All);
        assert_eq!(open.default_tenant, Some(id("default")));
        assert!(Role::ALL.iter().all(|r| open.has_role(*r)));
    }
}
