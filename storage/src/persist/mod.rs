//! Persisted state in RocksDB: the series index, postings, closed chunks in
//! time partitions, tenants, metadata and exemplars.
//!
//! Column families (layout in `storage/docs/format/rocksdb.md`):
//!
//! | family | key | value |
//! |---|---|---|
//! | `meta` | `format`, `tenant/<name>`, `checkpoint`, `partition/<start>`, `manifest_head`, `tombstone/<series><seq>` | see doc |
//! | `series` | series id | tenant, labels |
//! | `series_by_labels` | tenant, labels | series id |
//! | `postings` | tenant, name, value, series id | empty |
//! | `metadata` | tenant, metric family | type, help, unit |
//! | `exemplars` | tenant, series id, time | labels, value |
//! | `chunks_<start_ms>` | tenant, series id, min time | chunk value |
//!
//! One family per time partition means retention drops a partition's files
//! at once (`drop_cf`). Series ids are global (unique across tenants), and
//! every key that serves a query starts with the tenant id, so one tenant's
//! reads can never reach another's keys.
//!
//! Every change the manifest records (sealing, dropping, tenant removal,
//! tombstones, rewrites) is written here in one batch with the manifest head
//! it belongs to, so `meta/manifest_head` always names the last applied
//! manifest entry (see `crate::manifest`).
//!
//! Every write or delete of `series` or chunk keys goes through this module,
//! which keeps the in-memory label index and chunk spans (`crate::index`) in
//! step: both are built here at open and updated with each such change.
//!
//! Locks: `partitions` guards the in-memory partition table; `tenants`
//! serialises tenant creation. Neither is held during RocksDB reads of chunk
//! data.

pub mod keys;

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rocksdb::{
    BlockBasedOptions, BoundColumnFamily, ColumnFamilyDescriptor, DBCompressionType, DBRawIteratorWithThreadMode,
    DBWithThreadMode, IteratorMode, MultiThreaded, ReadOptions, WriteBatch, WriteOptions,
};

use crate::error::{Error, Result};
use crate::index::{ChunkSpans, LabelIndex, PartitionRead, Span};
use crate::labels::Labels;
use crate::manifest::ManifestHead;
use crate::tombstone::{Tombstone, Tombstones};

/// The RocksDB handle type used throughout the engine.
pub type Rocks = DBWithThreadMode<MultiThreaded>;

/// Format identifier stored under `meta/format`; see `docs/format/rocksdb.md`.
pub const FORMAT: &str = "rampart-storage/1";

const CF_META: &str = "meta";
const CF_SERIES: &str = "series";
const CF_SERIES_BY_LABELS: &str = "series_by_labels";
const CF_POSTINGS: &str = "postings";
const CF_METADATA: &str = "metadata";
const CF_EXEMPLARS: &str = "exemplars";
/// Prefix of the per-partition chunk families.
const CF_CHUNKS_PREFIX: &str = "chunks_";
const INDEX_FAMILIES: [&str; 6] = [CF_META, CF_SERIES, CF_SERIES_BY_LABELS, CF_POSTINGS, CF_METADATA, CF_EXEMPLARS];

const KEY_FORMAT: &[u8] = b"format";
const KEY_CHECKPOINT: &[u8] = b"checkpoint";
const KEY_TENANT_PREFIX: &[u8] = b"tenant/";
const KEY_PARTITION_PREFIX: &[u8] = b"partition/";
const KEY_MANIFEST_HEAD: &[u8] = b"manifest_head";
const KEY_TOMBSTONE_PREFIX: &[u8] = b"tombstone/";
/// First byte of a `partition/<start>` value: the partition's state.
const STATE_OPEN: u8 = 0;
const STATE_SEALED: u8 = 1;
const STATE_REWRITING: u8 = 2;

/// Size of RocksDB's own write-ahead log before it flushes memtables.
const MAX_ROCKSDB_LOG_BYTES: u64 = 64 << 20;
/// Bloom filter bits per key for point lookups in the index families.
const BLOOM_BITS_PER_KEY: f64 = 10.0;
/// Data block size of chunk families: large blocks compress better and chunk
/// reads are sequential per series.
const CHUNK_BLOCK_SIZE: usize = 64 << 10;

/// Lifecycle state of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionState {
    /// Still accepts chunks.
    Open,
    /// Being sealed by a compaction run: refuses samples already (in memory
    /// only; a crash returns it to `Open`).
    Sealing,
    /// Immutable; its content digest is recorded.
    Sealed {
        /// SHA-256 over the partition's keys and values in key order.
        digest: [u8; 32],
    },
    /// Sealed, and being rewritten by compaction to apply deletions or
    /// tenant retention; refuses samples. Persisted, so that a crash in the
    /// middle is finished at the next open.
    Rewriting,
}

impl PartitionState {
    /// True when the partition refuses new samples.
    pub fn is_immutable(&self) -> bool {
        !matches!(self, PartitionState::Open)
    }
}

/// What the engine knows about one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Inclusive start, milliseconds.
    pub start: i64,
    /// Exclusive end, milliseconds.
    pub end: i64,
    /// Open or sealed.
    pub state: PartitionState,
}

/// A chunk to write: its partition, identity and encoded value parts.
#[derive(Clone, Debug)]
pub struct ChunkWrite {
    /// Tenant id.
    pub tenant: u32,
    /// Series id.
    pub series: u64,
    /// First sample time.
    pub min_t: i64,
    /// Last sample time.
    pub max_t: i64,
    /// Encoding byte (see `chunkenc::Encoding`).
    pub encoding: u8,
    /// Encoded chunk.
    pub bytes: Arc<[u8]>,
}

/// A chunk read back from a partition.
#[derive(Clone, Debug)]
pub struct StoredChunk {
    /// First sample time.
    pub min_t: i64,
    /// Last sample time.
    pub max_t: i64,
    /// Encoding byte.
    pub encoding: u8,
    /// Encoded chunk.
    pub bytes: Arc<[u8]>,
}

