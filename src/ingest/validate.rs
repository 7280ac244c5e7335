//! Per-series, per-sample and per-exemplar checks of a decoded
//! `WriteRequest` ([`WriteView`]), producing what storage may append (an
//! [`AppendBatch`]) and what was refused.
//!
//! Scope of a refusal, as in Mimir and remote write 2.0: a bad series
//! refuses only its own samples, a bad sample only itself, a bad exemplar
//! only itself; everything else of the request is kept. Each refusal is
//! counted in [`Rejections`] under its [`RejectReason`] with a message that
//! names the offending label or value, the series, and the rule or limit.
//!
//! Series rules, checked on the labels as sent: a non-empty `__name__`
//! matching `[a-zA-Z_:][a-zA-Z0-9_:]*`; other names matching
//! `[a-zA-Z_][a-zA-Z0-9_]*` (checked byte by byte, no regex); names in
//! ascending byte order and unique, as remote write requires; name, value
//! and label-count limits from [`IngestLimits`]. A label with an empty value
//! is the same as no label (Prometheus semantics): it is dropped and not
//! counted. A series carrying native histograms is refused whole (not
//! supported yet). Invalid UTF-8 never reaches this module: decoding refuses
//! it, which fails the whole body in [`super::decode`].
//!
//! Sample rules: the timestamp is at most `now + creation_grace_period`.
//! Every value is valid, NaN and infinities included; values are passed on
//! bit-exact, so staleness markers survive.
//!
//! Exemplar rules: at least one label with a non-empty value, valid and
//! unique label names, at most [`MAX_EXEMPLAR_LABEL_RUNES`] characters of
//! names and values together, and the sample timestamp rule.
//!
//! Messages are built only for the few refusals kept as examples, and the
//! series and names they quote are cut to a readable length.
//!
//! Cost: checks read the labels as the view holds them, borrowed from the
//! request body; an accepted series is copied once, into the batch's
//! canonical label form. Owned `Labels` are built only for exemplars and
//! messages.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use rampart_storage::labels::METRIC_NAME;
use rampart_storage::{AppendBatch, Exemplar, Label, Labels, Metadata};

use super::view::{ExemplarView, LabelsView, SeriesView};
use super::{IngestLimits, RejectReason, Rejections, WriteView};
use crate::duration::format_duration;
use crate::proto::prometheus::{self as pb, metric_metadata::MetricType};

/// Most UTF-8 characters in an exemplar's label names and values together
/// (the OpenMetrics and Prometheus limit).
pub const MAX_EXEMPLAR_LABEL_RUNES: usize = 128;
/// Characters of a series quoted in a message before it is cut (as Mimir).
const MAX_SERIES_IN_MESSAGE: usize = 200;
/// Characters of a label name or value quoted in a message before it is cut.
const MAX_NAME_IN_MESSAGE: usize = 64;
/// Marks a quoted series or name that was cut.
const CUT_MARK: &str = "...";
/// The label name rule, as messages state it.
const LABEL_NAME_RULE: &str = "[a-zA-Z_][a-zA-Z0-9_]*";
/// The metric name rule, as messages state it.
const METRIC_NAME_RULE: &str = "[a-zA-Z_:][a-zA-Z0-9_:]*";

/// The outcome of validating a request; reusable across requests.
#[derive(Clone, Debug, Default)]
pub struct ValidatedWrite {
    /// Series to store, in request order, labels sorted and unique with
    /// empty values dropped, samples in the order sent and bit-exact;
    /// series left with neither samples nor exemplars are not included.
    pub series: AppendBatch,
    /// Metric metadata to store; entries without a family name are skipped.
    pub metadata: Vec<Metadata>,
    /// What was refused and why.
    pub rejections: Rejections,
}

impl ValidatedWrite {
    /// Samples that passed validation.
    pub fn accepted_samples(&self) -> u64 {
        self.series.sample_count() as u64
    }
}

/// Validates a request against `limits` at receiver time `now_ms`
/// (milliseconds since the Unix epoch; a parameter so that tests are
/// deterministic) into `out`, replacing its previous content.
pub fn validate(req: &WriteView, limits: &IngestLimits, now_ms: i64, out: &mut ValidatedWrite) {
    let grace_ms = i64::try_from(limits.creation_grace_period.as_millis()).unwrap_or(i64::MAX);
    let ctx = Ctx { limits, now_ms, max_t: now_ms.saturating_add(grace_ms) };
    out.series.clear();
    out.metadata.clear();
    out.rejections = Rejections::default();
    for ts in req.series() {
        validate_series(ts, &ctx, out);
    }
    out.metadata.extend(req.metadata().iter().filter(|m| !m.metric_family_name.is_empty()).map(metadata));
}

