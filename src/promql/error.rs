//! Query errors, classified the way Prometheus's HTTP API reports them.
//!
//! The class decides the `errorType` field and the HTTP status: `bad_data`
//! (400) for a query that can never succeed as written, `execution` (422)
//! for one that failed while running (e.g. duplicate series after a
//! label change, too many samples), `timeout` and `canceled` (503), and
//! `internal` (500) for storage faults.

use std::fmt;

/// Why a query failed. The string is Prometheus's error text for the case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// The query or a parameter is invalid.
    BadData(String),
    /// Evaluation failed.
    Execution(String),
    /// The query ran longer than the timeout.
    Timeout(String),
    /// The query was canceled.
    Canceled(String),
    /// Storage or another server-side fault.
    Internal(String),
}

impl QueryError {
    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::BadData(_) => "bad_data",
            Self::Execution(_) => "execution",
            Self::Timeout(_) => "timeout",
            Self::Canceled(_) => "canceled",
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status Prometheus answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadData(_) => 400,
            Self::Execution(_) => 422,
            Self::Timeout(_) | Self::Canceled(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The error text.
    pub fn message(&self) -> &str {
        match self {
            Self::BadData(m) | Self::Execution(m) | Self::Timeout(m) | Self::Canceled(m) | Self::Internal(m) => m,
        }
    }

    /// Shorthand for an execution error.
    pub fn execution(msg: impl Into<String>) -> Self {
        Self::Execution(msg.into())
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for QueryError {}

impl From<rampart_storage::Error> for QueryError {
    fn from(e: rampart_storage::Error) -> Self {
        Self::Internal(e.to_string())
    }
}
