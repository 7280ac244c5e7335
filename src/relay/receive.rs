//! `POST /api/v1/write` (and `/api/v1/push`, `/api/v1/receive`) on the
//! relay: (the access layer authenticated and chose the tenant) → read the body within the tenant's limit →
//! decode and validate exactly as the store does (the shared `ingest`
//! module) → HA deduplication → relabeling and external labels → rate and
//! series limits → durable queue → **only then** 2xx.
//!
//! Answers match the store's: 204 when everything was queued; 400 naming
//! each refused reason with counts and examples when part was refused (the
//! rest is queued); 413 for oversized bodies; plus what only the relay
//! answers (besides the access layer's 401 and 403): 429 with `Retry-After` over the rate, 503 with `Retry-After` when the
//! queue is full. Samples of non-elected HA replicas and samples relabeling
//! drops are acknowledged (204) and counted, as in Mimir.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;
use rampart_storage::{Labels, Metadata};

use super::error::RelayError;
use super::ha::HaLabels;
use super::limits::SeriesRefused;
use super::overrides::TenantSettings;
use super::queue::Record;
use super::series::{accepted_series, AcceptedSeries};
use super::Relay;
use crate::auth::RequestTenants;
use crate::error_class::ErrorClass;
use crate::ingest::{self, IngestError, Rejections, ValidatedWrite, WriteView};
use crate::proto::prometheus as pb;
use crate::tenant::TenantId;

/// Hash of a series' labels that picks its forwarding shard; fixed seeds,
/// so a series keeps its shard across restarts (and its samples their order).
static SHARD_HASH: ahash::RandomState = ahash::RandomState::with_seeds(0x5241, 0x4d50, 0x4152, 0x5421);

/// Reason of samples refused by `max_global_series_per_user`, as Mimir names it.
const MAX_SERIES_REASON: &str = "per_user_series_limit";

/// Receives one remote-write request.
///
/// The access layer authorized exactly one tenant (its route's scope).
pub async fn remote_write(
    State(relay): State<Arc<Relay>>,
    Extension(RequestTenants(tenants)): Extension<RequestTenants>,
    request: axum::extract::Request,
) -> Response {
    let Some(tenant) = tenants.into_iter().next() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the access layer authorized no tenant for this write\n")
            .into_response();
    };
    let (status, response) = match handle(&relay, tenant, request.into_body()).await {
        Ok((status, text)) => (status, (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), text).into_response()),
        Err(e) => {
            relay.metrics.requests_refused.add([e.reason()], 1);
            let status = e.class().http_status();
            if e.class() == ErrorClass::Internal {
                tracing::error!(error = %e, "relay: write failed");
            }
            (status, error_response(&e))
        }
    };
    relay.metrics.requests.add([&status.to_string()], 1);
    response
}

fn error_response(e: &RelayError) -> Response {
    let (status, text) = match e {
        RelayError::Ingest(inner) => ingest::respond_error(inner),
        _ => (e.class().http_status(), format!("{e}\n")),
    };
    let mut r = (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), text).into_response();
    if let Some(after) = e.retry_after() {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs().max(1)));
    }
    r
}

async fn handle(relay: &Arc<Relay>, tenant: TenantId, body: Body) -> Result<(u16, String), RelayError> {
    let settings = relay.overrides.get(tenant.as_str());
    let body = read_body(body, settings.ingest.max_body_bytes).await?;
    let relay = relay.clone();
    tokio::task::spawn_blocking(move || relay.process(&tenant, &settings, &body)).await?
}

/// The body, refused with 413 once it exceeds `limit` bytes (read no
/// further than that).
async fn read_body(body: Body, limit: u64) -> Result<bytes::Bytes, RelayError> {
    let too_large = || RelayError::Ingest(IngestError::BodyTooLarge { size: limit + 1, limit });
    match Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(RelayError::Body(e.to_string())),
    }
}

impl Relay {
    /// The blocking part of a write: everything after reading the body.
    fn process(&self, tenant: &TenantId, settings: &TenantSettings, body: &[u8]) -> Result<(u16, String), RelayError> {
        let t = tenant.as_str();
        let mut view = WriteView::new();
        ingest::decode(body, &settings.ingest, &mut view)?;
        let received: u64 = view.series().map(|s| s.samples().len() as u64).sum();
        self.metrics.received.add([t], received);
        let now = crate::now_ms();
        let mut v = ValidatedWrite::default();
        ingest::validate(&view, &settings.ingest, now, &mut v);
        let mut series = accepted_series(&v);
        for (reason, n, _) in v.rejections.iter() {
            if !reason.counts_exemplars() {
                self.metrics.rejected.add([t, reason.as_str()], n);
            }
        }

        let limits = &settings.limits;
        if limits.accept_ha_samples {
            let labels = HaLabels { cluster: &limits.ha_cluster_label, replica: &limits.ha_replica_label };
            let d = self.ha.deduplicate(t, labels, &mut series, now);
            self.metrics.deduplicated.add([t], d.samples);
        }
        let dropped = relabel(settings, &mut series);
        self.metrics.relabel_dropped.add([t], dropped);

        let samples: u64 = series.iter().map(|s| s.samples.len() as u64).sum();
        if let Err(retry_after) =
            self.rate.take(t, samples, limits.ingestion_rate, limits.ingestion_burst_size, Instant::now())
        {
            self.metrics.rejected.add([t, "rate_limited"], samples);
            return Err(RelayError::RateLimited {
                tenant: tenant.clone(),
                rate: limits.ingestion_rate,
                burst: limits.ingestion_burst_size,
                samples,
                retry_after,
            });
        }
        let refused = self.series.admit(
            t,
            &mut series,
            limits.max_global_series_per_user,
            limits.active_series_idle_timeout,
            now,
        );
        self.metrics.rejected.add([t, MAX_SERIES_REASON], refused.samples);

        if self.queue.is_full() {
            self.metrics.rejected.add([t, "queue_full"], samples);
            return Err(RelayError::QueueFull { bytes: self.queue.bytes(), limit: self.queue.max_bytes() });
        }
        let (records, queued) = encode(t, series, &v.metadata, self.shards);
        let payloads: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        self.queue.append(&payloads)?;
        self.metrics.accepted.add([t], queued);
        Ok(respond(queued, &v.rejections, &refused, tenant, limits.max_global_series_per_user))
    }
}

