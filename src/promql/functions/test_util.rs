//! Test scaffolding: builds arguments and calls functions the way the
//! evaluator does, one step at a time.

use std::sync::Arc;

use super::super::annotations::{AnnotationKind, Annotations};
use super::super::error::QueryError;
use super::super::value::{Labels, Point, Sample};
use super::{Arg, FnCtx, FnImpl, Window};

/// The evaluator's side of a call: time, query range, positions, and the
/// annotations collected so far.
pub(super) struct Harness {
    pub ts: i64,
    pub query_start: i64,
    pub query_end: i64,
    pub query_step: i64,
    pub arg_positions: Vec<Option<usize>>,
    pub position: Option<usize>,
    pub annotations: Annotations,
}

impl Harness {
    /// An instant query at `ts` (milliseconds).
    pub fn new(ts: i64) -> Self {
        Self {
            ts,
            query_start: ts,
            query_end: ts,
            query_step: 0,
            arg_positions: Vec::new(),
            position: None,
            annotations: Annotations::default(),
        }
    }

    /// Calls `f` with `args` at this harness's step.
    pub fn call(&mut self, f: FnImpl, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
        let mut ctx = FnCtx {
            ts: self.ts,
            query_start: self.query_start,
            query_end: self.query_end,
            query_step: self.query_step,
            arg_positions: &self.arg_positions,
            position: self.position,
            annotations: &mut self.annotations,
        };
        let out = f(&mut ctx, args)?;
        for s in &out {
            assert_eq!(s.t, self.ts, "output samples carry the evaluation time");
        }
        Ok(out)
    }

    /// Warnings so far: message and position.
    pub fn warnings(&self) -> Vec<(String, Option<usize>)> {
        self.of_kind(AnnotationKind::Warning)
    }

    /// Infos so far: message and position.
    pub fn infos(&self) -> Vec<(String, Option<usize>)> {
        self.of_kind(AnnotationKind::Info)
    }

    fn of_kind(&self, kind: AnnotationKind) -> Vec<(String, Option<usize>)> {
        self.annotations.iter().filter(|a| a.kind == kind).map(|a| (a.message.clone(), a.position)).collect()
    }
}

/// A shared label set from pairs.
pub(super) fn labels(pairs: &[(&str, &str)]) -> Arc<Labels> {
    Arc::new(Labels::from_pairs(pairs.iter().copied()))
}

/// An instant-vector sample at t = 0.
pub(super) fn sample(pairs: &[(&str, &str)], v: f64) -> Sample {
    Sample { labels: labels(pairs), t: 0, v, drop_name: false }
}

/// Points from `(seconds, value)` pairs.
pub(super) fn points_s(pts: &[(i64, f64)]) -> Vec<Point> {
    pts.iter().map(|&(t, v)| Point { t: t * 1000, v }).collect()
}

/// Points at `start_s, start_s + step_s, …` seconds with the given values.
pub(super) fn regular(start_s: i64, step_s: i64, values: &[f64]) -> Vec<Point> {
    values.iter().enumerate().map(|(i, &v)| Point { t: (start_s + i as i64 * step_s) * 1000, v }).collect()
}

/// The points of Prometheus test notation `a+bxN` loaded every `step_s`
/// seconds from 0, cut to the window `(end_s - range_s, end_s]`.
pub(super) fn series_window(a: f64, b: f64, n: usize, step_s: i64, end_s: i64, range_s: i64) -> Vec<Point> {
    let values: Vec<f64> = (0..=n).map(|i| a + b * i as f64).collect();
    in_window(&regular(0, step_s, &values), end_s, range_s)
}

/// The points of `pts` inside `(end_s - range_s, end_s]`.
pub(super) fn in_window(pts: &[Point], end_s: i64, range_s: i64) -> Vec<Point> {
    let (lo, hi) = ((end_s - range_s) * 1000, end_s * 1000);
    pts.iter().copied().filter(|p| p.t > lo && p.t <= hi).collect()
}

/// A window over `points` of the series `labels`.
pub(super) fn window<'a>(labels: &'a Arc<Labels>, points: &'a [Point]) -> Window<'a> {
    Window { labels, points, drop_name: false, drops: None }
}

/// Calls a function whose only argument is a range vector of one series,
/// window `(end_s - range_s, end_s]`, evaluated at `end_s`; returns its
/// values (empty, or one).
pub(super) fn call_range(f: FnImpl, pts: &[Point], end_s: i64, range_s: i64) -> Vec<f64> {
    let l = labels(&[]);
    let w = [window(&l, pts)];
    let mut h = Harness::new(end_s * 1000);
    let out = h.call(f, &[Arg::Matrix { windows: &w, start: (end_s - range_s) * 1000, end: end_s * 1000 }]).unwrap();
    out.iter().map(|s| s.v).collect()
}

/// Asserts two floats are equal, NaN equal to NaN, and signs of zero and
/// infinities equal; `rel` is the allowed relative error (0 for exact,
/// where the sign of a zero counts too).
#[track_caller]
pub(super) fn assert_float(got: f64, want: f64, rel: f64) {
    if want.is_nan() {
        assert!(got.is_nan(), "got {got}, want NaN");
    } else if rel == 0.0 {
        assert!(got == want && got.is_sign_negative() == want.is_sign_negative(), "got {got:?}, want {want:?}");
    } else if want.is_infinite() || want == 0.0 {
        assert!(got == want, "got {got:?}, want {want:?}");
    } else {
        assert!(((got - want) / want).abs() <= rel, "got {got:?}, want {want:?}");
    }
}
