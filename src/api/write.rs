//! `POST /api/v1/write` (and `/api/v1/push`, `/api/v1/receive`): remote
//! write 1.0 into the storage engine. Parse, validate, append, answer.
//!
//! The work runs on the blocking pool (the append waits for the WAL), with
//! the pool thread's reused decode and validation buffers
//! ([`ingest::with_buffers`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use rampart_storage::{Db, RejectionKind};

use super::AppState;
use crate::ingest::{self, Buffers, IngestError, RejectReason, Rejections};
use crate::tenant;

/// Receives one remote-write request.
pub async fn remote_write(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (StatusCode, String) {
    let (status, text) = handle(&state, &headers, body).await;
    state.metrics.add_request(status);
    if status >= 500 {
        tracing::error!(status, error = %text, "remote write failed");
    }
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), text)
}

async fn handle(state: &Arc<AppState>, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> (u16, String) {
    let Some(db) = state.db.get().cloned() else {
        return (503, "not ready: replaying the WAL; retry shortly\n".into());
    };
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ingest::respond_error(&IngestError::BodyTooLarge {
                size: state.limits.max_body_bytes + 1,
                limit: state.limits.max_body_bytes,
            })
        }
        Err(e) => return (400, format!("reading request body: {e}\n")),
    };
    let tenant = match tenant::from_header_bytes(headers.get(tenant::TENANT_HEADER).map(|v| v.as_bytes())) {
        Ok(t) => t,
        Err(e) => return ingest::respond_error(&IngestError::Tenant(e)),
    };
    let state = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        ingest::with_buffers(|buffers| store(&state, &db, tenant.as_str(), &body, buffers))
    })
    .await;
    match result {
        Ok(Ok(answer)) => answer,
        // A storage failure: the sender should retry (identical re-sends are
        // no-ops), so this is a 5xx.
        Ok(Err(e)) => (500, format!("storing samples failed, retry: {e}\n")),
        Err(e) => (500, format!("storing samples failed, retry: {e}\n")),
    }
}

/// Decodes, validates and appends one body; `Err` only for storage failures.
fn store(
    state: &AppState,
    db: &Db,
    tenant: &str,
    body: &[u8],
    buffers: &mut Buffers,
) -> Result<(u16, String), rampart_storage::Error> {
    let Buffers { view, validated: v } = buffers;
    if let Err(e) = ingest::decode(body, &state.limits, view) {
        return Ok(ingest::respond_error(&e));
    }
    let now = crate::now_ms();
    ingest::validate(view, &state.limits, now, v);
    let appended = db.append(tenant, &v.series, now)?;
    db.put_metadata(tenant, &v.metadata)?;
    for r in &appended.rejections {
        let (reason, message): (RejectReason, fn(i64, &str) -> String) = match r.kind {
            RejectionKind::OutOfOrder => (RejectReason::OutOfOrder, |t, s| {
                format!("out of order sample: timestamp {t} of series {s} is older than its newest sample by more than the out-of-order window (storage.out_of_order_window)")
            }),
            RejectionKind::DuplicateTimestamp => (RejectReason::DuplicateTimestamp, |t, s| {
                format!("duplicate sample for timestamp {t} in series {s}: a different value is stored there and history is append-only")
            }),
            RejectionKind::OutOfBounds => (RejectReason::OutOfBounds, |t, s| {
                format!("out of bounds: timestamp {t} of series {s} is before the retention cut-off or in a sealed partition")
            }),
        };
        v.rejections.add(reason, 1, || message(r.sample.t, &v.series.get(r.series).labels().to_string()));
    }
    state.metrics.add_ingested(tenant, appended.appended);
    state.metrics.samples_identical.fetch_add(appended.identical, std::sync::atomic::Ordering::Relaxed);
    state.metrics.series_created.fetch_add(appended.series_created, std::sync::atomic::Ordering::Relaxed);
    count_rejections(state, &v.rejections);
    Ok(ingest::respond(appended.appended + appended.identical, &v.rejections))
}

fn count_rejections(state: &AppState, rejections: &Rejections) {
    for (reason, n, _) in rejections.iter() {
        // Exemplar refusals are not samples.
        if !reason.counts_exemplars() {
            state.metrics.add_rejected(reason.as_str(), n);
        }
    }
}
