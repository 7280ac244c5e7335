//! Why data of a request was refused: a count per [`RejectReason`] and the
//! first few example messages of each, for the response body, logs and
//! `rampart_samples_rejected_total{reason}`.
//!
//! Sample reasons count refused samples (a refused series counts all its
//! samples); the exemplar reason ([`RejectReason::InvalidExemplar`]) counts
//! refused exemplars. Messages are built lazily: a request that refuses a
//! million samples formats only the few kept as examples.

use std::collections::BTreeMap;

/// Example messages kept per reason; later ones are counted only.
pub const EXAMPLES_PER_REASON: usize = 3;

/// Why a sample, a series or an exemplar was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// No `__name__` label, or an empty one.
    MissingMetricName,
    /// `__name__` does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName,
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName,
    /// The same label name twice in a series.
    DuplicateLabelName,
    /// Label names not in ascending byte order, as remote write requires.
    UnsortedLabels,
    /// A label name longer than `max_label_name_length`.
    LabelNameTooLong,
    /// A label value longer than `max_label_value_length`.
    LabelValueTooLong,
    /// More labels than `max_labels_per_series`.
    TooManyLabels,
    /// A timestamp beyond the receiver's clock plus `creation_grace_period`.
    TooFarInFuture,
    /// A series that carries native histograms, which are not supported yet.
    NativeHistogram,
    /// An invalid exemplar; dropped alone, its series and samples are kept.
    InvalidExemplar,
    /// Storage: older than the series' newest sample by more than the
    /// out-of-order window.
    OutOfOrder,
    /// Storage: a different value at a timestamp the series already has.
    DuplicateTimestamp,
    /// Storage: a timestamp storage cannot take: before the retention
    /// cut-off, negative, or in a sealed partition.
    OutOfBounds,
    /// Older than the oldest timestamp accepted for new samples (a past
    /// grace period, as Mimir's `too_far_in_past`).
    TooOld,
}

impl RejectReason {
    /// Every reason, in order.
    pub const ALL: [RejectReason; 15] = [
        RejectReason::MissingMetricName,
        RejectReason::InvalidMetricName,
        RejectReason::InvalidLabelName,
        RejectReason::DuplicateLabelName,
        RejectReason::UnsortedLabels,
        RejectReason::LabelNameTooLong,
        RejectReason::LabelValueTooLong,
        RejectReason::TooManyLabels,
        RejectReason::TooFarInFuture,
        RejectReason::NativeHistogram,
        RejectReason::InvalidExemplar,
        RejectReason::OutOfOrder,
        RejectReason::DuplicateTimestamp,
        RejectReason::OutOfBounds,
        RejectReason::TooOld,
    ];

    /// Stable snake_case name: the `reason` label of
    /// `rampart_samples_rejected_total` and the key in response bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingMetricName => "missing_metric_name",
            RejectReason::InvalidMetricName => "invalid_metric_name",
            RejectReason::InvalidLabelName => "invalid_label_name",
            RejectReason::DuplicateLabelName => "duplicate_label_name",
            RejectReason::UnsortedLabels => "unsorted_labels",
            RejectReason::LabelNameTooLong => "label_name_too_long",
            RejectReason::LabelValueTooLong => "label_value_too_long",
            RejectReason::TooManyLabels => "too_many_labels",
            RejectReason::TooFarInFuture => "too_far_in_future",
            RejectReason::NativeHistogram => "native_histogram",
            RejectReason::InvalidExemplar => "invalid_exemplar",
            RejectReason::OutOfOrder => "out_of_order",
            RejectReason::DuplicateTimestamp => "duplicate_timestamp",
            RejectReason::OutOfBounds => "out_of_bounds",
            RejectReason::TooOld => "too_old",
        }
    }

    /// True when the count of this reason is of exemplars, not samples.
    pub fn counts_exemplars(self) -> bool {
        match self {
            RejectReason::InvalidExemplar => true,
            RejectReason::MissingMetricName
            | RejectReason::InvalidMetricName
            | RejectReason::InvalidLabelName
            | RejectReason::DuplicateLabelName
            | RejectReason::UnsortedLabels
            | RejectReason::LabelNameTooLong
            | RejectReason::LabelValueTooLong
            | RejectReason::TooManyLabels
            | RejectReason::TooFarInFuture
            | RejectReason::NativeHistogram
            | RejectReason::OutOfOrder
            | RejectReason::DuplicateTimestamp
            | RejectReason::OutOfBounds
            | RejectReason::TooOld => false,
        }
    }
}

/// A message for [`Rejections::add`]: a `String`, or a closure that builds
/// it and runs only if the message is kept as an example.
pub trait RejectMessage {
    /// The message text.
    fn into_message(self) -> String;
}

impl RejectMessage for String {
    fn into_message(self) -> String {
        self
    }
}

impl<F: FnOnce() -> String> RejectMessage for F {
    fn into_message(self) -> String {
        self()
    }
}

/// Count and examples of one reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Entry {
    count: u64,
    examples: Vec<String>,
}

/// Refusals of one request, per reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejections {
    by_reason: BTreeMap<RejectReason, Entry>,
}

impl Rejections {
    /// Records `count` samples (exemplars, for an exemplar reason) refused
    /// for `reason`; `message` is kept while the reason has fewer than
    /// [`EXAMPLES_PER_REASON`] examples. A count of 0 still records the
    /// reason (a refused series without samples).
    pub fn add(&mut self, reason: RejectReason, count: u64, message: impl RejectMessage) {
        let entry = self.by_reason.entry(reason).or_default();
        entry.count = entry.count.saturating_add(count);
        if entry.examples.len() < EXAMPLES_PER_REASON {
            entry.examples.push(message.into_message());
        }
    }

