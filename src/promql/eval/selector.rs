//! Selectors: which raw samples a selector needs, reading them once per
//! query, and turning them into instant vectors (lookback, staleness) and
//! range windows.

use std::collections::HashMap;

use promql_parser::parser::VectorSelector;

use super::super::error::QueryError;
use super::super::functions::{Drops, Window};
use super::super::storage::{selector_matchers, Queryable, RawSeries};
use super::super::value::{is_stale_marker, Point, Series};
use super::steps::Grid;

/// The raw data of every selector of a query, keyed by the selector's
/// address in the AST.
#[derive(Default)]
pub struct SelectorStore {
    entries: HashMap<usize, Entry>,
}

struct Entry {
    mint: i64,
    maxt: i64,
    data: Option<Vec<RawSeries>>,
}

fn key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

impl SelectorStore {
    /// Records that `vs` needs samples in `[mint, maxt]` (widening any
    /// earlier need of the same selector).
    pub fn need(&mut self, vs: &VectorSelector, mint: i64, maxt: i64) {
        if mint > maxt {
            return;
        }
        let e = self.entries.entry(key(vs)).or_insert(Entry { mint, maxt, data: None });
        e.mint = e.mint.min(mint);
        e.maxt = e.maxt.max(maxt);
    }

    /// Reads every needed selector from `q`, each once. `selectors` are the
    /// selectors of the query, `check` is called between reads (timeouts).
    pub fn load(
        &mut self,
        q: &dyn Queryable,
        selectors: &[&VectorSelector],
        mut check: impl FnMut() -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        for vs in selectors {
            let Some(e) = self.entries.get_mut(&key(vs)) else { continue };
            if e.data.is_some() {
                continue;
            }
            let matchers = selector_matchers(vs)?;
            e.data = Some(q.select(&matchers, e.mint, e.maxt)?);
            check()?;
        }
        Ok(())
    }

    /// Takes the data of `vs` (each selector node is evaluated once per
    /// query). Empty when the selector was never needed.
    pub fn take(&mut self, vs: &VectorSelector) -> Vec<RawSeries> {
        self.entries.get_mut(&key(vs)).and_then(|e| e.data.take()).unwrap_or_default()
    }

    /// The range read for `vs`, if any.
    #[cfg(test)]
    pub fn range_of(&self, vs: &VectorSelector) -> Option<(i64, i64)> {
        self.entries.get(&key(vs)).map(|e| (e.mint, e.maxt))
    }
}

/// The samples an instant selector evaluated at reference times (evaluation
/// time minus offset) in `[first, last]` needs: `(first − lookback, last]`.
pub fn instant_range(first_ref: i64, last_ref: i64, lookback: i64) -> (i64, i64) {
    (first_ref.saturating_sub(lookback).saturating_add(1), last_ref)
}

/// The samples a range selector of `range` ms evaluated at reference times
/// in `[first, last]` needs: `(first − range, last]`.
pub fn matrix_range(first_ref: i64, last_ref: i64, range: i64) -> (i64, i64) {
    (first_ref.saturating_sub(range).saturating_add(1), last_ref)
}

/// Index just past the newest point at or before `t`, searching forward
/// from `from`.
#[inline]
fn advance(points: &[Point], mut from: usize, t: i64) -> usize {
    // Short gallop, then binary search: steps usually move a few samples.
    let mut probe = 0;
    while from < points.len() && points[from].t <= t {
        from += 1;
        probe += 1;
        if probe == 8 {
            return from + points[from..].partition_point(|p| p.t <= t);
        }
    }
    from
}

/// The newest sample in `(ref − lookback, ref]` at or before index `idx`
/// (exclusive), unless it is a staleness marker.
#[inline]
fn lookback_sample(points: &[Point], idx: usize, reference: i64, lookback: i64) -> Option<Point> {
    let p = *points.get(idx.checked_sub(1)?)?;
    if p.t <= reference.saturating_sub(lookback) || is_stale_marker(p.v) {
        None
    } else {
        Some(p)
    }
}

/// Evaluates an instant vector selector over `grid`: for each series and
/// step, the newest sample in `(T − offset − lookback, T − offset]`, where T
/// is the step time or the `@` time. Points carry the step time, or with
/// `keep_sample_time` the sample's own time (for `timestamp()`).
/// `count` is told how many points each series produced.
pub fn instant_vector(
    raw: Vec<RawSeries>,
    grid: &Grid,
    offset: i64,
    at: Option<i64>,
    lookback: i64,
    mut sample_times: Option<&mut Vec<Vec<i64>>>,
    mut count: impl FnMut(usize) -> Result<(), QueryError>,
) -> Result<Vec<Series>, QueryError> {
    let n = grid.len();
    let mut out = Vec::with_capacity(raw.len());
    for rs in raw {
        let pts = &rs.points;
        let mut points = Vec::new();
        let mut times = Vec::new();
        let keep = sample_times.is_some();
        match at {
            Some(t) => {
                let reference = t.saturating_sub(offset);
                let idx = pts.partition_point(|p| p.t <= reference);
                if let Some(p) = lookback_sample(pts, idx, reference, lookback) {
                    points.reserve_exact(n);
                    for ts in grid.times() {
                        points.push(Point { t: ts, v: p.v });
                        if keep {
                            times.push(p.t);
                        }
                    }
                }
            }
            None => {
                let mut idx = 0;
                for ts in grid.times() {
                    let reference = ts.saturating_sub(offset);
                    idx = advance(pts, idx, reference);
                    if let Some(p) = lookback_sample(pts, idx, reference, lookback) {
                        if points.is_empty() {
                            points.reserve_exact(n);
                        }
                        points.push(Point { t: ts, v: p.v });
                        if keep {
                            times.push(p.t);
                        }
                    }
                }
            }
        }
        if !points.is_empty() {
            count(points.len())?;
            if let Some(st) = sample_times.as_deref_mut() {
                st.push(times);
            }
            out.push(Series { labels: rs.labels, points, drop_name: false });
        }
    }
    Ok(out)
}

