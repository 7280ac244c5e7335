//! Running one script against the real storage engine and evaluator.
//!
//! Each file starts from a fresh `rampart_storage::Db` in a temporary
//! directory, and every `clear` replaces it with another fresh one. A `load`
//! is one `Db::append` call whose every sample must be accepted; a rejected
//! sample fails the load, and the rest of the file is then reported as not
//! run (its evals still tiered and counted). Histogram samples and start
//! timestamps cannot be stored (the engine holds floats only): they are
//! skipped, and the series that carry them are recorded so that the evals
//! touching them are tiered as native-histogram or experimental.
//!
//! An instant eval runs as upstream's runner does (spec section 6.1): the
//! query at its time, then, for each `@` variant, the rewritten query at
//! each extra time; each of those also as a range query from T−1m to T+1m
//! step 1m whose point at T must meet the same expectations. An eval passes
//! only if every variant does; the first failing one is reported.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use promql_parser::parser::Expr;
use rampart::promql::{
    AnnotationKind, Engine, EngineOptions, QueryError, QueryOutput, Queryable, Sample, TenantStorage, Value,
};
use rampart_storage::{AppendBatch, Db, FsyncPolicy, Label, Labels, Options};

use super::atmod::at_variants;
use super::compare::{check_annotations, check_error, check_no_error, check_sorted, check_value, fmt_t};
use super::script::{Command, Eval, EvalKind, Load};
use super::series::go_parse_float;
use super::tier::{classify, Classification, DataFlags, LoadedData};

/// The tenant every script's data is written to and read from.
const TENANT: &str = "promql-conformance";

/// Settings the scripts assume (spec section 7): upstream's test engine
/// allows 10 000 samples per query and a 100 s timeout; lookback (5m) and
/// the default subquery step (1m) are the engine defaults.
fn engine_options() -> EngineOptions {
    EngineOptions { max_samples: 10_000, timeout: Duration::from_secs(100), ..EngineOptions::default() }
}

/// The evaluator under test: Rampart's [`Engine`] (a test double in this
/// module's unit tests, which check the runner itself).
pub trait Evaluate {
    /// An instant query at `t` (ms).
    fn instant(&self, q: &dyn Queryable, query: &str, expr: &Expr, t: i64) -> Result<QueryOutput, QueryError>;
    /// A range query (ms).
    fn range(
        &self,
        q: &dyn Queryable,
        query: &str,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError>;
}

impl Evaluate for Engine {
    fn instant(&self, q: &dyn Queryable, query: &str, expr: &Expr, t: i64) -> Result<QueryOutput, QueryError> {
        Engine::instant(self, q, query, expr, t)
    }

