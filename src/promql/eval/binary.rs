//! Binary operators evaluated at one step: arithmetic, comparison (with and
//! without `bool`), and the set operators `and`, `or`, `unless`, with
//! `on`/`ignoring` and `group_left`/`group_right` vector matching.

use promql_parser::parser::BinaryExpr;

use super::super::annotations::Annotations;
use super::super::error::QueryError;
use super::super::value::Sample;

/// One side of a binary operation at one step.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A scalar.
    Scalar(f64),
    /// An instant vector.
    Vector(Vec<Sample>),
}

/// Where a binary operation reports annotations.
pub struct BinaryCtx<'a> {
    /// Evaluation time of this step (milliseconds); output samples carry it.
    pub ts: i64,
    /// Byte offset of the binary expression in the query text.
    pub position: Option<usize>,
    /// Where warnings and infos go.
    pub annotations: &'a mut Annotations,
}

/// Applies `expr`'s operator (with its modifier) to `lhs` and `rhs`.
/// Two scalars give a scalar, anything else a vector.
pub fn binary(expr: &BinaryExpr, lhs: Operand, rhs: Operand, ctx: &mut BinaryCtx<'_>) -> Result<Operand, QueryError> {
    let _ = (expr, lhs, rhs, ctx);
    Err(QueryError::Internal("binary operator not implemented".into()))
}
