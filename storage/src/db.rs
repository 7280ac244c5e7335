//! [`Db`]: the engine's entry point. It composes the WAL, the head, RocksDB
//! and the compactor, each of which owns its own state and lock; `Db` itself
//! only holds `flush_lock`, which keeps head flushes (and compactions) one at
//! a time.
//!
//! Write path: [`Db::append`] applies samples to the head under each series'
//! lock, then writes them to the WAL (group commit) and returns once the WAL
//! has them. Head first, WAL second is what makes checkpoints safe: a record
//! in a WAL segment was always applied to the head before that segment was
//! closed, so a checkpoint taken after closing it contains the record's data.
//! A sample applied to the head whose WAL write then fails is reported as an
//! error; a retry finds it and accepts it as identical.
//!
//! Flush ([`Db::flush_head`]): rotate the WAL to segment `S`; take every
//! closed chunk and out-of-order sample from the head; write checkpoint `S`
//! (the head's state at that moment); write the chunks and the marker
//! `checkpoint = S` to RocksDB in one synced batch; drop the chunks from the
//! head; delete segments and checkpoints older than `S`. Start-up loads the
//! newest checkpoint (skipping its chunks when the marker says RocksDB has
//! them) and replays the segments from `S` on. A crash at any step leaves
//! either the old checkpoint with all its segments, or the new one.
//!
//! Open also opens the manifest (`crate::manifest`) against the head RocksDB
//! recorded, refusing a truncated or edited one, and finishes changes a
//! crash interrupted (`compact::recover`) before replaying the WAL.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::batch::AppendBatch;
use crate::checkpoint;
use crate::chunkenc::{self, Encoding};
use crate::error::{Error, Result};
use crate::head::{AppendOutcome, AppendRules, Head, MemSeries, SeriesState};
use crate::manifest::{Manifest, ManifestHead};
use crate::metrics::EngineMetrics;
use crate::model::{Metadata, Sample};
use crate::options::Options;
use crate::persist::{ChunkWrite, Persist};
use crate::record::{self, CheckpointSeries, ChunkRecord, Record, SampleRecord, SeriesRecord};
use crate::wal::{Wal, WalOptions};

/// Why the engine refused a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectionKind {
    /// Older than the series' newest sample by more than the out-of-order window.
    OutOfOrder,
    /// The timestamp already holds a different value (first write wins).
    DuplicateTimestamp,
    /// Before the retention cut-off, negative, or in a sealed partition.
    OutOfBounds,
}

/// One refused sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rejection {
    /// Index of the series in the appended batch.
    pub series: usize,
    /// The refused sample.
    pub sample: Sample,
    /// Why.
    pub kind: RejectionKind,
}

/// What an append did.
#[derive(Clone, Debug, Default)]
pub struct AppendResult {
    /// Samples stored.
    pub appended: u64,
    /// Samples identical to stored ones, accepted as no-ops.
    pub identical: u64,
    /// Series created by this call.
    pub series_created: u64,
    /// Refused samples.
    pub rejections: Vec<Rejection>,
}

/// What a head flush did.
#[derive(Clone, Debug, Default)]
pub struct FlushSummary {
    /// WAL segment the checkpoint starts at.
    pub checkpoint: u64,
    /// Chunks written to RocksDB.
    pub chunks: usize,
    /// Series in the checkpoint.
    pub series_in_checkpoint: usize,
    /// Series dropped from memory because they held no head data.
    pub series_removed: usize,
    /// Wall time.
    pub duration: Duration,
}

/// A storage engine instance on one data directory.
pub struct Db {
    pub(crate) opts: Options,
    pub(crate) persist: Persist,
    /// `None` when open read-only.
    manifest: Option<Manifest>,
    pub(crate) head: Head,
    wal: Option<Wal>,
    pub(crate) wal_dir: PathBuf,
    /// One flush or compaction at a time.
    pub(crate) flush_lock: Mutex<()>,
    flush_gen: AtomicU64,
    /// End of the newest sealed partition: samples before it need a sealed check.
    pub(crate) sealed_until: AtomicI64,
    pub(crate) metrics: Arc<EngineMetrics>,
}