    /// Adds `other`'s counts and, up to the limit, its examples.
    pub fn merge(&mut self, other: Rejections) {
        for (reason, theirs) in other.by_reason {
            let entry = self.by_reason.entry(reason).or_default();
            entry.count = entry.count.saturating_add(theirs.count);
            let room = EXAMPLES_PER_REASON.saturating_sub(entry.examples.len());
            entry.examples.extend(theirs.examples.into_iter().take(room));
        }
    }

    /// True when nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.by_reason.is_empty()
    }

    /// True when a sample reason was recorded (exemplar reasons aside).
    pub fn refused_samples(&self) -> bool {
        self.by_reason.keys().any(|r| !r.counts_exemplars())
    }

    /// Samples refused in total.
    pub fn total_samples(&self) -> u64 {
        self.sum(false)
    }

    /// Exemplars refused in total.
    pub fn total_exemplars(&self) -> u64 {
        self.sum(true)
    }

    /// Count of one reason (0 when absent).
    pub fn count(&self, reason: RejectReason) -> u64 {
        self.by_reason.get(&reason).map_or(0, |e| e.count)
    }

    /// Examples of one reason (empty when absent).
    pub fn examples(&self, reason: RejectReason) -> &[String] {
        self.by_reason.get(&reason).map_or(&[], |e| e.examples.as_slice())
    }

    /// `(reason, count, examples)` in the order of [`RejectReason::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (RejectReason, u64, &[String])> {
        self.by_reason.iter().map(|(r, e)| (*r, e.count, e.examples.as_slice()))
    }

    fn sum(&self, exemplars: bool) -> u64 {
        self.by_reason
            .iter()
            .filter(|(r, _)| r.counts_exemplars() == exemplars)
            .fold(0u64, |acc, (_, e)| acc.saturating_add(e.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_are_stable_snake_case_and_unique() {
        let want = [
            "missing_metric_name",
            "invalid_metric_name",
            "invalid_label_name",
            "duplicate_label_name",
            "unsorted_labels",
            "label_name_too_long",
            "label_value_too_long",
            "too_many_labels",
            "too_far_in_future",
            "native_histogram",
            "invalid_exemplar",
            "out_of_order",
            "duplicate_timestamp",
            "out_of_bounds",
            "too_old",
        ];
        let got: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(got, want);
        let exemplar: Vec<RejectReason> = RejectReason::ALL.into_iter().filter(|r| r.counts_exemplars()).collect();
        assert_eq!(exemplar, [RejectReason::InvalidExemplar]);
    }

    #[test]
    fn counts_add_up_and_only_the_first_examples_are_built() {
        let mut r = Rejections::default();
        assert!(r.is_empty());
        let mut built = 0;
        for i in 0..5 {
            r.add(RejectReason::OutOfOrder, 2, || {
                built += 1;
                format!("example {i}")
            });
        }
        r.add(RejectReason::InvalidExemplar, 1, "bad exemplar".to_owned());
        assert_eq!(built, EXAMPLES_PER_REASON);
        assert!(!r.is_empty());
        assert!(r.refused_samples());
        assert_eq!(r.total_samples(), 10);
        assert_eq!(r.total_exemplars(), 1);
        assert_eq!(r.count(RejectReason::OutOfOrder), 10);
        assert_eq!(r.count(RejectReason::TooOld), 0);
        assert_eq!(r.examples(RejectReason::OutOfOrder), ["example 0", "example 1", "example 2"]);
        let reasons: Vec<RejectReason> = r.iter().map(|(reason, _, _)| reason).collect();
        assert_eq!(reasons, [RejectReason::InvalidExemplar, RejectReason::OutOfOrder]);
    }

    #[test]
    fn exemplar_reasons_alone_do_not_count_as_refused_samples() {
        let mut r = Rejections::default();
        r.add(RejectReason::InvalidExemplar, 4, "x".to_owned());
        assert!(!r.is_empty());
        assert!(!r.refused_samples());
        assert_eq!(r.total_samples(), 0);
        // A refused series without samples still refuses something.
        r.add(RejectReason::InvalidLabelName, 0, "y".to_owned());
        assert!(r.refused_samples());
    }

    #[test]
    fn merge_sums_counts_and_caps_examples() {
        let mut a = Rejections::default();
        a.add(RejectReason::TooOld, 1, "a0".to_owned());
        a.add(RejectReason::TooOld, 1, "a1".to_owned());
        let mut b = Rejections::default();
        b.add(RejectReason::TooOld, 3, "b0".to_owned());
        b.add(RejectReason::TooOld, 1, "b1".to_owned());
        b.add(RejectReason::OutOfBounds, 5, "b2".to_owned());
        a.merge(b);
        assert_eq!(a.count(RejectReason::TooOld), 6);
        assert_eq!(a.examples(RejectReason::TooOld), ["a0", "a1", "b0"]);
        assert_eq!(a.count(RejectReason::OutOfBounds), 5);
        assert_eq!(a.examples(RejectReason::OutOfBounds), ["b2"]);
        assert_eq!(a.total_samples(), 11);
        let before = a.clone();
        a.merge(Rejections::default());
        assert_eq!(a, before);
    }
}
