//! Reads: label matchers → postings → series → samples, over the head and
//! RocksDB as one, always within one tenant and a time range.
//!
//! Series are found in the in-memory label index (`crate::index`): matchers
//! that reject the empty value intersect their postings, matchers that
//! accept it subtract the postings of the values they reject, and a regex
//! runs once per distinct value of its label, never per series. Labels come
//! from the index too; RocksDB is read only for chunk data (and exemplars).
//!
//! "Holds data in the range" (`series`, `label_names`, `label_values`; for
//! `select` the samples themselves decide) means, exactly as before the
//! index existed: a head chunk or loose head sample, or a persisted chunk,
//! overlaps `[mint, maxt]`; when a tombstone overlaps the range, a sample
//! outside the deleted ranges must remain. That is chunk granularity, finer
//! than Prometheus, which answers label names and values per block. It is
//! decided without chunk reads from the head's chunk bounds and the chunk
//! spans (`crate::index::spans`); chunks are read only for a series with a
//! tombstone in the range, or whose span in a partition strictly contains
//! a range no longer than the widest gap between its chunks there (the
//! range may fall in that gap). Regular scrapes leave gaps of one scrape
//! interval, so dashboards' ranges are decided without chunk reads.
//! `select` reads a series' chunks only in the partitions where its span
//! overlaps the range, through one RocksDB iterator per partition for all
//! its series (`crate::persist::ChunkReader`), walking them in id order,
//! the order of the chunk keys. It orders its answer by labels comparing
//! the index's interned label strings (equal strings are mostly the same
//! string), not the label sets copied out for the answer.
//!
//! The index locks are held while the head is consulted and released
//! before chunks are read for `select`; holding the spans lock across the
//! head check means a chunk flushed meanwhile is found in one or the other.
//!
//! A series' data may come from several places (RocksDB chunks, head chunks,
//! out-of-order samples), and a chunk being flushed may briefly be seen in
//! both head and RocksDB; [`SeriesSamples`] merges by time and drops repeated
//! timestamps, so readers always see each sample once. Samples in a range
//! deleted by a delete-series request (a tombstone) are never returned, and
//! a series whose samples in the range are all deleted is not selected.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Range;

use crate::chunkenc::{self, Encoding};
use crate::db::{dir_size, Db};
use crate::error::Result;
use crate::head::series::HeadChunk;
use crate::index::{PartitionRead, Presence, SpanTable};
use crate::labels::{Label, Labels};
use crate::matcher::Matcher;
use crate::model::{Exemplar, Metadata, Sample};
use crate::persist::{keys, ChunkReader, PartitionState, StoredChunk};
use crate::tombstone::Deleted;

/// Read access to one tenant's data within `[mint, maxt]` (milliseconds,
/// inclusive).
pub struct Querier<'a> {
    db: &'a Db,
    /// `None` when the tenant has never written: every answer is empty.
    tenant: Option<u32>,
    mint: i64,
    maxt: i64,
}

/// The samples of one series in the queried range.
#[derive(Clone, Debug)]
pub struct SeriesSamples {
    /// The series' labels.
    pub labels: Labels,
    /// Encoded chunks, sorted by min time.
    chunks: Vec<StoredChunk>,
    /// Out-of-order samples held by the head.
    loose: Vec<Sample>,
    /// Deleted ranges of the series.
    deleted: Deleted,
    mint: i64,
    maxt: i64,
}

impl SeriesSamples {
    /// The samples in time order, each timestamp once.
    pub fn samples(&self) -> Result<Vec<Sample>> {
        let (mint, maxt) = (self.mint, self.maxt);
        let disjoint = self.loose.is_empty() && self.chunks.windows(2).all(|w| w[0].max_t < w[1].min_t);
        let mut out = Vec::with_capacity(self.expected_samples());
        for chunk in &self.chunks {
            for s in chunkenc::XorIter::new(&chunk.bytes)? {
                let s = s?;
                if s.t > maxt {
                    break;
                }
                if s.t >= mint {
                    out.push(s);
                }
            }
        }
        if !disjoint {
            out.extend(self.loose.iter().filter(|s| s.t >= mint && s.t <= maxt));
            // Stable: for a repeated timestamp the first source wins, and all
            // sources hold the same value for it (first write wins).
            out.sort_by_key(|s| s.t);
            out.dedup_by_key(|s| s.t);
        }
        if self.deleted.overlaps(mint, maxt) {
            out.retain(|s| !self.deleted.covers(s.t));
        }
        Ok(out)
    }

