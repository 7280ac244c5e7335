//! The texts of the annotations and errors functions raise, worded and
//! formatted exactly as Prometheus's `util/annotations` and
//! `promql/functions.go` produce them (Go's `%g`, `%f` and `%q`).

use super::super::error::QueryError;
use super::super::gocompat::format::{format_g, quote};

/// `metric might not be a counter …` (info, `rate` and `increase`).
pub(super) fn possible_non_counter(metric_name: &str) -> String {
    format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}", quote(metric_name))
}

/// `quantile value should be between 0 and 1, got …` (warning).
pub(crate) fn invalid_quantile(q: f64) -> String {
    format!("quantile value should be between 0 and 1, got {}", format_g(q))
}

/// `bucket label "le" is missing or has a malformed value of …` (warning).
pub(super) fn bad_bucket_label(metric_name: &str, le: &str) -> String {
    with_metric_name(format!("bucket label \"le\" is missing or has a malformed value of {}", quote(le)), metric_name)
}

/// The info raised when classic buckets had to be made monotonic. Prometheus
/// appends the affected bucket range and time span, which it merges across
/// steps; one message per metric name is what this module can give.
pub(super) fn forced_monotonicity(metric_name: &str) -> String {
    with_metric_name(
        "input to histogram_quantile needed to be fixed for monotonicity (see \
         https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)"
            .to_owned(),
        metric_name,
    )
}

/// The warning for `sort*` in a range query.
pub(super) const SORT_IN_RANGE_QUERY: &str =
    "sort is ineffective for range queries since results are always ordered by labels";

/// `strategy should be 0, 1, or 2 …` (warning, `integral`).
pub(super) fn invalid_integral_strategy(strategy: f64) -> String {
    format!("strategy should be 0, 1, or 2 (default), using 2, got {}", format_g(strategy))
}

/// Prometheus's error when one step's output holds a label set twice.
pub(super) fn duplicate_labelset() -> QueryError {
    QueryError::execution("vector cannot contain metrics with the same labelset")
}

/// `double_exponential_smoothing`'s error for a factor outside (0, 1).
pub(super) fn invalid_smoothing_factor(which: &str, short: &str, v: f64) -> QueryError {
    QueryError::execution(format!("invalid {which} factor. Expected: 0 < {short} < 1, got: {}", go_f(v)))
}

/// Appends ` for metric name "…"` unless the name is empty.
fn with_metric_name(mut msg: String, metric_name: &str) -> String {
    if !metric_name.is_empty() {
        msg.push_str(" for metric name ");
        msg.push_str(&quote(metric_name));
    }
    msg
}

/// Go's `%f`: six decimals, `NaN`, `+Inf`, `-Inf`.
fn go_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_f_has_six_decimals() {
        assert_eq!(go_f(1.0), "1.000000");
        assert_eq!(go_f(-0.5), "-0.500000");
        assert_eq!(go_f(f64::INFINITY), "+Inf");
        assert_eq!(go_f(f64::NAN), "NaN");
    }

    #[test]
    fn texts_match_prometheus() {
        assert_eq!(
            possible_non_counter("foo"),
            r#"metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "foo""#
        );
        assert_eq!(invalid_quantile(-1.0), "quantile value should be between 0 and 1, got -1");
        assert_eq!(invalid_quantile(f64::NAN), "quantile value should be between 0 and 1, got NaN");
        assert_eq!(
            bad_bucket_label("x_bucket", "abc"),
            r#"bucket label "le" is missing or has a malformed value of "abc" for metric name "x_bucket""#
        );
        assert_eq!(bad_bucket_label("", ""), r#"bucket label "le" is missing or has a malformed value of """#);
        assert_eq!(
            forced_monotonicity("x_bucket"),
            "input to histogram_quantile needed to be fixed for monotonicity (see \
             https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) \
             for metric name \"x_bucket\""
        );
        assert_eq!(
            invalid_smoothing_factor("smoothing", "sf", 1.0).message(),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
        );
        assert_eq!(invalid_integral_strategy(3.5), "strategy should be 0, 1, or 2 (default), using 2, got 3.5");
    }
}