/// The series of a range selector: stale markers dropped, empty series
/// removed.
pub fn range_series(raw: Vec<RawSeries>) -> Vec<Series> {
    raw.into_iter()
        .filter_map(|mut rs| {
            rs.points.retain(|p| !is_stale_marker(p.v));
            if rs.points.is_empty() {
                None
            } else {
                Some(Series { labels: rs.labels, points: rs.points, drop_name: false })
            }
        })
        .collect()
}

/// A range vector: series of raw points (a range selector's samples or a
/// subquery's results) and how to cut a window out of them at a step.
#[derive(Debug, Default)]
pub struct RangeVal {
    /// The series, points in time order, no stale markers.
    pub series: Vec<Series>,
    /// Window length (ms).
    pub range: i64,
    /// Offset (ms).
    pub offset: i64,
    /// `@` time, if any: the window is then the same at every step.
    pub at: Option<i64>,
    /// Per series, where its value drops ([`RangeVal::index_drops`]);
    /// empty until indexed.
    pub drops: Vec<Vec<usize>>,
}

impl RangeVal {
    /// `(start, end)` of the window at step time `ts`: `(start, end]`.
    pub fn bounds(&self, ts: i64) -> (i64, i64) {
        let end = self.at.unwrap_or(ts).saturating_sub(self.offset);
        (end.saturating_sub(self.range), end)
    }

    /// Finds, once, where each series' value drops, for functions that
    /// look for counter resets in every window ([`Drops`]).
    pub fn index_drops(&mut self) {
        self.drops = self
            .series
            .iter()
            .map(|s| (1..s.points.len()).filter(|&j| s.points[j].v < s.points[j - 1].v).collect())
            .collect();
    }

    /// Total points held.
    pub fn total_points(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum()
    }
}

/// Moving pointers that cut windows out of a list of series at
/// increasing step times.
pub struct Windows {
    lo: Vec<usize>,
    hi: Vec<usize>,
}

impl Windows {
    /// Pointers at the start of `n` series.
    pub fn new(n: usize) -> Self {
        Self { lo: vec![0; n], hi: vec![0; n] }
    }

    /// Fills `out` with the non-empty windows `(start, end]` of `series`
    /// (the same series at every call, `end` not decreasing between calls)
    /// and returns the largest window's length. `drops` are the series'
    /// drop indexes, or empty when not indexed.
    pub fn at<'a>(
        &mut self,
        series: &'a [Series],
        drops: &'a [Vec<usize>],
        start: i64,
        end: i64,
        out: &mut Vec<Window<'a>>,
    ) -> usize {
        out.clear();
        let mut largest = 0;
        for (i, s) in series.iter().enumerate() {
            let pts = &s.points;
            self.hi[i] = advance(pts, self.hi[i], end);
            self.lo[i] = advance(pts, self.lo[i].min(self.hi[i]), start).min(self.hi[i]);
            let (lo, hi) = (self.lo[i], self.hi[i]);
            if lo < hi {
                largest = largest.max(hi - lo);
                let drops = drops.get(i).map(|at| Drops { at, first: lo });
                out.push(Window { labels: &s.labels, points: &pts[lo..hi], drop_name: s.drop_name, drops });
            }
        }
        largest
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::promql::value::{Labels, STALE_NAN_BITS};

    fn raw(points: &[(i64, f64)]) -> Vec<RawSeries> {
        vec![RawSeries {
            labels: Arc::new(Labels::from_pairs([("__name__", "x")])),
            points: points.iter().map(|&(t, v)| Point { t, v }).collect(),
        }]
    }

    #[test]
    fn lookback_is_open_on_the_left_and_stale_markers_end_series() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let g = Grid { start: 0, end: 100, interval: 10 };
        let out =
            instant_vector(raw(&[(0, 1.0), (30, 2.0), (50, stale), (70, 3.0)]), &g, 0, None, 20, None, |_| Ok(()))
                .unwrap();
        let ts: Vec<_> = out[0].points.iter().map(|p| (p.t, p.v)).collect();
        // 20: sample at 0 is exactly lookback old → excluded.
        assert_eq!(ts, vec![(0, 1.0), (10, 1.0), (30, 2.0), (40, 2.0), (70, 3.0), (80, 3.0)]);
    }

    #[test]
    fn windows_move_forward() {
        let mut r = RangeVal {
            series: range_series(raw(&[(0, 1.0), (10, 2.0), (20, 3.0), (30, 4.0)])),
            range: 15,
            ..Default::default()
        };
        r.offset = 0;
        let mut w = Windows::new(r.series.len());
        let mut out = Vec::new();
        assert_eq!(r.bounds(20), (5, 20));
        assert_eq!(w.at(&r.series, &r.drops, 5, 20, &mut out), 2);
        assert_eq!(out[0].points.len(), 2);
        let (s, e) = r.bounds(40);
        w.at(&r.series, &r.drops, s, e, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].points, &[Point { t: 30, v: 4.0 }]);
        let (s, e) = r.bounds(45);
        w.at(&r.series, &r.drops, s, e, &mut out);
        assert!(out.is_empty());
    }
}
