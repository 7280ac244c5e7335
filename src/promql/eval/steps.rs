//! The step grid an expression is evaluated over, and the helpers that move
//! values between the per-step form functions and operators see and the
//! per-series form the evaluator keeps between nodes.
//!
//! Between nodes an instant vector is a list of [`Series`] whose points sit
//! at step times, at most one per step (the series is absent where it has no
//! point). [`gather`] cuts one step out of that form with a moving cursor per
//! series; [`Assembler`] turns the per-step outputs of a node back into
//! series, finding each output sample's series by label-set pointer first and
//! by label hash only when the pointer is new.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::super::error::QueryError;
use super::super::value::{Labels, Point, Sample, Series};

/// The error Prometheus raises when two samples of one step share a label set.
pub const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// Evaluation times `start, start + interval, …, ≤ end` (milliseconds).
/// Empty when `end < start`. `interval` is always positive (an instant
/// evaluation uses 1, like Prometheus).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    /// First evaluation time.
    pub start: i64,
    /// Upper bound; the last step is the largest `start + k·interval ≤ end`.
    pub end: i64,
    /// Distance between steps, > 0.
    pub interval: i64,
}

impl Grid {
    /// One evaluation at `t`.
    pub fn instant(t: i64) -> Self {
        Self { start: t, end: t, interval: 1 }
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.interval) as usize + 1
        }
    }

    /// True when there are no steps.
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    /// Time of step `i`.
    pub fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.interval
    }

    /// Time of the last step (only meaningful when not empty).
    pub fn last(&self) -> i64 {
        self.ts(self.len().saturating_sub(1))
    }

    /// The same start evaluated once.
    pub fn first_only(&self) -> Self {
        Self { start: self.start, end: self.start, interval: self.interval }
    }

    /// Step times.
    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.ts(i))
    }
}

/// A multiplicative hasher for keys that are already well distributed or
/// short (pointers, label strings); much cheaper than SipHash in the per-step
/// loops.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Hash maps with [`FxHasher`].
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Builds a per-series cursor array for [`gather`].
pub fn cursors(series: &[Series]) -> Vec<usize> {
    vec![0; series.len()]
}

/// Appends to `out` the samples of `series` at step time `ts`, advancing
/// each series' cursor past the point it takes. Returns how many it took.
pub fn gather(series: &[Series], cursors: &mut [usize], ts: i64, out: &mut Vec<Sample>) -> usize {
    let before = out.len();
    for (s, c) in series.iter().zip(cursors.iter_mut()) {
        if let Some(p) = s.points.get(*c) {
            if p.t == ts {
                out.push(Sample { labels: s.labels.clone(), t: ts, v: p.v, drop_name: s.drop_name });
                *c += 1;
            }
        }
    }
    out.len() - before
}

/// Gathers the samples of steps `first .. first + outs.len()` at once: the
/// samples of step `first + k` are appended to `outs[k]`. Reading each
/// series for several steps in a row is much kinder to caches than reading
/// all series once per step.
pub fn gather_steps(series: &[Series], cursors: &mut [usize], g: &Grid, first: usize, outs: &mut [Vec<Sample>]) {
    if outs.is_empty() {
        return;
    }
    let t0 = g.ts(first);
    let last = g.ts(first + outs.len() - 1);
    for (s, c) in series.iter().zip(cursors.iter_mut()) {
        while let Some(p) = s.points.get(*c) {
            if p.t > last {
                break;
            }
            *c += 1;
            if p.t < t0 {
                continue;
            }
            let k = ((p.t - t0) / g.interval) as usize;
            outs[k].push(Sample { labels: s.labels.clone(), t: p.t, v: p.v, drop_name: s.drop_name });
        }
    }
}

/// How many steps to gather at once for `width` series: about a million
/// samples, at most 64 steps.
pub fn step_block(width: usize, steps: usize) -> usize {
    (1_000_000 / width.max(1)).clamp(1, 64).min(steps.max(1))
}

/// Number of points of `series` at each step of `g`.
pub fn step_counts(series: &[Series], g: &Grid) -> Vec<usize> {
    let mut counts = vec![0usize; g.len()];
    for s in series {
        for p in &s.points {
            if let Some(c) = counts.get_mut(((p.t - g.start) / g.interval) as usize) {
                *c += 1;
            }
        }
    }
    counts
}

