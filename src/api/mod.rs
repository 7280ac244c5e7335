//! HTTP API: routes, shared state and the start-up gate.
//!
//! Handlers are thin: parse, call, render. The storage engine is opened in
//! the background while the server already answers, so that `/-/healthy`
//! and `/-/ready` (503 until the WAL is replayed) work during a long replay.
//!
//! | module | owns |
//! |---|---|
//! | `write` | remote write |
//! | `query` | `query`, `query_range`, `format_query`, `parse_query` |
//! | `meta` | `series`, `labels`, `label/<name>/values`, `metadata`, `query_exemplars` |
//! | `status` | `status/buildinfo`, `status/tsdb`, `status/runtimeinfo`, `status/flags` |
//! | `read` | remote read |
//! | `rules` | `rules`, `alerts`, `/-/reload` |
//! | `request` | tenant and form parameters of a request |
//! | `params` | times, durations, limits, `match[]` selectors |
//! | `response` | the JSON envelope, error types and Prometheus's number formats |
//! | `exec` | query slots, deadlines, blocking threads |
//! | `ast_json` | `parse_query`'s syntax tree |
//! | `access` | request log lines and query API metrics |

mod access;
mod admin;
mod ast_json;
pub mod auth;
mod exec;
pub mod ha_tracker;
mod health;
mod meta;
mod params;
mod query;
mod read;
mod request;
mod response;
mod rules;
mod status;
mod write;

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use axum::http::{header, StatusCode};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use rampart_storage::Db;

use crate::audit::AuditLog;
use crate::config::QueryConfig;
use crate::ingest::IngestLimits;
use crate::rules::Ruler;
use crate::telemetry::{IngestMetrics, QueryMetrics};
pub use exec::QueryExecutor;
pub use response::{ApiError, ErrorType};

/// State shared by all handlers.
pub struct AppState {
    /// The engine, once opened.
    pub db: OnceLock<Arc<Db>>,
    /// Remote-write limits.
    pub limits: IngestLimits,
    /// Ingest counters.
    pub metrics: IngestMetrics,
    /// Query slots, deadlines and engine options.
    pub queries: QueryExecutor,
    /// Query API counters.
    pub query_metrics: QueryMetrics,
    /// When the process started.
    pub started: SystemTime,
    /// The rule evaluator, once the engine is open.
    pub ruler: OnceLock<Arc<Ruler>>,
    /// Where reads, admin actions and refusals are recorded.
    pub audit: AuditLog,
}

impl AppState {
    /// State with no engine yet and the default query limits.
    pub fn new(limits: IngestLimits) -> Self {
        Self {
            db: OnceLock::new(),
            limits,
            metrics: IngestMetrics::default(),
            queries: QueryExecutor::new(QueryConfig::default()),
            query_metrics: QueryMetrics::default(),
            started: SystemTime::now(),
            ruler: OnceLock::new(),
            audit: AuditLog::disabled(),
        }
    }

    /// The same state with these query limits.
    pub fn with_query(mut self, config: QueryConfig) -> Self {
        self.queries = QueryExecutor::new(config);
        self
    }

    /// The same state recording into this audit log.
    pub fn with_audit(mut self, audit: AuditLog) -> Self {
        self.audit = audit;
        self
    }

    /// The engine, or `unavailable` (503) while the WAL is replayed.
    pub fn db(&self) -> Result<Arc<Db>, ApiError> {
        self.db.get().cloned().ok_or_else(ApiError::not_ready)
    }
}

/// A query API route: OPTIONS is answered 204 (as Prometheus answers CORS
/// preflights) and other methods get Prometheus's 405 answer.
fn api_route(route: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    route.options(|| async { StatusCode::NO_CONTENT }).fallback(|| async {
        (StatusCode::METHOD_NOT_ALLOWED, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "Method Not Allowed\n")
    })
}

/// All routes of the store.
pub fn router(state: Arc<AppState>) -> Router {
    let query_api = Router::new()
        .route("/api/v1/query", api_route(get(query::instant).post(query::instant)))
        .route("/api/v1/query_range", api_route(get(query::range).post(query::range)))
        .route("/api/v1/format_query", api_route(get(query::format).post(query::format)))
        .route("/api/v1/parse_query", api_route(get(query::parse).post(query::parse)))
        .route("/api/v1/query_exemplars", api_route(get(meta::exemplars).post(meta::exemplars)))
        .route("/api/v1/series", api_route(get(meta::series).post(meta::series)))
        .route("/api/v1/labels", api_route(get(meta::label_names).post(meta::label_names)))
        .route("/api/v1/label/{name}/values", api_route(get(meta::label_values)))
        .route("/api/v1/metadata", api_route(get(meta::metadata)))
        .route("/api/v1/status/buildinfo", api_route(get(status::build_info)))
        .route("/api/v1/status/runtimeinfo", api_route(get(status::runtime_info)))
        .route("/api/v1/status/flags", api_route(get(status::flags)))
        .route("/api/v1/status/tsdb", api_route(get(status::tsdb)))
        .route("/api/v1/read", api_route(post(read::remote_read)))
        .route("/api/v1/rules", api_route(get(rules::rules)))
        .route("/api/v1/alerts", api_route(get(rules::alerts)))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), access::log_requests));
    Router::new()
        .route("/api/v1/write", post(write::remote_write))
        .route("/api/v1/push", post(write::remote_write))
        .route("/api/v1/receive", post(write::remote_write))
        .route("/api/v1/admin/flush", post(admin::flush))
        .route("/api/v1/admin/tsdb/delete_series", post(admin::delete_series).put(admin::delete_series))
        .route("/-/healthy", get(health::healthy))
        .route("/-/ready", get(health::ready))
        .route("/-/reload", post(rules::reload).put(rules::reload))
        .route("/metrics", get(health::metrics))
        .merge(query_api)
        .layer(axum::extract::DefaultBodyLimit::max(usize::try_from(state.limits.max_body_bytes).unwrap_or(usize::MAX)))
        .with_state(state)
}
