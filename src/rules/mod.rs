//! Rule evaluation: Prometheus recording and alerting rule files, evaluated
//! per tenant over the store, with alerts sent to Alertmanager.
//!
//! The [`Ruler`] owns every tenant's groups. Each group runs as its own task
//! on its interval, at a stable offset within the interval derived from the
//! tenant, file and group name (so groups spread out and every evaluation of
//! a group lands on the same phase); evaluation itself runs on a blocking
//! thread. Reloads (SIGHUP, `POST /-/reload`) keep unchanged groups running
//! untouched and carry alert state over to changed ones; a file that fails
//! to load keeps its previous groups, and never affects other files.
//!
//! | module | owns |
//! |---|---|
//! | [`file`] | the rule file format, loading and validation |
//! | [`group`] | one group's state and one evaluation of its rules |
//! | [`recording`] | recording rule results |
//! | [`alerting`] | alert states, `ALERTS`/`ALERTS_FOR_STATE`, restore after a start |
//! | [`notifier`] | the queue of alerts and their delivery to Alertmanager (API v2) |
//! | [`template`] | Go-template expansion of alert labels and annotations, as Prometheus renders them |
//! | [`check`] | `rampart rules check` |
//! | [`unittest`] | `rampart rules test`: rule unit tests in `promtool test rules` format |

pub mod alerting;
pub mod check;
pub mod file;
pub mod group;
pub mod notifier;
pub mod recording;
pub mod template;
pub mod unittest;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rampart_storage::Labels;
use tokio::task::JoinHandle;

use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::config::rules::RulesConfig;
use crate::telemetry::family;
use crate::telemetry::series::Counter;
use file::{GroupSpec, RuleFileError};
pub use group::EvalEnv;
use group::Group;

/// Counters of rule evaluation.
pub struct RuleMetrics {
    /// Rule evaluations, by tenant and group.
    pub evaluations: Counter<2>,
    /// Failed rule evaluations, by tenant and group.
    pub failures: Counter<2>,
    /// Group evaluations run, by tenant and group.
    pub iterations: Counter<2>,
    /// Group evaluations skipped because the previous one ran late, by
    /// tenant and group.
    pub missed: Counter<2>,
    /// Samples rules wrote, by tenant.
    pub samples_written: Counter<1>,
}

impl Default for RuleMetrics {
    fn default() -> Self {
        Self {
            evaluations: Counter::new(
                "rampart_rule_evaluations_total",
                "Rule evaluations, by tenant and group (file;name).",
                ["tenant", "rule_group"],
            ),
            failures: Counter::new(
                "rampart_rule_evaluation_failures_total",
                "Rule evaluations that failed, by tenant and group.",
                ["tenant", "rule_group"],
            ),
            iterations: Counter::new(
                "rampart_rule_group_iterations_total",
                "Group evaluations run, by tenant and group.",
                ["tenant", "rule_group"],
            ),
            missed: Counter::new(
                "rampart_rule_group_iterations_missed_total",
                "Group evaluations missed because an evaluation ran longer than the interval, by tenant and group.",
                ["tenant", "rule_group"],
            ),
            samples_written: Counter::new(
                "rampart_rule_samples_written_total",
                "Samples written by recording and alerting rules, by tenant.",
                ["tenant"],
            ),
        }
    }
}

/// The principal of rule changes in the audit log: the reload that caused
/// them is recorded with the principal who asked for it.
const RULER_PRINCIPAL: &str = "ruler";

/// A per-group gauge: name, help, and how to read it.
type GroupGauge = (&'static str, &'static str, fn(&Group) -> f64);

/// Identity of a running group: tenant, file, group name.
type GroupKey = (String, PathBuf, String);

/// A group and the task evaluating it.
struct Running {
    group: Arc<Mutex<Group>>,
    task: JoinHandle<()>,
}

/// Every tenant's rule groups.
pub struct Ruler {
    config: RulesConfig,
    env: Arc<EvalEnv>,
    groups: Mutex<BTreeMap<GroupKey, Running>>,
    /// Problems found by the last load, per file.
    load_errors: Mutex<Vec<RuleFileError>>,
    last_reload_ok: AtomicBool,
    /// A load has happened (later loads do not restore alert state).
    loaded: AtomicBool,
    /// Where each change of the running groups is recorded.
    audit: AuditLog,
}

impl Ruler {
    /// A ruler with no groups running yet; [`Ruler::reload`] starts them.
    pub fn new(config: RulesConfig, env: EvalEnv, audit: AuditLog) -> Arc<Self> {
        Arc::new(Self {
            config,
            env: Arc::new(env),
            groups: Mutex::new(BTreeMap::new()),
            load_errors: Mutex::new(Vec::new()),
            last_reload_ok: AtomicBool::new(true),
            loaded: AtomicBool::new(false),
            audit,
        })
    }