/// Merges series with equal label sets (as produced step by step, Prometheus
/// keeps one series per label set); an error if two have a point at the same
/// time. Order of first appearance is kept.
pub fn merge_same_labels(series: Vec<Series>) -> Result<Vec<Series>, QueryError> {
    let mut index: FxMap<&Labels, usize> = FxMap::default();
    let mut dup = false;
    for (i, s) in series.iter().enumerate() {
        if index.insert(&*s.labels, i).is_some() {
            dup = true;
            break;
        }
    }
    drop(index);
    if !dup {
        return Ok(series);
    }
    let mut index: FxMap<Arc<Labels>, usize> = FxMap::default();
    let mut merged: Vec<Series> = Vec::with_capacity(series.len());
    let mut collided = vec![];
    for s in series {
        match index.get(&*s.labels) {
            Some(&i) => {
                merged[i].points.extend_from_slice(&s.points);
                collided.push(i);
            }
            None => {
                index.insert(s.labels.clone(), merged.len());
                merged.push(s);
            }
        }
    }
    for i in collided {
        let pts = &mut merged[i].points;
        pts.sort_by_key(|p| p.t);
        if pts.windows(2).any(|w| w[0].t == w[1].t) {
            return Err(QueryError::execution(DUPLICATE_LABELSET));
        }
    }
    Ok(merged)
}

/// Collects per-step output vectors into series.
pub struct Assembler {
    series: Vec<Series>,
    /// Step index of each series' last point (`usize::MAX` before any).
    last_step: Vec<usize>,
    /// Canonical label-set pointer (held by the series) to series index.
    by_ptr: FxMap<usize, usize>,
    /// Label set to series index, built the first time a label set is not
    /// found by pointer (most nodes pass their input's label sets through,
    /// so hashing every label set is usually unnecessary).
    by_labels: Option<FxMap<Arc<Labels>, usize>>,
    /// For output position `j` of the previous step, the series it went to:
    /// functions that pass their input through hit this without hashing.
    hint: Vec<usize>,
    /// Two samples of one step with the same labels are an error (else they
    /// become separate series, as Prometheus keeps them until the end).
    check_dups: bool,
    /// Points added so far.
    total: usize,
    /// Steps of the grid, to size new series.
    steps: usize,
}

impl Assembler {
    /// An empty assembler; `capacity` is a guess of the number of series.
    pub fn new(check_dups: bool, capacity: usize) -> Self {
        Self::with_steps(check_dups, capacity, 0)
    }

    /// An assembler for a grid of `steps` steps (new series reserve room
    /// for the steps left, up to a bound).
    pub fn with_steps(check_dups: bool, capacity: usize, steps: usize) -> Self {
        Self {
            series: Vec::with_capacity(capacity),
            last_step: Vec::with_capacity(capacity),
            by_ptr: FxMap::default(),
            by_labels: None,
            hint: Vec::new(),
            check_dups,
            total: 0,
            steps,
        }
    }

    /// Points added so far.
    pub fn total(&self) -> usize {
        self.total
    }

    fn find(&mut self, j: usize, labels: &Arc<Labels>) -> Option<usize> {
        if let Some(&idx) = self.hint.get(j) {
            if let Some(s) = self.series.get(idx) {
                if Arc::ptr_eq(&s.labels, labels) {
                    return Some(idx);
                }
            }
        }
        if let Some(&idx) = self.by_ptr.get(&(Arc::as_ptr(labels) as usize)) {
            return Some(idx);
        }
        let series = &self.series;
        let by_labels = self.by_labels.get_or_insert_with(|| {
            let mut index = FxMap::default();
            for (idx, s) in series.iter().enumerate() {
                // The newest of several series with one label set wins, as
                // when they were inserted one by one.
                index.insert(s.labels.clone(), idx);
            }
            index
        });
        by_labels.get(&**labels).copied()
    }

    fn new_series(&mut self, labels: Arc<Labels>, drop_name: bool, step: usize) -> usize {
        let idx = self.series.len();
        self.by_ptr.insert(Arc::as_ptr(&labels) as usize, idx);
        if let Some(by_labels) = &mut self.by_labels {
            by_labels.insert(labels.clone(), idx);
        }
        let room = initial_room(self.steps, step);
        self.series.push(Series { labels, points: Vec::with_capacity(room), drop_name });
        self.last_step.push(step);
        idx
    }

