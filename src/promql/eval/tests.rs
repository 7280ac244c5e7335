//! Evaluator tests over an in-memory [`Queryable`], with small stand-ins for
//! the functions, aggregations and binary operators implemented elsewhere.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use promql_parser::parser::{AggregateExpr, BinaryExpr};
use rampart_storage::Matcher;

use super::aggregate::{AggCtx, AggParam};
use super::binary::{BinaryCtx, Operand};
use super::evaluator::Ops;
use super::*;
use crate::promql::annotations::AnnotationKind;
use crate::promql::functions::{Arg, FnCtx, FnImpl};
use crate::promql::storage::RawSeries;
use crate::promql::value::STALE_NAN_BITS;

const S: i64 = 1000;
const M: i64 = 60 * S;

/// Series in memory; records every read.
struct Mem {
    series: Vec<RawSeries>,
    reads: Mutex<Vec<(i64, i64)>>,
}

impl Mem {
    fn new(mut series: Vec<RawSeries>) -> Self {
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Self { series, reads: Mutex::new(Vec::new()) }
    }

    fn reads(&self) -> Vec<(i64, i64)> {
        self.reads.lock().unwrap().clone()
    }
}

impl Queryable for Mem {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<RawSeries>, QueryError> {
        self.reads.lock().unwrap().push((mint, maxt));
        Ok(self
            .series
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches_labels(&s.labels)))
            .filter_map(|s| {
                let points: Vec<Point> = s.points.iter().copied().filter(|p| p.t >= mint && p.t <= maxt).collect();
                (!points.is_empty()).then(|| RawSeries { labels: s.labels.clone(), points })
            })
            .collect())
    }
}

fn labels(pairs: &[(&str, &str)]) -> Arc<Labels> {
    Arc::new(Labels::from_pairs(pairs.iter().copied()))
}

/// A series `name{pairs}` with `(seconds, value)` samples.
fn ser(name: &str, pairs: &[(&str, &str)], pts: &[(i64, f64)]) -> RawSeries {
    let mut l: Vec<(&str, &str)> = vec![("__name__", name)];
    l.extend_from_slice(pairs);
    RawSeries { labels: labels(&l), points: pts.iter().map(|&(t, v)| Point { t: t * S, v }).collect() }
}

/// `(seconds, value)` every `every` seconds from `from` to `to`, value = f(t).
fn every(from: i64, to: i64, every: i64, f: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
    (0..).map(|i| from + i * every).take_while(|t| *t <= to).map(|t| (t, f(t))).collect()
}

fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

// --- stand-ins ------------------------------------------------------------

fn out_sample(ctx: &FnCtx<'_>, labels: &Arc<Labels>, v: f64, drop_name: bool) -> Sample {
    Sample { labels: labels.clone(), t: ctx.ts, v, drop_name }
}

fn f_count_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let Arg::Matrix { windows, .. } = args[0] else { panic!() };
    Ok(windows.iter().map(|w| out_sample(ctx, w.labels, w.points.len() as f64, true)).collect())
}

fn f_last_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let Arg::Matrix { windows, .. } = args[0] else { panic!() };
    Ok(windows.iter().map(|w| out_sample(ctx, w.labels, w.points.last().unwrap().v, w.drop_name)).collect())
}

/// Reports the window bounds as values: `start`, for checking offsets.
fn f_window_start(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let Arg::Matrix { windows, start, .. } = args[0] else { panic!() };
    Ok(windows.iter().map(|w| out_sample(ctx, w.labels, start as f64, true)).collect())
}

fn f_abs(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let Arg::Vector(v) = args[0] else { panic!() };
    if let Some(p) = ctx.arg_positions[0] {
        ctx.annotations.info("abs argument", Some(p));
    }
    Ok(v.iter().map(|s| out_sample(ctx, &s.labels, s.v.abs(), true)).collect())
}

fn f_sort(_: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let Arg::Vector(v) = args[0] else { panic!() };
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.v.total_cmp(&b.v));
    Ok(v)
}

fn f_timestamp(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let Arg::Vector(v) = args[0] else { panic!() };
    Ok(v.iter().map(|s| out_sample(ctx, &s.labels, s.t as f64 / 1000.0, true)).collect())
}

fn f_time(ctx: &mut FnCtx<'_>, _: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    Ok(vec![Sample { labels: Arc::default(), t: ctx.ts, v: ctx.ts as f64 / 1000.0, drop_name: false }])
}

/// `label_replace(v, dst, repl, src, regex)` stand-in: sets `dst` to `repl`
/// (no regex), and counts its calls.
fn f_label_replace(_: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (Arg::Vector(v), Arg::String(dst), Arg::String(repl)) = (args[0], args[1], args[2]) else { panic!() };
    LABEL_REPLACE_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(v.iter()
        .map(|s| {
            let mut l: Vec<Label> = s.labels.iter().filter(|l| l.name != dst).cloned().collect();
            l.push(Label::new(dst, repl));
            Sample { labels: Arc::new(Labels::from_unsorted(l)), ..s.clone() }
        })
        .collect())
}

