//! The PromQL evaluator.
//!
//! A query is evaluated over a grid of steps (an instant query is a grid of
//! one step). Before evaluating, the evaluator walks the AST with the grid
//! each node will be evaluated on (subqueries have their own, step-invariant
//! parts are evaluated once) to find the time range every selector needs,
//! and reads each selector from the [`Queryable`] once. Then every node is
//! evaluated once for all steps of its grid ([`evaluator`]).
//!
//! | module | owns |
//! |---|---|
//! | [`evaluator`] | the tree walk, calls, aggregations and binary operators over all steps, limits |
//! | [`selector`] | selector time ranges and reads, lookback and staleness, range windows |
//! | [`subquery`] | `offset`, `@` and subquery step alignment |
//! | [`steps`] | step grids, per-step gathering and reassembly of series |
//! | [`positions`] | byte offsets of AST nodes in the query text, for annotations |
//! | [`info`] | the experimental `info()` function, which selects info series while evaluating |
//! | [`aggregate`], [`binary`] | aggregation (per group over all steps, or at one step) and binary operators at one step |

pub mod aggregate;
pub mod binary;
pub mod evaluator;
pub mod info;
pub mod positions;
pub mod selector;
pub mod steps;
pub mod subquery;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::Expr;

use super::annotations::Annotations;
use super::error::QueryError;
use super::storage::Queryable;
use super::value::{Labels, Point, Sample, Series, Value, METRIC_NAME};
use evaluator::{Evaluator, Limits, Val};
use positions::Positions;
use selector::{SelectorStore, Windows};
use steps::{FxMap, Grid, DUPLICATE_LABELSET};
use subquery::QueryTimes;

/// Evaluation settings and limits.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback_ms: i64,
    /// The step of a subquery written without one (`x[5m:]`; Prometheus: 1m).
    pub default_subquery_step_ms: i64,
    /// Most samples a query may hold in memory at once.
    pub max_samples: usize,
    /// Longest a query may run.
    pub timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_ms: 5 * 60 * 1000,
            default_subquery_step_ms: 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
        }
    }
}

/// The result of a query.
#[derive(Clone, Debug)]
pub struct QueryOutput {
    /// The value: for an instant query the expression's own type; for a
    /// range query always a matrix sorted by labels.
    pub value: Value,
    /// Warnings and infos.
    pub annotations: Annotations,
}

