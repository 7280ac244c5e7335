//! `histogram_quantile`, `histogram_quantiles` and `histogram_fraction`
//! over classic histograms: series with an `le` label, grouped by all their
//! other labels (the name included), ported from Prometheus's
//! `promql/quantile.go` (`BucketQuantile`, `BucketFraction`).
//!
//! Rampart stores no native histograms, so the functions that only read
//! native histograms (`histogram_count`, `histogram_sum`, `histogram_avg`,
//! `histogram_stddev`, `histogram_stdvar`) have nothing to return, exactly
//! as Prometheus ignores float samples in them.
//!
//! Outputs carry each group's labels without `le` and mark the name for
//! removal. Groups come out in the order their first bucket came in.

use std::collections::hash_map::{DefaultHasher, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::super::value::{Label, Labels, Sample};
use super::{messages, scalar_arg, string_arg, vector_arg, Arg, FnCtx};
use crate::promql::error::QueryError;
use crate::promql::gocompat::almost;
use crate::promql::gocompat::format::format_g;
use crate::promql::gocompat::sort::sort;

/// The bucket label.
const LE: &str = "le";

/// Relative differences between neighbouring buckets below this are taken
/// for floating-point noise and smoothed away without an annotation.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// One classic bucket: observations at or below `upper`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// The buckets of one classic histogram at this step.
struct Group {
    /// Index in the input of the group's first bucket.
    first: usize,
    buckets: Vec<Bucket>,
}

/// `histogram_quantile(φ, v)`.
pub(super) fn histogram_quantile(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let q = scalar_arg(args, 0)?;
    let input = vector_arg(args, 1)?;
    warn_invalid_quantile(ctx, q, 0);
    let mut groups = classic_histograms(ctx, input, 1);
    let mut out = Vec::with_capacity(groups.len());
    for g in &mut groups {
        let labels = without_le(&input[g.first].labels);
        let (v, forced) = bucket_quantile(q, &mut g.buckets);
        if forced {
            report_forced_monotonicity(ctx, &labels, 1);
        }
        out.push(Sample { labels, t: ctx.ts, v, drop_name: true });
    }
    Ok(out)
}

/// `histogram_quantiles(v, label, φ…)` (experimental): one output per
/// quantile and histogram, told apart by `label` set to the quantile.
pub(super) fn histogram_quantiles(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let input = vector_arg(args, 0)?;
    let label = string_arg(args, 1)?;
    let qs = (2..args.len()).map(|i| scalar_arg(args, i)).collect::<Result<Vec<_>, _>>()?;
    for (i, &q) in qs.iter().enumerate() {
        warn_invalid_quantile(ctx, q, i + 2);
    }
    let mut groups = classic_histograms(ctx, input, 0);
    let bases: Vec<Arc<Labels>> = groups.iter().map(|g| without_le(&input[g.first].labels)).collect();
    let mut out = Vec::with_capacity(groups.len() * qs.len());
    for &q in &qs {
        let q_text = format_openmetrics_float(q);
        for (g, base) in groups.iter_mut().zip(&bases) {
            // Prometheus reuses the buckets from one quantile to the next,
            // sorted, coalesced and made monotonic in place.
            let (v, forced) = bucket_quantile(q, &mut g.buckets);
            if forced {
                report_forced_monotonicity(ctx, base, 0);
            }
            out.push(Sample { labels: with_label(base, label, &q_text), t: ctx.ts, v, drop_name: true });
        }
    }
    Ok(out)
}

/// `histogram_fraction(lower, upper, v)`: the estimated fraction of
/// observations between `lower` and `upper`.
pub(super) fn histogram_fraction(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let lower = scalar_arg(args, 0)?;
    let upper = scalar_arg(args, 1)?;
    let input = vector_arg(args, 2)?;
    let mut groups = classic_histograms(ctx, input, 2);
    Ok(groups
        .iter_mut()
        .map(|g| Sample {
            labels: without_le(&input[g.first].labels),
            t: ctx.ts,
            v: bucket_fraction(lower, upper, &mut g.buckets),
            drop_name: true,
        })
        .collect())
}

/// `histogram_count`, `histogram_sum`, `histogram_avg`, `histogram_stddev`,
/// `histogram_stdvar`: native histograms only, so never a result here.
pub(super) fn native_only(_ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    vector_arg(args, 0)?;
    Ok(Vec::new())
}

fn warn_invalid_quantile(ctx: &mut FnCtx<'_>, q: f64, arg: usize) {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ctx.annotations.warn(messages::invalid_quantile(q), ctx.arg_position(arg));
    }
}

