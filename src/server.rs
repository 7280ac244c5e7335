//! Runs the store (and, for `rampart all`, everything else in-process): binds
//! the listener, serves HTTP at once, opens the engine in the background
//! (then serves the admin socket of `crate::backup_cmd`), runs the periodic
//! head flush, compaction and tamper verification (`crate::verify`), and
//! shuts down on SIGTERM or SIGINT after a
//! final flush.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rampart_storage::Db;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::audit::AuditLog;
use crate::config::relay::RelayConfig;
use crate::config::Config;
use crate::promql::Engine;
use crate::rules::notifier::Notifier;
use crate::rules::{EvalEnv, Ruler};
use crate::tls::ServerTls;

/// Serves until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("listening on {}", config.listen))?;
    let tls = config.tls.is_enabled().then(|| ServerTls::load(&config.tls)).transpose().context("tls")?;
    tracing::info!(listen = %config.listen, https = tls.is_some(), data_dir = %config.data_dir.display(), "rampart starting");
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let audit = AuditLog::open(&config.audit, &config.data_dir)?;
    let access = api::auth::StoreAccess::new(&config.auth, config.source.clone());
    let state = Arc::new(
        AppState::new(config.ingest.clone()).with_query(config.query.clone()).with_audit(audit).with_access(access),
    );
    api::auth::reload_on_sighup(state.access.clone(), state.audit.clone());
    let lease = api::ha_tracker::HaLease::open(config.data_dir.join("ha_tracker.json"))
        .context("reading the HA lease state")?;
    let server = tokio::spawn({
        let app = api::router(state.clone(), Arc::new(lease));
        crate::tls::serve(listener, tls, app, shutdown_signal())
    });

    let opts = config.storage_options();
    let db = tokio::task::spawn_blocking(move || Db::open(opts)).await?.context("opening the storage engine")?;
    let db = Arc::new(db);
    let _ = state.db.set(db.clone());
    let ruler = start_ruler(&config, db.clone(), &state)?;
    let admin_socket = crate::backup_cmd::AdminSocket::start(&config.data_dir, db.clone())
        .inspect_err(|e| tracing::warn!(error = %format!("{e:#}"), "online backups unavailable"))
        .ok();
    tracing::info!("rampart ready");

    let flush = spawn_periodic(db.clone(), config.storage.head.flush_interval, |db| db.flush_head(false).map(|_| ()));
    let compact = spawn_periodic(db.clone(), config.storage.compaction.interval, |db| {
        db.compact(crate::now_ms(), false).map(|_| ())
    });
    let audit_dir = config.audit.directory(&config.data_dir);
    let verifier =
        Arc::new(crate::verify::Verifier::new(db.clone(), state.audit.clone(), audit_dir, config.verify.clone()));
    let _ = state.verifier.set(verifier.clone());
    let verify = verifier.spawn_periodic();

    server.await?.context("serving HTTP")?;
    if let Some(r) = &ruler {
        r.stop(NOTIFY_ON_SHUTDOWN).await;
    }
    flush.abort();
    compact.abort();
    if let Some(v) = verify {
        v.abort();
    }
    drop(admin_socket);
    tracing::info!("shutting down: flushing the head");
    let db = db.clone();
    tokio::task::spawn_blocking(move || db.flush_head(false)).await??;
    state.audit.sync();
    tracing::info!("rampart stopped");
    Ok(())
}

/// Starts rule evaluation when tenants have rule directories, and reloads
/// it on SIGHUP.
fn start_ruler(config: &Config, db: Arc<Db>, state: &AppState) -> anyhow::Result<Option<Arc<Ruler>>> {
    if config.rules.tenants.is_empty() {
        return Ok(None);
    }
    let engine = Engine::new(state.queries.engine_options(None));
    let notifier = if config.alerting.alertmanagers.is_empty() {
        None
    } else {
        let external = rampart_storage::Labels::from_pairs(config.rules.external_labels.clone());
        Some(Notifier::start(&config.alerting, external).context("starting the Alertmanager notifier")?)
    };
    let scheme = if config.tls.is_enabled() { "https" } else { "http" };
    let env = EvalEnv::from_config(&config.rules, db, engine, notifier, format!("{scheme}://{}", config.listen));
    let ruler = Ruler::new(config.rules.clone(), env, state.audit.clone());
    // Problems are logged and exposed by the ruler; good files run.
    let _ = ruler.reload();
    let _ = state.ruler.set(ruler.clone());
    let on_hup = ruler.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading rule files");
            let _ = on_hup.reload();
        }
    });
    Ok(Some(ruler))
}

/// How long queued alerts may take to reach Alertmanager at shutdown.
const NOTIFY_ON_SHUTDOWN: Duration = Duration::from_secs(5);

/// `rampart all`: the store, and the relay in front of it when a relay
/// config is given (forwarding to this store's listen address, over HTTPS
/// when the store serves it; the relay then trusts the certificates of the
/// store's `tls.cert_file` unless its `store.tls_config.ca_file` says
/// otherwise).
pub async fn run_all(config: Config, relay: Option<RelayConfig>) -> anyhow::Result<()> {
    let Some(mut relay) = relay else { return run(config).await };
    let scheme = if config.tls.is_enabled() { "https" } else { "http" };
    let mut store = config.listen;
    if store.ip().is_unspecified() {
        store.set_ip(if store.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
    }
    relay.store.url = format!("{scheme}://{store}/api/v1/write");
    if relay.store.tls_config.ca_file.is_none() {
        relay.store.tls_config.ca_file.clone_from(&config.tls.cert_file);
    }
    crate::relay::check_exposure(&relay, false)?;
    let relay = tokio::spawn(crate::relay::run(relay, shutdown_signal()));
    let store = run(config).await;
    relay.await.context("relay task")?.context("relay")?;
    store
}

/// Runs `job` on a blocking thread every `every`; errors are logged (and
/// counted by the engine), and the next run tries again.
fn spawn_periodic(
    db: Arc<Db>,
    every: Duration,
    job: fn(&Db) -> rampart_storage::Result<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let db = db.clone();
            // Errors are logged by the engine where they happen.
            let _ = tokio::task::spawn_blocking(move || job(&db)).await;
        }
    })
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
