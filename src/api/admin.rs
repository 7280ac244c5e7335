//! `POST /api/v1/admin/flush`: persists the whole head, merges every open
//! partition and rewrites its files, so that disk usage shows the compacted
//! form (used by benchmarks and before backups). Answers with a JSON summary.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

/// Flushes and compacts everything now.
pub async fn flush(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let Some(db) = state.db.get().cloned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "error", "errorType": "unavailable", "error": "replaying the WAL; retry once /-/ready answers 200"}),
            ),
        );
    };
    let result = tokio::task::spawn_blocking(move || {
        let flushed = db.flush_head(true)?;
        let compacted = db.compact(crate::now_ms(), true)?;
        // A second, empty flush replaces the checkpoint that still carried
        // the chunks the first one persisted.
        db.flush_head(false)?;
        Ok::<_, rampart_storage::Error>((flushed, compacted))
    })
    .await;
    match result {
        Ok(Ok((f, c))) => (
            StatusCode::OK,
            Json(json!({"status": "success", "data": {
                "chunks_flushed": f.chunks,
                "partitions_compacted": c.partitions_compacted,
                "chunks_before": c.chunks_before,
                "chunks_after": c.chunks_after,
                "partitions_sealed": c.partitions_sealed,
                "partitions_dropped": c.partitions_dropped,
            }})),
        ),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"status": "error", "errorType": "internal", "error": e.to_string()})),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"status": "error", "errorType": "internal", "error": e.to_string()})),
        ),
    }
}
