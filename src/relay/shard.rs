//! An accepted write made into queue records: one record of the request
//! as sent, or one record per forwarding shard.
//!
//! - [`ShardedWrite::whole_record`]: a write the relay changes nothing
//!   about is queued as its request body exactly as the writer sent it (a
//!   snappy block), in the forwarder's whole lane ([`queue::Lane::Whole`]):
//!   no re-encoding, no compression.
//! - Otherwise each shard's part is built as an encoded
//!   `prometheus.WriteRequest`: its `timeseries` fields back to back
//!   (protobuf concatenation is how repeated fields are appended), each
//!   series the relay kept or rewrote (HA, relabeling, external labels, the
//!   series limit) encoded with prost ([`ShardedWrite::push_owned`]), then
//!   compressed once into a record ([`queue::encode_record`]).
//!
//! Invariant: a series goes to the shard its labels (without empty values,
//! which mean "absent") hash to, with fixed seeds, across requests and
//! restarts; so each series has one sender per lane and its samples reach
//! the store in order (the forwarder keeps the whole lane and the shards of
//! one tenant from overtaking each other). The hash is the one of the
//! labels as [`Labels`] (its derived `Hash`), which earlier versions of the
//! relay sharded by, so queues written by them keep their series' shards.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hash, Hasher};

use rampart_storage::{Labels, Metadata};

use super::queue;
use super::series::AcceptedSeries;
use crate::ingest::{SeriesView, RETAINED_BUFFER_BYTES};
use crate::proto::prometheus as pb;

/// Hash of a series' labels that picks its forwarding shard; fixed seeds,
/// so a series keeps its shard across restarts (and its samples their order).
static SHARD_HASH: ahash::RandomState = ahash::RandomState::with_seeds(0x5241, 0x4d50, 0x4152, 0x5421);

/// Field number of `WriteRequest.timeseries`.
const TIMESERIES_FIELD: u32 = 1;
/// Field number of `WriteRequest.metadata`.
const METADATA_FIELD: u32 = 3;

/// The shard of a series with these labels, out of `shards` (at least 1).
/// Labels with empty values are skipped, as validation drops them.
pub fn shard_of<'a>(labels: impl Iterator<Item = (&'a str, &'a str)> + Clone, shards: usize) -> usize {
    (series_hash(labels) % shards.max(1) as u64) as usize
}

/// Hash of a series' labels that makes its key in whole-lane records;
/// fixed seeds, so keys written before a restart meet keys written after.
static SERIES_KEY_HASH: ahash::RandomState = ahash::RandomState::with_seeds(0x5345, 0x5249, 0x4553, 0x4b45);

/// The key of a series in a whole-lane record: a 32-bit hash of its labels
/// without empty values. Equal for equal series (validated labels are
/// sorted); two series that share a key are merely kept in order with each
/// other by the forwarder.
pub fn series_key<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> u32 {
    let mut h = SERIES_KEY_HASH.build_hasher();
    for (name, value) in labels.filter(|(_, value)| !value.is_empty()) {
        // 0xff never occurs in UTF-8: it ends each name and value.
        h.write(name.as_bytes());
        h.write_u8(0xff);
        h.write(value.as_bytes());
        h.write_u8(0xff);
    }
    h.finish() as u32
}

fn series_hash<'a>(labels: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> u64 {
    let kept = labels.filter(|(_, value)| !value.is_empty());
    // What `Labels`' derived `Hash` feeds the hasher: the `Vec`'s length,
    // then each label's name and value.
    let mut h = SHARD_HASH.build_hasher();
    h.write_usize(kept.clone().count());
    for (name, value) in kept {
        name.hash(&mut h);
        value.hash(&mut h);
    }
    h.finish()
}

/// One write's series and metadata, split by shard, and its queue records;
/// reusable across requests ([`with_sharded_write`]).
pub struct ShardedWrite {
    /// Per shard: an encoded `WriteRequest`.
    bodies: Vec<Vec<u8>>,
    /// Per shard: the samples in `bodies`.
    samples: Vec<u64>,
    /// Per shard: its queue record, once [`ShardedWrite::records`] made it.
    records: Vec<Vec<u8>>,
    /// The series keys of a write passed on whole.
    series_keys: Vec<u32>,
    encoder: snap::raw::Encoder,
}

thread_local! {
    static SHARDED: RefCell<ShardedWrite> = RefCell::default();
}

/// Runs `f` with this thread's [`ShardedWrite`], emptied and set to
/// `shards` shards. Not reentrant.
pub fn with_sharded_write<T>(shards: u8, f: impl FnOnce(&mut ShardedWrite) -> T) -> T {
    SHARDED.with_borrow_mut(|write| {
        write.reset(usize::from(shards.max(1)));
        let out = f(write);
        if write.bodies.iter().chain(&write.records).map(Vec::capacity).sum::<usize>() > RETAINED_BUFFER_BYTES {
            *write = ShardedWrite::default();
        }
        out
    })
}

