//! One test of a test file, run as promtool runs it: a fresh store, the
//! input series appended step by step, every rule group evaluated at each
//! evaluation interval from 0 to the test's last `eval_time`, alerts checked
//! at the step their `eval_time` falls in, and queries checked at the end.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rampart_storage::{AppendBatch, Db, FsyncPolicy, Labels, Options, Sample};

use super::report::{self, AlertView, SampleView};
use super::spec::{AlertTest, TestGroup};
use crate::config::rules::RulesConfig;
use crate::promql::gocompat::format::quote;
use crate::promql::series_desc::{parse_series_desc, parse_series_id, Item};
use crate::promql::storage::TenantStorage;
use crate::promql::value::Value;
use crate::promql::{Engine, EngineOptions};
use crate::rules::alerting::AlertState;
use crate::rules::file;
use crate::rules::group::{EvalEnv, Group};
use crate::tenant::DEFAULT_TENANT;

/// What every test of a file shares.
pub struct FileSettings<'a> {
    /// The rule files, resolved.
    pub rule_files: &'a [PathBuf],
    /// Step of rule evaluation (ms).
    pub eval_interval_ms: i64,
    /// Evaluation rank of named groups.
    pub group_order: &'a HashMap<String, usize>,
}

/// Runs one test; returns its failures, each a message in promtool's shape.
pub fn run_test(test: &TestGroup, settings: &FileSettings<'_>) -> Vec<String> {
    match Harness::new(test, settings) {
        Ok(h) => h.run(test),
        Err(errors) => errors,
    }
}

/// A test's store, rule groups and input not appended yet.
struct Harness<'a> {
    // Field order matters: the store closes before its directory is removed.
    env: EvalEnv,
    groups: Vec<Group>,
    input: Input,
    settings: &'a FileSettings<'a>,
    _dir: tempfile::TempDir,
}

