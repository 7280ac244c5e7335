//! [`WriteView`]: a decoded remote-write `WriteRequest` whose label names
//! and values are spans of one byte buffer, the decompressed body, instead
//! of owned strings. Parsing a request allocates nothing once the view's
//! buffers have grown to the size of the requests seen.
//!
//! The parser reads the protobuf wire format of the messages senders send
//! on the hot path: `WriteRequest.timeseries`, `TimeSeries.labels`,
//! `.samples` and `.exemplars`, and unknown fields of the varint, 64-bit,
//! length-delimited and 32-bit wire types. It declines everything else
//! (metadata, native histograms, group wire types) and every malformed
//! input; the caller then decodes the body with prost, which is the
//! authority: its error is the answer to a malformed body, and a message it
//! accepts is copied in with [`WriteView::set_message`].
//!
//! Invariants:
//! - What the parser accepts, prost accepts with the same content (the
//!   tests check this against prost on generated and corrupted encodings).
//! - Every label span lies within `text[..len]` and was checked to be UTF-8
//!   when it was recorded; `text[..len]` does not change while spans exist.
//! - Series `i` owns the ranges of `labels`, `samples` and `exemplars` its
//!   [`SeriesSpan`] names; exemplar `j` owns its range of `exemplar_labels`.
//! - The buffer holds at most `u32::MAX` bytes (the decoder caps bodies at
//!   that size), so `u32` offsets address it.

use std::ops::Range;

use rampart_storage::Sample;

use crate::proto::prometheus as pb;

/// Wire type of varint fields.
const VARINT: u8 = 0;
/// Wire type of 64-bit fields.
const FIXED64: u8 = 1;
/// Wire type of length-delimited fields.
const LEN: u8 = 2;
/// Wire type of 32-bit fields.
const FIXED32: u8 = 5;

/// A decoded `WriteRequest`, reusable across requests.
#[derive(Debug, Default)]
pub struct WriteView {
    /// What label spans point into. Only `text[..len]` belongs to the current
    /// request; the rest is left from larger earlier ones, which saves
    /// zeroing the buffer for every request.
    text: Vec<u8>,
    len: usize,
    labels: Vec<LabelSpan>,
    samples: Vec<Sample>,
    exemplars: Vec<ExemplarSpan>,
    exemplar_labels: Vec<LabelSpan>,
    series: Vec<SeriesSpan>,
    metadata: Vec<pb::MetricMetadata>,
}

/// A range of a buffer or arena.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(range: Range<usize>) -> Self {
        let offset = |n: usize| u32::try_from(n).expect("a view holds at most u32::MAX bytes");
        Self { start: offset(range.start), end: offset(range.end) }
    }

    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Clone, Copy, Debug)]
struct LabelSpan {
    name: Span,
    value: Span,
}

#[derive(Clone, Copy, Debug)]
struct SeriesSpan {
    labels: Span,
    samples: Span,
    exemplars: Span,
    histograms: u32,
}

#[derive(Clone, Copy, Debug)]
struct ExemplarSpan {
    labels: Span,
    value: f64,
    timestamp: i64,
}

/// One `TimeSeries` of a [`WriteView`].
#[derive(Clone, Copy, Debug)]
pub struct SeriesView<'a> {
    view: &'a WriteView,
    span: SeriesSpan,
}

/// The labels of a series or exemplar, as sent.
#[derive(Clone, Copy, Debug)]
pub struct LabelsView<'a> {
    text: &'a [u8],
    spans: &'a [LabelSpan],
}

/// One `Exemplar` of a series.
#[derive(Clone, Copy, Debug)]
pub struct ExemplarView<'a> {
    /// Its labels, as sent.
    pub labels: LabelsView<'a>,
    /// Its value.
    pub value: f64,
    /// Its timestamp, milliseconds.
    pub timestamp: i64,
}

