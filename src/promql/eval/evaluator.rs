//! The tree walk: every node is evaluated once for all steps of its grid.
//!
//! Values between nodes ([`Val`]): a scalar is one `f64` per step, an
//! instant vector is a list of series with points at step times, a range
//! vector is its raw series plus how to cut windows ([`RangeVal`]). Functions,
//! aggregations and binary operators are called per step with that step's
//! slice of their operands; their outputs are reassembled into series
//! ([`Assembler`]).
//!
//! Sample accounting follows Prometheus's evaluator: a node's output counts
//! while it is alive, a node's inputs count while it runs, and each step's
//! gathered inputs and outputs count while the step runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promql_parser::parser::token::{T_BOTTOMK, T_COUNT_VALUES, T_LIMITK, T_LIMIT_RATIO, T_QUANTILE, T_TOPK};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AggregateExpr, BinaryExpr, Call, Expr, VectorSelector};

use super::super::annotations::Annotations;
use super::super::error::QueryError;
use super::super::functions::{self, Arg, FnCtx, Window};
use super::super::storage::Queryable;
use super::super::value::{Label, Labels, Point, Sample, Series, METRIC_NAME};
use super::aggregate::{self, AggCtx, AggParam, GroupedAggregation};
use super::binary::{self, BinaryCtx, Operand};
use super::positions::{unwrap_parens, Positions};
use super::selector::{self, RangeVal, SelectorStore, Windows};
use super::steps::{
    cursors, gather, gather_steps, merge_same_labels, step_block, step_counts, Assembler, FxMap, Grid, PerInputSeries,
    DUPLICATE_LABELSET,
};
use super::subquery::{at_ms, duration_ms, offset_ms, subquery_grid, QueryTimes};

/// The error for exceeding `max_samples`.
pub const TOO_MANY_SAMPLES: &str = "query processing would load too many samples into memory in query execution";
/// The error for exceeding the timeout.
pub const TIMED_OUT: &str = "query timed out in expression evaluation";
/// Prometheus's warning for `sort` and friends in range queries.
pub const SORT_IN_RANGE_QUERY: &str =
    "sort is ineffective for range queries since results are always ordered by labels";

/// The value of a node over its grid.
#[derive(Debug)]
pub enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// A string literal.
    Str(String),
    /// Series with points at step times.
    Vector(Vec<Series>),
    /// A range vector.
    Range(RangeVal),
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Self::Scalar(_) => "scalar",
            Self::Str(_) => "string",
            Self::Vector(_) => "instant vector",
            Self::Range(_) => "range vector",
        }
    }
}

fn unexpected(what: &str, v: &Val) -> QueryError {
    QueryError::Internal(format!("unexpected {} as {what}", v.type_name()))
}

/// Functions whose value depends on the evaluation time even with constant
/// arguments (Prometheus's `AtModifierUnsafeFunctions`).
const AT_MODIFIER_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// Functions Prometheus folds into number literals before evaluating.
const QUERY_CONTEXT_FUNCTIONS: &[&str] = &["start", "end", "range", "step"];

/// `(is step invariant, would be wrapped)` exactly as Prometheus's
/// `preprocessExprHelper` decides: a step-invariant node that would be
/// wrapped is evaluated once at the first step and copied to the others.
pub fn invariance(e: &Expr) -> (bool, bool) {
    match e {
        Expr::VectorSelector(vs) => (vs.at.is_some(), vs.at.is_some()),
        Expr::MatrixSelector(ms) => (ms.vs.at.is_some(), false),
        Expr::Subquery(sq) => (sq.at.is_some(), false),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => (true, false),
        Expr::Paren(p) => invariance(&p.expr),
        Expr::Unary(u) => invariance(&u.expr),
        Expr::Aggregate(a) => invariance(unwrap_parens(&a.expr)),
        Expr::Binary(b) => {
            let (l, _) = invariance(&b.lhs);
            let (r, _) = invariance(&b.rhs);
            (l && r, l && r)
        }
        Expr::Call(c) => {
            let name = c.func.name;
            if QUERY_CONTEXT_FUNCTIONS.contains(&name) {
                return (true, false);
            }
            let mut inv = !AT_MODIFIER_UNSAFE.contains(&name);
            let mut timestamp_ok = name == "timestamp";
            for a in &c.args.args {
                let a = unwrap_parens(a);
                let (ai, _) = invariance(a);
                inv &= ai;
                if !ai || !matches!(a, Expr::VectorSelector(_)) {
                    timestamp_ok = false;
                }
            }
            let i = inv || timestamp_ok;
            (i, i)
        }
        Expr::Extension(_) => (false, false),
    }
}

/// Samples held and time spent, checked against the limits.
pub struct Limits {
    /// Samples currently held.
    pub samples: usize,
    max: usize,
    started: Instant,
    timeout: Duration,
    ticks: u32,
}

impl Limits {
    /// Limits starting now.
    pub fn new(max: usize, timeout: Duration, started: Instant) -> Self {
        Self { samples: 0, max, started, timeout, ticks: 0 }
    }

    /// Errors when holding `n` samples would exceed the limit.
    #[inline]
    pub fn check(&self, n: usize) -> Result<(), QueryError> {
        if n > self.max {
            Err(QueryError::execution(TOO_MANY_SAMPLES))
        } else {
            Ok(())
        }
    }

    /// Holds `n` more samples.
    #[inline]
    pub fn add(&mut self, n: usize) -> Result<(), QueryError> {
        self.samples = self.samples.saturating_add(n);
        self.check(self.samples)
    }