    /// About how many samples [`Self::samples`] returns: each chunk's
    /// sample count scaled by the share of its time span inside the range,
    /// so that a short range over long chunks does not reserve whole chunks.
    fn expected_samples(&self) -> usize {
        let in_chunks: usize = self
            .chunks
            .iter()
            .map(|chunk| {
                let Ok(it) = chunkenc::XorIter::new(&chunk.bytes) else { return 0 };
                let span = (chunk.max_t - chunk.min_t) as f64 + 1.0;
                let inside = (chunk.max_t.min(self.maxt) - chunk.min_t.max(self.mint)) as f64 + 1.0;
                (it.num_samples() as f64 * (inside / span).clamp(0.0, 1.0)).ceil() as usize
            })
            .sum();
        in_chunks + self.loose.len()
    }

    /// True when the series has a sample in the range.
    fn has_samples(&self) -> Result<bool> {
        if self.chunks.is_empty() && self.loose.is_empty() {
            return Ok(false);
        }
        Ok(!self.deleted.overlaps(self.mint, self.maxt) || !self.samples()?.is_empty())
    }
}

/// Storage statistics of a data directory.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// One row per partition, oldest first.
    pub partitions: Vec<PartitionStats>,
    /// Series in memory.
    pub head_series: u64,
    /// Samples in memory not yet in RocksDB.
    pub head_samples: u64,
    /// Series in the index, all tenants.
    pub index_series: u64,
    /// Approximate heap bytes of the in-memory label index and chunk spans.
    pub index_memory_bytes: u64,
    /// Bytes of the WAL directory.
    pub wal_bytes: u64,
    /// Bytes of the whole data directory.
    pub total_bytes: u64,
}

/// Statistics of one partition.
#[derive(Clone, Debug, Default)]
pub struct PartitionStats {
    /// Start (inclusive), milliseconds.
    pub start: i64,
    /// End (exclusive), milliseconds.
    pub end: i64,
    /// Sealed (immutable).
    pub sealed: bool,
    /// Distinct series with chunks.
    pub series: u64,
    /// Chunks.
    pub chunks: u64,
    /// Samples.
    pub samples: u64,
    /// Bytes on disk (SST files and memtables).
    pub bytes: u64,
}

impl Db {
    /// A querier over `tenant`'s data in `[mint, maxt]`.
    pub fn querier(&self, tenant: &str, mint: i64, maxt: i64) -> Querier<'_> {
        Querier { db: self, tenant: self.persist.tenant_id(tenant), mint, maxt }
    }

    /// Statistics per partition plus head and WAL figures.
    pub fn stats(&self) -> Result<Stats> {
        let mut stats = Stats {
            head_series: self.head.len() as u64,
            wal_bytes: self.wal_bytes(),
            total_bytes: dir_size(&self.opts.data_dir),
            ..Stats::default()
        };
        for s in self.head.all() {
            stats.head_samples += s.state.lock().head_samples() as u64;
        }
        stats.index_series = self.persist.label_index().read().series_count() as u64;
        stats.index_memory_bytes =
            (self.persist.label_index().heap_bytes() + self.persist.chunk_spans().read().heap_bytes()) as u64;
        for p in self.persist.partitions() {
            let mut row = PartitionStats {
                start: p.start,
                end: p.end,
                sealed: matches!(p.state, PartitionState::Sealed { .. }),
                bytes: self.persist.partition_bytes(p.start),
                ..PartitionStats::default()
            };
            let mut last_series = None;
            if let Some(iter) = self.persist.partition_iter(p.start) {
                for item in iter {
                    let (k, v) = item.map_err(crate::error::Error::rocks("read partition"))?;
                    let (tenant, series, _) = keys::parse_chunk_key(&k)?;
                    let cv = keys::decode_chunk_value(&k, &v)?;
                    row.chunks += 1;
                    row.samples += chunkenc::XorIter::new(cv.chunk)?.num_samples() as u64;
                    if last_series != Some((tenant, series)) {
                        row.series += 1;
                        last_series = Some((tenant, series));
                    }
                }
            }
            stats.partitions.push(row);
        }
        Ok(stats)
    }
}

