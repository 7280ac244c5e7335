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
//! Recording never fails the request it records: a write error is logged
//! and counted (`rampart_audit_write_failures_total`, which the
//! self-monitoring rules alert on). Records of admin actions, reloads, rule
//! changes and refusals are fsynced before the call returns. Reads are
//! fsynced by a background thread at most [`READ_SYNC_PERIOD`] after they
//! are written, so no query waits for the disk and a machine crash loses at
//! most that much of the read trail and nothing of the rest.
//!
//! | module | owns |
//! |---|---|
//! | `chain` | the line format and the hash chain |
//! | `file` | the files: rotation, reopening, torn tails |
//! | [`verify`] | walking a directory and naming each break |

mod chain;
mod file;
pub mod verify;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::config::audit::AuditConfig;
use crate::telemetry::series::Counter;

/// Version of the record format (see `chain`).
const FORMAT_VERSION: u32 = 1;
/// Longest time a read record stays unsynced.
pub const READ_SYNC_PERIOD: Duration = Duration::from_secs(1);

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
    /// A problem the store's own tamper verification found (`crate::verify`).
    Verify,
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

impl Action {
    /// The name used in the record and in metrics.
    fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
            Self::Reload => "reload",
            Self::RuleChange => "rule_change",
            Self::AuthFailure => "auth_failure",
            Self::Verify => "verify",
        }
    }
}

impl Outcome {
    /// The name used in the record and in metrics.
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}

/// The audit log of one process. Cheap to clone; all clones append to the
/// same chain.
#[derive(Clone, Default)]
pub struct AuditLog {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    file: Mutex<Writer>,
    records: Counter<2>,
    write_failures: AtomicU64,
    head_seq: AtomicU64,
}

struct Writer {
    file: file::ChainFile,
    /// Records were written since the last fsync.
    unsynced: bool,
}

impl AuditLog {
    /// A log that records nothing (tools and tests that serve no requests,
    /// or `audit.enabled: false`).
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Opens the log in `config.dir` (default `DATA_DIR/audit`), continuing
    /// its chain; a partial last record left by a crash is cut and the cut
    /// itself recorded.
    pub fn open(config: &AuditConfig, data_dir: &Path) -> anyhow::Result<Self> {
        if !config.enabled {
            tracing::warn!("audit log disabled (audit.enabled: false): reads and admin actions are not recorded");
            return Ok(Self::disabled());
        }
        let dir = config.directory(data_dir);
        let (file, torn) = file::ChainFile::open(&dir, config.max_file_size).map_err(|e| {
            anyhow::anyhow!("opening the audit log in {}: {e} (set audit.dir to a writable directory)", dir.display())
        })?;
        tracing::info!(dir = %dir.display(), head_seq = file.last.seq, head_sha256 = %file.last.hash, "audit log open");
        let inner = Inner {
            head_seq: AtomicU64::new(file.last.seq),
            file: Mutex::new(Writer { file, unsynced: false }),
            records: Counter::new(
                "rampart_audit_records_total",
                "Records appended to the audit log, by action and outcome.",
                ["action", "outcome"],
            ),
            write_failures: AtomicU64::new(0),
        };
        let inner = Arc::new(inner);
        spawn_read_syncer(Arc::downgrade(&inner))?;
        let log = Self { inner: Some(inner) };
        if let Some(torn) = torn {
            tracing::warn!(file = %torn.file.display(), bytes = torn.bytes, "audit log ended in a partial record; cut it");
            log.record(AuditEvent {
                principal: "rampart".into(),
                tenant: String::new(),
                action: Action::Admin,
                target: format!(
                    "cut a partial record of {} bytes from {} at start-up",
                    torn.bytes,
                    torn.file.display()
                ),
                outcome: Outcome::Success,
                source: None,
            });
        }
        Ok(log)
    }