    fn range(
        &self,
        q: &dyn Queryable,
        query: &str,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError> {
        Engine::range(self, q, query, expr, start, end, step)
    }
}

/// Why an eval failed.
#[derive(Debug)]
pub struct Failure {
    /// Which run failed, e.g. `instant at 50m` or `@-variant at t=-600s, range mode`.
    pub variant: String,
    /// The query text of that run when it differs from the script's (an `@` rewrite).
    pub query: Option<String>,
    /// Expected vs got.
    pub detail: String,
}

/// The outcome of one eval.
#[derive(Debug)]
pub struct EvalReport {
    /// 1-based line of the eval.
    pub line: usize,
    /// The query.
    pub query: String,
    /// Its tier.
    pub class: Classification,
    /// Pass, or the first failing variant.
    pub outcome: Result<(), Failure>,
}

/// The outcome of one file.
#[derive(Debug, Default)]
pub struct FileReport {
    /// File name.
    pub name: String,
    /// The evals that ran (or were selected), in file order.
    pub evals: Vec<EvalReport>,
    /// Script or load errors.
    pub errors: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

/// A fresh store: the database and the directory it lives in.
struct Store {
    // Field order matters: the database closes before its directory is removed.
    db: Db,
    _dir: tempfile::TempDir,
}

impl Store {
    fn open() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let opts = Options {
            // Keep everything and accept any timestamp >= 0 (loads start at t = 0).
            retention: Duration::ZERO,
            // Upstream's test storage rejects out-of-order samples.
            out_of_order_window: Duration::ZERO,
            wal_fsync: FsyncPolicy::Never,
            ..Options::new(dir.path())
        };
        let db = Db::open(opts).map_err(|e| format!("open storage: {e}"))?;
        Ok(Self { db, _dir: dir })
    }
}

/// Runs one file against Rampart's engine. `selected` limits which evals
/// run (by line); loads and clears always run.
pub fn run_file(name: &str, text: &str, selected: Option<&[usize]>) -> FileReport {
    run_file_with(&Engine::new(engine_options()), name, text, selected)
}

/// Runs one file against `engine`.
fn run_file_with(engine: &dyn Evaluate, name: &str, text: &str, selected: Option<&[usize]>) -> FileReport {
    let started = std::time::Instant::now();
    let mut report = FileReport { name: name.to_owned(), ..FileReport::default() };
    let script = match super::script::parse_script(text) {
        Ok(s) => s,
        Err(e) => {
            report.errors.push(format!("script does not parse: {e}"));
            report.elapsed = started.elapsed();
            return report;
        }
    };
    let mut runner = Runner { engine, store: None, data: LoadedData::default(), broken: None };
    for cmd in &script.commands {
        match cmd {
            Command::Clear => runner.clear(),
            Command::Load(load) => {
                if let Err(e) = runner.load(load) {
                    let msg = format!("load at line {} failed: {e}", load.line);
                    report.errors.push(msg.clone());
                    runner.broken.get_or_insert(msg);
                }
            }
            Command::Eval(ev) => {
                if selected.is_some_and(|lines| !lines.contains(&ev.line)) {
                    continue;
                }
                report.evals.push(runner.eval(ev));
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

struct Runner<'e> {
    engine: &'e dyn Evaluate,
    /// Opened on first use after a `clear`.
    store: Option<Store>,
    /// The series the engine could not store, or that are experimental.
    data: LoadedData,
    /// Set once a load failed: later evals are not run.
    broken: Option<String>,
}

/// One engine call's result.
enum Run<T> {
    Ok(T),
    /// The query failed (including a parse error).
    Failed(String),
    /// The engine panicked: never an expected failure.
    Panicked(String),
}

fn guarded<T>(f: impl FnOnce() -> Result<T, QueryError>) -> Run<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Run::Ok(v),
        Ok(Err(e)) => Run::Failed(e.to_string()),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            Run::Panicked(msg)
        }
    }
}

impl Runner<'_> {
    fn clear(&mut self) {
        self.store = None;
        self.data.clear();
    }

    fn store(&mut self) -> Result<&Store, String> {
        if self.store.is_none() {
            self.store = Some(Store::open()?);
        }
        Ok(self.store.as_ref().expect("just opened"))
    }

