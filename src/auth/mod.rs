//! Who may do what, on every endpoint of the store and the relay.
//!
//! A credential (bearer token, basic-auth user or client certificate
//! names; secrets only as Argon2 hashes) identifies a [`Principal`]: a name
//! for logs and the audit log, the tenants it may act on (a list or all)
//! and its [`Role`]s: `write`, `read`, `rules`, `admin`, and `metrics` for
//! scraping `/metrics` — which is not open because it carries every
//! tenant's id as label values.
//!
//! | module | owns |
//! |---|---|
//! | `principal` | principals, roles, tenant sets |
//! | `config` | the `credentials:` config list and its validation |
//! | `authenticator` | credentials → principal, with the verified-secret cache |
//! | `policy` | route rules (roles, tenant scope) and the decision for one request |
//! | `guard` | the axum layer that applies them, the router that pairs each route with its rule |
//!
//! Without any credential configured a server is open (principal
//! `anonymous`, every role, tenant from the header), as the loopback quick
//! start needs. With only the pre-role write shorthands (the store's
//! `auth.write_bearer_token_hashes`, the relay's `tenants`) only writes are
//! checked, as before roles existed. Any `auth.credentials` entry turns the
//! check on for every route but the probes.

mod authenticator;
mod config;
mod guard;
mod policy;
mod principal;

pub use authenticator::{AuthError, Authenticator, ClientCertificate, Coverage, Secrets};
pub use config::{problems, BasicAuthUser, CredentialConfig, TenantGrant};
pub use guard::{AccessControl, GuardedRouter, RefusalHook, RequestTenants, WWW_AUTHENTICATE};
pub use policy::{authorize, parse_tenants, Access, AccessError, ErrorFormat, RouteRule, Scope, TENANT_SEPARATOR};
pub use principal::{default_tenant, Principal, Role, Tenants, ANONYMOUS, UNAUTHENTICATED};
