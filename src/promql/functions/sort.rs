//! `sort`, `sort_desc`, `sort_by_label` and `sort_by_label_desc`.
//!
//! Prometheus sorts with Go's pattern-defeating quicksort, which is not
//! stable, and some of its orders are not even consistent (a NaN is "less"
//! than everything, itself included; `sort_by_label` finds `""` greater
//! than `"x"` and `"x"` greater than `""`). To give the same order for ties
//! and for those inputs, sorting is Go's ([`gocompat::sort`]), and
//! [`natural_less`] is a port of `github.com/facette/natsort`'s `Compare`.
//!
//! Sorting is the only effect: labels, values and `drop_name` are kept.

use std::cmp::Ordering;

use super::super::value::Sample;
use super::{messages, string_arg, vector_arg, Arg, FnCtx};
use crate::promql::error::QueryError;
use crate::promql::gocompat;

/// `sort(v)`: ascending by value, NaN last.
pub(super) fn sort(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    warn_in_range_query(ctx);
    let mut out = vector_arg(args, 0)?.to_vec();
    // sort.Sort(sort.Reverse(vectorByReverseValueHeap(v))).
    gocompat::sort::sort(&mut out, |a, b| b.v.is_nan() || b.v > a.v);
    Ok(out)
}

/// `sort_desc(v)`: descending by value, NaN last.
pub(super) fn sort_desc(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    warn_in_range_query(ctx);
    let mut out = vector_arg(args, 0)?.to_vec();
    // sort.Sort(sort.Reverse(vectorByValueHeap(v))).
    gocompat::sort::sort(&mut out, |a, b| b.v.is_nan() || b.v < a.v);
    Ok(out)
}

/// `sort_by_label(v, l, …)`: natural order of the labels' values, then the
/// whole label set.
pub(super) fn sort_by_label(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    by_label(ctx, args, false)
}

/// `sort_by_label_desc(v, l, …)`: the reverse of `sort_by_label`.
pub(super) fn sort_by_label_desc(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    by_label(ctx, args, true)
}

fn by_label(ctx: &mut FnCtx<'_>, args: &[Arg<'_>], desc: bool) -> Result<Vec<Sample>, QueryError> {
    warn_in_range_query(ctx);
    let mut out = vector_arg(args, 0)?.to_vec();
    let names = (1..args.len()).map(|i| string_arg(args, i)).collect::<Result<Vec<_>, _>>()?;
    let cmp = |a: &Sample, b: &Sample| {
        for name in &names {
            let va = a.labels.get(name).unwrap_or("");
            let vb = b.labels.get(name).unwrap_or("");
            if va == vb {
                continue;
            }
            return if natural_less(va, vb) != desc { Ordering::Less } else { Ordering::Greater };
        }
        let whole = a.labels.cmp(&b.labels);
        if desc {
            whole.reverse()
        } else {
            whole
        }
    };
    gocompat::sort::sort(&mut out, |a, b| cmp(a, b) == Ordering::Less);
    Ok(out)
}

/// Prometheus warns when a sort's order is thrown away by a range query.
fn warn_in_range_query(ctx: &mut FnCtx<'_>) {
    if ctx.query_step != 0 && ctx.query_start != ctx.query_end {
        ctx.annotations.warn(messages::SORT_IN_RANGE_QUERY, ctx.position);
    }
}

/// `facette/natsort.Compare`: splits both strings into runs of ASCII digits
/// and of other characters; runs that both parse as int64 compare as
/// numbers, others as bytes. When all runs of the shorter split are equal
/// it answers `true` if `a` ran out first, so it is not a strict order
/// (`"01"` and `"1"` each precede the other, and `""` precedes nothing).
pub(super) fn natural_less(a: &str, b: &str) -> bool {
    let chunks_a = chunks(a);
    let chunks_b = chunks(b);
    let (na, nb) = (chunks_a.len(), chunks_b.len());
    for (i, (ca, cb)) in chunks_a.iter().zip(chunks_b.iter().chain(std::iter::repeat(&""))).enumerate() {
        if i >= nb {
            return false;
        }
        match (parse_go_int(ca), parse_go_int(cb)) {
            (Some(ia), Some(ib)) if ia != ib => return ia < ib,
            (Some(_), Some(_)) => {}
            _ if ca != cb => return ca < cb,
            _ => {}
        }
        // Equal so far: whoever runs out first is smaller, and `a` wins ties.
        if i == na - 1 {
            return true;
        }
        if i == nb - 1 {
            return false;
        }
    }
    false
}

/// Maximal runs of ASCII digits and of everything else (`(\d+|\D+)`).
fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    for i in 1..=bytes.len() {
        if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
            // A run boundary never splits a UTF-8 sequence: continuation
            // bytes are never ASCII digits.
            out.push(&s[start..i]);
            start = i;
        }
    }
    out
}

