//! Aggregations of each series over its range window: `avg_over_time`,
//! `sum_over_time`, `min_over_time`, `max_over_time`, `count_over_time`,
//! `last_over_time`, `first_over_time`, `present_over_time`,
//! `quantile_over_time`, `stddev_over_time`, `stdvar_over_time`,
//! `mad_over_time` and `ts_of_{min,max,first,last}_over_time`.
//!
//! `last_over_time` and `first_over_time` act like `offset` and keep the
//! metric name; the others mark it for removal. Sums use Kahan summation
//! as Prometheus does. Only the quantile functions need scratch space, a
//! per-thread buffer reused across calls.

use std::cell::RefCell;

use super::super::value::{Point, Sample};
use super::{map_windows, matrix_arg, messages, scalar_arg, Arg, FnCtx, Window};
use crate::promql::error::QueryError;
use crate::promql::gocompat::kahan::{self, Mean};
use crate::promql::gocompat::sort::sort;

/// Applies `f` to the points of each window of argument 0, marking the
/// name for removal.
fn aggregate(ctx: &mut FnCtx<'_>, args: &[Arg<'_>], f: impl Fn(&[Point]) -> f64) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    Ok(map_windows(ctx, windows, false, |_, w: &Window<'_>| (!w.points.is_empty()).then(|| f(w.points))))
}

/// `avg_over_time`: the mean, summed directly with Kahan compensation and
/// switching to an incremental mean if the sum would overflow.
pub(super) fn avg_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| {
        let mut mean = Mean::new(points[0].v);
        points[1..].iter().for_each(|p| mean.add(p.v));
        mean.value()
    })
}

/// `sum_over_time`: the Kahan-compensated sum.
pub(super) fn sum_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| {
        let (mut sum, mut c) = (0.0, 0.0);
        for p in points {
            (sum, c) = kahan::inc(p.v, sum, c);
        }
        if sum.is_infinite() {
            sum
        } else {
            sum + c
        }
    })
}

/// The point whose value `better` prefers, scanning in time order (a NaN
/// is replaced by anything); `better` decides whether ties go to the later
/// point.
fn extreme(points: &[Point], better: impl Fn(f64, f64) -> bool) -> Point {
    let mut best = points[0];
    for p in points {
        if better(p.v, best.v) || best.v.is_nan() {
            best = *p;
        }
    }
    best
}

/// `min_over_time`: the smallest value; NaN only if all are NaN.
pub(super) fn min_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| extreme(points, |cur, best| cur < best).v)
}

/// `max_over_time`: the largest value; NaN only if all are NaN.
pub(super) fn max_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| extreme(points, |cur, best| cur > best).v)
}

/// `ts_of_min_over_time`: when the smallest value last occurred (seconds).
pub(super) fn ts_of_min_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| seconds(extreme(points, |cur, best| cur <= best).t))
}

/// `ts_of_max_over_time`: when the largest value last occurred (seconds).
pub(super) fn ts_of_max_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| seconds(extreme(points, |cur, best| cur >= best).t))
}

/// `ts_of_first_over_time`: the first point's time (seconds).
pub(super) fn ts_of_first_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| seconds(points[0].t))
}

/// `ts_of_last_over_time`: the last point's time (seconds).
pub(super) fn ts_of_last_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| seconds(points[points.len() - 1].t))
}

fn seconds(t: i64) -> f64 {
    t as f64 / 1000.0
}

/// `count_over_time`: the number of points.
pub(super) fn count_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| points.len() as f64)
}

/// `present_over_time`: 1 for every series with a point.
pub(super) fn present_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |_| 1.0)
}

/// `last_over_time`: the last value, name kept.
pub(super) fn last_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    Ok(map_windows(ctx, windows, true, |_, w| w.points.last().map(|p| p.v)))
}

/// `first_over_time`: the first value, name kept.
pub(super) fn first_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    Ok(map_windows(ctx, windows, true, |_, w| w.points.first().map(|p| p.v)))
}

/// `stdvar_over_time`: the population variance.
pub(super) fn stdvar_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, variance)
}