/// What the checks of one request share.
struct Ctx<'a> {
    limits: &'a IngestLimits,
    /// Receiver time.
    now_ms: i64,
    /// Newest timestamp accepted.
    max_t: i64,
}

impl Ctx<'_> {
    fn future_message(&self, what: &str, t: i64, labels: LabelsView<'_>) -> String {
        format!(
            "{what} timestamp {t} is too far in the future (more than {} ahead of now, {}) for series {}",
            format_duration(self.limits.creation_grace_period),
            self.now_ms,
            series(labels)
        )
    }
}

fn validate_series(ts: SeriesView<'_>, ctx: &Ctx<'_>, out: &mut ValidatedWrite) {
    let (raw, samples) = (ts.labels(), ts.samples());
    if ts.histograms() > 0 {
        let refused = (samples.len() + ts.histograms()) as u64;
        out.rejections.add(RejectReason::NativeHistogram, refused, || {
            format!(
                "native histograms are not supported yet: series {} carries {} native histogram samples, refused \
                 with the series' {} float samples; configure the sender not to send native histograms \
                 (Prometheus: send_native_histograms: false)",
                raw_series(raw),
                ts.histograms(),
                samples.len()
            )
        });
        return;
    }
    if let Err(problem) = check_labels(raw, ctx.limits) {
        out.rejections.add(problem.reason(), samples.len() as u64, || problem.message(raw, ctx.limits));
        return;
    }
    let kept = if samples.iter().all(|s| s.t <= ctx.max_t) {
        Cow::Borrowed(samples)
    } else {
        let mut kept = Vec::with_capacity(samples.len());
        for s in samples {
            if s.t > ctx.max_t {
                out.rejections.add(RejectReason::TooFarInFuture, 1, || ctx.future_message("sample", s.t, raw));
            } else {
                kept.push(*s);
            }
        }
        Cow::Owned(kept)
    };
    let mut kept_exemplars = Vec::new();
    for e in ts.exemplars() {
        match check_exemplar(&e, ctx) {
            Ok(()) => kept_exemplars.push(Exemplar {
                labels: Labels::from_unsorted(without_empty(e.labels).map(|(n, v)| Label::new(n, v)).collect()),
                v: e.value,
                t: e.timestamp,
            }),
            Err(problem) => {
                out.rejections.add(RejectReason::InvalidExemplar, 1, || problem.message(&e, raw, ctx));
            }
        }
    }
    if !kept.is_empty() || !kept_exemplars.is_empty() {
        // Checked: sorted, unique, valid; an empty value is the same as an
        // absent label.
        out.series.push(without_empty(raw), &kept, kept_exemplars);
    }
}

/// The labels with non-empty values.
fn without_empty(labels: LabelsView<'_>) -> impl Iterator<Item = (&str, &str)> + Clone {
    labels.iter().filter(|(_, v)| !v.is_empty())
}

