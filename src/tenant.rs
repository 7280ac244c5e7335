//! Tenant identity of a request: the `X-Scope-OrgID` header (as Mimir and
//! Cortex name it), `default` when absent. Tenant ids follow Mimir's rules so
//! that the same ids work across the tools users already run.

/// Header that names the tenant.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";
/// Tenant of requests without the header.
pub const DEFAULT_TENANT: &str = "default";
/// Longest tenant id, in bytes.
pub const MAX_TENANT_LEN: usize = 150;

/// A validated tenant id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant header that cannot name a tenant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TenantError {
    /// Empty header.
    #[error("empty {TENANT_HEADER} header: omit it for tenant \"default\" or name a tenant")]
    Empty,
    /// Too long.
    #[error("tenant id of {0} bytes in {TENANT_HEADER} is too long: at most {MAX_TENANT_LEN} bytes")]
    TooLong(usize),
    /// `.` or `..`.
    #[error("tenant id {0:?} in {TENANT_HEADER} is not allowed")]
    Reserved(String),
    /// A character outside the allowed set.
    #[error("tenant id {id:?} in {TENANT_HEADER} contains {ch:?}: use only a-z, A-Z, 0-9 and !-_.*'()")]
    BadChar {
        /// The id as sent.
        id: String,
        /// The first character not allowed.
        ch: char,
    },
}

/// The tenant named by a header value (`None`: header absent).
pub fn from_header(value: Option<&str>) -> Result<TenantId, TenantError> {
    let Some(id) = value else { return Ok(TenantId(DEFAULT_TENANT.to_owned())) };
    if id.is_empty() {
        return Err(TenantError::Empty);
    }
    if id.len() > MAX_TENANT_LEN {
        return Err(TenantError::TooLong(id.len()));
    }
    if id == "." || id == ".." {
        return Err(TenantError::Reserved(id.to_owned()));
    }
    if let Some(ch) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || "!-_.*'()".contains(*c))) {
        return Err(TenantError::BadChar { id: id.to_owned(), ch });
    }
    Ok(TenantId(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert_eq!(from_header(None).expect("default").as_str(), "default");
        assert_eq!(from_header(Some("team-a.prod_(1)")).expect("valid").as_str(), "team-a.prod_(1)");
        assert_eq!(from_header(Some("")), Err(TenantError::Empty));
        assert_eq!(from_header(Some("..")), Err(TenantError::Reserved("..".into())));
        assert_eq!(from_header(Some("a/b")), Err(TenantError::BadChar { id: "a/b".into(), ch: '/' }));
        assert_eq!(from_header(Some(&"a".repeat(151))), Err(TenantError::TooLong(151)));
    }
}