    /// (Re)loads every tenant's rule files and starts, restarts or stops
    /// groups accordingly; must run on the tokio runtime. On the first load
    /// alert state is restored from storage. Returns the problems of files
    /// that could not be loaded (their previous groups keep running).
    pub fn reload(&self) -> Result<(), Vec<RuleFileError>> {
        let mut specs = Vec::new();
        let mut errors = Vec::new();
        for (tenant, dir) in &self.config.tenants {
            match rule_files(dir) {
                Ok(files) => {
                    for path in files {
                        match file::load_file(&path, self.config.evaluation_interval) {
                            Ok(groups) => specs.extend(groups.into_iter().map(|g| (tenant.clone(), g))),
                            Err(e) => errors.extend(e),
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let mut groups = self.groups.lock();
        let first_load = !self.loaded.swap(true, Ordering::Relaxed);
        let failed_files: Vec<&Path> = errors.iter().map(|e| e.file.as_path()).collect();
        let mut next = BTreeMap::new();
        let mut changes: Vec<(String, String)> = Vec::new();
        // Groups of files that failed to load keep running as they were.
        let kept: Vec<GroupKey> = groups.keys().filter(|k| failed_files.contains(&k.1.as_path())).cloned().collect();
        for k in kept {
            if let Some(r) = groups.remove(&k) {
                next.insert(k, r);
            }
        }
        for (tenant, spec) in specs {
            let key = (tenant.clone(), spec.file.clone(), spec.name.clone());
            let mut group = Group::new(&tenant, spec);
            let change = match groups.remove(&key) {
                Some(old) if same_group(&old.group.lock().spec, &group.spec) => {
                    next.insert(key, old);
                    continue;
                }
                Some(old) => {
                    old.task.abort();
                    group.take_state(&mut old.group.lock());
                    group.skip_restore();
                    "changed"
                }
                None if !first_load => {
                    group.skip_restore();
                    "added"
                }
                None => "loaded",
            };
            changes.push((tenant.clone(), format!("{change} rule group {:?} of {}", key.2, key.1.display())));
            let group = Arc::new(Mutex::new(group));
            let task = tokio::spawn(run_group(group.clone(), self.env.clone(), first_load));
            next.insert(key, Running { group, task });
        }
        for ((tenant, file, name), removed) in std::mem::take(&mut *groups) {
            changes.push((tenant, format!("removed rule group {name:?} of {}", file.display())));
            removed.task.abort();
            let env = self.env.clone();
            tokio::task::spawn_blocking(move || {
                let mut g = removed.group.lock();
                let series = g.written_series();
                group::mark_stale(&env, &g.tenant, crate::now_ms(), &series);
            });
        }
        *groups = next;
        for e in &errors {
            tracing::error!(error = %e, "rule file not loaded");
        }
        self.audit_changes(changes, &errors);
        tracing::info!(groups = groups.len(), failed_files = failed_files.len(), "rules loaded");
        self.last_reload_ok.store(errors.is_empty(), Ordering::Relaxed);
        *self.load_errors.lock() = errors.clone();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Records what a load changed: each group started, changed or
    /// stopped, and each file that could not be loaded.
    fn audit_changes(&self, changes: Vec<(String, String)>, errors: &[RuleFileError]) {
        let event = |tenant: String, target: String, outcome| AuditEvent {
            principal: RULER_PRINCIPAL.into(),
            tenant,
            action: Action::RuleChange,
            target,
            outcome,
            source: None,
        };
        for (tenant, target) in changes {
            self.audit.record(event(tenant, target, Outcome::Success));
        }
        for e in errors {
            self.audit.record(event(String::new(), format!("rule file not loaded: {e}"), Outcome::Error));
        }
    }

    /// A tenant's groups, by file and name.
    pub fn groups(&self, tenant: &str) -> Vec<Arc<Mutex<Group>>> {
        self.groups.lock().iter().filter(|(k, _)| k.0 == tenant).map(|(_, r)| r.group.clone()).collect()
    }

    /// Stops every group, then gives queued alerts up to `deadline` to
    /// reach Alertmanager.
    pub async fn stop(&self, deadline: Duration) {
        for (_, r) in std::mem::take(&mut *self.groups.lock()) {
            r.task.abort();
        }
        if let Some(n) = &self.env.notifier {
            n.shutdown(deadline).await;
        }
    }

    /// Renders `rampart_rule_*` metrics (and the notifier's).
    pub fn render_metrics(&self, out: &mut String) {
        let m = &self.env.metrics;
        for c in [&m.evaluations, &m.failures, &m.iterations, &m.missed] {
            c.render(out);
        }
        m.samples_written.render(out);
        let groups = self.groups.lock();
        let gauges: [GroupGauge; 3] = [
            ("rampart_rule_group_interval_seconds", "Evaluation interval of the group.", |g| {
                g.spec.interval.as_secs_f64()
            }),
            ("rampart_rule_group_last_duration_seconds", "Duration of the group's last evaluation.", |g| {
                g.eval_duration.as_secs_f64()
            }),
            ("rampart_rule_group_rules", "Rules in the group.", |g| g.rules.len() as f64),
        ];
        for (name, help, value) in gauges {
            family(out, name, "gauge", help);
            for ((tenant, _, _), r) in groups.iter() {
                let g = r.group.lock();
                let _ = writeln!(
                    out,
                    "{name}{{tenant=\"{}\",rule_group=\"{}\"}} {}",
                    crate::telemetry::escape(tenant),
                    crate::telemetry::escape(&g.key()),
                    value(&g)
                );
            }
        }
        family(
            out,
            "rampart_rule_config_last_reload_successful",
            "gauge",
            "1 when every rule file loaded at the last (re)load.",
        );
        let _ = writeln!(
            out,
            "rampart_rule_config_last_reload_successful {}",
            u8::from(self.last_reload_ok.load(Ordering::Relaxed))
        );
        if let Some(n) = &self.env.notifier {
            n.render_metrics(out);
        }
    }
}

/// Whether a reload left a group unchanged (so it keeps running as is).
fn same_group(a: &GroupSpec, b: &GroupSpec) -> bool {
    a.interval == b.interval
        && a.query_offset == b.query_offset
        && a.limit == b.limit
        && a.rules.len() == b.rules.len()
        && a.rules
            .iter()
            .zip(&b.rules)
            .all(|(x, y)| x.kind == y.kind && x.expr_text == y.expr_text && x.labels == y.labels)
}

/// The rule files of a tenant's directory, in name order.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, RuleFileError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RuleFileError {
        file: dir.to_owned(),
        group: None,
        rule: None,
        message: format!("reading the rule directory: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    files.sort();
    Ok(files)
}

/// Evaluates a group on its interval until aborted. With `restore`, alert
/// `for` state is restored after the second evaluation (so recording rules
/// the alerts depend on have run), as Prometheus does.
async fn run_group(group: Arc<Mutex<Group>>, env: Arc<EvalEnv>, restore: bool) {
    let (interval, phase, tenant, key) = {
        let g = group.lock();
        let interval = i64::try_from(g.spec.interval.as_millis()).unwrap_or(i64::MAX).max(1);
        let phase = xxhash_rust::xxh3::xxh3_64(format!("{}\u{ff}{}", g.tenant, g.key()).as_bytes());
        (interval, i64::try_from(phase % interval as u64).unwrap_or(0), g.tenant.clone(), g.key())
    };
    let now = crate::now_ms();
    let base = (now - phase) - (now - phase).rem_euclid(interval);
    let mut next = base + phase + interval;
    let mut evaluated = 0u64;
    loop {
        let wait = next - crate::now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        let missed = (crate::now_ms() - next) / interval;
        if missed > 0 {
            env.metrics.missed.add([tenant.as_str(), key.as_str()], missed as u64);
            next += missed * interval;
        }
        let (g, e, ts) = (group.clone(), env.clone(), next);
        let restore_now = restore && evaluated == 1;
        let done = tokio::task::spawn_blocking(move || {
            let mut g = g.lock();
            g.eval(&e, ts);
            if restore_now {
                g.restore(&e, crate::now_ms());
            }
        })
        .await;
        if done.is_err() {
            tracing::error!(tenant, group = key, "rule group evaluation panicked");
        }
        env.metrics.iterations.add([tenant.as_str(), key.as_str()], 1);
        evaluated += 1;
        next += interval;
    }
}

/// Labels from a string map.
fn labels_of(map: &BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

impl EvalEnv {
    /// The shared settings of a ruler's groups from its config.
    pub fn from_config(
        config: &RulesConfig,
        db: Arc<rampart_storage::Db>,
        engine: crate::promql::eval::Engine,
        notifier: Option<Arc<notifier::Notifier>>,
        own_url: String,
    ) -> Self {
        let external_url = if config.external_url.is_empty() { own_url } else { config.external_url.clone() };
        Self {
            db,
            engine,
            notifier,
            external_labels: labels_of(&config.external_labels),
            external_url,
            resend_delay: config.resend_delay,
            default_query_offset: config.query_offset,
            outage_tolerance: config.outage_tolerance,
            for_grace_period: config.for_grace_period,
            metrics: RuleMetrics::default(),
        }
    }
}
