//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`,
//! `stddev`, `stdvar`, `topk`, `bottomk`, `quantile`, `count_values`, and
//! the experimental `limitk`, `limit_ratio`) evaluated at one step.

use promql_parser::parser::AggregateExpr;

use super::super::annotations::Annotations;
use super::super::error::QueryError;
use super::super::value::Sample;

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
pub fn aggregate(
    expr: &AggregateExpr,
    param: AggParam<'_>,
    input: Vec<Sample>,
    ctx: &mut AggCtx<'_>,
) -> Result<Vec<Sample>, QueryError> {
    let _ = (expr, param, input, ctx);
    Err(QueryError::Internal("aggregation not implemented".into()))
}
