//! Engine counters, kept as atomics so the storage crate needs no metrics
//! library; the service renders them at `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the WAL fsync latency histogram buckets.
pub const FSYNC_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Counters of one engine instance.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    /// Samples stored by appends.
    pub samples_appended: AtomicU64,
    /// Head flushes that completed.
    pub flushes: AtomicU64,
    /// Head flushes that failed.
    pub flush_failures: AtomicU64,
    /// Chunks written to RocksDB by flushes.
    pub chunks_persisted: AtomicU64,
    /// Compaction runs that completed.
    pub compactions: AtomicU64,
    /// Compaction runs that failed.
    pub compaction_failures: AtomicU64,
    /// Partitions sealed.
    pub partitions_sealed: AtomicU64,
    /// Partitions dropped by retention.
    pub partitions_dropped: AtomicU64,
    /// Bytes cut from a torn or corrupted WAL tail at start-up.
    pub wal_bytes_dropped: AtomicU64,
    /// WAL fsyncs, cumulative per bucket of [`FSYNC_BUCKETS`] (plus +Inf last).
    pub fsync_buckets: [AtomicU64; FSYNC_BUCKETS.len() + 1],
    /// Sum of fsync latencies in nanoseconds.
    pub fsync_sum_nanos: AtomicU64,
}

impl EngineMetrics {
    /// Records one WAL fsync.
    pub fn observe_fsync(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let idx = FSYNC_BUCKETS.iter().position(|b| secs <= *b).unwrap_or(FSYNC_BUCKETS.len());
        self.fsync_buckets[idx].fetch_add(1, Ordering::Relaxed);
        self.fsync_sum_nanos.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
}
