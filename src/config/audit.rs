//! `audit:`: the hash-chained audit log of reads, admin actions, reloads,
//! rule changes and refused requests (see `crate::audit`). On by default.

use std::path::PathBuf;

use serde::Deserialize;

use super::size::deserialize_size;

/// `audit:` section of the store's and the relay's config.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Record audit events; turning this off is logged as a warning.
    pub enabled: bool,
    /// Directory of the audit files [default: `<data_dir>/audit`].
    pub dir: Option<PathBuf>,
    /// Size at which a file is closed and the chain goes on in the next.
    #[serde(deserialize_with = "deserialize_size")]
    pub max_file_size: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { enabled: true, dir: None, max_file_size: 64 << 20 }
    }
}

impl AuditConfig {
    /// Where the audit files are: `dir`, or `<data_dir>/audit`.
    pub fn directory(&self, data_dir: &std::path::Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| data_dir.join("audit"))
    }
}