    /// Errors when the query ran out of time.
    pub fn check_time(&self) -> Result<(), QueryError> {
        if self.started.elapsed() > self.timeout {
            Err(QueryError::Timeout(TIMED_OUT.into()))
        } else {
            Ok(())
        }
    }

    /// Cheap periodic time check for inner loops.
    #[inline]
    pub fn tick(&mut self) -> Result<(), QueryError> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % 128 == 0 {
            self.check_time()
        } else {
            Ok(())
        }
    }
}

/// An aggregation at one step (see [`aggregate::aggregate`]), for the
/// operators that do not give one sample per group (`topk`, `bottomk`,
/// `limitk`, `limit_ratio`, `count_values`); the others are evaluated over
/// all steps at once by [`GroupedAggregation`].
pub type AggregateFn =
    fn(&AggregateExpr, AggParam<'_>, Vec<Sample>, &mut AggCtx<'_>) -> Result<Vec<Sample>, QueryError>;

/// A binary operator at one step (see [`binary::binary`]).
pub type BinaryFn = fn(&BinaryExpr, Operand, Operand, &mut BinaryCtx<'_>) -> Result<Operand, QueryError>;

/// The per-step operations the evaluator calls: PromQL's functions,
/// aggregations and binary operators. Tests substitute stand-ins.
#[derive(Clone, Copy)]
pub struct Ops {
    /// Function implementations by name.
    pub lookup: fn(&str) -> Option<functions::FnImpl>,
    /// Aggregation at one step (`topk`, `count_values`, …).
    pub aggregate: AggregateFn,
    /// Binary operator at one step.
    pub binary: BinaryFn,
}

impl Default for Ops {
    fn default() -> Self {
        Self { lookup: functions::lookup, aggregate: aggregate::aggregate, binary: binary::binary }
    }
}

/// Evaluation state of one query.
pub struct Evaluator<'a> {
    /// Functions and operators.
    pub ops: Ops,
    /// Where selectors read from (all at the start; `info` reads its info
    /// series while evaluating, as Prometheus does).
    pub queryable: &'a dyn Queryable,
    /// Lookback delta (ms).
    pub lookback: i64,
    /// Step of subqueries without one (ms).
    pub default_subquery_step: i64,
    /// Node positions.
    pub positions: &'a Positions,
    /// Selector data.
    pub store: SelectorStore,
    /// Query start and end.
    pub times: QueryTimes,
    /// Query step (0 for an instant query).
    pub query_step: i64,
    /// Limits.
    pub limits: Limits,
    /// Warnings and infos.
    pub annotations: Annotations,
}

/// Series per block when a node is evaluated a block of series at a time.
const SERIES_BLOCK: usize = 128;

/// Instant-vector functions whose output sample depends on one input
/// sample only, with the same labels: evaluated a block of series at a time.
const ELEMENT_WISE: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "sqrt",
    "ln",
    "log2",
    "log10",
    "round",
    "sgn",
    "clamp",
    "clamp_min",
    "clamp_max",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "cos",
    "cosh",
    "sin",
    "sinh",
    "tan",
    "tanh",
    "deg",
    "rad",
    "timestamp",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
];

/// The argument to split by series when a call's output series each depend
/// on one series of it: the one range vector of a range-vector function,
/// or the one instant vector of an element-wise function (all other
/// arguments being scalars or strings).
fn per_series_arg(name: &str, vals: &[Val]) -> Option<usize> {
    let mut main = None;
    for (i, v) in vals.iter().enumerate() {
        match v {
            Val::Scalar(_) | Val::Str(_) => {}
            Val::Range(_) | Val::Vector(_) if main.is_some() => return None,
            Val::Range(_) => main = Some(i),
            Val::Vector(_) if ELEMENT_WISE.contains(&name) => main = Some(i),
            Val::Vector(_) => return None,
        }
    }
    main
}

/// A function and where its call sits in the query.
struct CallSite {
    f: functions::FnImpl,
    arg_positions: Vec<Option<usize>>,
    position: Option<usize>,
}