static LABEL_REPLACE_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

use crate::promql::value::Label;

fn lookup(name: &str) -> Option<FnImpl> {
    Some(match name {
        "count_over_time" => f_count_over_time,
        "last_over_time" => f_last_over_time,
        "sum_over_time" => f_window_start,
        "abs" => f_abs,
        "sort" => f_sort,
        "timestamp" => f_timestamp,
        "time" => f_time,
        "label_replace" => f_label_replace,
        _ => return None,
    })
}

/// `topk` by value; warns with the param position. (`sum` and the other
/// one-sample-per-group aggregations are evaluated by the real
/// [`super::aggregate::GroupedAggregation`], not through [`Ops`].)
fn aggregate(
    e: &AggregateExpr,
    p: AggParam<'_>,
    input: Vec<Sample>,
    ctx: &mut AggCtx<'_>,
) -> Result<Vec<Sample>, QueryError> {
    match (e.op.to_string().as_str(), p) {
        ("topk", AggParam::Scalar(k)) => {
            ctx.annotations.warn(format!("k={k}"), ctx.param_position);
            let mut v = input;
            v.sort_by(|a, b| b.v.total_cmp(&a.v));
            v.truncate(k as usize);
            Ok(v)
        }
        (op, _) => panic!("no stand-in for {op}"),
    }
}

/// Arithmetic `+ - * /`; vector/vector matches on labels without the name.
fn binary(e: &BinaryExpr, l: Operand, r: Operand, ctx: &mut BinaryCtx<'_>) -> Result<Operand, QueryError> {
    let op = e.op.to_string();
    let f = |a: f64, b: f64| match op.as_str() {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => a / b,
        o => panic!("no stand-in for {o}"),
    };
    let strip = |s: &Sample| Labels::from_sorted(s.labels.iter().filter(|l| l.name != METRIC_NAME).cloned().collect());
    Ok(match (l, r) {
        (Operand::Scalar(a), Operand::Scalar(b)) => Operand::Scalar(f(a, b)),
        (Operand::Vector(v), Operand::Scalar(b)) => {
            Operand::Vector(v.into_iter().map(|s| Sample { v: f(s.v, b), drop_name: true, ..s }).collect())
        }
        (Operand::Scalar(a), Operand::Vector(v)) => {
            Operand::Vector(v.into_iter().map(|s| Sample { v: f(a, s.v), drop_name: true, ..s }).collect())
        }
        (Operand::Vector(a), Operand::Vector(b)) => Operand::Vector(
            a.into_iter()
                .filter_map(|x| {
                    let y = b.iter().find(|y| strip(y) == strip(&x))?;
                    Some(Sample { labels: Arc::new(strip(&x)), t: ctx.ts, v: f(x.v, y.v), drop_name: false })
                })
                .collect(),
        ),
    })
}

fn ops() -> Ops {
    Ops { lookup, aggregate, binary }
}

fn engine() -> Engine {
    Engine::new(EngineOptions::default())
}

fn run(e: &Engine, q: &Mem, query: &str, start: i64, end: i64, step: i64) -> Result<QueryOutput, QueryError> {
    let expr = crate::promql::parse(query)?;
    e.range_with(ops(), q, query, &expr, start, end, step)
}

fn instant(q: &Mem, query: &str, t: i64) -> Value {
    run(&engine(), q, query, t, t, 0).unwrap_or_else(|e| panic!("{query}: {e}")).value
}

fn range(q: &Mem, query: &str, start: i64, end: i64, step: i64) -> Vec<Series> {
    match run(&engine(), q, query, start, end, step).unwrap_or_else(|e| panic!("{query}: {e}")).value {
        Value::Matrix(m) => m,
        other => panic!("{query}: not a matrix: {other:?}"),
    }
}

/// `(labels text, value)` of an instant vector.
fn vector(v: Value) -> Vec<(String, f64)> {
    match v {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("not a vector: {other:?}"),
    }
}

/// `(labels text, [(ms, value)])` of a matrix.
fn matrix(m: Vec<Series>) -> Vec<(String, Vec<(i64, f64)>)> {
    m.into_iter().map(|s| (s.labels.to_string(), s.points.iter().map(|p| (p.t, p.v)).collect())).collect()
}

fn owned(rows: &[(&str, &[(i64, f64)])]) -> Vec<(String, Vec<(i64, f64)>)> {
    rows.iter().map(|(l, p)| (l.to_string(), p.to_vec())).collect()
}

// --- selectors, lookback, staleness ---------------------------------------