/// Reads chunks of many series of one tenant for one read (a query): one
/// [`PartitionCursor`] per partition, opened on first use and reused for
/// every series read there. A chunk written after a partition's cursor
/// opened is not seen by it, so a reader is made after the head was read
/// and dropped at the end of the read.
pub(crate) struct ChunkReader<'a> {
    persist: &'a Persist,
    tenant: u32,
    series: RangeInclusive<u64>,
    mint: i64,
    maxt: i64,
    /// Cursors by partition start; `None` for a partition that is gone.
    cursors: BTreeMap<i64, Option<PartitionCursor<'a>>>,
}

impl ChunkReader<'_> {
    /// Appends the chunks of `series` in the partitions of `reads`
    /// (ascending), from each read's `from_t` on, to `out`, in partition
    /// and then min-time order. Reading series in ascending id order is
    /// fastest.
    pub(crate) fn read(&mut self, series: u64, reads: &[PartitionRead], out: &mut Vec<StoredChunk>) -> Result<()> {
        debug_assert!(self.series.contains(&series), "series {series} outside the reader's {:?}", self.series);
        let Self { persist, tenant, series: range, mint, maxt, cursors } = self;
        for read in reads {
            let cursor = cursors
                .entry(read.start)
                .or_insert_with(|| persist.partition_cursor(read.start, *tenant, range, *mint, *maxt));
            if let Some(cursor) = cursor {
                cursor.read(series, read.from_t, out)?;
            }
        }
        Ok(())
    }
}

/// One RocksDB iterator over a partition's chunks of a range of one
/// tenant's series.
///
/// Chunk keys are `tenant | series | min_t`, so a pass over series in
/// ascending id order only moves the iterator forward: a series whose
/// chunks follow closely after those of the series read before is reached
/// with `next`, without a seek, and every read reuses the data blocks the
/// iterator holds. Any other order works too, by seeking.
struct PartitionCursor<'a> {
    it: DBRawIteratorWithThreadMode<'a, Rocks>,
    tenant: u32,
    mint: i64,
    maxt: i64,
    /// The series read last: the iterator has passed over no key of a
    /// later series, so the next series' chunks lie ahead of it.
    last_read: Option<u64>,
}

impl PartitionCursor<'_> {
    /// Keys passed over with `next` before a read seeks instead: a few keys
    /// are cheaper to step over than a seek.
    const MAX_SKIPPED_KEYS: usize = 4;

    /// Appends the chunks of `series` that overlap the range to `out`, in
    /// min-time order, starting at its first chunk with a min time of at
    /// least `from_t` (the caller knows the ones before end before the
    /// range).
    fn read(&mut self, series: u64, from_t: i64, out: &mut Vec<StoredChunk>) -> Result<()> {
        self.position_at(series, from_t)?;
        self.last_read = Some(series);
        while let Some((k, v)) = self.it.item() {
            let (tenant, key_series, min_t) = keys::parse_chunk_key(k)?;
            if (tenant, key_series) != (self.tenant, series) || min_t > self.maxt {
                break;
            }
            // A chunk that ends before the range is passed over on its
            // header alone: a read of the last minutes of a partition
            // would otherwise checksum every earlier chunk of the
            // series. (RocksDB's block checksums still cover it.)
            if keys::chunk_value_max_t(v).is_none_or(|max_t| max_t >= self.mint) {
                let cv = keys::decode_chunk_value(k, v)?;
                if cv.max_t >= self.mint {
                    out.push(StoredChunk { min_t, max_t: cv.max_t, encoding: cv.encoding, bytes: cv.chunk.into() });
                }
            }
            self.it.next();
        }
        self.it.status().map_err(Error::rocks("read chunks"))
    }

    /// Moves the iterator to the first key at or after `series`' chunk
    /// starting at `from_t`: forward from the series read last when it is
    /// just behind, by a seek otherwise.
    fn position_at(&mut self, series: u64, from_t: i64) -> Result<()> {
        let target = keys::chunk_key(self.tenant, series, from_t);
        if self.last_read.is_some_and(|last| last < series) {
            for _ in 0..Self::MAX_SKIPPED_KEYS {
                match self.it.key() {
                    None => return Ok(()),
                    Some(k) if k >= target.as_slice() => return Ok(()),
                    Some(_) => self.it.next(),
                }
            }
            self.it.status().map_err(Error::rocks("read chunks"))?;
        }
        self.it.seek(target);
        Ok(())
    }
}

/// The RocksDB side of the engine.
pub struct Persist {
    db: Rocks,
    path: PathBuf,
    partition_ms: i64,
    read_only: bool,
    /// Partition table, keyed by start time.
    partitions: RwLock<BTreeMap<i64, Partition>>,
    /// Tenant name → id cache; creation is serialised by this lock.
    tenants: Mutex<HashMap<String, u32>>,
    /// Deleted ranges not yet removed by compaction.
    tombstones: Tombstones,
    /// The `series` family in memory, with postings.
    label_index: LabelIndex,
    /// Which series hold chunks in each partition, and when.
    chunk_spans: ChunkSpans,
}

