//! One rule group of one tenant: its rules' state and one evaluation of all
//! of them, as Prometheus's rule group does it.
//!
//! Rules run in file order at one timestamp, each seeing what the previous
//! ones wrote. Results are written to the tenant's storage at the
//! evaluation time minus the query offset. A series a rule wrote at its
//! previous evaluation but not at this one gets a staleness marker, so
//! queries stop seeing it at once instead of after the lookback; a failed
//! evaluation writes nothing and keeps that record.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_storage::{AppendBatch, Db, Labels, MatchKind, Matcher, Sample as StoredSample, STALE_NAN_BITS};

use super::alerting::{AlertingRule, TemplateEnv};
use super::file::{GroupSpec, RuleKind, RuleSpec};
use super::notifier::Notifier;
use super::recording;
use super::template::TemplateQuery;
use super::RuleMetrics;
use crate::promql::eval::Engine;
use crate::promql::storage::{Queryable, TenantStorage};
use crate::promql::value::Value;

/// What every group of a ruler shares.
pub struct EvalEnv {
    /// Where rules read and write.
    pub db: Arc<Db>,
    /// The PromQL engine.
    pub engine: Engine,
    /// Where alerts go, if anywhere.
    pub notifier: Option<Arc<Notifier>>,
    /// `$externalLabels` of templates.
    pub external_labels: Labels,
    /// `$externalURL` of templates, and the base of alerts' generator URLs.
    pub external_url: String,
    /// How often a firing alert is re-sent.
    pub resend_delay: Duration,
    /// Query offset of groups that set none.
    pub default_query_offset: Duration,
    /// How far back alert state is restored from after a start.
    pub outage_tolerance: Duration,
    /// Least time an alert waits to fire after a start.
    pub for_grace_period: Duration,
    /// Counters.
    pub metrics: RuleMetrics,
}

/// Health of a rule after its last evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// Last evaluation succeeded.
    Ok,
    /// Last evaluation failed.
    Err,
}

impl Health {
    /// Prometheus's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Ok => "ok",
            Self::Err => "err",
        }
    }
}

/// A rule and what its evaluations left.
#[derive(Clone, Debug)]
pub struct RuleState {
    /// The rule as loaded.
    pub spec: RuleSpec,
    /// Alert state, for an alerting rule.
    pub alerting: Option<AlertingRule>,
    /// Health after the last evaluation.
    pub health: Health,
    /// Error of the last evaluation.
    pub last_error: Option<String>,
    /// Time of the last evaluation (ms).
    pub last_eval: Option<i64>,
    /// Duration of the last evaluation.
    pub eval_duration: Duration,
    /// Series written at the last successful evaluation.
    written: HashSet<Labels>,
}

impl RuleState {
    fn new(spec: RuleSpec) -> Self {
        let alerting = match &spec.kind {
            RuleKind::Alerting { name, hold, keep_firing_for, annotations } => {
                Some(AlertingRule::new(name, *hold, *keep_firing_for, spec.labels.clone(), annotations.clone()))
            }
            RuleKind::Recording { .. } => None,
        };
        Self {
            spec,
            alerting,
            health: Health::Unknown,
            last_error: None,
            last_eval: None,
            eval_duration: Duration::ZERO,
            written: HashSet::new(),
        }
    }

    /// The identity Prometheus matches rules by across reloads.
    fn identity(&self) -> (&str, &Labels) {
        (self.spec.name(), &self.spec.labels)
    }
}

/// A tenant's rule group and its state.
pub struct Group {
    /// The tenant whose data the rules read and write.
    pub tenant: String,
    /// The group as loaded.
    pub spec: GroupSpec,
    /// Rules in evaluation order.
    pub rules: Vec<RuleState>,
    /// Time of the last evaluation (ms).
    pub last_eval: Option<i64>,
    /// Duration of the last evaluation.
    pub eval_duration: Duration,
    /// Series of rules removed by a reload, to be marked stale.
    stale: Vec<Labels>,
}

impl Group {
    /// A group with fresh state.
    pub fn new(tenant: &str, spec: GroupSpec) -> Self {
        let rules = spec.rules.iter().cloned().map(RuleState::new).collect();
        Self {
            tenant: tenant.to_owned(),
            spec,
            rules,
            last_eval: None,
            eval_duration: Duration::ZERO,
            stale: Vec::new(),
        }
    }

    /// The `rule_group` label of the group's metrics: `file;name`.
    pub fn key(&self) -> String {
        format!("{};{}", self.spec.file.display(), self.spec.name)
    }