impl<'a> Harness<'a> {
    fn new(test: &TestGroup, settings: &'a FileSettings<'a>) -> Result<Self, Vec<String>> {
        let interval = if test.interval.is_zero() {
            Duration::from_millis(settings.eval_interval_ms as u64)
        } else {
            test.interval
        };
        let input = Input::parse(test, millis(interval)).map_err(|e| vec![e])?;
        let dir = tempfile::tempdir().map_err(|e| vec![format!("creating a temporary directory: {e}")])?;
        let db = Db::open(Options {
            // Keep everything and accept any timestamp >= 0.
            retention: Duration::ZERO,
            // Prometheus's test storage refuses out-of-order samples.
            out_of_order_window: Duration::ZERO,
            wal_fsync: FsyncPolicy::Never,
            ..Options::new(dir.path())
        })
        .map_err(|e| vec![format!("opening a temporary store: {e}")])?;
        let engine = Engine::new(EngineOptions {
            // promtool's query engine limits.
            max_samples: 10_000,
            timeout: Duration::from_secs(100),
            default_subquery_step_ms: settings.eval_interval_ms,
            ..EngineOptions::default()
        });
        let config = RulesConfig { external_labels: test.external_labels.clone(), ..RulesConfig::default() };
        // The listen address only makes a default external URL, which the
        // test's (possibly empty) one replaces.
        let mut env = EvalEnv::from_config(&config, Arc::new(db), engine, None, "http://127.0.0.1:0".into());
        env.external_url = test.external_url.clone();
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        for path in settings.rule_files {
            match file::load_file(path, interval) {
                Ok(specs) => groups.extend(specs.into_iter().map(|spec| Group::new(DEFAULT_TENANT, spec))),
                Err(e) => errors.extend(e.iter().map(ToString::to_string)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Groups named in `group_eval_order` run in that order; the others
        // rank with the first.
        groups.sort_by_key(|g| settings.group_order.get(&g.spec.name).copied().unwrap_or(0));
        for g in &mut groups {
            // No state to restore: `ALERTS` series are written from the start.
            g.skip_restore();
        }
        Ok(Self { env, groups, input, settings, _dir: dir })
    }

    fn run(mut self, test: &TestGroup) -> Vec<String> {
        if let Some(a) = test.alert_rule_test.iter().find(|a| a.alertname.is_empty()) {
            let within = if test.name.is_empty() { String::new() } else { format!(" (in TestGroup {})", test.name) };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{within}",
                crate::duration::format_duration(a.eval_time)
            )];
        }
        let max_t = test
            .alert_rule_test
            .iter()
            .map(|a| a.eval_time)
            .chain(test.promql_expr_test.iter().map(|e| e.eval_time))
            .max()
            .map_or(0, millis);
        let alert_times: BTreeSet<i64> = test.alert_rule_test.iter().map(|a| millis(a.eval_time)).collect();
        let mut alert_times = alert_times.into_iter().peekable();
        let step = self.settings.eval_interval_ms.max(1);
        let mut errors = Vec::new();
        let mut ts = 0;
        while ts <= max_t {
            match self.input.append_till(&self.env.db, ts) {
                Ok(()) => {
                    let eval_errors = self.eval(ts);
                    if !eval_errors.is_empty() {
                        errors.extend(eval_errors);
                        return errors;
                    }
                }
                Err(e) => errors.push(e),
            }
            // Alerts due in [ts, ts + step) are checked against this step.
            while let Some(t) = alert_times.next_if(|&t| t < ts + step) {
                let due: Vec<&AlertTest> = test.alert_rule_test.iter().filter(|a| millis(a.eval_time) == t).collect();
                errors.extend(due.into_iter().filter_map(|a| self.check_alerts(test, a)));
            }
            ts += step;
        }
        for e in &test.promql_expr_test {
            let t = millis(e.eval_time);
            let at = crate::duration::format_duration(e.eval_time);
            let quoted = quote(&e.expr);
            let mut got = match self.query(&e.expr, t) {
                Ok(got) => got,
                Err(err) => {
                    errors.push(format!("    expr: {quoted}, time: {at}, err: {err}"));
                    continue;
                }
            };
            let exp: Result<Vec<SampleView>, String> = e
                .exp_samples
                .iter()
                .map(|s| {
                    let text = s.labels.trim();
                    let labels = if text.is_empty() { Ok(Labels::default()) } else { parse_series_id(text) };
                    labels.map(|l| (l, s.value)).map_err(|err| format!("labels {}: {err}", quote(&s.labels)))
                })
                .collect();
            let mut exp = match exp {
                Ok(exp) => exp,
                Err(err) => {
                    errors.push(format!("    expr: {quoted}, time: {at}, err: {err}"));
                    continue;
                }
            };
            if !report::samples_match(&mut exp, &mut got) {
                errors.push(format!(
                    "    expr: {quoted}, time: {at},\n        exp: {}\n        got: {}",
                    report::samples_string(&exp),
                    report::samples_string(&got)
                ));
            }
        }
        errors
    }

    /// Evaluates every group at `ts`; returns an error per rule whose
    /// evaluation failed.
    fn eval(&mut self, ts: i64) -> Vec<String> {
        let mut errors = Vec::new();
        for g in &mut self.groups {
            g.eval(&self.env, ts);
            for r in &g.rules {
                if let Some(e) = &r.last_error {
                    errors.push(format!("    rule: {}, time: {}, err: {e}", r.spec.name(), report::go_duration(ts)));
                }
            }
        }
        errors
    }

    /// Compares the firing alerts of the rules named `test.alertname` with
    /// the expected ones.
    fn check_alerts(&self, group: &TestGroup, test: &AlertTest) -> Option<String> {
        let mut got: Vec<AlertView> = self
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter(|r| r.spec.name() == test.alertname)
            .filter_map(|r| r.alerting.as_ref())
            .flat_map(|a| a.alerts())
            .filter(|a| a.state == AlertState::Firing)
            .map(|a| AlertView { labels: a.labels.clone(), annotations: a.annotations.clone() })
            .collect();
        let mut exp: Vec<AlertView> = test
            .exp_alerts
            .iter()
            .map(|a| {
                let mut labels = a.exp_labels.clone();
                labels.insert("alertname".into(), test.alertname.clone());
                AlertView {
                    labels: Labels::from_pairs(labels),
                    annotations: Labels::from_pairs(a.exp_annotations.clone()),
                }
            })
            .collect();
        if report::alerts_match(&mut exp, &mut got) {
            return None;
        }
        let name = if group.name.is_empty() { String::new() } else { format!("    name: {},\n", group.name) };
        let indent = " ".repeat(12);
        Some(format!(
            "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
            test.alertname,
            crate::duration::format_duration(test.eval_time),
            report::indent_lines(&report::alerts_string(&exp), &indent),
            report::indent_lines(&report::alerts_string(&got), &indent)
        ))
    }

    /// An instant query at `t`: a vector, or a scalar as one sample without
    /// labels.
    fn query(&self, text: &str, t: i64) -> Result<Vec<SampleView>, String> {
        let expr = crate::promql::parse(text).map_err(|e| e.message().to_owned())?;
        let storage = TenantStorage::new(&self.env.db, DEFAULT_TENANT);
        let out = self.env.engine.instant(&storage, text, &expr, t).map_err(|e| e.message().to_owned())?;
        match out.value {
            Value::Vector(v) => Ok(v.into_iter().map(|s| (Arc::unwrap_or_clone(s.labels), s.v)).collect()),
            Value::Scalar { v, .. } => Ok(vec![(Labels::default(), v)]),
            Value::String { .. } | Value::Matrix(_) => Err("rule result is not a vector or scalar".into()),
        }
    }
}

/// The input series, appended to the store up to each step's time.
struct Input {
    /// Each series and its samples not appended yet, oldest first.
    series: Vec<(Labels, VecDeque<Sample>)>,
}

impl Input {
    /// Expands the test's input series, one value per `interval_ms` from 0;
    /// a series given twice keeps its last values.
    fn parse(test: &TestGroup, interval_ms: i64) -> Result<Self, String> {
        let mut series: Vec<(Labels, VecDeque<Sample>)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for s in &test.input_series {
            let (labels, items) = parse_series_desc(&format!("{} {}", s.series, s.values))
                .map_err(|e| format!("input series {}: {e}", quote(&s.series)))?;
            // A label with an empty value is no label.
            let labels = Labels::from_sorted(labels.into_vec().into_iter().filter(|l| !l.value.is_empty()).collect());
            let mut samples = VecDeque::new();
            for (i, item) in items.into_iter().enumerate() {
                let t = i as i64 * interval_ms;
                match item {
                    Item::Omitted => {}
                    Item::Float(v) => samples.push_back(Sample::new(t, v)),
                    Item::Histogram(_) => {
                        return Err(format!(
                            "input series {}: native histogram samples are not supported",
                            quote(&s.series)
                        ))
                    }
                }
            }
            match index.get(&labels) {
                Some(&i) => series[i].1 = samples,
                None => {
                    index.insert(labels.clone(), series.len());
                    series.push((labels, samples));
                }
            }
        }
        Ok(Self { series })
    }

    /// Appends every sample at or before `ts` not appended yet.
    fn append_till(&mut self, db: &Db, ts: i64) -> Result<(), String> {
        let mut batch = AppendBatch::new();
        let mut labels_of = Vec::new();
        for (labels, pending) in &mut self.series {
            let due = pending.iter().take_while(|s| s.t <= ts).count();
            if due == 0 {
                continue;
            }
            let samples: Vec<Sample> = pending.drain(..due).collect();
            batch.push(labels.pairs(), &samples, []);
            labels_of.push(labels.clone());
        }
        if batch.is_empty() {
            return Ok(());
        }
        let result = db.append(DEFAULT_TENANT, &batch, ts).map_err(|e| format!("appending input series: {e}"))?;
        match result.rejections.first() {
            Some(r) => Err(format!(
                "appending input series {} at {}: {:?}",
                report::labels_string(&labels_of[r.series]),
                r.sample.t,
                r.kind
            )),
            None => Ok(()),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