impl Persist {
    /// Opens (or creates) the RocksDB instance at `path`.
    pub fn open(path: &Path, partition_ms: i64, read_only: bool) -> Result<Self> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(!read_only);
        opts.create_missing_column_families(!read_only);
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        // RocksDB's own log holds chunk batches too; cap it so that families
        // with old entries in it are flushed and the log recycled.
        opts.set_max_total_wal_size(MAX_ROCKSDB_LOG_BYTES);
        let existing = if path.join("CURRENT").exists() {
            Rocks::list_cf(&opts, path).map_err(Error::rocks("list column families"))?
        } else if read_only {
            return Err(Error::Io {
                op: "open",
                path: path.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        } else {
            Vec::new()
        };
        let mut names: Vec<String> = INDEX_FAMILIES.iter().map(|s| s.to_string()).collect();
        names.extend(existing.into_iter().filter(|n| n.starts_with(CF_CHUNKS_PREFIX)));
        let descriptors: Vec<_> = names.iter().map(|n| ColumnFamilyDescriptor::new(n, cf_options(n))).collect();
        let db = if read_only {
            Rocks::open_cf_descriptors_read_only(&opts, path, descriptors, false)
        } else {
            Rocks::open_cf_descriptors(&opts, path, descriptors)
        }
        .map_err(Error::rocks("open"))?;
        let persist = Self {
            db,
            path: path.to_owned(),
            partition_ms,
            read_only,
            partitions: RwLock::new(BTreeMap::new()),
            tenants: Mutex::new(HashMap::new()),
            tombstones: Tombstones::default(),
            label_index: LabelIndex::default(),
            chunk_spans: ChunkSpans::new(partition_ms),
        };
        persist.check_format()?;
        persist.load_partitions(&names)?;
        persist.load_tenants()?;
        persist.load_tombstones()?;
        persist.load_label_index()?;
        persist.load_chunk_spans()?;
        Ok(persist)
    }

    /// The underlying RocksDB handle (for the compactor and querier).
    pub(crate) fn rocks(&self) -> &Rocks {
        &self.db
    }

    fn cf(&self, name: &str) -> Result<Arc<BoundColumnFamily<'_>>> {
        self.db.cf_handle(name).ok_or(Error::Corrupt {
            what: "column family",
            location: name.to_owned(),
            detail: "missing",
        })
    }

    fn check_format(&self) -> Result<()> {
        let meta = self.cf(CF_META)?;
        match self.db.get_cf(&meta, KEY_FORMAT).map_err(Error::rocks("read format"))? {
            Some(found) if found == FORMAT.as_bytes() => Ok(()),
            Some(found) => Err(Error::FormatVersion {
                path: self.path.clone(),
                found: String::from_utf8_lossy(&found).into_owned(),
                expected: FORMAT,
            }),
            None if self.read_only => Ok(()),
            None => self.db.put_cf(&meta, KEY_FORMAT, FORMAT).map_err(Error::rocks("write format")),
        }
    }

    fn load_partitions(&self, families: &[String]) -> Result<()> {
        let meta = self.cf(CF_META)?;
        let mut table = self.partitions.write();
        for name in families {
            if let Some(start) = name.strip_prefix(CF_CHUNKS_PREFIX).and_then(|s| s.parse::<i64>().ok()) {
                table.insert(start, Partition { start, end: start + self.partition_ms, state: PartitionState::Open });
            }
        }
        for item in self.db.prefix_iterator_cf(&meta, KEY_PARTITION_PREFIX) {
            let (k, v) = item.map_err(Error::rocks("read partition table"))?;
            if !k.starts_with(KEY_PARTITION_PREFIX) {
                break;
            }
            let start_key: [u8; 8] =
                k[KEY_PARTITION_PREFIX.len()..].try_into().map_err(|_| corrupt_meta(&k, "bad partition key"))?;
            let start = keys::time_from_key(start_key);
            let state = match v.first() {
                Some(&STATE_SEALED) if v.len() == 33 => {
                    let mut digest = [0u8; 32];
                    digest.copy_from_slice(&v[1..]);
                    PartitionState::Sealed { digest }
                }
                Some(&STATE_REWRITING) if (v.len() - 1) % 8 == 0 => PartitionState::Rewriting,
                Some(&STATE_OPEN) => PartitionState::Open,
                _ => return Err(corrupt_meta(&k, "bad partition state")),
            };
            if let Some(p) = table.get_mut(&start) {
                p.state = state;
            }
        }
        Ok(())
    }

    fn load_tombstones(&self) -> Result<()> {
        let meta = self.cf(CF_META)?;
        let mut loaded = Vec::new();
        for item in self.db.prefix_iterator_cf(&meta, KEY_TOMBSTONE_PREFIX) {
            let (k, v) = item.map_err(Error::rocks("read tombstones"))?;
            if !k.starts_with(KEY_TOMBSTONE_PREFIX) {
                break;
            }
            loaded.push(
                keys::parse_tombstone(&k[KEY_TOMBSTONE_PREFIX.len()..], &v)
                    .ok_or_else(|| corrupt_meta(&k, "bad tombstone"))?,
            );
        }
        self.tombstones.insert(loaded);
        Ok(())
    }

    /// Builds the label index from the `series` family.
    fn load_label_index(&self) -> Result<()> {
        /// Series decoded before they are added to the index in one go.
        const BATCH: usize = 8192;
        let started = std::time::Instant::now();
        let cf = self.cf(CF_SERIES)?;
        let mut batch: Vec<(u32, u64, Labels)> = Vec::with_capacity(BATCH);
        let mut total = 0usize;
        let mut it = self.db.raw_iterator_cf(&cf);
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let id = u64::from_be_bytes(k.try_into().map_err(|_| corrupt_meta(k, "bad series key"))?);
            let (tenant, labels) = keys::parse_series_value(k, v)?;
            batch.push((tenant, id, labels));
            if batch.len() == BATCH {
                self.label_index.insert(batch.iter().map(|(t, id, l)| (*t, *id, l)));
                total += batch.len();
                batch.clear();
            }
            it.next();
        }
        it.status().map_err(Error::rocks("read series index"))?;
        self.label_index.insert(batch.iter().map(|(t, id, l)| (*t, *id, l)));
        total += batch.len();
        tracing::info!(
            series = total,
            heap_bytes = self.label_index.heap_bytes(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "label index built"
        );
        Ok(())
    }