/// One argument of a call while stepping.
enum ArgState<'v> {
    Scalar(&'v [f64]),
    Str(&'v str),
    Vector { series: &'v [Series], cursors: Vec<usize>, buf: Vec<Sample> },
    Range { r: &'v RangeVal, windows: Windows, buf: Vec<Window<'v>>, bounds: (i64, i64) },
}

impl<'a> Evaluator<'a> {
    fn collapses(e: &Expr) -> bool {
        invariance(e).1
    }

    // ---------------------------------------------------------------------
    // Planning: which samples each selector needs.

    /// Records the time range every selector under `e` needs when `e` is
    /// evaluated over `g`, and collects the selectors in `out`.
    pub fn plan<'e>(&mut self, e: &'e Expr, g: &Grid, out: &mut Vec<&'e VectorSelector>) {
        if g.is_empty() {
            return;
        }
        let g = if g.len() > 1 && Self::collapses(e) { g.first_only() } else { *g };
        match e {
            Expr::VectorSelector(vs) => {
                let (first, last) = self.ref_times(vs, &g);
                let (mint, maxt) = selector::instant_range(first, last, self.lookback);
                self.store.need(vs, mint, maxt);
                out.push(vs);
            }
            Expr::MatrixSelector(ms) => {
                let (first, last) = self.ref_times(&ms.vs, &g);
                let (mint, maxt) = selector::matrix_range(first, last, duration_ms(&ms.range));
                self.store.need(&ms.vs, mint, maxt);
                out.push(&ms.vs);
            }
            Expr::Subquery(sq) => {
                let (sg, _, _) = subquery_grid(&g, sq, self.times, self.default_subquery_step);
                self.plan(&sq.expr, &sg, out);
            }
            Expr::Call(c) => {
                // info's second argument is a label selector, not data.
                let n = if c.func.name == "info" { 1 } else { c.args.args.len() };
                for a in c.args.args.iter().take(n) {
                    self.plan(unwrap_parens(a), &g, out);
                }
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.plan(unwrap_parens(p), &g, out);
                }
                self.plan(unwrap_parens(&a.expr), &g, out);
            }
            Expr::Binary(b) => {
                self.plan(&b.lhs, &g, out);
                self.plan(&b.rhs, &g, out);
            }
            Expr::Paren(p) => self.plan(&p.expr, &g, out),
            Expr::Unary(u) => self.plan(&u.expr, &g, out),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }

    /// First and last reference times (evaluation time minus offset) of a
    /// selector over `g`.
    fn ref_times(&self, vs: &VectorSelector, g: &Grid) -> (i64, i64) {
        let off = offset_ms(&vs.offset);
        match at_ms(&vs.at, self.times) {
            Some(t) => (t.saturating_sub(off), t.saturating_sub(off)),
            None => (g.start.saturating_sub(off), g.last().saturating_sub(off)),
        }
    }

    // ---------------------------------------------------------------------
    // Evaluation.

    /// Evaluates `e` over `g`.
    pub fn eval(&mut self, e: &Expr, g: &Grid) -> Result<Val, QueryError> {
        self.limits.check_time()?;
        if g.len() > 1 && Self::collapses(e) {
            let v = self.eval_node(e, &g.first_only())?;
            return self.broadcast(v, g);
        }
        self.eval_node(e, g)
    }

    /// Copies the single-step value of a step-invariant node to every step.
    fn broadcast(&mut self, v: Val, g: &Grid) -> Result<Val, QueryError> {
        let n = g.len();
        Ok(match v {
            Val::Scalar(s) => {
                let x = s.first().copied().unwrap_or(f64::NAN);
                self.limits.add(n.saturating_sub(s.len()))?;
                Val::Scalar(vec![x; n])
            }
            Val::Vector(series) => {
                let mut out = Vec::with_capacity(series.len());
                for s in series {
                    let Some(p) = s.points.first().copied() else { continue };
                    self.limits.add(n - 1)?;
                    self.limits.tick()?;
                    let points = g.times().map(|t| Point { t, v: p.v }).collect();
                    out.push(Series { labels: s.labels, points, drop_name: s.drop_name });
                }
                Val::Vector(out)
            }
            other => other,
        })
    }

    fn eval_node(&mut self, e: &Expr, g: &Grid) -> Result<Val, QueryError> {
        match e {
            Expr::NumberLiteral(n) => {
                self.limits.add(g.len())?;
                Ok(Val::Scalar(vec![n.val; g.len()]))
            }
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, g),
            Expr::Unary(u) => match self.eval(&u.expr, g)? {
                Val::Scalar(mut v) => {
                    v.iter_mut().for_each(|x| *x = -*x);
                    Ok(Val::Scalar(v))
                }
                Val::Vector(mut series) => {
                    for s in &mut series {
                        s.drop_name = true;
                        s.points.iter_mut().for_each(|p| p.v = -p.v);
                    }
                    Ok(Val::Vector(series))
                }
                other => Err(unexpected("operand of unary minus", &other)),
            },
            Expr::VectorSelector(vs) => {
                let raw = self.store.take(vs);
                let off = offset_ms(&vs.offset);
                let at = at_ms(&vs.at, self.times);
                let limits = &mut self.limits;
                let series = selector::instant_vector(raw, g, off, at, self.lookback, None, |n| {
                    limits.tick()?;
                    limits.add(n)
                })?;
                Ok(Val::Vector(series))
            }
            Expr::MatrixSelector(ms) => {
                let raw = self.store.take(&ms.vs);
                Ok(Val::Range(RangeVal {
                    series: selector::range_series(raw),
                    range: duration_ms(&ms.range),
                    offset: offset_ms(&ms.vs.offset),
                    at: at_ms(&ms.vs.at, self.times),
                    drops: Vec::new(),
                }))
            }
            Expr::Subquery(sq) => {
                let (sg, offset, at) = subquery_grid(g, sq, self.times, self.default_subquery_step);
                let series = match self.eval(&sq.expr, &sg)? {
                    Val::Vector(s) => s,
                    other => return Err(unexpected("subquery expression", &other)),
                };
                Ok(Val::Range(RangeVal { series, range: duration_ms(&sq.range), offset, at, drops: Vec::new() }))
            }
            Expr::Call(c) => self.eval_call(e, c, g),
            Expr::Aggregate(a) => self.eval_aggregate(e, a, g),
            Expr::Binary(b) => self.eval_binary(e, b, g),
            Expr::Extension(_) => Err(QueryError::BadData("extension expressions are not supported".into())),
        }
    }

    // ---------------------------------------------------------------------
    // Calls.

    fn eval_call(&mut self, e: &Expr, c: &Call, g: &Grid) -> Result<Val, QueryError> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|a| unwrap_parens(a)).collect();
        match (name, args.first()) {
            ("absent", Some(a)) => return self.eval_absent(a, g),
            ("absent_over_time", Some(a)) => return self.eval_absent_over_time(a, g),
            ("timestamp", Some(Expr::VectorSelector(vs))) => return self.eval_timestamp_of_selector(e, c, vs, g),
            ("info", Some(_)) => return self.eval_info(&args, g),
            _ => {}
        }
        let f = (self.ops.lookup)(name)
            .ok_or_else(|| QueryError::BadData(format!("unknown function with name {name:?}")))?;
        let original = self.limits.samples;
        let mut vals = Vec::with_capacity(args.len());
        for a in &args {
            vals.push(self.eval(a, g)?);
        }
        if functions::uses_drops(name) {
            for v in &mut vals {
                if let Val::Range(r) = v {
                    r.index_drops();
                }
            }
        }
        if matches!(name, "label_replace" | "label_join") {
            if let Some(series) = self.relabel_series(e, f, &args, &vals, g)? {
                self.limits.samples = original + series.iter().map(|s| s.points.len()).sum::<usize>();
                return Ok(Val::Vector(series));
            }
        }
        if g.len() > 1 && matches!(name, "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc") {
            self.annotations.warn(SORT_IN_RANGE_QUERY, self.positions.own(e));
        }
        let call = CallSite {
            f,
            arg_positions: args.iter().map(|a| self.positions.outer(a)).collect(),
            position: self.positions.own(e),
        };
        if c.func.return_type != ValueType::Scalar {
            if let Some(main) = per_series_arg(name, &vals) {
                return self.call_per_series(&call, &vals, main, g, original);
            }
        }
        self.call_per_step(&call, name, c.func.return_type == ValueType::Scalar, &vals, g, original)
    }

    fn fn_ctx<'c>(&'c mut self, call: &'c CallSite, ts: i64) -> FnCtx<'c> {
        FnCtx {
            ts,
            query_start: self.times.start,
            query_end: self.times.end,
            query_step: self.query_step,
            arg_positions: &call.arg_positions,
            position: call.position,
            annotations: &mut self.annotations,
        }
    }

    /// Calls a function whose output series each depend on one input series
    /// only (range-vector functions, element-wise functions), a block of
    /// series at a time over all steps: the block's data stays in cache.
    /// Range-vector functions keep one output series per input series, as
    /// Prometheus does ([`PerInputSeries`]); element-wise ones are checked
    /// for duplicates like any instant-vector function.
    fn call_per_series(
        &mut self,
        call: &CallSite,
        vals: &[Val],
        main: usize,
        g: &Grid,
        original: usize,
    ) -> Result<Val, QueryError> {
        let n = g.len();
        let base = self.limits.samples;
        let (series, range) = match &vals[main] {
            Val::Vector(s) => (s.as_slice(), None),
            Val::Range(r) => (r.series.as_slice(), Some(r)),
            other => return Err(unexpected("function argument", other)),
        };
        let mut produced = 0usize;
        let mut per_step = vec![0usize; if range.is_none() { n } else { 0 }];
        let mut result = Vec::with_capacity(series.len());
        let mut vbuf: Vec<Sample> = Vec::with_capacity(SERIES_BLOCK);
        let mut wbuf: Vec<Window<'_>> = Vec::with_capacity(SERIES_BLOCK);
        for (index, block) in series.chunks(SERIES_BLOCK).enumerate() {
            let first_series = index * SERIES_BLOCK;
            let drops = range.and_then(|r| r.drops.get(first_series..first_series + block.len())).unwrap_or(&[]);
            let mut asm = Assembler::with_steps(false, if range.is_none() { block.len() } else { 0 }, n);
            let mut per_input = PerInputSeries::new(if range.is_some() { block.len() } else { 0 }, n);
            let mut cur = vec![0usize; block.len()];
            let mut windows = Windows::new(if range.is_some() { block.len() } else { 0 });
            // `step` indexes the step grid; `per_step` is empty for range functions.
            #[allow(clippy::needless_range_loop)]
            for step in 0..n {
                self.limits.tick()?;
                let ts = g.ts(step);
                let mut bounds = (0, 0);
                if let Some(r) = range {
                    bounds = r.bounds(ts);
                    let largest = windows.at(block, drops, bounds.0, bounds.1, &mut wbuf);
                    if wbuf.is_empty() {
                        continue;
                    }
                    self.limits.check(base + produced + largest)?;
                } else {
                    vbuf.clear();
                    if gather(block, &mut cur, ts, &mut vbuf) == 0 {
                        continue;
                    }
                }
                let fargs: Vec<Arg<'_>> = vals
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        _ if i == main && range.is_some() => {
                            Arg::Matrix { windows: &wbuf, start: bounds.0, end: bounds.1 }
                        }
                        _ if i == main => Arg::Vector(&vbuf),
                        Val::Scalar(s) => Arg::Scalar(s.get(step).copied().unwrap_or(f64::NAN)),
                        Val::Str(s) => Arg::String(s),
                        Val::Vector(_) | Val::Range(_) => Arg::Vector(&[]),
                    })
                    .collect();
                let mut ctx = self.fn_ctx(call, ts);
                let out = (call.f)(&mut ctx, &fargs)?;
                drop(fargs);
                produced += out.len();
                if range.is_some() {
                    per_input.push_step(block, step, ts, out)?;
                } else {
                    per_step[step] += out.len();
                    asm.push_step(step, ts, out)?;
                }
            }
            result.extend(asm.finish());
            result.extend(per_input.finish());
        }
        if range.is_none() {
            // What Prometheus's step-by-step evaluation would have held.
            let gathered = step_counts(series, g);
            let mut done = 0;
            for (out, gathered) in per_step.iter().zip(gathered) {
                done += out;
                self.limits.check(base + done + gathered)?;
            }
            if n > 1 {
                result = merge_same_labels(result)?;
            }
        }
        self.limits.samples = original + produced;
        Ok(Val::Vector(result))
    }

    /// Calls a function once per step with all of that step's arguments.
    fn call_per_step(
        &mut self,
        call: &CallSite,
        name: &str,
        scalar_result: bool,
        vals: &[Val],
        g: &Grid,
        original: usize,
    ) -> Result<Val, QueryError> {
        let has_range = vals.iter().any(|v| matches!(v, Val::Range(_)));
        // Label-changing functions must not produce one label set twice in a
        // step (Prometheus merges their series and fails on overlap); other
        // functions are checked like Prometheus's rangeEval does.
        let check_dups = matches!(name, "label_replace" | "label_join") || (!has_range && g.len() > 1);
        let mut states: Vec<ArgState<'_>> = vals
            .iter()
            .map(|v| match v {
                Val::Scalar(s) => ArgState::Scalar(s),
                Val::Str(s) => ArgState::Str(s),
                Val::Vector(series) => {
                    ArgState::Vector { series, cursors: cursors(series), buf: Vec::with_capacity(series.len()) }
                }
                Val::Range(r) => ArgState::Range {
                    r,
                    windows: Windows::new(r.series.len()),
                    buf: Vec::with_capacity(r.series.len()),
                    bounds: (0, 0),
                },
            })
            .collect();

        let n = g.len();
        let mut scalars = Vec::with_capacity(if scalar_result { n } else { 0 });
        let mut asm = Assembler::with_steps(check_dups, vals.iter().map(val_width).max().unwrap_or(1), n);
        let mut temp = self.limits.samples;
        for step in 0..n {
            self.limits.check_time()?;
            let ts = g.ts(step);
            let mut gathered = 0usize;
            let mut largest_window = 0usize;
            for st in &mut states {
                match st {
                    ArgState::Vector { series, cursors, buf } => {
                        buf.clear();
                        gathered += gather(series, cursors, ts, buf);
                    }
                    ArgState::Range { r, windows, buf, bounds } => {
                        *bounds = r.bounds(ts);
                        largest_window = largest_window.max(windows.at(&r.series, &r.drops, bounds.0, bounds.1, buf));
                    }
                    ArgState::Scalar(_) | ArgState::Str(_) => {}
                }
            }
            self.limits.check(temp + gathered + largest_window)?;
            let fargs: Vec<Arg<'_>> = states
                .iter()
                .map(|st| match st {
                    ArgState::Scalar(s) => Arg::Scalar(s.get(step).copied().unwrap_or(f64::NAN)),
                    ArgState::Str(s) => Arg::String(s),
                    ArgState::Vector { buf, .. } => Arg::Vector(buf),
                    ArgState::Range { buf, bounds, .. } => Arg::Matrix { windows: buf, start: bounds.0, end: bounds.1 },
                })
                .collect();
            let mut ctx = self.fn_ctx(call, ts);
            let out = (call.f)(&mut ctx, &fargs)?;
            drop(fargs);
            self.limits.check(temp + gathered + largest_window + out.len())?;
            temp += out.len();
            if scalar_result {
                scalars.push(out.first().map_or(f64::NAN, |s| s.v));
            } else {
                asm.push_step(step, ts, out)?;
            }
        }
        drop(states);
        let total = if scalar_result { scalars.len() } else { asm.total() };
        self.limits.samples = original + total;
        if scalar_result {
            Ok(Val::Scalar(scalars))
        } else {
            Ok(Val::Vector(asm.finish()))
        }
    }

    /// `label_replace` and `label_join` only change labels: call them once
    /// with one sample per series (value = the series' index, which the
    /// function passes through) and relabel whole series, instead of once per
    /// step. `None` when the output cannot be mapped back to the input or
    /// two series get one label set (then the caller evaluates step by
    /// step).
    fn relabel_series(
        &mut self,
        e: &Expr,
        f: functions::FnImpl,
        args: &[&Expr],
        vals: &[Val],
        g: &Grid,
    ) -> Result<Option<Vec<Series>>, QueryError> {
        let Some(Val::Vector(series)) = vals.first() else { return Ok(None) };
        let mut strs = Vec::with_capacity(vals.len() - 1);
        for v in &vals[1..] {
            match v {
                Val::Str(s) => strs.push(Arg::String(s)),
                _ => return Ok(None),
            }
        }
        let input: Vec<Sample> = series
            .iter()
            .enumerate()
            .map(|(i, s)| Sample { labels: s.labels.clone(), t: g.start, v: i as f64, drop_name: s.drop_name })
            .collect();
        let mut fargs = Vec::with_capacity(vals.len());
        fargs.push(Arg::Vector(&input));
        fargs.extend(strs);
        let arg_positions: Vec<Option<usize>> = args.iter().map(|a| self.positions.outer(a)).collect();
        let mut ctx = FnCtx {
            ts: g.start,
            query_start: self.times.start,
            query_end: self.times.end,
            query_step: self.query_step,
            arg_positions: &arg_positions,
            position: self.positions.own(e),
            annotations: &mut self.annotations,
        };
        // The function refuses two inputs that end up with one label set;
        // across all series that may be a clash only in time, which the
        // per-step path decides exactly.
        let out = match f(&mut ctx, &fargs) {
            Err(e) if e.message() == DUPLICATE_LABELSET => return Ok(None),
            other => other?,
        };
        drop(fargs);
        if out.len() != series.len() {
            return Ok(None);
        }
        let mut mapped: Vec<Option<(Arc<Labels>, bool)>> = vec![None; series.len()];
        for s in out {
            let i = s.v as usize;
            if s.v != i as f64 || i >= mapped.len() || mapped[i].is_some() {
                return Ok(None);
            }
            mapped[i] = Some((s.labels, s.drop_name));
        }
        let mut result: Vec<Series> = Vec::with_capacity(series.len());
        let mut index: FxMap<Arc<Labels>, usize> = FxMap::default();
        let mut merged = false;
        for (s, m) in series.iter().zip(mapped) {
            let (labels, drop_name) = m.expect("every index mapped");
            if let Some(&j) = index.get(&*labels) {
                result[j].points.extend_from_slice(&s.points);
                merged = true;
                continue;
            }
            index.insert(labels.clone(), result.len());
            result.push(Series { labels, points: s.points.clone(), drop_name });
        }
        if merged {
            for s in &mut result {
                s.points.sort_by_key(|p| p.t);
                if s.points.windows(2).any(|w| w[0].t == w[1].t) {
                    return Err(QueryError::execution(DUPLICATE_LABELSET));
                }
            }
        }
        Ok(Some(result))
    }

    fn eval_absent(&mut self, arg: &Expr, g: &Grid) -> Result<Val, QueryError> {
        let original = self.limits.samples;
        let series = match self.eval(arg, g)? {
            Val::Vector(s) => s,
            other => return Err(unexpected("argument of absent", &other)),
        };
        let mut present = vec![false; g.len()];
        for s in &series {
            for p in &s.points {
                present[((p.t - g.start) / g.interval) as usize] = true;
            }
        }
        Ok(self.absent_result(absent_labels(arg), &present, g, original))
    }

    fn eval_absent_over_time(&mut self, arg: &Expr, g: &Grid) -> Result<Val, QueryError> {
        let original = self.limits.samples;
        let r = match self.eval(arg, g)? {
            Val::Range(r) => r,
            other => return Err(unexpected("argument of absent_over_time", &other)),
        };
        let mut windows = Windows::new(r.series.len());
        let mut buf = Vec::new();
        let mut present = Vec::with_capacity(g.len());
        for ts in g.times() {
            self.limits.check_time()?;
            let (start, end) = r.bounds(ts);
            windows.at(&r.series, &r.drops, start, end, &mut buf);
            present.push(!buf.is_empty());
        }
        Ok(self.absent_result(absent_labels(arg), &present, g, original))
    }

    fn absent_result(&mut self, labels: Labels, present: &[bool], g: &Grid, original: usize) -> Val {
        let points: Vec<Point> =
            present.iter().enumerate().filter(|(_, p)| !**p).map(|(i, _)| Point { t: g.ts(i), v: 1.0 }).collect();
        self.limits.samples = original + points.len();
        if points.is_empty() {
            return Val::Vector(Vec::new());
        }
        Val::Vector(vec![Series { labels: Arc::new(labels), points, drop_name: false }])
    }

    /// `timestamp(selector)`: the function sees the samples with their own
    /// timestamps, not the step time.
    fn eval_timestamp_of_selector(
        &mut self,
        e: &Expr,
        c: &Call,
        vs: &VectorSelector,
        g: &Grid,
    ) -> Result<Val, QueryError> {
        let f = (self.ops.lookup)(c.func.name)
            .ok_or_else(|| QueryError::BadData(format!("unknown function with name {:?}", c.func.name)))?;
        let original = self.limits.samples;
        let raw = self.store.take(vs);
        let off = offset_ms(&vs.offset);
        let at = at_ms(&vs.at, self.times);
        let mut sample_times = Vec::new();
        let limits = &mut self.limits;
        // Prometheus reads these samples step by step inside the call (they
        // count per step below), it does not hold the selector's result.
        let series =
            selector::instant_vector(raw, g, off, at, self.lookback, Some(&mut sample_times), |_| limits.tick())?;
        let call = CallSite {
            f,
            arg_positions: vec![self.positions.outer(unwrap_parens(&c.args.args[0]))],
            position: self.positions.own(e),
        };
        // Element-wise: a block of series at a time, like call_per_series.
        let n = g.len();
        let base = self.limits.samples;
        let mut per_step = vec![0usize; n];
        let mut produced = 0usize;
        let mut result = Vec::with_capacity(series.len());
        let mut buf = Vec::with_capacity(SERIES_BLOCK);
        for (block, times) in series.chunks(SERIES_BLOCK).zip(sample_times.chunks(SERIES_BLOCK)) {
            let mut asm = Assembler::with_steps(false, block.len(), n);
            let mut cur = vec![0usize; block.len()];
            for (step, count) in per_step.iter_mut().enumerate() {
                self.limits.tick()?;
                let ts = g.ts(step);
                buf.clear();
                for (i, s) in block.iter().enumerate() {
                    if let Some(p) = s.points.get(cur[i]) {
                        if p.t == ts {
                            let t = times[i][cur[i]];
                            buf.push(Sample { labels: s.labels.clone(), t, v: p.v, drop_name: false });
                            cur[i] += 1;
                        }
                    }
                }
                if buf.is_empty() {
                    continue;
                }
                let mut ctx = self.fn_ctx(&call, ts);
                let out = (call.f)(&mut ctx, &[Arg::Vector(&buf)])?;
                produced += out.len();
                *count += out.len();
                asm.push_step(step, ts, out)?;
            }
            result.extend(asm.finish());
        }
        // Prometheus counts each sample as it reads it, then the output.
        let gathered = step_counts(&series, g);
        let mut done = 0;
        for (out, gathered) in per_step.iter().zip(gathered) {
            done += out;
            self.limits.check(base + done + gathered)?;
        }
        if n > 1 {
            result = merge_same_labels(result)?;
        }
        self.limits.samples = original + produced;
        Ok(Val::Vector(result))
    }

    // ---------------------------------------------------------------------
    // Aggregations and binary operators.

    fn eval_aggregate(&mut self, e: &Expr, a: &AggregateExpr, g: &Grid) -> Result<Val, QueryError> {
        let original = self.limits.samples;
        let op = a.op.id();
        let param = match &a.param {
            Some(p) => Some(self.eval(unwrap_parens(p), g)?),
            None => None,
        };
        let series = match self.eval(unwrap_parens(&a.expr), g)? {
            Val::Vector(s) => s,
            other => return Err(unexpected("aggregation input", &other)),
        };
        let position = self.positions.own(e);
        let param_position = a.param.as_deref().and_then(|p| self.positions.arg(p));
        let takes_scalar = matches!(op, T_TOPK | T_BOTTOMK | T_QUANTILE | T_LIMITK | T_LIMIT_RATIO);
        let n = g.len();
        let mut cur = cursors(&series);
        if let Some(grouped) = GroupedAggregation::new(a, series.iter().map(|s| &s.labels)) {
            let mut asm = Assembler::with_steps(false, grouped.grouping().len(), n);
            let k = grouped.block(step_block(series.len(), n));
            let mut ops = Vec::with_capacity(k);
            let mut first = 0;
            while first < n {
                self.limits.check_time()?;
                let k = k.min(n - first);
                ops.clear();
                for step in first..first + k {
                    let p = agg_param(param.as_ref(), step, takes_scalar)?;
                    let mut ctx =
                        AggCtx { ts: g.ts(step), position, param_position, annotations: &mut self.annotations };
                    ops.push(grouped.op_at(a, p, &mut ctx)?);
                }
                for (i, (out, inputs)) in grouped.steps(&series, &mut cur, g, first, &ops).into_iter().enumerate() {
                    self.limits.check(self.limits.samples + inputs)?;
                    asm.push_step(first + i, g.ts(first + i), out)?;
                }
                first += k;
            }
            self.limits.samples = original + asm.total();
            return Ok(Val::Vector(asm.finish()));
        }
        let mut asm = Assembler::with_steps(op == T_COUNT_VALUES && n > 1, series.len().min(1024), n);
        let k = step_block(series.len(), n);
        let mut inputs: Vec<Vec<Sample>> = Vec::with_capacity(k);
        let mut first = 0;
        while first < n {
            self.limits.check_time()?;
            let k = k.min(n - first);
            inputs.clear();
            inputs.resize_with(k, || Vec::with_capacity(series.len()));
            gather_steps(&series, &mut cur, g, first, &mut inputs);
            for (i, input) in inputs.drain(..).enumerate() {
                let step = first + i;
                let ts = g.ts(step);
                self.limits.check(self.limits.samples + input.len())?;
                let p = agg_param(param.as_ref(), step, takes_scalar)?;
                let mut ctx = AggCtx { ts, position, param_position, annotations: &mut self.annotations };
                let out = (self.ops.aggregate)(a, p, input, &mut ctx)?;
                asm.push_step(step, ts, out)?;
            }
            first += k;
        }
        self.limits.samples = original + asm.total();
        Ok(Val::Vector(asm.finish()))
    }

    fn eval_binary(&mut self, e: &Expr, b: &BinaryExpr, g: &Grid) -> Result<Val, QueryError> {
        let original = self.limits.samples;
        let lhs = self.eval(&b.lhs, g)?;
        let rhs = self.eval(&b.rhs, g)?;
        let position = self.positions.own(e);
        match (&lhs, &rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let mut out = Vec::with_capacity(g.len());
                for step in 0..g.len() {
                    let ts = g.ts(step);
                    let (l, r) = (l.get(step).copied().unwrap_or(f64::NAN), r.get(step).copied().unwrap_or(f64::NAN));
                    let mut ctx = BinaryCtx { ts, position, annotations: &mut self.annotations };
                    out.push(match (self.ops.binary)(b, Operand::Scalar(l), Operand::Scalar(r), &mut ctx)? {
                        Operand::Scalar(v) => v,
                        Operand::Vector(v) => v.first().map_or(f64::NAN, |s| s.v),
                    });
                }
                self.limits.samples = original + out.len();
                Ok(Val::Scalar(out))
            }
            (Val::Vector(v), Val::Scalar(s)) => self.binary_vector_scalar(b, position, v, s, false, g, original),
            (Val::Scalar(s), Val::Vector(v)) => self.binary_vector_scalar(b, position, v, s, true, g, original),
            (Val::Vector(l), Val::Vector(r)) => self.binary_vectors(b, position, l, r, g, original),
            (l, r) => {
                Err(unexpected("binary operand", if matches!(l, Val::Vector(_) | Val::Scalar(_)) { r } else { l }))
            }
        }
    }

    /// A vector and a scalar: each output sample depends on one input
    /// series, so series are processed a block at a time over all steps.
    #[allow(clippy::too_many_arguments)]
    fn binary_vector_scalar(
        &mut self,
        b: &BinaryExpr,
        position: Option<usize>,
        series: &[Series],
        scalar: &[f64],
        scalar_left: bool,
        g: &Grid,
        original: usize,
    ) -> Result<Val, QueryError> {
        let n = g.len();
        let base = self.limits.samples;
        let mut per_step = vec![0usize; n];
        let mut produced = 0usize;
        let mut result = Vec::with_capacity(series.len());
        for block in series.chunks(SERIES_BLOCK) {
            let mut asm = Assembler::with_steps(false, block.len(), n);
            let mut cur = vec![0usize; block.len()];
            for (step, count) in per_step.iter_mut().enumerate() {
                self.limits.tick()?;
                let ts = g.ts(step);
                let mut vec = Vec::with_capacity(block.len());
                if gather(block, &mut cur, ts, &mut vec) == 0 {
                    continue;
                }
                let x = Operand::Scalar(scalar.get(step).copied().unwrap_or(f64::NAN));
                let (l, r) = if scalar_left { (x, Operand::Vector(vec)) } else { (Operand::Vector(vec), x) };
                let mut ctx = BinaryCtx { ts, position, annotations: &mut self.annotations };
                let out = match (self.ops.binary)(b, l, r, &mut ctx)? {
                    Operand::Vector(out) => out,
                    Operand::Scalar(_) => {
                        return Err(QueryError::Internal(
                            "binary operator returned a scalar for a vector operand".into(),
                        ))
                    }
                };
                produced += out.len();
                *count += out.len();
                asm.push_step(step, ts, out)?;
            }
            result.extend(asm.finish());
        }
        let gathered = step_counts(series, g);
        let mut done = 0;
        for (out, gathered) in per_step.iter().zip(gathered) {
            done += out;
            self.limits.check(base + done + gathered)?;
        }
        if n > 1 {
            result = merge_same_labels(result)?;
        }
        self.limits.samples = original + produced;
        Ok(Val::Vector(result))
    }

    /// Two vectors: every step needs both sides whole.
    fn binary_vectors(
        &mut self,
        b: &BinaryExpr,
        position: Option<usize>,
        lhs: &[Series],
        rhs: &[Series],
        g: &Grid,
        original: usize,
    ) -> Result<Val, QueryError> {
        let n = g.len();
        let (mut lcur, mut rcur) = (cursors(lhs), cursors(rhs));
        let mut asm = Assembler::with_steps(n > 1, lhs.len().max(rhs.len()), n);
        let mut temp = self.limits.samples;
        let k = step_block(lhs.len() + rhs.len(), n);
        let (mut ls, mut rs): (Vec<Vec<Sample>>, Vec<Vec<Sample>>) = (Vec::new(), Vec::new());
        let mut first = 0;
        while first < n {
            self.limits.check_time()?;
            let k = k.min(n - first);
            ls.clear();
            ls.resize_with(k, || Vec::with_capacity(lhs.len()));
            rs.clear();
            rs.resize_with(k, || Vec::with_capacity(rhs.len()));
            gather_steps(lhs, &mut lcur, g, first, &mut ls);
            gather_steps(rhs, &mut rcur, g, first, &mut rs);
            for (i, (l, r)) in ls.drain(..).zip(rs.drain(..)).enumerate() {
                let step = first + i;
                let ts = g.ts(step);
                let gathered = l.len() + r.len();
                self.limits.check(temp + gathered)?;
                let mut ctx = BinaryCtx { ts, position, annotations: &mut self.annotations };
                let out = match (self.ops.binary)(b, Operand::Vector(l), Operand::Vector(r), &mut ctx)? {
                    Operand::Vector(out) => out,
                    Operand::Scalar(_) => {
                        return Err(QueryError::Internal(
                            "binary operator returned a scalar for vector operands".into(),
                        ))
                    }
                };
                self.limits.check(temp + gathered + out.len())?;
                temp += out.len();
                asm.push_step(step, ts, out)?;
            }
            first += k;
        }
        self.limits.samples = original + asm.total();
        Ok(Val::Vector(asm.finish()))
    }
}

