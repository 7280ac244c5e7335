//! HTTP API: routes, shared state and the start-up gate.
//!
//! Handlers are thin: parse, call, render. The storage engine is opened in
//! the background while the server already answers, so that `/-/healthy`
//! and `/-/ready` (503 until the WAL is replayed) work during a long replay.

mod admin;
pub mod auth;
pub mod ha_tracker;
mod health;
mod write;

use std::sync::{Arc, OnceLock};

use axum::routing::{get, post};
use axum::Router;
use rampart_storage::Db;

use crate::ingest::IngestLimits;
use crate::telemetry::IngestMetrics;

/// State shared by all handlers.
pub struct AppState {
    /// The engine, once opened.
    pub db: OnceLock<Arc<Db>>,
    /// Remote-write limits.
    pub limits: IngestLimits,
    /// Ingest counters.
    pub metrics: IngestMetrics,
}

impl AppState {
    /// State with no engine yet.
    pub fn new(limits: IngestLimits) -> Self {
        Self { db: OnceLock::new(), limits, metrics: IngestMetrics::default() }
    }
}

/// All routes of the store.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/write", post(write::remote_write))
        .route("/api/v1/push", post(write::remote_write))
        .route("/api/v1/receive", post(write::remote_write))
        .route("/api/v1/admin/flush", post(admin::flush))
        .route("/-/healthy", get(health::healthy))
        .route("/-/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .layer(axum::extract::DefaultBodyLimit::max(usize::try_from(state.limits.max_body_bytes).unwrap_or(usize::MAX)))
        .with_state(state)
}
