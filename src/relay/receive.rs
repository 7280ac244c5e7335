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
use rampart_storage::Labels;

use super::error::RelayError;
use super::ha::HaLabels;
use super::limits::SeriesRefused;
use super::overrides::TenantSettings;
use super::series::{accepted_series, AcceptedSeries};
use super::shard::{with_sharded_write, ShardedWrite};
use super::Relay;
use crate::auth::RequestTenants;
use crate::config::relay::TenantLimits;
use crate::error_class::ErrorClass;
use crate::ingest::{self, Buffers, IngestError, Rejections, ValidatedWrite, WriteView};
use crate::tenant::TenantId;

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
    /// The blocking part of a write: everything after reading the body,
    /// with the thread's reused buffers.
    fn process(&self, tenant: &TenantId, settings: &TenantSettings, body: &[u8]) -> Result<(u16, String), RelayError> {
        ingest::with_buffers(|Buffers { view, validated }| {
            ingest::decode(body, &settings.ingest, view)?;
            with_sharded_write(self.shards, |shards| self.queue_write(tenant, settings, body, view, validated, shards))
        })
    }

    /// Validates a decoded write (`body` as sent, decoded into `view`),
    /// applies the tenant's HA, relabeling and limits, and queues what is
    /// accepted.
    fn queue_write(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
        body: &[u8],
        view: &WriteView,
        v: &mut ValidatedWrite,
        shards: &mut ShardedWrite,
    ) -> Result<(u16, String), RelayError> {
        let t = tenant.as_str();
        let received: u64 = view.series().map(|s| s.samples().len() as u64).sum();
        self.metrics.received.add([t], received);
        let now = crate::now_ms();
        ingest::validate(view, &settings.ingest, now, v);
        for (reason, n, _) in v.rejections.iter() {
            if !reason.counts_exemplars() {
                self.metrics.rejected.add([t, reason.as_str()], n);
            }
        }

        let limits = &settings.limits;
        let (queued, refused, records) = if passes_untouched(settings, v) {
            let samples = v.accepted_samples();
            self.take_rate(tenant, limits, samples)?;
            self.check_queue_space(t, samples)?;
            let series = view.series().filter(|s| !s.samples().is_empty() || s.exemplars().len() > 0);
            (samples, SeriesRefused::default(), shards.whole_record(t, samples, series, body))
        } else {
            let mut series = accepted_series(v);
            if limits.accept_ha_samples {
                let labels = HaLabels { cluster: &limits.ha_cluster_label, replica: &limits.ha_replica_label };
                let d = self.ha.deduplicate(t, labels, &mut series, now);
                self.metrics.deduplicated.add([t], d.samples);
            }
            let dropped = relabel(settings, &mut series);
            self.metrics.relabel_dropped.add([t], dropped);
            let samples: u64 = series.iter().map(|s| s.samples.len() as u64).sum();
            self.take_rate(tenant, limits, samples)?;
            let refused = self.series.admit(
                t,
                &mut series,
                limits.max_global_series_per_user,
                limits.active_series_idle_timeout,
                now,
            );
            self.metrics.rejected.add([t, MAX_SERIES_REASON], refused.samples);
            self.check_queue_space(t, samples)?;
            series.into_iter().for_each(|s| shards.push_owned(s));
            shards.push_metadata(&v.metadata);
            (shards.samples(), refused, shards.records(t))
        };
        self.queue.append(&records)?;
        self.metrics.accepted.add([t], queued);
        Ok(respond(queued, &v.rejections, &refused, tenant, limits.max_global_series_per_user))
    }

    /// Takes `samples` from the tenant's rate limit; 429 when over it.
    fn take_rate(&self, tenant: &TenantId, limits: &TenantLimits, samples: u64) -> Result<(), RelayError> {
        let t = tenant.as_str();
        self.rate.take(t, samples, limits.ingestion_rate, limits.ingestion_burst_size, Instant::now()).map_err(
            |retry_after| {
                self.metrics.rejected.add([t, "rate_limited"], samples);
                RelayError::RateLimited {
                    tenant: tenant.clone(),
                    rate: limits.ingestion_rate,
                    burst: limits.ingestion_burst_size,
                    samples,
                    retry_after,
                }
            },
        )
    }

    /// 503 when the queue is full (counting the `samples` refused).
    fn check_queue_space(&self, tenant: &str, samples: u64) -> Result<(), RelayError> {
        if self.queue.is_full() {
            self.metrics.rejected.add([tenant, "queue_full"], samples);
            return Err(RelayError::QueueFull { bytes: self.queue.bytes(), limit: self.queue.max_bytes() });
        }
        Ok(())
    }
}

/// True when the relay passes the request on exactly as sent: validation
/// refused nothing (so the store, validating the same bytes, accepts what
/// the relay accepted; labels with empty values, which validation drops,
/// mean "absent" to the store too), and the tenant has no HA
/// deduplication, relabeling, external labels or series limit.
fn passes_untouched(settings: &TenantSettings, v: &ValidatedWrite) -> bool {
    let limits = &settings.limits;
    v.rejections.is_empty()
        && !limits.accept_ha_samples
        && settings.relabeler.is_empty()
        && limits.external_labels.is_empty()
        && limits.max_global_series_per_user == 0
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
