//! The PromQL evaluator.

pub mod aggregate;
pub mod binary;

use std::time::Duration;

use promql_parser::parser::Expr;

use super::annotations::Annotations;
use super::error::QueryError;
use super::storage::Queryable;
use super::value::Value;

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
        let _ = (q, query, expr, start, end, step);
        Err(QueryError::Internal("evaluator not implemented".into()))
    }
}