    /// Builds the chunk spans from every partition's chunk keys and the max
    /// time at the head of each chunk value (no chunk is decoded). A
    /// partition that cannot be read is logged and marked unknown, so that
    /// the store still opens (and `rampart verify` can name the damage).
    fn load_chunk_spans(&self) -> Result<()> {
        let started = std::time::Instant::now();
        let mut entries = 0usize;
        for start in self.partitions.read().keys().copied().collect::<Vec<_>>() {
            match self.partition_spans(start) {
                Ok(spans) => {
                    entries += spans.len();
                    self.chunk_spans.add(spans);
                }
                Err(e) => {
                    tracing::error!(
                        partition = %Self::partition_cf_name(start),
                        error = %e,
                        "cannot index a partition's chunks; queries read them directly; run `rampart verify`"
                    );
                    self.chunk_spans.mark_unknown(start);
                }
            }
        }
        tracing::info!(
            entries,
            heap_bytes = self.chunk_spans.read().heap_bytes(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "chunk spans built"
        );
        Ok(())
    }

    /// `(start, tenant, series, span)` of every series with chunks in the
    /// partition starting at `start`.
    fn partition_spans(&self, start: i64) -> Result<Vec<(i64, u32, u64, Span)>> {
        let mut spans: Vec<(i64, u32, u64, Span)> = Vec::new();
        let Some(cf) = self.partition_cf(start) else { return Ok(spans) };
        let mut it = self.db.raw_iterator_cf(&cf);
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let (tenant, series, min_t) = keys::parse_chunk_key(k)?;
            let max_t = keys::chunk_value_max_t(v).ok_or_else(|| corrupt_meta(k, "chunk value too short"))?;
            match spans.last_mut() {
                Some((_, t, s, last)) if *t == tenant && *s == series => *last = last.union(Span::chunk(min_t, max_t)),
                _ => spans.push((start, tenant, series, Span::chunk(min_t, max_t))),
            }
            it.next();
        }
        it.status().map_err(Error::rocks("read partition"))?;
        Ok(spans)
    }

    fn load_tenants(&self) -> Result<()> {
        let meta = self.cf(CF_META)?;
        let mut tenants = self.tenants.lock();
        for item in self.db.prefix_iterator_cf(&meta, KEY_TENANT_PREFIX) {
            let (k, v) = item.map_err(Error::rocks("read tenants"))?;
            if !k.starts_with(KEY_TENANT_PREFIX) {
                break;
            }
            let name = std::str::from_utf8(&k[KEY_TENANT_PREFIX.len()..])
                .map_err(|_| corrupt_meta(&k, "tenant name is not utf-8"))?;
            let id: [u8; 4] = v.as_ref().try_into().map_err(|_| corrupt_meta(&k, "bad tenant id"))?;
            tenants.insert(name.to_owned(), u32::from_be_bytes(id));
        }
        Ok(())
    }

    // ---- tenants -------------------------------------------------------

    /// The id of an existing tenant.
    pub fn tenant_id(&self, name: &str) -> Option<u32> {
        self.tenants.lock().get(name).copied()
    }

    /// The id of a tenant, creating it (durably) on first use.
    pub fn ensure_tenant(&self, name: &str) -> Result<u32> {
        let mut tenants = self.tenants.lock();
        if let Some(id) = tenants.get(name) {
            return Ok(*id);
        }
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let id = tenants.values().max().map_or(1, |m| m + 1);
        let mut key = KEY_TENANT_PREFIX.to_vec();
        key.extend_from_slice(name.as_bytes());
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.put_cf_opt(&self.cf(CF_META)?, key, id.to_be_bytes(), &wo).map_err(Error::rocks("create tenant"))?;
        tenants.insert(name.to_owned(), id);
        Ok(id)
    }