    /// Adds the output of step `step` (time `ts`).
    pub fn push_step(&mut self, step: usize, ts: i64, out: Vec<Sample>) -> Result<(), QueryError> {
        if self.hint.len() < out.len() {
            self.hint.resize(out.len(), usize::MAX);
        }
        for (j, s) in out.into_iter().enumerate() {
            let idx = match self.find(j, &s.labels) {
                Some(idx) if self.last_step[idx] == step => {
                    if self.check_dups {
                        return Err(QueryError::execution(DUPLICATE_LABELSET));
                    }
                    // Kept apart; later steps go to the newest one.
                    self.new_series(s.labels, s.drop_name, step)
                }
                Some(idx) => {
                    self.last_step[idx] = step;
                    idx
                }
                None => self.new_series(s.labels, s.drop_name, step),
            };
            self.hint[j] = idx;
            self.series[idx].points.push(Point { t: ts, v: s.v });
            self.total += 1;
        }
        Ok(())
    }

    /// The series, in order of first appearance.
    pub fn finish(self) -> Vec<Series> {
        self.series
    }
}

/// Room a new output series reserves at step `step` of `steps`: the steps
/// left, up to a bound (sparse series should not reserve the whole grid).
fn initial_room(steps: usize, step: usize) -> usize {
    steps.saturating_sub(step).min(64)
}

/// Collects the per-step outputs of a range-vector function into one
/// series per input series, which is how Prometheus keeps them. The
/// function gives at most one sample per window, in window order, holding
/// the window's label set (the same `Arc`), so each sample is matched to
/// its input series by pointer while moving forward: no label set is
/// hashed, however many series there are.
pub struct PerInputSeries {
    series: Vec<Option<Series>>,
    steps: usize,
}

impl PerInputSeries {
    /// A collector for `inputs` input series over a grid of `steps` steps.
    pub fn new(inputs: usize, steps: usize) -> Self {
        Self { series: (0..inputs).map(|_| None).collect(), steps }
    }

    /// Adds the output of step `step` (time `ts`) for the input series
    /// `inputs` (the same at every step).
    pub fn push_step(&mut self, inputs: &[Series], step: usize, ts: i64, out: Vec<Sample>) -> Result<(), QueryError> {
        let mut i = 0;
        for s in out {
            while i < inputs.len() && !Arc::ptr_eq(&inputs[i].labels, &s.labels) {
                i += 1;
            }
            let Some(slot) = self.series.get_mut(i) else {
                return Err(QueryError::Internal(
                    "a range-vector function's output is not one sample per window, in window order, with the \
                     window's labels"
                        .into(),
                ));
            };
            let series = slot.get_or_insert_with(|| Series {
                labels: s.labels,
                points: Vec::with_capacity(initial_room(self.steps, step)),
                drop_name: s.drop_name,
            });
            series.points.push(Point { t: ts, v: s.v });
            i += 1;
        }
        Ok(())
    }

    /// The series with at least one point, in input order.
    pub fn finish(self) -> impl Iterator<Item = Series> {
        self.series.into_iter().flatten()
    }
}

