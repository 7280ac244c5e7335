//! Prometheus's `util/almost`: the float comparison its test runner uses
//! for expected values and `histogram_quantile` uses to find buckets whose
//! counts only differ by rounding.

use crate::promql::value::is_stale_marker;

/// `almost.Equal(a, b, epsilon)`: stale markers match only each other, any
/// two other NaNs match, equal values match, and otherwise the difference
/// relative to `|a| + |b|` must be below `epsilon` (absolute, scaled by the
/// smallest normal, when either side is 0 or the sum is subnormal).
pub fn equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_marker(a) || is_stale_marker(b) {
        return is_stale_marker(a) && is_stale_marker(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::value::STALE_NAN_BITS;

    #[test]
    fn follows_prometheus_test_runner_cases() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let cases: &[(f64, f64, bool)] = &[
            (1.0, 1.0, true),
            (1.0, 1.0 + 1e-7, true),
            (1.0, 1.00001, false),
            (1e300, 1e300 * (1.0 + 1e-7), true),
            (0.0, 1e-300, false),
            (0.0, 0.0, true),
            (0.0, -0.0, true),
            (1e-310, 2e-310, false), // sum subnormal: absolute test against 1e-6 × min normal
            (1e-315, 1.00001e-315, true),
            (1e-300, 1.0000001e-300, true),
            (f64::NAN, f64::from_bits(0x7ff8_0000_0000_0001), true),
            (stale, stale, true),
            (stale, f64::NAN, false),
            (f64::NAN, stale, false),
            (f64::INFINITY, f64::INFINITY, true),
            (f64::INFINITY, f64::NEG_INFINITY, false),
            (f64::INFINITY, f64::MAX, false),
            (f64::MAX, f64::MAX * (1.0 - 1e-9), true), // |a|+|b| overflows to Inf: capped at MAX
            (-2.0, 2.0, false),
        ];
        for &(a, b, want) in cases {
            assert_eq!(equal(a, b, 1e-6), want, "{a} vs {b}");
            assert_eq!(equal(b, a, 1e-6), want, "{b} vs {a}");
        }
    }
}