impl Default for ShardedWrite {
    fn default() -> Self {
        Self {
            bodies: Vec::new(),
            samples: Vec::new(),
            records: Vec::new(),
            series_keys: Vec::new(),
            encoder: snap::raw::Encoder::new(),
        }
    }
}

impl ShardedWrite {
    /// Empties every shard and sets their number.
    pub fn reset(&mut self, shards: usize) {
        self.bodies.resize_with(shards, Vec::new);
        self.samples.resize(shards, 0);
        self.bodies.iter_mut().for_each(Vec::clear);
        self.samples.iter_mut().for_each(|n| *n = 0);
    }

    /// Adds a series the relay built or rewrote.
    pub fn push_owned(&mut self, series: AcceptedSeries) {
        let shard = shard_of(series.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())), self.bodies.len());
        self.samples[shard] += series.samples.len() as u64;
        prost::encoding::message::encode(TIMESERIES_FIELD, &to_proto(series), &mut self.bodies[shard]);
    }

    /// Adds the request's metric metadata (to the first shard).
    pub fn push_metadata(&mut self, metadata: &[Metadata]) {
        for m in metadata {
            prost::encoding::message::encode(METADATA_FIELD, &metadata_to_proto(m), &mut self.bodies[0]);
        }
    }

    /// Samples added so far.
    pub fn samples(&self) -> u64 {
        self.samples.iter().sum()
    }

    /// The queue record of `tenant`'s write passed on whole: `body`, the
    /// request exactly as its writer sent it, holding `samples` samples of
    /// these `series` (those with samples or exemplars).
    pub fn whole_record<'a>(
        &mut self,
        tenant: &str,
        samples: u64,
        series: impl Iterator<Item = SeriesView<'a>>,
        body: &[u8],
    ) -> Vec<&[u8]> {
        self.series_keys.clear();
        self.series_keys.extend(series.map(|s| series_key(s.labels().iter())));
        self.records.resize_with(1.max(self.records.len()), Vec::new);
        let samples = u32::try_from(samples).unwrap_or(u32::MAX);
        queue::encode_whole_record(tenant, samples, &self.series_keys, body, &mut self.records[0]);
        vec![self.records[0].as_slice()]
    }

    /// The queue records of `tenant`'s write: one per shard that holds
    /// anything.
    pub fn records(&mut self, tenant: &str) -> Vec<&[u8]> {
        self.records.resize_with(self.bodies.len(), Vec::new);
        let shards = self.bodies.iter().zip(&self.samples).zip(&mut self.records).enumerate();
        let mut out = Vec::with_capacity(self.bodies.len());
        for (shard, ((body, &samples), record)) in shards.filter(|(_, ((body, _), _))| !body.is_empty()) {
            let shard = u8::try_from(shard).unwrap_or(u8::MAX);
            let samples = u32::try_from(samples).unwrap_or(u32::MAX);
            queue::encode_record(shard, tenant, samples, body, &mut self.encoder, record);
            out.push(record.as_slice());
        }
        out
    }
}

fn to_proto(s: AcceptedSeries) -> pb::TimeSeries {
    let labels = |l: Labels| l.into_vec().into_iter().map(|l| pb::Label { name: l.name, value: l.value }).collect();
    pb::TimeSeries {
        labels: labels(s.labels),
        samples: s.samples.iter().map(|x| pb::Sample { value: x.v, timestamp: x.t }).collect(),
        exemplars: s
            .exemplars
            .into_iter()
            .map(|e| pb::Exemplar { labels: labels(e.labels), value: e.v, timestamp: e.t })
            .collect(),
        histograms: Vec::new(),
    }
}

