//! Kahan–Neumaier compensated summation, step for step as Prometheus's
//! `util/kahansum` does it, so sums agree with Prometheus to the last bit.

/// Adds `inc` to the running `sum` with compensation `c`; returns the new
/// sum and compensation. When the sum overflows, the compensation is reset
/// (it would otherwise turn the infinity into NaN).
#[inline]
pub(super) fn inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensates_cancellation() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = inc(v, s, c);
        }
        assert_eq!(s + c, 2.0);
    }

    #[test]
    fn overflow_resets_compensation() {
        let (s, c) = inc(f64::MAX, f64::MAX, 1.0);
        assert_eq!((s, c), (f64::INFINITY, 0.0));
        let (s, c) = inc(f64::NAN, 1.0, 0.0);
        assert!(s.is_nan() && c.is_nan());
    }
}