impl WriteView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the view for the next request, keeping the allocated capacity.
    fn clear(&mut self) {
        self.len = 0;
        self.clear_parsed();
    }

    /// Drops what was parsed, keeping the body.
    fn clear_parsed(&mut self) {
        self.labels.clear();
        self.samples.clear();
        self.exemplars.clear();
        self.exemplar_labels.clear();
        self.series.clear();
        self.metadata.clear();
    }

    /// Empties the view and returns a buffer of `len` bytes (with unspecified
    /// contents) for the encoded request, which [`WriteView::parse`] reads.
    pub(super) fn body_buffer(&mut self, len: usize) -> &mut [u8] {
        self.clear();
        if self.text.len() < len {
            self.text.resize(len, 0);
        }
        self.len = len;
        &mut self.text[..len]
    }

    /// The encoded request written into [`WriteView::body_buffer`].
    pub(super) fn body(&self) -> &[u8] {
        &self.text[..self.len]
    }

    /// Parses the encoded request. `false`: declined (unsupported or
    /// malformed); the view then holds no series and the caller decodes the
    /// body with prost instead.
    pub(super) fn parse(&mut self) -> bool {
        let ok = u32::try_from(self.len).is_ok() && {
            let mut r = Reader { buf: &self.text[..self.len], pos: 0 };
            let mut parts = Parts {
                labels: &mut self.labels,
                samples: &mut self.samples,
                exemplars: &mut self.exemplars,
                exemplar_labels: &mut self.exemplar_labels,
                series: &mut self.series,
            };
            parts.write_request(&mut r).is_some()
        };
        if !ok {
            self.clear_parsed();
        }
        ok
    }

    /// Replaces the view's content with a message prost decoded.
    pub(super) fn set_message(&mut self, msg: pb::WriteRequest) {
        self.clear();
        self.text.clear();
        for ts in &msg.timeseries {
            let labels = self.copy_labels(&ts.labels, false);
            let samples = self.samples.len();
            self.samples.extend(ts.samples.iter().map(|s| Sample::new(s.timestamp, s.value)));
            let exemplars = self.exemplars.len();
            for e in &ts.exemplars {
                let labels = self.copy_labels(&e.labels, true);
                self.exemplars.push(ExemplarSpan { labels, value: e.value, timestamp: e.timestamp });
            }
            self.series.push(SeriesSpan {
                labels,
                samples: Span::new(samples..self.samples.len()),
                exemplars: Span::new(exemplars..self.exemplars.len()),
                histograms: ts.histograms.len() as u32,
            });
        }
        self.len = self.text.len();
        self.metadata = msg.metadata;
    }

    /// Appends `labels` to the text and to the series' (or the exemplars')
    /// label arena, returning their range in the arena.
    fn copy_labels(&mut self, labels: &[pb::Label], exemplar: bool) -> Span {
        let arena = if exemplar { &mut self.exemplar_labels } else { &mut self.labels };
        let start = arena.len();
        for l in labels {
            let mut copy = |s: &str| {
                let at = self.text.len();
                self.text.extend_from_slice(s.as_bytes());
                Span::new(at..self.text.len())
            };
            arena.push(LabelSpan { name: copy(&l.name), value: copy(&l.value) });
        }
        Span::new(start..arena.len())
    }

    /// The series, in request order.
    pub fn series(&self) -> impl ExactSizeIterator<Item = SeriesView<'_>> {
        self.series.iter().map(|&span| SeriesView { view: self, span })
    }

    /// Metric metadata of the request.
    pub fn metadata(&self) -> &[pb::MetricMetadata] {
        &self.metadata
    }

    /// Bytes of the buffer that label spans point into (retained across
    /// requests).
    pub fn buffer_capacity(&self) -> usize {
        self.text.capacity()
    }
}

impl<'a> SeriesView<'a> {
    /// The labels, as sent.
    pub fn labels(&self) -> LabelsView<'a> {
        LabelsView { text: self.view.body(), spans: &self.view.labels[self.span.labels.range()] }
    }

    /// The samples, as sent.
    pub fn samples(&self) -> &'a [Sample] {
        &self.view.samples[self.span.samples.range()]
    }

    /// The exemplars, as sent.
    pub fn exemplars(&self) -> impl ExactSizeIterator<Item = ExemplarView<'a>> {
        let view = self.view;
        view.exemplars[self.span.exemplars.range()].iter().map(move |e| ExemplarView {
            labels: LabelsView { text: view.body(), spans: &view.exemplar_labels[e.labels.range()] },
            value: e.value,
            timestamp: e.timestamp,
        })
    }

    /// Number of native histogram samples.
    pub fn histograms(&self) -> usize {
        self.span.histograms as usize
    }
}

