//! `rampart relay`: the authenticated, multi-tenant, HA-deduplicating
//! remote-write relay in front of the store.
//!
//! Write path, one module per step:
//! [`auth`] (credentials → tenant, via `crate::auth`'s access layer) → `ingest` decode and validate (shared
//! with the store) → [`ha`] (elected replica per cluster, per series) →
//! [`relabel`] (per tenant) → [`limits`] (rate, active series) → [`shard`]
//! (a write nothing rewrites is one record of its body as sent, others one
//! record per forwarding shard) → [`queue`] (durable, fsynced) → 2xx; then
//! [`forward`] sends the queue to the store with retries. [`overrides`] holds each tenant's settings, [`metrics`] and
//! [`status`] make it observable, [`lease`] is the store-held HA election;
//! `crate::tls` serves HTTPS with optional client certificates.
//!
//! Invariant: a sample is acknowledged only once it is in the queue on
//! disk, and leaves the queue only once the store acknowledged it (or
//! refused it with a 4xx no retry can fix, which is counted and logged).

pub mod auth;
pub mod error;
pub mod forward;
pub mod ha;
pub mod lease;
pub mod limits;
pub mod metrics;
pub mod overrides;
pub mod queue;
mod receive;
pub mod relabel;
pub mod series;
pub mod shard;
mod status;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::{get, post};
use axum::Router;
use parking_lot::Mutex;
use rampart_storage::FsyncPolicy;
use tokio::net::TcpListener;

use crate::audit::{Action, AuditLog};
use crate::auth::{AccessControl, ErrorFormat, GuardedRouter, RefusalHook, Role, RouteRule, Scope};
use crate::config::relay::RelayConfig;
use crate::config::store::FsyncMode;
use crate::tls::ServerTls;
use forward::{ForwardSettings, Tracker};
use ha::HaTracker;
use limits::{RateLimiter, SeriesLimiter};
use metrics::RelayMetrics;
use overrides::Overrides;
use queue::{Queue, QueueOptions};

/// How often the HA state is saved when it changed.
const HA_SAVE_PERIOD: Duration = Duration::from_secs(1);

/// Everything a relay request needs.
pub struct Relay {
    access: Arc<AccessControl>,
    overrides: Overrides,
    queue: Arc<Queue>,
    ha: HaTracker,
    rate: RateLimiter,
    series: SeriesLimiter,
    metrics: Arc<RelayMetrics>,
    tracker: Arc<Mutex<Tracker>>,
    shards: u8,
}

/// Paths of remote write.
const WRITE_PATHS: [&str; 3] = ["/api/v1/write", "/api/v1/push", "/api/v1/receive"];

/// The relay's routes, each with the role it needs.
fn routes() -> GuardedRouter<Arc<Relay>> {
    let write = |path| RouteRule::new(path, &[Role::Write], Scope::Tenant, ErrorFormat::Text);
    let [write_path, push_path, receive_path] = WRITE_PATHS;
    GuardedRouter::default()
        .route(write(write_path), post(receive::remote_write))
        .route(write(push_path), post(receive::remote_write))
        .route(write(receive_path), post(receive::remote_write))
        // Every tenant's HA elections: an operator's view.
        .route(
            RouteRule::new("/api/v1/relay/status", &[Role::Admin], Scope::AllTenants, ErrorFormat::Text)
                .audited(Action::Read),
            get(status::status),
        )
        .route(RouteRule::new("/metrics", &[Role::Metrics], Scope::AllTenants, ErrorFormat::Text), get(status::metrics))
        .route(RouteRule::open("/-/healthy"), get(status::healthy))
        .route(RouteRule::open("/-/ready"), get(status::ready))
}

/// The rule of every route of the relay, as it serves them.
pub fn route_rules() -> Vec<RouteRule> {
    routes().rules().to_vec()
}

/// The relay's routes behind its access control.
fn router(relay: Arc<Relay>, audit: AuditLog) -> Router {
    let control = relay.access.clone();
    routes().map(|r| r.with_state(relay)).guard(control, audit).layer(axum::extract::DefaultBodyLimit::disable())
}

/// Counts refused writes as the write handler counts its own refusals.
fn count_refused_writes(metrics: Arc<RelayMetrics>) -> RefusalHook {
    Box::new(move |path, e| {
        if WRITE_PATHS.contains(&path) {
            metrics.requests_refused.add([e.reason()], 1);
            metrics.requests.add([&e.status().to_string()], 1);
        }
    })
}

/// Checks that an open relay (no tenants) only listens on loopback, unless
/// the operator said otherwise.
pub fn check_exposure(config: &RelayConfig, insecure_no_auth: bool) -> anyhow::Result<()> {
    let open = config.tenants.is_empty() && config.auth.credentials.is_empty();
    if open && !config.listen.ip().is_loopback() && !insecure_no_auth {
        anyhow::bail!(
            "refusing to listen on {} without credentials: anyone who reaches it could write as tenant \"default\". \
             Configure tenants with hashed credentials (rampart hash-secret), listen on 127.0.0.1, or pass \
             --insecure-no-auth",
            config.listen
        );
    }
    if open {
        tracing::warn!(listen = %config.listen, "relay: no tenants configured; writes are not authenticated");
    }
    Ok(())
}

