//! PromQL functions, evaluated one step at a time.
//!
//! The evaluator evaluates a call's arguments for all steps, then calls the
//! function once per step with that step's arguments ([`Arg`]) and a
//! [`FnCtx`]. A function returns the output vector of that step; it marks
//! `drop_name` on samples whose meaning it changed (delayed name removal,
//! see [`super::value`]).
//!
//! Functions that need the unevaluated AST (`absent`, `absent_over_time`,
//! `timestamp` over a selector, `info`) are handled by the evaluator itself
//! with help from this module where the arithmetic is shared.

use std::sync::Arc;

use super::annotations::Annotations;
use super::error::QueryError;
use super::value::{Labels, Point, Sample};

/// The samples of one series inside a range selector's window at one step.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    /// The series' labels.
    pub labels: &'a Arc<Labels>,
    /// Points in the window, time order, no stale markers.
    pub points: &'a [Point],
    /// The metric name is already marked for removal.
    pub drop_name: bool,
}

/// One evaluated argument at one step.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// A scalar expression's value at this step.
    Scalar(f64),
    /// A string literal.
    String(&'a str),
    /// An instant vector at this step.
    Vector(&'a [Sample]),
    /// A range vector at this step: each series' window. `start` is the
    /// window's exclusive lower bound and `end` its inclusive upper bound
    /// (milliseconds, after `offset` and `@`), which extrapolating functions
    /// (`rate`, `increase`, `delta`) need.
    Matrix {
        /// Windows, one per series with at least one point.
        windows: &'a [Window<'a>],
        /// Exclusive lower bound of the window.
        start: i64,
        /// Inclusive upper bound of the window.
        end: i64,
    },
}

/// What a function can see besides its arguments.
pub struct FnCtx<'a> {
    /// The evaluation time of this step (milliseconds).
    pub ts: i64,
    /// The query's start, end and step (milliseconds; step 0 for an instant
    /// query), for `start()`, `end()`, `range()` and `step()`.
    pub query_start: i64,
    /// See `query_start`.
    pub query_end: i64,
    /// See `query_start`.
    pub query_step: i64,
    /// Byte offsets in the query text of each argument expression, for
    /// annotations about an argument (`None` where unknown).
    pub arg_positions: &'a [Option<usize>],
    /// Byte offset of the call itself.
    pub position: Option<usize>,
    /// Where warnings and infos go.
    pub annotations: &'a mut Annotations,
}

/// A function: arguments at one step in, output vector of that step out.
/// Scalar-valued functions (`time`, `scalar`, `pi`, …) return one sample
/// with empty labels.
pub type FnImpl = fn(&mut FnCtx<'_>, &[Arg<'_>]) -> Result<Vec<Sample>, QueryError>;

/// The implementation of the function `name`, or `None` if it is not a
/// function this module evaluates.
pub fn lookup(name: &str) -> Option<FnImpl> {
    let _ = name;
    None
}
