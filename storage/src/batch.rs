//! [`AppendBatch`]: the series one [`crate::Db::append`] call stores, in the
//! form the head looks series up by.
//!
//! Each series' labels are held in their canonical byte form (the head's
//! identity of a series), so an append encodes nothing and builds no owned
//! [`Labels`] unless it creates the series. Labels, samples and exemplars of
//! all series sit in three flat arenas; [`AppendBatch::clear`] keeps their
//! capacity, so a batch reused across requests does not allocate.
//!
//! Invariants: series `i` owns the arena ranges between the ends recorded
//! for series `i - 1` and series `i`; its labels are sorted by name, with
//! unique names and non-empty values. The caller guarantees the latter (the
//! service's ingest layer validates client input), as for
//! [`Labels::from_sorted`].

use crate::labels::{encode_label, Labels};
use crate::model::{Exemplar, Sample};

/// Series to append: labels, samples (in any order) and exemplars of each.
#[derive(Clone, Debug, Default)]
pub struct AppendBatch {
    /// Canonical label forms, back to back.
    labels: Vec<u8>,
    samples: Vec<Sample>,
    exemplars: Vec<Exemplar>,
    /// Where each series' part of the arenas ends.
    ends: Vec<Ends>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Ends {
    labels: usize,
    samples: usize,
    exemplars: usize,
}

/// One series of an [`AppendBatch`].
#[derive(Clone, Copy, Debug)]
pub struct BatchSeries<'a> {
    /// The canonical byte form of its labels.
    pub(crate) key: &'a [u8],
    /// Its samples.
    pub samples: &'a [Sample],
    /// Its exemplars.
    pub exemplars: &'a [Exemplar],
}

impl BatchSeries<'_> {
    /// Its labels, decoded from the canonical form (an allocation per label;
    /// for messages and for creating the series).
    pub fn labels(&self) -> Labels {
        // The form was encoded from `&str` labels, and the separator byte
        // never occurs in UTF-8.
        Labels::decode(self.key).expect("a batch holds the canonical form of UTF-8 labels")
    }
}

impl AppendBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every series, keeping the allocated capacity.
    pub fn clear(&mut self) {
        self.labels.clear();
        self.samples.clear();
        self.exemplars.clear();
        self.ends.clear();
    }

    /// Adds a series. `labels` must be sorted by name, with unique names and
    /// non-empty values.
    pub fn push<'l>(
        &mut self,
        labels: impl IntoIterator<Item = (&'l str, &'l str)>,
        samples: &[Sample],
        exemplars: impl IntoIterator<Item = Exemplar>,
    ) {
        let mut prev: Option<&str> = None;
        for (name, value) in labels {
            debug_assert!(prev.is_none_or(|p| p < name) && !value.is_empty(), "unsorted or empty label {name}");
            prev = Some(name);
            encode_label(name, value, &mut self.labels);
        }
        self.samples.extend_from_slice(samples);
        self.exemplars.extend(exemplars);
        self.ends.push(Ends {
            labels: self.labels.len(),
            samples: self.samples.len(),
            exemplars: self.exemplars.len(),
        });
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the batch holds no series.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Samples of all series together.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Series `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn get(&self, i: usize) -> BatchSeries<'_> {
        let start = if i == 0 { Ends::default() } else { self.ends[i - 1] };
        let end = self.ends[i];
        BatchSeries {
            key: &self.labels[start.labels..end.labels],
            samples: &self.samples[start.samples..end.samples],
            exemplars: &self.exemplars[start.exemplars..end.exemplars],
        }
    }

    /// The series in the order they were added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = BatchSeries<'_>> {
        (0..self.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_keep_their_parts_and_labels_round_trip() {
        let mut b = AppendBatch::new();
        let up = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let ex = Exemplar { labels: Labels::from_pairs([("trace_id", "t")]), v: 0.5, t: 3 };
        b.push(up.pairs(), &[Sample::new(1, 1.0), Sample::new(2, 2.0)], []);
        b.push([("__name__", "down")], &[], [ex.clone()]);
        assert_eq!((b.len(), b.sample_count()), (2, 2));
        let got: Vec<_> = b.iter().map(|s| (s.labels(), s.samples.to_vec(), s.exemplars.to_vec())).collect();
        assert_eq!(
            got,
            [
                (up.clone(), vec![Sample::new(1, 1.0), Sample::new(2, 2.0)], vec![]),
                (Labels::from_pairs([("__name__", "down")]), vec![], vec![ex]),
            ]
        );
        assert_eq!(b.get(0).key, up.encode(), "the key is the canonical form");
        b.clear();
        assert!(b.is_empty());
        b.push(up.pairs(), &[Sample::new(5, 5.0)], []);
        assert_eq!(b.get(0).samples, [Sample::new(5, 5.0)], "a cleared batch starts afresh");
    }
}