#[test]
fn lookback_window_is_open_on_the_left() {
    let q = Mem::new(vec![ser("x", &[], &[(0, 1.0)])]);
    assert_eq!(vector(instant(&q, "x", 5 * M - 1)), vec![("x{}".into(), 1.0)]);
    assert_eq!(vector(instant(&q, "x", 5 * M)), vec![]);
    assert_eq!(vector(instant(&q, "x", -1)), vec![]);
    assert_eq!(vector(instant(&q, "x", 0)), vec![("x{}".into(), 1.0)]);
}

#[test]
fn staleness_marker_ends_a_series_at_once() {
    let q = Mem::new(vec![ser("x", &[], &[(0, 1.0), (60, stale()), (120, 3.0)])]);
    assert_eq!(vector(instant(&q, "x", 59 * S)), vec![("x{}".into(), 1.0)]);
    assert_eq!(vector(instant(&q, "x", 60 * S)), vec![]);
    assert_eq!(vector(instant(&q, "x", 119 * S)), vec![]);
    assert_eq!(vector(instant(&q, "x", 120 * S)), vec![("x{}".into(), 3.0)]);
    // Range selectors drop stale markers.
    let Value::Matrix(m) = instant(&q, "x[3m]", 120 * S) else { panic!() };
    assert_eq!(matrix(m), owned(&[("x{}", &[(0, 1.0), (120 * S, 3.0)])]));
}

#[test]
fn range_query_of_a_selector_has_points_where_present_sorted_by_labels() {
    let q = Mem::new(vec![ser("x", &[("i", "b")], &[(0, 1.0), (30, 2.0)]), ser("x", &[("i", "a")], &[(400, 5.0)])]);
    let m = range(&q, "x", 0, 10 * M, 2 * M);
    assert_eq!(
        matrix(m),
        owned(&[
            ("x{i=\"a\"}", &[(8 * M, 5.0), (10 * M, 5.0)]),
            ("x{i=\"b\"}", &[(0, 1.0), (2 * M, 2.0), (4 * M, 2.0)]),
        ])
    );
}

#[test]
fn offset_positive_and_negative() {
    let q = Mem::new(vec![ser("x", &[], &every(0, 600, 60, |t| t as f64))]);
    assert_eq!(vector(instant(&q, "x offset 2m", 5 * M)), vec![("x{}".into(), 180.0)]);
    assert_eq!(vector(instant(&q, "x offset -2m", 5 * M)), vec![("x{}".into(), 420.0)]);
    let Value::Matrix(m) = instant(&q, "x[2m] offset 1m", 5 * M) else { panic!() };
    assert_eq!(matrix(m), owned(&[("x{}", &[(3 * M, 180.0), (4 * M, 240.0)])]));
}

#[test]
fn at_modifier_fixes_the_time_including_before_1970() {
    let q = Mem::new(vec![ser("x", &[], &every(-600, 600, 60, |t| t as f64))]);
    assert_eq!(vector(instant(&q, "x @ -90", 5 * M)), vec![("x{}".into(), -120.0)]);
    assert_eq!(vector(instant(&q, "x @ -90 offset 1m", 0)), vec![("x{}".into(), -180.0)]);
    // Same value at every step of a range query; start() and end().
    let m = range(&q, "x @ 100", 0, 4 * M, M);
    assert_eq!(matrix(m), owned(&[("x{}", &[(0, 60.0), (M, 60.0), (2 * M, 60.0), (3 * M, 60.0), (4 * M, 60.0)])]));
    let m = range(&q, "x @ end()", -2 * M, 0, M);
    assert_eq!(matrix(m), owned(&[("x{}", &[(-2 * M, 0.0), (-M, 0.0), (0, 0.0)])]));
    let m = range(&q, "x @ start()", -2 * M, 0, M);
    assert_eq!(matrix(m), owned(&[("x{}", &[(-2 * M, -120.0), (-M, -120.0), (0, -120.0)])]));
    // Negative evaluation times without @.
    let m = range(&q, "x", -3 * M - 30 * S, -2 * M, 30 * S);
    assert_eq!(
        matrix(m),
        owned(&[("x{}", &[(-210 * S, -240.0), (-180 * S, -180.0), (-150 * S, -180.0), (-120 * S, -120.0)])])
    );
}

#[test]
fn matrix_selector_window_is_open_on_the_left() {
    let q = Mem::new(vec![ser("x", &[], &every(0, 120, 30, |t| t as f64))]);
    let Value::Matrix(m) = instant(&q, "x[1m]", 60 * S) else { panic!() };
    assert_eq!(matrix(m), owned(&[("x{}", &[(30 * S, 30.0), (60 * S, 60.0)])]));
    let out = run(&engine(), &q, "count_over_time(x[1m])", 0, 2 * M, M).unwrap();
    let Value::Matrix(m) = out.value else { panic!() };
    assert_eq!(matrix(m), owned(&[("{}", &[(0, 1.0), (M, 2.0), (2 * M, 2.0)])]));
}

