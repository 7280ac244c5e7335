//! Admin endpoints.
//!
//! - `POST /api/v1/admin/flush`: persists the whole head, merges every open
//!   partition and rewrites its files, so that disk usage shows the
//!   compacted form (used by benchmarks and before backups). Answers with a
//!   JSON summary.
//! - `POST|PUT /api/v1/admin/tsdb/delete_series`: Prometheus's delete API
//!   (`match[]` repeated and required, optional `start`/`end`), 204 on
//!   success, `bad_data` on bad input. The access layer audits every call
//!   with the selectors and times this handler attaches; each selector is a
//!   manifest entry (`Db::delete_series`) naming the principal.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::access::with_query;
use super::params::{parse_matcher_sets, time_param, MAX_TIME_MS, MIN_TIME_MS};
use super::request::ApiRequest;
use super::response::{ApiError, ApiSuccess};
use super::AppState;
use crate::auth::Principal;

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

/// Deletes the selected series' samples in `[start, end]` (Prometheus's
/// `deleteSeries`) in the principal's name; the access layer records the
/// call, with the selectors and times this attaches, in the audit log.
pub async fn delete_series(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    request: Result<ApiRequest, ApiError>,
) -> Response {
    match request {
        Ok(req) => with_query(delete_target(&req), run_delete(&state, &req, &principal.name).await),
        Err(e) => e.into_response(),
    }
}

/// `match[]=<selector> ... start=<ms> end=<ms>`: what the audit record
/// names, the selectors as sent and the times as applied.
fn delete_target(req: &ApiRequest) -> String {
    let mut parts: Vec<String> = req.params.all("match[]").iter().map(|m| format!("match[]={m}")).collect();
    for (name, default) in [("start", MIN_TIME_MS), ("end", MAX_TIME_MS)] {
        match time_param(&req.params, name, default) {
            Ok(t) => parts.push(format!("{name}={t}")),
            Err(_) => parts.push(format!("{name}={}", req.params.get(name).unwrap_or_default())),
        }
    }
    parts.join(" ")
}

async fn run_delete(state: &AppState, req: &ApiRequest, requested_by: &str) -> Result<ApiSuccess, ApiError> {
    let selectors = req.params.all("match[]");
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = time_param(&req.params, "start", MIN_TIME_MS)?;
    let end = time_param(&req.params, "end", MAX_TIME_MS)?;
    let sets = parse_matcher_sets(&selectors).map_err(|e| ApiError::invalid_param("match[]", e))?;
    let db = state.db()?;
    let tenant = req.tenant.as_str().to_owned();
    let requested_by = requested_by.to_owned();
    tokio::task::spawn_blocking(move || {
        for matchers in &sets {
            db.delete_series(&tenant, matchers, start, end, &requested_by)?;
        }
        Ok::<_, rampart_storage::Error>(())
    })
    .await
    .map_err(|e| ApiError::internal(format!("delete_series task: {e}")))??;
    Ok(ApiSuccess::no_content())
}