impl Db {
    /// Opens the data directory: RocksDB, then the WAL (cutting a torn tail),
    /// then the newest checkpoint and the WAL segments after it.
    pub fn open(opts: Options) -> Result<Self> {
        Self::open_with(opts, Arc::default())
    }

    /// Like [`Db::open`], reporting into `metrics` (which may carry an fsync
    /// observer).
    pub fn open_with(opts: Options, metrics: Arc<EngineMetrics>) -> Result<Self> {
        let started = Instant::now();
        let db_dir = opts.data_dir.join("db");
        let wal_dir = opts.data_dir.join("wal");
        if !opts.read_only {
            std::fs::create_dir_all(&db_dir).map_err(Error::io("create directory", &db_dir))?;
        }
        let persist = Persist::open(&db_dir, opts.partition_ms(), opts.read_only)?;
        let (manifest, pending) = if opts.read_only {
            (None, Vec::new())
        } else {
            let (m, pending) = Manifest::open(&opts.data_dir, persist.manifest_head()?)?;
            (Some(m), pending)
        };
        let head = Head::new(persist.max_series_id()?);
        let wal = if opts.read_only {
            None
        } else {
            let m = metrics.clone();
            let wal_opts = WalOptions {
                segment_size: opts.wal_segment_size,
                fsync: opts.wal_fsync,
                on_fsync: Some(Arc::new(move |d| m.observe_fsync(d))),
            };
            let (wal, recovery) = Wal::open(&wal_dir, wal_opts)?;
            metrics.wal_bytes_dropped.fetch_add(recovery.bytes_dropped, Ordering::Relaxed);
            Some(wal)
        };
        let db = Self {
            opts,
            persist,
            manifest,
            head,
            wal,
            wal_dir,
            flush_lock: Mutex::new(()),
            flush_gen: AtomicU64::new(0),
            sealed_until: AtomicI64::new(i64::MIN),
            metrics,
        };
        if !db.opts.read_only {
            db.recover(pending)?;
        }
        db.refresh_sealed_until();
        db.replay()?;
        tracing::info!(series = db.head.len(), elapsed_ms = started.elapsed().as_millis() as u64, "storage opened");
        Ok(db)
    }

    /// The engine's options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Engine counters for `/metrics`.
    pub fn metrics(&self) -> &Arc<EngineMetrics> {
        &self.metrics
    }

    /// Number of series held in memory.
    pub fn head_series(&self) -> usize {
        self.head.len()
    }

    /// RocksDB access for the querier, compactor and admin commands.
    pub fn persist(&self) -> &Persist {
        &self.persist
    }

    /// The manifest head: the last entry's `seq` and line SHA-256 (what an
    /// outside party pins; `None` before the first entry). Read-only, the
    /// head RocksDB recorded.
    pub fn manifest_head(&self) -> Result<Option<ManifestHead>> {
        match &self.manifest {
            Some(m) => Ok(m.head()),
            None => self.persist.manifest_head(),
        }
    }

    /// The manifest, for changes to record.
    pub(crate) fn manifest(&self) -> Result<&Manifest> {
        self.manifest.as_ref().ok_or(Error::ReadOnly)
    }

    pub(crate) fn refresh_sealed_until(&self) {
        let until = self
            .persist
            .partitions()
            .iter()
            .filter(|p| p.state.is_immutable())
            .map(|p| p.end)
            .max()
            .unwrap_or(i64::MIN);
        self.sealed_until.store(until, Ordering::Relaxed);
    }

    fn wal(&self) -> Result<&Wal> {
        self.wal.as_ref().ok_or(Error::ReadOnly)
    }

    // ---- replay ---------------------------------------------------------

