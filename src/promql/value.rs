//! Query results and the label-set operations evaluation needs.
//!
//! Times are milliseconds since the Unix epoch (negative times are valid:
//! queries may be evaluated before 1970). Values are `f64`; a staleness
//! marker is the NaN with bits [`rampart_storage::STALE_NAN_BITS`] and never
//! leaves a selector (selectors drop it), so results hold no stale markers.
//!
//! Delayed name removal: functions and operators that change a value's
//! meaning do not strip `__name__` at once; they set `drop_name`, and the
//! evaluator removes the name (and `__type__`/`__unit__`) when the whole
//! expression is done. This lets `label_replace`, `last_over_time` and
//! `by (__name__)` see the name, as Prometheus 3 does.
//!
//! Label sets are shared ([`Arc`]) so that a series' labels are not copied
//! for every step of a range query; change them with `Arc::make_mut`.

use std::sync::Arc;

pub use rampart_storage::labels::METRIC_NAME;
pub use rampart_storage::{Label, Labels, STALE_NAN_BITS};

/// True when `v` is Prometheus's staleness marker.
pub fn is_stale_marker(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One point of a series: time and value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Milliseconds.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub labels: Arc<Labels>,
    /// Milliseconds; the evaluation time, except where a function returns
    /// sample times (`timestamp`).
    pub t: i64,
    /// Value.
    pub v: f64,
    /// The metric name is to be removed when evaluation ends.
    pub drop_name: bool,
}

/// One series of a range vector (matrix).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Arc<Labels>,
    /// Points in time order.
    pub points: Vec<Point>,
    /// The metric name is to be removed when evaluation ends.
    pub drop_name: bool,
}

/// The value of an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number at a time.
    Scalar {
        /// Milliseconds.
        t: i64,
        /// Value.
        v: f64,
    },
    /// A string at a time.
    String {
        /// Milliseconds.
        t: i64,
        /// Value.
        s: String,
    },
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector, or the result of a range query.
    Matrix(Vec<Series>),
}

impl Value {
    /// Prometheus's `resultType` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Scalar { .. } => "scalar",
            Self::String { .. } => "string",
            Self::Vector(_) => "vector",
            Self::Matrix(_) => "matrix",
        }
    }
}