    /// All tenants, by name.
    pub fn tenants(&self) -> BTreeMap<String, u32> {
        self.tenants.lock().iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// The name of a tenant id.
    pub fn tenant_name(&self, id: u32) -> Option<String> {
        self.tenants.lock().iter().find(|(_, v)| **v == id).map(|(k, _)| k.clone())
    }

    // ---- series index --------------------------------------------------

    /// The id of a series, if it was ever created.
    pub fn lookup_series(&self, tenant: u32, labels: &Labels) -> Result<Option<u64>> {
        let cf = self.cf(CF_SERIES_BY_LABELS)?;
        let key = keys::series_by_labels_key(tenant, labels);
        match self.db.get_pinned_cf(&cf, &key).map_err(Error::rocks("look up series"))? {
            Some(v) => {
                let id: [u8; 8] = v.as_ref().try_into().map_err(|_| Error::Corrupt {
                    what: "series_by_labels entry",
                    location: format!("key {}", keys::hex(&key)),
                    detail: "bad series id",
                })?;
                Ok(Some(u64::from_be_bytes(id)))
            }
            None => Ok(None),
        }
    }

    /// The highest series id ever allocated (0 when none).
    pub fn max_series_id(&self) -> Result<u64> {
        let cf = self.cf(CF_SERIES)?;
        let mut it = self.db.raw_iterator_cf(&cf);
        it.seek_to_last();
        it.status().map_err(Error::rocks("read last series id"))?;
        Ok(it.key().and_then(|k| k.try_into().ok()).map_or(0, u64::from_be_bytes))
    }

    /// Adds series to the index: `series`, `series_by_labels` and a postings
    /// entry per label. Idempotent.
    pub fn write_series<'a>(&self, entries: impl IntoIterator<Item = (u32, u64, &'a Labels)>) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let entries: Vec<(u32, u64, &Labels)> = entries.into_iter().collect();
        let (series, by_labels, postings) = (self.cf(CF_SERIES)?, self.cf(CF_SERIES_BY_LABELS)?, self.cf(CF_POSTINGS)?);
        let mut batch = WriteBatch::default();
        for &(tenant, id, labels) in &entries {
            let value = keys::series_value(tenant, labels);
            batch.put_cf(&series, keys::series_key(id), &value);
            batch.put_cf(&by_labels, &value, id.to_be_bytes());
            for l in labels {
                batch.put_cf(&postings, keys::postings_key(tenant, &l.name, &l.value, id), []);
            }
        }
        self.db.write(batch).map_err(Error::rocks("write series index"))?;
        self.label_index.insert(entries);
        Ok(())
    }

    /// The in-memory label index (kept in step with the `series` family).
    pub(crate) fn label_index(&self) -> &LabelIndex {
        &self.label_index
    }

    /// The in-memory chunk spans (kept in step with the chunk families).
    pub(crate) fn chunk_spans(&self) -> &ChunkSpans {
        &self.chunk_spans
    }

    /// Labels and tenant of each series id (`None` for unknown ids).
    pub fn series_labels(&self, ids: &[u64]) -> Result<Vec<Option<(u32, Labels)>>> {
        let cf = self.cf(CF_SERIES)?;
        let keys: Vec<_> = ids.iter().map(|id| keys::series_key(*id)).collect();
        self.db
            .batched_multi_get_cf(&cf, keys.iter(), false)
            .into_iter()
            .zip(&keys)
            .map(|(r, k)| match r.map_err(Error::rocks("read series"))? {
                Some(v) => keys::parse_series_value(k, &v).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    /// Calls `f(value, series ids)` for every value of label `name` in
    /// `tenant`, in value order.
    pub fn scan_label_values(&self, tenant: u32, name: &str, mut f: impl FnMut(&str, &[u64])) -> Result<()> {
        let cf = self.cf(CF_POSTINGS)?;
        let prefix = keys::postings_name_prefix(tenant, name);
        let mut it = self.db.raw_iterator_cf_opt(&cf, bounded(&prefix));
        it.seek(&prefix);
        let mut current: Option<String> = None;
        let mut ids = Vec::new();
        while let Some(k) = it.key() {
            let (value, id) = keys::parse_postings_suffix(k, &k[prefix.len()..])?;
            if current.as_deref() != Some(value.as_str()) {
                if let Some(v) = current.take() {
                    f(&v, &ids);
                    ids.clear();
                }
                current = Some(value);
            }
            ids.push(id);
            it.next();
        }
        it.status().map_err(Error::rocks("scan postings"))?;
        if let Some(v) = current {
            f(&v, &ids);
        }
        Ok(())
    }

    /// Sorted ids of every series of `tenant`.
    pub fn all_series(&self, tenant: u32) -> Result<Vec<u64>> {
        let cf = self.cf(CF_SERIES_BY_LABELS)?;
        let prefix = tenant.to_be_bytes();
        let mut it = self.db.raw_iterator_cf_opt(&cf, bounded(&prefix));
        it.seek(prefix);
        let mut out = Vec::new();
        while let Some(v) = it.value() {
            let id: [u8; 8] = v.try_into().map_err(|_| corrupt_meta(it.key().unwrap_or_default(), "bad series id"))?;
            out.push(u64::from_be_bytes(id));
            it.next();
        }
        it.status().map_err(Error::rocks("scan series"))?;
        out.sort_unstable();
        Ok(out)
    }

    /// Every label name used by `tenant`, sorted.
    pub fn label_names(&self, tenant: u32) -> Result<Vec<String>> {
        let cf = self.cf(CF_POSTINGS)?;
        let prefix = tenant.to_be_bytes();
        let mut it = self.db.raw_iterator_cf_opt(&cf, bounded(&prefix));
        it.seek(prefix);
        let mut out = Vec::new();
        while let Some(k) = it.key() {
            let rest = &k[prefix.len()..];
            let end = rest.iter().position(|&b| b == 0xFF).ok_or_else(|| corrupt_meta(k, "bad postings key"))?;
            let name = std::str::from_utf8(&rest[..end]).map_err(|_| corrupt_meta(k, "label name is not utf-8"))?;
            out.push(name.to_owned());
            // Skip every other key of this name.
            match keys::prefix_end(&keys::postings_name_prefix(tenant, name)) {
                Some(next) => it.seek(next),
                None => break,
            }
        }
        it.status().map_err(Error::rocks("scan label names"))?;
        Ok(out)
    }

    // ---- partitions and chunks ----------------------------------------

    /// Start of the partition holding time `t`.
    pub fn partition_start(&self, t: i64) -> i64 {
        t.div_euclid(self.partition_ms) * self.partition_ms
    }

    /// The partition table.
    pub fn partitions(&self) -> Vec<Partition> {
        self.partitions.read().values().copied().collect()
    }

    /// True when the partition holding `t` is sealed.
    pub fn is_sealed(&self, t: i64) -> bool {
        let start = self.partition_start(t);
        self.partitions.read().get(&start).is_some_and(|p| p.state.is_immutable())
    }

    fn partition_cf_name(start: i64) -> String {
        format!("{CF_CHUNKS_PREFIX}{start}")
    }

    fn ensure_partition(&self, start: i64) -> Result<()> {
        if self.partitions.read().contains_key(&start) {
            return Ok(());
        }
        let mut table = self.partitions.write();
        if table.contains_key(&start) {
            return Ok(());
        }
        let name = Self::partition_cf_name(start);
        self.db.create_cf(&name, &cf_options(&name)).map_err(Error::rocks("create partition"))?;
        table.insert(start, Partition { start, end: start + self.partition_ms, state: PartitionState::Open });
        Ok(())
    }

    /// Column family of a partition, if it exists.
    pub(crate) fn partition_cf(&self, start: i64) -> Option<Arc<BoundColumnFamily<'_>>> {
        self.db.cf_handle(&Self::partition_cf_name(start))
    }

    /// Writes chunks and the checkpoint marker in one atomic, synced batch.
    /// Each chunk must lie within one partition (the head cuts chunks at
    /// partition boundaries).
    pub fn write_chunks(&self, chunks: &[ChunkWrite], checkpoint: Option<u64>) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut batch = WriteBatch::default();
        for c in chunks {
            let start = self.partition_start(c.min_t);
            self.ensure_partition(start)?;
            let cf = self.partition_cf(start).ok_or(Error::Corrupt {
                what: "column family",
                location: Self::partition_cf_name(start),
                detail: "missing",
            })?;
            batch.put_cf(
                &cf,
                keys::chunk_key(c.tenant, c.series, c.min_t),
                keys::encode_chunk_value(c.encoding, c.max_t, &c.bytes),
            );
        }
        if let Some(segment) = checkpoint {
            batch.put_cf(&self.cf(CF_META)?, KEY_CHECKPOINT, segment.to_be_bytes());
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(Error::rocks("write chunks"))?;
        self.chunk_spans.add(
            chunks.iter().map(|c| (self.partition_start(c.min_t), c.tenant, c.series, Span::chunk(c.min_t, c.max_t))),
        );
        Ok(())
    }

    /// Records that the chunks of some series in partition `start` were
    /// rewritten (by a merge): `Some` is the span of their new chunks, `None`
    /// says none is left. Call after the rewrite is written.
    pub(crate) fn chunks_rewritten(&self, start: i64, rewritten: impl IntoIterator<Item = (u32, u64, Option<Span>)>) {
        self.chunk_spans.replace(start, rewritten);
    }

    /// The WAL segment of the last checkpoint whose chunks are persisted.
    pub fn persisted_checkpoint(&self) -> Result<Option<u64>> {
        let v = self.db.get_cf(&self.cf(CF_META)?, KEY_CHECKPOINT).map_err(Error::rocks("read checkpoint"))?;
        v.map(|v| {
            <[u8; 8]>::try_from(v.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt_meta(KEY_CHECKPOINT, "bad checkpoint"))
        })
        .transpose()
    }

    /// Persisted chunks of one series overlapping `[mint, maxt]`, in
    /// partition and then min-time order.
    pub fn series_chunks(&self, tenant: u32, series: u64, mint: i64, maxt: i64) -> Result<Vec<StoredChunk>> {
        let reads: Vec<PartitionRead> = self
            .partitions
            .read()
            .values()
            .filter(|p| p.end > mint && p.start <= maxt)
            .map(|p| PartitionRead::whole(p.start))
            .collect();
        let mut out = Vec::new();
        self.chunk_reader(tenant, series..=series, mint, maxt).read(series, &reads, &mut out)?;
        Ok(out)
    }

    /// A reader of the chunks overlapping `[mint, maxt]` of `tenant`'s
    /// series with ids in `series`, for one read.
    pub(crate) fn chunk_reader(
        &self,
        tenant: u32,
        series: RangeInclusive<u64>,
        mint: i64,
        maxt: i64,
    ) -> ChunkReader<'_> {
        ChunkReader { persist: self, tenant, series, mint, maxt, cursors: BTreeMap::new() }
    }

    /// A cursor over partition `start`'s chunks (`None` when the partition
    /// does not exist); see [`PartitionCursor`].
    fn partition_cursor(
        &self,
        start: i64,
        tenant: u32,
        series: &RangeInclusive<u64>,
        mint: i64,
        maxt: i64,
    ) -> Option<PartitionCursor<'_>> {
        let cf = self.partition_cf(start)?;
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(keys::series_prefix(tenant, *series.start()));
        if let Some(end) = keys::prefix_end(&keys::series_prefix(tenant, *series.end())) {
            ro.set_iterate_upper_bound(end);
        }
        Some(PartitionCursor { it: self.db.raw_iterator_cf_opt(&cf, ro), tenant, mint, maxt, last_read: None })
    }

    /// The newest persisted sample time of a series, if any.
    pub fn series_max_t(&self, tenant: u32, series: u64) -> Result<Option<i64>> {
        let starts: Vec<i64> = self.partitions.read().keys().rev().copied().collect();
        let prefix = keys::series_prefix(tenant, series);
        for start in starts {
            let Some(cf) = self.partition_cf(start) else { continue };
            let mut it = self.db.raw_iterator_cf_opt(&cf, bounded(&prefix));
            it.seek(prefix);
            let mut max_t = None;
            while let Some(v) = it.value() {
                let t = keys::chunk_value_max_t(v);
                max_t = max_t.max(t);
                it.next();
            }
            it.status().map_err(Error::rocks("read chunks"))?;
            if max_t.is_some() {
                return Ok(max_t);
            }
        }
        Ok(None)
    }

    /// Sets the in-memory state of a partition (`Open` or `Sealing`).
    pub(crate) fn set_state(&self, start: i64, state: PartitionState) {
        if let Some(p) = self.partitions.write().get_mut(&start) {
            p.state = state;
        }
    }

    /// Marks a partition sealed with its digest, recording the manifest
    /// entry that says so.
    pub(crate) fn seal_partition(&self, start: i64, digest: [u8; 32], head: ManifestHead) -> Result<()> {
        let mut v = vec![STATE_SEALED];
        v.extend_from_slice(&digest);
        let mut batch = WriteBatch::default();
        batch.put_cf(&self.cf(CF_META)?, partition_meta_key(start), v);
        self.write_with_head(batch, head, "seal partition")?;
        if let Some(p) = self.partitions.write().get_mut(&start) {
            p.state = PartitionState::Sealed { digest };
        }
        Ok(())
    }

    /// Marks a sealed partition as being rewritten to apply the manifest
    /// entries `causes`; it stays immutable to appends.
    pub(crate) fn begin_rewrite(&self, start: i64, causes: &[u64]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(&self.cf(CF_META)?, partition_meta_key(start), rewriting_value(causes));
        self.write_synced(batch, "begin partition rewrite")?;
        self.set_state(start, PartitionState::Rewriting);
        Ok(())
    }

    /// The causes of every partition left in `Rewriting` (by a crash).
    pub(crate) fn interrupted_rewrites(&self) -> Result<Vec<(i64, Vec<u64>)>> {
        let meta = self.cf(CF_META)?;
        let starts: Vec<i64> =
            self.partitions().into_iter().filter(|p| p.state == PartitionState::Rewriting).map(|p| p.start).collect();
        let mut out = Vec::new();
        for start in starts {
            let key = partition_meta_key(start);
            let v = self.db.get_cf(&meta, &key).map_err(Error::rocks("read partition state"))?.unwrap_or_default();
            let causes = v
                .get(1..)
                .unwrap_or_default()
                .chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
                .collect();
            out.push((start, causes));
        }
        Ok(out)
    }

    /// Drops a whole partition: its column family and its table entry,
    /// recording the manifest entry that says so. Idempotent.
    pub(crate) fn drop_partition(&self, start: i64, head: ManifestHead) -> Result<()> {
        self.chunk_spans.drop_partition(start);
        self.partitions.write().remove(&start);
        if self.partition_cf(start).is_some() {
            self.db.drop_cf(&Self::partition_cf_name(start)).map_err(Error::rocks("drop partition"))?;
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(&self.cf(CF_META)?, partition_meta_key(start));
        self.write_with_head(batch, head, "drop partition")
    }

    /// Deletes every chunk of `tenant` from a partition, recording the
    /// manifest entry that says so; with `rewrite_causes`, the (sealed)
    /// partition is marked `Rewriting` in the same batch. Idempotent.
    pub(crate) fn remove_tenant(
        &self,
        start: i64,
        tenant: u32,
        rewrite_causes: Option<&[u64]>,
        head: ManifestHead,
    ) -> Result<()> {
        self.chunk_spans.remove_tenant(start, tenant);
        let mut batch = WriteBatch::default();
        if let Some(cf) = self.partition_cf(start) {
            let from = tenant.to_be_bytes();
            match keys::prefix_end(&from) {
                Some(to) => batch.delete_range_cf(&cf, from.as_slice(), to.as_slice()),
                None => batch.delete_range_cf(&cf, from.as_slice(), [0xFFu8; keys::CHUNK_KEY_LEN + 1].as_slice()),
            }
        }
        if let Some(causes) = rewrite_causes {
            batch.put_cf(&self.cf(CF_META)?, partition_meta_key(start), rewriting_value(causes));
        }
        self.write_with_head(batch, head, "remove tenant data")?;
        if rewrite_causes.is_some() {
            self.set_state(start, PartitionState::Rewriting);
        }
        Ok(())
    }

    /// Ids of the tenants with chunks in a partition, ascending.
    pub(crate) fn partition_tenants(&self, start: i64) -> Result<Vec<u32>> {
        let Some(cf) = self.partition_cf(start) else { return Ok(Vec::new()) };
        let mut it = self.db.raw_iterator_cf(&cf);
        it.seek_to_first();
        let mut out = Vec::new();
        while let Some(k) = it.key() {
            let tenant = u32::from_be_bytes(
                k.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(|| corrupt_meta(k, "bad chunk key"))?,
            );
            out.push(tenant);
            match keys::prefix_end(&tenant.to_be_bytes()) {
                Some(next) => it.seek(next),
                None => break,
            }
        }
        it.status().map_err(Error::rocks("scan partition tenants"))?;
        Ok(out)
    }

    /// Persists tombstones with the manifest entry of their request.
    pub(crate) fn put_tombstones(&self, tombstones: &[Tombstone], head: ManifestHead) -> Result<()> {
        let meta = self.cf(CF_META)?;
        let mut batch = WriteBatch::default();
        for t in tombstones {
            batch.put_cf(&meta, tombstone_key(t), keys::tombstone_value(t));
        }
        self.write_with_head(batch, head, "write tombstones")?;
        self.tombstones.insert(tombstones.iter().copied());
        Ok(())
    }

    /// Removes tombstones whose samples are gone everywhere.
    pub(crate) fn retire_tombstones(&self, retired: &[Tombstone]) -> Result<()> {
        let meta = self.cf(CF_META)?;
        let mut batch = WriteBatch::default();
        for t in retired {
            batch.delete_cf(&meta, tombstone_key(t));
        }
        self.write_synced(batch, "retire tombstones")?;
        self.tombstones.remove(retired);
        Ok(())
    }

    /// The deleted ranges of a series.
    pub fn deleted(&self, series: u64) -> crate::tombstone::Deleted {
        self.tombstones.of(series)
    }

    /// Every tombstone not yet retired.
    pub(crate) fn tombstones(&self) -> Vec<Tombstone> {
        self.tombstones.all()
    }

    /// The head of the last manifest entry applied to this database.
    pub fn manifest_head(&self) -> Result<Option<ManifestHead>> {
        let v = self.db.get_cf(&self.cf(CF_META)?, KEY_MANIFEST_HEAD).map_err(Error::rocks("read manifest head"))?;
        v.map(|v| ManifestHead::decode(&v).ok_or_else(|| corrupt_meta(KEY_MANIFEST_HEAD, "bad manifest head")))
            .transpose()
    }

    /// Records a manifest entry whose change needed nothing (already done).
    pub(crate) fn record_manifest_head(&self, head: ManifestHead) -> Result<()> {
        self.write_with_head(WriteBatch::default(), head, "record manifest head")
    }

    fn write_with_head(&self, mut batch: WriteBatch, head: ManifestHead, op: &'static str) -> Result<()> {
        batch.put_cf(&self.cf(CF_META)?, KEY_MANIFEST_HEAD, head.encode());
        self.write_synced(batch, op)
    }

    fn write_synced(&self, batch: WriteBatch, op: &'static str) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(Error::rocks(op))
    }

    /// Bytes of SST files and memtables of a partition.
    pub fn partition_bytes(&self, start: i64) -> u64 {
        let Some(cf) = self.partition_cf(start) else { return 0 };
        ["rocksdb.total-sst-files-size", "rocksdb.cur-size-all-mem-tables"]
            .iter()
            .filter_map(|p| self.db.property_int_value_cf(&cf, *p).ok().flatten())
            .sum()
    }

    /// Flushes a partition's memtable and rewrites its files in one pass
    /// (bottommost compression applies), after merging or sealing.
    pub(crate) fn compact_files(&self, start: i64) -> Result<()> {
        let Some(cf) = self.partition_cf(start) else { return Ok(()) };
        self.db.flush_cf(&cf).map_err(Error::rocks("flush partition"))?;
        let mut opts = rocksdb::CompactOptions::default();
        opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        self.db.compact_range_cf_opt(&cf, None::<&[u8]>, None::<&[u8]>, &opts);
        Ok(())
    }

    /// Flushes memtables of every family to SST files.
    pub fn flush_memtables(&self) -> Result<()> {
        for name in self.family_names() {
            if let Some(cf) = self.db.cf_handle(&name) {
                self.db.flush_cf(&cf).map_err(Error::rocks("flush"))?;
            }
        }
        Ok(())
    }

    /// Makes RocksDB's own log durable (index writes use it unsynced).
    pub fn sync_log(&self) -> Result<()> {
        self.db.flush_wal(true).map_err(Error::rocks("sync log"))
    }

    fn family_names(&self) -> Vec<String> {
        let mut names: Vec<String> = INDEX_FAMILIES.iter().map(|s| s.to_string()).collect();
        names.extend(self.partitions.read().keys().map(|s| Self::partition_cf_name(*s)));
        names
    }

    // ---- metadata and exemplars ---------------------------------------

    /// Stores metric metadata (last write wins per metric family).
    pub fn put_metadata(&self, tenant: u32, entries: &[crate::Metadata]) -> Result<()> {
        let cf = self.cf(CF_METADATA)?;
        let mut batch = WriteBatch::default();
        for m in entries {
            let mut k = tenant.to_be_bytes().to_vec();
            k.extend_from_slice(m.metric_family.as_bytes());
            batch.put_cf(&cf, k, m.encode());
        }
        self.db.write(batch).map_err(Error::rocks("write metadata"))
    }

    /// Metadata of `tenant`, optionally of one metric family.
    pub fn metadata(&self, tenant: u32, metric: Option<&str>) -> Result<Vec<crate::Metadata>> {
        let cf = self.cf(CF_METADATA)?;
        let mut prefix = tenant.to_be_bytes().to_vec();
        if let Some(m) = metric {
            prefix.extend_from_slice(m.as_bytes());
        }
        let mut it = self.db.raw_iterator_cf_opt(&cf, bounded(&prefix));
        it.seek(&prefix);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let family = std::str::from_utf8(&k[4..]).map_err(|_| corrupt_meta(k, "metric name is not utf-8"))?;
            if metric.is_none_or(|m| m == family) {
                out.push(crate::Metadata::decode(family, v).ok_or_else(|| corrupt_meta(k, "bad metadata"))?);
            }
            it.next();
        }
        it.status().map_err(Error::rocks("read metadata"))?;
        Ok(out)
    }

    /// Stores exemplars of one series.
    pub fn put_exemplars(&self, tenant: u32, series: u64, exemplars: &[crate::Exemplar]) -> Result<()> {
        let cf = self.cf(CF_EXEMPLARS)?;
        let mut batch = WriteBatch::default();
        for e in exemplars {
            let mut k = keys::series_prefix(tenant, series).to_vec();
            k.extend_from_slice(&keys::time_key(e.t));
            batch.put_cf(&cf, k, e.encode());
        }
        self.db.write(batch).map_err(Error::rocks("write exemplars"))
    }

    /// Exemplars of one series within `[mint, maxt]`.
    pub fn exemplars(&self, tenant: u32, series: u64, mint: i64, maxt: i64) -> Result<Vec<crate::Exemplar>> {
        let cf = self.cf(CF_EXEMPLARS)?;
        let prefix = keys::series_prefix(tenant, series);
        let mut start = prefix.to_vec();
        start.extend_from_slice(&keys::time_key(mint));
        let mut it = self.db.raw_iterator_cf_opt(&cf, bounded(&prefix));
        it.seek(&start);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let t = keys::time_from_key(k[12..].try_into().map_err(|_| corrupt_meta(k, "bad exemplar key"))?);
            if t > maxt {
                break;
            }
            out.push(crate::Exemplar::decode(t, v).ok_or_else(|| corrupt_meta(k, "bad exemplar"))?);
            it.next();
        }
        it.status().map_err(Error::rocks("read exemplars"))?;
        Ok(out)
    }

    /// Iterates `(key, value)` of a partition in key order (compaction,
    /// sealing, statistics).
    pub(crate) fn partition_iter(&self, start: i64) -> Option<rocksdb::DBIteratorWithThreadMode<'_, Rocks>> {
        let cf = self.partition_cf(start)?;
        Some(self.db.iterator_cf(&cf, IteratorMode::Start))
    }
}

