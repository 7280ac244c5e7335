//! `topk`, `bottomk`, `limitk` and `limit_ratio` at one step
//! (Prometheus's `aggregationK`).
//!
//! Each group keeps its candidates in a binary heap exactly as Prometheus
//! does (Go's `container/heap`, with Prometheus's comparators that treat a
//! NaN as smaller than anything for `topk` and larger than anything for
//! `bottomk`, so NaN is chosen last), and the output is produced in the
//! same order: group by group in first-seen order; within a group `topk`
//! descending and `bottomk` ascending after Go's (unstable) `sort.Sort`,
//! `limitk` and `limit_ratio` in heap order.
//!
//! `limit_ratio` keeps a series when `hash / 2^64 < r` (for r ≥ 0) or
//! `hash / 2^64 ≥ 1 + r` (for r < 0), where `hash` is xxHash64 of the label
//! set in the layout of Prometheus's default (`stringlabels`) build: each
//! name and value preceded by its length, one byte below 255, else 255 and
//! three little-endian bytes. So a series is picked exactly when Prometheus
//! picks it, and `limit_ratio(r, x)` and `limit_ratio(-(1-r), x)` are
//! complements.

use promql_parser::parser::token::{TokenId, T_BOTTOMK, T_LIMITK, T_LIMIT_RATIO, T_TOPK};

use super::group::Grouper;
use super::labels::LabelSel;
use crate::promql::error::QueryError;
use crate::promql::eval::aggregate::AggCtx;
use crate::promql::gocompat::format::format_g;
use crate::promql::gocompat::sort::{heap_fix, heap_push, sort};
use crate::promql::value::{Labels, Sample};

/// Largest float below 2^63; k at or above it overflows int64.
const MAX_INT64_F: f64 = 9223372036854774784.0;

/// A heap entry: the sample's value and its index in the input.
#[derive(Clone, Copy)]
struct Cand {
    v: f64,
    i: usize,
}

/// `vectorByValueHeap.Less`: NaN first, then ascending.
fn by_value(a: &Cand, b: &Cand) -> bool {
    a.v.is_nan() || a.v < b.v
}

/// `vectorByReverseValueHeap.Less`: NaN first, then descending.
fn by_reverse_value(a: &Cand, b: &Cand) -> bool {
    a.v.is_nan() || a.v > b.v
}

/// Evaluates `topk`, `bottomk`, `limitk` or `limit_ratio` with parameter `p`.
pub(crate) fn aggregate_k(
    op: TokenId,
    sel: &LabelSel<'_>,
    p: f64,
    input: Vec<Sample>,
    ctx: &mut AggCtx<'_>,
) -> Result<Vec<Sample>, QueryError> {
    let mut k: usize = 0;
    let mut ratio = 0.0;
    if op == T_LIMIT_RATIO {
        if p == 0.0 {
            return Ok(Vec::new());
        }
        if p.is_nan() {
            return Err(QueryError::execution("Ratio value is NaN"));
        }
        ratio = p;
        if p > 1.0 {
            ctx.annotations.warn(
                format!("ratio value should be between -1 and 1, got {}, capping to 1", format_g(p)),
                ctx.param_position,
            );
            ratio = 1.0;
        } else if p < -1.0 {
            ctx.annotations.warn(
                format!("ratio value should be between -1 and 1, got {}, capping to -1", format_g(p)),
                ctx.param_position,
            );
            ratio = -1.0;
        }
    } else {
        if p < 1.0 {
            return Ok(Vec::new());
        }
        if p.is_nan() {
            return Err(QueryError::execution("Parameter value is NaN"));
        }
        if p >= MAX_INT64_F {
            return Err(QueryError::execution(format!("Scalar value {} overflows int64", format_g(p))));
        }
        // 1 ≤ p < 2^63: truncation is Go's int64(p).
        k = (p as u64).min(input.len() as u64) as usize;
        if k == 0 {
            return Ok(Vec::new());
        }
    }

    let mut grouper = Grouper::new(sel);
    let mut heaps: Vec<Vec<Cand>> = Vec::new();
    let mut buf = Vec::with_capacity(256);
    for (i, s) in input.iter().enumerate() {
        let c = Cand { v: s.v, i };
        let (g, new) = grouper.group_of(&input, i);
        if new {
            let mut h = Vec::with_capacity(if op == T_LIMIT_RATIO { 0 } else { k.min(16) });
            if op != T_LIMIT_RATIO || ratio_keeps(ratio, &s.labels, &mut buf) {
                h.push(c);
            }
            heaps.push(h);
            continue;
        }
        let h = &mut heaps[g];
        match op {
            T_TOPK => {
                if h.len() < k {
                    heap_push(h, c, by_value);
                } else if h[0].v < c.v || (h[0].v.is_nan() && !c.v.is_nan()) {
                    h[0] = c;
                    if k > 1 {
                        heap_fix(h, 0, by_value);
                    }
                }
            }
            T_BOTTOMK => {
                if h.len() < k {
                    heap_push(h, c, by_reverse_value);
                } else if h[0].v > c.v || (h[0].v.is_nan() && !c.v.is_nan()) {
                    h[0] = c;
                    if k > 1 {
                        heap_fix(h, 0, by_reverse_value);
                    }
                }
            }
            T_LIMITK => {
                if h.len() < k {
                    heap_push(h, c, by_value);
                }
            }
            _ => {
                if ratio_keeps(ratio, &s.labels, &mut buf) {
                    heap_push(h, c, by_value);
                }
            }
        }
    }

    let mut out = Vec::with_capacity(heaps.iter().map(Vec::len).sum());
    for mut h in heaps {
        if h.len() > 1 {
            match op {
                T_TOPK => sort(&mut h, |a, b| by_value(b, a)),
                T_BOTTOMK => sort(&mut h, |a, b| by_reverse_value(b, a)),
                _ => {}
            }
        }
        for c in h {
            let s = &input[c.i];
            out.push(Sample { labels: s.labels.clone(), t: ctx.ts, v: s.v, drop_name: s.drop_name });
        }
    }
    Ok(out)
}

/// Whether `limit_ratio` with ratio `r` (in [-1, 1]) keeps the series `ls`.
fn ratio_keeps(r: f64, ls: &Labels, buf: &mut Vec<u8>) -> bool {
    let offset = sample_offset(ls, buf);
    (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r)
}

/// The series' position in [0, 1]: its label hash over 2^64.
fn sample_offset(ls: &Labels, buf: &mut Vec<u8>) -> f64 {
    labels_hash(ls, buf) as f64 / u64::MAX as f64
}

/// Prometheus's `labels.Labels.Hash()` (default `stringlabels` build).
pub(crate) fn labels_hash(ls: &Labels, buf: &mut Vec<u8>) -> u64 {
    fn put_size(buf: &mut Vec<u8>, n: usize) {
        if n < 255 {
            buf.push(n as u8);
        } else {
            buf.extend_from_slice(&[255, n as u8, (n >> 8) as u8, (n >> 16) as u8]);
        }
    }
    buf.clear();
    for l in ls {
        put_size(buf, l.name.len());
        buf.extend_from_slice(l.name.as_bytes());
        put_size(buf, l.value.len());
        buf.extend_from_slice(l.value.as_bytes());
    }
    xxhash_rust::xxh64::xxh64(buf, 0)
}