#[test]
fn window_bounds_follow_offset_and_at() {
    let q = Mem::new(vec![ser("x", &[], &every(-600, 600, 10, |_| 1.0))]);
    // The stand-in returns the window's exclusive start.
    assert_eq!(
        vector(instant(&q, "sum_over_time(x[1m] offset 30s)", 5 * M)),
        vec![("{}".into(), (3 * M + 30 * S) as f64)]
    );
    assert_eq!(vector(instant(&q, "sum_over_time(x[1m] @ -100)", 5 * M)), vec![("{}".into(), -160_000.0)]);
}

// --- result shapes and types ----------------------------------------------

#[test]
fn instant_results_keep_their_own_type() {
    let q = Mem::new(vec![ser("x", &[], &[(0, 1.0)])]);
    assert_eq!(instant(&q, "1 + 2", 7), Value::Scalar { t: 7, v: 3.0 });
    assert_eq!(instant(&q, "-(2)", 7), Value::Scalar { t: 7, v: -2.0 });
    assert_eq!(instant(&q, "\"hi\"", 7), Value::String { t: 7, s: "hi".into() });
    match instant(&q, "x", 7) {
        Value::Vector(v) => assert_eq!(v[0].t, 7),
        other => panic!("{other:?}"),
    }
    assert!(matches!(instant(&q, "x[1m]", 7), Value::Matrix(_)));
    assert!(matches!(instant(&q, "x[1m:10s]", 7), Value::Matrix(_)));
}

#[test]
fn range_query_results() {
    let q = Mem::new(vec![ser("x", &[], &[(0, 1.0)])]);
    let m = range(&q, "time()", 0, 2 * S, S);
    assert_eq!(matrix(m), owned(&[("{}", &[(0, 0.0), (S, 1.0), (2 * S, 2.0)])]));
    let m = range(&q, "2 * 3", 0, S, S);
    assert_eq!(matrix(m), owned(&[("{}", &[(0, 6.0), (S, 6.0)])]));

    let e = run(&engine(), &q, "x[5m]", 0, 10, 1).unwrap_err();
    assert_eq!(
        e,
        QueryError::BadData(
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into()
        )
    );
    let e = run(&engine(), &q, "\"s\"", 0, 10, 1).unwrap_err();
    assert!(e.message().contains("\"string\""), "{e}");
    assert!(matches!(run(&engine(), &q, "x", 10, 0, 1), Err(QueryError::BadData(_))));
    assert!(matches!(run(&engine(), &q, "x", 0, 10, 0), Err(QueryError::BadData(_))));
}

#[test]
fn instant_vector_order_is_the_functions_order() {
    let q = Mem::new(vec![
        ser("x", &[("i", "a")], &[(0, 3.0)]),
        ser("x", &[("i", "b")], &[(0, 1.0)]),
        ser("x", &[("i", "c")], &[(0, 2.0)]),
    ]);
    let v = vector(instant(&q, "sort(x)", 0));
    assert_eq!(v.iter().map(|r| r.1).collect::<Vec<_>>(), vec![1.0, 2.0, 3.0]);
    let v = vector(instant(&q, "topk(2, x)", 0));
    assert_eq!(v.iter().map(|r| r.1).collect::<Vec<_>>(), vec![3.0, 2.0]);
    // A range query sorts by labels and warns about sort.
    let out = run(&engine(), &q, "sort(x)", 0, M, M).unwrap();
    let Value::Matrix(m) = out.value else { panic!() };
    assert_eq!(m.iter().map(|s| s.points[0].v).collect::<Vec<_>>(), vec![3.0, 1.0, 2.0]);
    assert_eq!(
        out.annotations.rendered(AnnotationKind::Warning, "sort(x)"),
        vec!["PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:1)"]
    );
    // Not for an instant query, nor for a step-invariant sort.
    assert!(run(&engine(), &q, "sort(x)", 0, 0, 0).unwrap().annotations.is_empty());
    assert!(run(&engine(), &q, "sort(x @ 0)", 0, M, M).unwrap().annotations.is_empty());
}

// --- subqueries -----------------------------------------------------------

