//! The running store's tamper verification of itself: the checks of
//! `rampart verify` (manifest chain, every sealed partition re-digested,
//! audit log chain; see `crate::verify_cmd`) on the live store, every
//! `verify.interval` and on demand (`POST /api/v1/admin/verify`).
//!
//! Invariants:
//! - One run at a time; a request during a run waits for it and then runs.
//! - The storage sections run under the engine's writer lock
//!   (`Db::verify`): head flushes, compactions, deletions and backups wait,
//!   appends and queries do not. The audit section is judged up to the
//!   record the log's writer last finished, so records appended meanwhile
//!   are left for the next run.
//! - Every problem is logged at ERROR and appended to the audit log
//!   (action `verify`, outcome `error`), so a problem is on record even when
//!   nobody scrapes the metrics before a restart.
//! - Metrics describe the last run: `rampart_verify_problems{section}`,
//!   `rampart_verify_duration_seconds`, and since start
//!   `rampart_verify_runs_total{outcome}` and
//!   `rampart_verify_last_success_timestamp_seconds` (0 until a run finds
//!   nothing); `rampart_verify_interval_seconds` lets an alert tell "not
//!   running" from "not due yet".

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rampart_storage::Db;
use serde::Serialize;

use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::config::store::VerifyConfig;
use crate::verify_cmd::{audit_section, storage_sections, Section};

/// The sections of every report, in order.
const SECTIONS: [&str; 3] = ["manifest", "partitions", "audit"];

/// What one run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// True when no section has a problem.
    pub ok: bool,
    /// When the run started (RFC 3339).
    pub started: String,
    /// How long it took.
    pub duration_seconds: f64,
    /// Who asked: `periodic`, or the principal of an on-demand request.
    pub requested_by: String,
    /// `manifest`, `partitions` and `audit`, each with what it checked and
    /// its problems.
    pub sections: Vec<Section>,
}

/// The last run, as the metrics show it.
#[derive(Default)]
struct LastRun {
    problems: [usize; SECTIONS.len()],
    duration: Duration,
    last_success: Option<SystemTime>,
    runs_ok: u64,
    runs_with_problems: u64,
}

/// Verifies one open store; shared by the periodic task, the admin route
/// and `/metrics`.
pub struct Verifier {
    db: Arc<Db>,
    audit: AuditLog,
    audit_dir: PathBuf,
    config: VerifyConfig,
    /// Held for a whole run.
    running: Mutex<()>,
    last: Mutex<LastRun>,
}

impl Verifier {
    /// A verifier of `db`, whose audit log `audit` writes into `audit_dir`.
    pub fn new(db: Arc<Db>, audit: AuditLog, audit_dir: PathBuf, config: VerifyConfig) -> Self {
        Self { db, audit, audit_dir, config, running: Mutex::new(()), last: Mutex::default() }
    }

    /// Runs every check now (blocking; call from a blocking thread), records
    /// each problem and updates the metrics.
    pub fn run(&self, requested_by: &str) -> Report {
        let _one_at_a_time = self.running.lock();
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let storage = self.db.verify(self.config.expect_head);
        let mut sections = storage_sections(&storage);
        sections.push(audit_section(&self.audit_dir, self.audit.head_seq()).0);
        let duration = clock.elapsed();
        let problems: usize = sections.iter().map(|s| s.problems.len()).sum();
        for section in &sections {
            for problem in &section.problems {
                tracing::error!(section = section.name, %problem, requested_by, "tamper verification found a problem");
                self.audit.record(AuditEvent {
                    principal: "rampart".into(),
                    tenant: String::new(),
                    action: Action::Verify,
                    target: format!("{}: {problem}", section.name),
                    outcome: Outcome::Error,
                    source: None,
                });
            }
        }
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        if problems == 0 {
            let checked: Vec<&str> = sections.iter().map(|s| s.checked.as_str()).collect();
            tracing::info!(duration_ms, requested_by, ?checked, "tamper verification passed");
        } else {
            let advice = "see the problems logged above and docs/security.md";
            tracing::warn!(problems, duration_ms, requested_by, advice, "tamper verification failed");
        }
        self.remember(&sections, duration, started_at);
        Report {
            ok: problems == 0,
            started: humantime::format_rfc3339_millis(started_at).to_string(),
            duration_seconds: duration.as_secs_f64(),
            requested_by: requested_by.to_owned(),
            sections,
        }
    }

    fn remember(&self, sections: &[Section], duration: Duration, started_at: SystemTime) {
        let mut last = self.last.lock();
        for (count, name) in last.problems.iter_mut().zip(SECTIONS) {
            *count = sections.iter().filter(|s| s.name == name).map(|s| s.problems.len()).sum();
        }
        last.duration = duration;
        if last.problems.iter().all(|&n| n == 0) {
            last.runs_ok += 1;
            last.last_success = Some(started_at);
        } else {
            last.runs_with_problems += 1;
        }
    }

    /// Runs every `verify.interval` from now on (the first run at once);
    /// nothing when the interval is 0.
    pub fn spawn_periodic(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let every = self.config.interval;
        if every.is_zero() {
            tracing::info!("periodic tamper verification disabled (verify.interval: 0)");
            return None;
        }
        let verifier = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let verifier = verifier.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || verifier.run("periodic")).await {
                    tracing::error!(error = %e, "the tamper verification task failed");
                }
            }
        }))
    }

    /// Appends the `rampart_verify_*` metrics in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let last = self.last.lock();
        crate::telemetry::family(
            out,
            "rampart_verify_runs_total",
            "counter",
            "Tamper verification runs of the store, by outcome (ok or problems).",
        );
        let _ = writeln!(out, "rampart_verify_runs_total{{outcome=\"ok\"}} {}", last.runs_ok);
        let _ = writeln!(out, "rampart_verify_runs_total{{outcome=\"problems\"}} {}", last.runs_with_problems);
        crate::telemetry::family(
            out,
            "rampart_verify_problems",
            "gauge",
            "Problems the last tamper verification found, by section (manifest, partitions, audit).",
        );
        for (name, n) in SECTIONS.iter().zip(last.problems) {
            let _ = writeln!(out, "rampart_verify_problems{{section=\"{name}\"}} {n}");
        }
        let success = last.last_success.map_or(0.0, |t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64());
        crate::telemetry::scalar(
            out,
            "rampart_verify_last_success_timestamp_seconds",
            "gauge",
            "Start time of the last tamper verification that found no problem (0: none since start).",
            success,
        );
        crate::telemetry::scalar(
            out,
            "rampart_verify_duration_seconds",
            "gauge",
            "Duration of the last tamper verification.",
            last.duration.as_secs_f64(),
        );
        crate::telemetry::scalar(
            out,
            "rampart_verify_interval_seconds",
            "gauge",
            "Configured time between periodic tamper verifications (verify.interval; 0: disabled).",
            self.config.interval.as_secs_f64(),
        );
    }
}