    fn load(&mut self, load: &Load) -> Result<(), String> {
        let mut owned: Vec<(&Labels, Vec<rampart_storage::Sample>)> = Vec::new();
        let mut max_t = 0;
        for s in &load.series {
            self.data.record(
                &s.labels,
                DataFlags { histograms: s.has_histograms(), start_timestamps: s.has_start_timestamps() },
            );
            let samples: Vec<_> = s
                .float_samples(load.interval_ms)
                .into_iter()
                .map(|(t, v)| rampart_storage::Sample::new(t, v))
                .collect();
            max_t = samples.iter().map(|s| s.t).fold(max_t, i64::max);
            if !samples.is_empty() {
                owned.push((&s.labels, samples));
            }
        }
        if load.with_nhcb {
            for labels in nhcb_series(load)? {
                self.data.record(&labels, DataFlags { histograms: true, start_timestamps: false });
            }
        }
        if self.broken.is_some() || owned.is_empty() {
            return Ok(());
        }
        let mut batch = AppendBatch::new();
        for (labels, samples) in &owned {
            batch.push(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())), samples, []);
        }
        let store = self.store()?;
        let result = store.db.append(TENANT, &batch, max_t).map_err(|e| format!("append: {e}"))?;
        if let Some(r) = result.rejections.first() {
            return Err(format!(
                "{} of {} samples rejected, first: {} t={} v={} ({:?})",
                result.rejections.len(),
                batch.sample_count(),
                owned[r.series].0,
                fmt_t(r.sample.t),
                r.sample.v,
                r.kind
            ));
        }
        Ok(())
    }

    fn eval(&mut self, ev: &Eval) -> EvalReport {
        let expr = rampart::promql::parse(&ev.expr).ok();
        let class = classify(&ev.expr, expr.as_ref(), ev.expects_histogram(), &self.data);
        let outcome = match &self.broken {
            Some(why) => Err(Failure { variant: "not run".into(), query: None, detail: why.clone() }),
            None => self.run(ev, expr.as_ref()),
        };
        EvalReport { line: ev.line, query: ev.expr.clone(), class, outcome }
    }

    fn run(&mut self, ev: &Eval, expr: Option<&Expr>) -> Result<(), Failure> {
        let fail = |variant: String, detail: String| Failure { variant, query: None, detail };
        self.store().map_err(|e| fail("setup".into(), e))?;
        let store = self.store.as_ref().expect("opened above");
        let storage = TenantStorage::new(&store.db, TENANT);
        let ctx = Ctx { engine: self.engine, storage: &storage, ev };
        match ev.kind {
            EvalKind::Range { start, end, step } => {
                let variant = format!("range from {} to {} step {}", fmt_t(start), fmt_t(end), fmt_t(step));
                ctx.range_eval(start, end, step).map_err(|d| fail(variant, d))
            }
            EvalKind::Instant { .. } => {
                let t = ev.instant_time().expect("instant");
                ctx.instant_eval(&ev.expr, t)
                    .map_err(|(stage, d)| fail(format!("instant at {}{stage}", fmt_t(t)), d))?;
                let Some((text, times)) = expr.and_then(|e| at_variants(e, t)) else { return Ok(()) };
                for et in times {
                    ctx.instant_eval(&text, et).map_err(|(stage, detail)| Failure {
                        variant: format!("@-variant at t={}{stage}", fmt_t(et)),
                        query: Some(text.clone()),
                        detail,
                    })?;
                }
                Ok(())
            }
        }
    }
}

/// What one eval runs against.
struct Ctx<'a> {
    engine: &'a dyn Evaluate,
    storage: &'a TenantStorage<'a>,
    ev: &'a Eval,
}

impl Ctx<'_> {
    fn parse(&self, text: &str) -> Run<Expr> {
        guarded(|| rampart::promql::parse(text))
    }

    /// Checks a finished query's error or annotations and value.
    fn check(&self, text: &str, run: Run<QueryOutput>) -> Result<Option<QueryOutput>, String> {
        match run {
            Run::Panicked(p) => Err(format!("engine panicked: {p}")),
            Run::Failed(e) => check_error(self.ev, &e).map(|()| None),
            Run::Ok(out) => {
                check_no_error(self.ev)?;
                let warnings = out.annotations.rendered(AnnotationKind::Warning, text);
                let infos = out.annotations.rendered(AnnotationKind::Info, text);
                check_annotations(self.ev, &warnings, &infos)?;
                check_value(self.ev, &out.value)?;
                Ok(Some(out))
            }
        }
    }

    fn range_eval(&self, start: i64, end: i64, step: i64) -> Result<(), String> {
        let text = &self.ev.expr;
        let run = match self.parse(text) {
            Run::Ok(expr) => guarded(|| self.engine.range(self.storage, text, &expr, start, end, step)),
            Run::Failed(e) => Run::Failed(e),
            Run::Panicked(p) => Run::Panicked(p),
        };
        self.check(text, run).map(|_| ())
    }

    /// One instant run of `text` at `t`, then its range-mode check. The
    /// error carries the stage suffix (`""` or `", range mode"`).
    fn instant_eval(&self, text: &str, t: i64) -> Result<(), (&'static str, String)> {
        let expr = match self.parse(text) {
            Run::Ok(expr) => expr,
            Run::Failed(e) => return check_error(self.ev, &e).map_err(|d| ("", d)),
            Run::Panicked(p) => return Err(("", format!("parser panicked: {p}"))),
        };
        let run = guarded(|| self.engine.instant(self.storage, text, &expr, t));
        let Some(out) = self.check(text, run).map_err(|d| ("", d))? else {
            return Ok(()); // failed as expected
        };
        if self.ev.excluded_from_range_check() || uses_query_context(text) {
            return Ok(());
        }
        let stage = ", range mode";
        let range = match guarded(|| self.engine.range(self.storage, text, &expr, t - 60_000, t + 60_000, 60_000)) {
            Run::Ok(r) => r,
            Run::Failed(e) => return Err((stage, format!("query failed: {e}"))),
            Run::Panicked(p) => return Err((stage, format!("engine panicked: {p}"))),
        };
        if self.ev.is_ordered() {
            return Ok(());
        }
        let Value::Matrix(matrix) = &range.value else {
            return Err((stage, format!("range query returned a {}, not a matrix", range.value.type_name())));
        };
        check_sorted(matrix).map_err(|d| (stage, d))?;
        let at_t: Vec<Sample> = matrix
            .iter()
            .filter_map(|s| {
                s.points.iter().find(|p| p.t == t).map(|p| Sample {
                    labels: Arc::clone(&s.labels),
                    t,
                    v: p.v,
                    drop_name: false,
                })
            })
            .collect();
        let value = match out.value {
            Value::Scalar { .. } => match at_t.first() {
                Some(s) => Value::Scalar { t, v: s.v },
                None => {
                    return Err((
                        stage,
                        format!(
                            "the instant query returned a scalar, but the range query has no point at t={}",
                            fmt_t(t)
                        ),
                    ))
                }
            },
            _ => Value::Vector(at_t),
        };
        check_value(self.ev, &value).map_err(|d| (stage, d))
    }
}