/// Applies the tenant's relabel steps and external labels; returns the
/// samples of dropped series.
fn relabel(settings: &TenantSettings, series: &mut Vec<AcceptedSeries>) -> u64 {
    let external = &settings.limits.external_labels;
    if settings.relabeler.is_empty() && external.is_empty() {
        return 0;
    }
    let mut dropped = 0;
    series.retain_mut(|s| match settings.relabeler.apply(&s.labels) {
        Some(labels) => {
            s.labels = if external.is_empty() {
                labels
            } else {
                let mut all = labels.into_vec();
                for (name, value) in external {
                    if !all.iter().any(|l| &l.name == name) {
                        all.push(rampart_storage::Label::new(name.clone(), value.clone()));
                    }
                }
                Labels::from_unsorted(all)
            };
            true
        }
        None => {
            dropped += s.samples.len() as u64;
            false
        }
    });
    dropped
}

/// Queue records for a tenant's series, one per shard that has any (series
/// go to the shard their labels hash to); metadata rides with shard 0.
/// Returns the encoded records and the samples they hold.
fn encode(tenant: &str, series: Vec<AcceptedSeries>, metadata: &[Metadata], shards: u8) -> (Vec<Vec<u8>>, u64) {
    let shards = usize::from(shards.max(1));
    let mut per_shard: Vec<(pb::WriteRequest, u64)> = vec![(pb::WriteRequest::default(), 0); shards];
    for s in series {
        let (req, n) = &mut per_shard[(SHARD_HASH.hash_one(&s.labels) % shards as u64) as usize];
        *n += s.samples.len() as u64;
        req.timeseries.push(to_proto(s));
    }
    per_shard[0].0.metadata = metadata.iter().map(metadata_to_proto).collect();
    let mut total = 0;
    let mut records = Vec::new();
    for (shard, (req, samples)) in per_shard.into_iter().enumerate() {
        if req.timeseries.is_empty() && req.metadata.is_empty() {
            continue;
        }
        total += samples;
        let body = snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .expect("snappy compression of an in-memory buffer cannot fail");
        records.push(
            Record {
                shard: u8::try_from(shard).unwrap_or(u8::MAX),
                tenant: tenant.to_owned(),
                samples: u32::try_from(samples).unwrap_or(u32::MAX),
                body,
            }
            .encode(),
        );
    }
    (records, total)
}

fn to_proto(s: AcceptedSeries) -> pb::TimeSeries {
    let label = |l: rampart_storage::Label| pb::Label { name: l.name, value: l.value };
    pb::TimeSeries {
        labels: s.labels.into_vec().into_iter().map(label).collect(),
        samples: s.samples.iter().map(|x| pb::Sample { value: x.v, timestamp: x.t }).collect(),
        exemplars: s
            .exemplars
            .into_iter()
            .map(|e| pb::Exemplar {
                labels: e.labels.into_vec().into_iter().map(label).collect(),
                value: e.v,
                timestamp: e.t,
            })
            .collect(),
        histograms: Vec::new(),
    }
}

fn metadata_to_proto(m: &Metadata) -> pb::MetricMetadata {
    use pb::metric_metadata::MetricType;
    let kind = match m.kind.as_str() {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::Gaugehistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::Stateset,
        _ => MetricType::Unknown,
    };
    pb::MetricMetadata {
        r#type: kind as i32,
        metric_family_name: m.metric_family.clone(),
        help: m.help.clone(),
        unit: m.unit.clone(),
    }
}

/// The store's answer format, with the relay's own refusals (the series
/// limit) listed after the validation reasons.
fn respond(
    queued: u64,
    rejections: &Rejections,
    refused: &SeriesRefused,
    tenant: &TenantId,
    limit: u64,
) -> (u16, String) {
    let (status, mut body) = ingest::respond(queued, rejections);
    if refused.series == 0 {
        return (status, body);
    }
    if body.is_empty() {
        body = format!("accepted {queued} samples, rejected {}:\n", refused.samples);
    }
    let _ = writeln!(
        body,
        "{} {MAX_SERIES_REASON}: per-user series limit of {limit} exceeded for tenant {tenant} \
         (max_global_series_per_user): {} new series refused, e.g. {}; reduce cardinality or ask for a higher limit",
        refused.samples,
        refused.series,
        refused.example.as_deref().unwrap_or_default()
    );
    (ErrorClass::BadInput.http_status(), body)
}
