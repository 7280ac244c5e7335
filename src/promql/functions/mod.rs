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
//!
//! Semantics are Prometheus 3's (`promql/functions.go`, `promql/quantile.go`),
//! including its floating-point evaluation order, so results agree to the
//! last bit where the underlying `libm` agrees with Go's `math`.
//!
//! | module | owns |
//! |---|---|
//! | [`range`] | `rate`, `increase`, `delta`, `irate`, `idelta`, `deriv`, `predict_linear`, `changes`, `resets`, `double_exponential_smoothing` (`holt_winters`), `integral` |
//! | [`over_time`] | the `*_over_time` aggregations and `ts_of_*_over_time` |
//! | [`math`] | element-wise arithmetic (`abs`, `ln`, trigonometry, `round`, `clamp`, …), `scalar`, `vector`, `pi`, `min_of`, `max_of` |
//! | [`time`] | `time`, `timestamp`, the calendar functions, `start`, `end`, `range`, `step` |
//! | [`labels`] | `label_replace`, `label_join` |
//! | [`sort`] | `sort`, `sort_desc`, `sort_by_label`, `sort_by_label_desc`, and the natural order of `sort_by_label` |
//! | [`histogram`] | `histogram_quantile`, `histogram_quantiles`, `histogram_fraction` over classic buckets |
//! | [`messages`] | annotation and error texts, formatted as Go formats them |
//!
//! Go's sort, float formatting and quoting and Prometheus's Kahan summation
//! come from [`gocompat`](super::gocompat).
//!
//! A range-vector function keeps a series' labels and sets `drop_name`,
//! except `last_over_time` and `first_over_time`, which act like `offset`
//! and keep the input's flag.

/// Defines functions `name(ctx, args)` that each call `helper(ctx, args, f)`,
/// for families that differ only in the per-value arithmetic. The names in
/// the signature resolve where it is used. Defined before the modules so
/// that they can use it.
macro_rules! functions_via {
    ($helper:ident: $($(#[$doc:meta])* $name:ident => $f:expr;)*) => {$(
        $(#[$doc])*
        pub(super) fn $name(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
            $helper(ctx, args, $f)
        }
    )*};
}

mod histogram;
mod labels;
mod math;
mod messages;
mod over_time;
mod range;
mod sort;
mod time;

pub(crate) use messages::invalid_quantile;
pub(crate) use over_time::quantile;

use std::sync::{Arc, LazyLock};

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
    /// Where the series' value drops, when the evaluator indexed it for
    /// this function ([`uses_drops`]); `None` means look at the points.
    pub drops: Option<Drops<'a>>,
}

impl Window<'_> {
    /// Calls `f` with every index `j ≥ 1` into `points` whose value is
    /// below the one before it (`points[j].v < points[j - 1].v`: a counter
    /// reset), in ascending order.
    #[inline]
    pub fn for_each_drop(&self, mut f: impl FnMut(usize)) {
        match self.drops {
            Some(d) => {
                let (first, last) = (d.first, d.first + self.points.len());
                let lo = d.at.partition_point(|&j| j <= first);
                let hi = d.at.partition_point(|&j| j < last);
                d.at[lo..hi].iter().for_each(|&j| f(j - first));
            }
            None => {
                for j in 1..self.points.len() {
                    if self.points[j].v < self.points[j - 1].v {
                        f(j);
                    }
                }
            }
        }
    }
}

/// The drops of a whole series (indices `j` into its points with
/// `v[j] < v[j - 1]`, ascending), found once per query, and where a window
/// starts in it: `rate`, `increase` and `resets` then find a window's
/// counter resets without looking at each of its points at every step.
#[derive(Clone, Copy, Debug)]
pub struct Drops<'a> {
    /// Indices into the series' points where the value drops, ascending.
    pub at: &'a [usize],
    /// Index into the series' points of the window's first point.
    pub first: usize,
}

/// Whether the function `name` looks for drops in its windows (so the
/// evaluator indexes them once per query; see [`Drops`]).
pub fn uses_drops(name: &str) -> bool {
    matches!(name, "rate" | "increase" | "resets")
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

impl FnCtx<'_> {
    /// The position of argument `i`, if known.
    fn arg_position(&self, i: usize) -> Option<usize> {
        self.arg_positions.get(i).copied().flatten()
    }
}

/// A function: arguments at one step in, output vector of that step out.
/// Scalar-valued functions (`time`, `scalar`, `pi`, …) return one sample
/// with empty labels.
/// Range-vector functions return at most one sample per window, in window
/// order, holding the window's label set (the same `Arc`, as
/// `map_windows` does): the evaluator relies on it to keep one output
/// series per input series.
pub type FnImpl = fn(&mut FnCtx<'_>, &[Arg<'_>]) -> Result<Vec<Sample>, QueryError>;