#[test]
fn subquery_steps_are_aligned_to_the_epoch() {
    let q = Mem::new(vec![ser("x", &[], &every(-600, 600, 5, |t| t as f64))]);
    let Value::Matrix(m) = instant(&q, "x[1m:20s]", 70 * S) else { panic!() };
    assert_eq!(matrix(m), owned(&[("x{}", &[(20 * S, 20.0), (40 * S, 40.0), (60 * S, 60.0)])]));
    // Before 1970.
    let Value::Matrix(m) = instant(&q, "x[1m:20s]", -50 * S) else { panic!() };
    assert_eq!(matrix(m), owned(&[("x{}", &[(-100 * S, -100.0), (-80 * S, -80.0), (-60 * S, -60.0)])]));
    // Exactly aligned end is included, exactly aligned start is not.
    let Value::Matrix(m) = instant(&q, "x[1m:20s]", 60 * S) else { panic!() };
    assert_eq!(matrix(m), owned(&[("x{}", &[(20 * S, 20.0), (40 * S, 40.0), (60 * S, 60.0)])]));
    // Offset and @ shift the window; the step stays aligned.
    let Value::Matrix(m) = instant(&q, "x[1m:20s] offset 25s", 95 * S) else { panic!() };
    assert_eq!(matrix(m), owned(&[("x{}", &[(20 * S, 20.0), (40 * S, 40.0), (60 * S, 60.0)])]));
    let Value::Matrix(m) = instant(&q, "x[40s:20s] @ -30", 500 * S) else { panic!() };
    assert_eq!(matrix(m), owned(&[("x{}", &[(-60 * S, -60.0), (-40 * S, -40.0)])]));
}

#[test]
fn subquery_default_step_comes_from_the_options() {
    let q = Mem::new(vec![ser("x", &[], &every(0, 600, 5, |t| t as f64))]);
    let Value::Matrix(m) = instant(&q, "x[3m:]", 200 * S) else { panic!() };
    assert_eq!(matrix(m)[0].1.iter().map(|p| p.0).collect::<Vec<_>>(), vec![60 * S, 120 * S, 180 * S]);
    let e = Engine::new(EngineOptions { default_subquery_step_ms: 30 * S, ..Default::default() });
    let expr = crate::promql::parse("x[1m:]").unwrap();
    let Value::Matrix(m) = e.range_with(ops(), &q, "x[1m:]", &expr, 200 * S, 200 * S, 0).unwrap().value else {
        panic!()
    };
    assert_eq!(matrix(m)[0].1.iter().map(|p| p.0).collect::<Vec<_>>(), vec![150 * S, 180 * S]);
}

#[test]
fn nested_subqueries_and_functions_over_subqueries() {
    let q = Mem::new(vec![ser("x", &[], &every(0, 3600, 10, |t| t as f64))]);
    // Inner: last value at each 30s step; outer: every minute over 3m.
    let Value::Matrix(m) = instant(&q, "last_over_time(x[1m:30s])[3m:1m]", 600 * S) else { panic!() };
    assert_eq!(matrix(m), owned(&[("x{}", &[(480 * S, 480.0), (540 * S, 540.0), (600 * S, 600.0)])]));
    // count_over_time over a subquery in a range query.
    let m = range(&q, "count_over_time(x[1m:20s])", 600 * S, 720 * S, 60 * S);
    assert_eq!(matrix(m), owned(&[("{}", &[(600 * S, 3.0), (660 * S, 3.0), (720 * S, 3.0)])]));
    // last_over_time keeps the name; the subquery's points are its own steps.
    let m = range(&q, "last_over_time(x[1m:25s])", 600 * S, 660 * S, 60 * S);
    assert_eq!(matrix(m), owned(&[("x{}", &[(600 * S, 600.0), (660 * S, 650.0)])]));
}

#[test]
fn each_selector_is_read_once_with_the_union_of_its_ranges() {
    let q = Mem::new(vec![ser("x", &[], &every(0, 3600, 10, |t| t as f64))]);
    range(&q, "x", 600 * S, 1200 * S, 60 * S);
    assert_eq!(q.reads(), vec![(300 * S + 1, 1200 * S)]);

    let q = Mem::new(vec![ser("x", &[], &every(0, 3600, 10, |t| t as f64))]);
    range(&q, "count_over_time(x[5m:1m] offset 1m)", 600 * S, 1200 * S, 60 * S);
    // Subquery steps from 300s (first aligned after 600-60-300) to 1140s,
    // each looking back 5m.
    assert_eq!(q.reads(), vec![(1, 1140 * S)]);

    let q = Mem::new(vec![ser("x", &[], &every(0, 3600, 10, |t| t as f64))]);
    range(&q, "x @ 100 + count_over_time(x[1m] offset 1m)", 600 * S, 1200 * S, 60 * S);
    assert_eq!(q.reads(), vec![(-200 * S + 1, 100 * S), (480 * S + 1, 1140 * S)]);
}

// --- names, duplicates, absent, timestamp ---------------------------------

