//! Reads: label matchers → postings → series → samples, over the head and
//! RocksDB as one, always within one tenant and a time range.
//!
//! Selection intersects the postings of every matcher that cannot match an
//! empty value (those are answered by the index), then checks all matchers
//! against each candidate's labels, so negative and empty-matching matchers
//! are exact. A series is returned only if it holds samples in the range.
//!
//! A series' data may come from several places (RocksDB chunks, head chunks,
//! out-of-order samples), and a chunk being flushed may briefly be seen in
//! both head and RocksDB; [`SeriesSamples`] merges by time and drops repeated
//! timestamps, so readers always see each sample once. Samples in a range
//! deleted by a delete-series request (a tombstone) are never returned, and
//! a series whose samples in the range are all deleted is not selected.

use std::sync::Arc;

use crate::chunkenc;
use crate::db::{dir_size, Db};
use crate::error::Result;
use crate::labels::Labels;
use crate::matcher::{MatchKind, Matcher};
use crate::model::{Exemplar, Metadata, Sample};
use crate::persist::{keys, PartitionState};
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
    chunks: Vec<(i64, i64, Arc<[u8]>)>,
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
        let disjoint = self.loose.is_empty() && self.chunks.windows(2).all(|w| w[0].1 < w[1].0);
        let mut out = Vec::with_capacity(self.expected_samples());
        for (_, _, bytes) in &self.chunks {
            for s in chunkenc::XorIter::new(bytes)? {
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
            .map(|(cmint, cmaxt, bytes)| {
                let Ok(it) = chunkenc::XorIter::new(bytes) else { return 0 };
                let span = (cmaxt - cmint) as f64 + 1.0;
                let inside = (cmaxt.min(&self.maxt) - cmint.max(&self.mint)) as f64 + 1.0;
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
        stats.index_series = self
            .persist
            .tenants()
            .values()
            .map(|t| self.persist.all_series(*t).map(|v| v.len() as u64))
            .sum::<Result<u64>>()?;
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
        let mut out = Vec::new();
        for (id, labels) in self.matching_series(tenant, matchers)? {
            let s = self.series_data(tenant, id, labels)?;
            if s.has_samples()? {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Label sets of the series matching all `matchers` with samples in the
    /// range, sorted.
    pub fn series(&self, matchers: &[Matcher]) -> Result<Vec<Labels>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (id, labels) in self.matching_series(tenant, matchers)? {
            if self.has_data(tenant, id)? {
                out.push(labels);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Label names of the series matching `matchers` (all series when
    /// empty) with samples in the range, sorted.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        if !matchers.is_empty() {
            let mut names: Vec<String> =
                self.series(matchers)?.iter().flat_map(|l| l.iter().map(|l| l.name.clone())).collect();
            names.sort();
            names.dedup();
            return Ok(names);
        }
        let mut out = Vec::new();
        for name in self.db.persist.label_names(tenant)? {
            if self.any_with_data(tenant, &self.db.persist.postings(tenant, &name, |_| true)?)? {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Values of label `name` among series matching `matchers` (all series
    /// when empty) with samples in the range, sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        if !matchers.is_empty() {
            let mut values: Vec<String> =
                self.series(matchers)?.iter().filter_map(|l| l.get(name).map(str::to_owned)).collect();
            values.sort();
            values.dedup();
            return Ok(values);
        }
        let mut candidates = Vec::new();
        self.db
            .persist
            .scan_label_values(tenant, name, |value, ids| candidates.push((value.to_owned(), ids.to_vec())))?;
        let mut out = Vec::new();
        for (value, ids) in candidates {
            if self.any_with_data(tenant, &ids)? {
                out.push(value);
            }
        }
        Ok(out)
    }

    /// Metadata of the tenant, optionally of one metric family.
    pub fn metadata(&self, metric: Option<&str>) -> Result<Vec<Metadata>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        self.db.persist.metadata(tenant, metric)
    }

    /// Exemplars in the range of the series matching `matchers`.
    pub fn exemplars(&self, matchers: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>> {
        let Some(tenant) = self.tenant else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (id, labels) in self.matching_series(tenant, matchers)? {
            let ex = self.db.persist.exemplars(tenant, id, self.mint, self.maxt)?;
            if !ex.is_empty() {
                out.push((labels, ex));
            }
        }
        Ok(out)
    }

    /// Ids and labels of the series of `tenant` matching all `matchers`,
    /// whether or not they hold samples in the range.
    pub(crate) fn matching_series(&self, tenant: u32, matchers: &[Matcher]) -> Result<Vec<(u64, Labels)>> {
        let persist = &self.db.persist;
        let mut candidates: Option<Vec<u64>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let ids = match m.kind {
                MatchKind::Equal => persist.postings_for_value(tenant, &m.name, &m.value)?,
                _ => persist.postings(tenant, &m.name, |v| m.matches(v))?,
            };
            candidates = Some(match candidates {
                None => ids,
                Some(prev) => intersect(&prev, &ids),
            });
            if candidates.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
        }
        let ids = match candidates {
            Some(ids) => ids,
            None => persist.all_series(tenant)?,
        };
        let labels = persist.series_labels(&ids)?;
        Ok(ids
            .into_iter()
            .zip(labels)
            .filter_map(|(id, l)| l.filter(|(t, _)| *t == tenant).map(|(_, l)| (id, l)))
            .filter(|(_, l)| matchers.iter().all(|m| m.matches_labels(l)))
            .collect())
    }

    fn series_data(&self, tenant: u32, id: u64, labels: Labels) -> Result<SeriesSamples> {
        let (mint, maxt) = (self.mint, self.maxt);
        // Head first, then RocksDB: a chunk flushed in between is seen twice
        // (and merged), never missed.
        let (head_chunks, loose) = match self.db.head.get_by_id(id) {
            Some(s) => s.state.lock().read(mint, maxt),
            None => (Vec::new(), Vec::new()),
        };
        let mut chunks: Vec<(i64, i64, Arc<[u8]>)> = self
            .db
            .persist
            .series_chunks(tenant, id, mint, maxt)?
            .into_iter()
            .map(|c| (c.min_t, c.max_t, c.bytes))
            .collect();
        chunks.extend(head_chunks.into_iter().map(|c| (c.min_t, c.max_t, c.bytes)));
        chunks.sort_by_key(|c| c.0);
        Ok(SeriesSamples { labels, chunks, loose, deleted: self.db.persist.deleted(id), mint, maxt })
    }

    fn has_data(&self, tenant: u32, id: u64) -> Result<bool> {
        if self.db.persist.deleted(id).overlaps(self.mint, self.maxt) {
            return self.series_data(tenant, id, Labels::default())?.has_samples();
        }
        if let Some(s) = self.db.head.get_by_id(id) {
            let (chunks, loose) = s.state.lock().read(self.mint, self.maxt);
            if !chunks.is_empty() || !loose.is_empty() {
                return Ok(true);
            }
        }
        Ok(!self.db.persist.series_chunks(tenant, id, self.mint, self.maxt)?.is_empty())
    }

    fn any_with_data(&self, tenant: u32, ids: &[u64]) -> Result<bool> {
        for id in ids {
            if self.has_data(tenant, *id)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Intersection of two sorted id lists.
fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}
