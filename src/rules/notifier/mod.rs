//! The notifier: the queue of alerts that alerting rules produce and their
//! delivery to Alertmanager's API v2, as Prometheus's notifier does it.
//!
//! | file | owns |
//! |---|---|
//! | this one | [`Alert`], the queue, the sender task, the metrics |
//! | `http` | the HTTP client of an `alertmanagers:` entry (TLS, credentials) and one request |
//! | `wire` | the JSON body, byte for byte as Prometheus encodes it (but for HTML escaping) |
//!
//! [`Notifier::send`] adds the external labels an alert lacks and appends
//! to one bounded queue without waiting. One sender task takes batches of
//! at most `max_batch_size` alerts in order and posts each batch to every
//! configured Alertmanager at once; a failed request is tried again up to
//! `max_retries` times with doubling delays when the failure may pass
//! (no answer, 5xx, 429). The next batch waits until every Alertmanager
//! has taken the current one or given up on it.
//!
//! Invariants:
//! - the queue never holds more than `queue_capacity` alerts: when an
//!   append would exceed it, the oldest alerts (first those already queued,
//!   then the oldest of the append) are dropped and counted;
//! - every alert handed to `send` is, exactly once, either taken by at least
//!   one Alertmanager (`sent_total` of each that took it) or counted in
//!   `dropped_total`: dropped from the full queue, refused by every
//!   Alertmanager, sent after shutdown began, or still queued when the
//!   shutdown deadline passed;
//! - `errors_total{alertmanager}` counts the alerts of each batch that
//!   Alertmanager finally did not take (after retries), once per batch.
//!
//! With no Alertmanager configured no task runs and `send` discards alerts
//! uncounted: nothing was meant to receive them.

mod http;
mod wire;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use bytes::Bytes;
use parking_lot::Mutex;
use rampart_storage::{Label, Labels};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use self::http::Endpoint;
use crate::config::alerting::AlertingConfig;
use crate::telemetry::family;
use crate::telemetry::series::{Counter, Latency};

/// Delay before the first retry of a failed request; doubled per retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest delay between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One alert as Alertmanager's API v2 takes it (`postableAlert`).
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Identity of the alert, `alertname` included.
    pub labels: Labels,
    /// Descriptive text (summary, description, runbook…).
    pub annotations: Labels,
    /// Unix milliseconds since when the alert fires.
    pub starts_at_ms: i64,
    /// Unix milliseconds: when it resolved, or until when a firing alert is
    /// valid without being sent again.
    pub ends_at_ms: i64,
    /// Link back to the expression that produced the alert.
    pub generator_url: String,
}

/// The alert queue and its sender task; see the module doc.
pub struct Notifier {
    shared: Arc<Shared>,
    /// The sender task, until [`Notifier::shutdown`] ends it.
    sender: Mutex<Option<JoinHandle<()>>>,
}

/// What `send`, the sender task and `render_metrics` share.
struct Shared {
    queue: Mutex<Queue>,
    /// Woken by `send` and by `shutdown`.
    wake: Notify,
    /// Set by `shutdown`: the sender empties the queue and ends.
    stopping: AtomicBool,
    endpoints: Vec<Endpoint>,
    external_labels: Labels,
    max_batch_size: usize,
    max_retries: u32,
    metrics: Metrics,
}

/// The bounded queue and the batch being sent.
struct Queue {
    alerts: VecDeque<Alert>,
    capacity: usize,
    /// Alerts of the batch the sender holds that no Alertmanager took yet
    /// (0 between batches).
    in_flight: usize,
}

impl Queue {
    fn new(capacity: usize) -> Self {
        Self { alerts: VecDeque::new(), capacity, in_flight: 0 }
    }

    /// Appends `alerts`, dropping the oldest beyond capacity; returns how
    /// many were dropped.
    fn push(&mut self, alerts: Vec<Alert>) -> usize {
        let excess = alerts.len().saturating_sub(self.capacity);
        let overflow = (self.alerts.len() + alerts.len() - excess).saturating_sub(self.capacity);
        self.alerts.drain(..overflow);
        self.alerts.extend(alerts.into_iter().skip(excess));
        excess + overflow
    }

    /// Takes the next batch of at most `max` alerts; it is in flight until
    /// an Alertmanager takes it or the next call.
    fn take(&mut self, max: usize) -> Vec<Alert> {
        let n = self.alerts.len().min(max);
        self.in_flight = n;
        self.alerts.drain(..n).collect()
    }
}

/// The `rampart_notifications_*` metrics but the queue gauges.
struct Metrics {
    sent: Counter<1>,
    errors: Counter<1>,
    dropped: AtomicU64,
    latency: Latency,
}

