//! `POST /api/v1/write` (and `/api/v1/push`, `/api/v1/receive`): remote
//! write 1.0 into the storage engine. Parse, validate, append, answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use rampart_storage::{RejectionKind, SeriesAppend};

use super::AppState;
use crate::ingest::{self, IngestError, RejectReason, Rejections};
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
        let req = match ingest::decode(&body, &state.limits) {
            Ok(r) => r,
            Err(e) => return Ok(ingest::respond_error(&e)),
        };
        let now = crate::now_ms();
        let mut v = ingest::validate(req, &state.limits, now);
        let input: Vec<SeriesAppend<'_>> = v
            .series
            .iter()
            .map(|s| SeriesAppend { labels: &s.labels, samples: &s.samples, exemplars: &s.exemplars })
            .collect();
        let appended = db.append(tenant.as_str(), &input, now)?;
        db.put_metadata(tenant.as_str(), &v.metadata)?;
        for r in &appended.rejections {
            let labels = &v.series[r.series].labels;
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
            v.rejections.add(reason, 1, || message(r.sample.t, &labels.to_string()));
        }
        state.metrics.add_ingested(tenant.as_str(), appended.appended);
        state.metrics.samples_identical.fetch_add(appended.identical, std::sync::atomic::Ordering::Relaxed);
        state.metrics.series_created.fetch_add(appended.series_created, std::sync::atomic::Ordering::Relaxed);
        count_rejections(&state, &v.rejections);
        Ok::<_, rampart_storage::Error>(ingest::respond(appended.appended + appended.identical, &v.rejections))
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

fn count_rejections(state: &AppState, rejections: &Rejections) {
    for (reason, n, _) in rejections.iter() {
        // Exemplar refusals are not samples.
        if !reason.counts_exemplars() {
            state.metrics.add_rejected(reason.as_str(), n);
        }
    }
}
