//! Self-monitoring: log set-up and the `/metrics` exposition.
//!
//! Counters of the service live here as atomics; the storage engine keeps
//! its own (`rampart_storage::metrics::EngineMetrics`) and both are rendered
//! together in the Prometheus text format (version 0.0.4). [`series`] has
//! the labelled counter and histogram types other components keep.

pub mod series;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rampart_storage::metrics::{EngineMetrics, FSYNC_BUCKETS};
use rampart_storage::Db;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global `tracing` subscriber. `RUST_LOG` overrides the
/// configured level.
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second call (tests, admin commands) keeps the first subscriber.
    let _ = match config.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Counters of the ingest path.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    /// Samples stored, per tenant.
    samples_ingested: Mutex<BTreeMap<String, u64>>,
    /// Samples accepted as identical re-sends.
    pub samples_identical: AtomicU64,
    /// Samples refused, per reason.
    samples_rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Remote-write requests, per HTTP status code.
    requests: Mutex<BTreeMap<u16, u64>>,
    /// Series created.
    pub series_created: AtomicU64,
}

impl IngestMetrics {
    /// Counts stored samples of a tenant.
    pub fn add_ingested(&self, tenant: &str, n: u64) {
        if n > 0 {
            *self.samples_ingested.lock().entry(tenant.to_owned()).or_default() += n;
        }
    }

    /// Counts refused samples of one reason.
    pub fn add_rejected(&self, reason: &'static str, n: u64) {
        *self.samples_rejected.lock().entry(reason).or_default() += n;
    }

    /// Counts one request by its response status.
    pub fn add_request(&self, status: u16) {
        *self.requests.lock().entry(status).or_default() += 1;
    }
}

/// Upper bounds (seconds) of the query API latency histogram.
pub const QUERY_DURATION_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0];

/// Requests and latency of the query API, per route.
#[derive(Debug, Default)]
pub struct QueryMetrics {
    handlers: Mutex<BTreeMap<String, HandlerStats>>,
}

/// One route's counters.
#[derive(Debug, Default)]
struct HandlerStats {
    /// Requests per response status.
    by_code: BTreeMap<u16, u64>,
    /// Requests per latency bucket (not cumulative; the last is `+Inf`).
    buckets: [u64; QUERY_DURATION_BUCKETS.len() + 1],
    /// Total seconds.
    sum: f64,
}

impl QueryMetrics {
    /// Counts one request of `handler` (the route, e.g. `/api/v1/query`).
    pub fn observe(&self, handler: &str, code: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut handlers = self.handlers.lock();
        let stats = match handlers.get_mut(handler) {
            Some(s) => s,
            None => handlers.entry(handler.to_owned()).or_default(),
        };
        *stats.by_code.entry(code).or_default() += 1;
        let bucket = QUERY_DURATION_BUCKETS.iter().position(|&b| secs <= b).unwrap_or(QUERY_DURATION_BUCKETS.len());
        stats.buckets[bucket] += 1;
        stats.sum += secs;
    }