/// The implementation of the function `name`, or `None` if it is not a
/// function this module evaluates (`absent`, `absent_over_time` and `info`
/// are the evaluator's, and unknown names are nobody's).
pub fn lookup(name: &str) -> Option<FnImpl> {
    let f: FnImpl = match name {
        // Range vectors.
        "rate" => range::rate,
        "increase" => range::increase,
        "delta" => range::delta,
        "irate" => range::irate,
        "idelta" => range::idelta,
        "deriv" => range::deriv,
        "predict_linear" => range::predict_linear,
        "changes" => range::changes,
        "resets" => range::resets,
        "double_exponential_smoothing" | "holt_winters" => range::double_exponential_smoothing,
        "integral" => range::integral,
        "avg_over_time" => over_time::avg_over_time,
        "sum_over_time" => over_time::sum_over_time,
        "min_over_time" => over_time::min_over_time,
        "max_over_time" => over_time::max_over_time,
        "count_over_time" => over_time::count_over_time,
        "last_over_time" => over_time::last_over_time,
        "first_over_time" => over_time::first_over_time,
        "present_over_time" => over_time::present_over_time,
        "quantile_over_time" => over_time::quantile_over_time,
        "stddev_over_time" => over_time::stddev_over_time,
        "stdvar_over_time" => over_time::stdvar_over_time,
        "mad_over_time" => over_time::mad_over_time,
        "ts_of_min_over_time" => over_time::ts_of_min_over_time,
        "ts_of_max_over_time" => over_time::ts_of_max_over_time,
        "ts_of_first_over_time" => over_time::ts_of_first_over_time,
        "ts_of_last_over_time" => over_time::ts_of_last_over_time,
        // Element-wise arithmetic.
        "abs" => math::abs,
        "ceil" => math::ceil,
        "floor" => math::floor,
        "exp" => math::exp,
        "sqrt" => math::sqrt,
        "ln" => math::ln,
        "log2" => math::log2,
        "log10" => math::log10,
        "sgn" => math::sgn,
        "sin" => math::sin,
        "cos" => math::cos,
        "tan" => math::tan,
        "asin" => math::asin,
        "acos" => math::acos,
        "atan" => math::atan,
        "sinh" => math::sinh,
        "cosh" => math::cosh,
        "tanh" => math::tanh,
        "asinh" => math::asinh,
        "acosh" => math::acosh,
        "atanh" => math::atanh,
        "deg" => math::deg,
        "rad" => math::rad,
        "round" => math::round,
        "clamp" => math::clamp,
        "clamp_min" => math::clamp_min,
        "clamp_max" => math::clamp_max,
        "min_of" => math::min_of,
        "max_of" => math::max_of,
        "scalar" => math::scalar,
        "vector" => math::vector,
        "pi" => math::pi,
        // Time.
        "time" => time::time,
        "timestamp" => time::timestamp,
        "start_timestamp" => time::start_timestamp,
        "day_of_month" => time::day_of_month,
        "day_of_week" => time::day_of_week,
        "day_of_year" => time::day_of_year,
        "days_in_month" => time::days_in_month,
        "hour" => time::hour,
        "minute" => time::minute,
        "month" => time::month,
        "year" => time::year,
        "start" => time::start,
        "end" => time::end,
        "range" => time::range,
        "step" => time::step,
        // Labels and order.
        "label_replace" => labels::label_replace,
        "label_join" => labels::label_join,
        "sort" => sort::sort,
        "sort_desc" => sort::sort_desc,
        "sort_by_label" => sort::sort_by_label,
        "sort_by_label_desc" => sort::sort_by_label_desc,
        // Histograms.
        "histogram_quantile" => histogram::histogram_quantile,
        "histogram_quantiles" => histogram::histogram_quantiles,
        "histogram_fraction" => histogram::histogram_fraction,
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            histogram::native_only
        }
        _ => return None,
    };
    Some(f)
}

/// Teaches the `promql-parser` crate the function names Prometheus 2.x
/// queries use and its table lacks: `holt_winters`, the old name of
/// `double_exponential_smoothing`. Call once before parsing; later calls
/// are harmless.
pub fn register_parser_extensions() {
    use promql_parser::parser::value::ValueType;
    use promql_parser::parser::{register_extra_functions, Function};
    let holt_winters = Function::new(
        "holt_winters",
        vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
        0,
        ValueType::Vector,
        false,
    );
    // The only failure is a clash with a built-in name, which would mean
    // the parser learned the name itself.
    let _ = register_extra_functions(vec![holt_winters]);
}

/// The empty label set, shared by every scalar-like output.
fn empty_labels() -> Arc<Labels> {
    static EMPTY: LazyLock<Arc<Labels>> = LazyLock::new(|| Arc::new(Labels::default()));
    Arc::clone(&EMPTY)
}

