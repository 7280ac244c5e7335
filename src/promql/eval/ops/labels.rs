//! The label work of aggregations and binary operators: which labels of a
//! series take part in a grouping or a match ([`LabelSel`]), their
//! signature hash, and Prometheus's text form of a label set.
//!
//! A signature is computed from the series' own labels without building a
//! new label set: the selected `name 0xFF value 0xFF` pairs go into a reused
//! buffer that is hashed once. Equal hashes are confirmed by comparing the
//! selected labels, so a hash collision can never merge two groups.

use promql_parser::label::Labels as ParsedLabels;

use crate::promql::gocompat::format::quote_into;
use crate::promql::value::{Label, Labels, METRIC_NAME};

/// The labels of a series that take part in grouping or matching.
///
/// - `by (…)` and `on (…)` keep exactly the listed labels (`__name__`
///   included if listed);
/// - `without (…)` and `ignoring (…)` keep all other labels except
///   `__name__`.
#[derive(Clone, Debug)]
pub(crate) struct LabelSel<'a> {
    /// Sorted, without duplicates.
    names: Vec<&'a str>,
    /// `by`/`on` (true) or `without`/`ignoring` (false).
    keep: bool,
}

impl<'a> LabelSel<'a> {
    /// `by (names)` / `on (names)`.
    pub(crate) fn keep(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self { names: sorted(names), keep: true }
    }

    /// `without (names)` / `ignoring (names)`: `__name__` is always dropped too.
    pub(crate) fn drop(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self { names: sorted(names), keep: false }
    }

    /// From a parsed `by`/`without` or `on`/`ignoring` list; `None` (no
    /// modifier) is `empty_default`.
    pub(crate) fn from_modifier(m: Option<&'a promql_parser::parser::LabelModifier>, empty_default: Self) -> Self {
        use promql_parser::parser::LabelModifier;
        match m {
            None => empty_default,
            Some(LabelModifier::Include(ls)) => Self::keep(names_of(ls)),
            Some(LabelModifier::Exclude(ls)) => Self::drop(names_of(ls)),
        }
    }

    /// True for `by ()`/`on ()`: every series has the same (empty) selection.
    pub(crate) fn selects_nothing(&self) -> bool {
        self.keep && self.names.is_empty()
    }

    /// `by`/`on` (true) or `without`/`ignoring` (false).
    pub(crate) fn is_keep(&self) -> bool {
        self.keep
    }

    /// The listed names, sorted.
    pub(crate) fn names(&self) -> &[&'a str] {
        &self.names
    }

    /// Whether the label `name` is selected.
    pub(crate) fn selects(&self, name: &str) -> bool {
        let listed = self.names.binary_search(&name).is_ok();
        if self.keep {
            listed
        } else {
            !listed && name != METRIC_NAME
        }
    }

    /// The selected labels of `ls`, in name order.
    pub(crate) fn project<'s, 'l>(&'s self, ls: &'l Labels) -> Projection<'s, 'a, 'l> {
        Projection { sel: self, labels: ls.as_slice().iter(), next_name: 0 }
    }

    /// Signature hash of `ls`'s selected labels; `buf` is scratch space.
    pub(crate) fn hash(&self, ls: &Labels, buf: &mut Vec<u8>) -> u64 {
        buf.clear();
        for l in self.project(ls) {
            buf.extend_from_slice(l.name.as_bytes());
            buf.push(0xFF);
            buf.extend_from_slice(l.value.as_bytes());
            buf.push(0xFF);
        }
        xxhash_rust::xxh3::xxh3_64(buf)
    }

    /// True when `a` and `b` have the same selected labels.
    pub(crate) fn same(&self, a: &Labels, b: &Labels) -> bool {
        self.project(a).eq(self.project(b))
    }

    /// The selected labels of `ls` as a new label set.
    pub(crate) fn build(&self, ls: &Labels) -> Labels {
        Labels::from_sorted(self.project(ls).cloned().collect())
    }

    /// True when every label of `ls` is selected (the selection is `ls` itself).
    pub(crate) fn selects_all(&self, ls: &Labels) -> bool {
        self.project(ls).count() == ls.len()
    }

    /// A text that identifies this selection, for caches.
    pub(crate) fn describe(&self, out: &mut String) {
        out.push_str(if self.keep { "keep(" } else { "drop(" });
        for n in &self.names {
            out.push_str(n);
            out.push('\u{0}');
        }
        out.push(')');
    }
}

/// The names of a parsed label list.
pub(crate) fn names_of(ls: &ParsedLabels) -> impl Iterator<Item = &str> {
    ls.labels.iter().map(String::as_str)
}

fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = names.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Iterator over the labels a [`LabelSel`] selects.
pub(crate) struct Projection<'s, 'a, 'l> {
    sel: &'s LabelSel<'a>,
    labels: std::slice::Iter<'l, Label>,
    /// For `keep`: index of the first listed name not yet passed (both lists
    /// are sorted, so this is a merge).
    next_name: usize,
}