fn report_forced_monotonicity(ctx: &mut FnCtx<'_>, labels: &Labels, arg: usize) {
    let name = labels.metric_name().unwrap_or("");
    ctx.annotations.info(messages::forced_monotonicity(name), ctx.arg_position(arg));
}

/// Groups the samples with a parseable `le` by their other labels; warns
/// (at argument `arg`) about the others.
fn classic_histograms(ctx: &mut FnCtx<'_>, input: &[Sample], arg: usize) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, s) in input.iter().enumerate() {
        let le = s.labels.get(LE).unwrap_or("");
        let Some(upper) = parse_go_float(le) else {
            let name = s.labels.metric_name().unwrap_or("");
            ctx.annotations.warn(messages::bad_bucket_label(name, le), ctx.arg_position(arg));
            continue;
        };
        let bucket = Bucket { upper, count: s.v };
        let candidates = by_hash.entry(hash_without_le(&s.labels)).or_default();
        match candidates.iter().find(|&&g| same_without_le(&input[groups[g].first].labels, &s.labels)) {
            Some(&g) => groups[g].buckets.push(bucket),
            None => {
                candidates.push(groups.len());
                groups.push(Group { first: i, buckets: vec![bucket] });
            }
        }
    }
    groups
}

fn other_labels(labels: &Labels) -> impl Iterator<Item = &Label> {
    labels.iter().filter(|l| l.name != LE)
}

fn hash_without_le(labels: &Labels) -> u64 {
    let mut h = DefaultHasher::new();
    other_labels(labels).for_each(|l| l.hash(&mut h));
    h.finish()
}

fn same_without_le(a: &Labels, b: &Labels) -> bool {
    other_labels(a).eq(other_labels(b))
}

fn without_le(labels: &Arc<Labels>) -> Arc<Labels> {
    if labels.get(LE).is_none() {
        return Arc::clone(labels);
    }
    Arc::new(Labels::from_sorted(other_labels(labels).cloned().collect()))
}

/// `labels` with `name` set to `value` (removed if empty).
fn with_label(labels: &Labels, name: &str, value: &str) -> Arc<Labels> {
    let mut v: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    if !value.is_empty() {
        let at = v.partition_point(|l| l.name.as_str() < name);
        v.insert(at, Label::new(name, value));
    }
    Arc::new(Labels::from_sorted(v))
}

/// Prometheus's `BucketQuantile`: the φ-quantile, interpolating linearly
/// inside the bucket it falls in (from 0 in the lowest bucket if its bound
/// is positive); the second-highest bound if it falls in the +Inf bucket.
/// NaN without a +Inf bucket, with fewer than two bounds or with no
/// observations. Also says whether bucket counts had to be made monotonic.
///
/// `buckets` is sorted, coalesced and corrected in place, and keeps its
/// length, as Go's slice does.
fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    sort(buckets, |a, b| a.upper < b.upper);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let n = coalesce(buckets);
    let buckets = &mut buckets[..n];
    let forced = ensure_monotonic(buckets, SMALL_DELTA_TOLERANCE);
    if n < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let b = go_search(n - 1, |i| buckets[i].count >= rank);
    let v = if b == n - 1 {
        buckets[n - 2].upper
    } else if b == 0 && buckets[0].upper <= 0.0 {
        buckets[0].upper
    } else {
        let mut start = 0.0;
        let end = buckets[b].upper;
        let mut count = buckets[b].count;
        if b > 0 {
            start = buckets[b - 1].upper;
            count -= buckets[b - 1].count;
            rank -= buckets[b - 1].count;
        }
        start + (end - start) * (rank / count)
    };
    (v, forced)
}

