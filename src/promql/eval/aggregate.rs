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
//! `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar` and
//! `quantile` give one sample per group: the evaluator runs them over all
//! steps of a node with [`GroupedAggregation`], which finds each input
//! series' group once (not at every step) and gives at every step exactly
//! what [`aggregate`] gives for that step's samples.
//!
//! The evaluator calls [`aggregate`] for the other operators once per
//! step, and parameters are checked per step in both paths, so checks that
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

use self::ops::group::SigTable;
use self::ops::labels::LabelSel;
use super::super::annotations::Annotations;
use super::super::error::QueryError;
use super::super::functions::{invalid_quantile, quantile};
use super::super::gocompat::kahan::{self, Mean};
use super::super::value::{Labels, Sample, Series};
use super::steps::Grid;

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

/// Which group each input series belongs to, and each group's output
/// labels, found once for all steps.
///
/// Two series are in one group when their selected labels are equal; groups
/// are numbered in the order of their first series. A group's output labels
/// are its first series' selected labels (the same for every member), or
/// that series' own label set when every label is selected.
pub struct Grouping {
    /// Per input series: its group.
    group_of: Vec<u32>,
    /// Per group: its output labels.
    labels: Vec<Arc<Labels>>,
}

impl Grouping {
    /// Groups the label sets `series` (in input order) by `sel`.
    fn new<'l>(sel: &LabelSel<'_>, series: impl IntoIterator<Item = &'l Arc<Labels>>) -> Self {
        let mut table = SigTable::new(sel);
        let mut group_of = Vec::new();
        let mut labels = Vec::new();
        let empty = sel.selects_nothing().then(|| Arc::new(Labels::default()));
        for ls in series {
            let (g, new) = table.entry(ls);
            if new {
                labels.push(match &empty {
                    Some(e) => e.clone(),
                    None if sel.selects_all(ls) => ls.clone(),
                    None => Arc::new(sel.build(ls)),
                });
            }
            group_of.push(g as u32);
        }
        Self { group_of, labels }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no groups (no input series).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The operator of a one-sample-per-group aggregation at one step.
#[derive(Clone, Copy, Debug)]
pub struct StepOp(Op);

/// A `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar` or
/// `quantile` aggregation over all steps of a node.
///
/// [`aggregate`] at one step hashes every sample's labels to find its
/// group; here each input series' group is found once ([`Grouping`]) and
/// the steps only add values to their groups' accumulators. The result of
/// every step is exactly [`aggregate`]'s: samples are added in input order,
/// and groups are output in the order their first sample appears at that
/// step.
pub struct GroupedAggregation {
    quantile: bool,
    op: Op,
    grouping: Grouping,
}

impl GroupedAggregation {
    /// The aggregation `expr` over the series whose labels are `series`
    /// (in input order); `None` for operators that do not give one sample
    /// per group (`topk`, `count_values`, …), which [`aggregate`] evaluates
    /// step by step.
    pub fn new<'l>(expr: &AggregateExpr, series: impl IntoIterator<Item = &'l Arc<Labels>>) -> Option<Self> {
        let op = expr.op.id();
        let quantile = op == T_QUANTILE;
        if !quantile && !matches!(op, T_SUM | T_AVG | T_COUNT | T_MIN | T_MAX | T_GROUP | T_STDDEV | T_STDVAR) {
            return None;
        }
        let sel = LabelSel::from_modifier(expr.modifier.as_ref(), LabelSel::keep([]));
        let op = if quantile { Op::Quantile(f64::NAN) } else { Op::from_token(op) };
        Some(Self { quantile, op, grouping: Grouping::new(&sel, series) })
    }

    /// The groups.
    pub fn grouping(&self) -> &Grouping {
        &self.grouping
    }

    /// The operator at a step whose parameter is `param`: checks the
    /// parameter and warns about it as [`aggregate`] does, also when the
    /// step has no input.
    pub fn op_at(&self, expr: &AggregateExpr, param: AggParam<'_>, ctx: &mut AggCtx<'_>) -> Result<StepOp, QueryError> {
        if !self.quantile {
            return Ok(StepOp(self.op));
        }
        let q = scalar_param(expr, param)?;
        if q.is_nan() || !(0.0..=1.0).contains(&q) {
            ctx.annotations.warn(invalid_quantile(q), ctx.param_position);
        }
        Ok(StepOp(Op::Quantile(q)))
    }