/// Evaluates parsed queries.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with these options.
    pub fn new(opts: EngineOptions) -> Self {
        Self { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` (parsed from `query`, whose text annotation
    /// positions refer to) at time `t` (milliseconds).
    pub fn instant(&self, q: &dyn Queryable, query: &str, expr: &Expr, t: i64) -> Result<QueryOutput, QueryError> {
        self.range(q, query, expr, t, t, 0)
    }

    /// Evaluates `expr` at `start, start+step, …, ≤ end` (milliseconds).
    /// `step` is 0 for an instant query. The result is a matrix sorted by
    /// labels, except for instant queries, which return the expression's
    /// own type.
    pub fn range(
        &self,
        q: &dyn Queryable,
        query: &str,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError> {
        self.range_with(evaluator::Ops::default(), q, query, expr, start, end, step)
    }

    /// [`Engine::range`] with the given functions and operators.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn range_with(
        &self,
        ops: evaluator::Ops,
        q: &dyn Queryable,
        query: &str,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        if step < 0 || (step == 0 && start != end) {
            return Err(QueryError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(QueryError::BadData("end timestamp must not be before start time".into()));
        }
        let instant = step == 0;
        if !instant {
            let documented = match expr.value_type() {
                ValueType::Matrix => Some("range vector"),
                ValueType::String => Some("string"),
                ValueType::Scalar | ValueType::Vector => None,
            };
            if let Some(t) = documented {
                return Err(QueryError::BadData(format!(
                    "invalid expression type \"{t}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let grid = if instant { Grid::instant(start) } else { Grid { start, end, interval: step } };
        let positions = Positions::compute(query, expr);
        let mut ev = Evaluator {
            ops,
            queryable: q,
            lookback: self.opts.lookback_ms,
            default_subquery_step: self.opts.default_subquery_step_ms.max(1),
            positions: &positions,
            store: SelectorStore::default(),
            times: QueryTimes { start, end },
            query_step: step,
            limits: Limits::new(self.opts.max_samples, self.opts.timeout, started),
            annotations: Annotations::default(),
        };
        let mut selectors = Vec::new();
        ev.plan(expr, &grid, &mut selectors);
        let limits = &ev.limits;
        ev.store.load(q, &selectors, || limits.check_time())?;
        let val = ev.eval(expr, &grid)?;
        ev.limits.check_time()?;
        let value = finish(&mut ev, val, &grid, instant)?;
        Ok(QueryOutput { value, annotations: ev.annotations })
    }
}

/// Turns the root's value into the query result, removing metric names
/// marked for removal (Prometheus's `cleanupMetricLabels`).
fn finish(ev: &mut Evaluator<'_>, val: Val, grid: &Grid, instant: bool) -> Result<Value, QueryError> {
    if instant {
        let t = grid.start;
        return Ok(match val {
            Val::Scalar(v) => Value::Scalar { t, v: v.first().copied().unwrap_or(f64::NAN) },
            Val::Str(s) => Value::String { t, s },
            Val::Vector(series) => {
                let mut out: Vec<Sample> = series
                    .into_iter()
                    .filter_map(|s| {
                        let p = s.points.first()?;
                        let labels = if s.drop_name { drop_metadata_labels(s.labels) } else { s.labels };
                        Some(Sample { labels, t, v: p.v, drop_name: false })
                    })
                    .collect();
                if steps::has_duplicate_labels(&out) {
                    return Err(QueryError::execution(DUPLICATE_LABELSET));
                }
                out.shrink_to_fit();
                Value::Vector(out)
            }
            Val::Range(r) => {
                let mut windows = Windows::new(r.series.len());
                let mut buf = Vec::new();
                let (start, end) = r.bounds(t);
                windows.at(&r.series, &r.drops, start, end, &mut buf);
                let mut out = Vec::with_capacity(buf.len());
                for w in &buf {
                    ev.limits.add(w.points.len())?;
                    out.push(Series { labels: w.labels.clone(), points: w.points.to_vec(), drop_name: w.drop_name });
                }
                Value::Matrix(cleanup_matrix(out)?)
            }
        });
    }
    Ok(match val {
        Val::Scalar(v) => {
            let points = grid.times().zip(v).map(|(t, v)| Point { t, v }).collect();
            Value::Matrix(vec![Series { labels: Arc::new(Labels::default()), points, drop_name: false }])
        }
        Val::Vector(series) => Value::Matrix(cleanup_matrix(series)?),
        Val::Str(_) | Val::Range(_) => {
            return Err(QueryError::Internal(format!("unexpected {} result of a range query", val_name(&val))))
        }
    })
}

fn val_name(v: &Val) -> &'static str {
    match v {
        Val::Scalar(_) => "scalar",
        Val::Str(_) => "string",
        Val::Vector(_) => "vector",
        Val::Range(_) => "matrix",
    }
}

/// True for the labels that go with the metric name when it is removed.
fn is_metadata_label(name: &str) -> bool {
    name == METRIC_NAME || name == "__type__" || name == "__unit__"
}

/// `labels` without `__name__`, `__type__` and `__unit__`.
pub fn drop_metadata_labels(labels: Arc<Labels>) -> Arc<Labels> {
    if !labels.iter().any(|l| is_metadata_label(&l.name)) {
        return labels;
    }
    Arc::new(Labels::from_sorted(labels.iter().filter(|l| !is_metadata_label(&l.name)).cloned().collect()))
}

/// Removes marked names, merges series that now share a label set (their
/// points must not overlap) and sorts by labels.
fn cleanup_matrix(mut series: Vec<Series>) -> Result<Vec<Series>, QueryError> {
    let mut renamed = false;
    for s in &mut series {
        if s.drop_name {
            s.labels = drop_metadata_labels(std::mem::take(&mut s.labels));
            s.drop_name = false;
            renamed = true;
        }
    }
    if renamed {
        let mut index: FxMap<Arc<Labels>, usize> = FxMap::default();
        let mut merged: Vec<Series> = Vec::with_capacity(series.len());
        let mut collided = false;
        for s in series {
            match index.get(&*s.labels) {
                Some(&i) => {
                    merged[i].points.extend_from_slice(&s.points);
                    collided = true;
                }
                None => {
                    index.insert(s.labels.clone(), merged.len());
                    merged.push(s);
                }
            }
        }
        if collided {
            for s in &mut merged {
                s.points.sort_by_key(|p| p.t);
                if s.points.windows(2).any(|w| w[0].t == w[1].t) {
                    return Err(QueryError::execution(DUPLICATE_LABELSET));
                }
            }
        }
        series = merged;
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(series)
}