/// Prometheus's `BucketFraction`: the fraction of observations between
/// `lower` and `upper`, interpolating linearly inside buckets (from 0 in
/// the lowest bucket if its bound is positive); nothing is interpolated in
/// the +Inf bucket.
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [Bucket]) -> f64 {
    sort(buckets, |a, b| a.upper < b.upper);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    let n = coalesce(buckets);
    let buckets = &buckets[..n];
    let count = buckets[n - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].upper <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper;
        }
        let upper_bound = b.upper;
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Merges neighbours with the same bound (sorted input) into the front of
/// `buckets`; returns how many there are.
fn coalesce(buckets: &mut [Bucket]) -> usize {
    let mut last = buckets[0];
    let mut i = 0;
    for j in 1..buckets.len() {
        let b = buckets[j];
        if b.upper == last.upper {
            last.count += b.count;
        } else {
            buckets[i] = last;
            last = b;
            i += 1;
        }
    }
    buckets[i] = last;
    i + 1
}

/// Prometheus's `ensureMonotonicAndIgnoreSmallDeltas`: smooths differences
/// within `tolerance` and raises any count below its predecessor's; says
/// whether the latter happened.
fn ensure_monotonic(buckets: &mut [Bucket], tolerance: f64) -> bool {
    let mut forced = false;
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost::equal(prev, curr, tolerance) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

/// Go's `sort.Search`: the first `i` in `[0, n)` where `f` holds, by
/// bisection (so its answer for a non-monotonic `f` is Go's too), else `n`.
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = (i + j) / 2;
        if f(h) {
            j = h;
        } else {
            i = h + 1;
        }
    }
    i
}

/// Go's `strconv.ParseFloat(s, 64)` for a bucket bound: decimal or
/// hexadecimal (`0x1p-3`) notation, `Inf`/`Infinity` with optional sign and
/// `NaN` in any case; `None` for anything else or a finite value out of
/// range.
fn parse_go_float(s: &str) -> Option<f64> {
    let (negative, body, signed) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..], true),
        b'-' => (true, &s[1..], true),
        _ => (false, s, false),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if body.eq_ignore_ascii_case("nan") {
        return (!signed).then_some(f64::NAN);
    }
    let v = if body.len() > 2 && (body.starts_with("0x") || body.starts_with("0X")) {
        let v = parse_hex_float(&body[2..])?;
        if negative {
            -v
        } else {
            v
        }
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b".eE+-".contains(&b)) {
            return None;
        }
        s.parse::<f64>().ok()?
    };
    v.is_finite().then_some(v)
}

/// The part of a hexadecimal float after `0x`: hex digits with an optional
/// point, then a mandatory binary exponent `p±N`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = s.split_once(['p', 'P'])?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0.0f64;
    for c in int.chars().chain(frac.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let scale = exp.checked_sub(4 * i32::try_from(frac.len()).ok()?)?;
    Some(value * 2f64.powi(scale))
}