/// The first rule a series' labels break.
#[derive(Debug, PartialEq, Eq)]
enum LabelProblem<'a> {
    MissingMetricName,
    InvalidMetricName(&'a str),
    InvalidLabelName(&'a str),
    DuplicateLabelName(&'a str),
    /// `next` follows `prev` but sorts before it.
    Unsorted {
        prev: &'a str,
        next: &'a str,
    },
    LabelNameTooLong(&'a str),
    LabelValueTooLong {
        name: &'a str,
        len: usize,
    },
    /// Labels with non-empty values.
    TooManyLabels(usize),
}

impl LabelProblem<'_> {
    fn reason(&self) -> RejectReason {
        match self {
            LabelProblem::MissingMetricName => RejectReason::MissingMetricName,
            LabelProblem::InvalidMetricName(_) => RejectReason::InvalidMetricName,
            LabelProblem::InvalidLabelName(_) => RejectReason::InvalidLabelName,
            LabelProblem::DuplicateLabelName(_) => RejectReason::DuplicateLabelName,
            LabelProblem::Unsorted { .. } => RejectReason::UnsortedLabels,
            LabelProblem::LabelNameTooLong(_) => RejectReason::LabelNameTooLong,
            LabelProblem::LabelValueTooLong { .. } => RejectReason::LabelValueTooLong,
            LabelProblem::TooManyLabels(_) => RejectReason::TooManyLabels,
        }
    }

    fn message(&self, raw: LabelsView<'_>, limits: &IngestLimits) -> String {
        let series = raw_series(raw);
        match *self {
            LabelProblem::MissingMetricName => {
                format!("series {series} has no metric name: every series needs a non-empty __name__ label")
            }
            LabelProblem::InvalidMetricName(name) => format!(
                "invalid metric name {} in series {series}: metric names must match {METRIC_NAME_RULE}",
                quoted(name)
            ),
            LabelProblem::InvalidLabelName(name) => format!(
                "invalid label name {} in series {series}: label names must match {LABEL_NAME_RULE}",
                quoted(name)
            ),
            LabelProblem::DuplicateLabelName(name) => {
                format!("duplicate label name {} in series {series}", quoted(name))
            }
            LabelProblem::Unsorted { prev, next } => {
                format!("label names not sorted in series {series}: {} after {}", quoted(next), quoted(prev))
            }
            LabelProblem::LabelNameTooLong(name) => format!(
                "label name {} is too long: {} bytes, more than the limit of {} (ingest.max_label_name_length), \
                 in series {series}",
                quoted(name),
                name.len(),
                limits.max_label_name_length
            ),
            LabelProblem::LabelValueTooLong { name, len } => format!(
                "value of label {} is too long: {len} bytes, more than the limit of {} \
                 (ingest.max_label_value_length), in series {series}",
                quoted(name),
                limits.max_label_value_length
            ),
            LabelProblem::TooManyLabels(n) => format!(
                "series {series} has {n} labels, more than the limit of {} (ingest.max_labels_per_series)",
                limits.max_labels_per_series
            ),
        }
    }
}

/// Checks a series' labels as sent. Per label, in order: name rule, name
/// length, value length, order and uniqueness against the previous label;
/// then metric name presence and the label count.
fn check_labels<'a>(raw: LabelsView<'a>, limits: &IngestLimits) -> Result<(), LabelProblem<'a>> {
    let mut present = 0usize;
    let mut has_name = false;
    let mut prev: Option<&str> = None;
    for (name, value) in raw.iter() {
        if name == METRIC_NAME {
            if !value.is_empty() && !is_metric_name(value) {
                return Err(LabelProblem::InvalidMetricName(value));
            }
        } else if !is_label_name(name) {
            return Err(LabelProblem::InvalidLabelName(name));
        }
        if name.len() > limits.max_label_name_length {
            return Err(LabelProblem::LabelNameTooLong(name));
        }
        if value.len() > limits.max_label_value_length {
            return Err(LabelProblem::LabelValueTooLong { name, len: value.len() });
        }
        if let Some(p) = prev {
            match p.cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Err(LabelProblem::DuplicateLabelName(name)),
                std::cmp::Ordering::Greater => return Err(LabelProblem::Unsorted { prev: p, next: name }),
            }
        }
        prev = Some(name);
        if !value.is_empty() {
            present += 1;
            has_name |= name == METRIC_NAME;
        }
    }
    if !has_name {
        return Err(LabelProblem::MissingMetricName);
    }
    if present > limits.max_labels_per_series {
        return Err(LabelProblem::TooManyLabels(present));
    }
    Ok(())
}

/// The first rule an exemplar breaks.
#[derive(Debug, PartialEq, Eq)]
enum ExemplarProblem<'a> {
    /// Characters of names and values together.
    TooLong(usize),
    InvalidLabelName(&'a str),
    DuplicateLabelName(&'a str),
    NoLabels,
    TooFarInFuture,
}

impl ExemplarProblem<'_> {
    fn message(&self, e: &ExemplarView<'_>, labels: LabelsView<'_>, ctx: &Ctx<'_>) -> String {
        let (t, series) = (e.timestamp, series(labels));
        let exemplar = raw_series(e.labels);
        match *self {
            ExemplarProblem::TooLong(n) => format!(
                "exemplar labels {exemplar} at timestamp {t} of series {series} are too long: {n} characters, more \
                 than the limit of {MAX_EXEMPLAR_LABEL_RUNES} (names and values together)"
            ),
            ExemplarProblem::InvalidLabelName(name) => format!(
                "invalid label name {} in exemplar {exemplar} at timestamp {t} of series {series}: label names must \
                 match {LABEL_NAME_RULE}",
                quoted(name)
            ),
            ExemplarProblem::DuplicateLabelName(name) => format!(
                "duplicate label name {} in exemplar {exemplar} at timestamp {t} of series {series}",
                quoted(name)
            ),
            ExemplarProblem::NoLabels => format!(
                "exemplar {exemplar} at timestamp {t} of series {series} has no labels: an exemplar needs at least \
                 one label with a non-empty value, e.g. trace_id"
            ),
            ExemplarProblem::TooFarInFuture => ctx.future_message("exemplar", t, labels),
        }
    }
}

