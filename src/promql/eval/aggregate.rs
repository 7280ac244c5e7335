//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`,
//! `stddev`, `stdvar`, `topk`, `bottomk`, `quantile`, `count_values`, and
//! the experimental `limitk`, `limit_ratio`) evaluated at one step.
//!
//! Semantics are Prometheus 3's (`promql/engine.go`: `rangeEvalAgg`,
//! `aggregation`, `aggregationK`, `aggregationCountValues`):
//!
//! - **Groups.** `by (…)` keeps the listed labels (`__name__` too, if
//!   listed: with delayed name removal an input may still carry a name that
//!   is due to be dropped); `without (…)` removes the listed labels and
//!   always `__name__`; no modifier is one group with no labels. Groups are
//!   output in the order their first sample appears in the input.
//! - **Name dropping.** A group's output has `drop_name` set when any of its
//!   inputs has; `topk`, `bottomk`, `limitk` and `limit_ratio` pass their
//!   input samples through unchanged.
//! - **Arithmetic.** `sum` and `avg` use Kahan–Neumaier compensated
//!   summation; `avg` divides the compensated sum at the end, switching to
//!   an incremental mean only once the running sum would overflow. `min` and
//!   `max` ignore NaN unless every input is NaN. `stddev`/`stdvar` use
//!   Welford's method and are NaN once an input is NaN or ±Inf.
//! - **Parameters** are checked before any input is looked at, so an
//!   invalid one fails (or warns) even when the input is empty: `topk`,
//!   `bottomk`, `limitk` with NaN fail with `Parameter value is NaN`, with
//!   a k below 1 give nothing, with a k of 2^63 or more fail with `Scalar
//!   value … overflows int64`; `limit_ratio` with NaN fails with `Ratio
//!   value is NaN` and caps to ±1 with a warning; `quantile` outside [0, 1]
//!   warns `quantile value should be between 0 and 1, got …` at the
//!   parameter's position and gives ±Inf (NaN for a NaN quantile).
//!
//! The evaluator calls [`aggregate`] once per step, so checks that
//! Prometheus makes once over all steps' parameters are made per step here:
//! the same errors and warnings result, except that a range query whose k
//! is below -2^63 at one step and at least 1 at another gives nothing at the
//! first step rather than failing with `Scalar value … underflows int64`.
//!
//! The helpers shared with binary operators (label selection and
//! signatures, the label-set cache) live in `ops/`; Go's number formatting
//! and sorting and Prometheus's Kahan summation in
//! [`gocompat`](crate::promql::gocompat).

#[path = "ops/mod.rs"]
pub(super) mod ops;

use std::sync::Arc;

use promql_parser::parser::token::{
    TokenId, T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMITK, T_LIMIT_RATIO, T_MAX, T_MIN, T_QUANTILE,
    T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::AggregateExpr;

use self::ops::group::Grouper;
use self::ops::labels::LabelSel;
use self::ops::memo;
use super::super::annotations::Annotations;
use super::super::error::QueryError;
use super::super::functions::{invalid_quantile, quantile};
use super::super::gocompat::kahan::{self, Mean};
use super::super::value::{Labels, Sample};

/// The evaluated parameter of an aggregation at this step.
#[derive(Clone, Copy, Debug)]
pub enum AggParam<'a> {
    /// No parameter (`sum`, `avg`, …).
    None,
    /// `topk`, `bottomk`, `quantile`, `limitk`, `limit_ratio`.
    Scalar(f64),
    /// `count_values`'s label name.
    String(&'a str),
}

/// Where an aggregation reports annotations.
pub struct AggCtx<'a> {
    /// Evaluation time of this step (milliseconds); output samples carry it.
    pub ts: i64,
    /// Byte offset of the aggregation in the query text.
    pub position: Option<usize>,
    /// Byte offset of the parameter expression.
    pub param_position: Option<usize>,
    /// Where warnings and infos go.
    pub annotations: &'a mut Annotations,
}

/// Aggregates `input` (one step's vector) as `expr` says.
///
/// `input` must be in the order of the argument's series (the order group
/// outputs and `topk` ties follow), and the function must be called at every
/// step, also with an empty input: parameter errors (`Parameter value is
/// NaN`) and warnings (`quantile value should be between 0 and 1, …`) do
/// not depend on the input. Errors are `execution` errors.
pub fn aggregate(
    expr: &AggregateExpr,
    param: AggParam<'_>,
    input: Vec<Sample>,
    ctx: &mut AggCtx<'_>,
) -> Result<Vec<Sample>, QueryError> {
    let op = expr.op.id();
    let sel = LabelSel::from_modifier(expr.modifier.as_ref(), LabelSel::keep([]));
    match op {
        T_SUM | T_AVG | T_COUNT | T_MIN | T_MAX | T_GROUP | T_STDDEV | T_STDVAR => {
            Ok(simple(Op::from_token(op), &sel, input, ctx))
        }
        T_QUANTILE => {
            let q = scalar_param(expr, param)?;
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                ctx.annotations.warn(invalid_quantile(q), ctx.param_position);
            }
            Ok(simple(Op::Quantile(q), &sel, input, ctx))
        }
        T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO => {
            let p = scalar_param(expr, param)?;
            ops::topk::aggregate_k(op, &sel, p, input, ctx)
        }
        T_COUNT_VALUES => match param {
            AggParam::String(label) => ops::count_values::count_values(&sel, label, input, ctx),
            _ => Err(QueryError::Internal("count_values needs a string parameter".into())),
        },
        _ => Err(QueryError::Internal(format!("unknown aggregation operator {}", expr.op))),
    }
}