    /// Takes over the state of the same group before a reload, as
    /// Prometheus does: rules are matched by name and labels (the n-th
    /// duplicate with the n-th); series of rules that no longer exist are
    /// marked stale at the next evaluation. Alerting rules whose state is
    /// taken over need no restore.
    pub fn take_state(&mut self, old: &mut Group) {
        self.last_eval = old.last_eval;
        self.eval_duration = old.eval_duration;
        let mut taken = vec![false; old.rules.len()];
        for rule in &mut self.rules {
            let from = old.rules.iter().enumerate().position(|(i, r)| !taken[i] && r.identity() == rule.identity());
            let Some(i) = from else { continue };
            taken[i] = true;
            let from = &mut old.rules[i];
            rule.written = std::mem::take(&mut from.written);
            if let (Some(to), Some(from)) = (&mut rule.alerting, &mut from.alerting) {
                to.take_state(from);
            }
        }
        self.stale = std::mem::take(&mut old.stale);
        for (i, r) in old.rules.iter_mut().enumerate() {
            if !taken[i] {
                self.stale.extend(r.written.drain());
            }
        }
    }

    /// Marks every alerting rule as restored (state taken over or not to
    /// be restored).
    pub fn skip_restore(&mut self) {
        for a in self.rules.iter_mut().filter_map(|r| r.alerting.as_mut()) {
            a.set_restored();
        }
    }

    /// Series the group's rules wrote at their last evaluation, for marking
    /// stale when the group is removed.
    pub fn written_series(&mut self) -> Vec<Labels> {
        let mut out = std::mem::take(&mut self.stale);
        for r in &mut self.rules {
            out.extend(r.written.drain());
        }
        out
    }

    /// Evaluates every rule at `ts` (ms).
    pub fn eval(&mut self, env: &EvalEnv, ts: i64) {
        let started = Instant::now();
        let offset = millis(self.spec.query_offset.unwrap_or(env.default_query_offset));
        let sample_ts = ts - offset;
        let key = self.key();
        let metric_labels = [self.tenant.as_str(), key.as_str()];
        let storage = TenantStorage::new(&env.db, &self.tenant);
        let generator_url = env.external_url.trim_end_matches('/').to_owned() + "/graph";
        for rule in &mut self.rules {
            let rule_started = Instant::now();
            env.metrics.evaluations.add(metric_labels, 1);
            let query = EngineQuery { env, storage: &storage, ts: sample_ts };
            let outcome = query.run(&rule.spec.expr_text, Some(&rule.spec.expr)).and_then(|result| {
                match (&rule.spec.kind, &mut rule.alerting) {
                    (RuleKind::Recording { name }, _) => {
                        recording::apply(name, &rule.spec.labels, result, self.spec.limit)
                    }
                    (RuleKind::Alerting { .. }, Some(alerting)) => {
                        let template_query = EngineQuery { env, storage: &storage, ts };
                        let tenv = TemplateEnv {
                            external_labels: &env.external_labels,
                            external_url: &env.external_url,
                            query: &template_query,
                        };
                        let samples = alerting.eval(ts, result, &tenv, self.spec.limit)?;
                        let url = format!("{generator_url}?g0.expr={}&g0.tab=1", urlencode(&rule.spec.expr_text));
                        let alerts = alerting.alerts_to_send(ts, env.resend_delay, self.spec.interval, &url);
                        if let (Some(n), false) = (&env.notifier, alerts.is_empty()) {
                            n.send(alerts);
                        }
                        Ok(samples)
                    }
                    (RuleKind::Alerting { .. }, None) => unreachable!("alerting rules have alert state"),
                }
            });
            match outcome {
                Ok(samples) => {
                    let written: HashSet<Labels> = samples.iter().map(|(l, _)| l.clone()).collect();
                    let stale: Vec<Labels> = rule.written.difference(&written).cloned().collect();
                    match write(env, &self.tenant, sample_ts, &samples, &stale) {
                        Ok(()) => {
                            rule.health = Health::Ok;
                            rule.last_error = None;
                            rule.written = written;
                        }
                        Err(e) => {
                            rule.health = Health::Err;
                            rule.last_error = Some(e);
                            env.metrics.failures.add(metric_labels, 1);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(tenant = %self.tenant, group = %self.spec.name, rule = %rule.spec.name(), error = %e, "evaluating rule failed");
                    rule.health = Health::Err;
                    rule.last_error = Some(e);
                    env.metrics.failures.add(metric_labels, 1);
                }
            }
            rule.last_eval = Some(ts);
            rule.eval_duration = rule_started.elapsed();
        }
        if !self.stale.is_empty() && write(env, &self.tenant, sample_ts, &[], &self.stale).is_ok() {
            self.stale.clear();
        }
        self.last_eval = Some(ts);
        self.eval_duration = started.elapsed();
    }

    /// Restores the `for` state of alerting rules from `ALERTS_FOR_STATE`
    /// after a start (see [`AlertingRule::restore`]).
    pub fn restore(&mut self, env: &EvalEnv, ts: i64) {
        let storage = TenantStorage::new(&env.db, &self.tenant);
        let mint = ts - millis(env.outage_tolerance);
        for a in self.rules.iter_mut().filter_map(|r| r.alerting.as_mut()) {
            a.restore(ts, env.for_grace_period, |series| last_sample(&storage, series, mint, ts));
        }
    }
}

/// The newest sample (stale markers included) of exactly `series` in
/// `[mint, maxt]`.
fn last_sample(storage: &TenantStorage<'_>, series: &Labels, mint: i64, maxt: i64) -> Option<(i64, f64)> {
    let matchers: Vec<Matcher> =
        series.iter().filter_map(|l| Matcher::new(MatchKind::Equal, l.name.clone(), l.value.clone()).ok()).collect();
    let found = storage.select(&matchers, mint, maxt).ok()?;
    let s = found.into_iter().find(|s| s.labels.len() == series.len())?;
    s.points.last().map(|p| (p.t, p.v))
}

/// Runs instant queries for a rule or for the `query` template function.
struct EngineQuery<'a> {
    env: &'a EvalEnv,
    storage: &'a TenantStorage<'a>,
    ts: i64,
}

impl EngineQuery<'_> {
    /// Evaluates `text` (already parsed into `expr` when given) at the
    /// query's time: a vector, or a scalar as a one-element vector.
    fn run(&self, text: &str, expr: Option<&promql_parser::parser::Expr>) -> Result<Vec<(Labels, f64)>, String> {
        let parsed;
        let expr = match expr {
            Some(e) => e,
            None => {
                parsed = crate::promql::parse(text).map_err(|e| e.message().to_owned())?;
                &parsed
            }
        };
        let out = self.env.engine.instant(self.storage, text, expr, self.ts).map_err(|e| e.message().to_owned())?;
        match out.value {
            Value::Vector(v) => Ok(v.into_iter().map(|s| (Arc::unwrap_or_clone(s.labels), s.v)).collect()),
            Value::Scalar { v, .. } => Ok(vec![(Labels::default(), v)]),
            Value::String { .. } | Value::Matrix(_) => Err("rule result is not a vector or scalar".into()),
        }
    }
}

