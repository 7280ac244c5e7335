//! `POST /api/v1/ha_tracker/elect`: the HA lease held in the store, which
//! every relay replica asks so that they agree on the elected replica of
//! each (tenant, cluster). The rules are the relay's (`relay::ha::Elections`)
//! on the store's clock; the state is saved in the store's data directory
//! (`ha_tracker.json`, replaced atomically) after every change, so it
//! survives store restarts.
//!
//! Lock: `elections` is held for one decision and its save; saves are small
//! and calls are rare (per cluster, every relay's `ha.update_timeout`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use parking_lot::Mutex;

use crate::auth::{ErrorFormat, GuardedRouter, Role, RouteRule, Scope};
use crate::relay::ha::Elections;
use crate::relay::lease::{ElectRequest, ELECT_PATH};
use crate::tenant;

/// The store's lease state.
pub struct HaLease {
    elections: Mutex<Elections>,
    path: PathBuf,
}

impl HaLease {
    /// Loads the state from `path` (empty when absent).
    pub fn open(path: PathBuf) -> std::io::Result<Self> {
        Ok(Self { elections: Mutex::new(Elections::load(&path)?), path })
    }
}

/// The lease route: relays ask it on behalf of the tenant they write for.
pub fn routes() -> GuardedRouter<Arc<HaLease>> {
    GuardedRouter::default()
        .route(RouteRule::new(ELECT_PATH, &[Role::Write], Scope::Tenant, ErrorFormat::Text), post(elect))
}

async fn elect(State(lease): State<Arc<HaLease>>, headers: HeaderMap, Json(req): Json<ElectRequest>) -> Response {
    let tenant = match tenant::from_header_bytes(headers.get(tenant::TENANT_HEADER).map(|v| v.as_bytes())) {
        Ok(t) => t,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let lease2 = lease.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut elections = lease2.elections.lock();
        let before = elections.get(tenant.as_str(), &req.cluster).cloned();
        let timeout = Duration::from_millis(req.failover_timeout_ms);
        let e = elections
            .observe(tenant.as_str(), &req.cluster, &req.replica, crate::now_ms(), req.max_ts, timeout)
            .clone();
        if before.as_ref() != Some(&e) {
            elections.save(&lease2.path)?;
        }
        Ok::<_, std::io::Error>(e)
    })
    .await;
    match result {
        Ok(Ok(e)) => Json(e).into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "ha lease: saving the state failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("saving the HA lease failed, retry: {e}\n")).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("HA lease failed, retry: {e}\n")).into_response(),
    }
}
