//! Go's `sort.Sort` (and `slices.SortFunc`) and `container/heap`, step for
//! step.
//!
//! Prometheus sorts with Go's pattern-defeating quicksort, which is not
//! stable, and several of its orders are not strict weak orders (a NaN is
//! "less" than everything, itself included; `sort_by_label`'s natural order
//! finds `"01"` and `"1"` each before the other). Which of several equal
//! values comes first, and where NaN ends up, is decided by the exact
//! sequence of comparisons and swaps. [`sort`] performs the same sequence as
//! Go's `pdqsort` (the generated `zsortfunc.go`, Go ≥ 1.22 with its 64-bit
//! xorshift), and [`heap_push`]/[`heap_fix`] the same as `container/heap`,
//! so `sort`, `topk`, `quantile` and friends give Prometheus's order.
//!
//! `less(a, b)` plays the role of `Less(i, j)` on the elements at `i`, `j`.

/// Go's `sort.Sort(data)` with `Less` given by `less`.
pub fn sort<T>(data: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = data.len();
    if n <= 1 {
        return;
    }
    let limit = bits_len(n);
    pdqsort(data, &less, 0, n, limit);
}

/// Go's `heap.Push(h, x)`.
pub fn heap_push<T>(h: &mut Vec<T>, x: T, less: impl Fn(&T, &T) -> bool) {
    h.push(x);
    let j = h.len() - 1;
    up(h, &less, j);
}

/// Go's `heap.Fix(h, i)`.
pub fn heap_fix<T>(h: &mut [T], i: usize, less: impl Fn(&T, &T) -> bool) {
    let n = h.len();
    if !down(h, &less, i, n) {
        up(h, &less, i);
    }
}