#[test]
fn unary_minus_drops_the_name_at_the_end() {
    let q = Mem::new(vec![ser("x", &[("i", "1")], &[(0, 2.0)]), ser("y", &[("i", "2")], &[(0, 3.0)])]);
    assert_eq!(vector(instant(&q, "-x", 0)), vec![("{i=\"1\"}".into(), -2.0)]);
    assert_eq!(vector(instant(&q, "last_over_time(x[1m])", 0)), vec![("x{i=\"1\"}".into(), 2.0)]);
    assert_eq!(vector(instant(&q, "last_over_time((-x)[1m:1m])", 0)), vec![("{i=\"1\"}".into(), -2.0)]);
    assert_eq!(vector(instant(&q, "count_over_time(x[1m])", 0)), vec![("{i=\"1\"}".into(), 1.0)]);
}

#[test]
fn same_labelset_after_name_removal_is_an_error_or_a_merge() {
    let q = Mem::new(vec![
        ser("a", &[("i", "1")], &[(0, 1.0)]),
        ser("b", &[("i", "1")], &[(0, 2.0), (600, 2.0)]),
        ser("c", &[("i", "1")], &[(600, 3.0)]),
    ]);
    let e = run(&engine(), &q, "-{i=\"1\"}", 0, 0, 0).unwrap_err();
    assert_eq!(e, QueryError::Execution("vector cannot contain metrics with the same labelset".into()));
    // Non-overlapping series merge in a range query.
    let m = range(&q, "-{__name__=~\"a|c\"}", 0, 600 * S, 600 * S);
    assert_eq!(matrix(m), owned(&[("{i=\"1\"}", &[(0, -1.0), (600 * S, -3.0)])]));
    let e = run(&engine(), &q, "-{__name__=~\"a|b\"}", 0, 600 * S, 600 * S).unwrap_err();
    assert_eq!(e.message(), "vector cannot contain metrics with the same labelset");
}

#[test]
fn metadata_labels_go_with_the_name() {
    let l = labels(&[("__name__", "x"), ("__type__", "counter"), ("__unit__", "s"), ("a", "1")]);
    assert_eq!(drop_metadata_labels(l).to_string(), "{a=\"1\"}");
}

#[test]
fn absent_takes_labels_from_equality_matchers() {
    let q = Mem::new(vec![ser("x", &[("job", "a")], &[(0, 1.0)])]);
    assert_eq!(vector(instant(&q, "absent(x{job=\"a\"})", 0)), vec![]);
    assert_eq!(
        vector(instant(&q, "absent(nope{job=\"a\", i=~\"x\", k=\"1\", k=\"2\"})", 0)),
        vec![("{job=\"a\"}".into(), 1.0)]
    );
    assert_eq!(vector(instant(&q, "absent(sum(nope))", 0)), vec![("{}".into(), 1.0)]);
    let m = range(&q, "absent(x)", 0, 10 * M, 2 * M);
    assert_eq!(matrix(m), owned(&[("{}", &[(6 * M, 1.0), (8 * M, 1.0), (10 * M, 1.0)])]));
    let m = range(&q, "absent_over_time(x{job=\"a\"}[1m])", 0, 2 * M, M);
    assert_eq!(matrix(m), owned(&[("{job=\"a\"}", &[(M, 1.0), (2 * M, 1.0)])]));
    // A subquery: no labels; x is present at every subquery step here.
    let m = range(&q, "absent_over_time(x[1m:])", 0, 2 * M, M);
    assert!(m.is_empty());
    // x is gone 5m after its last sample.
    let m = range(&q, "absent_over_time(x[1m:] offset -4m)", 0, 2 * M, M);
    assert_eq!(matrix(m), owned(&[("{}", &[(M, 1.0), (2 * M, 1.0)])]));
}

#[test]
fn timestamp_of_a_selector_sees_sample_times() {
    let q = Mem::new(vec![ser("x", &[], &[(10, 1.0), (70, 1.0)])]);
    assert_eq!(vector(instant(&q, "timestamp(x)", 100 * S)), vec![("{}".into(), 70.0)]);
    assert_eq!(vector(instant(&q, "timestamp((x))", 100 * S)), vec![("{}".into(), 70.0)]);
    // Any other argument: the step time.
    assert_eq!(vector(instant(&q, "timestamp(-x)", 100 * S)), vec![("{}".into(), 100.0)]);
    let m = range(&q, "timestamp(x @ 50)", 0, 200 * S, 100 * S);
    assert_eq!(matrix(m), owned(&[("{}", &[(0, 10.0), (100 * S, 10.0), (200 * S, 10.0)])]));
}

