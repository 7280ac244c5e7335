//! The `credentials:` list shared by the store's and the relay's `auth:`
//! sections: each entry names a principal, its tenants (a list, or `"*"`
//! for all) and roles, and the secrets that authenticate as it (Argon2
//! hashes only, from `rampart hash-secret`) or client certificate names.
//!
//! ```yaml
//! credentials:
//!   - name: grafana-team-a
//!     tenants: [team-a]
//!     roles: [read]
//!     bearer_token_hashes: ["$argon2id$..."]
//!   - name: operator
//!     tenants: "*"
//!     roles: [read, rules, admin, metrics]
//!     basic_auth: [{username: ops, password_hash: "$argon2id$..."}]
//! ```
//!
//! Tenant ids and secrets are checked when the YAML is parsed; what needs
//! the whole list (unique names and users, at least one secret and role)
//! by [`problems`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::principal::{Principal, Role, Tenants};
use crate::credentials::SecretHash;
use crate::tenant;

/// One credential: a principal and how it authenticates.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// Shown in logs and the audit log; unique.
    pub name: String,
    /// `"*"` or a list of tenant ids.
    pub tenants: TenantGrant,
    /// Any of `write`, `read`, `rules`, `admin`, `metrics`.
    pub roles: Vec<Role>,
    /// Hashes of bearer tokens (`Authorization: Bearer <token>`).
    #[serde(default)]
    pub bearer_token_hashes: Vec<SecretHash>,
    /// HTTP basic-auth users.
    #[serde(default)]
    pub basic_auth: Vec<BasicAuthUser>,
    /// Client certificates, by subject common name or DNS name (needs a
    /// listener that verifies client certificates).
    #[serde(default)]
    pub client_certificate_names: Vec<String>,
}

impl CredentialConfig {
    /// The principal this credential authenticates as.
    pub fn principal(&self) -> Principal {
        Principal::new(self.name.clone(), self.tenants.0.clone(), self.roles.iter().copied())
    }
}

/// One basic-auth user.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthUser {
    /// User name; unique across all credentials.
    pub username: String,
    /// Hash of the password.
    pub password_hash: SecretHash,
}

/// The `tenants:` of a credential: `"*"` or a non-empty list of valid ids.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "TenantGrantYaml")]
pub struct TenantGrant(pub Tenants);

#[derive(Deserialize)]
#[serde(untagged)]
enum TenantGrantYaml {
    One(String),
    Many(Vec<String>),
}

impl TryFrom<TenantGrantYaml> for TenantGrant {
    type Error = String;

    fn try_from(yaml: TenantGrantYaml) -> Result<Self, String> {
        let ids = match yaml {
            TenantGrantYaml::One(s) => vec![s],
            TenantGrantYaml::Many(v) => v,
        };
        if ids.iter().any(|i| i == "*") {
            return Ok(TenantGrant(Tenants::All));
        }
        if ids.is_empty() {
            return Err("no tenants: list tenant ids, or \"*\" for every tenant".into());
        }
        let set = ids
            .iter()
            .map(|i| tenant::from_header(Some(i)).map_err(|e| e.to_string()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(TenantGrant(Tenants::Only(set)))
    }
}

/// Problems of a credential list that serde cannot see, each prefixed
/// with `path` (e.g. `auth.credentials`). `users` holds basic-auth user
/// names already taken (e.g. by the relay's tenants) and gains this list's.
pub fn problems(path: &str, credentials: &[CredentialConfig], users: &mut BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut names = BTreeMap::new();
    for (i, c) in credentials.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if c.name.trim().is_empty() {
            out.push(format!("{at}.name: empty: name the credential (logs and the audit log show it)"));
        } else if let Some(first) = names.insert(c.name.as_str(), i) {
            out.push(format!("{at}.name: {:?} is also {path}[{first}]", c.name));
        }
        if c.roles.is_empty() {
            out.push(format!("{at}.roles: empty: give at least one of write, read, rules, admin, metrics"));
        }
        if c.bearer_token_hashes.is_empty() && c.basic_auth.is_empty() && c.client_certificate_names.is_empty() {
            out.push(format!("{at}: no secrets: add bearer_token_hashes, basic_auth or client_certificate_names"));
        }
        for (j, u) in c.basic_auth.iter().enumerate() {
            if let Some(first) = users.insert(u.username.clone(), at.clone()) {
                out.push(format!("{at}.basic_auth[{j}].username: {:?} is also a user of {first}", u.username));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Vec<CredentialConfig>, String> {
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(yaml))
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn tenants_are_a_list_or_star_and_roles_are_known() {
        let h = crate::credentials::hash_secret(b"t");
        let list = parse(&format!(
            "- {{name: a, tenants: [team-a, team-b], roles: [read, metrics], bearer_token_hashes: ['{h}']}}\n\
             - {{name: b, tenants: '*', roles: [write], bearer_token_hashes: ['{h}']}}\n"
        ))
        .expect("valid");
        let a = list[0].principal();
        assert_eq!(a.tenants.to_string(), "team-a, team-b");
        assert_eq!(a.roles, BTreeSet::from([Role::Read, Role::Metrics]));
        assert_eq!(list[1].principal().tenants, Tenants::All);
        assert!(problems("auth.credentials", &list, &mut BTreeMap::new()).is_empty());

        let err = parse("- {name: a, tenants: [a/b], roles: [read]}").expect_err("bad tenant");
        assert!(err.starts_with("[0].tenants") && err.contains("tenant id \"a/b\""), "{err}");
        let err = parse("- {name: a, tenants: [], roles: [read]}").expect_err("no tenants");
        assert!(err.contains("no tenants"), "{err}");
        let err = parse("- {name: a, tenants: [a], roles: [reader]}").expect_err("bad role");
        assert!(err.starts_with("[0].roles[0]") && err.contains("unknown variant `reader`"), "{err}");
        let err = parse("- {name: a, tenants: [a], roles: [read], bearer_token_hashes: [plain]}").expect_err("plain");
        assert!(err.contains("rampart hash-secret"), "{err}");
    }

    #[test]
    fn problems_name_each_credential_by_path() {
        let h = crate::credentials::hash_secret(b"t");
        let list = parse(&format!(
            "- {{name: x, tenants: [a], roles: [read], basic_auth: [{{username: u, password_hash: '{h}'}}]}}\n\
             - {{name: x, tenants: [a], roles: [], basic_auth: [{{username: u, password_hash: '{h}'}}]}}\n\
             - {{name: ' ', tenants: [a], roles: [read]}}\n"
        ))
        .expect("parses");
        let mut users = BTreeMap::from([("taken".to_owned(), "tenants[0]".to_owned())]);
        let got = problems("auth.credentials", &list, &mut users);
        assert_eq!(
            got,
            [
                "auth.credentials[1].name: \"x\" is also auth.credentials[0]",
                "auth.credentials[1].roles: empty: give at least one of write, read, rules, admin, metrics",
                "auth.credentials[1].basic_auth[0].username: \"u\" is also a user of auth.credentials[0]",
                "auth.credentials[2].name: empty: name the credential (logs and the audit log show it)",
                "auth.credentials[2]: no secrets: add bearer_token_hashes, basic_auth or client_certificate_names",
            ]
        );
    }
}
