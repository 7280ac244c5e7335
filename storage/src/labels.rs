//! Label sets: the identity of a series.
//!
//! A [`Labels`] value is always sorted by name with unique names; every
//! constructor that can see unsorted input either sorts it or is documented as
//! requiring sorted input. Validation of *client* input (naming rules, limits,
//! duplicate and unsorted labels) happens in the service's ingest layer before
//! a `Labels` is built; the storage engine trusts its callers on that.
//!
//! The canonical byte form ([`Labels::encode`]) is what the WAL and the
//! RocksDB index store: for each label, `name 0xFF value 0xFF`. `0xFF` never
//! occurs in UTF-8, so the form is unambiguous and sorts like the label list.

use std::fmt;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Separator byte of the canonical encoding; never valid inside UTF-8.
const SEP: u8 = 0xFF;

/// One `name="value"` pair.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name.
    pub name: String,
    /// Label value.
    pub value: String,
}

impl Label {
    /// Builds a label from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), value: value.into() }
    }
}

/// A sorted set of labels with unique names.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Wraps labels that the caller guarantees are sorted by name with unique
    /// names (the ingest layer checks this for client input).
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Self(labels)
    }

    /// Sorts the labels by name. Later duplicates of a name are dropped.
    pub fn from_unsorted(mut labels: Vec<Label>) -> Self {
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        labels.dedup_by(|b, a| a.name == b.name);
        Self(labels)
    }

    /// Builds labels from `(name, value)` pairs in any order.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        Self::from_unsorted(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|l| l.name.as_str().cmp(name)).ok().map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as a slice.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Consumes the set into its labels.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// The labels as `(name, value)` pairs, in name order.
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0.iter().map(|l| (l.name.as_str(), l.value.as_str()))
    }

    /// Appends the canonical byte form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for l in &self.0 {
            encode_label(&l.name, &l.value, out);
        }
    }

    /// The canonical byte form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.iter().map(|l| l.name.len() + l.value.len() + 2).sum());
        self.encode_into(&mut out);
        out
    }

    /// Parses the canonical byte form; `None` if it is malformed.
    pub fn decode(mut bytes: &[u8]) -> Option<Self> {
        let mut labels = Vec::new();
        while !bytes.is_empty() {
            let name_end = bytes.iter().position(|&b| b == SEP)?;
            let name = std::str::from_utf8(&bytes[..name_end]).ok()?;
            bytes = &bytes[name_end + 1..];
            let value_end = bytes.iter().position(|&b| b == SEP)?;
            let value = std::str::from_utf8(&bytes[..value_end]).ok()?;
            bytes = &bytes[value_end + 1..];
            labels.push(Label::new(name, value));
        }
        Some(Self(labels))
    }
}

/// Appends the canonical byte form of one label to `out`; a label set's form
/// is that of its labels in name order (see [`Labels::encode`]).
pub(crate) fn encode_label(name: &str, value: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(name.as_bytes());
    out.push(SEP);
    out.extend_from_slice(value.as_bytes());
    out.push(SEP);
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prometheus's text form: `name{a="b", c="d"}`, or `{a="b"}` without a name.
/// Values are escaped as Go's `%q` does for the characters that occur in
/// practice (`\`, `"`, newline).
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_sorts_like_the_label_list() {
        let a = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "up"), ("job", "b")]);
        assert_eq!(Labels::decode(&a.encode()), Some(a.clone()));
        assert!(a.encode() < b.encode());
        assert_eq!(Labels::decode(b"no-separator"), None);
    }

    #[test]
    fn display_matches_prometheus_text_form() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b"), ("i", "x")]);
        assert_eq!(l.to_string(), r#"up{i="x", job="a\"b"}"#);
        assert_eq!(Labels::from_pairs([("a", "1")]).to_string(), r#"{a="1"}"#);
    }

    #[test]
    fn from_unsorted_sorts_and_keeps_first_of_duplicate_names() {
        let l = Labels::from_unsorted(vec![Label::new("b", "1"), Label::new("a", "2"), Label::new("b", "3")]);
        assert_eq!(l.get("a"), Some("2"));
        assert_eq!(l.get("b"), Some("1"));
        assert_eq!(l.len(), 2);
    }
}