    fn render(&self, out: &mut String) {
        let handlers = self.handlers.lock();
        family(
            out,
            "rampart_query_requests_total",
            "counter",
            "Query API requests, by route and response status code.",
        );
        for (handler, s) in handlers.iter() {
            for (code, n) in &s.by_code {
                let _ = writeln!(
                    out,
                    "rampart_query_requests_total{{handler=\"{}\",code=\"{code}\"}} {n}",
                    escape(handler)
                );
            }
        }
        family(out, "rampart_query_request_duration_seconds", "histogram", "Latency of query API requests, by route.");
        for (handler, s) in handlers.iter() {
            let handler = escape(handler);
            let mut cumulative = 0;
            for (i, bound) in
                QUERY_DURATION_BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_owned()]).enumerate()
            {
                cumulative += s.buckets[i];
                let _ = writeln!(
                    out,
                    "rampart_query_request_duration_seconds_bucket{{handler=\"{handler}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(out, "rampart_query_request_duration_seconds_sum{{handler=\"{handler}\"}} {}", s.sum);
            let _ = writeln!(out, "rampart_query_request_duration_seconds_count{{handler=\"{handler}\"}} {cumulative}");
        }
    }
}

/// Renders every metric of the process.
pub fn render(ingest: &IngestMetrics, query: &QueryMetrics, db: Option<&Db>) -> String {
    let mut out = String::new();
    family(&mut out, "rampart_samples_ingested_total", "counter", "Samples stored, by tenant.");
    for (tenant, n) in ingest.samples_ingested.lock().iter() {
        let _ = writeln!(out, "rampart_samples_ingested_total{{tenant=\"{}\"}} {n}", escape(tenant));
    }
    family(
        &mut out,
        "rampart_samples_identical_total",
        "counter",
        "Samples identical to stored ones, accepted as no-ops.",
    );
    let _ = writeln!(out, "rampart_samples_identical_total {}", ingest.samples_identical.load(Ordering::Relaxed));
    family(&mut out, "rampart_samples_rejected_total", "counter", "Samples refused, by reason.");
    for (reason, n) in ingest.samples_rejected.lock().iter() {
        let _ = writeln!(out, "rampart_samples_rejected_total{{reason=\"{reason}\"}} {n}");
    }
    family(&mut out, "rampart_write_requests_total", "counter", "Remote-write requests, by response status code.");
    for (code, n) in ingest.requests.lock().iter() {
        let _ = writeln!(out, "rampart_write_requests_total{{code=\"{code}\"}} {n}");
    }
    family(&mut out, "rampart_series_created_total", "counter", "Series created.");
    let _ = writeln!(out, "rampart_series_created_total {}", ingest.series_created.load(Ordering::Relaxed));
    query.render(&mut out);
    family(&mut out, "rampart_ready", "gauge", "1 once the WAL is replayed and the store serves requests.");
    let _ = writeln!(out, "rampart_ready {}", u8::from(db.is_some()));
    if let Some(db) = db {
        render_engine(&mut out, db);
    }
    out
}

fn render_engine(out: &mut String, db: &Db) {
    let m: &EngineMetrics = db.metrics();
    let counters: [(&str, &str, &AtomicU64); 8] = [
        ("rampart_head_flushes_total", "Head flushes to RocksDB.", &m.flushes),
        ("rampart_head_flush_failures_total", "Head flushes that failed.", &m.flush_failures),
        ("rampart_chunks_persisted_total", "Chunks written to RocksDB by head flushes.", &m.chunks_persisted),
        ("rampart_compactions_total", "Compaction runs.", &m.compactions),
        ("rampart_compaction_failures_total", "Compaction runs that failed.", &m.compaction_failures),
        ("rampart_partitions_sealed_total", "Partitions sealed.", &m.partitions_sealed),
        ("rampart_partitions_dropped_total", "Partitions dropped by retention.", &m.partitions_dropped),
        (
            "rampart_wal_corruption_bytes_dropped_total",
            "Bytes cut from a torn or corrupted WAL tail at start-up.",
            &m.wal_bytes_dropped,
        ),
    ];
    for (name, help, v) in counters {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
    }
    family(out, "rampart_head_series", "gauge", "Series held in memory.");
    let _ = writeln!(out, "rampart_head_series {}", db.head_series());
    family(out, "rampart_wal_bytes", "gauge", "Bytes of WAL segments and checkpoints on disk.");
    let _ = writeln!(out, "rampart_wal_bytes {}", db.wal_bytes());
    family(out, "rampart_storage_partition_bytes", "gauge", "Bytes on disk of each partition.");
    for p in db.persist().partitions() {
        let _ = writeln!(
            out,
            "rampart_storage_partition_bytes{{partition_start=\"{}\"}} {}",
            p.start,
            db.persist().partition_bytes(p.start)
        );
    }
    family(out, "rampart_wal_fsync_duration_seconds", "histogram", "Latency of WAL fsyncs.");
    let mut cumulative = 0;
    for (i, bound) in FSYNC_BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_owned()]).enumerate() {
        cumulative += m.fsync_buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(out, "rampart_wal_fsync_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(
        out,
        "rampart_wal_fsync_duration_seconds_sum {}",
        m.fsync_sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
    );
    let _ = writeln!(out, "rampart_wal_fsync_duration_seconds_count {cumulative}");
}

/// Writes a metric family of one unlabelled sample.
pub(crate) fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Writes the `# HELP` and `# TYPE` lines of a metric family.
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value for the text exposition format.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