/// `stddev_over_time`: the population standard deviation.
pub(super) fn stddev_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| variance(points).sqrt())
}

/// Welford's online variance with Kahan-compensated accumulators.
fn variance(points: &[Point]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in points {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan::inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan::inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `quantile_over_time(q, v[d])`: the φ-quantile of the values, linearly
/// interpolated; -Inf below 0, +Inf above 1, with a warning.
pub(super) fn quantile_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let q = scalar_arg(args, 0)?;
    let (windows, _, _) = matrix_arg(args, 1)?;
    if !windows.is_empty() && (q.is_nan() || !(0.0..=1.0).contains(&q)) {
        ctx.annotations.warn(messages::invalid_quantile(q), ctx.arg_position(0));
    }
    Ok(map_windows(ctx, windows, false, |_, w| {
        (!w.points.is_empty()).then(|| with_scratch(w.points, |values| quantile(q, values)))
    }))
}

/// `mad_over_time`: the median absolute deviation from the median; NaN if
/// any value is NaN.
pub(super) fn mad_over_time(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    aggregate(ctx, args, |points| {
        if points.iter().any(|p| p.v.is_nan()) {
            return f64::NAN;
        }
        with_scratch(points, |values| {
            let median = quantile(0.5, values);
            for v in values.iter_mut() {
                *v = (*v - median).abs();
            }
            quantile(0.5, values)
        })
    })
}

/// Runs `f` on a copy of the points' values in a per-thread buffer.
fn with_scratch(points: &[Point], f: impl FnOnce(&mut [f64]) -> f64) -> f64 {
    thread_local! {
        static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        buf.extend(points.iter().map(|p| p.v));
        f(buf)
    })
}