/// `strconv.Atoi` on a run of digits: `None` on overflow.
fn parse_go_int(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{sample, Harness};
    use super::*;

    fn values(out: &[Sample]) -> Vec<String> {
        out.iter().map(|s| s.v.to_string()).collect()
    }

    #[test]
    fn sort_puts_nan_last_both_ways() {
        let input: Vec<Sample> = [3.0, f64::NAN, 1.0, 2.0, f64::NAN, -1.0]
            .iter()
            .enumerate()
            .map(|(i, &v)| sample(&[("i", &i.to_string())], v))
            .collect();
        let mut h = Harness::new(0);
        let out = h.call(sort, &[Arg::Vector(&input)]).unwrap();
        assert_eq!(values(&out), ["-1", "1", "2", "3", "NaN", "NaN"]);
        let out = h.call(sort_desc, &[Arg::Vector(&input)]).unwrap();
        assert_eq!(values(&out), ["3", "2", "1", "-1", "NaN", "NaN"]);
        assert!(h.annotations.is_empty());
    }

    #[test]
    fn sort_warns_in_range_queries_at_the_call() {
        let input = [sample(&[], 1.0)];
        let mut h = Harness::new(0);
        h.query_end = 60_000;
        h.query_step = 15_000;
        h.position = Some(3);
        h.call(sort, &[Arg::Vector(&input)]).unwrap();
        h.call(sort_by_label_desc, &[Arg::Vector(&input), Arg::String("a")]).unwrap();
        assert_eq!(h.warnings(), [(messages::SORT_IN_RANGE_QUERY.to_owned(), Some(3))]);
    }

    #[test]
    fn sort_keeps_labels_and_drop_name() {
        let mut s = sample(&[("__name__", "x")], 1.0);
        s.drop_name = true;
        let input = [sample(&[("__name__", "y")], 2.0), s.clone()];
        let out = Harness::new(0).call(sort, &[Arg::Vector(&input)]).unwrap();
        assert_eq!(out, [s, input[0].clone()]);
    }

    #[test]
    fn sort_by_label_uses_natural_order_then_labels() {
        // Prometheus's functions.test: sort_by_label(cpu_time_total, "cpu").
        let cpus = ["0", "1", "10", "100", "11", "12", "2", "20", "21", "3"];
        let input: Vec<Sample> = cpus.iter().map(|c| sample(&[("cpu", c), ("job", "cpu")], 100.0)).collect();
        let mut h = Harness::new(0);
        let out = h.call(sort_by_label, &[Arg::Vector(&input), Arg::String("cpu")]).unwrap();
        let got: Vec<_> = out.iter().map(|s| s.labels.get("cpu").unwrap().to_owned()).collect();
        assert_eq!(got, ["0", "1", "2", "3", "10", "11", "12", "20", "21", "100"]);

        let releases = ["1.11.3", "1.111.3", "1.2.3"];
        let input: Vec<Sample> = releases.iter().map(|r| sample(&[("release", r)], 1.0)).collect();
        let out = h.call(sort_by_label, &[Arg::Vector(&input), Arg::String("release")]).unwrap();
        let got: Vec<_> = out.iter().map(|s| s.labels.get("release").unwrap().to_owned()).collect();
        assert_eq!(got, ["1.2.3", "1.11.3", "1.111.3"]);
        let out = h.call(sort_by_label_desc, &[Arg::Vector(&input), Arg::String("release")]).unwrap();
        let got: Vec<_> = out.iter().map(|s| s.labels.get("release").unwrap().to_owned()).collect();
        assert_eq!(got, ["1.111.3", "1.11.3", "1.2.3"]);
    }

    #[test]
    fn sort_by_label_ties_fall_back_to_the_label_set() {
        let input = [
            sample(&[("group", "production"), ("instance", "0")], 1.0),
            sample(&[("group", "canary"), ("instance", "1")], 2.0),
            sample(&[("group", "canary"), ("instance", "0")], 3.0),
        ];
        let out = Harness::new(0).call(sort_by_label, &[Arg::Vector(&input), Arg::String("instance")]).unwrap();
        assert_eq!(values(&out), ["3", "1", "2"]);
        let out = Harness::new(0).call(sort_by_label_desc, &[Arg::Vector(&input), Arg::String("instance")]).unwrap();
        assert_eq!(values(&out), ["2", "1", "3"]);
    }

    #[test]
    fn natural_less_matches_natsort() {
        assert!(natural_less("a2", "a10"));
        assert!(!natural_less("a10", "a2"));
        assert!(natural_less("4m5", "4m600"));
        assert!(natural_less("abc", "abd"));
        assert!(natural_less("ab", "abc"));
        // Quirks kept from natsort.
        assert!(natural_less("01", "1") && natural_less("1", "01"));
        assert!(!natural_less("", "x") && !natural_less("x", ""));
        assert!(natural_less("x", "x"));
        // Numbers beyond int64 compare as text.
        assert!(natural_less("9", "10"));
        assert!(!natural_less("99999999999999999999", "100000000000000000000"));
    }
}