impl Querier<'_> {
    /// Series matching all `matchers` that hold samples in the range, sorted
    /// by labels.
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<SeriesSamples>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        let (mint, maxt) = (self.mint, self.maxt);
        // Under the index locks: labels, head data, the partitions to read,
        // and the label order of the series. Chunks are read after the locks
        // are released, in id order (the order of their keys).
        let (located, label_order) = {
            let index = self.db.persist.label_index().read();
            let Some(view) = index.tenant(tenant) else { return Ok(Vec::new()) };
            let spans = self.db.persist.chunk_spans().read();
            let mut located: Vec<(u64, Labels, HeadData, Vec<PartitionRead>)> = Vec::new();
            // Every located series' label pairs, borrowed from the index.
            let mut pairs: Vec<(&str, &str)> = Vec::new();
            let mut pair_ranges: Vec<Range<usize>> = Vec::new();
            for id in view.select(matchers) {
                let head = self.head_data(id);
                let partitions = spans.partitions_of(tenant, id, mint, maxt);
                if head.0.is_empty() && head.1.is_empty() && partitions.is_empty() {
                    continue;
                }
                let first_pair = pairs.len();
                pairs.extend(view.pairs(id));
                let own = &pairs[first_pair..];
                let labels = Labels::from_sorted(own.iter().map(|(name, value)| Label::new(*name, *value)).collect());
                pair_ranges.push(first_pair..pairs.len());
                located.push((id, labels, head, partitions));
            }
            let mut label_order: Vec<usize> = (0..located.len()).collect();
            // Label sets are unique, so an unstable sort orders them fully.
            label_order.sort_unstable_by(|&a, &b| {
                cmp_interned_labels(&pairs[pair_ranges[a].clone()], &pairs[pair_ranges[b].clone()])
            });
            (located, label_order)
        };
        let (Some(first), Some(last)) = (located.first(), located.last()) else { return Ok(Vec::new()) };
        let mut chunks = self.db.persist.chunk_reader(tenant, first.0..=last.0, mint, maxt);
        let mut selected = Vec::with_capacity(located.len());
        for (id, labels, head, partitions) in located {
            let s = self.series_samples(&mut chunks, id, labels, head, &partitions)?;
            selected.push(s.has_samples()?.then_some(s));
        }
        Ok(label_order.into_iter().filter_map(|i| selected[i].take()).collect())
    }

    /// Label sets of the series matching all `matchers` with samples in the
    /// range, sorted.
    pub fn series(&self, matchers: &[Matcher]) -> Result<Vec<Labels>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        let index = self.db.persist.label_index().read();
        let Some(view) = index.tenant(tenant) else { return Ok(Vec::new()) };
        let spans = self.db.persist.chunk_spans().read();
        let mut out = Vec::new();
        for id in view.select(matchers) {
            if self.has_data(&spans, tenant, id)? {
                out.push(view.labels(id));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Label names of the series matching `matchers` (all series when
    /// empty) with samples in the range, sorted.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        let index = self.db.persist.label_index().read();
        let Some(view) = index.tenant(tenant) else { return Ok(Vec::new()) };
        let spans = self.db.persist.chunk_spans().read();
        if !matchers.is_empty() {
            let mut names = BTreeSet::new();
            for id in view.select(matchers) {
                if self.has_data(&spans, tenant, id)? {
                    names.extend(view.pairs(id).map(|(name, _)| name));
                }
            }
            return Ok(names.into_iter().map(str::to_owned).collect());
        }
        let mut out = Vec::new();
        for (name, values) in view.names() {
            for ids in values.values() {
                if self.any_with_data(&spans, tenant, ids)? {
                    out.push(name.to_owned());
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Values of label `name` among series matching `matchers` (all series
    /// when empty) with samples in the range, sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        let index = self.db.persist.label_index().read();
        let Some(view) = index.tenant(tenant) else { return Ok(Vec::new()) };
        let spans = self.db.persist.chunk_spans().read();
        if !matchers.is_empty() {
            let mut values = BTreeSet::new();
            for id in view.select(matchers) {
                if self.has_data(&spans, tenant, id)? {
                    values.extend(view.pairs(id).filter(|(n, _)| *n == name).map(|(_, value)| value));
                }
            }
            return Ok(values.into_iter().map(str::to_owned).collect());
        }
        let mut out = Vec::new();
        for (value, ids) in view.values(name).into_iter().flatten() {
            if self.any_with_data(&spans, tenant, ids)? {
                out.push(value.to_string());
            }
        }
        Ok(out)
    }

    /// An upper bound on the number of series [`Self::select`] returns for
    /// matchers that include `name="value"` for each `(name, value)` of
    /// `equal` (other matchers can only narrow the answer): the shortest
    /// postings list among them, or all the tenant's series when `equal` is
    /// empty. Index lookups only, without building an id list; values must
    /// be non-empty, since `name=""` also matches series without `name`.
    pub fn series_bound(&self, equal: &[(&str, &str)]) -> usize {
        let Some(tenant) = self.tenant else { return 0 };
        let index = self.db.persist.label_index().read();
        let Some(view) = index.tenant(tenant) else { return 0 };
        equal
            .iter()
            .map(|(name, value)| view.values(name).and_then(|values| values.get(*value)).map_or(0, Vec::len))
            .min()
            .unwrap_or_else(|| view.series_count())
    }

    /// Metadata of the tenant, optionally of one metric family.
    pub fn metadata(&self, metric: Option<&str>) -> Result<Vec<Metadata>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        self.db.persist.metadata(tenant, metric)
    }

    /// Exemplars in the range of the series matching `matchers`.
    pub fn exemplars(&self, matchers: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        let matching: Vec<(u64, Labels)> = {
            let index = self.db.persist.label_index().read();
            let Some(view) = index.tenant(tenant) else { return Ok(Vec::new()) };
            view.select(matchers).into_iter().map(|id| (id, view.labels(id))).collect()
        };
        let mut out = Vec::new();
        for (id, labels) in matching {
            let ex = self.db.persist.exemplars(tenant, id, self.mint, self.maxt)?;
            if !ex.is_empty() {
                out.push((labels, ex));
            }
        }
        Ok(out)
    }

    /// Sorted ids of the series of `tenant` matching all `matchers`, whether
    /// or not they hold samples in the range.
    pub(crate) fn matching_series(&self, tenant: u32, matchers: &[Matcher]) -> Vec<u64> {
        let index = self.db.persist.label_index().read();
        index.tenant(tenant).map(|view| view.select(matchers)).unwrap_or_default()
    }

    /// The head's chunks and out-of-order samples of a series in the range.
    fn head_data(&self, id: u64) -> HeadData {
        match self.db.head.get_by_id(id) {
            Some(s) => s.state.lock().read(self.mint, self.maxt),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// A series' data in the range: `head` (read before `reader` opens a
    /// partition: a chunk flushed meanwhile is then seen twice, and merged,
    /// never missed) and its persisted chunks read as `partitions` say.
    fn series_samples(
        &self,
        reader: &mut ChunkReader<'_>,
        id: u64,
        labels: Labels,
        (head_chunks, loose): HeadData,
        partitions: &[PartitionRead],
    ) -> Result<SeriesSamples> {
        let mut chunks = Vec::with_capacity(head_chunks.len() + 1);
        reader.read(id, partitions, &mut chunks)?;
        chunks.extend(head_chunks.into_iter().map(|c| StoredChunk {
            min_t: c.min_t,
            max_t: c.max_t,
            encoding: Encoding::Xor as u8,
            bytes: c.bytes,
        }));
        chunks.sort_by_key(|c| c.min_t);
        let (mint, maxt) = (self.mint, self.maxt);
        Ok(SeriesSamples { labels, chunks, loose, deleted: self.db.persist.deleted(id), mint, maxt })
    }

    /// True when a series holds data in the range: a head or persisted chunk
    /// overlaps it, or with a tombstone overlapping it, a sample outside the
    /// deleted ranges remains. Chunks are read only for a tombstone or when
    /// the range may fall in a gap between the series' chunks
    /// ([`Presence::Unsure`]).
    fn has_data(&self, spans: &SpanTable, tenant: u32, id: u64) -> Result<bool> {
        self.has_data_read_by(
            &mut self.db.persist.chunk_reader(tenant, id..=id, self.mint, self.maxt),
            spans,
            tenant,
            id,
        )
    }

    /// [`Self::has_data`], reading any chunks through `reader`.
    fn has_data_read_by(&self, reader: &mut ChunkReader<'_>, spans: &SpanTable, tenant: u32, id: u64) -> Result<bool> {
        let (mint, maxt) = (self.mint, self.maxt);
        if self.db.persist.deleted(id).overlaps(mint, maxt) {
            let partitions = spans.partitions_of(tenant, id, mint, maxt);
            return self.series_samples(reader, id, Labels::default(), self.head_data(id), &partitions)?.has_samples();
        }
        if self.db.head.get_by_id(id).is_some_and(|s| s.state.lock().overlaps(mint, maxt)) {
            return Ok(true);
        }
        match spans.presence(tenant, id, mint, maxt) {
            Presence::Present => Ok(true),
            Presence::Absent => Ok(false),
            Presence::Unsure(reads) => {
                let mut chunks = Vec::new();
                reader.read(id, &reads, &mut chunks)?;
                Ok(!chunks.is_empty())
            }
        }
    }

    /// True when one of `ids` (ascending) holds data in the range.
    fn any_with_data(&self, spans: &SpanTable, tenant: u32, ids: &[u64]) -> Result<bool> {
        let (Some(first), Some(last)) = (ids.first(), ids.last()) else { return Ok(false) };
        let mut reader = self.db.persist.chunk_reader(tenant, *first..=*last, self.mint, self.maxt);
        for id in ids {
            if self.has_data_read_by(&mut reader, spans, tenant, *id)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// A series' chunks and out-of-order samples in the head.
type HeadData = (Vec<HeadChunk>, Vec<Sample>);

/// Orders two series' label pairs as [`Labels`] orders them. The index
/// interns label strings, so equal names and values are mostly the same
/// string and need no byte comparison.
fn cmp_interned_labels(a: &[(&str, &str)], b: &[(&str, &str)]) -> Ordering {
    let cmp = |x: &str, y: &str| if std::ptr::eq(x, y) { Ordering::Equal } else { x.cmp(y) };
    a.iter()
        .zip(b)
        .map(|((a_name, a_value), (b_name, b_value))| cmp(a_name, b_name).then_with(|| cmp(a_value, b_value)))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_label_order_is_the_order_of_labels() {
        let sets = [
            vec![("__name__", "up"), ("job", "a")],
            vec![("__name__", "up"), ("job", "a"), ("zone", "eu")],
            vec![("__name__", "up"), ("job", "b")],
            vec![("__name__", "up"), ("jobs", "a")],
            vec![("__name__", "upper"), ("job", "a")],
            vec![("__name__", "up")],
            vec![],
        ];
        // Copies of the same strings at other addresses, as if not interned.
        let copies: Vec<Vec<(String, String)>> =
            sets.iter().map(|s| s.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()).collect();
        for (a, a_copy) in sets.iter().zip(&copies) {
            for (b, b_copy) in sets.iter().zip(&copies) {
                let want = Labels::from_pairs(a.iter().copied()).cmp(&Labels::from_pairs(b.iter().copied()));
                let b_copy: Vec<(&str, &str)> = b_copy.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let a_copy: Vec<(&str, &str)> = a_copy.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                assert_eq!(cmp_interned_labels(a, b), want, "{a:?} vs {b:?}");
                assert_eq!(cmp_interned_labels(&a_copy, &b_copy), want, "{a:?} vs {b:?} (copies)");
                assert_eq!(cmp_interned_labels(a, &b_copy), want, "{a:?} vs {b:?} (one copied)");
            }
        }
    }
}
