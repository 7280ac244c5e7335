//! Functions over range windows that look at how a series moves: `rate`,
//! `increase` and `delta` (with Prometheus's extrapolation), `irate` and
//! `idelta` (the last two points), `deriv` and `predict_linear` (least
//! squares), `changes`, `resets`, `double_exponential_smoothing` (and its
//! Prometheus 2.x name `holt_winters`) and the experimental `integral`.
//!
//! Every one of them marks the metric name for removal. None allocates per
//! window. `rate`, `increase` and `resets` find a window's counter resets
//! through the series' drop index ([`super::Drops`]) when the evaluator made
//! one, so a long window costs them no more than a short one.

use super::super::value::{Labels, Point, Sample, METRIC_NAME};
use super::{duration_seconds, map_windows, matrix_arg, messages, opt_scalar_arg, scalar_arg, Arg, FnCtx, Window};
use crate::promql::error::QueryError;
use crate::promql::gocompat::kahan;

/// `rate(v[d])`: per-second increase, counter resets corrected, extrapolated.
pub(super) fn rate(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    extrapolated(ctx, args, true, true)
}

/// `increase(v[d])`: increase over the window, counter resets corrected,
/// extrapolated.
pub(super) fn increase(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    extrapolated(ctx, args, true, false)
}

/// `delta(v[d])`: difference over the window of a gauge, extrapolated.
pub(super) fn delta(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    extrapolated(ctx, args, false, false)
}