impl Notifier {
    /// Checks `config` and starts the sender task on the current tokio
    /// runtime. `external_labels` are added to every alert that lacks them
    /// (has no such label, or an empty value), as Prometheus does.
    pub fn start(config: &AlertingConfig, external_labels: Labels) -> anyhow::Result<Arc<Notifier>> {
        config.validate("alerting").map_err(|problems| anyhow!("invalid config:\n  {}", problems.join("\n  ")))?;
        let mut endpoints = Vec::new();
        for (i, am) in config.alertmanagers.iter().enumerate() {
            endpoints.extend(Endpoint::for_config(am, &format!("alerting.alertmanagers[{i}]"))?);
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| anyhow!("the notifier must be started inside a tokio runtime"))?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(config.queue_capacity)),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            endpoints,
            external_labels,
            max_batch_size: config.max_batch_size,
            max_retries: config.max_retries,
            metrics: Metrics {
                sent: Counter::new(
                    "rampart_notifications_sent_total",
                    "Alerts an Alertmanager accepted.",
                    ["alertmanager"],
                ),
                errors: Counter::new(
                    "rampart_notifications_errors_total",
                    "Alerts an Alertmanager did not take, after retries.",
                    ["alertmanager"],
                ),
                dropped: AtomicU64::new(0),
                latency: Latency::default(),
            },
        });
        let sender = if shared.endpoints.is_empty() {
            None
        } else {
            let urls: Vec<&str> = shared.endpoints.iter().map(|e| e.url.as_str()).collect();
            tracing::info!(alertmanagers = ?urls, "sending alerts to Alertmanager");
            Some(runtime.spawn(run(shared.clone())))
        };
        Ok(Arc::new(Notifier { shared, sender: Mutex::new(sender) }))
    }

    /// Enqueues `alerts` without blocking; when the queue is full the
    /// oldest alerts are dropped and counted.
    pub fn send(&self, alerts: Vec<Alert>) {
        let shared = &*self.shared;
        if alerts.is_empty() || shared.endpoints.is_empty() {
            return;
        }
        if shared.stopping.load(Ordering::Acquire) {
            tracing::warn!(count = alerts.len(), "notifier shutting down, dropping alerts");
            shared.metrics.dropped.fetch_add(alerts.len() as u64, Ordering::Relaxed);
            return;
        }
        let alerts = alerts.into_iter().map(|a| with_external_labels(a, &shared.external_labels)).collect();
        let dropped = shared.queue.lock().push(alerts);
        if dropped > 0 {
            tracing::warn!(count = dropped, "alert notification queue full, dropping the oldest alerts");
            shared.metrics.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        }
        shared.wake.notify_one();
    }

    /// Renders the `rampart_notifications_*` metrics.
    pub fn render_metrics(&self, out: &mut String) {
        let m = &self.shared.metrics;
        let (length, capacity) = {
            let q = self.shared.queue.lock();
            (q.alerts.len(), q.capacity)
        };
        m.sent.render(out);
        m.errors.render(out);
        let mut single = |name: &str, kind: &str, help: &str, value: u64| {
            family(out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        };
        single(
            "rampart_notifications_dropped_total",
            "counter",
            "Alerts dropped: queue full, refused by every Alertmanager, or not sent by shutdown.",
            m.dropped.load(Ordering::Relaxed),
        );
        single("rampart_notifications_queue_length", "gauge", "Alerts waiting to be sent.", length as u64);
        single("rampart_notifications_queue_capacity", "gauge", "Most alerts the queue holds.", capacity as u64);
        single(
            "rampart_notifications_alertmanagers_discovered",
            "gauge",
            "Alertmanagers alerts are sent to.",
            self.shared.endpoints.len() as u64,
        );
        m.latency.render(
            out,
            "rampart_notifications_latency_seconds",
            "Duration of requests to Alertmanagers, failed ones included.",
        );
    }

    /// Sends what is queued, for at most `deadline`, and stops the sender;
    /// alerts not sent by then are counted as dropped. Alerts sent from now
    /// on are dropped.
    pub async fn shutdown(&self, deadline: Duration) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        let Some(mut sender) = self.sender.lock().take() else { return };
        if tokio::time::timeout(deadline, &mut sender).await.is_ok() {
            return;
        }
        sender.abort();
        let _ = sender.await;
        let lost = {
            let mut q = self.shared.queue.lock();
            let n = q.alerts.len() + q.in_flight;
            q.alerts.clear();
            q.in_flight = 0;
            n
        };
        tracing::warn!(count = lost, ?deadline, "alerts not sent by the shutdown deadline, dropping them");
        self.shared.metrics.dropped.fetch_add(lost as u64, Ordering::Relaxed);
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.get_mut().take() {
            sender.abort();
        }
    }
}

/// `alert` with each external label it lacks (absent or empty) added.
fn with_external_labels(mut alert: Alert, external: &Labels) -> Alert {
    let lacks = |name: &str| alert.labels.get(name).is_none_or(str::is_empty);
    if external.iter().any(|l| lacks(&l.name)) {
        let mut labels: Vec<Label> = alert.labels.into_vec();
        labels.retain(|l| !l.value.is_empty() || external.get(&l.name).is_none());
        labels.extend(external.iter().cloned());
        // Keeps the alert's own label over an external one of the same name.
        alert.labels = Labels::from_unsorted(labels);
    }
    alert
}