impl<'l> Iterator for Projection<'_, '_, 'l> {
    type Item = &'l Label;

    fn next(&mut self) -> Option<&'l Label> {
        let names = &self.sel.names;
        if self.sel.keep {
            loop {
                if self.next_name >= names.len() {
                    return None;
                }
                let l = self.labels.next()?;
                while self.next_name < names.len() && names[self.next_name] < l.name.as_str() {
                    self.next_name += 1;
                }
                if self.next_name < names.len() && names[self.next_name] == l.name {
                    self.next_name += 1;
                    return Some(l);
                }
            }
        }
        loop {
            let l = self.labels.next()?;
            if l.name == METRIC_NAME {
                continue;
            }
            while self.next_name < names.len() && names[self.next_name] < l.name.as_str() {
                self.next_name += 1;
            }
            if self.next_name < names.len() && names[self.next_name] == l.name {
                continue;
            }
            return Some(l);
        }
    }
}

/// Hash of a whole label set (its canonical encoding).
pub(crate) fn hash_all(ls: &Labels, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    ls.encode_into(buf);
    xxhash_rust::xxh3::xxh3_64(buf)
}

/// Whether `name` matches `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_legacy_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Prometheus's `labels.Labels.String()`: `{__name__="up", job="x"}`, the
/// name among the labels, names quoted unless they are legacy names,
/// values Go-quoted.
pub(crate) fn labels_string<'l>(labels: impl IntoIterator<Item = &'l Label>) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if is_legacy_name(&l.name) {
            out.push_str(&l.name);
        } else {
            quote_into(&mut out, &l.name);
        }
        out.push('=');
        quote_into(&mut out, &l.value);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn names<'l>(it: impl Iterator<Item = &'l Label>) -> Vec<&'l str> {
        it.map(|l| l.name.as_str()).collect()
    }

    #[test]
    fn keep_selects_listed_labels_including_the_name() {
        let l = ls(&[("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "3")]);
        assert_eq!(names(LabelSel::keep(["c", "a", "zz"]).project(&l)), ["a", "c"]);
        assert_eq!(names(LabelSel::keep(["__name__", "b"]).project(&l)), ["__name__", "b"]);
        assert_eq!(names(LabelSel::keep([]).project(&l)), Vec::<&str>::new());
        assert!(LabelSel::keep([]).selects_nothing());
    }

    #[test]
    fn drop_removes_listed_labels_and_always_the_name() {
        let l = ls(&[("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "3")]);
        assert_eq!(names(LabelSel::drop(["b"]).project(&l)), ["a", "c"]);
        assert_eq!(names(LabelSel::drop([]).project(&l)), ["a", "b", "c"]);
        assert_eq!(names(LabelSel::drop(["a", "b", "c", "d"]).project(&l)), Vec::<&str>::new());
        assert!(LabelSel::drop(["b"]).selects("a"));
        assert!(!LabelSel::drop(["b"]).selects("__name__"));
        assert!(LabelSel::keep(["__name__"]).selects("__name__"));
    }

    #[test]
    fn signatures_agree_exactly_when_selections_agree() {
        let sel = LabelSel::keep(["a", "b"]);
        let mut buf = Vec::new();
        let x = ls(&[("__name__", "x"), ("a", "1"), ("b", "2"), ("c", "9")]);
        let y = ls(&[("__name__", "y"), ("a", "1"), ("b", "2")]);
        let z = ls(&[("a", "1"), ("b", "3")]);
        assert_eq!(sel.hash(&x, &mut buf), sel.hash(&y, &mut buf));
        assert!(sel.same(&x, &y));
        assert_ne!(sel.hash(&x, &mut buf), sel.hash(&z, &mut buf));
        assert!(!sel.same(&x, &z));
        // The separator keeps `a="aa",b="bb"` apart from `a="a",b="abb"`.
        let p = ls(&[("a", "aa"), ("b", "bb")]);
        let q = ls(&[("a", "a"), ("b", "abb")]);
        assert_ne!(sel.hash(&p, &mut buf), sel.hash(&q, &mut buf));
        assert_eq!(sel.build(&x), ls(&[("a", "1"), ("b", "2")]));
        assert!(sel.selects_all(&ls(&[("a", "1")])));
        assert!(!sel.selects_all(&x));
    }

    #[test]
    fn labels_string_is_prometheus_text_form() {
        let l = ls(&[("__name__", "dup_metric"), ("label", "alpha"), ("quote", "a\"b\n")]);
        assert_eq!(labels_string(l.iter()), r#"{__name__="dup_metric", label="alpha", quote="a\"b\n"}"#);
        assert_eq!(labels_string(ls(&[]).iter()), "{}");
        assert_eq!(labels_string(ls(&[("needs quote", "v")]).iter()), r#"{"needs quote"="v"}"#);
    }
}
