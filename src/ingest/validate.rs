//! Per-series and per-sample checks of a decoded `WriteRequest`. A bad
//! series refuses only its own samples; a bad sample only itself; a bad
//! exemplar only itself. What passes is returned for storage, what fails is
//! counted in [`Rejections`] with a message naming the series and the rule.

use rampart_storage::{Exemplar, Label, Labels, Metadata, Sample};

use super::{IngestLimits, RejectReason, Rejections};
use crate::proto::prometheus::{self as pb, metric_metadata::MetricType};

/// Most UTF-8 characters in an exemplar's labels (names and values), as in
/// Prometheus.
const MAX_EXEMPLAR_LABEL_RUNES: usize = 128;
/// Characters of a series shown in a message before it is cut.
const MAX_SERIES_IN_MESSAGE: usize = 200;

/// A series that passed validation.
#[derive(Clone, Debug)]
pub struct AcceptedSeries {
    /// Its labels, sorted, empty values dropped.
    pub labels: Labels,
    /// Samples that passed.
    pub samples: Vec<Sample>,
    /// Exemplars that passed.
    pub exemplars: Vec<Exemplar>,
}

/// The outcome of validating a request.
#[derive(Clone, Debug, Default)]
pub struct ValidatedWrite {
    /// Series to store.
    pub series: Vec<AcceptedSeries>,
    /// Metric metadata to store.
    pub metadata: Vec<Metadata>,
    /// What was refused.
    pub rejections: Rejections,
}

/// Validates a request against `limits` at receiver time `now_ms`.
pub fn validate(req: pb::WriteRequest, limits: &IngestLimits, now_ms: i64) -> ValidatedWrite {
    let mut out = ValidatedWrite::default();
    let max_t = now_ms.saturating_add(i64::try_from(limits.creation_grace_period.as_millis()).unwrap_or(i64::MAX));
    for ts in req.timeseries {
        let refused = (ts.samples.len() + ts.histograms.len()) as u64;
        if !ts.histograms.is_empty() {
            out.rejections.add(RejectReason::NativeHistogram, refused, || {
                format!(
                    "native histograms are not supported yet: series {} carries {} histogram samples; send classic histograms (disable send_native_histograms)",
                    raw_series(&ts.labels),
                    ts.histograms.len()
                )
            });
            continue;
        }
        if let Err((reason, message)) = check_labels(&ts.labels, limits) {
            out.rejections.add(reason, refused, || message);
            continue;
        }
        // Checked: sorted, unique, valid. Move the strings instead of copying;
        // an empty value is the same as an absent label (Prometheus semantics).
        let labels = Labels::from_sorted(
            ts.labels
                .into_iter()
                .filter(|l| !l.value.is_empty())
                .map(|l| Label { name: l.name, value: l.value })
                .collect(),
        );
        let mut samples = Vec::with_capacity(ts.samples.len());
        for s in &ts.samples {
            if s.timestamp > max_t {
                out.rejections.add(RejectReason::TooFarInFuture, 1, || {
                    format!(
                        "sample timestamp {} is too far in the future (more than {} ahead of now, {now_ms}) for series {labels}",
                        s.timestamp,
                        humantime::format_duration(limits.creation_grace_period)
                    )
                });
            } else {
                samples.push(Sample::new(s.timestamp, s.value));
            }
        }
        let mut exemplars = Vec::new();
        for e in ts.exemplars {
            match check_exemplar(&e) {
                Ok(l) => exemplars.push(Exemplar { labels: l, v: e.value, t: e.timestamp }),
                Err(message) => out
                    .rejections
                    .add(RejectReason::InvalidExemplar, 0, || format!("{message} in an exemplar of series {labels}")),
            }
        }
        out.series.push(AcceptedSeries { labels, samples, exemplars });
    }
    out.metadata = req.metadata.into_iter().map(metadata).collect();
    out
}

