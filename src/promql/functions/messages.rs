//! The texts of the annotations and errors functions raise, worded and
//! formatted exactly as Prometheus's `util/annotations` and
//! `promql/functions.go` produce them (Go's `%g`, `%f` and `%q`).

use super::super::error::QueryError;

/// `metric might not be a counter …` (info, `rate` and `increase`).
pub(super) fn possible_non_counter(metric_name: &str) -> String {
    format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}", go_quote(metric_name))
}

/// `quantile value should be between 0 and 1, got …` (warning).
pub(super) fn invalid_quantile(q: f64) -> String {
    format!("quantile value should be between 0 and 1, got {}", go_g(q))
}

/// `bucket label "le" is missing or has a malformed value of …` (warning).
pub(super) fn bad_bucket_label(metric_name: &str, le: &str) -> String {
    with_metric_name(
        format!("bucket label \"le\" is missing or has a malformed value of {}", go_quote(le)),
        metric_name,
    )
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
    format!("strategy should be 0, 1, or 2 (default), using 2, got {}", go_g(strategy))
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
        msg.push_str(&go_quote(metric_name));
    }
    msg
}

/// Go's `%g` for a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`): the
/// shortest representation that round-trips, in exponent form (at least two
/// exponent digits) when the decimal exponent is below -4 or at least 6.
/// Infinities carry a sign.
pub(super) fn go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345e-7`.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        out.push_str(&abs.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
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

/// Go's `%q` for a string: double quotes, with `\"`, `\\`, the C escapes and
/// `\x`/`\u`/`\U` for characters Go does not print as they are.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || (c.is_whitespace() && c != ' ') || c == '\u{ad}' => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_formats_like_strconv() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (1.5, "1.5"),
            (2.0, "2"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (-2.5e-300, "-2.5e-300"),
            (0.1, "0.1"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(v, want) in cases {
            assert_eq!(go_g(v), want, "{v}");
        }
    }

    #[test]
    fn go_f_has_six_decimals() {
        assert_eq!(go_f(1.0), "1.000000");
        assert_eq!(go_f(-0.5), "-0.500000");
        assert_eq!(go_f(f64::INFINITY), "+Inf");
        assert_eq!(go_f(f64::NAN), "NaN");
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("abc"), r#""abc""#);
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("a\nb\tc\u{1}"), r#""a\nb\tc\x01""#);
        assert_eq!(go_quote("é€"), "\"é€\"");
        assert_eq!(go_quote("\u{a0}"), r#""\u00a0""#);
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