/// The sender task: batch after batch until shutdown empties the queue.
async fn run(shared: Arc<Shared>) {
    loop {
        let batch = shared.queue.lock().take(shared.max_batch_size);
        if batch.is_empty() {
            if shared.stopping.load(Ordering::Acquire) {
                return;
            }
            shared.wake.notified().await;
            continue;
        }
        let n = batch.len();
        if !deliver(&shared, &batch).await {
            tracing::warn!(count = n, "no Alertmanager took the alerts, dropping them");
            shared.metrics.dropped.fetch_add(n as u64, Ordering::Relaxed);
        }
        shared.queue.lock().in_flight = 0;
    }
}

/// Posts `batch` to every Alertmanager at once; true when any took it.
async fn deliver(shared: &Arc<Shared>, batch: &[Alert]) -> bool {
    let body = Bytes::from(wire::encode(batch));
    let n = batch.len() as u64;
    let mut requests = JoinSet::new();
    for i in 0..shared.endpoints.len() {
        let (shared, body) = (shared.clone(), body.clone());
        requests.spawn(async move { deliver_to(&shared, &shared.endpoints[i], body, n).await });
    }
    let mut any = false;
    while let Some(taken) = requests.join_next().await {
        any |= taken.unwrap_or(false);
    }
    any
}

/// Posts `body` (of `n` alerts) to one Alertmanager with retries; true when
/// it took them.
async fn deliver_to(shared: &Shared, endpoint: &Endpoint, body: Bytes, n: u64) -> bool {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let start = Instant::now();
        let result = endpoint.post(body.clone()).await;
        shared.metrics.latency.observe(start.elapsed());
        let error = match result {
            Ok(()) => {
                shared.metrics.sent.add([&endpoint.url], n);
                // Taken: a shutdown cutting the batch short must not count
                // it as dropped.
                shared.queue.lock().in_flight = 0;
                return true;
            }
            Err(e) => e,
        };
        if error.is_retryable() && attempt <= shared.max_retries {
            tracing::warn!(alertmanager = %endpoint.url, count = n, attempt, %error, ?backoff, "sending alerts failed, retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        tracing::warn!(alertmanager = %endpoint.url, count = n, attempt, %error, "sending alerts failed");
        shared.metrics.errors.add([&endpoint.url], n);
        return false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str) -> Alert {
        Alert {
            labels: Labels::from_pairs([("alertname", name)]),
            annotations: Labels::default(),
            starts_at_ms: 0,
            ends_at_ms: 0,
            generator_url: String::new(),
        }
    }

    fn names(q: &Queue) -> Vec<&str> {
        q.alerts.iter().map(|a| a.labels.get("alertname").expect("alertname")).collect()
    }

    #[test]
    fn full_queue_drops_the_oldest_queued_alerts_first() {
        let mut q = Queue::new(3);
        assert_eq!(q.push(vec![alert("a"), alert("b")]), 0);
        assert_eq!(q.push(vec![alert("c"), alert("d")]), 1);
        assert_eq!(names(&q), ["b", "c", "d"]);
        assert_eq!(q.push(vec![alert("e")]), 1);
        assert_eq!(names(&q), ["c", "d", "e"]);
    }

    #[test]
    fn an_append_larger_than_the_queue_keeps_its_newest() {
        let mut q = Queue::new(3);
        q.push(vec![alert("old")]);
        assert_eq!(q.push((0..5).map(|i| alert(&i.to_string())).collect()), 3);
        assert_eq!(names(&q), ["2", "3", "4"]);
    }

    #[test]
    fn batches_are_taken_in_order_and_tracked_in_flight() {
        let mut q = Queue::new(10);
        q.push((0..5).map(|i| alert(&i.to_string())).collect());
        let first = q.take(2);
        assert_eq!(first.iter().map(|a| a.labels.get("alertname").expect("name")).collect::<Vec<_>>(), ["0", "1"]);
        assert_eq!(q.in_flight, 2);
        assert_eq!(q.take(10).len(), 3);
        assert_eq!(q.take(10).len(), 0);
        assert_eq!(q.in_flight, 0);
    }

    #[test]
    fn external_labels_fill_only_what_the_alert_lacks() {
        let external = Labels::from_pairs([("cluster", "eu1"), ("replica", "a"), ("env", "prod")]);
        let mut a = alert("X");
        a.labels = Labels::from_pairs([("alertname", "X"), ("cluster", "us2"), ("env", "")]);
        let got = with_external_labels(a, &external);
        assert_eq!(
            got.labels,
            Labels::from_pairs([("alertname", "X"), ("cluster", "us2"), ("env", "prod"), ("replica", "a")])
        );
        let untouched = with_external_labels(alert("Y"), &Labels::default());
        assert_eq!(untouched, alert("Y"));
    }
}