#[test]
fn label_replace_relabels_whole_series_once() {
    let q = Mem::new(vec![
        ser("x", &[("i", "1")], &every(0, 600, 60, |_| 1.0)),
        ser("x", &[("i", "2")], &every(0, 600, 60, |_| 2.0)),
    ]);
    LABEL_REPLACE_CALLS.store(0, std::sync::atomic::Ordering::Relaxed);
    let m = range(&q, "label_replace(x, \"j\", \"v\", \"i\", \".*\")", 0, 600 * S, 60 * S);
    assert_eq!(LABEL_REPLACE_CALLS.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].labels.to_string(), "x{i=\"1\", j=\"v\"}");
    assert_eq!(m[0].points.len(), 11);
    let e = run(&engine(), &q, "label_replace(x, \"i\", \"v\", \"i\", \".*\")", 0, 600 * S, 60 * S).unwrap_err();
    assert_eq!(e.message(), "vector cannot contain metrics with the same labelset");
}

#[test]
fn info_adds_data_labels_of_matching_info_series() {
    let q = Mem::new(vec![
        ser("up", &[("instance", "a:1"), ("job", "j")], &[(0, 1.0)]),
        ser("up", &[("instance", "b:1"), ("job", "j")], &[(0, 1.0)]),
        ser("target_info", &[("instance", "a:1"), ("job", "j"), ("version", "1"), ("env", "p")], &[(0, 1.0)]),
        ser("build_info", &[("instance", "b:1"), ("job", "j"), ("rev", "x")], &[(0, 1.0)]),
    ]);
    assert_eq!(
        vector(instant(&q, "info(up)", 10 * S)),
        vec![
            ("up{env=\"p\", instance=\"a:1\", job=\"j\", version=\"1\"}".into(), 1.0),
            ("up{instance=\"b:1\", job=\"j\"}".into(), 1.0),
        ]
    );
    // Only the selected data labels; series without them are dropped.
    assert_eq!(
        vector(instant(&q, "info(up, {version=~\".+\"})", 10 * S)),
        vec![("up{instance=\"a:1\", job=\"j\", version=\"1\"}".into(), 1.0)]
    );
    assert_eq!(
        vector(instant(&q, "info(up, {__name__=\"build_info\"})", 10 * S)),
        vec![
            ("up{instance=\"a:1\", job=\"j\"}".into(), 1.0),
            ("up{instance=\"b:1\", job=\"j\", rev=\"x\"}".into(), 1.0),
        ]
    );
    // target_info itself is not enriched.
    assert_eq!(vector(instant(&q, "info(target_info)", 10 * S)).len(), 1);
}

// --- positions in annotations ----------------------------------------------

#[test]
fn annotations_carry_argument_and_parameter_positions() {
    let q = Mem::new(vec![ser("x", &[], &[(0, 1.0)])]);
    let query = "topk(3, x) + abs(\n  (x))";
    let out = run(&engine(), &q, query, 0, 0, 0).unwrap();
    assert_eq!(out.annotations.rendered(AnnotationKind::Warning, query), vec!["PromQL warning: k=3 (1:6)"]);
    assert_eq!(out.annotations.rendered(AnnotationKind::Info, query), vec!["PromQL info: abs argument (2:4)"]);
}

// --- limits and errors -----------------------------------------------------

#[test]
fn max_samples_counts_like_prometheus() {
    let series: Vec<_> = (0..10).map(|i| ser("x", &[("i", &i.to_string())], &every(0, 600, 60, |_| 1.0))).collect();
    let q = Mem::new(series);
    let with_max = |max| Engine::new(EngineOptions { max_samples: max, ..Default::default() });
    let too_many =
        QueryError::Execution("query processing would load too many samples into memory in query execution".into());
    let ex = |max, query: &str, start, end, step| {
        let expr = crate::promql::parse(query).unwrap();
        with_max(max).range_with(ops(), &q, query, &expr, start, end, step).map(|_| ())
    };
    assert_eq!(ex(10, "x", 0, 0, 0), Ok(()));
    assert_eq!(ex(9, "x", 0, 0, 0), Err(too_many.clone()));
    // 10 series × 11 steps.
    assert_eq!(ex(110, "x", 0, 600 * S, 60 * S), Ok(()));
    assert_eq!(ex(109, "x", 0, 600 * S, 60 * S), Err(too_many.clone()));
    // abs(x): the selector's 10, the 10 gathered and the 10 produced.
    assert_eq!(ex(30, "abs(x)", 0, 0, 0), Ok(()));
    assert_eq!(ex(29, "abs(x)", 0, 0, 0), Err(too_many.clone()));
    // An instant range selector result: 10 series × 2 samples.
    assert_eq!(ex(20, "x[2m]", 120 * S, 120 * S, 0), Ok(()));
    assert_eq!(ex(19, "x[2m]", 120 * S, 120 * S, 0), Err(too_many));
}

#[test]
fn timeout_stops_evaluation() {
    let q = Mem::new(vec![ser("x", &[], &[(0, 1.0)])]);
    let e = Engine::new(EngineOptions { timeout: Duration::ZERO, ..Default::default() });
    let expr = crate::promql::parse("x").unwrap();
    std::thread::sleep(Duration::from_millis(2));
    let err = e.range_with(ops(), &q, "x", &expr, 0, 0, 0).unwrap_err();
    assert_eq!(err, QueryError::Timeout("query timed out in expression evaluation".into()));
}

