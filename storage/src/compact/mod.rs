//! Compaction: the background work on persisted partitions.
//!
//! One run ([`Db::compact`]) drops partitions and tenants' data past
//! retention (`retention`), removes deleted samples and retires applied
//! tombstones (`deletes`), merges each eligible partition's chunks into few
//! large, non-overlapping chunks per series with duplicates removed
//! (`merge`), and seals partitions whose time range is past the
//! out-of-order window and that the head no longer writes to (`seal`). A
//! sealed partition is immutable: the engine refuses new samples for it;
//! only retention and deletions change it, through a recorded rewrite
//! (`rewrite`). Every such change is a manifest entry (`crate::manifest`);
//! `recover` finishes changes a crash interrupted.
//!
//! Runs hold `Db::flush_lock`, so they never interleave with a head flush.

mod deletes;
mod merge;
mod recover;
mod retention;
mod rewrite;
pub(crate) mod seal;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::error::Result;
use crate::persist::PartitionState;

/// What one compaction run did.
#[derive(Clone, Debug, Default)]
pub struct CompactionSummary {
    /// Partitions whose chunks were merged.
    pub partitions_compacted: usize,
    /// Series whose chunks were rewritten.
    pub series_rewritten: u64,
    /// Chunks before merging (in compacted partitions).
    pub chunks_before: u64,
    /// Chunks after merging.
    pub chunks_after: u64,
    /// Partitions sealed.
    pub partitions_sealed: usize,
    /// Partitions dropped by retention.
    pub partitions_dropped: usize,
    /// Tenants' data removed from partitions by per-tenant retention (one
    /// per tenant and partition).
    pub tenants_removed: usize,
    /// Partitions rewritten to remove deleted samples.
    pub partitions_rewritten: usize,
    /// Deleted samples removed from disk.
    pub samples_deleted: u64,
    /// Tombstones retired because their samples are gone everywhere.
    pub tombstones_retired: usize,
    /// Wall time.
    pub duration: Duration,
}

impl Db {
    /// Runs retention, merging and sealing as of `now_ms`. With `force`,
    /// every open partition is merged and its files rewritten, sealable or
    /// not (the admin flush uses this so that disk usage shows the compacted
    /// form).
    pub fn compact(&self, now_ms: i64, force: bool) -> Result<CompactionSummary> {
        let _flush = self.flush_lock.lock();
        let started = Instant::now();
        let result = self.compact_locked(now_ms, force);
        match &result {
            Ok(s) => {
                self.metrics.compactions.fetch_add(1, Ordering::Relaxed);
                if s.partitions_compacted + s.partitions_dropped + s.partitions_sealed + s.tenants_removed > 0
                    || s.tombstones_retired > 0
                {
                    tracing::info!(
                        compacted = s.partitions_compacted,
                        series_rewritten = s.series_rewritten,
                        chunks_before = s.chunks_before,
                        chunks_after = s.chunks_after,
                        sealed = s.partitions_sealed,
                        dropped = s.partitions_dropped,
                        tenants_removed = s.tenants_removed,
                        rewritten = s.partitions_rewritten,
                        samples_deleted = s.samples_deleted,
                        tombstones_retired = s.tombstones_retired,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "compaction finished"
                    );
                }
            }
            Err(e) => {
                self.metrics.compaction_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "compaction failed");
            }
        }
        result.map(|mut s| {
            s.duration = started.elapsed();
            s
        })
    }

    fn compact_locked(&self, now_ms: i64, force: bool) -> Result<CompactionSummary> {
        let expired = retention::apply(self, now_ms)?;
        let applied = deletes::apply(self)?;
        let mut summary = CompactionSummary {
            partitions_dropped: expired.partitions_dropped,
            tenants_removed: expired.tenants_removed,
            partitions_rewritten: applied.partitions_rewritten,
            samples_deleted: applied.samples_deleted,
            tombstones_retired: applied.tombstones_retired,
            ..Default::default()
        };
        let ooo_ms = self.opts.out_of_order_ms();
        for p in self.persist.partitions() {
            if p.state != PartitionState::Open {
                continue;
            }
            // Refuse new samples first, then check the head: an append checks
            // the partition state under its series' lock, so either it saw
            // `Sealing` and was refused, or its sample is in the head by the
            // time the check below takes that lock.
            let mut sealable = p.end.saturating_add(ooo_ms) <= now_ms;
            if sealable {
                self.persist.set_state(p.start, PartitionState::Sealing);
                self.refresh_sealed_until();
                if self.head.all().iter().any(|s| s.state.lock().head_min_t().is_some_and(|t| t < p.end)) {
                    self.persist.set_state(p.start, PartitionState::Open);
                    sealable = false;
                }
            }
            if !sealable && !force {
                continue;
            }
            let merged = merge::partition(self, p.start)?;
            summary.partitions_compacted += 1;
            summary.series_rewritten += merged.series_rewritten;
            summary.chunks_before += merged.chunks_before;
            summary.chunks_after += merged.chunks_after;
            summary.samples_deleted += merged.samples_deleted;
            self.persist.compact_files(p.start)?;
            if sealable {
                seal::partition(self, p.start, p.end)?;
                summary.partitions_sealed += 1;
            }
        }
        if force {
            // Index memtables too, so RocksDB's log is recycled and the data
            // directory holds only the compacted form.
            self.persist.flush_memtables()?;
        }
        self.refresh_sealed_until();
        self.metrics.partitions_sealed.fetch_add(summary.partitions_sealed as u64, Ordering::Relaxed);
        self.metrics.partitions_dropped.fetch_add(summary.partitions_dropped as u64, Ordering::Relaxed);
        Ok(summary)
    }
}
