//! What an operator sees of a relay: `/-/healthy`, `/-/ready`, `/metrics`
//! (counters plus queue and HA gauges) and `GET /api/v1/relay/status`
//! (queue depth, and per tenant and cluster the elected replica, since when,
//! and its failovers).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::Relay;
use crate::telemetry::{escape, family};

/// Liveness.
pub async fn healthy() -> &'static str {
    "Rampart relay is Healthy.\n"
}

/// Readiness: the relay only serves once its queue is open.
pub async fn ready() -> &'static str {
    "Rampart relay is Ready.\n"
}

/// Prometheus text exposition of the relay's metrics.
pub async fn metrics(State(relay): State<Arc<Relay>>) -> impl IntoResponse {
    let mut out = String::new();
    relay.metrics.render(&mut out);
    family(&mut out, "rampart_relay_queue_bytes", "gauge", "Bytes of the durable queue on disk.");
    let _ = writeln!(out, "rampart_relay_queue_bytes {}", relay.queue.bytes());
    family(&mut out, "rampart_relay_queue_max_bytes", "gauge", "Limit of the durable queue (queue.max_bytes).");
    let _ = writeln!(out, "rampart_relay_queue_max_bytes {}", relay.queue.max_bytes());
    family(
        &mut out,
        "rampart_relay_queue_in_flight_records",
        "gauge",
        "Queue records handed to senders and not yet acknowledged by the store.",
    );
    let _ = writeln!(out, "rampart_relay_queue_in_flight_records {}", relay.tracker.lock().in_flight());
    let elections = relay.ha.snapshot();
    family(&mut out, "rampart_relay_ha_elected_replica", "gauge", "1 for the elected replica of each HA cluster.");
    for (tenant, clusters) in &elections.clusters {
        for (cluster, e) in clusters {
            let _ = writeln!(
                out,
                "rampart_relay_ha_elected_replica{{tenant=\"{}\",cluster=\"{}\",replica=\"{}\"}} 1",
                escape(tenant),
                escape(cluster),
                escape(&e.replica)
            );
        }
    }
    family(&mut out, "rampart_relay_ha_failovers_total", "counter", "Failovers of each HA cluster.");
    for (tenant, clusters) in &elections.clusters {
        for (cluster, e) in clusters {
            let _ = writeln!(
                out,
                "rampart_relay_ha_failovers_total{{tenant=\"{}\",cluster=\"{}\"}} {}",
                escape(tenant),
                escape(cluster),
                e.failovers
            );
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}

/// Queue and HA state as JSON.
pub async fn status(State(relay): State<Arc<Relay>>) -> Json<serde_json::Value> {
    let elections = relay.ha.snapshot();
    let clusters: Vec<serde_json::Value> = elections
        .clusters
        .iter()
        .flat_map(|(tenant, clusters)| {
            clusters.iter().map(move |(cluster, e)| {
                json!({
                    "tenant": tenant,
                    "cluster": cluster,
                    "elected_replica": e.replica,
                    "elected_at_ms": e.elected_at_ms,
                    "last_seen_ms": e.last_seen_ms,
                    "failovers": e.failovers,
                })
            })
        })
        .collect();
    Json(json!({
        "queue": {
            "bytes": relay.queue.bytes(),
            "max_bytes": relay.queue.max_bytes(),
            "in_flight_records": relay.tracker.lock().in_flight(),
            "caught_up": relay.tracker.lock().caught_up(),
        },
        "ha": {
            "failover_timeout_ms": relay.ha.failover_timeout().as_millis() as u64,
            "clusters": clusters,
        },
    }))
}