/// The numeric parameter of `expr`, which the parser guarantees is a scalar.
fn scalar_param(expr: &AggregateExpr, param: AggParam<'_>) -> Result<f64, QueryError> {
    match param {
        AggParam::Scalar(v) => Ok(v),
        _ => Err(QueryError::Internal(format!("{} needs a numeric parameter", expr.op))),
    }
}

/// The aggregations that give one sample per group.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Quantile(f64),
}

impl Op {
    fn from_token(t: TokenId) -> Self {
        match t {
            T_SUM => Self::Sum,
            T_AVG => Self::Avg,
            T_COUNT => Self::Count,
            T_MIN => Self::Min,
            T_MAX => Self::Max,
            T_GROUP => Self::Group,
            T_STDDEV => Self::Stddev,
            _ => Self::Stdvar,
        }
    }
}

/// One group's running state (Prometheus's `groupedAggregation`, floats only).
struct Acc {
    value: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    avg: Mean,
    drop_name: bool,
    values: Vec<f64>,
}

impl Acc {
    /// The state after the group's first sample.
    fn first(op: Op, f: f64, drop_name: bool) -> Self {
        let mut a =
            Acc { value: f, mean: f, kahan_c: 0.0, count: 1.0, avg: Mean::new(f), drop_name, values: Vec::new() };
        match op {
            Op::Stddev | Op::Stdvar => a.value = if f.is_finite() { 0.0 } else { f64::NAN },
            Op::Quantile(_) => a.values.push(f),
            Op::Group => a.value = 1.0,
            _ => {}
        }
        a
    }

    /// Adds a further sample.
    fn add(&mut self, op: Op, f: f64, drop_name: bool) {
        self.drop_name |= drop_name;
        match op {
            Op::Sum => (self.value, self.kahan_c) = kahan::inc(f, self.value, self.kahan_c),
            Op::Avg => self.avg.add(f),
            Op::Count => self.count += 1.0,
            Op::Group => {}
            Op::Max => {
                if self.value < f || self.value.is_nan() {
                    self.value = f;
                }
            }
            Op::Min => {
                if self.value > f || self.value.is_nan() {
                    self.value = f;
                }
            }
            Op::Stddev | Op::Stdvar => {
                self.count += 1.0;
                let delta = f - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (f - self.mean);
            }
            Op::Quantile(_) => self.values.push(f),
        }
    }

    /// The group's result.
    fn finish(&mut self, op: Op) -> f64 {
        match op {
            Op::Sum => self.value + self.kahan_c,
            Op::Avg => self.avg.value(),
            Op::Count => self.count,
            Op::Stdvar => self.value / self.count,
            Op::Stddev => (self.value / self.count).sqrt(),
            Op::Quantile(q) => quantile(q, &mut self.values),
            Op::Min | Op::Max | Op::Group => self.value,
        }
    }
}

/// The output label set of a group whose first sample has labels `first`.
pub(crate) fn group_labels(sel: &LabelSel<'_>, spec: &memo::Spec, first: &Arc<Labels>) -> Arc<Labels> {
    memo::derived(spec, first, None, || if sel.selects_all(first) { first.clone() } else { Arc::new(sel.build(first)) })
}

/// The cache spec of an aggregation's group labels.
pub(crate) fn group_spec(sel: &LabelSel<'_>) -> memo::Spec {
    let mut text = String::from("aggregate ");
    sel.describe(&mut text);
    memo::Spec::new(text)
}

/// `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`, `quantile`.
fn simple(op: Op, sel: &LabelSel<'_>, input: Vec<Sample>, ctx: &AggCtx<'_>) -> Vec<Sample> {
    let mut grouper = Grouper::new(sel);
    let mut accs: Vec<Acc> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let (g, new) = grouper.group_of(&input, i);
        if new {
            accs.push(Acc::first(op, s.v, s.drop_name));
        } else {
            accs[g].add(op, s.v, s.drop_name);
        }
    }
    let spec = group_spec(sel);
    let empty = sel.selects_nothing().then(|| Arc::new(Labels::default()));
    let mut out = Vec::with_capacity(accs.len());
    for (acc, &first) in accs.iter_mut().zip(grouper.firsts()) {
        let labels = match &empty {
            Some(e) => e.clone(),
            None => group_labels(sel, &spec, &input[first].labels),
        };
        out.push(Sample { labels, t: ctx.ts, v: acc.finish(op), drop_name: acc.drop_name });
    }
    out
}

#[cfg(test)]
#[path = "ops/aggregate_tests.rs"]
mod tests;
