//! The relay's own metrics (`rampart_relay_*` at its `/metrics`): counters
//! kept here, gauges (queue depth and bytes, elected replicas) read from
//! their owners when rendered.
//!
//! Each counter map has its own lock, held only to add or to render.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::telemetry::{escape, family};

/// A counter with `N` labels.
pub struct Counter<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    values: Mutex<BTreeMap<[String; N], u64>>,
}

impl<const N: usize> Counter<N> {
    const fn new(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        Self { name, help, labels, values: Mutex::new(BTreeMap::new()) }
    }

    /// Adds `n` to the series with these label values.
    pub fn add(&self, values: [&str; N], n: u64) {
        if n > 0 {
            *self.values.lock().entry(values.map(str::to_owned)).or_default() += n;
        }
    }

    /// The value of one series (0 when absent).
    pub fn get(&self, values: [&str; N]) -> u64 {
        self.values.lock().get(&values.map(str::to_owned)).copied().unwrap_or(0)
    }

    fn render(&self, out: &mut String) {
        family(out, self.name, "counter", self.help);
        for (values, n) in self.values.lock().iter() {
            let labels: Vec<String> =
                self.labels.iter().zip(values).map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = writeln!(out, "{}{{{}}} {n}", self.name, labels.join(","));
        }
    }
}

/// Upper bounds of the forward latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Latency of requests to the store.
#[derive(Default)]
pub struct Latency {
    /// Per bucket (the last is +Inf), not cumulative.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Latency {
    /// Records one request.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = LATENCY_BUCKETS.iter().position(|&b| s <= b).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        family(out, name, "histogram", help);
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_owned()]).enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9);
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

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