fn check_exemplar<'a>(e: &ExemplarView<'a>, ctx: &Ctx<'_>) -> Result<(), ExemplarProblem<'a>> {
    // Bytes bound characters from above: count characters only when needed.
    let bytes: usize = e.labels.iter().map(|(n, v)| n.len() + v.len()).sum();
    if bytes > MAX_EXEMPLAR_LABEL_RUNES {
        let runes: usize = e.labels.iter().map(|(n, v)| n.chars().count() + v.chars().count()).sum();
        if runes > MAX_EXEMPLAR_LABEL_RUNES {
            return Err(ExemplarProblem::TooLong(runes));
        }
    }
    if let Some((name, _)) = e.labels.iter().find(|(n, _)| !is_label_name(n)) {
        return Err(ExemplarProblem::InvalidLabelName(name));
    }
    // At most a few dozen labels fit the character limit: pairwise is fine.
    for (i, (name, _)) in e.labels.iter().enumerate() {
        if e.labels.iter().take(i).any(|(p, _)| p == name) {
            return Err(ExemplarProblem::DuplicateLabelName(name));
        }
    }
    if e.labels.iter().all(|(_, v)| v.is_empty()) {
        return Err(ExemplarProblem::NoLabels);
    }
    if e.timestamp > ctx.max_t {
        return Err(ExemplarProblem::TooFarInFuture);
    }
    Ok(())
}