/// Prometheus's `FormatOpenMetricsFloat`: Go's shortest `%g`, with `.0`
/// appended to integers.
fn format_openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    let mut s = format_g(f);
    if f.is_finite() && !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_float, Harness};
    use super::*;

    /// A vector of `name{le=…, extra…}` buckets.
    fn buckets(name: &str, extra: &[(&str, &str)], bs: &[(&str, f64)]) -> Vec<Sample> {
        bs.iter()
            .map(|&(le, v)| {
                let mut pairs = vec![("__name__", name), ("le", le)];
                pairs.extend_from_slice(extra);
                Sample { labels: Arc::new(Labels::from_pairs(pairs)), t: 0, v, drop_name: false }
            })
            .collect()
    }

    fn testhistogram3() -> Vec<Sample> {
        let mut v = buckets(
            "testhistogram3_bucket",
            &[("start", "positive")],
            &[("0", 0.0), ("0.1", 50.0), (".2", 70.0), ("1e0", 110.0), ("+Inf", 110.0)],
        );
        v.extend(buckets(
            "testhistogram3_bucket",
            &[("start", "negative")],
            &[("-.25", 0.0), ("-.2", 10.0), ("-0.1", 20.0), ("0.3", 20.0), ("+Inf", 20.0)],
        ));
        v
    }

    fn testhistogram() -> Vec<Sample> {
        let mut v = buckets(
            "testhistogram_bucket",
            &[("start", "positive")],
            &[("0.1", 50.0), (".2", 70.0), ("1e0", 110.0), ("+Inf", 120.0)],
        );
        v.extend(buckets(
            "testhistogram_bucket",
            &[("start", "negative")],
            &[("-.2", 10.0), ("-0.1", 20.0), ("0.3", 20.0), ("+Inf", 30.0)],
        ));
        v
    }

    fn quantile_of(q: f64, input: &[Sample], h: &mut Harness) -> Vec<(String, f64)> {
        let out = h.call(histogram_quantile, &[Arg::Scalar(q), Arg::Vector(input)]).unwrap();
        out.iter()
            .map(|s| {
                assert!(s.drop_name && s.labels.get("le").is_none());
                (s.labels.get("start").unwrap_or("").to_owned(), s.v)
            })
            .collect()
    }

    #[test]
    fn histogram_quantile_classic() {
        type Case = (fn() -> Vec<Sample>, f64, f64, f64);
        let cases: &[Case] = &[
            (testhistogram3, 0.0, 0.0, -0.25),
            (testhistogram3, 0.25, 0.055, -0.225),
            (testhistogram3, 0.5, 0.125, -0.2),
            (testhistogram3, 0.75, 0.45, -0.15),
            (testhistogram3, 1.0, 1.0, -0.1),
            (testhistogram, 0.0, 0.0, -0.2),
            (testhistogram, 1.0, 1.0, 0.3),
            (testhistogram, 0.2, 0.048, -0.2),
            (testhistogram, 0.5, 0.15, -0.15),
            (testhistogram, 0.8, 0.72, 0.3),
        ];
        for &(input, q, positive, negative) in cases {
            let mut h = Harness::new(0);
            let got = quantile_of(q, &input(), &mut h);
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].0, "positive");
            assert_float(got[0].1, positive, 1e-12);
            assert_float(got[1].1, negative, 1e-12);
            assert!(h.annotations.is_empty());
        }
    }

    #[test]
    fn histogram_quantile_out_of_range_warns_at_the_quantile() {
        for (q, want) in [(-0.1, f64::NEG_INFINITY), (1.01, f64::INFINITY), (f64::NAN, f64::NAN)] {
            let mut h = Harness::new(0);
            h.arg_positions = vec![Some(19), Some(24)];
            let got = quantile_of(q, &testhistogram(), &mut h);
            assert_eq!(got.len(), 2);
            got.iter().for_each(|g| assert_float(g.1, want, 0.0));
            assert_eq!(h.warnings(), [(messages::invalid_quantile(q), Some(19))]);
            // Even with nothing to compute.
            let mut h = Harness::new(0);
            assert!(quantile_of(q, &[], &mut h).is_empty());
            assert_eq!(h.warnings().len(), 1);
        }
    }

    #[test]
    fn histogram_quantile_fixes_monotonicity_with_an_info() {
        let input = buckets(
            "nonmonotonic_bucket",
            &[],
            &[("0.1", 20.0), ("1", 10.0), ("10", 50.0), ("100", 40.0), ("1000", 90.0), ("+Inf", 80.0)],
        );
        for (q, want) in [(0.01, 0.0045), (0.5, 8.5), (0.99, 979.75)] {
            let mut h = Harness::new(0);
            h.arg_positions = vec![Some(19), Some(25)];
            let got = quantile_of(q, &input, &mut h);
            assert_float(got[0].1, want, 1e-12);
            assert_eq!(h.infos(), [(messages::forced_monotonicity("nonmonotonic_bucket"), Some(25))]);
        }
        // Tiny differences are smoothed silently.
        let input = buckets("x", &[], &[("1", 10.0), ("2", 10.0 - 1e-13), ("+Inf", 20.0)]);
        let mut h = Harness::new(0);
        assert_float(quantile_of(0.5, &input, &mut h)[0].1, 1.0, 0.0);
        assert!(h.annotations.is_empty());
    }

    #[test]
    fn histogram_quantile_edge_cases() {
        let mut h = Harness::new(0);
        // Same bound written differently: coalesced.
        let mixed = buckets(
            "mixed_bucket",
            &[("instance", "ins1")],
            &[("0.1", 1.0), ("0.2", 1.0), ("2e-1", 1.0), ("2.0e-1", 1.0), ("+Inf", 4.0)],
        );
        assert_float(quantile_of(0.5, &mixed, &mut h)[0].1, 0.15, 1e-12);
        assert_float(quantile_of(0.75, &mixed, &mut h)[0].1, 0.2, 1e-12);
        assert_float(quantile_of(1.0, &mixed, &mut h)[0].1, 0.2, 1e-12);
        let only_inf = buckets("mixed_bucket", &[("instance", "ins2")], &[("+inf", 0.0), ("+Inf", 0.0)]);
        assert!(quantile_of(0.5, &only_inf, &mut h)[0].1.is_nan());
        // No +Inf bucket, or no observations.
        assert!(quantile_of(0.5, &buckets("a", &[], &[("1", 1.0), ("2", 2.0)]), &mut h)[0].1.is_nan());
        assert!(quantile_of(0.2, &buckets("a", &[], &[("0.1", 0.0), ("+Inf", 0.0)]), &mut h)[0].1.is_nan());
        // In the +Inf bucket: the highest finite bound.
        assert_float(quantile_of(0.9, &buckets("a", &[], &[("1", 1.0), ("+Inf", 10.0)]), &mut h)[0].1, 1.0, 0.0);
        // testhistogram2 at 7m: q(1/6), q(1/2), q(5/6) mid-bucket.
        let two = buckets("t", &[], &[("0", 0.0), ("2", 1.0), ("4", 2.0), ("6", 3.0), ("+Inf", 3.0)]);
        for (q, want) in [(1.0 / 6.0, 1.0), (0.5, 3.0), (5.0 / 6.0, 5.0)] {
            assert_float(quantile_of(q, &two, &mut h)[0].1, want, 1e-12);
        }
        assert!(h.annotations.is_empty());
    }

    #[test]
    fn bad_bucket_labels_warn_and_are_skipped() {
        let mut h = Harness::new(0);
        h.arg_positions = vec![Some(19), Some(24)];
        let mut input = buckets("series", &[], &[("Hello World", 2.0), ("", 3.0)]);
        input.push(Sample { labels: Arc::new(Labels::from_pairs([("ale", "0.1")])), t: 0, v: 2.0, drop_name: false });
        assert!(quantile_of(0.8, &input, &mut h).is_empty());
        assert_eq!(
            h.warnings(),
            [
                (messages::bad_bucket_label("series", "Hello World"), Some(24)),
                (messages::bad_bucket_label("series", ""), Some(24)),
                (messages::bad_bucket_label("", ""), Some(24)),
            ]
        );
    }

    #[test]
    fn groups_keep_the_name_and_first_seen_order() {
        let mut input = buckets("b_bucket", &[], &[("1", 1.0)]);
        input.extend(buckets("a_bucket", &[], &[("1", 1.0), ("+Inf", 2.0)]));
        input.extend(buckets("b_bucket", &[], &[("+Inf", 2.0)]));
        let out = Harness::new(0).call(histogram_quantile, &[Arg::Scalar(0.5), Arg::Vector(&input)]).unwrap();
        let names: Vec<_> = out.iter().map(|s| s.labels.metric_name().unwrap().to_owned()).collect();
        assert_eq!(names, ["b_bucket", "a_bucket"]);
        assert!(out.iter().all(|s| s.v == 1.0 && s.labels.len() == 1));
    }

    #[test]
    fn histogram_quantiles_labels_each_quantile() {
        let mut h = Harness::new(0);
        h.arg_positions = vec![Some(20), Some(36), Some(41), Some(44)];
        let args =
            [Arg::Vector(&testhistogram3()), Arg::String("q"), Arg::Scalar(0.0), Arg::Scalar(0.25), Arg::Scalar(1.0)];
        let out = h.call(histogram_quantiles, &args).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|s| (s.labels.get("q").unwrap().to_owned(), s.labels.get("start").unwrap().to_owned(), s.v))
            .collect();
        let want = [
            ("0.0", "positive", 0.0),
            ("0.0", "negative", -0.25),
            ("0.25", "positive", 0.055),
            ("0.25", "negative", -0.225),
            ("1.0", "positive", 1.0),
            ("1.0", "negative", -0.1),
        ];
        assert_eq!(got.len(), want.len());
        for ((q, start, v), (wq, ws, wv)) in got.iter().zip(want) {
            assert_eq!((q.as_str(), start.as_str()), (wq, ws));
            assert_float(*v, wv, 1e-12);
        }
        assert!(out.iter().all(|s| s.drop_name && s.labels.metric_name() == Some("testhistogram3_bucket")));
        assert!(h.annotations.is_empty());

        let args = [Arg::Vector(&testhistogram()), Arg::String("q"), Arg::Scalar(f64::NAN), Arg::Scalar(-0.1)];
        let out = h.call(histogram_quantiles, &args).unwrap();
        let qs: Vec<_> = out.iter().map(|s| s.labels.get("q").unwrap().to_owned()).collect();
        assert_eq!(qs, ["NaN", "NaN", "-0.1", "-0.1"]);
        assert_eq!(
            h.warnings(),
            [(messages::invalid_quantile(f64::NAN), Some(41)), (messages::invalid_quantile(-0.1), Some(44))]
        );
    }

    #[test]
    fn histogram_quantiles_reuses_coalesced_buckets_as_prometheus_does() {
        // Prometheus coalesces in place without shortening the group's
        // buckets, so a later quantile sees the duplicated +Inf bucket.
        let input = buckets("m", &[], &[("1", 1.0), ("1.0", 1.0), ("+Inf", 4.0)]);
        let args = [Arg::Vector(&input), Arg::String("q"), Arg::Scalar(0.25), Arg::Scalar(0.25)];
        let out = Harness::new(0).call(histogram_quantiles, &args).unwrap();
        // First: buckets 1→2, +Inf→4: rank 1 is half way into (0, 1].
        assert_float(out[0].v, 0.5, 0.0);
        // Second: 1→2, +Inf→4, +Inf→4 coalesced to +Inf→8: rank 2 is at 1.
        assert_float(out[1].v, 1.0, 0.0);
        let mut b = vec![
            Bucket { upper: 1.0, count: 1.0 },
            Bucket { upper: 1.0, count: 1.0 },
            Bucket { upper: f64::INFINITY, count: 4.0 },
        ];
        bucket_quantile(0.5, &mut b);
        assert_eq!(b[1..], [Bucket { upper: f64::INFINITY, count: 4.0 }, Bucket { upper: f64::INFINITY, count: 4.0 }]);
        assert_float(bucket_quantile(0.1, &mut b).0, 0.4, 1e-12);
    }

    fn fraction(lower: f64, upper: f64, bs: &[(&str, f64)]) -> f64 {
        let input = buckets("h", &[], bs);
        let out = Harness::new(0)
            .call(histogram_fraction, &[Arg::Scalar(lower), Arg::Scalar(upper), Arg::Vector(&input)])
            .unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].drop_name);
        out[0].v
    }

    #[test]
    fn histogram_fraction_classic() {
        let two: &[(&str, f64)] = &[("0", 0.0), ("2", 1.0), ("4", 2.0), ("6", 3.0), ("+Inf", 3.0)];
        assert_float(fraction(0.0, 4.0, two), 0.6666666666666666, 1e-15);
        assert_float(fraction(0.0, 6.0, two), 1.0, 1e-15);
        assert_float(fraction(0.0, 3.5, two), 0.5833333333333334, 1e-15);
        let three: &[(&str, f64)] = &[("0", 0.0), ("0.1", 50.0), (".2", 70.0), ("1e0", 110.0), ("+Inf", 110.0)];
        assert_float(fraction(0.0, 0.2, three), 0.6363636363636364, 1e-15);
        let neg: &[(&str, f64)] = &[("-.25", 0.0), ("-.2", 10.0), ("-0.1", 20.0), ("0.3", 20.0), ("+Inf", 20.0)];
        assert_float(fraction(0.0, 0.2, neg), 0.0, 0.0);
        let pos: &[(&str, f64)] = &[("1", 1.0), ("2", 3.0), ("3", 6.0), ("+Inf", 100.0)];
        let negs: &[(&str, f64)] = &[("-3", 10.0), ("-2", 12.0), ("-1", 15.0), ("+Inf", 100.0)];
        type Case<'a> = (f64, f64, &'a [(&'a str, f64)], f64);
        let cases: &[Case<'_>] = &[
            (0.0, 1.5, pos, 0.02),
            (-4.0, -2.0, negs, 0.02),
            (f64::NEG_INFINITY, -1.5, negs, 0.135),
            (f64::NEG_INFINITY, f64::INFINITY, pos, 1.0),
            (f64::NEG_INFINITY, f64::INFINITY, negs, 1.0),
            (4.0, 5.0, pos, 0.0),
            (0.0, 1.0, negs, 0.0),
            (2.0, 5.0, pos, 0.03),
            (400.0, f64::INFINITY, pos, 0.94),
            (2.0, 2.0, pos, 0.0),
            (3.0, 2.0, pos, 0.0),
            (2.0, 3.5, pos, 0.03),
            (0.5, 2.0, pos, 0.025),
            (1.0, 3.0, pos, 0.05),
        ];
        for &(lower, upper, bs, want) in cases {
            assert_float(fraction(lower, upper, bs), want, 1e-12);
        }
        assert_float(fraction(0.0, 1.0, &[("+Inf", 100.0)]), 0.0, 0.0);
        assert!(fraction(0.0, 5.0, &[("1", 0.0), ("+Inf", 0.0)]).is_nan());
        assert!(fraction(f64::NAN, 1.0, pos).is_nan());
        assert!(fraction(0.0, f64::NAN, pos).is_nan());
        assert_float(fraction(0.1, 0.75, &[("0.5", 2.5), ("1", 7.5), ("+Inf", 100.0)]), 0.045, 1e-12);
        let cross: &[(&str, f64)] = &[("-2", 5.0), ("-1", 10.0), ("0", 15.0), ("1", 20.0), ("+Inf", 100.0)];
        assert_float(fraction(-1.0, 1.0, cross), 0.1, 1e-12);
        let small: &[(&str, f64)] = &[("1", 1.0), ("2", 3.0), ("+Inf", 10.0)];
        assert_float(fraction(-10.0, -5.0, small), 0.0, 0.0);
        assert_float(fraction(5.0, 10.0, small), 0.0, 0.0);
        assert!(fraction(0.0, 1.0, &[("1", 1.0)]).is_nan());
    }

    #[test]
    fn native_only_functions_ignore_floats() {
        let input = testhistogram();
        assert!(Harness::new(0).call(native_only, &[Arg::Vector(&input)]).unwrap().is_empty());
    }

    #[test]
    fn parse_go_float_accepts_what_strconv_accepts() {
        let ok: &[(&str, f64)] = &[
            ("0.1", 0.1),
            (".2", 0.2),
            ("1e0", 1.0),
            ("2.0e-1", 0.2),
            ("-.25", -0.25),
            ("+5", 5.0),
            ("5.", 5.0),
            ("1E3", 1000.0),
            ("0x1p-2", 0.25),
            ("0X1.8p1", 3.0),
            ("-0x10p0", -16.0),
            ("1e-400", 0.0),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_go_float(s), Some(want), "{s}");
        }
        for s in ["+Inf", "+inf", "Inf", "-INF", "infinity", "+Infinity"] {
            assert!(parse_go_float(s).is_some_and(f64::is_infinite), "{s}");
        }
        assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
        assert!(parse_go_float("nan").is_some_and(f64::is_nan));
        for s in ["", "+", "Hello World", "+nan", "infin", "1e400", "1_000", " 1", "1 ", "0x1", "0x", "e5", "1e", "."] {
            assert_eq!(parse_go_float(s), None, "{s:?}");
        }
    }

    #[test]
    fn openmetrics_floats() {
        let cases =
            [(1.0, "1.0"), (0.0, "0.0"), (-1.0, "-1.0"), (0.25, "0.25"), (2.0, "2.0"), (1e6, "1e+06"), (0.99, "0.99")];
        for (f, want) in cases {
            assert_eq!(format_openmetrics_float(f), want);
        }
        assert_eq!(format_openmetrics_float(f64::INFINITY), "+Inf");
        assert_eq!(format_openmetrics_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_openmetrics_float(f64::NAN), "NaN");
    }

    #[test]
    fn go_search_bisects() {
        assert_eq!(go_search(5, |i| i >= 3), 3);
        assert_eq!(go_search(5, |_| false), 5);
        assert_eq!(go_search(0, |_| true), 0);
    }
}