    fn replay(&self) -> Result<()> {
        let persisted = self.persist.persisted_checkpoint()?;
        let from = match checkpoint::latest(&self.wal_dir)? {
            Some((segment, path)) => {
                let skip_pending = persisted == Some(segment);
                let mut loaded = 0usize;
                checkpoint::read(&path, |c| {
                    loaded += 1;
                    self.restore_series(c, skip_pending)
                })?;
                tracing::info!(
                    checkpoint = segment,
                    series = loaded,
                    chunks_persisted = skip_pending,
                    "loaded head checkpoint"
                );
                segment
            }
            None => 0,
        };
        let rules = self.rules(None, 0, true);
        let mut replayed = 0u64;
        crate::wal::replay(&self.wal_dir, from, |_, rec| {
            match record::decode(rec) {
                Some(Record::Series(series)) => {
                    for s in series {
                        self.replay_series(s)?;
                    }
                }
                Some(Record::Samples(samples)) => {
                    for r in samples {
                        let Some(series) = self.series_by_id(r.series)? else {
                            tracing::warn!(series = r.series, "wal: sample of an unknown series skipped");
                            continue;
                        };
                        let mut st = series.state.lock();
                        st.append(r.sample, &rules, |t| self.persisted_value(&series, t))?;
                        replayed += 1;
                    }
                }
                Some(Record::Checkpoint(_)) | None => {
                    return Err(Error::Corrupt {
                        what: "wal record",
                        location: self.wal_dir.display().to_string(),
                        detail: "unknown record type",
                    });
                }
            }
            Ok(())
        })?;
        if replayed > 0 {
            tracing::info!(samples = replayed, series = self.head.len(), "wal replayed");
        }
        Ok(())
    }

    fn restore_series(&self, c: CheckpointSeries, skip_pending: bool) -> Result<()> {
        let labels = match self.persist.series_labels(&[c.id])?.pop().flatten() {
            Some((_, labels)) => labels,
            None => {
                return Err(Error::Corrupt {
                    what: "checkpoint",
                    location: format!("series {}", c.id),
                    detail: "series missing from index",
                })
            }
        };
        let mut state = SeriesState::new(c.max_t);
        state.restore(c.open, if skip_pending { Vec::new() } else { c.pending })?;
        self.head.observe_id(c.id);
        self.head.insert(Arc::new(MemSeries {
            id: c.id,
            tenant: c.tenant,
            key: labels.encode().into(),
            state: parking_lot::Mutex::new(state),
        }));
        Ok(())
    }

    fn replay_series(&self, s: SeriesRecord) -> Result<()> {
        self.head.observe_id(s.id);
        if self.head.get_by_id(s.id).is_some() {
            return Ok(());
        }
        if !self.opts.read_only {
            self.persist.write_series([(s.tenant, s.id, &s.labels)])?;
        }
        let max_t = self.persist.series_max_t(s.tenant, s.id)?.unwrap_or(i64::MIN);
        self.head.insert(Arc::new(MemSeries {
            id: s.id,
            tenant: s.tenant,
            key: s.labels.encode().into(),
            state: parking_lot::Mutex::new(SeriesState::new(max_t)),
        }));
        Ok(())
    }

    /// A series by id: from the head, else loaded from the index.
    fn series_by_id(&self, id: u64) -> Result<Option<Arc<MemSeries>>> {
        if let Some(s) = self.head.get_by_id(id) {
            return Ok(Some(s));
        }
        let Some((tenant, labels)) = self.persist.series_labels(&[id])?.pop().flatten() else { return Ok(None) };
        self.replay_series(SeriesRecord { tenant, id, labels })?;
        Ok(self.head.get_by_id(id))
    }

    // ---- append ---------------------------------------------------------

    /// Append rules; `tenant`'s retention sets the oldest accepted time
    /// (replay and flushes pass `None`: they check no bounds).
    fn rules(&self, tenant: Option<&str>, now_ms: i64, replay: bool) -> AppendRules {
        let min_valid_t = tenant.and_then(|t| self.opts.tenant_cutoff(t, now_ms)).map_or(0, |c| c.max(0));
        AppendRules {
            chunk_samples: self.opts.head_chunk_samples,
            partition_ms: self.opts.partition_ms(),
            ooo_ms: self.opts.out_of_order_ms(),
            min_valid_t,
            replay,
        }
    }