fn up<T>(h: &mut [T], less: &impl Fn(&T, &T) -> bool, mut j: usize) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn down<T>(h: &mut [T], less: &impl Fn(&T, &T) -> bool, i0: usize, n: usize) -> bool {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

/// `bits.Len(uint(n))`.
fn bits_len(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

#[inline]
fn lt<T>(d: &[T], less: &impl Fn(&T, &T) -> bool, i: usize, j: usize) -> bool {
    less(&d[i], &d[j])
}

fn insertion_sort<T>(d: &mut [T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && lt(d, less, j, j - 1) {
            d.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sift_down<T>(d: &mut [T], less: &impl Fn(&T, &T) -> bool, lo: usize, hi: usize, first: usize) {
    let mut root = lo;
    loop {
        let mut child = 2 * root + 1;
        if child >= hi {
            return;
        }
        if child + 1 < hi && lt(d, less, first + child, first + child + 1) {
            child += 1;
        }
        if !lt(d, less, first + root, first + child) {
            return;
        }
        d.swap(first + root, first + child);
        root = child;
    }
}

fn heap_sort<T>(d: &mut [T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize) {
    let first = a;
    let hi = b - a;
    let mut i = (hi as isize - 1) / 2;
    while i >= 0 {
        sift_down(d, less, i as usize, hi, first);
        i -= 1;
    }
    let mut i = hi as isize - 1;
    while i >= 0 {
        d.swap(first, first + i as usize);
        sift_down(d, less, 0, i as usize, first);
        i -= 1;
    }
}

fn pdqsort<T>(d: &mut [T], less: &impl Fn(&T, &T) -> bool, mut a: usize, mut b: usize, mut limit: usize) {
    const MAX_INSERTION: usize = 12;
    let mut was_balanced = true;
    let mut was_partitioned = true;
    loop {
        let length = b - a;
        if length <= MAX_INSERTION {
            insertion_sort(d, less, a, b);
            return;
        }
        if limit == 0 {
            heap_sort(d, less, a, b);
            return;
        }
        if !was_balanced {
            break_patterns(d, a, b);
            limit -= 1;
        }
        let (mut pivot, mut hint) = choose_pivot(d, less, a, b);
        if hint == Hint::Decreasing {
            reverse_range(d, a, b);
            pivot = (b - 1) - (pivot - a);
            hint = Hint::Increasing;
        }
        if was_balanced && was_partitioned && hint == Hint::Increasing && partial_insertion_sort(d, less, a, b) {
            return;
        }
        if a > 0 && !lt(d, less, a - 1, pivot) {
            let mid = partition_equal(d, less, a, b, pivot);
            a = mid;
            continue;
        }
        let (mid, already_partitioned) = partition(d, less, a, b, pivot);
        was_partitioned = already_partitioned;
        let (left_len, right_len) = (mid - a, b - mid);
        let balance_threshold = length / 8;
        if left_len < right_len {
            was_balanced = left_len >= balance_threshold;
            pdqsort(d, less, a, mid, limit);
            a = mid + 1;
        } else {
            was_balanced = right_len >= balance_threshold;
            pdqsort(d, less, mid + 1, b, limit);
            b = mid;
        }
    }
}

fn partition<T>(d: &mut [T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize, pivot: usize) -> (usize, bool) {
    d.swap(a, pivot);
    // i and j are inclusive bounds; j may step below a + 1, so keep it signed.
    let (mut i, mut j) = (a as isize + 1, b as isize - 1);
    let ai = a;
    while i <= j && lt(d, less, i as usize, ai) {
        i += 1;
    }
    while i <= j && !lt(d, less, j as usize, ai) {
        j -= 1;
    }
    if i > j {
        d.swap(j as usize, ai);
        return (j as usize, true);
    }
    d.swap(i as usize, j as usize);
    i += 1;
    j -= 1;
    loop {
        while i <= j && lt(d, less, i as usize, ai) {
            i += 1;
        }
        while i <= j && !lt(d, less, j as usize, ai) {
            j -= 1;
        }
        if i > j {
            break;
        }
        d.swap(i as usize, j as usize);
        i += 1;
        j -= 1;
    }
    d.swap(j as usize, ai);
    (j as usize, false)
}

fn partition_equal<T>(d: &mut [T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize, pivot: usize) -> usize {
    d.swap(a, pivot);
    let (mut i, mut j) = (a as isize + 1, b as isize - 1);
    loop {
        while i <= j && !lt(d, less, a, i as usize) {
            i += 1;
        }
        while i <= j && lt(d, less, a, j as usize) {
            j -= 1;
        }
        if i > j {
            break;
        }
        d.swap(i as usize, j as usize);
        i += 1;
        j -= 1;
    }
    i as usize
}

fn partial_insertion_sort<T>(d: &mut [T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize) -> bool {
    const MAX_STEPS: usize = 5;
    const SHORTEST_SHIFTING: usize = 50;
    let mut i = a + 1;
    for _ in 0..MAX_STEPS {
        while i < b && !lt(d, less, i, i - 1) {
            i += 1;
        }
        if i == b {
            return true;
        }
        if b - a < SHORTEST_SHIFTING {
            return false;
        }
        d.swap(i, i - 1);
        // Shift the smaller one to the left.
        if i - a >= 2 {
            let mut j = i - 1;
            while j >= 1 {
                if !lt(d, less, j, j - 1) {
                    break;
                }
                d.swap(j, j - 1);
                j -= 1;
            }
        }
        // Shift the greater one to the right.
        if b - i >= 2 {
            let mut j = i + 1;
            while j < b {
                if !lt(d, less, j, j - 1) {
                    break;
                }
                d.swap(j, j - 1);
                j += 1;
            }
        }
    }
    false
}

fn break_patterns<T>(d: &mut [T], a: usize, b: usize) {
    let length = b - a;
    if length >= 8 {
        let mut random = length as u64;
        let modulus = 1usize << bits_len(length);
        let start = a + (length / 4) * 2 - 1;
        for idx in start..=start + 2 {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            let mut other = (random as usize) & (modulus - 1);
            if other >= length {
                other -= length;
            }
            d.swap(idx, a + other);
        }
    }
}

fn choose_pivot<T>(d: &mut [T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize) -> (usize, Hint) {
    const SHORTEST_NINTHER: usize = 50;
    const MAX_SWAPS: usize = 4 * 3;
    let l = b - a;
    let mut swaps = 0usize;
    let mut i = a + l / 4;
    let mut j = a + l / 4 * 2;
    let mut k = a + l / 4 * 3;
    if l >= 8 {
        if l >= SHORTEST_NINTHER {
            i = median(d, less, i - 1, i, i + 1, &mut swaps);
            j = median(d, less, j - 1, j, j + 1, &mut swaps);
            k = median(d, less, k - 1, k, k + 1, &mut swaps);
        }
        j = median(d, less, i, j, k, &mut swaps);
    }
    match swaps {
        0 => (j, Hint::Increasing),
        MAX_SWAPS => (j, Hint::Decreasing),
        _ => (j, Hint::Unknown),
    }
}

fn order2<T>(d: &[T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize, swaps: &mut usize) -> (usize, usize) {
    if lt(d, less, b, a) {
        *swaps += 1;
        return (b, a);
    }
    (a, b)
}

fn median<T>(d: &[T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize, c: usize, swaps: &mut usize) -> usize {
    let (a, b) = order2(d, less, a, b, swaps);
    let (b, c) = order2(d, less, b, c, swaps);
    let _ = c;
    let (_a, b) = order2(d, less, a, b, swaps);
    b
}

fn reverse_range<T>(d: &mut [T], a: usize, b: usize) {
    let (mut i, mut j) = (a, b - 1);
    while i < j {
        d.swap(i, j);
        i += 1;
        j -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for test inputs.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn sorts_like_a_sort_for_consistent_orders() {
        let mut seed = 7;
        for n in [0usize, 1, 2, 5, 12, 13, 49, 50, 51, 200, 1000, 5000] {
            for pattern in 0..4 {
                let mut v: Vec<u64> = (0..n as u64)
                    .map(|i| match pattern {
                        0 => lcg(&mut seed) % 1000,
                        1 => i,
                        2 => n as u64 - i,
                        _ => lcg(&mut seed) % 3,
                    })
                    .collect();
                let mut want = v.clone();
                want.sort_unstable();
                sort(&mut v, |a, b| a < b);
                assert_eq!(v, want, "n={n} pattern={pattern}");
            }
        }
    }

    #[test]
    fn ties_keep_go_positions_for_small_inputs() {
        // Up to 12 elements Go uses insertion sort, which is stable.
        let mut v = vec![(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd')];
        sort(&mut v, |a, b| a.0 < b.0);
        assert_eq!(v, vec![(1, 'b'), (1, 'd'), (2, 'a'), (2, 'c')]);
    }

    #[test]
    fn sorts_many_ties_through_every_path() {
        // Insertion, partitions, equal-partitioning, pattern breaking and
        // heap sort all run on these.
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
        sort(&mut v, |a, b| a < b);
        assert_eq!(v, want);
        let mut same = vec![1u8; 300];
        sort(&mut same, |a, b| a < b);
        assert_eq!(same, vec![1u8; 300]);
    }

    #[test]
    fn nan_first_order_is_gos() {
        // Prometheus's quantile order: NaN is less than everything, itself included.
        let mut v = [3.0, f64::NAN, 1.0, f64::NAN, 2.0];
        sort(&mut v, |a: &f64, b: &f64| a.is_nan() || a < b);
        assert!(v[0].is_nan() && v[1].is_nan());
        assert_eq!(v[2..], [1.0, 2.0, 3.0]);
    }

    #[test]
    fn heap_keeps_the_smallest_on_top() {
        let less = |a: &i32, b: &i32| a < b;
        let mut h = Vec::new();
        for x in [5, 3, 8, 1, 9, 2] {
            heap_push(&mut h, x, less);
            assert_eq!(h[0], *h.iter().min().unwrap());
        }
        // Go's heap gives exactly this layout for these pushes.
        assert_eq!(h, vec![1, 3, 2, 5, 9, 8]);
        h[0] = 7;
        heap_fix(&mut h, 0, less);
        assert_eq!(h, vec![2, 3, 7, 5, 9, 8]);
    }
}