/// Runs the relay until `shutdown` completes.
pub async fn run(config: RelayConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("listening on {}", config.listen))?;
    let tls = config.tls.is_enabled().then(|| ServerTls::load(&config.tls)).transpose().context("tls")?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the relay data directory {}", config.data_dir.display()))?;
    let bearer_token = match &config.store.bearer_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading store.bearer_token_file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let options = QueueOptions {
        max_bytes: config.queue.max_bytes,
        segment_size: config.queue.segment_size,
        fsync: match config.queue.fsync {
            FsyncMode::Always => FsyncPolicy::Always,
            FsyncMode::Interval => FsyncPolicy::Interval(config.queue.fsync_interval),
            FsyncMode::Never => FsyncPolicy::Never,
        },
    };
    let queue_dir = config.data_dir.join("queue");
    let (queue, cursor) = tokio::task::spawn_blocking(move || Queue::open(&queue_dir, &options))
        .await?
        .context("opening the relay queue")?;
    let queue = Arc::new(queue);
    let metrics = Arc::new(RelayMetrics::default());
    let store_client = forward::store_client(&config.store)?;
    let settings = ForwardSettings {
        url: config.store.url.clone(),
        bearer_token: bearer_token.clone(),
        tenant_header: config.store.tenant_header.clone(),
        shards: config.forward.shards,
        max_samples_per_send: config.forward.max_samples_per_send,
        min_backoff: config.forward.min_backoff,
        max_backoff: config.forward.max_backoff,
    };
    let tracker =
        forward::start(queue.clone(), cursor, forward::store_client(&config.store)?, settings, metrics.clone())
            .context("starting forwarding")?;
    let lease: Option<Box<dyn ha::Lease>> = if config.ha.store_lease {
        Some(Box::new(lease::StoreLease::new(
            store_client,
            &config.store.url,
            bearer_token,
            config.store.tenant_header.clone(),
            config.ha.failover_timeout,
            tokio::runtime::Handle::current(),
        )?))
    } else {
        None
    };
    let ha = HaTracker::open(
        config.data_dir.join("ha_tracker.json"),
        config.ha.failover_timeout,
        config.ha.update_timeout,
        lease,
        crate::now_ms(),
    )
    .context("reading the relay's HA state")?;
    let audit = AuditLog::open(&config.audit, &config.data_dir)?;
    let access = AccessControl::new(auth::authenticator(&config)?, auth::TENANT_HEADERS)
        .with_refusal_hook(count_refused_writes(metrics.clone()));
    let access = Arc::new(access);
    auth::reload_on_sighup(access.clone(), config.source.clone(), audit.clone());
    let relay = Arc::new(Relay {
        access,
        overrides: Overrides::new(config.limits.clone(), config.overrides.file.clone())?,
        queue: queue.clone(),
        ha,
        rate: RateLimiter::default(),
        series: SeriesLimiter::default(),
        metrics,
        tracker: tracker.clone(),
        shards: u8::try_from(config.forward.shards).unwrap_or(u8::MAX),
    });
    tracing::info!(listen = %config.listen, store = %config.store.url, tenants = config.tenants.len(), "relay ready");

    let background = [
        tokio::spawn(forward::persist_cursor(queue.clone(), tracker.clone())),
        tokio::spawn(save_ha_periodically(relay.clone())),
        tokio::spawn(reload_overrides(relay.clone(), config.overrides.reload_period)),
    ];
    crate::tls::serve(listener, tls, router(relay.clone(), audit), shutdown).await.context("serving HTTP")?;
    for task in background {
        task.abort();
    }
    forward::commit_cursor(&queue, &tracker, &mut None).await;
    if let Err(e) = relay.ha.save_if_dirty() {
        tracing::error!(error = %e, "relay: saving the HA state failed");
    }
    tracing::info!("relay stopped");
    Ok(())
}

async fn save_ha_periodically(relay: Arc<Relay>) {
    let mut tick = tokio::time::interval(HA_SAVE_PERIOD);
    loop {
        tick.tick().await;
        let r = relay.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || r.ha.save_if_dirty()).await {
            tracing::error!(error = %e, "relay: saving the HA state failed; retrying");
        }
    }
}

async fn reload_overrides(relay: Arc<Relay>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.tick().await;
    loop {
        tick.tick().await;
        match relay.overrides.reload_if_changed() {
            Ok(true) => tracing::info!("relay: overrides reloaded"),
            Ok(false) => {}
            Err(e) => {
                relay.metrics.overrides_reload_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(error = %e, "relay: overrides file refused; the previous overrides stay in force");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Access;

    #[test]
    fn writes_need_a_tenant_and_operator_views_every_tenant() {
        for rule in route_rules() {
            let want = match rule.path {
                "/-/healthy" | "/-/ready" => Access::Open,
                "/api/v1/relay/status" => Access::Role { any_of: &[Role::Admin], scope: Scope::AllTenants },
                "/metrics" => Access::Role { any_of: &[Role::Metrics], scope: Scope::AllTenants },
                p => {
                    assert!(WRITE_PATHS.contains(&p), "unexpected route {p}");
                    Access::Role { any_of: &[Role::Write], scope: Scope::Tenant }
                }
            };
            assert_eq!(rule.access, want, "{}", rule.path);
        }
    }
}