    /// The stored value bits of a series at `t` in RocksDB.
    fn persisted_value(&self, series: &MemSeries, t: i64) -> Result<Option<u64>> {
        for c in self.persist.series_chunks(series.tenant, series.id, t, t)? {
            for s in chunkenc::XorIter::new(&c.bytes)? {
                let s = s?;
                if s.t == t {
                    return Ok(Some(s.v.to_bits()));
                }
                if s.t > t {
                    break;
                }
            }
        }
        Ok(None)
    }

    /// Appends the series of `batch` to tenant `tenant`. Samples the engine
    /// refuses are reported in the result; the others are stored. Returns
    /// once the WAL holds the stored samples (per the fsync policy).
    pub fn append(&self, tenant: &str, batch: &AppendBatch, now_ms: i64) -> Result<AppendResult> {
        let wal = self.wal()?;
        let tenant_id = self.persist.ensure_tenant(tenant)?;
        let mut result = AppendResult::default();
        let series = self.resolve_series(tenant_id, batch, &mut result)?;
        let rules = self.rules(Some(tenant), now_ms, false);
        let sealed_until = self.sealed_until.load(Ordering::Relaxed);
        let mut records = Vec::with_capacity(batch.sample_count());
        for (i, (inp, series)) in batch.iter().zip(&series).enumerate() {
            let mut st = series.state.lock();
            for &s in inp.samples {
                let outcome = if s.t < sealed_until && self.persist.is_sealed(s.t) {
                    match self.persisted_value(series, s.t)? {
                        Some(bits) if bits == s.v.to_bits() => AppendOutcome::Identical,
                        _ => AppendOutcome::Rejected(RejectionKind::OutOfBounds),
                    }
                } else {
                    st.append(s, &rules, |t| self.persisted_value(series, t))?
                };
                match outcome {
                    AppendOutcome::Appended => {
                        records.push(SampleRecord { series: series.id, sample: s });
                    }
                    AppendOutcome::Identical => result.identical += 1,
                    AppendOutcome::Rejected(kind) => result.rejections.push(Rejection { series: i, sample: s, kind }),
                }
            }
        }
        result.appended = records.len() as u64;
        if !records.is_empty() {
            let mut buf = Vec::new();
            record::encode_samples(&records, &mut buf);
            wal.append(&buf)?;
        }
        for (inp, series) in batch.iter().zip(&series) {
            if !inp.exemplars.is_empty() {
                self.persist.put_exemplars(tenant_id, series.id, inp.exemplars)?;
            }
        }
        self.metrics.samples_appended.fetch_add(result.appended, Ordering::Relaxed);
        Ok(result)
    }

