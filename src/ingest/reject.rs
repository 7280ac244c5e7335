//! Why samples are refused, counted per reason with a few example messages.

use std::collections::BTreeMap;

/// Examples kept per reason for the response body.
const EXAMPLES_PER_REASON: usize = 3;

/// Why a sample (or a whole series) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// No `__name__` label.
    MissingMetricName,
    /// `__name__` does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName,
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName,
    /// The same label name twice.
    DuplicateLabelName,
    /// Label names out of order.
    UnsortedLabels,
    /// A label name over the length limit.
    LabelNameTooLong,
    /// A label value over the length limit.
    LabelValueTooLong,
    /// More labels than allowed.
    TooManyLabels,
    /// Timestamp beyond now plus the grace period.
    TooFarInFuture,
    /// A native histogram (not supported yet).
    NativeHistogram,
    /// An invalid exemplar (dropped alone).
    InvalidExemplar,
    /// Older than the series' newest sample by more than the window.
    OutOfOrder,
    /// A different value at a stored timestamp.
    DuplicateTimestamp,
    /// Before retention, negative, or in a sealed partition.
    OutOfBounds,
}

impl RejectReason {
    /// Stable snake_case name, the `reason` label of
    /// `rampart_samples_rejected_total`.
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
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Entry {
    samples: u64,
    examples: Vec<String>,
}

/// Refusals of one request.
#[derive(Clone, Debug, Default)]
pub struct Rejections {
    by_reason: BTreeMap<RejectReason, Entry>,
}

impl Rejections {
    /// Records `samples` refused for `reason`; `message` is kept as an
    /// example while there are few.
    pub fn add(&mut self, reason: RejectReason, samples: u64, message: impl FnOnce() -> String) {
        let e = self.by_reason.entry(reason).or_default();
        e.samples += samples;
        if e.examples.len() < EXAMPLES_PER_REASON {
            e.examples.push(message());
        }
    }

    /// True when nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.by_reason.is_empty()
    }

    /// Samples refused in total.
    pub fn total_samples(&self) -> u64 {
        self.by_reason.values().map(|e| e.samples).sum()
    }

    /// `(reason, samples, examples)` in reason order.
    pub fn iter(&self) -> impl Iterator<Item = (RejectReason, u64, &[String])> {
        self.by_reason.iter().map(|(r, e)| (*r, e.samples, e.examples.as_slice()))
    }
}
