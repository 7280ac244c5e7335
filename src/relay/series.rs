//! The relay's owned form of a validated series. HA deduplication,
//! relabeling and the series limit rewrite labels and drop series, so the
//! relay works on owned label sets built from the shared ingest validation.

use rampart_storage::{Exemplar, Labels, Sample};

use crate::ingest::ValidatedWrite;

/// One series that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptedSeries {
    /// Its labels: sorted, unique, labels with empty values dropped.
    pub labels: Labels,
    /// Samples that passed, in the order sent, values bit-exact.
    pub samples: Vec<Sample>,
    /// Exemplars that passed.
    pub exemplars: Vec<Exemplar>,
}

/// The series of a validated request, owned.
pub fn accepted_series(v: &ValidatedWrite) -> Vec<AcceptedSeries> {
    v.series
        .iter()
        .map(|s| AcceptedSeries { labels: s.labels(), samples: s.samples.to_vec(), exemplars: s.exemplars.to_vec() })
        .collect()
}
