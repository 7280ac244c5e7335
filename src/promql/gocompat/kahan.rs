//! Kahan–Neumaier compensated summation, step for step as Prometheus's
//! `util/kahansum` does it, and the running mean of `avg` and
//! `avg_over_time` built on it, so sums and means agree with Prometheus to
//! the last bit.

/// Adds `inc` to the running `sum` with compensation `c`; returns the new
/// sum and compensation. When the sum overflows, the compensation is reset
/// (it would otherwise turn the infinity into NaN).
#[inline]
pub fn inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
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

/// Prometheus's mean of `avg` and `avg_over_time`: a compensated sum
/// divided at the end, switching to a compensated incremental mean only
/// once the running sum would overflow.
#[derive(Clone, Copy, Debug)]
pub struct Mean {
    sum: f64,
    mean: f64,
    c: f64,
    count: f64,
    incremental: bool,
}

impl Mean {
    /// The mean of the single value `first`.
    pub fn new(first: f64) -> Self {
        Mean { sum: first, mean: first, c: 0.0, count: 1.0, incremental: false }
    }

    /// Adds a further value.
    pub fn add(&mut self, f: f64) {
        self.count += 1.0;
        if !self.incremental {
            let (sum, c) = inc(f, self.sum, self.c);
            if !sum.is_infinite() {
                (self.sum, self.c) = (sum, c);
                return;
            }
            // The sum would overflow: continue with an incremental mean.
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        (self.mean, self.c) = inc(f / self.count, q * self.mean, q * self.c);
    }

    /// The mean of the values added so far.
    pub fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else {
            self.sum / self.count + self.c / self.count
        }
    }
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
    fn follows_prometheus() {
        assert_eq!(inc(1.0, 1e100, 0.0), (1e100, 1.0));
        assert_eq!(inc(1e100, 1.0, 0.0), (1e100, 1.0));
    }

    #[test]
    fn overflow_resets_compensation() {
        let (s, c) = inc(f64::MAX, f64::MAX, 1.0);
        assert_eq!((s, c), (f64::INFINITY, 0.0));
        assert_eq!(inc(f64::INFINITY, 1.0, 5.0), (f64::INFINITY, 0.0));
        let (s, c) = inc(f64::NAN, 1.0, 0.0);
        assert!(s.is_nan() && c.is_nan());
    }

    fn mean(values: &[f64]) -> f64 {
        let mut m = Mean::new(values[0]);
        values[1..].iter().for_each(|&v| m.add(v));
        m.value()
    }

    #[test]
    fn mean_is_compensated() {
        assert_eq!(mean(&[5.0]), 5.0);
        assert_eq!(mean(&[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(mean(&[1.0, 1e100, 1.0, -1e100]), 0.5);
        assert_eq!(mean(&[52.0; 101]), 52.0);
    }

    #[test]
    fn mean_switches_to_incremental_on_overflow() {
        let m = f64::MAX;
        assert!((mean(&[m, m, m, m]) - m).abs() <= m * 1e-15);
        assert!(mean(&[m, m, -m, -m]).abs() < m * 1e-15);
        assert_eq!(mean(&[f64::INFINITY, 0.0, f64::INFINITY]), f64::INFINITY);
        assert!(mean(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }
}