/// A one-sample output with empty labels (scalar results, `vector()`).
fn unlabelled(ctx: &FnCtx<'_>, v: f64) -> Vec<Sample> {
    vec![Sample { labels: empty_labels(), t: ctx.ts, v, drop_name: false }]
}

/// The evaluator passed arguments the parser's type check rules out.
fn bad_args(what: &str, i: usize) -> QueryError {
    QueryError::Internal(format!("function argument {i}: expected {what}"))
}

/// Argument `i` as a scalar.
fn scalar_arg(args: &[Arg<'_>], i: usize) -> Result<f64, QueryError> {
    match args.get(i) {
        Some(Arg::Scalar(v)) => Ok(*v),
        _ => Err(bad_args("a scalar", i)),
    }
}

/// Argument `i` as a scalar, if given (optional trailing arguments).
fn opt_scalar_arg(args: &[Arg<'_>], i: usize) -> Result<Option<f64>, QueryError> {
    if i < args.len() {
        scalar_arg(args, i).map(Some)
    } else {
        Ok(None)
    }
}

/// Argument `i` as a string literal.
fn string_arg<'a>(args: &[Arg<'a>], i: usize) -> Result<&'a str, QueryError> {
    match args.get(i) {
        Some(Arg::String(s)) => Ok(s),
        _ => Err(bad_args("a string", i)),
    }
}

/// Argument `i` as an instant vector.
fn vector_arg<'a>(args: &[Arg<'a>], i: usize) -> Result<&'a [Sample], QueryError> {
    match args.get(i) {
        Some(Arg::Vector(v)) => Ok(v),
        _ => Err(bad_args("an instant vector", i)),
    }
}

/// Argument `i` as a range vector: windows, exclusive start, inclusive end.
fn matrix_arg<'a>(args: &[Arg<'a>], i: usize) -> Result<(&'a [Window<'a>], i64, i64), QueryError> {
    match args.get(i) {
        Some(Arg::Matrix { windows, start, end }) => Ok((windows, *start, *end)),
        _ => Err(bad_args("a range vector", i)),
    }
}

/// The output of a range-vector function: `f`'s value for each window
/// where it has one, under the window's labels. Every such function but
/// `last_over_time` and `first_over_time` (`keep_name`) marks the name for
/// removal; a window whose name is already marked stays marked.
fn map_windows<'w>(
    ctx: &mut FnCtx<'_>,
    windows: &'w [Window<'w>],
    keep_name: bool,
    mut f: impl FnMut(&mut FnCtx<'_>, &'w Window<'w>) -> Option<f64>,
) -> Vec<Sample> {
    let mut out = Vec::with_capacity(windows.len());
    for w in windows {
        if let Some(v) = f(ctx, w) {
            out.push(Sample { labels: Arc::clone(w.labels), t: ctx.ts, v, drop_name: w.drop_name || !keep_name });
        }
    }
    out
}