fn metadata_to_proto(m: &Metadata) -> pb::MetricMetadata {
    use pb::metric_metadata::MetricType;
    let kind = match m.kind.as_str() {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::Gaugehistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::Stateset,
        _ => MetricType::Unknown,
    };
    pb::MetricMetadata {
        r#type: kind as i32,
        metric_family_name: m.metric_family.clone(),
        help: m.help.clone(),
        unit: m.unit.clone(),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use rampart_storage::Sample;

    use super::*;
    use crate::ingest::{decode, IngestLimits, WriteView};
    use crate::relay::queue::{Lane, Record};

    fn series(name: &str, extra: (&str, &str)) -> pb::TimeSeries {
        pb::TimeSeries {
            labels: vec![
                pb::Label { name: "__name__".into(), value: name.into() },
                pb::Label { name: extra.0.into(), value: extra.1.into() },
            ],
            samples: vec![pb::Sample { value: 1.5, timestamp: 10 }, pb::Sample { value: f64::NAN, timestamp: 20 }],
            ..Default::default()
        }
    }

    /// The requests each shard's record holds, by shard.
    fn decoded_records(write: &mut ShardedWrite) -> Vec<(u8, u32, pb::WriteRequest)> {
        write
            .records("team-a")
            .iter()
            .map(|payload| {
                let r = Record::decode(payload.to_vec().into()).expect("a record");
                assert_eq!(r.tenant, "team-a");
                let Lane::Shard(shard) = r.lane else { panic!("a shard's record in the whole lane") };
                let raw = snap::raw::Decoder::new().decompress_vec(&r.body).expect("snappy");
                (shard, r.samples, pb::WriteRequest::decode(raw.as_slice()).expect("protobuf"))
            })
            .collect()
    }

    #[test]
    fn series_keep_the_shard_their_labels_had_in_earlier_versions() {
        for i in 0..200 {
            let labels = Labels::from_pairs([("__name__", format!("m{i}")), ("job", "node".into())]);
            let pairs = labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
            assert_eq!(shard_of(pairs, 7) as u64, SHARD_HASH.hash_one(&labels) % 7, "{labels}");
        }
        let with_empty = [("__name__", "up"), ("empty", ""), ("job", "a")];
        let without = [("__name__", "up"), ("job", "a")];
        for shards in 1..20 {
            assert_eq!(shard_of(with_empty.into_iter(), shards), shard_of(without.into_iter(), shards));
        }
    }

    #[test]
    fn rebuilt_series_go_to_the_shard_their_labels_hash_to_with_their_content() {
        let req = pb::WriteRequest {
            timeseries: (0..40).map(|i| series(&format!("m{i}"), ("job", "node"))).collect(),
            ..Default::default()
        };
        let mut write = ShardedWrite::default();
        write.reset(4);
        for s in &req.timeseries {
            write.push_owned(AcceptedSeries {
                labels: Labels::from_pairs(s.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))),
                samples: s.samples.iter().map(|x| Sample::new(x.timestamp, x.value)).collect(),
                exemplars: Vec::new(),
            });
        }
        assert_eq!(write.samples(), 80);
        let records = decoded_records(&mut write);
        assert!(records.len() > 1, "40 series spread over several shards");
        let mut got = Vec::new();
        for (shard, samples, r) in records {
            assert_eq!(samples as usize, 2 * r.timeseries.len(), "a record counts its samples");
            for s in r.timeseries {
                let labels = s.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
                assert_eq!(shard_of(labels, 4), usize::from(shard), "{:?}", s.labels);
                got.push(s.encode_to_vec());
            }
        }
        let mut want: Vec<Vec<u8>> = req.timeseries.iter().map(|s| s.encode_to_vec()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "every series once, NaN bits included");
    }

    #[test]
    fn a_write_passed_on_whole_is_one_record_of_its_body_as_sent() {
        let with_empty = pb::TimeSeries {
            labels: vec![
                pb::Label { name: "__name__".into(), value: "up".into() },
                pb::Label { name: "empty".into(), value: String::new() },
                pb::Label { name: "job".into(), value: "node".into() },
            ],
            ..series("up", ("job", "node"))
        };
        let req = pb::WriteRequest { timeseries: vec![series("m", ("job", "node")), with_empty], ..Default::default() };
        let sent = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy");
        let mut view = WriteView::new();
        decode(&sent, &IngestLimits::default(), &mut view).expect("decodes");
        let mut write = ShardedWrite::default();
        write.reset(4);
        let records: Vec<Vec<u8>> =
            write.whole_record("team-a", 4, view.series(), &sent).iter().map(|r| r.to_vec()).collect();
        let [record] = records.as_slice() else { panic!("one record, got {}", records.len()) };
        let record = Record::decode(record.clone().into()).expect("a record");
        assert_eq!((record.lane, record.tenant.as_str(), record.samples), (Lane::Whole, "team-a", 4));
        assert_eq!(record.body, sent, "the body as sent, not re-encoded");
        let rebuilt = |name: &str| Labels::from_pairs([("__name__", name), ("job", "node")]);
        let key = |labels: &Labels| series_key(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
        assert_eq!(record.series, [key(&rebuilt("m")), key(&rebuilt("up"))], "keyed as the labels the store keeps");
    }

    #[test]
    fn metadata_rides_with_the_first_shard_and_emptied_writes_make_no_records() {
        let mut write = ShardedWrite::default();
        write.reset(3);
        assert!(write.records("team-a").is_empty(), "nothing to queue");
        let metadata = Metadata {
            metric_family: "http_requests_total".into(),
            kind: "counter".into(),
            help: "Requests.".into(),
            unit: String::new(),
        };
        write.push_metadata(std::slice::from_ref(&metadata));
        let records = decoded_records(&mut write);
        assert_eq!(records.len(), 1);
        let (shard, samples, req) = &records[0];
        assert_eq!((*shard, *samples), (0, 0));
        assert_eq!(req.metadata, vec![metadata_to_proto(&metadata)]);
        assert_eq!(req.metadata[0].r#type, pb::metric_metadata::MetricType::Counter as i32);
        write.reset(3);
        assert!(write.records("team-a").is_empty(), "reset empties every shard");
    }
}
