//! The relay's own metrics (`rampart_relay_*` at its `/metrics`): counters
//! kept here, gauges (queue depth and bytes, elected replicas) read from
//! their owners when rendered.
//!
//! Each counter map has its own lock, held only to add or to render.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::telemetry::family;
use crate::telemetry::series::{Counter, Latency};

/// Counters of the relay.
pub struct RelayMetrics {
    /// Write requests by response status.
    pub requests: Counter<1>,
    /// Whole requests refused, by reason.
    pub requests_refused: Counter<1>,
    /// Samples in readable requests, by tenant.
    pub received: Counter<1>,
    /// Samples queued (acknowledged), by tenant.
    pub accepted: Counter<1>,
    /// Samples dropped as non-elected HA replicas, by tenant.
    pub deduplicated: Counter<1>,
    /// Samples dropped by relabeling, by tenant.
    pub relabel_dropped: Counter<1>,
    /// Samples refused, by tenant and reason.
    pub rejected: Counter<2>,
    /// Samples the store acknowledged.
    pub forwarded: Counter<1>,
    /// Samples the store refused for good (4xx), by status code.
    pub forward_refused: Counter<1>,
    /// Retried forwarding requests, by cause (status code or `network`).
    pub forward_retries: Counter<1>,
    /// Failed reloads of the overrides file.
    pub overrides_reload_failures: AtomicU64,
    /// Latency of forwarding requests.
    pub forward_latency: Latency,
}

impl Default for RelayMetrics {
    fn default() -> Self {
        Self {
            requests: Counter::new("rampart_relay_requests_total", "Write requests, by response status.", ["code"]),
            requests_refused: Counter::new(
                "rampart_relay_requests_refused_total",
                "Write requests refused whole, by reason.",
                ["reason"],
            ),
            received: Counter::new(
                "rampart_relay_samples_received_total",
                "Samples in readable write requests, by tenant.",
                ["tenant"],
            ),
            accepted: Counter::new(
                "rampart_relay_samples_accepted_total",
                "Samples written to the durable queue and acknowledged, by tenant.",
                ["tenant"],
            ),
            deduplicated: Counter::new(
                "rampart_relay_samples_deduplicated_total",
                "Samples of non-elected HA replicas, acknowledged and dropped, by tenant.",
                ["tenant"],
            ),
            relabel_dropped: Counter::new(
                "rampart_relay_samples_relabel_dropped_total",
                "Samples dropped by relabeling, by tenant.",
                ["tenant"],
            ),
            rejected: Counter::new(
                "rampart_relay_samples_rejected_total",
                "Samples refused, by tenant and reason.",
                ["tenant", "reason"],
            ),
            forwarded: Counter::new(
                "rampart_relay_samples_forwarded_total",
                "Samples the store acknowledged, by tenant.",
                ["tenant"],
            ),
            forward_refused: Counter::new(
                "rampart_relay_samples_forward_refused_total",
                "Samples in requests the store refused with a 4xx no retry can fix, by status code.",
                ["code"],
            ),
            forward_retries: Counter::new(
                "rampart_relay_forward_retries_total",
                "Forwarding requests retried, by cause (status code or network).",
                ["cause"],
            ),
            overrides_reload_failures: AtomicU64::new(0),
            forward_latency: Latency::default(),
        }
    }
}

impl RelayMetrics {
    /// Renders the counters (the gauges are rendered by their owners).
    pub fn render(&self, out: &mut String) {
        for c in [
            &self.requests,
            &self.requests_refused,
            &self.received,
            &self.accepted,
            &self.deduplicated,
            &self.relabel_dropped,
            &self.forwarded,
            &self.forward_refused,
            &self.forward_retries,
        ] {
            c.render(out);
        }
        self.rejected.render(out);
        family(out, "rampart_relay_overrides_reload_failures_total", "counter", "Overrides file reloads refused.");
        let _ = writeln!(
            out,
            "rampart_relay_overrides_reload_failures_total {}",
            self.overrides_reload_failures.load(Ordering::Relaxed)
        );
        self.forward_latency.render(
            out,
            "rampart_relay_forward_duration_seconds",
            "Latency of forwarding requests to the store.",
        );
    }
}
