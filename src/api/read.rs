//! `POST /api/v1/read`: Prometheus remote read, answered with raw samples.
//!
//! The request is a snappy-compressed `ReadRequest`; each query's matchers
//! (`=`, `!=`, `=~`, `!~`) select the tenant's series and its time range
//! (narrowed by the hints' range when they carry one) bounds the samples.
//! The answer is a snappy-compressed `ReadResponse` (`SAMPLES`). Readers
//! that prefer `STREAMED_XOR_CHUNKS` but also accept `SAMPLES` (Prometheus
//! 3's client sends `[STREAMED_XOR_CHUNKS, SAMPLES]`; 2.x sends nothing,
//! which means `SAMPLES`) get samples: Prometheus's client picks the
//! decoder by the response's `Content-Type`. A reader that accepts only
//! streamed chunks is refused with 400.
//!
//! Errors are plain text, as Prometheus's read handler writes them. Reads
//! share the query slots (`query.max_concurrency`) and deadline
//! (`query.timeout`); `query.max_samples` caps the samples of one query.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;
use rampart_storage::{MatchKind, Matcher};

use super::exec::Weight;
use super::request::tenant_of;
use super::AppState;
use crate::promql::QueryError;
use crate::proto::prometheus as pb;

/// Largest request accepted, compressed or not (Prometheus's `decodeReadLimit`).
const DECODE_READ_LIMIT: usize = 32 * 1024 * 1024;

/// A failed read: status and plain-text message.
struct ReadError(StatusCode, String);