fn tombstone_key(t: &Tombstone) -> Vec<u8> {
    let mut k = KEY_TOMBSTONE_PREFIX.to_vec();
    k.extend_from_slice(&keys::tombstone_key_suffix(t));
    k
}

/// `partition/<start>` value of a partition being rewritten: the state byte
/// then the `seq` of each manifest entry the rewrite applies.
fn rewriting_value(causes: &[u64]) -> Vec<u8> {
    let mut v = vec![STATE_REWRITING];
    for c in causes {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v
}

fn partition_meta_key(start: i64) -> Vec<u8> {
    let mut k = KEY_PARTITION_PREFIX.to_vec();
    k.extend_from_slice(&keys::time_key(start));
    k
}

/// Read options bounded to keys starting with `prefix`.
fn bounded(prefix: &[u8]) -> ReadOptions {
    let mut ro = ReadOptions::default();
    ro.set_iterate_lower_bound(prefix.to_vec());
    if let Some(end) = keys::prefix_end(prefix) {
        ro.set_iterate_upper_bound(end);
    }
    ro
}

fn corrupt_meta(key: &[u8], detail: &'static str) -> Error {
    Error::Corrupt { what: "index entry", location: format!("key {}", keys::hex(key)), detail }
}

/// Options of a column family: chunk families favour density (zstd at the
/// bottom level, large blocks), index families favour point lookups.
fn cf_options(name: &str) -> rocksdb::Options {
    let mut opts = rocksdb::Options::default();
    let mut block = BlockBasedOptions::default();
    if name.starts_with(CF_CHUNKS_PREFIX) {
        block.set_block_size(CHUNK_BLOCK_SIZE);
        opts.set_compression_type(DBCompressionType::None);
        opts.set_bottommost_compression_type(DBCompressionType::Zstd);
    } else {
        block.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
        opts.set_compression_type(DBCompressionType::Zstd);
    }
    opts.set_block_based_table_factory(&block);
    opts
}
