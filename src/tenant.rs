//! Tenant identity of a request: the `X-Scope-OrgID` header (as Mimir and
//! Cortex name it), tenant `default` when the header is absent.
//!
//! Tenant ids follow Mimir's rules so that the ids users already run work
//! unchanged: 1 to [`MAX_TENANT_LEN`] bytes of `a-z A-Z 0-9 ! - _ . * ' ( )`,
//! and not `.` or `..`. The character set keeps ids safe as path segments,
//! metric label values and log fields. This module does not depend on the
//! HTTP framework: callers pass the header value they read.

use std::fmt;

/// Header that names the tenant.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";
/// Tenant of requests without the header.
pub const DEFAULT_TENANT: &str = "default";
/// Longest tenant id, in bytes (Mimir's limit).
pub const MAX_TENANT_LEN: usize = 150;
/// Characters allowed besides ASCII letters and digits.
const ALLOWED_PUNCTUATION: &str = "!-_.*'()";

/// A validated tenant id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant header that cannot name a tenant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TenantError {
    /// The header is present but empty.
    #[error("empty {TENANT_HEADER} header: omit the header for tenant \"{DEFAULT_TENANT}\" or set it to a tenant id")]
    Empty,
    /// The id is longer than [`MAX_TENANT_LEN`] bytes.
    #[error("tenant id in {TENANT_HEADER} is {0} bytes long: use an id of at most {MAX_TENANT_LEN} bytes")]
    TooLong(usize),
    /// The id is `.` or `..`, which would be unsafe as a path segment.
    #[error(
        "tenant id {0:?} in {TENANT_HEADER} is reserved: \".\" and \"..\" cannot name a tenant, choose another id"
    )]
    Reserved(String),
    /// The id holds a character outside the allowed set.
    #[error(
        "tenant id {id:?} in {TENANT_HEADER} contains {ch:?}: use only a-z, A-Z, 0-9 and the characters \
         {ALLOWED_PUNCTUATION}"
    )]
    BadChar {
        /// The id as sent.
        id: String,
        /// The first character not allowed.
        ch: char,
    },
}

/// The tenant named by a header value; `None` means the header is absent
/// and gives tenant [`DEFAULT_TENANT`].
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
    if let Some(ch) = id.chars().find(|&c| !(c.is_ascii_alphanumeric() || ALLOWED_PUNCTUATION.contains(c))) {
        return Err(TenantError::BadChar { id: id.to_owned(), ch });
    }
    Ok(TenantId(id.to_owned()))
}

/// Like [`from_header`] for a raw header value, which HTTP allows to hold
/// bytes that are not UTF-8 or not visible ASCII: such a value is refused
/// (never taken as an absent header), its first bad character shown as
/// U+FFFD when it is not UTF-8.
pub fn from_header_bytes(value: Option<&[u8]>) -> Result<TenantId, TenantError> {
    match value {
        None => from_header(None),
        Some(bytes) => from_header(Some(&String::from_utf8_lossy(bytes))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_are_kept_and_absence_means_default() {
        let long = "a".repeat(MAX_TENANT_LEN);
        let cases: [(Option<&str>, &str); 5] = [
            (None, "default"),
            (Some("team-a"), "team-a"),
            (Some("team-a.prod_(1)"), "team-a.prod_(1)"),
            (Some("!-_.*'()"), "!-_.*'()"),
            (Some(&long), &long),
        ];
        for (header, want) in cases {
            let id = from_header(header).unwrap_or_else(|e| panic!("{header:?}: {e}"));
            assert_eq!(id.as_str(), want);
            assert_eq!(id.to_string(), want);
        }
    }

    #[test]
    fn invalid_ids_are_refused_with_a_message_that_says_what_to_do() {
        let too_long = "a".repeat(MAX_TENANT_LEN + 1);
        let cases: [(&str, TenantError, &str); 7] = [
            (
                "",
                TenantError::Empty,
                "empty X-Scope-OrgID header: omit the header for tenant \"default\" or set it to a tenant id",
            ),
            (
                &too_long,
                TenantError::TooLong(151),
                "tenant id in X-Scope-OrgID is 151 bytes long: use an id of at most 150 bytes",
            ),
            (
                ".",
                TenantError::Reserved(".".into()),
                "tenant id \".\" in X-Scope-OrgID is reserved: \".\" and \"..\" cannot name a tenant, choose another id",
            ),
            (
                "..",
                TenantError::Reserved("..".into()),
                "tenant id \"..\" in X-Scope-OrgID is reserved: \".\" and \"..\" cannot name a tenant, choose another id",
            ),
            (
                "a/b",
                TenantError::BadChar { id: "a/b".into(), ch: '/' },
                "tenant id \"a/b\" in X-Scope-OrgID contains '/': use only a-z, A-Z, 0-9 and the characters !-_.*'()",
            ),
            (
                "team a",
                TenantError::BadChar { id: "team a".into(), ch: ' ' },
                "tenant id \"team a\" in X-Scope-OrgID contains ' ': use only a-z, A-Z, 0-9 and the characters !-_.*'()",
            ),
            (
                "tenant|b",
                TenantError::BadChar { id: "tenant|b".into(), ch: '|' },
                "tenant id \"tenant|b\" in X-Scope-OrgID contains '|': use only a-z, A-Z, 0-9 and the characters !-_.*'()",
            ),
        ];
        for (header, err, message) in cases {
            assert_eq!(from_header(Some(header)), Err(err), "{header:?}");
            assert_eq!(from_header(Some(header)).expect_err(header).to_string(), message);
        }
        // Non-ASCII letters are not ASCII alphanumerics.
        assert_eq!(from_header(Some("é")), Err(TenantError::BadChar { id: "é".into(), ch: 'é' }));
    }

    #[test]
    fn raw_header_bytes_that_are_not_utf8_are_refused_not_defaulted() {
        assert_eq!(from_header_bytes(None).expect("absent").as_str(), "default");
        assert_eq!(from_header_bytes(Some(b"team-a")).expect("valid").as_str(), "team-a");
        assert_eq!(
            from_header_bytes(Some(b"a\xffb")),
            Err(TenantError::BadChar { id: "a\u{fffd}b".into(), ch: '\u{fffd}' })
        );
    }
}