fn metadata(m: &pb::MetricMetadata) -> Metadata {
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
    Metadata {
        metric_family: m.metric_family_name.clone(),
        kind: kind.to_owned(),
        help: m.help.clone(),
        unit: m.unit.clone(),
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_label_name(s: &str) -> bool {
    match s.as_bytes() {
        [first, rest @ ..] => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        [] => false,
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(s: &str) -> bool {
    match s.as_bytes() {
        [first, rest @ ..] => {
            (first.is_ascii_alphabetic() || *first == b'_' || *first == b':')
                && rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
        }
        [] => false,
    }
}

/// A string that takes at most a number of characters, then refuses more
/// (ending the formatting early) and remembers that it was cut.
struct Bounded {
    out: String,
    left: usize,
    cut: bool,
}

impl Bounded {
    fn new(chars: usize) -> Self {
        Self { out: String::new(), left: chars, cut: false }
    }

    fn finish(mut self) -> String {
        if self.cut {
            self.out.push_str(CUT_MARK);
        }
        self.out
    }
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.left == 0 {
                self.cut = true;
                return Err(fmt::Error);
            }
            self.out.push(c);
            self.left -= 1;
        }
        Ok(())
    }
}

/// Writes `s` with control characters, quotes and backslashes escaped as
/// Rust's `{:?}` does (single quotes stay as they are).
fn write_escaped(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    for c in s.chars() {
        if c == '\'' {
            w.write_char(c)?;
        } else {
            write!(w, "{}", c.escape_debug())?;
        }
    }
    Ok(())
}

/// `s` escaped and in double quotes, cut to a readable length.
fn quoted(s: &str) -> String {
    let mut w = Bounded::new(MAX_NAME_IN_MESSAGE);
    // An error only means the text was cut.
    let _ = write_escaped(&mut w, s);
    format!("\"{}\"", w.finish())
}

/// Labels as sent (order kept, nothing dropped): `{__name__="up", 1a="x"}`,
/// cut to a readable length.
fn raw_series(labels: LabelsView<'_>) -> String {
    fn write(w: &mut Bounded, labels: LabelsView<'_>) -> fmt::Result {
        w.write_char('{')?;
        for (i, (name, value)) in labels.iter().enumerate() {
            if i > 0 {
                w.write_str(", ")?;
            }
            write_escaped(w, name)?;
            w.write_str("=\"")?;
            write_escaped(w, value)?;
            w.write_char('"')?;
        }
        w.write_char('}')
    }
    let mut w = Bounded::new(MAX_SERIES_IN_MESSAGE);
    // An error only means the text was cut.
    let _ = write(&mut w, labels);
    w.finish()
}

/// A series that passed the label checks, in Prometheus's text form with
/// empty values dropped, `up{job="a"}`, cut to a readable length.
fn series(raw: LabelsView<'_>) -> String {
    let labels = Labels::from_sorted(without_empty(raw).map(|(n, v)| Label::new(n, v)).collect());
    let mut w = Bounded::new(MAX_SERIES_IN_MESSAGE);
    // An error only means the text was cut.
    let _ = write!(w, "{labels}");
    w.finish()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rampart_storage::Sample;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    /// The default grace period, in milliseconds.
    const GRACE_MS: i64 = 600_000;

    fn labels(pairs: &[(&str, &str)]) -> Vec<pb::Label> {
        pairs.iter().map(|(n, v)| pb::Label { name: n.to_string(), value: v.to_string() }).collect()
    }

    fn ts(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> pb::TimeSeries {
        pb::TimeSeries {
            labels: labels(pairs),
            samples: samples.iter().map(|&(timestamp, value)| pb::Sample { value, timestamp }).collect(),
            ..Default::default()
        }
    }

    fn with_exemplar(mut series: pb::TimeSeries, pairs: &[(&str, &str)], timestamp: i64) -> pb::TimeSeries {
        series.exemplars.push(pb::Exemplar { labels: labels(pairs), value: 0.5, timestamp });
        series
    }

    fn request(timeseries: Vec<pb::TimeSeries>) -> pb::WriteRequest {
        pb::WriteRequest { timeseries, ..Default::default() }
    }

    /// Validates `req` as the write handler does, from a view of it.
    fn run(req: pb::WriteRequest, limits: &IngestLimits) -> ValidatedWrite {
        let mut view = WriteView::new();
        view.set_message(req);
        let mut out = ValidatedWrite::default();
        validate(&view, limits, NOW, &mut out);
        out
    }

    fn one(series: pb::TimeSeries) -> ValidatedWrite {
        run(request(vec![series]), &IngestLimits::default())
    }

    /// [`raw_series`] of labels as sent.
    fn raw_series_of(labels: Vec<pb::Label>) -> String {
        let mut view = WriteView::new();
        view.set_message(request(vec![pb::TimeSeries { labels, ..Default::default() }]));
        let series = view.series().next().expect("one series");
        raw_series(series.labels())
    }

    /// The only reason recorded, its count and its only example.
    fn only_rejection(v: &ValidatedWrite, case: &str) -> (RejectReason, u64, String) {
        let all: Vec<_> = v.rejections.iter().collect();
        assert_eq!(all.len(), 1, "{case}: {all:?}");
        let (reason, count, examples) = all[0];
        assert_eq!(examples.len(), 1, "{case}");
        (reason, count, examples[0].clone())
    }

    #[test]
    fn each_series_rule_refuses_the_series_with_its_reason_and_message() {
        let long_name = "n".repeat(1025);
        let long_value = "v".repeat(2049);
        let many: Vec<(String, String)> = (0..30).map(|i| (format!("l{i:02}"), "x".to_owned())).collect();
        let mut many_pairs: Vec<(&str, &str)> = vec![("__name__", "m")];
        many_pairs.extend(many.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        let many_series = raw_series_of(labels(&many_pairs));
        assert!(many_series.ends_with("..."), "long series are cut: {many_series}");
        assert_eq!(many_series.chars().count(), MAX_SERIES_IN_MESSAGE + CUT_MARK.len());
        let two = [(NOW, 1.0), (NOW - 1, 2.0)];

        let cases: Vec<(&str, pb::TimeSeries, RejectReason, String)> = vec![
            (
                "no metric name",
                ts(&[("job", "a")], &two),
                RejectReason::MissingMetricName,
                r#"series {job="a"} has no metric name: every series needs a non-empty __name__ label"#.into(),
            ),
            (
                "empty metric name",
                ts(&[("__name__", ""), ("job", "a")], &two),
                RejectReason::MissingMetricName,
                r#"series {__name__="", job="a"} has no metric name: every series needs a non-empty __name__ label"#
                    .into(),
            ),
            (
                "invalid metric name",
                ts(&[("__name__", "1up")], &two),
                RejectReason::InvalidMetricName,
                r#"invalid metric name "1up" in series {__name__="1up"}: metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*"#
                    .into(),
            ),
            (
                "metric name with a dash",
                ts(&[("__name__", "http-requests")], &two),
                RejectReason::InvalidMetricName,
                r#"invalid metric name "http-requests" in series {__name__="http-requests"}: metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*"#
                    .into(),
            ),
            (
                "label name starting with a digit",
                ts(&[("__name__", "up"), ("1a", "x")], &two),
                RejectReason::InvalidLabelName,
                r#"invalid label name "1a" in series {__name__="up", 1a="x"}: label names must match [a-zA-Z_][a-zA-Z0-9_]*"#
                    .into(),
            ),
            (
                "label name with a colon",
                ts(&[("__name__", "up"), ("a:b", "x")], &two),
                RejectReason::InvalidLabelName,
                r#"invalid label name "a:b" in series {__name__="up", a:b="x"}: label names must match [a-zA-Z_][a-zA-Z0-9_]*"#
                    .into(),
            ),
            (
                "empty label name",
                ts(&[("", "x"), ("__name__", "up")], &two),
                RejectReason::InvalidLabelName,
                r#"invalid label name "" in series {="x", __name__="up"}: label names must match [a-zA-Z_][a-zA-Z0-9_]*"#
                    .into(),
            ),
            (
                "label name with a quote and newline is escaped",
                ts(&[("__name__", "up"), ("a\"\n", "x")], &two),
                RejectReason::InvalidLabelName,
                r#"invalid label name "a\"\n" in series {__name__="up", a\"\n="x"}: label names must match [a-zA-Z_][a-zA-Z0-9_]*"#
                    .into(),
            ),
            (
                "duplicate label name",
                ts(&[("__name__", "up"), ("job", "1"), ("job", "2")], &two),
                RejectReason::DuplicateLabelName,
                r#"duplicate label name "job" in series {__name__="up", job="1", job="2"}"#.into(),
            ),
            (
                "duplicate label name with an empty value",
                ts(&[("__name__", "up"), ("job", ""), ("job", "2")], &two),
                RejectReason::DuplicateLabelName,
                r#"duplicate label name "job" in series {__name__="up", job="", job="2"}"#.into(),
            ),
            (
                "unsorted label names",
                ts(&[("__name__", "up"), ("c", "1"), ("b", "2")], &two),
                RejectReason::UnsortedLabels,
                r#"label names not sorted in series {__name__="up", c="1", b="2"}: "b" after "c""#.into(),
            ),
            (
                "name sorted after lowercase labels",
                ts(&[("job", "a"), ("__name__", "up")], &two),
                RejectReason::UnsortedLabels,
                r#"label names not sorted in series {job="a", __name__="up"}: "__name__" after "job""#.into(),
            ),
            (
                "label name too long",
                ts(&[("__name__", "up"), (&long_name, "x")], &two),
                RejectReason::LabelNameTooLong,
                format!(
                    "label name \"{}...\" is too long: 1025 bytes, more than the limit of 1024 \
                     (ingest.max_label_name_length), in series {}",
                    "n".repeat(MAX_NAME_IN_MESSAGE),
                    raw_series_of(labels(&[("__name__", "up"), (&long_name, "x")]))
                ),
            ),
            (
                "label value too long",
                ts(&[("__name__", "up"), ("a", &long_value)], &two),
                RejectReason::LabelValueTooLong,
                format!(
                    "value of label \"a\" is too long: 2049 bytes, more than the limit of 2048 \
                     (ingest.max_label_value_length), in series {{__name__=\"up\", a=\"{}...",
                    "v".repeat(MAX_SERIES_IN_MESSAGE - r#"{__name__="up", a=""#.len())
                ),
            ),
            (
                "too many labels",
                ts(&many_pairs, &two),
                RejectReason::TooManyLabels,
                format!("series {many_series} has 31 labels, more than the limit of 30 (ingest.max_labels_per_series)"),
            ),
        ];
        for (case, series, reason, message) in cases {
            let v = one(series);
            assert!(v.series.is_empty(), "{case}: the series is refused");
            assert_eq!(only_rejection(&v, case), (reason, 2, message), "{case}");
        }
    }

    #[test]
    fn label_limits_are_inclusive_and_empty_values_do_not_count() {
        let name = "n".repeat(1024);
        let value = "v".repeat(2048);
        // The name, 28 short labels and one of the longest name and value:
        // exactly the limit of 30, plus an empty one that does not count.
        let many: Vec<(String, String)> = (0..28).map(|i| (format!("l{i:02}"), "x".to_owned())).collect();
        let mut pairs: Vec<(&str, &str)> = vec![("__name__", "m")];
        pairs.extend(many.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        pairs.push((&name, &value));
        pairs.push(("zz_empty", ""));
        let v = one(ts(&pairs, &[(NOW, 1.0)]));
        assert!(v.rejections.is_empty(), "{:?}", v.rejections);
        assert_eq!(v.series.len(), 1);
        assert_eq!(v.series.get(0).labels().len(), 30, "the empty label is dropped");
        assert_eq!(v.series.get(0).labels().get("zz_empty"), None);
    }

    #[test]
    fn samples_too_far_in_the_future_are_refused_alone() {
        let limit = NOW + GRACE_MS;
        let v = one(ts(&[("__name__", "up"), ("job", "a")], &[(NOW, 1.0), (limit, 2.0), (limit + 1, 3.0)]));
        let (reason, count, message) = only_rejection(&v, "future");
        assert_eq!((reason, count), (RejectReason::TooFarInFuture, 1));
        assert_eq!(
            message,
            "sample timestamp 1700000600001 is too far in the future (more than 10m ahead of now, 1700000000000) \
             for series up{job=\"a\"}"
        );
        assert_eq!(v.series.get(0).samples, [Sample::new(NOW, 1.0), Sample::new(limit, 2.0)]);

        let limits = IngestLimits { creation_grace_period: Duration::from_secs(5400), ..IngestLimits::default() };
        let v = run(request(vec![ts(&[("__name__", "up")], &[(NOW + 5_400_001, 1.0)])]), &limits);
        assert!(v.series.is_empty(), "a series left without samples is not returned");
        let (_, _, message) = only_rejection(&v, "grace");
        assert!(message.contains("(more than 1h30m ahead of now, 1700000000000) for series up{}"), "{message}");
    }

    #[test]
    fn native_histograms_are_refused_with_the_series_never_dropped_silently() {
        let mut series = ts(&[("__name__", "h"), ("job", "a")], &[(NOW, 1.0)]);
        series.histograms.push(pb::Histogram { timestamp: NOW, ..Default::default() });
        series.histograms.push(pb::Histogram { timestamp: NOW + 1, ..Default::default() });
        let v = one(series);
        assert!(v.series.is_empty());
        assert_eq!(
            only_rejection(&v, "histogram"),
            (
                RejectReason::NativeHistogram,
                3,
                "native histograms are not supported yet: series {__name__=\"h\", job=\"a\"} carries 2 native \
                 histogram samples, refused with the series' 1 float samples; configure the sender not to send \
                 native histograms (Prometheus: send_native_histograms: false)"
                    .to_owned()
            )
        );
    }

    #[test]
    fn each_exemplar_rule_refuses_only_the_exemplar() {
        let base = || ts(&[("__name__", "up"), ("job", "a")], &[(NOW, 1.0)]);
        let long = "x".repeat(MAX_EXEMPLAR_LABEL_RUNES - "trace_id".len() + 1);
        let accents = "é".repeat(MAX_EXEMPLAR_LABEL_RUNES - "trace_id".len() + 1);
        let cases: Vec<(&str, pb::TimeSeries, String)> = vec![
            (
                "invalid label name",
                with_exemplar(base(), &[("trace-id", "abc")], NOW),
                "invalid label name \"trace-id\" in exemplar {trace-id=\"abc\"} at timestamp 1700000000000 of series \
                 up{job=\"a\"}: label names must match [a-zA-Z_][a-zA-Z0-9_]*"
                    .into(),
            ),
            (
                "duplicate label name",
                with_exemplar(base(), &[("trace_id", "a"), ("trace_id", "b")], NOW),
                "duplicate label name \"trace_id\" in exemplar {trace_id=\"a\", trace_id=\"b\"} at timestamp \
                 1700000000000 of series up{job=\"a\"}"
                    .into(),
            ),
            (
                "too long",
                with_exemplar(base(), &[("trace_id", &long)], NOW),
                format!(
                    "exemplar labels {{trace_id=\"{long}\"}} at timestamp 1700000000000 of series up{{job=\"a\"}} are \
                     too long: 129 characters, more than the limit of 128 (names and values together)"
                ),
            ),
            (
                "too long counted in characters, not bytes",
                with_exemplar(base(), &[("trace_id", &accents)], NOW),
                format!(
                    "exemplar labels {{trace_id=\"{accents}\"}} at timestamp 1700000000000 of series \
                     up{{job=\"a\"}} are too long: 129 characters, more than the limit of 128 (names and values \
                     together)"
                ),
            ),
            (
                "no labels",
                with_exemplar(base(), &[], NOW),
                "exemplar {} at timestamp 1700000000000 of series up{job=\"a\"} has no labels: an exemplar needs at \
                 least one label with a non-empty value, e.g. trace_id"
                    .into(),
            ),
            (
                "only empty values",
                with_exemplar(base(), &[("trace_id", "")], NOW),
                "exemplar {trace_id=\"\"} at timestamp 1700000000000 of series up{job=\"a\"} has no labels: an \
                 exemplar needs at least one label with a non-empty value, e.g. trace_id"
                    .into(),
            ),
            (
                "too far in the future",
                with_exemplar(base(), &[("trace_id", "abc")], NOW + GRACE_MS + 1),
                "exemplar timestamp 1700000600001 is too far in the future (more than 10m ahead of now, \
                 1700000000000) for series up{job=\"a\"}"
                    .into(),
            ),
        ];
        for (case, series, message) in cases {
            let v = one(series);
            assert_eq!(only_rejection(&v, case), (RejectReason::InvalidExemplar, 1, message), "{case}");
            assert_eq!(v.series.len(), 1, "{case}: the series is kept");
            assert_eq!(v.series.get(0).samples, [Sample::new(NOW, 1.0)], "{case}: its samples are kept");
            assert!(v.series.get(0).exemplars.is_empty(), "{case}");
        }
    }

    #[test]
    fn valid_exemplars_are_kept_with_sorted_labels_and_empty_values_dropped() {
        // Names count, the empty label's too: exactly the limit.
        let exact =
            "é".repeat(MAX_EXEMPLAR_LABEL_RUNES - "trace_id".len() - "span_id".len() - "1".len() - "empty".len());
        let series = with_exemplar(
            ts(&[("__name__", "up")], &[(NOW, 1.0)]),
            &[("trace_id", &exact), ("span_id", "1"), ("empty", "")],
            NOW + GRACE_MS,
        );
        let v = one(series);
        assert!(v.rejections.is_empty(), "{:?}", v.rejections);
        assert_eq!(
            v.series.get(0).exemplars,
            [Exemplar {
                labels: Labels::from_pairs([("span_id", "1"), ("trace_id", exact.as_str())]),
                v: 0.5,
                t: NOW + GRACE_MS
            }]
        );
    }

    #[test]
    fn a_mixed_request_keeps_exactly_the_valid_series() {
        let req = request(vec![
            ts(&[("__name__", "good_a"), ("job", "x")], &[(NOW, 1.0), (NOW + 1, 2.0)]),
            ts(&[("__name__", "bad"), ("bad-name", "x")], &[(NOW, 1.0)]),
            ts(&[("__name__", "good_b"), ("empty", ""), ("job", "y")], &[(NOW, 3.0)]),
            ts(&[("job", "no_name")], &[(NOW, 1.0), (NOW + 1, 1.0)]),
            ts(&[("__name__", "bad"), ("b", "1"), ("a", "1")], &[(NOW, 1.0)]),
            ts(&[("__name__", "good_c")], &[(NOW, 4.0), (NOW + GRACE_MS + 1, 5.0)]),
        ]);
        let v = run(req, &IngestLimits::default());
        let kept: Vec<(String, Vec<Sample>)> =
            v.series.iter().map(|s| (s.labels().to_string(), s.samples.to_vec())).collect();
        assert_eq!(
            kept,
            [
                ("good_a{job=\"x\"}".to_owned(), vec![Sample::new(NOW, 1.0), Sample::new(NOW + 1, 2.0)]),
                ("good_b{job=\"y\"}".to_owned(), vec![Sample::new(NOW, 3.0)]),
                ("good_c{}".to_owned(), vec![Sample::new(NOW, 4.0)]),
            ]
        );
        assert_eq!(v.accepted_samples(), 4);
        let counts: Vec<(RejectReason, u64)> = v.rejections.iter().map(|(r, n, _)| (r, n)).collect();
        assert_eq!(
            counts,
            [
                (RejectReason::MissingMetricName, 2),
                (RejectReason::InvalidLabelName, 1),
                (RejectReason::UnsortedLabels, 1),
                (RejectReason::TooFarInFuture, 1),
            ]
        );
        assert_eq!(v.rejections.total_samples(), 5);
    }

    #[test]
    fn special_float_values_pass_bit_exact() {
        let stale = f64::from_bits(rampart_storage::STALE_NAN_BITS);
        let other_nan = f64::from_bits(0x7ff8_0000_0000_0001);
        let values = [stale, other_nan, f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::MIN_POSITIVE];
        let samples: Vec<(i64, f64)> = values.iter().enumerate().map(|(i, &v)| (NOW + i as i64, v)).collect();
        let v = one(ts(&[("__name__", "up")], &samples));
        assert!(v.rejections.is_empty(), "{:?}", v.rejections);
        let got: Vec<u64> = v.series.get(0).samples.iter().map(|s| s.v.to_bits()).collect();
        let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want);
        assert_eq!(got[0], rampart_storage::STALE_NAN_BITS);
    }

    #[test]
    fn metadata_types_become_lowercase_prometheus_names() {
        let types = [
            (MetricType::Unknown as i32, "unknown"),
            (MetricType::Counter as i32, "counter"),
            (MetricType::Gauge as i32, "gauge"),
            (MetricType::Histogram as i32, "histogram"),
            (MetricType::Gaugehistogram as i32, "gaugehistogram"),
            (MetricType::Summary as i32, "summary"),
            (MetricType::Info as i32, "info"),
            (MetricType::Stateset as i32, "stateset"),
            (99, "unknown"),
        ];
        let mut req = request(vec![]);
        for (t, _) in types {
            req.metadata.push(pb::MetricMetadata {
                r#type: t,
                metric_family_name: format!("m{t}"),
                help: "help text".into(),
                unit: "seconds".into(),
            });
        }
        req.metadata.push(pb::MetricMetadata { metric_family_name: String::new(), ..Default::default() });
        let v = run(req, &IngestLimits::default());
        let got: Vec<Metadata> = v.metadata;
        let want: Vec<Metadata> = types
            .iter()
            .map(|(t, kind)| Metadata {
                metric_family: format!("m{t}"),
                kind: (*kind).to_owned(),
                help: "help text".into(),
                unit: "seconds".into(),
            })
            .collect();
        assert_eq!(got, want, "the entry without a family name is skipped");
    }

    #[test]
    fn name_rules_are_checked_byte_by_byte() {
        for ok in ["a", "_", "A_b9", "__name__", "_9"] {
            assert!(is_label_name(ok), "{ok}");
            assert!(is_metric_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a.b", "é", "a b"] {
            assert!(!is_label_name(bad), "{bad}");
            assert!(!is_metric_name(bad), "{bad}");
        }
        assert!(is_metric_name(":a:b"));
        assert!(!is_label_name(":a"));
    }
}