/// An aggregation's parameter at `step`: the scalar's value at that step
/// for the operators that take a number, the string for `count_values`.
fn agg_param(param: Option<&Val>, step: usize, takes_scalar: bool) -> Result<AggParam<'_>, QueryError> {
    Ok(match param {
        Some(Val::Scalar(v)) if takes_scalar => AggParam::Scalar(v.get(step).copied().unwrap_or(f64::NAN)),
        Some(Val::Str(s)) => AggParam::String(s),
        Some(other) if takes_scalar => return Err(unexpected("aggregation parameter", other)),
        _ => AggParam::None,
    })
}

/// A guess of how many series a per-step output has.
fn val_width(v: &Val) -> usize {
    match v {
        Val::Vector(s) => s.len(),
        Val::Range(r) => r.series.len(),
        _ => 1,
    }
}

/// The labels of `absent(x)`'s output, as Prometheus derives them from the
/// selector's matchers: each label with exactly one equality matcher (other
/// than the metric name).
pub fn absent_labels(arg: &Expr) -> Labels {
    let vs = match arg {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    use promql_parser::label::MatchOp;
    let mut set: Vec<Label> = Vec::new();
    let mut has: FxMap<&str, ()> = FxMap::default();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !has.contains_key(m.name.as_str()) {
            set.retain(|l| l.name != m.name);
            set.push(Label::new(m.name.clone(), m.value.clone()));
            has.insert(&m.name, ());
        } else {
            set.retain(|l| l.name != m.name);
        }
    }
    Labels::from_unsorted(set)
}