/// Checks a series' labels as sent: names valid, sorted and unique, sizes
/// within limits, a metric name present.
fn check_labels(raw: &[pb::Label], limits: &IngestLimits) -> Result<(), (RejectReason, String)> {
    let series = || raw_series(raw);
    let mut count = 0;
    let mut has_name = false;
    let mut prev: Option<&str> = None;
    for l in raw {
        if let Some(p) = prev {
            if p == l.name {
                return Err((
                    RejectReason::DuplicateLabelName,
                    format!("duplicate label name {:?} in series {}", l.name, series()),
                ));
            }
            if p > l.name.as_str() {
                return Err((
                    RejectReason::UnsortedLabels,
                    format!(
                        "label names not sorted in series {}: {:?} after {:?}; senders must sort labels by name",
                        series(),
                        l.name,
                        p
                    ),
                ));
            }
        }
        prev = Some(&l.name);
        if l.name.len() > limits.max_label_name_length {
            return Err((
                RejectReason::LabelNameTooLong,
                format!(
                    "label name {:.40?}... is too long ({} bytes, limit {}) in series {}",
                    l.name,
                    l.name.len(),
                    limits.max_label_name_length,
                    series()
                ),
            ));
        }
        if l.value.len() > limits.max_label_value_length {
            return Err((
                RejectReason::LabelValueTooLong,
                format!(
                    "value of label {:?} is too long ({} bytes, limit {}) in series {}",
                    l.name,
                    l.value.len(),
                    limits.max_label_value_length,
                    series()
                ),
            ));
        }
        if l.name == rampart_storage::labels::METRIC_NAME {
            if !is_metric_name(&l.value) && !l.value.is_empty() {
                return Err((
                    RejectReason::InvalidMetricName,
                    format!(
                        "invalid metric name {:?} in series {}: metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*",
                        l.value,
                        series()
                    ),
                ));
            }
        } else if !is_label_name(&l.name) {
            return Err((
                RejectReason::InvalidLabelName,
                format!(
                    "invalid label name {:?} in series {}: label names must match [a-zA-Z_][a-zA-Z0-9_]*",
                    l.name,
                    series()
                ),
            ));
        }
        if !l.value.is_empty() {
            count += 1;
            has_name |= l.name == rampart_storage::labels::METRIC_NAME;
        }
    }
    if count > limits.max_labels_per_series {
        return Err((
            RejectReason::TooManyLabels,
            format!(
                "series {} has {} labels, more than the limit of {}",
                series(),
                count,
                limits.max_labels_per_series
            ),
        ));
    }
    if !has_name {
        return Err((
            RejectReason::MissingMetricName,
            format!("series {} has no metric name: every series needs a non-empty __name__ label", series()),
        ));
    }
    Ok(())
}

fn check_exemplar(e: &pb::Exemplar) -> Result<Labels, String> {
    let runes: usize = e.labels.iter().map(|l| l.name.chars().count() + l.value.chars().count()).sum();
    if runes > MAX_EXEMPLAR_LABEL_RUNES {
        return Err(format!("exemplar labels have {runes} characters, more than {MAX_EXEMPLAR_LABEL_RUNES}"));
    }
    if let Some(l) = e.labels.iter().find(|l| !is_label_name(&l.name)) {
        return Err(format!("invalid label name {:?}", l.name));
    }
    Ok(Labels::from_unsorted(
        e.labels.iter().filter(|l| !l.value.is_empty()).map(|l| Label::new(l.name.clone(), l.value.clone())).collect(),
    ))
}