fn extrapolated(
    ctx: &mut FnCtx<'_>,
    args: &[Arg<'_>],
    is_counter: bool,
    is_rate: bool,
) -> Result<Vec<Sample>, QueryError> {
    let (windows, start, end) = matrix_arg(args, 0)?;
    let range_s = duration_seconds(end - start);
    // One info per metric name: consecutive windows usually share it.
    let mut last_flagged: Option<&str> = None;
    Ok(map_windows(ctx, windows, false, |ctx, w| {
        let v = extrapolated_rate(w, start, end, range_s, is_counter, is_rate)?;
        // `is_counter` is exactly `rate` and `increase`, which Prometheus
        // checks for a counter-like name when a series has a result.
        if is_counter {
            if let Some(name) = metric_name(w.labels) {
                if last_flagged != Some(name) && !is_counter_name(name) {
                    ctx.annotations.info(messages::possible_non_counter(name), ctx.arg_position(0));
                    last_flagged = Some(name);
                }
            }
        }
        Some(v)
    }))
}

/// The metric name of `labels`. Label sets are sorted by name and
/// `__name__` is almost always the first label, so that one is looked at
/// before searching.
fn metric_name(labels: &Labels) -> Option<&str> {
    match labels.as_slice().first() {
        Some(l) if l.name == METRIC_NAME => Some(&l.value),
        _ => labels.metric_name(),
    }
}

/// Names Prometheus trusts to be counters.
fn is_counter_name(name: &str) -> bool {
    name.is_empty() || ["_total", "_sum", "_count", "_bucket"].iter().any(|s| name.ends_with(s))
}

/// Prometheus's `extrapolatedRate` over float points in `(start, end]`.
///
/// The difference between the first and last point (plus, for counters,
/// the value before each drop) is extrapolated towards each end of the
/// window: all the way if the gap to it is less than 1.1 average sample
/// intervals, else by half an interval; a counter is not extrapolated to
/// before the time it would have been zero.
fn extrapolated_rate(
    w: &Window<'_>,
    start: i64,
    end: i64,
    range_s: f64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let points = w.points;
    let (first, last) = match points {
        [first, .., last] => (*first, *last),
        _ => return None,
    };
    let mut result = last.v - first.v;
    if is_counter {
        // The value before each drop, in time order.
        w.for_each_drop(|j| result += points[j - 1].v);
    }
    let mut to_start = (first.t - start) as f64 / 1000.0;
    let mut to_end = (end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_interval = sampled / (points.len() - 1) as f64;
    let threshold = avg_interval * 1.1;
    if to_start >= threshold {
        to_start = avg_interval / 2.0;
    }
    if is_counter {
        // Counters cannot be negative: stop at the zero point if it is closer.
        let mut to_zero = to_start;
        if result > 0.0 && first.v >= 0.0 {
            to_zero = sampled * (first.v / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_interval / 2.0;
    }
    let mut factor = 1.0;
    if sampled != 0.0 {
        factor = (sampled + to_start + to_end) / sampled;
    }
    if is_rate {
        factor /= range_s;
    }
    Some(result * factor)
}

/// `irate(v[d])`: per-second rate between the last two points.
pub(super) fn irate(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    Ok(map_windows(ctx, windows, false, |_, w| instant_value(w.points, true)))
}

/// `idelta(v[d])`: difference between the last two points.
pub(super) fn idelta(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    Ok(map_windows(ctx, windows, false, |_, w| instant_value(w.points, false)))
}

/// Prometheus's `instantValue`. For `irate`, a drop is a counter reset and
/// the later value is the increase.
fn instant_value(points: &[Point], is_rate: bool) -> Option<f64> {
    let [.., prev, last] = points else {
        return None;
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    let reset = is_rate && last.v < prev.v;
    let mut v = if reset { last.v } else { last.v - prev.v };
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// `deriv(v[d])`: per-second slope of the least-squares line.
pub(super) fn deriv(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    Ok(map_windows(ctx, windows, false, |_, w| {
        // An intercept time near the values keeps the sums accurate.
        (w.points.len() >= 2).then(|| linear_regression(w.points, w.points[0].t).0)
    }))
}

/// `predict_linear(v[d], t)`: the least-squares line's value `t` seconds
/// after the evaluation time.
pub(super) fn predict_linear(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    let duration = scalar_arg(args, 1)?;
    Ok(map_windows(ctx, windows, false, |ctx, w| {
        (w.points.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(w.points, ctx.ts);
            slope * duration + intercept
        })
    }))
}

/// Least-squares fit of the points (x in seconds relative to
/// `intercept_time`); returns slope and the value at `intercept_time`. A
/// constant series has slope 0, or NaN if the constant is infinite.
fn linear_regression(points: &[Point], intercept_time: i64) -> (f64, f64) {
    let init_y = points[0].v;
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, p) in points.iter().enumerate() {
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan::inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan::inc(p.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan::inc(x * p.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan::inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `changes(v[d])`: how often the value changed (NaN to NaN is no change).
pub(super) fn changes(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    Ok(map_windows(ctx, windows, false, |_, w| {
        count_pairs(w.points, |prev, cur| cur != prev && !(cur.is_nan() && prev.is_nan()))
    }))
}

/// `resets(v[d])`: how often the value dropped.
pub(super) fn resets(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    Ok(map_windows(ctx, windows, false, |_, w| {
        let mut n = 0usize;
        w.for_each_drop(|_| n += 1);
        (!w.points.is_empty()).then_some(n as f64)
    }))
}

/// How many consecutive pairs satisfy `hit`; `None` for no points.
fn count_pairs(points: &[Point], hit: impl Fn(f64, f64) -> bool) -> Option<f64> {
    let first = points.first()?;
    let mut prev = first.v;
    let mut n = 0usize;
    for p in &points[1..] {
        if hit(prev, p.v) {
            n += 1;
        }
        prev = p.v;
    }
    Some(n as f64)
}

/// `double_exponential_smoothing(v[d], sf, tf)` (Prometheus 2.x:
/// `holt_winters`): Holt's linear smoothing with smoothing factor `sf` and
/// trend factor `tf`, both in (0, 1).
pub(super) fn double_exponential_smoothing(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    let sf = scalar_arg(args, 1)?;
    let tf = scalar_arg(args, 2)?;
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    // Written so that NaN passes, as in Prometheus.
    if sf <= 0.0 || sf >= 1.0 {
        return Err(messages::invalid_smoothing_factor("smoothing", "sf", sf));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(messages::invalid_smoothing_factor("trend", "tf", tf));
    }
    Ok(map_windows(ctx, windows, false, |_, w| smooth(w.points, sf, tf)))
}

fn smooth(points: &[Point], sf: f64, tf: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = points[0].v;
    let mut b = points[1].v - points[0].v;
    for (i, p) in points.iter().enumerate().skip(1) {
        let x = sf * p.v;
        // The trend at the previous point; the initial trend is kept as is.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

/// How `integral` combines neighbouring points.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quadrature {
    /// Each interval takes its left point's value.
    LeftPoint,
    /// Each interval takes its right point's value.
    RightPoint,
    /// Each interval takes the mean of its points.
    Trapezoidal,
}

/// `integral(v[d], strategy=2)` (experimental, Prometheus PR #14440): the
/// area under the series in value·seconds, NaN counted as 0.
pub(super) fn integral(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (windows, _, _) = matrix_arg(args, 0)?;
    let strategy = opt_scalar_arg(args, 1)?;
    let quadrature = match strategy {
        None => Quadrature::Trapezoidal,
        Some(0.0) => Quadrature::LeftPoint,
        Some(1.0) => Quadrature::RightPoint,
        Some(s) => {
            if s != 2.0 && !windows.is_empty() {
                ctx.annotations.warn(messages::invalid_integral_strategy(s), ctx.arg_position(1));
            }
            Quadrature::Trapezoidal
        }
    };
    Ok(map_windows(ctx, windows, false, |_, w| integrate(w.points, quadrature)))
}

fn integrate(points: &[Point], quadrature: Quadrature) -> Option<f64> {
    let nan_as_zero = |v: f64| if v.is_nan() { 0.0 } else { v };
    let mut prev = *points.first()?;
    let (mut sum, mut c) = (0.0, 0.0);
    for p in &points[1..] {
        let (cur_v, prev_v) = (nan_as_zero(p.v), nan_as_zero(prev.v));
        let (mut value, mut c_value) = (0.0, 0.0);
        match quadrature {
            Quadrature::LeftPoint => value = prev_v,
            Quadrature::RightPoint => value = cur_v,
            Quadrature::Trapezoidal => {
                if prev_v != 0.0 || cur_v != 0.0 {
                    (value, c_value) = kahan::inc(cur_v, prev_v, 0.0);
                    value /= 2.0;
                    c_value /= 2.0;
                }
            }
        }
        if value != 0.0 || c_value != 0.0 {
            let dt = (p.t - prev.t) as f64 / 1000.0;
            (sum, c) = kahan::inc(value * dt, sum, c + c_value * dt);
        }
        prev = *p;
    }
    Some(if sum.is_infinite() { sum } else { sum + c })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{
        assert_float, call_range, in_window, labels, points_s, regular, series_window, window, Harness,
    };
    use super::super::{FnImpl, Window};
    use super::*;

    const EPS: f64 = 1e-12;

    /// One value or none, as a test expectation.
    fn one(v: Vec<f64>) -> f64 {
        assert_eq!(v.len(), 1, "{v:?}");
        v[0]
    }

    #[test]
    fn increase_extrapolates_to_the_window_and_stops_at_zero() {
        // functions.test: increase(http_requests_total[50m]) and [100m] at 50m.
        let cases = [(0.0, 10.0, 100.0, 100.0), (10.0, 10.0, 100.0, 105.0), (1.0, 10.0, 100.0, 101.0)];
        for (a, b, want50, want100) in cases {
            assert_float(one(call_range(increase, &series_window(a, b, 10, 300, 3000, 3000), 3000, 3000)), want50, EPS);
            assert_float(
                one(call_range(increase, &series_window(a, b, 10, 300, 3000, 6000), 3000, 6000)),
                want100,
                EPS,
            );
        }
        // "0+18x5 0+18x5": a reset in the middle.
        let bar: Vec<f64> = (0..12).map(|i| f64::from(i % 6) * 18.0).collect();
        let pts = regular(0, 300, &bar);
        assert_float(one(call_range(increase, &in_window(&pts, 3000, 3000), 3000, 3000)), 160.0, EPS);
        assert_float(one(call_range(increase, &in_window(&pts, 3000, 6000), 3000, 6000)), 162.0, EPS);
    }

    #[test]
    fn increase_counts_a_drop_as_a_reset_to_zero() {
        let pts = regular(0, 300, &[0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0]);
        assert_float(one(call_range(increase, &in_window(&pts, 1800, 1800), 1800, 1800)), 7.0, EPS);
    }

    #[test]
    fn rate_is_per_second_and_handles_resets() {
        // 0+27x4 0+27x5 at 50m over 50m.
        let v: Vec<f64> = (0..5).chain(0..6).map(|i| f64::from(i) * 27.0).collect();
        let pts = regular(0, 300, &v);
        assert_float(one(call_range(rate, &in_window(&pts, 3000, 3000), 3000, 3000)), 0.08, EPS);
        // 0+80x10 at 50m over 50m.
        assert_float(
            one(call_range(rate, &series_window(0.0, 80.0, 10, 300, 3000, 3000), 3000, 3000)),
            0.26666666666666666,
            EPS,
        );
        // A reset at the end: one point in 5m gives nothing, two give 0.
        let v: Vec<f64> = (0..10).map(|i| f64::from(i) * 10.0).chain([0.0, 10.0]).collect();
        let pts = regular(0, 300, &v);
        assert!(call_range(rate, &in_window(&pts, 3000, 300), 3000, 300).is_empty());
        assert_float(one(call_range(rate, &in_window(&pts, 3000, 360), 3000, 360)), 0.0, 0.0);
    }

    #[test]
    fn rate_zero_cutoff_applies_up_to_half_an_interval() {
        // load 4m: testcounter_zero_cutoff_total{start=…} s+240x10.
        let cases = [(0.0, 0.5, 0.6), (60.0, 0.55, 0.6), (120.0, 0.6, 0.6), (300.0, 0.6, 0.6)];
        for (a, at10m, at50m) in cases {
            assert_float(one(call_range(rate, &series_window(a, 240.0, 10, 240, 600, 1200), 600, 1200)), at10m, EPS);
            assert_float(one(call_range(rate, &series_window(a, 240.0, 10, 240, 3000, 1200), 3000, 1200)), at50m, EPS);
        }
    }

    #[test]
    fn rate_extrapolates_by_half_an_interval_at_both_ends_when_far() {
        // Points at 100s..200s every 10s in the window (0, 300]: both gaps
        // exceed 1.1 intervals, so each end extrapolates by 5s.
        let pts = regular(100, 10, &[10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0]);
        let inc = one(call_range(increase, &pts, 300, 300));
        assert_float(inc, 10.0 * 110.0 / 100.0, EPS);
        assert_float(one(call_range(rate, &pts, 300, 300)), inc / 300.0, EPS);
        // Gaps within 1.1 intervals extrapolate all the way.
        let pts = regular(10, 10, &[10.0, 11.0, 12.0]);
        assert_float(one(call_range(delta, &pts, 35, 35)), 2.0 * 35.0 / 20.0, EPS);
    }

    #[test]
    fn delta_does_not_correct_resets_or_stop_at_zero() {
        let foo = regular(0, 300, &[0.0, 50.0, 100.0, 150.0, 200.0]);
        assert_float(one(call_range(delta, &in_window(&foo, 1200, 1200), 1200, 1200)), 200.0, EPS);
        let bar = regular(0, 300, &[200.0, 150.0, 100.0, 50.0, 0.0]);
        assert_float(one(call_range(delta, &in_window(&bar, 1200, 1200), 1200, 1200)), -200.0, EPS);
    }

    #[test]
    fn extrapolating_functions_need_two_points() {
        let pts = points_s(&[(10, 5.0)]);
        for f in [rate, increase, delta, irate, idelta, deriv] {
            assert!(call_range(f, &pts, 20, 20).is_empty());
        }
    }

    #[test]
    fn rate_with_nan_and_inf() {
        // A NaN in the middle is neither a reset nor part of the difference.
        let pts = points_s(&[(10, 1.0), (20, f64::NAN), (30, 3.0)]);
        assert_float(one(call_range(rate, &pts, 30, 30)), 0.1, EPS);
        let pts = points_s(&[(10, 1.0), (20, f64::NAN)]);
        assert!(one(call_range(rate, &pts, 30, 30)).is_nan());
        let pts = points_s(&[(10, 1.0), (20, f64::INFINITY)]);
        assert_float(one(call_range(increase, &pts, 20, 20)), f64::INFINITY, 0.0);
    }

    #[test]
    fn rate_and_increase_flag_names_that_do_not_look_like_counters() {
        let gauge = labels(&[("__name__", "temperature"), ("room", "a")]);
        let gauge2 = labels(&[("__name__", "temperature"), ("room", "b")]);
        let counter = labels(&[("__name__", "requests_total")]);
        let unnamed = labels(&[("job", "x")]);
        let pts = points_s(&[(10, 1.0), (20, 2.0)]);
        let single = points_s(&[(10, 1.0)]);
        let other = labels(&[("__name__", "lonely")]);
        let windows = [
            window(&gauge, &pts),
            window(&gauge2, &pts),
            window(&counter, &pts),
            window(&unnamed, &pts),
            // No result, so no info.
            window(&other, &single),
        ];
        let cases: [(FnImpl, bool); 4] = [(rate, true), (increase, true), (delta, false), (irate, false)];
        for (f, flags) in cases {
            let mut h = Harness::new(20_000);
            h.arg_positions = vec![Some(5)];
            let out = h.call(f, &[Arg::Matrix { windows: &windows, start: 0, end: 20_000 }]).unwrap();
            assert_eq!(out.len(), 4);
            assert!(out.iter().all(|s| s.drop_name));
            let want = if flags { vec![(messages::possible_non_counter("temperature"), Some(5))] } else { vec![] };
            assert_eq!(h.infos(), want);
        }
    }

    #[test]
    fn irate_uses_the_last_two_points() {
        let foo = series_window(0.0, 10.0, 10, 300, 3000, 3000);
        assert_float(one(call_range(irate, &foo, 3000, 3000)), 10.0 / 300.0, EPS);
        // A drop is a reset: the later value is the increase.
        let bar = regular(0, 300, &[0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 0.0]);
        assert_float(one(call_range(irate, &bar, 1800, 3000)), 0.0, 0.0);
        let bar = regular(0, 300, &[30.0, 40.0, 5.0]);
        assert_float(one(call_range(irate, &bar, 600, 3000)), 5.0 / 300.0, EPS);
        // 1 NaN NaN 5 11 over [15m1s].
        let nan = regular(0, 300, &[1.0, f64::NAN, f64::NAN, 5.0, 11.0]);
        let want = [None, Some(f64::NAN), Some(f64::NAN), Some(f64::NAN), Some(0.02)];
        for (step, want) in want.iter().enumerate() {
            let end = step as i64 * 300;
            let got = call_range(irate, &in_window(&nan, end, 901), end, 901);
            match want {
                None => assert!(got.is_empty()),
                Some(w) => assert_float(one(got), *w, EPS),
            }
        }
    }

    #[test]
    fn idelta_is_the_last_difference() {
        let foo = regular(0, 300, &[0.0, 50.0, 100.0, 150.0]);
        assert_float(one(call_range(idelta, &foo, 1200, 1200)), 50.0, 0.0);
        let bar = regular(0, 300, &[0.0, 50.0, 100.0, 50.0]);
        assert_float(one(call_range(idelta, &bar, 1200, 1200)), -50.0, 0.0);
        let nan = regular(0, 300, &[1.0, f64::NAN, f64::NAN, 5.0, 11.0]);
        assert_float(one(call_range(idelta, &in_window(&nan, 1200, 901), 1200, 901)), 6.0, 0.0);
        assert!(one(call_range(idelta, &in_window(&nan, 900, 901), 900, 901)).is_nan());
    }

    #[test]
    fn deriv_and_predict_linear_fit_a_line() {
        let v: Vec<f64> = (0..5).chain(0..6).map(|i| f64::from(i) * 10.0).collect();
        let pts = regular(0, 300, &v);
        assert_float(one(call_range(deriv, &in_window(&pts, 3000, 6000), 3000, 6000)), 0.010606060606060607, EPS);
        let pts80 = series_window(0.0, 80.0, 10, 300, 3000, 3000);
        assert_float(one(call_range(deriv, &pts80, 3000, 3000)), 0.26666666666666666, EPS);

        let predict = |pts: &[Point], ts_s: i64, range_s: i64, end_s: i64, d: f64| {
            let l = labels(&[]);
            let w = [window(&l, pts)];
            let mut h = Harness::new(ts_s * 1000);
            let m = Arg::Matrix { windows: &w, start: (end_s - range_s) * 1000, end: end_s * 1000 };
            one(h.call(predict_linear, &[m, Arg::Scalar(d)]).unwrap().iter().map(|s| s.v).collect())
        };
        assert_float(predict(&in_window(&pts, 3000, 3000), 3000, 3000, 3000, 3600.0), 70.0, EPS);
        // `@ 3000` with a 55m window, evaluated at other times: the
        // intercept is at the evaluation time.
        let at = in_window(&pts, 3000, 3300);
        assert_float(predict(&at, 3000, 3300, 3000, 3600.0), 76.81818181818181, EPS);
        assert_float(predict(&at, 600, 3300, 3000, 3600.0), 51.36363636363637, EPS);
        assert_float(predict(&at, 4200, 3300, 3000, 3600.0), 89.54545454545455, EPS);
    }

    #[test]
    fn deriv_of_constant_and_infinite_series() {
        assert_float(one(call_range(deriv, &points_s(&[(1, 3.0), (2, 3.0)]), 2, 2)), 0.0, 0.0);
        let inf = points_s(&[(1, f64::INFINITY), (2, f64::INFINITY)]);
        assert!(one(call_range(deriv, &inf, 2, 2)).is_nan());
        // -Inf 0+80x10 Inf.
        let mut v = vec![f64::NEG_INFINITY];
        v.extend((0..=10).map(|i| f64::from(i) * 80.0));
        v.push(f64::INFINITY);
        let pts = regular(0, 300, &v);
        assert!(one(call_range(deriv, &in_window(&pts, 6000, 6000), 6000, 6000)).is_nan());
    }

    #[test]
    fn indexed_drops_give_the_same_bits_as_scanning_every_window() {
        use super::super::Drops;
        // A counter with resets (one to exactly 0, one NaN) and fractional
        // values whose sums round.
        let values: Vec<f64> = (0..60)
            .map(|i| match i {
                17 => 0.0,
                31 => f64::NAN,
                _ => 1e9 + (i % 23) as f64 * 0.1 + 0.3,
            })
            .collect();
        let pts = regular(0, 15, &values);
        let at: Vec<usize> = (1..pts.len()).filter(|&j| pts[j].v < pts[j - 1].v).collect();
        assert!(at.len() >= 3, "the series has resets: {at:?}");
        let l = labels(&[("__name__", "x_total")]);
        for first in 0..pts.len() {
            for last in first + 1..=pts.len() {
                let points = &pts[first..last];
                let (start, end) = (points[0].t - 7_000, points[points.len() - 1].t + 3_000);
                let scanned = [window(&l, points)];
                let indexed = [Window { drops: Some(Drops { at: &at, first }), ..window(&l, points) }];
                for f in [rate as FnImpl, increase, resets] {
                    let mut h = Harness::new(end);
                    let mut values = |w: &[Window<'_>]| -> Vec<u64> {
                        let out = h.call(f, &[Arg::Matrix { windows: w, start, end }]).unwrap();
                        out.iter().map(|s| s.v.to_bits()).collect()
                    };
                    assert_eq!(values(&indexed), values(&scanned), "window {first}..{last}");
                }
            }
        }
    }

    #[test]
    fn changes_and_resets_count_pairs() {
        let foo = regular(0, 300, &[1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0]);
        let bar = regular(0, 300, &[1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let biz = regular(0, 300, &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let resets_want =
            [(600, [0.0, 0.0, 0.0]), (1200, [1.0, 0.0, 0.0]), (1920, [2.0, 1.0, 0.0]), (3000, [3.0, 1.0, 0.0])];
        for (range, want) in resets_want {
            for (pts, w) in [&foo, &bar, &biz].iter().zip(want) {
                assert_float(one(call_range(resets, &in_window(pts, 3000, range), 3000, range)), w, 0.0);
            }
        }
        let changes_want =
            [(360, [0.0, 0.0, 0.0]), (1200, [2.0, 2.0, 0.0]), (1800, [3.0, 4.0, 0.0]), (3000, [7.0, 8.0, 1.0])];
        for (range, want) in changes_want {
            for (pts, w) in [&foo, &bar, &biz].iter().zip(want) {
                assert_float(one(call_range(changes, &in_window(pts, 3000, range), 3000, range)), w, 0.0);
            }
        }
        let nan = regular(0, 300, &[f64::NAN; 3]);
        assert_float(one(call_range(changes, &nan, 900, 1200)), 0.0, 0.0);
        let mixed = regular(0, 300, &[0.0, f64::NAN, 0.0]);
        assert_float(one(call_range(changes, &mixed, 900, 1200)), 2.0, 0.0);
    }

    #[test]
    fn double_exponential_smoothing_follows_trends() {
        let cases: [(f64, f64, f64); 4] =
            [(0.0, 10.0, 8000.0), (0.0, 20.0, 16000.0), (8000.0, -10.0, 0.0), (0.0, -20.0, -16000.0)];
        for (a, b, want) in cases {
            let v: Vec<f64> = (0..=800).map(|i| a + b * f64::from(i)).collect();
            let pts = in_window(&regular(0, 10, &v), 8000, 60);
            let l = labels(&[]);
            let w = [window(&l, &pts)];
            let m = Arg::Matrix { windows: &w, start: 7_940_000, end: 8_000_000 };
            let fns: [FnImpl; 2] = [double_exponential_smoothing, super::super::lookup("holt_winters").unwrap()];
            for f in fns {
                let out = Harness::new(8_000_000).call(f, &[m, Arg::Scalar(0.01), Arg::Scalar(0.1)]).unwrap();
                assert_float(out[0].v, want, 1e-9);
            }
        }
    }

    #[test]
    fn double_exponential_smoothing_validates_factors() {
        let l = labels(&[]);
        let pts = points_s(&[(1, 1.0), (2, 2.0)]);
        let w = [window(&l, &pts)];
        let m = Arg::Matrix { windows: &w, start: 0, end: 2000 };
        let mut h = Harness::new(2000);
        let err = h.call(double_exponential_smoothing, &[m, Arg::Scalar(1.0), Arg::Scalar(0.5)]).unwrap_err();
        assert_eq!(err, QueryError::execution("invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"));
        let err = h.call(double_exponential_smoothing, &[m, Arg::Scalar(0.5), Arg::Scalar(0.0)]).unwrap_err();
        assert_eq!(err, QueryError::execution("invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"));
        // NaN passes the check; no windows, no check.
        assert!(h.call(double_exponential_smoothing, &[m, Arg::Scalar(f64::NAN), Arg::Scalar(0.5)]).is_ok());
        let none: [Window<'_>; 0] = [];
        let empty = Arg::Matrix { windows: &none, start: 0, end: 2000 };
        assert!(h.call(double_exponential_smoothing, &[empty, Arg::Scalar(2.0), Arg::Scalar(0.5)]).unwrap().is_empty());
        // One point: nothing to smooth.
        let one_pt = points_s(&[(1, 1.0)]);
        let w = [window(&l, &one_pt)];
        let m = Arg::Matrix { windows: &w, start: 0, end: 2000 };
        assert!(h.call(double_exponential_smoothing, &[m, Arg::Scalar(0.5), Arg::Scalar(0.5)]).unwrap().is_empty());
    }

    fn integral_of(
        pts: &[Point],
        end_s: i64,
        range_s: i64,
        strategy: Option<f64>,
    ) -> (Vec<f64>, Vec<(String, Option<usize>)>) {
        let l = labels(&[]);
        let w = [window(&l, pts)];
        let mut h = Harness::new(end_s * 1000);
        h.arg_positions = vec![Some(9), Some(20)];
        let mut args = vec![Arg::Matrix { windows: &w, start: (end_s - range_s) * 1000, end: end_s * 1000 }];
        args.extend(strategy.map(Arg::Scalar));
        let out = h.call(integral, &args).unwrap();
        (out.iter().map(|s| s.v).collect(), h.warnings())
    }

    #[test]
    fn integral_strategies() {
        // metric 1 2 3 4 5 every 10s, at 55s over 1m.
        let metric = regular(0, 10, &[1.0, 2.0, 3.0, 4.0, 5.0]);
        for (strategy, want) in [(None, 120.0), (Some(2.0), 120.0), (Some(0.0), 100.0), (Some(1.0), 140.0)] {
            let (got, warnings) = integral_of(&metric, 55, 60, strategy);
            assert_float(one(got), want, 0.0);
            assert!(warnings.is_empty());
        }
        let big = regular(0, 10, &[0.0, 1.0, 1e100, 1.0, -1e100, 1.0, 0.0]);
        for s in [None, Some(0.0), Some(1.0)] {
            assert_float(one(integral_of(&big, 60, 120, s).0), 30.0, 0.0);
        }
        let (got, warnings) = integral_of(&big, 60, 120, Some(3.0));
        assert_float(one(got), 30.0, 0.0);
        assert_eq!(warnings, [(messages::invalid_integral_strategy(3.0), Some(20))]);
        let inf = regular(0, 10, &[1.0, f64::INFINITY, 1.0, f64::NEG_INFINITY, 1.0]);
        assert!(one(integral_of(&inf, 60, 120, None).0).is_nan());
        let inf = regular(0, 10, &[f64::INFINITY, 0.0, f64::INFINITY]);
        assert_float(one(integral_of(&inf, 55, 60, None).0), f64::INFINITY, 0.0);
    }

    #[test]
    fn integral_counts_nan_as_zero() {
        let nan1 = regular(0, 10, &[f64::NAN, f64::NAN, 1.0, f64::NAN, f64::NAN, f64::NAN]);
        let cases = [
            (10, None, 0.0),
            (20, None, 5.0),
            (30, None, 10.0),
            (20, Some(0.0), 0.0),
            (30, Some(0.0), 10.0),
            (20, Some(1.0), 10.0),
        ];
        for (at, s, want) in cases {
            assert_float(one(integral_of(&in_window(&nan1, at, at), at, at, s).0), want, 0.0);
        }
        let mut v = vec![f64::NAN; 13];
        v[2] = 1.0;
        v[5] = 2.0;
        let nan2 = regular(0, 10, &v);
        let cases =
            [(50, None, 20.0), (60, None, 30.0), (50, Some(0.0), 10.0), (50, Some(1.0), 30.0), (120, Some(1.0), 30.0)];
        for (at, s, want) in cases {
            assert_float(one(integral_of(&in_window(&nan2, at, at), at, at, s).0), want, 0.0);
        }
        // A single point has no area.
        assert_float(one(integral_of(&points_s(&[(5, 7.0)]), 10, 10, None).0), 0.0, 0.0);
    }

    #[test]
    fn range_functions_drop_the_name_and_keep_an_earlier_mark() {
        let l = labels(&[("__name__", "x_total")]);
        let pts = points_s(&[(1, 1.0), (2, 2.0)]);
        let w = [
            Window { labels: &l, points: &pts, drop_name: false, drops: None },
            Window { labels: &l, points: &pts, drop_name: true, drops: None },
        ];
        let out = Harness::new(2000).call(resets, &[Arg::Matrix { windows: &w, start: 0, end: 2000 }]).unwrap();
        assert!(out.iter().all(|s| s.drop_name && s.labels == l));
    }
}