    /// Finds or creates the head series of every series of `batch`.
    fn resolve_series(
        &self,
        tenant: u32,
        batch: &AppendBatch,
        result: &mut AppendResult,
    ) -> Result<Vec<Arc<MemSeries>>> {
        let mut out: Vec<Option<Arc<MemSeries>>> = Vec::with_capacity(batch.len());
        let mut missing = Vec::new();
        for (i, inp) in batch.iter().enumerate() {
            let found = self.head.get_by_key(tenant, inp.key);
            if found.is_none() {
                missing.push(i);
            }
            out.push(found);
        }
        if !missing.is_empty() {
            let _creation = self.head.creation.lock();
            let mut created = Vec::new();
            let mut new_records = Vec::new();
            for i in missing {
                let key = batch.get(i).key;
                if let Some(s) = self.head.get_by_key(tenant, key) {
                    out[i] = Some(s);
                    continue;
                }
                let labels = batch.get(i).labels();
                let (id, max_t) = match self.persist.lookup_series(tenant, &labels)? {
                    Some(id) => (id, self.persist.series_max_t(tenant, id)?.unwrap_or(i64::MIN)),
                    None => {
                        let id = self.head.allocate_id();
                        new_records.push(SeriesRecord { tenant, id, labels });
                        (id, i64::MIN)
                    }
                };
                let series = Arc::new(MemSeries {
                    id,
                    tenant,
                    key: key.into(),
                    state: parking_lot::Mutex::new(SeriesState::new(max_t)),
                });
                out[i] = Some(series.clone());
                created.push(series);
            }
            if !new_records.is_empty() {
                self.persist.write_series(new_records.iter().map(|r| (r.tenant, r.id, &r.labels)))?;
                let mut buf = Vec::new();
                record::encode_series(&new_records, &mut buf);
                self.wal()?.append(&buf)?;
                result.series_created = new_records.len() as u64;
            }
            for s in created {
                self.head.insert(s);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Stores metric metadata of a tenant (last write wins per family).
    pub fn put_metadata(&self, tenant: &str, metadata: &[Metadata]) -> Result<()> {
        if metadata.is_empty() {
            return Ok(());
        }
        let tenant_id = self.persist.ensure_tenant(tenant)?;
        self.persist.put_metadata(tenant_id, metadata)
    }

    // ---- flush ----------------------------------------------------------

    /// Persists the head's closed chunks and out-of-order samples (and with
    /// `force`, its open chunks too), checkpoints the rest and truncates the
    /// WAL.
    pub fn flush_head(&self, force: bool) -> Result<FlushSummary> {
        let _flush = self.flush_lock.lock();
        let started = Instant::now();
        let result = self.flush_locked(force);
        match &result {
            Ok(s) => {
                self.metrics.flushes.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    chunks = s.chunks,
                    series = s.series_in_checkpoint,
                    removed = s.series_removed,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "head flushed"
                );
            }
            Err(e) => {
                self.metrics.flush_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "head flush failed");
            }
        }
        result.map(|mut s| {
            s.duration = started.elapsed();
            s
        })
    }

    fn flush_locked(&self, force: bool) -> Result<FlushSummary> {
        let wal = self.wal()?;
        let gen = self.flush_gen.fetch_add(1, Ordering::Relaxed) + 1;
        let segment = wal.rotate()?;
        let rules = self.rules(None, 0, true);
        let all = self.head.all();
        let mut chunks = Vec::new();
        let mut entries = Vec::new();
        for s in &all {
            let mut st = s.state.lock();
            let (closed, open) = st.take_for_flush(gen, force, &rules);
            if closed.is_empty() && open.is_none() {
                continue;
            }
            chunks.extend(closed.iter().map(|c| ChunkWrite {
                tenant: s.tenant,
                series: s.id,
                min_t: c.min_t,
                max_t: c.max_t,
                encoding: Encoding::Xor as u8,
                bytes: c.bytes.clone(),
            }));
            entries.push(CheckpointSeries {
                tenant: s.tenant,
                id: s.id,
                max_t: st.max_t,
                open,
                pending: closed
                    .into_iter()
                    .map(|c| ChunkRecord { min_t: c.min_t, max_t: c.max_t, bytes: c.bytes.to_vec() })
                    .collect(),
            });
        }
        self.persist.sync_log()?;
        checkpoint::write(&self.wal_dir, segment, &entries)?;
        self.persist.write_chunks(&chunks, Some(segment))?;
        for s in &all {
            s.state.lock().finish_flush(gen);
        }
        drop(all);
        wal.truncate_before(segment)?;
        checkpoint::remove_before(&self.wal_dir, segment)?;
        let series_removed = self.head.remove_idle();
        self.metrics.chunks_persisted.fetch_add(chunks.len() as u64, Ordering::Relaxed);
        Ok(FlushSummary {
            checkpoint: segment,
            chunks: chunks.len(),
            series_in_checkpoint: entries.len(),
            series_removed,
            duration: Duration::ZERO,
        })
    }

    /// Flushes everything and closes the WAL.
    pub fn close(self) -> Result<()> {
        if !self.opts.read_only {
            self.flush_head(false)?;
        }
        Ok(())
    }

    /// Total bytes of the WAL directory (segments and checkpoints).
    pub fn wal_bytes(&self) -> u64 {
        dir_size(&self.wal_dir)
    }
}

/// Sum of file sizes under `dir` (0 when unreadable).
pub(crate) fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
