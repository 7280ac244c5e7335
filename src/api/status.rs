//! `/api/v1/status/*`: what clients read to recognise a Prometheus-
//! compatible server and what the Prometheus UI's status pages show.
//!
//! - `buildinfo`: Prometheus's fields with Rampart's version (Grafana reads
//!   it when a data source is added).
//! - `tsdb`: head statistics and the cardinality top lists, computed from
//!   the tenant's series index (Prometheus computes them from its head
//!   block's postings; here every series the tenant has is counted).
//!   `chunkCount` is 0 (chunks are not counted per tenant), and
//!   `minTime`/`maxTime` are the bounds of the partitions holding the
//!   tenant's samples, not the exact sample times.
//! - `runtimeinfo` and `flags`: the shapes Prometheus answers with, filled
//!   with what Rampart knows.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rampart_storage::labels::METRIC_NAME;
use rampart_storage::Db;
use serde::Serialize;

use super::exec::blocking;
use super::request::ApiRequest;
use super::response::{ApiError, ApiSuccess};
use super::AppState;
use crate::duration::format_duration;

/// Default length of each top list.
const DEFAULT_TOP: usize = 10;
/// Longest top list a request may ask for.
const MAX_TOP: usize = 10_000;

/// `GET /api/v1/status/buildinfo`: Prometheus's `PrometheusVersion`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildInfo {
    version: &'static str,
    revision: &'static str,
    branch: &'static str,
    build_user: &'static str,
    build_date: &'static str,
    go_version: &'static str,
}

/// `GET /api/v1/status/buildinfo`.
pub async fn build_info() -> Response {
    result(ApiSuccess::json(&BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        revision: option_env!("RAMPART_REVISION").unwrap_or("unknown"),
        branch: option_env!("RAMPART_BRANCH").unwrap_or("unknown"),
        build_user: "",
        build_date: "",
        go_version: "",
    }))
}

/// Prometheus's `RuntimeInfo`, in its field order.
#[derive(Serialize)]
struct RuntimeInfo {
    #[serde(rename = "startTime")]
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    hostname: String,
    #[serde(rename = "serverTime")]
    server_time: String,
    #[serde(rename = "reloadConfigSuccess")]
    reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    last_config_time: String,
    #[serde(rename = "corruptionCount")]
    corruption_count: u64,
    #[serde(rename = "goroutineCount")]
    goroutine_count: u64,
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    #[serde(rename = "GOMEMLIMIT")]
    gomemlimit: i64,
    #[serde(rename = "GOGC")]
    gogc: &'static str,
    #[serde(rename = "GODEBUG")]
    godebug: &'static str,
    #[serde(rename = "storageRetention")]
    storage_retention: String,
}

/// `GET /api/v1/status/runtimeinfo`.
pub async fn runtime_info(State(state): State<Arc<AppState>>) -> Response {
    result(state.db().and_then(|db| {
        let started = chrono::DateTime::<chrono::Utc>::from(state.started);
        let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        ApiSuccess::json(&RuntimeInfo {
            start_time: time(started),
            cwd: std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
            hostname: hostname(),
            server_time: time(chrono::Utc::now()),
            reload_config_success: true,
            last_config_time: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            corruption_count: 0,
            goroutine_count: 0,
            gomaxprocs: std::thread::available_parallelism().map_or(1, usize::from),
            gomemlimit: 0,
            gogc: "",
            godebug: "",
            storage_retention: format_duration(db.options().retention),
        })
    }))
}

/// `GET /api/v1/status/flags`: the settings that correspond to
/// Prometheus's flags, under Prometheus's flag names.
pub async fn flags(State(state): State<Arc<AppState>>) -> Response {
    let q = state.queries.config();
    let mut flags = BTreeMap::from([
        ("query.lookback-delta", format_duration(q.effective_lookback())),
        ("query.max-samples", q.max_samples.to_string()),
        ("query.timeout", format_duration(q.timeout)),
        ("query.max-concurrency", q.max_concurrency.to_string()),
    ]);
    if let Some(db) = state.db.get() {
        flags.insert("storage.tsdb.retention.time", format_duration(db.options().retention));
        flags.insert("storage.tsdb.path", db.options().data_dir.display().to_string());
    }
    result(ApiSuccess::json(&flags))
}

/// One row of a top list.
#[derive(Serialize)]
struct Stat {
    name: String,
    value: u64,
}

/// Prometheus's `HeadStats`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadStats {
    num_series: u64,
    num_label_pairs: u64,
    chunk_count: u64,
    min_time: i64,
    max_time: i64,
}

/// Prometheus's `TSDBStatus`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TsdbStatus {
    head_stats: HeadStats,
    series_count_by_metric_name: Vec<Stat>,
    label_value_count_by_label_name: Vec<Stat>,
    memory_in_bytes_by_label_name: Vec<Stat>,
    series_count_by_label_value_pair: Vec<Stat>,
}

/// `GET /api/v1/status/tsdb` (`limit`: length of the top lists, 1 to 10000).
pub async fn tsdb(State(state): State<Arc<AppState>>, req: ApiRequest) -> Response {
    result(tsdb_status(&state, req).await)
}

async fn tsdb_status(state: &AppState, req: ApiRequest) -> Result<ApiSuccess, ApiError> {
    let db = state.db()?;
    let limit = match req.params.get("limit") {
        None => DEFAULT_TOP,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Err(ApiError::bad_data("limit must be a positive number")),
        },
    };
    if limit > MAX_TOP {
        return Err(ApiError::bad_data(format!("limit must not exceed {MAX_TOP}")));
    }
    let status = blocking(|| Ok(cardinality(&db, req.tenant.as_str(), limit)?))?;
    ApiSuccess::json(&status)
}