impl IntoResponse for ReadError {
    fn into_response(self) -> Response {
        (self.0, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", self.1)).into_response()
    }
}

impl From<QueryError> for ReadError {
    fn from(e: QueryError) -> Self {
        let status = match e {
            QueryError::BadData(_) => StatusCode::BAD_REQUEST,
            QueryError::Timeout(_) | QueryError::Canceled(_) => StatusCode::SERVICE_UNAVAILABLE,
            QueryError::Execution(_) | QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, e.message().to_owned())
    }
}

/// Answers one remote-read request.
pub async fn remote_read(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    match read(&state, &headers, &body).await {
        Ok(compressed) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf"), (header::CONTENT_ENCODING, "snappy")],
            compressed,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn read(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, ReadError> {
    let Some(db) = state.db.get().cloned() else {
        return Err(ReadError(StatusCode::SERVICE_UNAVAILABLE, "not ready: replaying the WAL; retry shortly".into()));
    };
    let tenant = tenant_of(headers).map_err(|e| ReadError(StatusCode::BAD_REQUEST, e.message))?;
    let request = decode(body)?;
    negotiate(&request.accepted_response_types)?;
    let queries = request
        .queries
        .into_iter()
        .map(|q| Ok((range(&q), matchers(&q.matchers)?)))
        .collect::<Result<Vec<_>, ReadError>>()?;
    let exec = &state.queries;
    let max_samples = exec.config().max_samples;
    let opts = exec.engine_options(None);
    // Remote read streams raw samples of arbitrary ranges: always heavy.
    exec.run(exec.timeout(None), Weight::Heavy, opts, move |_| {
        let mut results = Vec::with_capacity(queries.len());
        for ((mint, maxt), matchers) in &queries {
            results.push(select(&db, tenant.as_str(), *mint, *maxt, matchers, max_samples)?);
        }
        let response = pb::ReadResponse { results };
        snap::raw::Encoder::new()
            .compress_vec(&response.encode_to_vec())
            .map_err(|e| QueryError::Internal(format!("snappy: {e}")))
    })
    .await
    .map_err(ReadError::from)
}

fn decode(body: &[u8]) -> Result<pb::ReadRequest, ReadError> {
    let bad = |m: String| ReadError(StatusCode::BAD_REQUEST, m);
    if body.len() > DECODE_READ_LIMIT {
        return Err(bad(format!("request body of {} bytes exceeds limit {DECODE_READ_LIMIT}", body.len())));
    }
    let len = snap::raw::decompress_len(body).map_err(|e| bad(format!("snappy: {e}")))?;
    if len > DECODE_READ_LIMIT {
        return Err(bad(format!("snappy: decoded length {len} exceeds limit {DECODE_READ_LIMIT}")));
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| bad(format!("snappy: {e}")))?;
    pb::ReadRequest::decode(raw.as_slice()).map_err(|e| bad(format!("decoding ReadRequest protobuf: {e}")))
}

/// `NegotiateResponseType`, with `SAMPLES` as the only type served.
fn negotiate(accepted: &[i32]) -> Result<(), ReadError> {
    let samples = pb::read_request::ResponseType::Samples as i32;
    if accepted.is_empty() || accepted.contains(&samples) {
        return Ok(());
    }
    let names: Vec<String> = accepted
        .iter()
        .map(|&t| {
            pb::read_request::ResponseType::try_from(t).map_or_else(|_| t.to_string(), |r| r.as_str_name().to_owned())
        })
        .collect();
    Err(ReadError(
        StatusCode::BAD_REQUEST,
        format!(
            "server does not support any of the requested response types: [{}]; supported: map[SAMPLES:{{}}]",
            names.join(" ")
        ),
    ))
}

/// The query's time range, narrowed to the hints' range when they carry one.
fn range(q: &pb::Query) -> (i64, i64) {
    let (mut mint, mut maxt) = (q.start_timestamp_ms, q.end_timestamp_ms);
    if let Some(h) = &q.hints {
        if h.start_ms != 0 || h.end_ms != 0 {
            mint = mint.max(h.start_ms);
            maxt = maxt.min(h.end_ms);
        }
    }
    (mint, maxt)
}

fn matchers(pbs: &[pb::LabelMatcher]) -> Result<Vec<Matcher>, ReadError> {
    use pb::label_matcher::Type;
    pbs.iter()
        .map(|m| {
            let kind = match Type::try_from(m.r#type) {
                Ok(Type::Eq) => MatchKind::Equal,
                Ok(Type::Neq) => MatchKind::NotEqual,
                Ok(Type::Re) => MatchKind::Regex,
                Ok(Type::Nre) => MatchKind::NotRegex,
                Err(_) => return Err(ReadError(StatusCode::BAD_REQUEST, "invalid matcher type".into())),
            };
            Matcher::new(kind, m.name.clone(), m.value.clone())
                .map_err(|e| ReadError(StatusCode::BAD_REQUEST, e.to_string()))
        })
        .collect()
}

/// One query's series with their samples (stale markers included, as
/// Prometheus returns them), at most `max_samples` samples in all.
fn select(
    db: &rampart_storage::Db,
    tenant: &str,
    mint: i64,
    maxt: i64,
    matchers: &[Matcher],
    max_samples: usize,
) -> Result<pb::QueryResult, QueryError> {
    let mut timeseries = Vec::new();
    if mint > maxt {
        return Ok(pb::QueryResult { timeseries });
    }
    let mut total = 0usize;
    for s in db.querier(tenant, mint, maxt).select(matchers)? {
        let samples = s.samples()?;
        total += samples.len();
        if total > max_samples {
            return Err(QueryError::BadData(format!("exceeded sample limit ({max_samples})")));
        }
        timeseries.push(pb::TimeSeries {
            labels: s.labels.iter().map(|l| pb::Label { name: l.name.clone(), value: l.value.clone() }).collect(),
            samples: samples.iter().map(|p| pb::Sample { value: p.v, timestamp: p.t }).collect(),
            ..Default::default()
        });
    }
    Ok(pb::QueryResult { timeseries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::read_request::ResponseType;

    #[test]
    fn hints_narrow_the_range_only_when_they_carry_one() {
        let q = |hints| pb::Query { start_timestamp_ms: 100, end_timestamp_ms: 900, matchers: vec![], hints };
        assert_eq!(range(&q(None)), (100, 900));
        assert_eq!(range(&q(Some(pb::ReadHints { step_ms: 15, ..Default::default() }))), (100, 900));
        assert_eq!(range(&q(Some(pb::ReadHints { start_ms: 200, end_ms: 2000, ..Default::default() }))), (200, 900));
        assert_eq!(range(&q(Some(pb::ReadHints { start_ms: 0, end_ms: 500, ..Default::default() }))), (100, 500));
    }

    #[test]
    fn samples_are_served_to_every_reader_that_accepts_them() {
        assert!(negotiate(&[]).is_ok());
        assert!(negotiate(&[ResponseType::StreamedXorChunks as i32, ResponseType::Samples as i32]).is_ok());
        let ReadError(status, text) = negotiate(&[ResponseType::StreamedXorChunks as i32]).expect_err("chunks only");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            "server does not support any of the requested response types: [STREAMED_XOR_CHUNKS]; supported: map[SAMPLES:{}]"
        );
    }
}
