//! `/-/healthy`, `/-/ready` and `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use super::AppState;

/// Liveness: the process serves HTTP.
pub async fn healthy() -> &'static str {
    "Rampart is Healthy.\n"
}

/// Readiness: the WAL is replayed and writes and reads are served.
pub async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    match state.db.get() {
        Some(_) => (StatusCode::OK, "Rampart is Ready.\n"),
        None => (StatusCode::SERVICE_UNAVAILABLE, "Rampart is not ready: replaying the WAL.\n"),
    }
}

/// Prometheus text exposition of Rampart's own metrics.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || {
        let mut out = crate::telemetry::render(&state.metrics, &state.query_metrics, state.db.get().map(|d| &**d));
        if let Some(r) = state.ruler.get() {
            r.render_metrics(&mut out);
        }
        state.audit.render_metrics(&mut out);
        if let Some(v) = state.verifier.get() {
            v.render_metrics(&mut out);
        }
        out
    })
    .await
    .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