/// True when two samples share a label set.
pub fn has_duplicate_labels(samples: &[Sample]) -> bool {
    if samples.len() < 2 {
        return false;
    }
    let mut seen: FxMap<&Labels, ()> = FxMap::default();
    samples.iter().any(|s| seen.insert(&*s.labels, ()).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lbl(v: &str) -> Arc<Labels> {
        Arc::new(Labels::from_pairs([("a", v)]))
    }

    #[test]
    fn per_input_series_keeps_input_order_and_equal_label_sets_apart() {
        // Two inputs with equal label sets (different Arcs) stay two series,
        // in input order even when the second has output first.
        let inputs = [
            Series { labels: lbl("1"), points: Vec::new(), drop_name: false },
            Series { labels: lbl("1"), points: Vec::new(), drop_name: false },
            Series { labels: lbl("2"), points: Vec::new(), drop_name: false },
        ];
        let s = |i: usize, v| Sample { labels: inputs[i].labels.clone(), t: 0, v, drop_name: true };
        let mut c = PerInputSeries::new(inputs.len(), 3);
        c.push_step(&inputs, 0, 0, vec![s(1, 1.0)]).unwrap();
        c.push_step(&inputs, 1, 10, vec![s(0, 2.0), s(1, 3.0), s(2, 4.0)]).unwrap();
        c.push_step(&inputs, 2, 20, vec![s(2, 5.0)]).unwrap();
        let out: Vec<Series> = c.finish().collect();
        let points: Vec<Vec<(i64, f64)>> = out.iter().map(|s| s.points.iter().map(|p| (p.t, p.v)).collect()).collect();
        assert_eq!(points, vec![vec![(10, 2.0)], vec![(0, 1.0), (10, 3.0)], vec![(10, 4.0), (20, 5.0)]]);
        assert!(Arc::ptr_eq(&out[0].labels, &inputs[0].labels) && out.iter().all(|s| s.drop_name));

        // A sample whose labels are not its window's, or out of order, is a bug.
        let mut c = PerInputSeries::new(inputs.len(), 1);
        let stray = Sample { labels: lbl("2"), t: 0, v: 1.0, drop_name: false };
        assert!(matches!(c.push_step(&inputs, 0, 0, vec![stray]), Err(QueryError::Internal(_))));
        let mut c = PerInputSeries::new(inputs.len(), 1);
        assert!(matches!(c.push_step(&inputs, 0, 0, vec![s(2, 1.0), s(0, 1.0)]), Err(QueryError::Internal(_))));
    }

    #[test]
    fn grid_counts_steps() {
        let g = Grid { start: 0, end: 10, interval: 3 };
        assert_eq!(g.len(), 4);
        assert_eq!(g.last(), 9);
        assert_eq!(Grid { start: 5, end: 4, interval: 1 }.len(), 0);
        assert_eq!(Grid::instant(-7).times().collect::<Vec<_>>(), vec![-7]);
    }

    #[test]
    fn assembler_groups_by_labels_and_detects_duplicates() {
        let a = lbl("1");
        let mut asm = Assembler::new(true, 2);
        let s = |l: &Arc<Labels>, v| Sample { labels: l.clone(), t: 0, v, drop_name: false };
        asm.push_step(0, 0, vec![s(&a, 1.0), s(&lbl("2"), 2.0)]).unwrap();
        // A different Arc with equal labels lands in the same series.
        asm.push_step(1, 10, vec![s(&lbl("2"), 3.0), s(&a, 4.0)]).unwrap();
        let err = asm.push_step(2, 20, vec![s(&a, 1.0), s(&lbl("1"), 2.0)]).unwrap_err();
        assert_eq!(err, QueryError::execution(DUPLICATE_LABELSET));
        let out = asm.finish();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].points, vec![Point { t: 0, v: 1.0 }, Point { t: 10, v: 4.0 }, Point { t: 20, v: 1.0 }]);
        assert_eq!(out[1].points, vec![Point { t: 0, v: 2.0 }, Point { t: 10, v: 3.0 }]);
    }

    #[test]
    fn gather_steps_splits_by_step_and_merge_checks_overlap() {
        let g = Grid { start: 0, end: 30, interval: 10 };
        let series = vec![
            Series {
                labels: lbl("1"),
                points: vec![Point { t: 0, v: 1.0 }, Point { t: 20, v: 3.0 }],
                drop_name: false,
            },
            Series {
                labels: lbl("2"),
                points: vec![Point { t: 10, v: 2.0 }, Point { t: 30, v: 4.0 }],
                drop_name: false,
            },
        ];
        let mut c = cursors(&series);
        let mut outs = vec![Vec::new(); 3];
        gather_steps(&series, &mut c, &g, 0, &mut outs);
        assert_eq!(outs.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 1]);
        assert_eq!(outs[2][0].v, 3.0);
        let mut rest = vec![Vec::new()];
        gather_steps(&series, &mut c, &g, 3, &mut rest);
        assert_eq!(rest[0][0].v, 4.0);
        assert_eq!(step_counts(&series, &g), vec![1, 1, 1, 1]);

        let a = Series { labels: lbl("1"), points: vec![Point { t: 10, v: 1.0 }], drop_name: false };
        let b = Series { labels: lbl("1"), points: vec![Point { t: 0, v: 2.0 }], drop_name: false };
        let merged = merge_same_labels(vec![a.clone(), b]).unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].points[0].t, 0);
        assert!(merge_same_labels(vec![a.clone(), a]).is_err());
    }

    #[test]
    fn gather_takes_points_at_the_step() {
        let series = vec![
            Series { labels: lbl("1"), points: vec![Point { t: 0, v: 1.0 }, Point { t: 20, v: 3.0 }], drop_name: true },
            Series { labels: lbl("2"), points: vec![Point { t: 10, v: 2.0 }], drop_name: false },
        ];
        let mut c = cursors(&series);
        let mut out = Vec::new();
        for (ts, n) in [(0, 1), (10, 1), (20, 1)] {
            out.clear();
            assert_eq!(gather(&series, &mut c, ts, &mut out), n);
        }
        assert_eq!(out[0].v, 3.0);
        assert!(out[0].drop_name);
    }
}