impl<'a> LabelsView<'a> {
    /// `(name, value)` pairs, in the order sent.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone + 'a {
        let text = self.text;
        self.spans.iter().map(move |l| (str_at(text, l.name), str_at(text, l.value)))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// The string at `span` of a view's text.
fn str_at(text: &[u8], span: Span) -> &str {
    let bytes = &text[span.range()];
    // SAFETY: spans are recorded only over bytes checked to be UTF-8
    // (`Reader::string`) or copied from a `&str` (`copy_labels`), and the
    // text they point into does not change while they exist (see the module
    // invariants).
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// The arenas the parser fills (the view without its text, which it reads).
struct Parts<'v> {
    labels: &'v mut Vec<LabelSpan>,
    samples: &'v mut Vec<Sample>,
    exemplars: &'v mut Vec<ExemplarSpan>,
    exemplar_labels: &'v mut Vec<LabelSpan>,
    series: &'v mut Vec<SeriesSpan>,
}

impl Parts<'_> {
    /// `WriteRequest`: `repeated TimeSeries timeseries = 1; reserved 2;
    /// repeated MetricMetadata metadata = 3;` (metadata declined).
    fn write_request(&mut self, r: &mut Reader<'_>) -> Option<()> {
        while r.has_more() {
            match r.key()? {
                (1, LEN) => {
                    let mut ts = r.message()?;
                    self.time_series(&mut ts)?;
                }
                (1 | 3, _) => return None,
                (_, wire) => r.skip(wire)?,
            }
        }
        Some(())
    }

    /// `TimeSeries`: `repeated Label labels = 1; repeated Sample samples = 2;
    /// repeated Exemplar exemplars = 3; repeated Histogram histograms = 4;`
    /// (histograms declined).
    fn time_series(&mut self, r: &mut Reader<'_>) -> Option<()> {
        let (labels, samples, exemplars) = (self.labels.len(), self.samples.len(), self.exemplars.len());
        while r.has_more() {
            match r.key()? {
                (1, LEN) => {
                    let label = label(&mut r.message()?)?;
                    self.labels.push(label);
                }
                (2, LEN) => {
                    let sample = sample(&mut r.message()?)?;
                    self.samples.push(sample);
                }
                (3, LEN) => {
                    let mut e = r.message()?;
                    self.exemplar(&mut e)?;
                }
                (1..=4, _) => return None,
                (_, wire) => r.skip(wire)?,
            }
        }
        self.series.push(SeriesSpan {
            labels: Span::new(labels..self.labels.len()),
            samples: Span::new(samples..self.samples.len()),
            exemplars: Span::new(exemplars..self.exemplars.len()),
            histograms: 0,
        });
        Some(())
    }

    /// `Exemplar`: `repeated Label labels = 1; double value = 2; int64
    /// timestamp = 3;`
    fn exemplar(&mut self, r: &mut Reader<'_>) -> Option<()> {
        let start = self.exemplar_labels.len();
        let (mut value, mut timestamp) = (0.0, 0);
        while r.has_more() {
            match r.key()? {
                (1, LEN) => {
                    let label = label(&mut r.message()?)?;
                    self.exemplar_labels.push(label);
                }
                (2, FIXED64) => value = f64::from_bits(r.fixed64()?),
                (3, VARINT) => timestamp = r.varint()? as i64,
                (1..=3, _) => return None,
                (_, wire) => r.skip(wire)?,
            }
        }
        self.exemplars.push(ExemplarSpan { labels: Span::new(start..self.exemplar_labels.len()), value, timestamp });
        Some(())
    }
}

/// `Label`: `string name = 1; string value = 2;` (a repeated field: the last
/// occurrence wins, as in prost).
#[inline(always)]
fn label(r: &mut Reader<'_>) -> Option<LabelSpan> {
    let (mut name, mut value) = (Span::default(), Span::default());
    while r.has_more() {
        match r.key()? {
            (1, LEN) => name = r.string()?,
            (2, LEN) => value = r.string()?,
            (1 | 2, _) => return None,
            (_, wire) => r.skip(wire)?,
        }
    }
    Some(LabelSpan { name, value })
}