impl TemplateQuery for EngineQuery<'_> {
    fn query(&self, expr: &str) -> Result<Vec<(Labels, f64)>, String> {
        self.run(expr, None)
    }

    fn now(&self) -> f64 {
        self.ts as f64 / 1000.0
    }
}

/// Writes staleness markers for `series` at `ts` (for a group that was
/// removed); failures are logged.
pub fn mark_stale(env: &EvalEnv, tenant: &str, ts: i64, series: &[Labels]) {
    if let Err(e) = write(env, tenant, ts, &[], series) {
        tracing::warn!(tenant, error = %e, "marking the series of a removed rule group stale failed");
    }
}

/// Writes rule results and staleness markers at `ts`. Samples the storage
/// refuses (out of order, e.g. a clock step back) are logged and skipped,
/// as Prometheus does; stale markers that collide are expected (another
/// rule may write the same series) and skipped silently.
fn write(env: &EvalEnv, tenant: &str, ts: i64, samples: &[(Labels, f64)], stale: &[Labels]) -> Result<(), String> {
    if samples.is_empty() && stale.is_empty() {
        return Ok(());
    }
    let mut batch = AppendBatch::new();
    for (labels, v) in samples {
        batch.push(labels.pairs(), &[StoredSample { t: ts, v: *v }], []);
    }
    for labels in stale {
        batch.push(labels.pairs(), &[StoredSample { t: ts, v: f64::from_bits(STALE_NAN_BITS) }], []);
    }
    let result = env.db.append(tenant, &batch, ts).map_err(|e| format!("writing rule results: {e}"))?;
    env.metrics.samples_written.add([tenant], result.appended);
    // Rejections of stale markers are expected: another rule may have
    // written the series at this time.
    let refused = result.rejections.iter().filter(|r| r.series < samples.len()).count();
    if refused > 0 {
        tracing::warn!(tenant, refused, first = ?result.rejections[0].kind, "rule results refused by the storage");
    }
    Ok(())
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
