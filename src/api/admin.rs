//! Admin endpoints.
//!
//! - `POST /api/v1/admin/flush`: persists the whole head, merges every open
//!   partition and rewrites its files, so that disk usage shows the
//!   compacted form (used by benchmarks and before backups). Answers with a
//!   JSON summary.
//! - `POST|PUT /api/v1/admin/tsdb/delete_series`: Prometheus's delete API
//!   (`match[]` repeated and required, optional `start`/`end`), 204 on
//!   success, `bad_data` on bad input. Every call, refused or not, is an
//!   audit event; each selector is a manifest entry (`Db::delete_series`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, Method, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::params::{parse_matcher_sets, time_param, MAX_TIME_MS, MIN_TIME_MS};
use super::request::ApiRequest;
use super::response::{ApiError, ApiSuccess};
use super::AppState;
use crate::audit::{Action, AuditEvent, Outcome};

/// Who deletes, until requests carry an authenticated principal.
const ANONYMOUS: &str = "anonymous";
const DELETE_SERIES_PATH: &str = "/api/v1/admin/tsdb/delete_series";

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
/// `deleteSeries`), recording the call in the audit log.
pub async fn delete_series(
    State(state): State<Arc<AppState>>,
    extensions: Extensions,
    method: Method,
    request: Result<ApiRequest, ApiError>,
) -> Result<ApiSuccess, ApiError> {
    let source = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (tenant, target, result) = match request {
        Ok(req) => {
            let target = delete_target(&method, &req);
            let result = run_delete(&state, &req).await;
            (req.tenant.as_str().to_owned(), target, result)
        }
        Err(e) => (String::new(), format!("{method} {DELETE_SERIES_PATH}"), Err(e)),
    };
    let outcome = if result.is_ok() { Outcome::Success } else { Outcome::Error };
    state.audit.record(AuditEvent {
        principal: ANONYMOUS.into(),
        tenant,
        action: Action::Admin,
        target,
        outcome,
        source,
    });
    result
}

/// `POST /api/v1/admin/tsdb/delete_series match[]=<selector> ... start=<ms> end=<ms>`:
/// the audit target, with the selectors as sent and the times as applied.
fn delete_target(method: &Method, req: &ApiRequest) -> String {
    let mut target = format!("{method} {DELETE_SERIES_PATH}");
    for m in req.params.all("match[]") {
        target.push_str(" match[]=");
        target.push_str(m);
    }
    for (name, default) in [("start", MIN_TIME_MS), ("end", MAX_TIME_MS)] {
        match time_param(&req.params, name, default) {
            Ok(t) => target.push_str(&format!(" {name}={t}")),
            Err(_) => target.push_str(&format!(" {name}={}", req.params.get(name).unwrap_or_default())),
        }
    }
    target
}

async fn run_delete(state: &AppState, req: &ApiRequest) -> Result<ApiSuccess, ApiError> {
    let selectors = req.params.all("match[]");
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = time_param(&req.params, "start", MIN_TIME_MS)?;
    let end = time_param(&req.params, "end", MAX_TIME_MS)?;
    let sets = parse_matcher_sets(&selectors).map_err(|e| ApiError::invalid_param("match[]", e))?;
    let db = state.db()?;
    let tenant = req.tenant.as_str().to_owned();
    tokio::task::spawn_blocking(move || {
        for matchers in &sets {
            db.delete_series(&tenant, matchers, start, end, ANONYMOUS)?;
        }
        Ok::<_, rampart_storage::Error>(())
    })
    .await
    .map_err(|e| ApiError::internal(format!("delete_series task: {e}")))??;
    Ok(ApiSuccess::no_content())
}