    /// Appends `event` to the chain.
    pub fn record(&self, event: AuditEvent) {
        let Some(inner) = &self.inner else { return };
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut writer = inner.file.lock();
        let (line, link) = chain::encode(&event, &time, &writer.file.last);
        let seq = link.seq;
        let sync = !matches!(event.action, Action::Query | Action::Read);
        match writer.file.append(&line, link, sync) {
            Ok(()) => {
                writer.unsynced = !sync;
                inner.head_seq.store(seq, Ordering::Relaxed);
                inner.records.add([event.action.as_str(), event.outcome.as_str()], 1);
            }
            Err(e) => {
                inner.write_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, action = event.action.as_str(), target = %event.target, "writing the audit log failed");
            }
        }
    }

    /// The sequence number of the last record written whole (`None` when
    /// the log is disabled); a reader may verify the chain up to it while
    /// records are appended after it.
    pub fn head_seq(&self) -> Option<u64> {
        self.inner.as_ref().map(|inner| inner.head_seq.load(Ordering::Relaxed))
    }

    /// Forces every record written so far to disk (at shutdown).
    pub fn sync(&self) {
        if let Some(inner) = &self.inner {
            let mut writer = inner.file.lock();
            match writer.file.sync() {
                Ok(()) => writer.unsynced = false,
                Err(e) => {
                    inner.write_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "syncing the audit log failed");
                }
            }
        }
    }

    /// Appends the log's metrics in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        let Some(inner) = &self.inner else { return };
        inner.records.render(out);
        crate::telemetry::scalar(
            out,
            "rampart_audit_write_failures_total",
            "counter",
            "Audit records that could not be written or synced.",
            inner.write_failures.load(Ordering::Relaxed),
        );
        crate::telemetry::scalar(
            out,
            "rampart_audit_head_seq",
            "gauge",
            "Sequence number of the last audit record.",
            inner.head_seq.load(Ordering::Relaxed),
        );
    }
}

impl Inner {
    /// Fsyncs the records written since the last fsync, without holding
    /// the writer while the disk works: appends go on meanwhile, and the
    /// ones the fsync may miss leave `unsynced` set for the next round.
    fn sync_reads(&self) {
        let handle = {
            let mut writer = self.file.lock();
            if !writer.unsynced {
                return;
            }
            writer.unsynced = false;
            writer.file.sync_handle()
        };
        if let Err(e) = handle.and_then(|f| f.sync_data()) {
            self.file.lock().unsynced = true;
            self.write_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "syncing the audit log failed");
        }
    }
}

/// Starts the thread that fsyncs read records every [`READ_SYNC_PERIOD`];
/// it ends once the log is dropped.
fn spawn_read_syncer(inner: Weak<Inner>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("audit-sync".into())
        .spawn(move || loop {
            std::thread::sleep(READ_SYNC_PERIOD);
            match inner.upgrade() {
                Some(inner) => inner.sync_reads(),
                None => return,
            }
        })
        .map_err(|e| anyhow::anyhow!("starting the audit log's sync thread: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Action) -> AuditEvent {
        AuditEvent {
            principal: "grafana".into(),
            tenant: "team-a".into(),
            action,
            target: "GET /api/v1/query up".into(),
            outcome: Outcome::Success,
            source: None,
        }
    }

    #[test]
    fn reads_wait_for_the_sync_thread_and_other_records_are_synced_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(&AuditConfig::default(), dir.path()).expect("open");
        let inner = log.inner.clone().expect("enabled");
        let unsynced = || inner.file.lock().unsynced;

        log.record(event(Action::Query));
        assert!(unsynced(), "a read is written without an fsync");
        inner.sync_reads();
        assert!(!unsynced(), "the sync thread's round covers it");

        log.record(event(Action::Read));
        log.record(event(Action::Admin));
        assert!(!unsynced(), "an admin record is synced with the reads before it");
        assert_eq!(log.head_seq(), Some(3));
        let written = std::fs::read_to_string(dir.path().join("audit").join(file::file_name(1))).expect("read");
        assert_eq!(written.lines().count(), 3);
    }
}
