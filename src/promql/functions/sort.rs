//! `sort`, `sort_desc`, `sort_by_label` and `sort_by_label_desc`.
//!
//! Prometheus sorts with Go's pattern-defeating quicksort, which is not
//! stable, and some of its orders are not even consistent (a NaN is "less"
//! than everything, itself included; `sort_by_label` finds `""` greater
//! than `"x"` and `"x"` greater than `""`). To give the same order for ties
//! and for those inputs, [`go_sort`] is a port of Go's `pdqsort` (the
//! generated `zsortfunc.go`, the same algorithm in `sort` and `slices`), and
//! [`natural_less`] of `github.com/facette/natsort`'s `Compare`.
//!
//! Sorting is the only effect: labels, values and `drop_name` are kept.

use std::cmp::Ordering;

use super::super::value::Sample;
use super::{messages, string_arg, vector_arg, Arg, FnCtx};
use crate::promql::error::QueryError;

/// `sort(v)`: ascending by value, NaN last.
pub(super) fn sort(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    warn_in_range_query(ctx);
    let mut out = vector_arg(args, 0)?.to_vec();
    // sort.Sort(sort.Reverse(vectorByReverseValueHeap(v))).
    go_sort(&mut out, |a, b| b.v.is_nan() || b.v > a.v);
    Ok(out)
}