/// Upstream skips the range-mode check for queries that mention `start()`,
/// `end()`, `range()` or `step()` (a plain text match).
fn uses_query_context(text: &str) -> bool {
    ["start()", "end()", "range()", "step()"].iter().any(|f| text.contains(f))
}

/// The series `load_with_nhcb` would add: one custom-bucket histogram series
/// per group of classic `_bucket` (with a float `le`), `_count` and `_sum`
/// series that hold float samples, named after the base name without `le`.
fn nhcb_series(load: &Load) -> Result<Vec<Labels>, String> {
    let mut out: Vec<Labels> = Vec::new();
    for s in &load.series {
        if s.float_samples(load.interval_ms).is_empty() {
            continue;
        }
        let Some(name) = s.labels.metric_name() else { continue };
        let base = if let Some(base) = name.strip_suffix("_bucket") {
            let le = s.labels.get("le").ok_or_else(|| format!("expected bucket label in metric {}", s.labels))?;
            if go_parse_float(le).is_none_or(f64::is_nan) {
                continue;
            }
            base
        } else if let Some(base) = name.strip_suffix("_count").or_else(|| name.strip_suffix("_sum")) {
            base
        } else {
            continue;
        };
        let labels = Labels::from_unsorted(
            s.labels
                .iter()
                .filter(|l| l.name != "le" && l.name != "__name__")
                .cloned()
                .chain([Label::new("__name__", base)])
                .collect(),
        );
        if !out.contains(&labels) {
            out.push(labels);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::script::parse_script;
    use super::*;

    #[test]
    fn nhcb_groups_classic_series() {
        let script = parse_script(
            "load_with_nhcb 1m\n  h_bucket{le=\"1\", job=\"a\"} 1\n  h_bucket{le=\"+Inf\", job=\"a\"} 2\n  \
             h_count{job=\"a\"} 2\n  h_sum{job=\"b\"} 3\n  x_bucket{le=\"bad\"} 1\n  y_total 1\n  z_count _\n",
        )
        .expect("parses");
        let Command::Load(load) = &script.commands[0] else { panic!("load") };
        let got = nhcb_series(load).expect("valid");
        assert_eq!(
            got,
            vec![
                Labels::from_pairs([("__name__", "h"), ("job", "a")]),
                Labels::from_pairs([("__name__", "h"), ("job", "b")]),
            ]
        );
    }

    #[test]
    fn loads_are_stored_bit_exact_and_failures_stop_the_file() {
        use rampart_storage::Matcher;

        let script =
            parse_script("load 1m\n  a{x=\"1\"} 0 _ stale NaN 4x1\n  h {{count:1}} 7\n  b 1x2000\n").expect("parses");
        let engine = Engine::new(engine_options());
        let mut runner = Runner { engine: &engine, store: None, data: LoadedData::default(), broken: None };
        let Command::Load(load) = &script.commands[0] else { panic!("load") };
        runner.load(load).expect("load accepted");
        let store = runner.store.as_ref().expect("opened");
        let storage = TenantStorage::new(&store.db, TENANT);
        let got = storage.select(&[Matcher::equal("__name__", "a")], i64::MIN, i64::MAX).expect("select");
        let bits: Vec<(i64, u64)> = got[0].points.iter().map(|p| (p.t, p.v.to_bits())).collect();
        assert_eq!(
            bits,
            vec![
                (0, 0f64.to_bits()),
                (120_000, rampart_storage::STALE_NAN_BITS),
                (180_000, super::super::series::GO_NAN_BITS),
                (240_000, 4f64.to_bits()),
                (300_000, 4f64.to_bits()),
            ]
        );
        // Histogram samples are skipped (the float at 1m is kept) and the series is flagged.
        let h = storage.select(&[Matcher::equal("__name__", "h")], i64::MIN, i64::MAX).expect("select");
        assert_eq!(h[0].points.len(), 1);
        let expr = rampart::promql::parse("h").ok();
        assert_eq!(classify("h", expr.as_ref(), false, &runner.data).tier, super::super::tier::Tier::NativeHistogram);
        let b = storage.select(&[Matcher::equal("__name__", "b")], i64::MIN, i64::MAX).expect("select");
        assert_eq!(b[0].points.len(), 2001);

        // A sample before the newest one of its series is out of order: the load fails.
        let report = run_file("t.test", "load 1m\n  a 1 2 3\n\nload 1m\n  a 5\n\neval instant at 0 a\n  a 1\n", None);
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert!(report.errors[0].contains("load at line 4 failed"), "{:?}", report.errors);
        assert!(matches!(&report.evals[0].outcome, Err(f) if f.variant == "not run"));
    }

    /// A toy evaluator for plain selectors (with `@` and `offset`) and
    /// numbers: enough to drive the runner end to end while the real
    /// evaluator is being written. `ignore_at` makes it wrong in a way only
    /// the `@`-invariance variants notice.
    struct Toy {
        ignore_at: bool,
    }

    impl Toy {
        fn value(&self, q: &dyn Queryable, expr: &Expr, t: i64) -> Result<Value, QueryError> {
            use promql_parser::parser::{AtModifier, Offset};
            match expr {
                Expr::NumberLiteral(n) => Ok(Value::Scalar { t, v: n.val }),
                Expr::Paren(p) => self.value(q, &p.expr, t),
                Expr::VectorSelector(vs) => {
                    let base = match &vs.at {
                        Some(AtModifier::At(st)) if !self.ignore_at => super::super::atmod::system_time_ms(st),
                        _ => t,
                    };
                    let offset = match &vs.offset {
                        Some(Offset::Pos(d)) => d.as_millis() as i64,
                        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
                        None => 0,
                    };
                    let at = base - offset;
                    let matchers = rampart::promql::storage::selector_matchers(vs)?;
                    let samples = q
                        .select(&matchers, at - 300_000 + 1, at)?
                        .into_iter()
                        .filter_map(|s| {
                            let p = s.points.iter().rev().find(|p| p.t > at - 300_000 && p.t <= at)?;
                            (p.v.to_bits() != rampart_storage::STALE_NAN_BITS).then(|| Sample {
                                labels: s.labels.clone(),
                                t,
                                v: p.v,
                                drop_name: false,
                            })
                        })
                        .collect();
                    Ok(Value::Vector(samples))
                }
                _ => Err(QueryError::Execution("toy evaluator: unsupported".into())),
            }
        }
    }

    impl Evaluate for Toy {
        fn instant(&self, q: &dyn Queryable, _: &str, expr: &Expr, t: i64) -> Result<QueryOutput, QueryError> {
            Ok(QueryOutput { value: self.value(q, expr, t)?, annotations: Default::default() })
        }

        fn range(
            &self,
            q: &dyn Queryable,
            _: &str,
            expr: &Expr,
            start: i64,
            end: i64,
            step: i64,
        ) -> Result<QueryOutput, QueryError> {
            let mut by_labels: std::collections::BTreeMap<Labels, Vec<rampart::promql::Point>> = Default::default();
            let mut t = start;
            while t <= end {
                let points = match self.value(q, expr, t)? {
                    Value::Scalar { v, .. } => vec![(Labels::default(), v)],
                    Value::Vector(samples) => samples.into_iter().map(|s| ((*s.labels).clone(), s.v)).collect(),
                    _ => unreachable!(),
                };
                for (labels, v) in points {
                    by_labels.entry(labels).or_default().push(rampart::promql::Point { t, v });
                }
                t += step.max(1);
            }
            let value = Value::Matrix(
                by_labels
                    .into_iter()
                    .map(|(labels, points)| rampart::promql::Series {
                        labels: Arc::new(labels),
                        points,
                        drop_name: false,
                    })
                    .collect(),
            );
            Ok(QueryOutput { value, annotations: Default::default() })
        }
    }

    const TOY_SCRIPT: &str = r#"
load 1m
  a{x="1"} 0 1 2 stale
  a{x="2"} 5 _ _ _ _ 6

eval instant at 1m a
  a{x="1"} 1
  a{x="2"} 5

# a{x="1"} is stale from 3m on.
eval instant at 3m a
  a{x="2"} 5

eval instant at 5m a offset 3m
  a{x="1"} 2
  a{x="2"} 5

eval range from 0 to 6m step 1m a
  a{x="1"} 0 1 2
  a{x="2"} 5 5 5 5 5 6 6

eval instant at 1m 42
  42

eval instant at 10m a @ 120
  a{x="1"} 2
  a{x="2"} 5

eval instant at 0 a
  a{x="1"} 0
  a{x="2"} 5

eval instant at 1m nonexistent

eval instant at 1m a{x="2"}
  a{x="2"} 6

eval instant at 1m a
  expect fail
"#;

    /// 1-based line of the first line of `TOY_SCRIPT` equal to `text`.
    fn toy_line(text: &str) -> usize {
        TOY_SCRIPT.split('\n').position(|l| l == text).expect("line present") + 1
    }

    #[test]
    fn a_correct_evaluator_passes_and_wrong_answers_are_reported() {
        let report = run_file_with(&Toy { ignore_at: false }, "toy.test", TOY_SCRIPT, None);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let failed: Vec<(usize, &Failure)> =
            report.evals.iter().filter_map(|e| e.outcome.as_ref().err().map(|f| (e.line, f))).collect();
        assert_eq!(failed.len(), 2, "{failed:#?}");
        assert_eq!(failed[0].0, toy_line("eval instant at 1m a{x=\"2\"}"));
        assert_eq!(failed[0].1.variant, "instant at 1m");
        assert_eq!(failed[0].1.detail, r#"expected 6 for a{x="2"}, got 5"#);
        assert_eq!(failed[1].0, toy_line("  expect fail") - 1);
        assert!(failed[1].1.detail.contains("expected the query to fail"), "{:?}", failed[1].1);
        assert_eq!(report.evals.len(), 10);
        assert!(report.evals.iter().all(|e| e.class.tier == super::super::tier::Tier::Core));
    }

    #[test]
    fn at_variants_catch_an_evaluator_that_ignores_at() {
        let line = toy_line("eval instant at 1m a");
        let report = run_file_with(&Toy { ignore_at: true }, "toy.test", TOY_SCRIPT, Some(&[line]));
        let Err(f) = &report.evals[0].outcome else { panic!("should fail: {:?}", report.evals[0]) };
        assert_eq!(f.variant, "@-variant at t=-10m");
        assert_eq!(f.query.as_deref(), Some("a @ 60.000"));
        assert!(f.detail.contains("not found"), "{}", f.detail);
    }

    #[test]
    fn query_context_functions() {
        assert!(uses_query_context("foo[step()]"));
        assert!(uses_query_context("x - start()"));
        assert!(!uses_query_context("rate(x[5m]) @ start"));
    }
}
