//! Metric families the service's components keep: labelled counters and
//! latency histograms, rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::{escape, family};

/// A counter with `N` labels.
pub struct Counter<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    values: Mutex<BTreeMap<[String; N], u64>>,
}

impl<const N: usize> Counter<N> {
    pub const fn new(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
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

    pub fn render(&self, out: &mut String) {
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

    pub fn render(&self, out: &mut String, name: &str, help: &str) {
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