/// `sort_desc(v)`: descending by value, NaN last.
pub(super) fn sort_desc(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    warn_in_range_query(ctx);
    let mut out = vector_arg(args, 0)?.to_vec();
    // sort.Sort(sort.Reverse(vectorByValueHeap(v))).
    go_sort(&mut out, |a, b| b.v.is_nan() || b.v < a.v);
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
    go_sort(&mut out, |a, b| cmp(a, b) == Ordering::Less);
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

/// Sorts `data` exactly as Go's `sort.Sort`/`slices.SortFunc` do with the
/// given "less" relation: same comparisons, same swaps, same result even
/// when `less` is not a strict weak order.
pub(super) fn go_sort<T>(data: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    let n = data.len();
    let limit = bits_len(n);
    pdqsort(data, 0, n, limit, &mut less);
}

/// Go's `bits.Len`: the number of bits needed to represent `n`.
fn bits_len(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

fn insertion_sort<T>(data: &mut [T], a: usize, b: usize, less: &mut impl FnMut(&T, &T) -> bool) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&data[j], &data[j - 1]) {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sift_down<T>(data: &mut [T], lo: usize, hi: usize, first: usize, less: &mut impl FnMut(&T, &T) -> bool) {
    let mut root = lo;
    loop {
        let mut child = 2 * root + 1;
        if child >= hi {
            return;
        }
        if child + 1 < hi && less(&data[first + child], &data[first + child + 1]) {
            child += 1;
        }
        if !less(&data[first + root], &data[first + child]) {
            return;
        }
        data.swap(first + root, first + child);
        root = child;
    }
}

fn heap_sort<T>(data: &mut [T], a: usize, b: usize, less: &mut impl FnMut(&T, &T) -> bool) {
    let first = a;
    let hi = b - a;
    for i in (0..=(hi - 1) / 2).rev() {
        sift_down(data, i, hi, first, less);
    }
    for i in (0..hi).rev() {
        data.swap(first, first + i);
        sift_down(data, 0, i, first, less);
    }
}

fn pdqsort<T>(data: &mut [T], mut a: usize, mut b: usize, mut limit: usize, less: &mut impl FnMut(&T, &T) -> bool) {
    const MAX_INSERTION: usize = 12;
    let mut was_balanced = true;
    let mut was_partitioned = true;
    loop {
        let length = b - a;
        if length <= MAX_INSERTION {
            insertion_sort(data, a, b, less);
            return;
        }
        if limit == 0 {
            heap_sort(data, a, b, less);
            return;
        }
        if !was_balanced {
            break_patterns(data, a, b);
            limit -= 1;
        }
        let (mut pivot, mut hint) = choose_pivot(data, a, b, less);
        if hint == Hint::Decreasing {
            data[a..b].reverse();
            pivot = (b - 1) - (pivot - a);
            hint = Hint::Increasing;
        }
        if was_balanced && was_partitioned && hint == Hint::Increasing && partial_insertion_sort(data, a, b, less) {
            return;
        }
        if a > 0 && !less(&data[a - 1], &data[pivot]) {
            a = partition_equal(data, a, b, pivot, less);
            continue;
        }
        let (mid, already_partitioned) = partition(data, a, b, pivot, less);
        was_partitioned = already_partitioned;
        let (left_len, right_len) = (mid - a, b - mid);
        let balance_threshold = length / 8;
        if left_len < right_len {
            was_balanced = left_len >= balance_threshold;
            pdqsort(data, a, mid, limit, less);
            a = mid + 1;
        } else {
            was_balanced = right_len >= balance_threshold;
            pdqsort(data, mid + 1, b, limit, less);
            b = mid;
        }
    }
}

fn partition<T>(
    data: &mut [T],
    a: usize,
    b: usize,
    pivot: usize,
    less: &mut impl FnMut(&T, &T) -> bool,
) -> (usize, bool) {
    data.swap(a, pivot);
    let (mut i, mut j) = (a + 1, b - 1);
    while i <= j && less(&data[i], &data[a]) {
        i += 1;
    }
    while i <= j && !less(&data[j], &data[a]) {
        j -= 1;
    }
    if i > j {
        data.swap(j, a);
        return (j, true);
    }
    data.swap(i, j);
    i += 1;
    j -= 1;
    loop {
        while i <= j && less(&data[i], &data[a]) {
            i += 1;
        }
        while i <= j && !less(&data[j], &data[a]) {
            j -= 1;
        }
        if i > j {
            break;
        }
        data.swap(i, j);
        i += 1;
        j -= 1;
    }
    data.swap(j, a);
    (j, false)
}

fn partition_equal<T>(
    data: &mut [T],
    a: usize,
    b: usize,
    pivot: usize,
    less: &mut impl FnMut(&T, &T) -> bool,
) -> usize {
    data.swap(a, pivot);
    let (mut i, mut j) = (a + 1, b - 1);
    loop {
        while i <= j && !less(&data[a], &data[i]) {
            i += 1;
        }
        while i <= j && less(&data[a], &data[j]) {
            j -= 1;
        }
        if i > j {
            return i;
        }
        data.swap(i, j);
        i += 1;
        j -= 1;
    }
}

fn partial_insertion_sort<T>(data: &mut [T], a: usize, b: usize, less: &mut impl FnMut(&T, &T) -> bool) -> bool {
    const MAX_STEPS: usize = 5;
    const SHORTEST_SHIFTING: usize = 50;
    let mut i = a + 1;
    for _ in 0..MAX_STEPS {
        while i < b && !less(&data[i], &data[i - 1]) {
            i += 1;
        }
        if i == b {
            return true;
        }
        if b - a < SHORTEST_SHIFTING {
            return false;
        }
        data.swap(i, i - 1);
        // Go shifts down to index 1 of the whole slice, not to `a`.
        if i - a >= 2 {
            let mut j = i - 1;
            while j >= 1 {
                if !less(&data[j], &data[j - 1]) {
                    break;
                }
                data.swap(j, j - 1);
                j -= 1;
            }
        }
        if b - i >= 2 {
            let mut j = i + 1;
            while j < b {
                if !less(&data[j], &data[j - 1]) {
                    break;
                }
                data.swap(j, j - 1);
                j += 1;
            }
        }
    }
    false
}

fn break_patterns<T>(data: &mut [T], a: usize, b: usize) {
    let length = b - a;
    if length >= 8 {
        let mut random = length as u64;
        let modulus = 1usize << bits_len(length);
        let mid = a + (length / 4) * 2;
        for idx in mid - 1..=mid + 1 {
            random ^= random << 13;
            random ^= random >> 17;
            random ^= random << 5;
            let mut other = (random as usize) & (modulus - 1);
            if other >= length {
                other -= length;
            }
            data.swap(idx, a + other);
        }
    }
}

fn choose_pivot<T>(data: &mut [T], a: usize, b: usize, less: &mut impl FnMut(&T, &T) -> bool) -> (usize, Hint) {
    const SHORTEST_NINTHER: usize = 50;
    const MAX_SWAPS: usize = 4 * 3;
    let l = b - a;
    let mut swaps = 0;
    let mut i = a + l / 4;
    let mut j = a + l / 4 * 2;
    let mut k = a + l / 4 * 3;
    if l >= 8 {
        if l >= SHORTEST_NINTHER {
            i = median(data, i - 1, i, i + 1, &mut swaps, less);
            j = median(data, j - 1, j, j + 1, &mut swaps, less);
            k = median(data, k - 1, k, k + 1, &mut swaps, less);
        }
        j = median(data, i, j, k, &mut swaps, less);
    }
    match swaps {
        0 => (j, Hint::Increasing),
        MAX_SWAPS => (j, Hint::Decreasing),
        _ => (j, Hint::Unknown),
    }
}

fn order2<T>(
    data: &[T],
    a: usize,
    b: usize,
    swaps: &mut usize,
    less: &mut impl FnMut(&T, &T) -> bool,
) -> (usize, usize) {
    if less(&data[b], &data[a]) {
        *swaps += 1;
        (b, a)
    } else {
        (a, b)
    }
}

fn median<T>(
    data: &[T],
    a: usize,
    b: usize,
    c: usize,
    swaps: &mut usize,
    less: &mut impl FnMut(&T, &T) -> bool,
) -> usize {
    let (a, b) = order2(data, a, b, swaps, less);
    let (b, _) = order2(data, b, c, swaps, less);
    let (_, b) = order2(data, a, b, swaps, less);
    b
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

    #[test]
    fn go_sort_sorts_large_inputs() {
        // Exercise every path: insertion, partitions, pattern breaking and heap sort.
        let mut state = 7u64;
        let mut v: Vec<u64> = (0..5000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % 100
            })
            .collect();
        let mut want = v.clone();
        want.sort_unstable();
        go_sort(&mut v, |a, b| a < b);
        assert_eq!(v, want);
        let mut rev: Vec<u32> = (0..1000).rev().collect();
        go_sort(&mut rev, |a, b| a < b);
        assert!(rev.windows(2).all(|w| w[0] <= w[1]));
        let mut same = vec![1u8; 300];
        go_sort(&mut same, |a, b| a < b);
        assert_eq!(same, vec![1u8; 300]);
    }

    #[test]
    fn go_sort_small_inputs_are_insertion_sorted_stably() {
        let mut v = vec![(1, 'a'), (0, 'b'), (1, 'c'), (0, 'd')];
        go_sort(&mut v, |a, b| a.0 < b.0);
        assert_eq!(v, [(0, 'b'), (0, 'd'), (1, 'a'), (1, 'c')]);
    }
}
