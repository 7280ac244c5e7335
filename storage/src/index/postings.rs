//! One tenant's inverted index: label name → value → sorted series ids, and
//! the ids of all its series; plus the set operations on sorted id lists.
//!
//! Invariants: every id list is sorted ascending without duplicates; a
//! series appears under exactly one value of each of its label names, and in
//! `all`. Maps are ordered by string, so names and values come out sorted.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::matcher::{MatchKind, Matcher};

/// Values of one label name, each with its sorted series ids.
pub(crate) type ValuePostings = BTreeMap<Arc<str>, Vec<u64>>;

/// The postings of one tenant.
#[derive(Default)]
pub(crate) struct Postings {
    by_name: BTreeMap<Arc<str>, ValuePostings>,
    all: Vec<u64>,
}

impl Postings {
    /// Adds series `id` with the given `(name, value)` pairs. Idempotent.
    pub(crate) fn add<'a>(&mut self, id: u64, pairs: impl IntoIterator<Item = (&'a Arc<str>, &'a Arc<str>)>) {
        insert_sorted(&mut self.all, id);
        for (name, value) in pairs {
            let values = self.by_name.entry(name.clone()).or_default();
            insert_sorted(values.entry(value.clone()).or_default(), id);
        }
    }

    /// Every series id, sorted.
    pub(crate) fn all(&self) -> &[u64] {
        &self.all
    }

    /// Label names with their values, sorted by name.
    pub(crate) fn names(&self) -> impl Iterator<Item = (&str, &ValuePostings)> {
        self.by_name.iter().map(|(n, v)| (&**n, v))
    }

    /// The values of label `name`, sorted, if any series has it.
    pub(crate) fn values(&self, name: &str) -> Option<&ValuePostings> {
        self.by_name.get(name)
    }

    /// Sorted ids of the series whose value of `name` satisfies `accept`;
    /// `accept` runs once per distinct value.
    fn with_value(&self, name: &str, accept: impl Fn(&str) -> bool) -> Vec<u64> {
        let Some(values) = self.by_name.get(name) else { return Vec::new() };
        let accepted: Vec<&Vec<u64>> = values.iter().filter(|(v, _)| accept(v)).map(|(_, ids)| ids).collect();
        match accepted.as_slice() {
            [] => Vec::new(),
            [one] => (*one).clone(),
            many => {
                let mut out: Vec<u64> = many.iter().flat_map(|ids| ids.iter().copied()).collect();
                // A series has one value per name, so the lists are disjoint.
                out.sort_unstable();
                out
            }
        }
    }

    /// Sorted ids of the series satisfying every matcher, as Prometheus
    /// selects them: matchers that reject the empty value intersect their
    /// postings; those that accept it remove the series whose (present)
    /// value they reject, so a series lacking the label is kept.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<u64> {
        let mut candidates: Option<Vec<u64>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let ids = match m.kind {
                MatchKind::Equal => {
                    self.values(&m.name).and_then(|v| v.get(m.value.as_str())).cloned().unwrap_or_default()
                }
                _ => self.with_value(&m.name, |v| m.matches(v)),
            };
            let narrowed = match candidates {
                None => ids,
                Some(prev) => intersect(&prev, &ids),
            };
            if narrowed.is_empty() {
                return narrowed;
            }
            candidates = Some(narrowed);
        }
        let mut ids = candidates.unwrap_or_else(|| self.all.clone());
        for m in matchers.iter().filter(|m| m.matches_empty()) {
            let rejected = self.with_value(&m.name, |v| !m.matches(v));
            if !rejected.is_empty() {
                ids = subtract(&ids, &rejected);
            }
        }
        ids
    }
}

/// Inserts `id` into a sorted list unless present; appending is the common
/// case (ids are allocated in increasing order).
fn insert_sorted(ids: &mut Vec<u64>, id: u64) {
    match ids.last() {
        None => ids.push(id),
        Some(&last) if last < id => ids.push(id),
        Some(_) => {
            if let Err(at) = ids.binary_search(&id) {
                ids.insert(at, id);
            }
        }
    }
}

/// Intersection of two sorted id lists.
pub(crate) fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    let mut rest = large;
    for &id in small {
        match rest.binary_search(&id) {
            Ok(i) => {
                out.push(id);
                rest = &rest[i + 1..];
            }
            Err(i) => rest = &rest[i..],
        }
        if rest.is_empty() {
            break;
        }
    }
    out
}

/// The ids of sorted list `a` that are not in sorted list `b`.
pub(crate) fn subtract(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &id in a {
        while j < b.len() && b[j] < id {
            j += 1;
        }
        if j >= b.len() || b[j] != id {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postings(series: &[(u64, &[(&str, &str)])]) -> Postings {
        let mut p = Postings::default();
        for (id, pairs) in series {
            let pairs: Vec<(Arc<str>, Arc<str>)> = pairs.iter().map(|(n, v)| (Arc::from(*n), Arc::from(*v))).collect();
            p.add(*id, pairs.iter().map(|(n, v)| (n, v)));
        }
        p
    }

    fn m(kind: MatchKind, name: &str, value: &str) -> Matcher {
        Matcher::new(kind, name, value).expect("valid matcher")
    }

    #[test]
    fn selection_follows_prometheus_matcher_semantics() {
        let p = postings(&[
            (3, &[("__name__", "up"), ("job", "api")]),
            (1, &[("__name__", "up"), ("job", "db"), ("env", "prod")]),
            (2, &[("__name__", "up"), ("job", "web"), ("env", "dev")]),
            (4, &[("__name__", "down"), ("job", "api")]),
        ]);
        use MatchKind::*;
        let cases: [(Vec<Matcher>, Vec<u64>); 8] = [
            (vec![m(Equal, "__name__", "up")], vec![1, 2, 3]),
            (vec![m(Equal, "__name__", "up"), m(Regex, "job", "api|db")], vec![1, 3]),
            (vec![m(Equal, "__name__", "up"), m(NotEqual, "env", "prod")], vec![2, 3]),
            (vec![m(Equal, "__name__", "up"), m(Equal, "env", "")], vec![3]),
            (vec![m(Regex, "env", ".*")], vec![1, 2, 3, 4]),
            (vec![m(NotRegex, "job", "a.*")], vec![1, 2]),
            (vec![m(Regex, "__name__", ".+"), m(Equal, "job", "none")], vec![]),
            (vec![m(Equal, "missing", "x")], vec![]),
        ];
        for (matchers, want) in cases {
            assert_eq!(p.select(&matchers), want, "{matchers:?}");
        }
    }

    #[test]
    fn adding_keeps_lists_sorted_and_is_idempotent() {
        let mut p = postings(&[(5, &[("a", "x")]), (2, &[("a", "x")]), (9, &[("a", "y")])]);
        let (a, x): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("x"));
        p.add(2, [(&a, &x)]);
        assert_eq!(p.all(), [2, 5, 9]);
        assert_eq!(p.values("a").and_then(|v| v.get("x")).map(Vec::as_slice), Some(&[2, 5][..]));
        let names: Vec<&str> = p.names().map(|(n, _)| n).collect();
        assert_eq!(names, ["a"]);
    }

    #[test]
    fn set_operations_on_sorted_lists() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[2, 3, 4, 7, 9]), [3, 7]);
        assert_eq!(intersect(&[], &[1]), Vec::<u64>::new());
        assert_eq!(subtract(&[1, 3, 5, 7], &[3, 4, 7]), [1, 5]);
        assert_eq!(subtract(&[1, 2], &[]), [1, 2]);
    }
}