/// `Sample`: `double value = 1; int64 timestamp = 2;`
#[inline(always)]
fn sample(r: &mut Reader<'_>) -> Option<Sample> {
    let mut s = Sample::new(0, 0.0);
    while r.has_more() {
        match r.key()? {
            (1, FIXED64) => s.v = f64::from_bits(r.fixed64()?),
            (2, VARINT) => s.t = r.varint()? as i64,
            (1 | 2, _) => return None,
            (_, wire) => r.skip(wire)?,
        }
    }
    Some(s)
}

/// A cursor over protobuf wire format. `buf` ends where the message being
/// read ends; positions are offsets into the whole body, so that spans can
/// be recorded. Every read returns `None` on malformed or truncated input.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn has_more(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// A base-128 varint of at most 10 bytes, the 10th at most 1 (prost
    /// refuses longer or overflowing ones; overlong encodings are valid).
    #[inline(always)]
    fn varint(&mut self) -> Option<u64> {
        // Keys and most lengths take one byte.
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Some(u64::from(b))
            }
            _ => self.long_varint(),
        }
    }

    /// [`Reader::varint`] of more than one byte (or a malformed one).
    #[inline(never)]
    fn long_varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return (i < 9 || b < 2).then_some(v);
            }
        }
        None
    }

    /// A field key: `(field number, wire type)`. Declines what prost
    /// refuses (keys over 32 bits, field 0, wire types 6 and 7) and the
    /// group wire types 3 and 4.
    #[inline]
    fn key(&mut self) -> Option<(u32, u8)> {
        let key = u32::try_from(self.varint()?).ok()?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        (field != 0 && matches!(wire, VARINT | FIXED64 | LEN | FIXED32)).then_some((field, wire))
    }

    #[inline]
    fn advance(&mut self, n: usize) -> Option<Range<usize>> {
        let start = self.pos;
        let end = start.checked_add(n).filter(|&e| e <= self.buf.len())?;
        self.pos = end;
        Some(start..end)
    }

    #[inline]
    fn fixed64(&mut self) -> Option<u64> {
        let r = self.advance(8)?;
        Some(u64::from_le_bytes(self.buf[r].try_into().ok()?))
    }

    /// The range of a length-delimited field's contents.
    #[inline]
    fn delimited(&mut self) -> Option<Range<usize>> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.advance(len)
    }

    /// An embedded message, as a reader that ends where it ends.
    #[inline]
    fn message(&mut self) -> Option<Reader<'a>> {
        let r = self.delimited()?;
        Some(Reader { buf: &self.buf[..r.end], pos: r.start })
    }

    /// A `string` field: its span, once its bytes are checked to be UTF-8.
    #[inline(always)]
    fn string(&mut self) -> Option<Span> {
        let r = self.delimited()?;
        let bytes = &self.buf[r.clone()];
        (bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()).then(|| Span::new(r))
    }

    /// Skips the value of an unknown field.
    fn skip(&mut self, wire: u8) -> Option<()> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.advance(8).map(drop),
            LEN => self.delimited().map(drop),
            FIXED32 => self.advance(4).map(drop),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::ingest::{decode, IngestLimits};

    impl WriteView {
        /// The view as a prost message, histograms as default ones.
        pub(in crate::ingest) fn to_message(&self) -> pb::WriteRequest {
            let labels = |l: LabelsView<'_>| -> Vec<pb::Label> {
                l.iter().map(|(n, v)| pb::Label { name: n.into(), value: v.into() }).collect()
            };
            pb::WriteRequest {
                timeseries: self
                    .series()
                    .map(|s| pb::TimeSeries {
                        labels: labels(s.labels()),
                        samples: s.samples().iter().map(|x| pb::Sample { value: x.v, timestamp: x.t }).collect(),
                        exemplars: s
                            .exemplars()
                            .map(|e| pb::Exemplar { labels: labels(e.labels), value: e.value, timestamp: e.timestamp })
                            .collect(),
                        histograms: vec![pb::Histogram::default(); s.histograms()],
                    })
                    .collect(),
                metadata: self.metadata.clone(),
            }
        }
    }

    /// A message's content in comparable form: its canonical encoding (bit
    /// exact for floats), histograms reduced to their number.
    fn content(mut msg: pb::WriteRequest) -> Vec<u8> {
        for ts in &mut msg.timeseries {
            ts.histograms.iter_mut().for_each(|h| *h = pb::Histogram::default());
        }
        msg.encode_to_vec()
    }

    /// Runs the parser alone over `bytes`: the content if it accepts.
    fn parse(view: &mut WriteView, bytes: &[u8]) -> Option<Vec<u8>> {
        view.body_buffer(bytes.len()).copy_from_slice(bytes);
        view.parse().then(|| content(view.to_message()))
    }

    /// One protobuf field as written on the wire.
    #[derive(Clone, Debug)]
    enum Wire {
        Varint(u32, u64),
        Fixed64(u32, u64),
        Fixed32(u32, u32),
        Bytes(u32, Vec<u8>),
        Message(u32, Vec<Wire>),
        Group(u32, Vec<Wire>),
    }

    /// Writes fields; `pad` makes every varint that many bytes longer than
    /// needed (overlong encodings are valid), up to 10 bytes.
    fn put(fields: &[Wire], pad: usize, out: &mut Vec<u8>) {
        fn varint(mut v: u64, pad: usize, out: &mut Vec<u8>) {
            let mut bytes = Vec::new();
            loop {
                bytes.push((v & 0x7f) as u8);
                v >>= 7;
                if v == 0 {
                    break;
                }
            }
            bytes.resize(bytes.len().max((bytes.len() + pad).min(10)), 0);
            let last = bytes.len() - 1;
            for b in &mut bytes[..last] {
                *b |= 0x80;
            }
            out.extend_from_slice(&bytes);
        }
        let key = |field: u32, wire: u8, out: &mut Vec<u8>| varint(u64::from(field) << 3 | u64::from(wire), pad, out);
        for f in fields {
            match f {
                Wire::Varint(n, v) => {
                    key(*n, VARINT, out);
                    varint(*v, pad, out);
                }
                Wire::Fixed64(n, v) => {
                    key(*n, FIXED64, out);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Wire::Fixed32(n, v) => {
                    key(*n, FIXED32, out);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Wire::Bytes(n, b) => {
                    key(*n, LEN, out);
                    varint(b.len() as u64, pad, out);
                    out.extend_from_slice(b);
                }
                Wire::Message(n, inner) => {
                    let mut body = Vec::new();
                    put(inner, pad, &mut body);
                    put(&[Wire::Bytes(*n, body)], pad, out);
                }
                Wire::Group(n, inner) => {
                    key(*n, 3, out);
                    put(inner, pad, out);
                    key(*n, 4, out);
                }
            }
        }
    }

    /// Turns a message's fields into an equivalent but unusual encoding:
    /// shuffled field order (repeated fields keep their relative order),
    /// scalar fields also written earlier with another value (the last one
    /// wins), explicit default values, and unknown fields of every wire type
    /// (groups only when `groups`).
    struct Scrambler {
        rng: StdRng,
        groups: bool,
    }

    impl Scrambler {
        /// `fields` of a message whose known field numbers are `1..=known`;
        /// `scalars` are the numbers of its non-repeated scalar fields.
        fn message(&mut self, mut fields: Vec<Wire>, known: u32, scalars: &[u32]) -> Vec<Wire> {
            for &n in scalars {
                if self.rng.gen_bool(0.3) {
                    let at = fields.iter().position(|f| number(f) == n).unwrap_or(fields.len());
                    let earlier = match fields.get(at) {
                        Some(Wire::Fixed64(..)) | None if n != 3 || known != 3 => Wire::Fixed64(n, self.rng.gen()),
                        _ => Wire::Varint(n, self.rng.gen()),
                    };
                    if matches!(fields.get(at), Some(f) if std::mem::discriminant(f) == std::mem::discriminant(&earlier))
                    {
                        fields.insert(at, earlier);
                    }
                }
            }
            for _ in 0..self.rng.gen_range(0..3) {
                let n = self.rng.gen_range(known + 1..=40);
                let unknown = match self.rng.gen_range(0..if self.groups { 5 } else { 4 }) {
                    0 => Wire::Varint(n, self.rng.gen()),
                    1 => Wire::Fixed64(n, self.rng.gen()),
                    2 => Wire::Fixed32(n, self.rng.gen()),
                    3 => Wire::Bytes(n, (0..self.rng.gen_range(0..6)).map(|_| self.rng.gen()).collect()),
                    _ => Wire::Group(n, vec![Wire::Varint(1, 7), Wire::Group(2, vec![Wire::Fixed32(3, 1)])]),
                };
                let at = self.rng.gen_range(0..=fields.len());
                fields.insert(at, unknown);
            }
            // Shuffle by a stable sort on random keys per field number.
            let keys: Vec<u32> = (0..=40).map(|_| self.rng.gen()).collect();
            fields.sort_by_key(|f| keys[number(f) as usize]);
            fields
        }

        fn label(&mut self, name: &str, value: &str) -> Vec<Wire> {
            let mut fields = Vec::new();
            for (n, s) in [(1, name), (2, value)] {
                if !s.is_empty() || self.rng.gen_bool(0.5) {
                    fields.push(Wire::Bytes(n, s.as_bytes().to_vec()));
                }
            }
            self.message(fields, 2, &[])
        }

        fn labels(&mut self, labels: &[pb::Label]) -> Vec<Wire> {
            labels.iter().map(|l| Wire::Message(1, self.label(&l.name, &l.value))).collect()
        }

        fn request(&mut self, req: &pb::WriteRequest) -> Vec<Wire> {
            let series = req
                .timeseries
                .iter()
                .map(|ts| {
                    let mut fields = self.labels(&ts.labels);
                    for s in &ts.samples {
                        let sample = vec![Wire::Fixed64(1, s.value.to_bits()), Wire::Varint(2, s.timestamp as u64)];
                        fields.push(Wire::Message(2, self.message(sample, 2, &[1, 2])));
                    }
                    for e in &ts.exemplars {
                        let mut exemplar = self.labels(&e.labels);
                        exemplar.push(Wire::Fixed64(2, e.value.to_bits()));
                        exemplar.push(Wire::Varint(3, e.timestamp as u64));
                        fields.push(Wire::Message(3, self.message(exemplar, 3, &[2, 3])));
                    }
                    Wire::Message(1, self.message(fields, 4, &[]))
                })
                .collect();
            self.message(series, 3, &[])
        }
    }

    fn number(f: &Wire) -> u32 {
        match f {
            Wire::Varint(n, _)
            | Wire::Fixed64(n, _)
            | Wire::Fixed32(n, _)
            | Wire::Bytes(n, _)
            | Wire::Message(n, _)
            | Wire::Group(n, _) => *n,
        }
    }

    fn label_strategy() -> impl Strategy<Value = pb::Label> {
        (prop_oneof!["[a-z_]{0,8}", any::<String>()], prop_oneof!["[a-z0-9.:-]{0,12}", any::<String>()])
            .prop_map(|(name, value)| pb::Label { name, value })
    }

    /// Requests with the fields the parser reads; values bit-arbitrary.
    fn request_strategy() -> impl Strategy<Value = pb::WriteRequest> {
        let sample =
            (any::<u64>(), any::<i64>()).prop_map(|(v, t)| pb::Sample { value: f64::from_bits(v), timestamp: t });
        let exemplar = (prop::collection::vec(label_strategy(), 0..3), any::<u64>(), any::<i64>())
            .prop_map(|(labels, v, t)| pb::Exemplar { labels, value: f64::from_bits(v), timestamp: t });
        let series = (
            prop::collection::vec(label_strategy(), 0..6),
            prop::collection::vec(sample, 0..3),
            prop::collection::vec(exemplar, 0..2),
        )
            .prop_map(|(labels, samples, exemplars)| pb::TimeSeries {
                labels,
                samples,
                exemplars,
                histograms: vec![],
            });
        prop::collection::vec(series, 0..5).prop_map(|timeseries| pb::WriteRequest { timeseries, metadata: vec![] })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Unusual but valid encodings: the parser accepts them (unless they
        /// hold groups) with prost's content.
        #[test]
        fn parser_agrees_with_prost_on_valid_encodings(
            req in request_strategy(),
            seed in any::<u64>(),
            pad in 0usize..3,
            groups in any::<bool>(),
        ) {
            let mut s = Scrambler { rng: StdRng::seed_from_u64(seed), groups };
            let mut bytes = Vec::new();
            put(&s.request(&req), pad, &mut bytes);
            let by_prost = pb::WriteRequest::decode(bytes.as_slice()).expect("prost accepts a valid encoding");
            prop_assert_eq!(content(by_prost.clone()), content(req.clone()), "the scrambled encoding keeps the content");
            let mut view = WriteView::new();
            match parse(&mut view, &bytes) {
                Some(got) => {
                    prop_assert_eq!(got, content(by_prost.clone()));
                    prop_assert_eq!(view.series().len(), by_prost.timeseries.len());
                }
                None => prop_assert!(groups, "declined without groups: {:?}", bytes),
            }
        }

        /// Corrupted encodings: whatever the parser accepts, prost accepts
        /// with the same content, and `decode` answers exactly as prost.
        #[test]
        fn parser_accepts_nothing_prost_refuses(
            req in request_strategy(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
        ) {
            let mut bytes = req.encode_to_vec();
            for (at, byte, kind) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = byte,
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, byte),
                }
            }
            let by_prost = pb::WriteRequest::decode(bytes.as_slice());
            let mut view = WriteView::new();
            if let Some(got) = parse(&mut view, &bytes) {
                let want = by_prost.clone().expect("prost accepts what the parser accepts");
                prop_assert_eq!(got, content(want));
            }
            let body = snap::raw::Encoder::new().compress_vec(&bytes).expect("snappy");
            match (decode(&body, &IngestLimits::default(), &mut view), by_prost) {
                (Ok(()), Ok(want)) => prop_assert_eq!(content(view.to_message()), content(want)),
                (Err(got), Err(want)) => {
                    prop_assert_eq!(got.to_string(), format!("invalid protobuf WriteRequest in request body: {want}"))
                }
                (got, want) => prop_assert!(false, "decode {:?}, prost {:?}", got.map(drop), want.map(drop)),
            }
        }
    }

    #[test]
    fn metadata_and_histograms_are_decoded_by_prost() {
        let req = pb::WriteRequest {
            timeseries: vec![pb::TimeSeries {
                labels: vec![pb::Label { name: "__name__".into(), value: "h".into() }],
                samples: vec![pb::Sample { value: 1.0, timestamp: 2 }],
                histograms: vec![pb::Histogram { timestamp: 2, sum: 3.0, ..Default::default() }; 2],
                ..Default::default()
            }],
            metadata: vec![pb::MetricMetadata {
                r#type: 1,
                metric_family_name: "m".into(),
                help: "help".into(),
                unit: "s".into(),
            }],
        };
        let mut view = WriteView::new();
        assert_eq!(parse(&mut view, &req.encode_to_vec()), None, "the parser declines");
        let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy");
        decode(&body, &IngestLimits::default(), &mut view).expect("prost decodes");
        assert_eq!(content(view.to_message()), content(req.clone()));
        let series = view.series().next().expect("one series");
        assert_eq!((series.histograms(), series.samples().len()), (2, 1));
        assert_eq!(view.metadata(), req.metadata.as_slice());
    }

    #[test]
    fn a_reused_view_holds_only_the_latest_request() {
        let series = |name: &str, n: usize| pb::TimeSeries {
            labels: vec![pb::Label { name: "__name__".into(), value: name.into() }],
            samples: (0..n).map(|i| pb::Sample { value: i as f64, timestamp: i as i64 }).collect(),
            ..Default::default()
        };
        let large = pb::WriteRequest {
            timeseries: (0..50).map(|i| series(&format!("m{i}"), 3)).collect(),
            ..Default::default()
        };
        let small = pb::WriteRequest { timeseries: vec![series("x", 1)], ..Default::default() };
        let mut view = WriteView::new();
        assert!(parse(&mut view, &large.encode_to_vec()).is_some());
        let capacity = view.buffer_capacity();
        assert_eq!(parse(&mut view, &small.encode_to_vec()), Some(content(small)));
        assert_eq!(view.buffer_capacity(), capacity, "the buffer is kept");
        let labels: Vec<_> = view.series().flat_map(|s| s.labels().iter().collect::<Vec<_>>()).collect();
        assert_eq!(labels, [("__name__", "x")]);
    }
}