/// Prometheus's `quantile` (of `quantile_over_time` and the `quantile`
/// aggregation): sorts `values` (NaN first, in Go's order) and interpolates
/// between the two values around rank `q·(n-1)`. NaN for no values or a NaN
/// `q`, -Inf below 0, +Inf above 1.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    sort(values, |a, b| a.is_nan() || a < b);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (n - 1.0).min(lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_float, call_range, in_window, labels, points_s, regular, window, Harness};
    use super::super::FnImpl;
    use super::*;

    fn one(v: Vec<f64>) -> f64 {
        assert_eq!(v.len(), 1, "{v:?}");
        v[0]
    }

    const INF: f64 = f64::INFINITY;
    const NAN: f64 = f64::NAN;

    #[test]
    fn avg_over_time_handles_windows_and_infinities() {
        let metric = regular(0, 10, &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(call_range(avg_over_time, &in_window(&metric, 55, 10), 55, 10).is_empty());
        assert_float(one(call_range(avg_over_time, &in_window(&metric, 55, 20), 55, 20)), 5.0, 0.0);
        assert_float(one(call_range(avg_over_time, &metric, 55, 60)), 3.0, 0.0);
        let big = 9.988_465_674_311_58e307;
        let cases: &[(&[f64], f64)] = &[
            (&[1.0, 2.0, 3.0, 4.0, INF], INF),
            (&[1.0, 2.0, 3.0, 4.0, -INF], -INF),
            (&[1.0, 2.0, 3.0, INF, -INF], NAN),
            (&[INF, 0.0, INF], INF),
            (&[INF, INF, INF, -INF], NAN),
            (&[1.0, 2.0, 3.0, -INF, -INF], -INF),
            (&[-INF, 0.0, -INF], -INF),
            (&[-INF, -INF, -INF, INF], NAN),
            (&[1.0, 2.0, -INF, -INF, INF], NAN),
            (&[big, big], big),
            (&[-big, -big, -big], -big),
            (&[-big, big], 0.0),
            (&[1.0, 2.0, 3.0, NAN, NAN], NAN),
            (&[1.0, 1e100, 1.0, -1e100], 0.5),
        ];
        for &(values, want) in cases {
            assert_float(one(call_range(avg_over_time, &regular(0, 10, values), 55, 60)), want, 0.0);
        }
    }

    #[test]
    fn avg_over_time_keeps_precision_across_magnitudes() {
        let cases: &[(&[f64], f64)] = &[
            (&[1e10, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6], 1.6666666666666675e9),
            (
                &[
                    5.30921651659898,
                    0.961118537914768,
                    1.62091361305318,
                    0.865089463758091,
                    0.323055185914577,
                    0.951811357687154,
                ],
                1.67186744582113,
            ),
            (&[1.78264e50, 0.76342771, 1.9592258, 7.69805412, 458.90154], 3.56528e49),
            (&[0.76342771, 1.9592258, 7.69805412, 1.78264e50, 458.90154], 3.56528e49),
            (&[1.78264e50, 0.76342771, 1.9592258, 2.258e220, 7.69805412, 458.90154], 3.76333333333333e219),
            (&[-1.78264e50, 0.76342771, 1.9592258, 2.258e220, 7.69805412, -458.90154], 3.76333333333333e219),
            (&[-1.78264e50, 0.76342771, 1.9592258, -2.258e220, 7.69805412, -458.90154], -3.76333333333333e219),
            (&[-1.78264e215, 0.76342771, 1.9592258, 2.258e220, 7.69805412, -458.90154], 3.76330362266667e219),
            (
                &[-1.78264e215, 0.76342771, 1.9592258, 2.258e220, 7.69805412, 1.78264e215, -458.90154],
                3.225714285714286e219,
            ),
            (
                &[
                    -1.78264e219,
                    0.76342771,
                    1.9592258,
                    2.3757689e217,
                    -2.3757689e217,
                    2.258e220,
                    7.69805412,
                    1.78264e219,
                    -458.90154,
                ],
                2.5088888888888888e219,
            ),
            (
                &[
                    -2.258e220,
                    -1.78264e219,
                    0.76342771,
                    1.9592258,
                    2.3757689e217,
                    -2.3757689e217,
                    2.258e220,
                    7.69805412,
                    1.78264e219,
                    -458.90154,
                ],
                0.0,
            ),
        ];
        for &(values, want) in cases {
            assert_float(one(call_range(avg_over_time, &regular(0, 5, values), 55, 60)), want, 1e-12);
        }
        // Exactly 52, with no accumulated error.
        let foo = regular(0, 10, &[52.0; 101]);
        for range in [100, 110, 120, 130] {
            assert_float(one(call_range(avg_over_time, &in_window(&foo, 600, range), 600, range)), 52.0, 0.0);
        }
    }

    #[test]
    fn avg_over_time_switches_to_an_incremental_mean_on_overflow() {
        let m = f64::MAX;
        assert_float(one(call_range(avg_over_time, &regular(0, 1, &[m, m, m, m]), 4, 10)), m, 1e-15);
        // The incremental mean is not exact, but close to 0 relative to the inputs.
        let got = one(call_range(avg_over_time, &regular(0, 1, &[m, m, -m, -m]), 4, 10));
        assert!(got.abs() < m * 1e-15, "{got}");
    }

    #[test]
    fn sum_over_time_is_compensated() {
        assert_float(one(call_range(sum_over_time, &regular(0, 10, &[1.0, 1e100, 1.0, -1e100]), 60, 120)), 2.0, 0.0);
        let dense: Vec<Point> = (0..=4000).map(|t| Point { t, v: 1.0 }).collect();
        for range_ms in [1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003, 3000, 3003] {
            let pts: Vec<Point> = dense.iter().copied().filter(|p| p.t > 4000 - range_ms && p.t <= 4000).collect();
            let l = labels(&[]);
            let w = [window(&l, &pts)];
            let out = Harness::new(4000)
                .call(sum_over_time, &[Arg::Matrix { windows: &w, start: 4000 - range_ms, end: 4000 }])
                .unwrap();
            assert_float(out[0].v, range_ms as f64, 0.0);
        }
        assert_float(one(call_range(sum_over_time, &regular(0, 1, &[f64::MAX, f64::MAX]), 2, 10)), INF, 0.0);
        assert_float(one(call_range(sum_over_time, &regular(0, 1, &[-0.0]), 2, 10)), 0.0, 0.0);
    }

    #[test]
    fn min_and_max_skip_nan_unless_all_are() {
        let cases: &[(&[f64], f64, f64)] = &[
            (&[2.0, 0.0, 3.0], 0.0, 3.0),
            (&[2.0, 0.0, NAN], 0.0, 2.0),
            (&[2.0, NAN, 1.0], 1.0, 2.0),
            (&[NAN, 0.0, 1.0], 0.0, 1.0),
            (&[NAN, NAN, NAN], NAN, NAN),
            (&[-0.0, 0.0], -0.0, -0.0),
        ];
        for &(values, min, max) in cases {
            let pts = regular(0, 10, values);
            assert_float(one(call_range(min_over_time, &pts, 60, 120)), min, 0.0);
            assert_float(one(call_range(max_over_time, &pts, 60, 120)), max, 0.0);
        }
    }

    #[test]
    fn ts_of_functions_report_seconds() {
        let pts: Vec<Point> = [1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 2.0, 1.0, 4.0]
            .iter()
            .enumerate()
            .map(|(i, &v)| Point { t: i as i64 * 10_053, v })
            .filter(|p| p.t > 0)
            .collect();
        assert_float(one(call_range(ts_of_min_over_time, &pts, 90, 90)), 30.159, 0.0);
        assert_float(one(call_range(ts_of_max_over_time, &pts, 90, 90)), 50.265, 0.0);
        assert_float(one(call_range(ts_of_first_over_time, &pts, 90, 90)), 10.053, 0.0);
        assert_float(one(call_range(ts_of_last_over_time, &pts, 90, 90)), 80.424, 0.0);
        // Ties go to the later point; a leading NaN is replaced.
        let ties = points_s(&[(1, NAN), (2, 5.0), (3, 1.0), (4, 5.0), (5, 1.0)]);
        assert_float(one(call_range(ts_of_max_over_time, &ties, 5, 10)), 4.0, 0.0);
        assert_float(one(call_range(ts_of_min_over_time, &ties, 5, 10)), 5.0, 0.0);
        assert_float(one(call_range(max_over_time, &ties, 5, 10)), 5.0, 0.0);
    }

    #[test]
    fn count_present_first_last() {
        let pts = points_s(&[(10, 5.0), (20, 2.0), (40, 4.0)]);
        assert_float(one(call_range(count_over_time, &pts, 60, 120)), 3.0, 0.0);
        assert_float(one(call_range(present_over_time, &pts, 60, 120)), 1.0, 0.0);
        assert_float(one(call_range(first_over_time, &pts, 60, 120)), 5.0, 0.0);
        assert_float(one(call_range(last_over_time, &pts, 60, 120)), 4.0, 0.0);
        let nan = points_s(&[(10, NAN)]);
        assert!(one(call_range(last_over_time, &nan, 60, 120)).is_nan());
    }

    #[test]
    fn only_first_and_last_over_time_keep_the_name() {
        let l = labels(&[("__name__", "data")]);
        let pts = points_s(&[(10, 1.0)]);
        let fns: [(FnImpl, bool); 6] = [
            (last_over_time, true),
            (first_over_time, true),
            (count_over_time, false),
            (ts_of_last_over_time, false),
            (avg_over_time, false),
            (present_over_time, false),
        ];
        for (f, keeps) in fns {
            for marked in [false, true] {
                let w = [Window { labels: &l, points: &pts, drop_name: marked, drops: None }];
                let out = Harness::new(20_000).call(f, &[Arg::Matrix { windows: &w, start: 0, end: 20_000 }]).unwrap();
                assert_eq!(out[0].drop_name, marked || !keeps);
                assert_eq!(out[0].labels, l);
            }
        }
    }

    #[test]
    fn stddev_and_stdvar() {
        let pts = regular(0, 10, &[0.0, 8.0, 8.0, 2.0, 3.0]);
        assert_float(one(call_range(stdvar_over_time, &pts, 60, 120)), 10.56, 1e-12);
        assert_float(one(call_range(stddev_over_time, &pts, 60, 120)), 3.249615361854384, 1e-12);
        let same = regular(0, 10, &[1.5990505637277868; 3]);
        assert_float(one(call_range(stdvar_over_time, &same, 55, 60)), 0.0, 0.0);
        assert_float(one(call_range(stddev_over_time, &same, 55, 60)), 0.0, 0.0);
        assert_float(one(call_range(stddev_over_time, &regular(0, 10, &[4.0]), 55, 60)), 0.0, 0.0);
    }

    #[test]
    fn mad_over_time_is_the_median_deviation() {
        let cases: &[(&[f64], f64)] = &[
            (&[6.0, 2.0, 1.0, 999.0, 1.0, 2.0], 1.0),
            (&[1.0, 2.0, 3.0, 4.0, 5.0], 1.0),
            (&[7.0; 5], 0.0),
            (&[5.0], 0.0),
            (&[1.0, 2.0, NAN, 4.0], NAN),
        ];
        for &(values, want) in cases {
            assert_float(one(call_range(mad_over_time, &regular(0, 10, values), 60, 120)), want, 0.0);
        }
    }

    fn quantiles(q: f64, series: &[&[f64]]) -> (Vec<f64>, Vec<(String, Option<usize>)>) {
        let l = labels(&[]);
        let pts: Vec<Vec<Point>> = series.iter().map(|v| regular(0, 10, v)).collect();
        let w: Vec<Window<'_>> = pts.iter().map(|p| window(&l, p)).collect();
        let mut h = Harness::new(60_000);
        h.arg_positions = vec![Some(19), Some(25)];
        let out =
            h.call(quantile_over_time, &[Arg::Scalar(q), Arg::Matrix { windows: &w, start: -60_000, end: 60_000 }]);
        (out.unwrap().iter().map(|s| s.v).collect(), h.warnings())
    }

    #[test]
    fn quantile_over_time_interpolates() {
        let data: &[&[f64]] = &[&[0.0, 1.0], &[0.0, 1.0, 2.0], &[0.0, 1.0, 4.0]];
        let cases = [
            (0.0, [0.0, 0.0, 0.0]),
            (0.5, [0.5, 1.0, 1.0]),
            (0.75, [0.75, 1.5, 2.5]),
            (0.8, [0.8, 1.6, 2.8]),
            (1.0, [1.0, 2.0, 4.0]),
        ];
        for (q, want) in cases {
            let (got, warnings) = quantiles(q, data);
            for (g, w) in got.iter().zip(want) {
                assert_float(*g, w, 1e-12);
            }
            assert!(warnings.is_empty());
        }
        for (q, want) in [(-1.0, -INF), (2.0, INF), (NAN, NAN)] {
            let (got, warnings) = quantiles(q, data);
            assert_eq!(got.len(), 3);
            got.iter().for_each(|g| assert_float(*g, want, 0.0));
            assert_eq!(warnings, [(messages::invalid_quantile(q), Some(19))]);
        }
        // No series, no warning.
        assert_eq!(quantiles(2.0, &[]), (vec![], vec![]));
        // NaN sorts first.
        assert!(quantiles(0.0, &[&[1.0, NAN, 2.0]]).0[0].is_nan());
        assert_float(quantiles(1.0, &[&[1.0, NAN, 2.0]]).0[0], 2.0, 0.0);
    }

    #[test]
    fn quantile_function_matches_prometheus() {
        assert!(quantile(0.5, &mut []).is_nan());
        assert!(quantile(f64::NAN, &mut [1.0]).is_nan());
        assert_eq!(quantile(-0.1, &mut [1.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(1.1, &mut [1.0]), f64::INFINITY);
        assert_eq!(quantile(0.5, &mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(quantile(0.25, &mut [4.0, 1.0, 3.0, 2.0]), 1.75);
        assert!(quantile(0.0, &mut [4.0, f64::NAN, 2.0]).is_nan());
        assert_eq!(quantile(1.0, &mut [4.0, f64::NAN, 2.0]), 4.0);
    }
}