/// Go's `time.Duration(ms * time.Millisecond).Seconds()`: whole seconds
/// plus the nanosecond remainder, which is how Prometheus turns a range
/// into seconds (not always bit-equal to `ms / 1000`).
fn duration_seconds(ms: i64) -> f64 {
    let ns = i128::from(ms) * 1_000_000;
    let sec = ns / 1_000_000_000;
    let nsec = ns % 1_000_000_000;
    sec as f64 + nsec as f64 / 1e9
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_knows_every_parser_function_but_the_evaluators() {
        let evaluators = ["absent", "absent_over_time", "info"];
        let parser_fns = [
            "abs",
            "absent",
            "absent_over_time",
            "acos",
            "acosh",
            "asin",
            "asinh",
            "atan",
            "atanh",
            "avg_over_time",
            "ceil",
            "changes",
            "clamp",
            "clamp_max",
            "clamp_min",
            "cos",
            "cosh",
            "count_over_time",
            "days_in_month",
            "day_of_month",
            "day_of_week",
            "day_of_year",
            "deg",
            "delta",
            "deriv",
            "end",
            "exp",
            "first_over_time",
            "floor",
            "histogram_avg",
            "histogram_count",
            "histogram_fraction",
            "histogram_quantile",
            "histogram_quantiles",
            "histogram_stddev",
            "histogram_stdvar",
            "histogram_sum",
            "info",
            "double_exponential_smoothing",
            "hour",
            "idelta",
            "increase",
            "integral",
            "irate",
            "label_replace",
            "label_join",
            "max_of",
            "last_over_time",
            "min_of",
            "ln",
            "log10",
            "log2",
            "mad_over_time",
            "max_over_time",
            "min_over_time",
            "ts_of_first_over_time",
            "ts_of_last_over_time",
            "ts_of_max_over_time",
            "ts_of_min_over_time",
            "minute",
            "month",
            "pi",
            "range",
            "predict_linear",
            "present_over_time",
            "quantile_over_time",
            "rad",
            "rate",
            "resets",
            "round",
            "scalar",
            "sgn",
            "start",
            "start_timestamp",
            "step",
            "sin",
            "sinh",
            "sort",
            "sort_desc",
            "sort_by_label",
            "sort_by_label_desc",
            "sqrt",
            "stddev_over_time",
            "stdvar_over_time",
            "sum_over_time",
            "tan",
            "tanh",
            "time",
            "timestamp",
            "vector",
            "year",
        ];
        for name in parser_fns {
            assert_eq!(lookup(name).is_some(), !evaluators.contains(&name), "{name}");
        }
        assert!(lookup("holt_winters").is_some());
        assert!(lookup("no_such_function").is_none());
    }

    #[test]
    fn holt_winters_parses_once_registered() {
        register_parser_extensions();
        register_parser_extensions();
        assert!(promql_parser::parser::parse("holt_winters(x[5m], 0.5, 0.5)").is_ok());
    }

    /// Every range-vector function with its other arguments.
    const RANGE_FUNCTIONS: &[(&str, &[f64], usize)] = &[
        ("rate", &[], 0),
        ("increase", &[], 0),
        ("delta", &[], 0),
        ("irate", &[], 0),
        ("idelta", &[], 0),
        ("deriv", &[], 0),
        ("predict_linear", &[60.0], 0),
        ("changes", &[], 0),
        ("resets", &[], 0),
        ("double_exponential_smoothing", &[0.5, 0.5], 0),
        ("holt_winters", &[0.5, 0.5], 0),
        ("integral", &[], 0),
        ("avg_over_time", &[], 0),
        ("sum_over_time", &[], 0),
        ("min_over_time", &[], 0),
        ("max_over_time", &[], 0),
        ("count_over_time", &[], 0),
        ("last_over_time", &[], 0),
        ("first_over_time", &[], 0),
        ("present_over_time", &[], 0),
        ("quantile_over_time", &[0.5], 1),
        ("stddev_over_time", &[], 0),
        ("stdvar_over_time", &[], 0),
        ("mad_over_time", &[], 0),
        ("ts_of_min_over_time", &[], 0),
        ("ts_of_max_over_time", &[], 0),
        ("ts_of_first_over_time", &[], 0),
        ("ts_of_last_over_time", &[], 0),
    ];

    fn call_with_windows(name: &str, windows: &[Window<'_>]) -> (Vec<Sample>, bool) {
        let &(_, scalars, matrix_at) = RANGE_FUNCTIONS.iter().find(|f| f.0 == name).unwrap();
        let mut args: Vec<Arg<'_>> = scalars.iter().map(|&v| Arg::Scalar(v)).collect();
        args.insert(matrix_at, Arg::Matrix { windows, start: 0, end: 60_000 });
        let mut h = test_util::Harness::new(60_000);
        let out = h.call(lookup(name).unwrap(), &args).unwrap();
        (out, h.annotations.is_empty())
    }

    #[test]
    fn range_functions_without_windows_return_nothing() {
        for &(name, _, _) in RANGE_FUNCTIONS {
            assert_eq!(call_with_windows(name, &[]), (vec![], true), "{name}");
        }
    }

    #[test]
    fn range_functions_on_one_point() {
        let l = test_util::labels(&[("__name__", "x_total")]);
        let pts = [Point { t: 30_000, v: 4.0 }];
        let w = [test_util::window(&l, &pts)];
        let needs_two = ["rate", "increase", "delta", "irate", "idelta", "deriv", "predict_linear"];
        let needs_two_too = ["double_exponential_smoothing", "holt_winters"];
        for &(name, _, _) in RANGE_FUNCTIONS {
            let (out, quiet) = call_with_windows(name, &w);
            assert!(quiet, "{name}");
            if needs_two.contains(&name) || needs_two_too.contains(&name) {
                assert!(out.is_empty(), "{name}");
                continue;
            }
            let want = match name {
                "changes" | "resets" | "integral" | "stddev_over_time" | "stdvar_over_time" | "mad_over_time" => 0.0,
                "count_over_time" | "present_over_time" => 1.0,
                n if n.starts_with("ts_of_") => 30.0,
                _ => 4.0,
            };
            assert_eq!(out.len(), 1, "{name}");
            assert_eq!(out[0].v, want, "{name}");
        }
    }

    #[test]
    fn duration_seconds_matches_go() {
        assert_eq!(duration_seconds(300_000), 300.0);
        assert_eq!(duration_seconds(1001), 1.0 + 0.001);
        assert_eq!(duration_seconds(-1500), -1.0 + -0.5);
    }
}