#[test]
fn unknown_functions_are_bad_data() {
    let q = Mem::new(vec![ser("x", &[], &[(0, 1.0)])]);
    let err = run(&engine(), &q, "ceil(x)", 0, 0, 0).unwrap_err();
    assert_eq!(err.error_type(), "bad_data");
}

#[test]
fn the_real_engine_answers_selectors_without_the_other_modules() {
    let q = Mem::new(vec![ser("x", &[], &[(0, 1.0)])]);
    let expr = crate::promql::parse("x offset 1s").unwrap();
    let out = engine().instant(&q, "x offset 1s", &expr, 1000).unwrap();
    assert_eq!(vector(out.value), vec![("x{}".into(), 1.0)]);
}

/// Brute-force value of an instant selector (5m lookback) at `t`.
fn reference_value(points: &[Point], t: i64) -> Option<f64> {
    let p = points.iter().rev().find(|p| p.t <= t)?;
    (p.t > t - 5 * M && !crate::promql::value::is_stale_marker(p.v)).then_some(p.v)
}

#[test]
fn blocked_evaluation_matches_a_reference_across_block_boundaries() {
    // 300 series (several blocks) with different gaps and stale markers.
    let raw: Vec<RawSeries> = (0..300)
        .map(|i: i64| {
            let pts: Vec<(i64, f64)> =
                every(0, 1800, 15 + (i % 7) * 15, |t| (i * 1000 + t) as f64 * if i % 2 == 0 { 1.0 } else { -1.0 })
                    .into_iter()
                    .filter(|(t, _)| (t / 60 + i) % 11 != 0)
                    .map(|(t, v)| if (t / 15 + i) % 37 == 0 { (t, stale()) } else { (t, v) })
                    .collect();
            ser("x", &[("i", &format!("{i:03}"))], &pts)
        })
        .collect();
    let q = Mem::new(raw.clone());
    let (start, end, step) = (300 * S, 1800 * S, 30 * S);
    let expect = |f: &dyn Fn(f64) -> f64| -> Vec<(String, Vec<(i64, f64)>)> {
        let mut rows: Vec<(String, Vec<(i64, f64)>)> = raw
            .iter()
            .map(|s| {
                let pts = (0..)
                    .map(|k| start + k * step)
                    .take_while(|t| *t <= end)
                    .filter_map(|t| reference_value(&s.points, t).map(|v| (t, f(v))))
                    .collect();
                let l: Vec<_> = s.labels.iter().filter(|l| l.name != METRIC_NAME).cloned().collect();
                (Labels::from_sorted(l).to_string(), pts)
            })
            .filter(|(_, p): &(String, Vec<_>)| !p.is_empty())
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    assert_eq!(matrix(range(&q, "abs(x)", start, end, step)), expect(&|v| v.abs()));
    assert_eq!(matrix(range(&q, "x * 2", start, end, step)), expect(&|v| v * 2.0));
    assert_eq!(matrix(range(&q, "3 - x", start, end, step)), expect(&|v| 3.0 - v));
    assert_eq!(matrix(range(&q, "x - x", start, end, step)), expect(&|_| 0.0));
    // Range-vector function over blocks: count of non-stale samples in (t-1m, t].
    let m = matrix(range(&q, "count_over_time(x[1m])", start, end, step));
    let mut want: Vec<(String, Vec<(i64, f64)>)> = raw
        .iter()
        .map(|s| {
            let pts = (0..)
                .map(|k| start + k * step)
                .take_while(|t| *t <= end)
                .filter_map(|t| {
                    let n = s
                        .points
                        .iter()
                        .filter(|p| p.t > t - M && p.t <= t && !crate::promql::value::is_stale_marker(p.v))
                        .count();
                    (n > 0).then_some((t, n as f64))
                })
                .collect();
            let l: Vec<_> = s.labels.iter().filter(|l| l.name != METRIC_NAME).cloned().collect();
            (Labels::from_sorted(l).to_string(), pts)
        })
        .filter(|(_, p): &(String, Vec<_>)| !p.is_empty())
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(m, want);
    // sum over steps gathered in blocks.
    let m = matrix(range(&q, "sum(x)", start, end, step));
    let sums: Vec<(i64, f64)> = (0..)
        .map(|k| start + k * step)
        .take_while(|t| *t <= end)
        .filter_map(|t| {
            let vals: Vec<f64> = raw.iter().filter_map(|s| reference_value(&s.points, t)).collect();
            (!vals.is_empty()).then(|| (t, vals.iter().sum()))
        })
        .collect();
    assert_eq!(m, vec![("{}".to_string(), sums)]);
}