fn metadata(m: pb::MetricMetadata) -> Metadata {
    let kind = match MetricType::try_from(m.r#type).unwrap_or(MetricType::Unknown) {
        MetricType::Unknown => "unknown",
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Gaugehistogram => "gaugehistogram",
        MetricType::Summary => "summary",
        MetricType::Info => "info",
        MetricType::Stateset => "stateset",
    };
    Metadata { metric_family: m.metric_family_name, kind: kind.to_owned(), help: m.help, unit: m.unit }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn is_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// A series as sent (order kept), `{a="1", b="2"}`, cut to a readable length.
fn raw_series(labels: &[pb::Label]) -> String {
    let parts: Vec<String> = labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    let s = format!("{{{}}}", parts.join(", "));
    if s.len() <= MAX_SERIES_IN_MESSAGE {
        return s;
    }
    let cut = (0..=MAX_SERIES_IN_MESSAGE).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    format!("{}...", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn ts(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> pb::TimeSeries {
        pb::TimeSeries {
            labels: labels.iter().map(|(n, v)| pb::Label { name: n.to_string(), value: v.to_string() }).collect(),
            samples: samples.iter().map(|&(timestamp, value)| pb::Sample { value, timestamp }).collect(),
            ..Default::default()
        }
    }

    fn one(series: pb::TimeSeries) -> ValidatedWrite {
        validate(pb::WriteRequest { timeseries: vec![series], ..Default::default() }, &IngestLimits::default(), NOW)
    }

    #[test]
    fn each_rule_refuses_with_its_reason_and_message() {
        let long = "v".repeat(2049);
        let many: Vec<(String, String)> = (0..30).map(|i| (format!("l{i:02}"), "x".to_owned())).collect();
        let mut many_refs: Vec<(&str, &str)> = vec![("__name__", "m")];
        many_refs.extend(many.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        let cases: Vec<(&str, pb::TimeSeries, RejectReason, &str)> = vec![
            ("bad label", ts(&[("__name__", "up"), ("bad-name", "x")], &[(NOW, 1.0)]), RejectReason::InvalidLabelName,
             r#"invalid label name "bad-name" in series {__name__="up", bad-name="x"}: label names must match [a-zA-Z_][a-zA-Z0-9_]*"#),
            ("bad metric", ts(&[("__name__", "1up")], &[(NOW, 1.0)]), RejectReason::InvalidMetricName,
             r#"invalid metric name "1up" in series {__name__="1up"}: metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*"#),
            ("no name", ts(&[("job", "a")], &[(NOW, 1.0)]), RejectReason::MissingMetricName,
             r#"series {job="a"} has no metric name: every series needs a non-empty __name__ label"#),
            ("empty name", ts(&[("__name__", ""), ("job", "a")], &[(NOW, 1.0)]), RejectReason::MissingMetricName,
             r#"series {__name__="", job="a"} has no metric name: every series needs a non-empty __name__ label"#),
            ("duplicate", ts(&[("__name__", "up"), ("a", "1"), ("a", "2")], &[(NOW, 1.0)]), RejectReason::DuplicateLabelName,
             r#"duplicate label name "a" in series {__name__="up", a="1", a="2"}"#),
            ("unsorted", ts(&[("__name__", "up"), ("c", "1"), ("b", "2")], &[(NOW, 1.0)]), RejectReason::UnsortedLabels,
             r#"label names not sorted in series {__name__="up", c="1", b="2"}: "b" after "c"; senders must sort labels by name"#),
            ("long value", ts(&[("__name__", "up"), ("a", &long)], &[(NOW, 1.0)]), RejectReason::LabelValueTooLong,
             r#"value of label "a" is too long (2049 bytes, limit 2048) in series"#),
            ("too many", ts(&many_refs, &[(NOW, 1.0)]), RejectReason::TooManyLabels, "has 31 labels, more than the limit of 30"),
            ("future", ts(&[("__name__", "up")], &[(NOW + 600_001, 1.0)]), RejectReason::TooFarInFuture,
             "sample timestamp 1700000600001 is too far in the future (more than 10m ahead of now, 1700000000000) for series up{}"),
        ];
        for (name, series, reason, message) in cases {
            let v = one(series);
            let (got_reason, n, examples) =
                v.rejections.iter().next().unwrap_or_else(|| panic!("{name}: nothing refused"));
            assert_eq!((got_reason, n), (reason, 1), "{name}");
            assert!(examples[0].contains(message), "{name}: {:?}", examples[0]);
        }
    }

    #[test]
    fn valid_series_are_kept_beside_invalid_ones_and_stale_markers_pass_bit_exact() {
        let stale = f64::from_bits(rampart_storage::STALE_NAN_BITS);
        let req = pb::WriteRequest {
            timeseries: vec![
                ts(&[("__name__", "up"), ("bad-name", "x")], &[(NOW, 1.0)]),
                ts(&[("__name__", "up"), ("empty", ""), ("job", "a")], &[(NOW, stale), (NOW + 1, f64::INFINITY)]),
            ],
            ..Default::default()
        };
        let v = validate(req, &IngestLimits::default(), NOW);
        assert_eq!(v.series.len(), 1);
        assert_eq!(v.series[0].labels, Labels::from_pairs([("__name__", "up"), ("job", "a")]));
        assert_eq!(v.series[0].samples[0].v.to_bits(), rampart_storage::STALE_NAN_BITS);
        assert_eq!(v.rejections.total_samples(), 1);
    }

    #[test]
    fn native_histograms_are_refused_not_dropped() {
        let mut series = ts(&[("__name__", "h")], &[]);
        series.histograms.push(pb::Histogram { timestamp: NOW, ..Default::default() });
        let v = one(series);
        assert!(v.series.is_empty());
        let (reason, n, ex) = v.rejections.iter().next().expect("refused");
        assert_eq!((reason, n), (RejectReason::NativeHistogram, 1));
        assert!(ex[0].starts_with("native histograms are not supported yet"), "{}", ex[0]);
    }
}