    /// Aggregates a block of consecutive steps of `g`, starting at step
    /// `first`, one step per entry of `ops`. `series` are the input series
    /// (those given to [`Self::new`], points at step times); `cursors` (one
    /// per series, starting at 0) move past the points used, so successive
    /// blocks continue where the last one stopped. Returns per step its
    /// output samples and the number of input samples it had.
    pub fn steps(
        &self,
        series: &[Series],
        cursors: &mut [usize],
        g: &Grid,
        first: usize,
        ops: &[StepOp],
    ) -> Vec<(Vec<Sample>, usize)> {
        let mut accs = StepAccumulators::new(ops.len(), self.grouping.len());
        if let Some(last_step) = ops.len().checked_sub(1) {
            let (t0, last) = (g.ts(first), g.ts(first + last_step));
            for ((s, c), &group) in series.iter().zip(cursors.iter_mut()).zip(&self.grouping.group_of) {
                while let Some(p) = s.points.get(*c) {
                    if p.t > last {
                        break;
                    }
                    *c += 1;
                    if p.t >= t0 {
                        let step = ((p.t - t0) / g.interval) as usize;
                        accs.add(step, group, ops[step].0, p.v, s.drop_name);
                    }
                }
            }
        }
        accs.finish(&self.grouping.labels, ops, |step| g.ts(first + step))
    }

    /// The block size for [`Self::steps`]: at most `steps`, and small
    /// enough that a block's accumulators stay modest with many groups.
    pub fn block(&self, steps: usize) -> usize {
        steps.min((1 << 16) / self.grouping.len().max(1)).max(1)
    }
}

/// Per step of a block and per group: the running state, the groups in
/// the order their first sample appeared, and the input count.
struct StepAccumulators {
    groups: usize,
    accs: Vec<Option<Acc>>,
    order: Vec<Vec<u32>>,
    inputs: Vec<usize>,
}

impl StepAccumulators {
    fn new(steps: usize, groups: usize) -> Self {
        Self {
            groups,
            accs: std::iter::repeat_with(|| None).take(steps * groups).collect(),
            order: vec![Vec::new(); steps],
            inputs: vec![0; steps],
        }
    }

    /// Adds the value `v` of a sample of `group` at `step`. Calls for one
    /// step and group come in input order.
    #[inline]
    fn add(&mut self, step: usize, group: u32, op: Op, v: f64, drop_name: bool) {
        self.inputs[step] += 1;
        match &mut self.accs[step * self.groups + group as usize] {
            Some(acc) => acc.add(op, v, drop_name),
            slot @ None => {
                *slot = Some(Acc::first(op, v, drop_name));
                self.order[step].push(group);
            }
        }
    }

    /// Per step: the groups' results (at time `ts(step)`) and the input count.
    fn finish(
        mut self,
        labels: &[Arc<Labels>],
        ops: &[StepOp],
        ts: impl Fn(usize) -> i64,
    ) -> Vec<(Vec<Sample>, usize)> {
        let order = std::mem::take(&mut self.order);
        order
            .into_iter()
            .enumerate()
            .map(|(step, groups)| {
                let t = ts(step);
                let out = groups
                    .into_iter()
                    .map(|group| {
                        let acc = self.accs[step * self.groups + group as usize]
                            .as_mut()
                            .expect("a group in the order has a state");
                        Sample {
                            labels: labels[group as usize].clone(),
                            t,
                            v: acc.finish(ops[step].0),
                            drop_name: acc.drop_name,
                        }
                    })
                    .collect();
                (out, self.inputs[step])
            })
            .collect()
    }
}

/// `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`, `quantile` at one step.
fn simple(op: Op, sel: &LabelSel<'_>, input: Vec<Sample>, ctx: &AggCtx<'_>) -> Vec<Sample> {
    let grouping = Grouping::new(sel, input.iter().map(|s| &s.labels));
    let mut accs = StepAccumulators::new(1, grouping.len());
    for (s, &group) in input.iter().zip(&grouping.group_of) {
        accs.add(0, group, op, s.v, s.drop_name);
    }
    accs.finish(&grouping.labels, &[StepOp(op)], |_| ctx.ts).pop().map(|(out, _)| out).unwrap_or_default()
}

#[cfg(test)]
#[path = "ops/aggregate_tests.rs"]
mod tests;