/// Prometheus's `TSDBStatus` for one tenant.
fn cardinality(db: &Db, tenant: &str, limit: usize) -> rampart_storage::Result<TsdbStatus> {
    let persist = db.persist();
    let mut by_metric = TopN::new(limit);
    let mut values_per_name = TopN::new(limit);
    let mut bytes_per_name = TopN::new(limit);
    let mut series_per_pair = TopN::new(limit);
    let mut num_series = 0;
    let mut num_label_pairs = 0u64;
    if let Some(id) = persist.tenant_id(tenant) {
        num_series = persist.all_series(id)?.len() as u64;
        for name in persist.label_names(id)? {
            let (mut values, mut bytes) = (0u64, 0u64);
            persist.scan_label_values(id, &name, |value, ids| {
                let series = ids.len() as u64;
                values += 1;
                bytes += label_bytes(&name, value) * series;
                if name == METRIC_NAME {
                    by_metric.push(value, series);
                }
                series_per_pair.push(&format!("{name}={value}"), series);
            })?;
            num_label_pairs += values;
            values_per_name.push(&name, values);
            bytes_per_name.push(&name, bytes);
        }
    }
    let (min_time, max_time) = data_bounds(db, tenant)?;
    Ok(TsdbStatus {
        head_stats: HeadStats { num_series, num_label_pairs, chunk_count: 0, min_time, max_time },
        series_count_by_metric_name: by_metric.into_sorted(),
        label_value_count_by_label_name: values_per_name.into_sorted(),
        memory_in_bytes_by_label_name: bytes_per_name.into_sorted(),
        series_count_by_label_value_pair: series_per_pair.into_sorted(),
    })
}

/// Bytes of one label in Prometheus's default label encoding
/// (`SizeOfLabels` of stringlabels): each string with its length prefix,
/// one byte below 255, four from there.
fn label_bytes(name: &str, value: &str) -> u64 {
    let prefix = |len: usize| if len < 255 { 1 } else { 4 };
    (name.len() + prefix(name.len()) + value.len() + prefix(value.len())) as u64
}

/// The first and last millisecond of the partitions that hold the
/// tenant's samples (partition precision: exact bounds would mean reading
/// every series); `(i64::MAX, i64::MIN)` without data, as Prometheus
/// reports an empty head.
fn data_bounds(db: &Db, tenant: &str) -> rampart_storage::Result<(i64, i64)> {
    let width = i64::try_from(db.options().partition_duration.as_millis()).unwrap_or(i64::MAX).max(1);
    let mut starts: Vec<i64> = db.persist().partitions().iter().map(|p| p.start).collect();
    // Samples still only in memory may lie after every stored partition.
    let now_start = crate::now_ms().div_euclid(width) * width;
    starts.extend([now_start - width, now_start, now_start + width]);
    starts.sort_unstable();
    starts.dedup();
    let has_data = |start: i64| -> rampart_storage::Result<bool> {
        let end = start.saturating_add(width - 1);
        Ok(!db.querier(tenant, start, end).label_values(METRIC_NAME, &[])?.is_empty())
    };
    let mut min = i64::MAX;
    for &s in &starts {
        if has_data(s)? {
            min = s;
            break;
        }
    }
    let mut max = i64::MIN;
    for &s in starts.iter().rev() {
        if s < min {
            break;
        }
        if has_data(s)? {
            max = s.saturating_add(width - 1);
            break;
        }
    }
    Ok((min, max))
}

/// The `limit` largest counts, ties broken by name.
struct TopN {
    limit: usize,
    heap: BinaryHeap<Reverse<(u64, Reverse<String>)>>,
}

impl TopN {
    fn new(limit: usize) -> Self {
        Self { limit, heap: BinaryHeap::new() }
    }

    fn push(&mut self, name: &str, value: u64) {
        if self.heap.len() == self.limit {
            match self.heap.peek() {
                Some(Reverse((min, _))) if value > *min => {
                    self.heap.pop();
                }
                _ => return,
            }
        }
        self.heap.push(Reverse((value, Reverse(name.to_owned()))));
    }

    fn into_sorted(self) -> Vec<Stat> {
        let mut rows: Vec<(u64, String)> = self.heap.into_iter().map(|Reverse((v, Reverse(n)))| (v, n)).collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        rows.into_iter().map(|(value, name)| Stat { name, value }).collect()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

fn result(r: Result<ApiSuccess, ApiError>) -> Response {
    match r {
        Ok(ok) => ok.into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_bytes_count_length_prefixes() {
        assert_eq!(label_bytes("job", "api"), 8);
        assert_eq!(label_bytes("a", &"x".repeat(300)), 1 + 1 + 300 + 4);
    }

    #[test]
    fn top_n_keeps_the_largest_sorted() {
        let mut t = TopN::new(2);
        for (n, v) in [("a", 1), ("b", 5), ("c", 3), ("d", 5), ("e", 0)] {
            t.push(n, v);
        }
        let rows: Vec<(String, u64)> = t.into_sorted().into_iter().map(|s| (s.name, s.value)).collect();
        assert_eq!(rows, vec![("b".to_owned(), 5), ("d".to_owned(), 5)]);
    }
}
