//! Rule evaluation end to end: alerts reaching a real Alertmanager 0.25,
//! recording rules against a real Prometheus 2.42 running the same rule
//! file over the same data, alert state across a restart, and bad rule
//! files next to good ones.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{self, now_ms, Prometheus, Server};
use crate::notifier::Alertmanager;

/// How long anything awaited may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `f` every 100 ms until it gives a value; panics after [`DEADLINE`]
/// with `what` and the server log.
fn eventually<T>(server: &Server, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {DEADLINE:?}; alerts: {:#?}; log:\n{}",
            alerts(server),
            server.log.lock().expect("log")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get_json(url: &str) -> Value {
    reqwest::blocking::get(url).and_then(|r| r.json()).unwrap_or(Value::Null)
}

/// The tenant's alerts from `/api/v1/alerts`, by `alertname`.
fn alerts(server: &Server) -> BTreeMap<String, Value> {
    let v = get_json(&format!("{}/api/v1/alerts", server.url));
    v["data"]["alerts"]
        .as_array()
        .map(|a| a.iter().map(|a| (a["labels"]["alertname"].as_str().unwrap_or("").to_owned(), a.clone())).collect())
        .unwrap_or_default()
}

/// A rules directory holding `files` (name, content).
fn rules_dir(root: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = root.join("rules");
    std::fs::create_dir_all(&dir).expect("rules dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("rule file");
    }
    dir
}

/// Writes `name` = 1 every second from 2 seconds ago to 5 minutes ahead in
/// one request.
fn write_true(server: &Server, name: &str) {
    let now = now_ms() / 1000 * 1000;
    let samples: Vec<(i64, f64)> = (-2..=300).map(|k| (now + k * 1000, 1.0)).collect();
    let (status, body) =
        server.post("/api/v1/write", harness::body(vec![harness::series(&[("__name__", name)], &samples)]), &[]);
    assert_eq!(status, 204, "{body}");
}

/// Writes `queue_length{instance="q1"}` at the current time every 200 ms,
/// with the value last set, until dropped.
struct QueueWriter {
    value: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl QueueWriter {
    fn start(url: String, value: f64) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let v = std::sync::Arc::new(AtomicU64::new(value.to_bits()));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (tv, ts) = (v.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            while !ts.load(Ordering::Relaxed) {
                let sample = (now_ms(), f64::from_bits(tv.load(Ordering::Relaxed)));
                let body = harness::body(vec![harness::series(
                    &[("__name__", "queue_length"), ("instance", "q1")],
                    &[sample],
                )]);
                let _ = client
                    .post(format!("{url}/api/v1/write"))
                    .header("Content-Encoding", "snappy")
                    .header("Content-Type", "application/x-protobuf")
                    .body(body)
                    .send();
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Self { value: v, stop, thread: Some(thread) }
    }

    fn set(&self, value: f64) {
        self.value.store(value.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for QueueWriter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const ALERT_RULES: &str = r#"
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: QueueTooLong
        expr: queue_length > 10
        for: 2s
        labels:
          severity: page
          queue: "{{ $labels.instance }}"
        annotations:
          summary: "Queue on {{ $labels.instance }} is {{ $value }} long"
          description: "{{ $value | humanize }} items waiting"
"#;

#[test]
fn alert_reaches_alertmanager_after_for_is_resent_and_resolves() {
    let am = Alertmanager::start();
    let dir = harness::temp_dir();
    let rules = rules_dir(dir.path(), &[("alerts.yml", ALERT_RULES)]);
    let config = format!(
        "rules:\n  tenants: {{default: {}}}\n  resend_delay: 1s\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: [\"{}\"]}}]\n",
        rules.display(),
        am.target
    );
    let server = Server::start(&dir.path().join("data"), &config);
    let writer = QueueWriter::start(server.url.clone(), 42.0);

    // Pending first: Rampart holds it for `for` before Alertmanager hears of it.
    let pending = eventually(&server, "alert pending", || {
        alerts(&server).remove("QueueTooLong").filter(|a| a["state"] == "pending")
    });
    assert!(am.alerts().is_empty(), "a pending alert reached Alertmanager: {:?}", am.alerts());
    let in_am = am.eventually("alert in Alertmanager", || am.alerts().into_iter().next());
    let labels = &in_am["labels"];
    assert_eq!(labels["alertname"], "QueueTooLong");
    assert_eq!(labels["severity"], "page");
    assert_eq!(labels["queue"], "q1", "label templates are expanded");
    assert_eq!(labels["instance"], "q1");
    assert_eq!(in_am["annotations"]["summary"], "Queue on q1 is 42 long");
    assert_eq!(in_am["annotations"]["description"], "42 items waiting");
    let firing = alerts(&server).remove("QueueTooLong").expect("alert");
    assert_eq!(firing["state"], "firing");
    assert_eq!(firing["activeAt"], pending["activeAt"], "the same alert went from pending to firing");
    let active_at = chrono::DateTime::parse_from_rfc3339(firing["activeAt"].as_str().expect("activeAt")).expect("time");
    let starts_at = chrono::DateTime::parse_from_rfc3339(in_am["startsAt"].as_str().expect("startsAt")).expect("time");
    assert!(starts_at - active_at >= chrono::TimeDelta::seconds(2), "fired before `for`: {active_at} → {starts_at}");

    // Re-sent while it fires (resend_delay 1s).
    let received = "alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"}";
    am.eventually("alert re-sent", || (am.metric(received) >= 3.0).then_some(()));

    // Resolved once the condition ends.
    writer.set(0.0);
    let resolved = "alertmanager_alerts_received_total{status=\"resolved\",version=\"v2\"}";
    am.eventually("alert resolved in Alertmanager", || {
        (am.metric(resolved) >= 1.0 && am.alerts().is_empty()).then_some(())
    });
    assert!(alerts(&server).is_empty(), "resolved alerts are not listed as active");
}

/// Rules over counters that grow linearly and constant gauges: every
/// evaluation time sees the same values, so Rampart and Prometheus, which
/// evaluate at different moments, must record the same series and values.
const RECORDING_RULES: &str = r#"
groups:
  - name: recording
    interval: 1s
    rules:
      - record: job_code:http_requests:rate5s
        expr: sum by (job, code) (rate(http_requests_total[5s]))
      - record: job:http_errors:ratio_rate5s
        expr: sum by (job) (rate(http_requests_total{code="500"}[5s])) / sum by (job) (rate(http_requests_total[5s]))
      - record: instance:memory_bytes:max
        expr: max by (instance) (memory_bytes)
      - record: job:memory_bytes:count
        expr: count by (job) (memory_bytes)
        labels:
          source: rule
      - record: job:latency_seconds:p90_rate5s
        expr: histogram_quantile(0.9, sum by (job, le) (rate(latency_seconds_bucket[5s])))
      - record: job_code:http_requests:rate5s_doubled
        expr: job_code:http_requests:rate5s * 2
      - record: one
        expr: vector(1)
      - record: memory_bytes:without_instance
        expr: memory_bytes{instance="a"}
        labels:
          instance: ""
          tier: "gold"
"#;

/// The recorded metric names of [`RECORDING_RULES`].
const RECORDED: &[&str] = &[
    "job_code:http_requests:rate5s",
    "job:http_errors:ratio_rate5s",
    "instance:memory_bytes:max",
    "job:memory_bytes:count",
    "job:latency_seconds:p90_rate5s",
    "job_code:http_requests:rate5s_doubled",
    "one",
    "memory_bytes:without_instance",
];

/// Input series: counters with a slope per series, gauges with a constant,
/// one sample a second from 2 minutes ago to 2 minutes ahead.
fn recording_input() -> Vec<u8> {
    let now = now_ms() / 1000 * 1000;
    let grid = |f: &dyn Fn(f64) -> f64| -> Vec<(i64, f64)> {
        (-120i32..=120).map(|k| (now + i64::from(k) * 1000, f(f64::from(k + 121)))).collect()
    };
    let mut ts = Vec::new();
    for (i, (job, instance, code)) in
        [("api", "a", "200"), ("api", "a", "500"), ("api", "b", "200"), ("web", "c", "200"), ("web", "c", "500")]
            .into_iter()
            .enumerate()
    {
        let slope = (i + 1) as f64 * 1.5;
        ts.push(harness::series(
            &[("__name__", "http_requests_total"), ("code", code), ("instance", instance), ("job", job)],
            &grid(&|k| k * slope),
        ));
    }
    for (i, (job, instance)) in [("api", "a"), ("api", "b"), ("web", "c")].into_iter().enumerate() {
        let value = 1e9 + (i as f64) * 12_345.5;
        ts.push(harness::series(
            &[("__name__", "memory_bytes"), ("instance", instance), ("job", job)],
            &grid(&|_| value),
        ));
        for (le, share) in [("0.1", 0.5), ("0.5", 0.8), ("1", 0.95), ("+Inf", 1.0)] {
            let slope = 10.0 * (i + 1) as f64 * share;
            ts.push(harness::series(
                &[("__name__", "latency_seconds_bucket"), ("instance", instance), ("job", job), ("le", le)],
                &grid(&|k| k * slope),
            ));
        }
    }
    harness::body(ts)
}

/// `{labels} → value` of every recorded series an instant query returns.
fn recorded_values(base: &str) -> BTreeMap<String, f64> {
    let query =
        format!("{{__name__=~\"{}\"}}", RECORDED.iter().map(|n| regex::escape(n)).collect::<Vec<_>>().join("|"));
    let v: Value = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null);
    v["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    let labels: BTreeMap<String, String> = serde_json::from_value(s["metric"].clone()).expect("labels");
                    let value: f64 = s["value"][1].as_str().expect("value").parse().expect("float");
                    (format!("{labels:?}"), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn names_present(values: &BTreeMap<String, f64>) -> usize {
    RECORDED.iter().filter(|n| values.keys().any(|k| k.contains(&format!("\"__name__\": \"{n}\"")))).count()
}

#[test]
fn recording_rules_match_prometheus_2_42() {
    let dir = harness::temp_dir();
    let rules = rules_dir(dir.path(), &[("recording.yml", RECORDING_RULES)]);
    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("dir");
    let prometheus = Prometheus::start(
        &prom_dir,
        &format!("global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\n", rules.join("recording.yml").display()),
    );
    let config = format!("rules:\n  tenants: {{default: {}}}\n", rules.display());
    let server = Server::start(&dir.path().join("data"), &config);
    let body = recording_input();
    prometheus.write(body.clone());
    let (status, text) = server.post("/api/v1/write", body, &[]);
    assert_eq!(status, 204, "{text}");

    // Both have evaluated the group after the data arrived.
    let written = chrono::Utc::now().fixed_offset();
    for base in [&server.url, &prometheus.url] {
        eventually(&server, "an evaluation after the write", || {
            let v = get_json(&format!("{base}/api/v1/rules"));
            let last = v["data"]["groups"][0]["lastEvaluation"].as_str()?;
            (chrono::DateTime::parse_from_rfc3339(last).ok()? > written + chrono::TimeDelta::seconds(1)).then_some(())
        });
    }
    let ours = eventually(&server, "every rule recorded", || {
        let v = recorded_values(&server.url);
        (names_present(&v) == RECORDED.len()).then_some(v)
    });
    let theirs = eventually(&server, "Prometheus recorded every rule", || {
        let v = recorded_values(&prometheus.url);
        (names_present(&v) == RECORDED.len()).then_some(v)
    });
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "recorded series differ from Prometheus's"
    );
    for (series, want) in &theirs {
        let got = ours[series];
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{series}: Prometheus recorded {want}, Rampart {got}"
        );
    }
    assert!(ours.len() >= 15, "too few recorded series to mean anything: {ours:#?}");
}

const RESTART_RULES: &str = r#"
groups:
  - name: restart
    interval: 1s
    rules:
      - alert: LongPending
        expr: long_condition > 0
        for: 40s
      - alert: FiresSoon
        expr: soon_condition > 0
        for: 2s
        annotations:
          summary: "condition {{ $value }}"
"#;

fn active_at(alert: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(alert["activeAt"].as_str().expect("activeAt")).expect("time")
}

#[test]
fn restart_keeps_for_progress_and_firing_alerts() {
    let am = Alertmanager::start();
    let dir = harness::temp_dir();
    let rules = rules_dir(dir.path(), &[("restart.yml", RESTART_RULES)]);
    let config = format!(
        "rules:\n  tenants: {{default: {}}}\n  for_grace_period: 1s\n  resend_delay: 5s\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: [\"{}\"]}}]\n",
        rules.display(),
        am.target
    );
    let data = dir.path().join("data");
    let server = Server::start(&data, &config);
    write_true(&server, "long_condition");
    write_true(&server, "soon_condition");

    let before = eventually(&server, "FiresSoon firing, LongPending pending", || {
        let a = alerts(&server);
        let ok = a.get("FiresSoon").is_some_and(|a| a["state"] == "firing")
            && a.get("LongPending").is_some_and(|a| a["state"] == "pending");
        ok.then_some(a)
    });
    let am_before = am.eventually("FiresSoon in Alertmanager", || am.alerts().into_iter().next());
    // Let LongPending make progress, then crash.
    let pending_since = active_at(&before["LongPending"]);
    while chrono::Utc::now().fixed_offset() - pending_since < chrono::TimeDelta::seconds(12) {
        std::thread::sleep(Duration::from_millis(200));
    }
    server.kill();
    let down_at = chrono::Utc::now().fixed_offset();
    std::thread::sleep(Duration::from_secs(2));
    let server = Server::start(&data, &config);

    // After restore: the firing alert keeps its start, the pending one
    // keeps its progress (shifted by the downtime only).
    let after = eventually(&server, "alert state restored", || {
        let a = alerts(&server);
        // ALERTS_FOR_STATE keeps whole seconds, as in Prometheus.
        let firing = a.get("FiresSoon").is_some_and(|x| {
            x["state"] == "firing" && active_at(x).timestamp() == active_at(&before["FiresSoon"]).timestamp()
        });
        let restored = a.get("LongPending").is_some_and(|x| x["state"] == "pending" && active_at(x) < down_at);
        (firing && restored).then_some(a)
    });
    let restored = active_at(&after["LongPending"]);
    let progress = chrono::Utc::now().fixed_offset() - restored;
    assert!(progress >= chrono::TimeDelta::seconds(10), "LongPending lost its `for` progress: {after:#?}");
    assert!(restored > pending_since, "the downtime counted towards `for`: {after:#?}");
    // Alertmanager still holds the same alert, with the same start: the
    // restart was shorter than the alert's validity (4 × resend_delay),
    // so the resent alert merges with the one it has.
    let received = "alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"}";
    let before_resend = am.metric(received);
    am.eventually("FiresSoon re-sent after the restart", || (am.metric(received) > before_resend).then_some(()));
    let am_after = am.alerts();
    assert_eq!(am_after.len(), 1, "{am_after:#?}");
    assert_eq!(am_after[0]["startsAt"], am_before["startsAt"], "the alert was notified as new after the restart");
    assert_eq!(am_after[0]["annotations"]["summary"], "condition 1");
}

#[test]
fn bad_rule_files_are_reported_and_good_ones_run_and_reload() {
    let dir = harness::temp_dir();
    let good = "groups:\n  - name: good\n    interval: 1s\n    rules:\n      - record: one\n        expr: vector(1)\n";
    let bad = "groups:\n  - name: broken\n    rules:\n      - record: two\n        expr: sum(\n      - alert: Dup\n        expr: up\n  - name: broken\n    rules: []\n";
    let rules = rules_dir(dir.path(), &[("good.yml", good), ("bad.yml", bad)]);
    let config = format!("rules:\n  tenants: {{default: {}}}\n", rules.display());
    let server = Server::start(&dir.path().join("data"), &config);

    eventually(&server, "the good group evaluated", || {
        let v = get_json(&format!("{}/api/v1/rules", server.url));
        let groups = v["data"]["groups"].as_array()?.clone();
        (groups.len() == 1 && groups[0]["name"] == "good" && groups[0]["rules"][0]["health"] == "ok").then_some(())
    });
    let log = server.log.lock().expect("log").clone();
    let bad_path = rules.join("bad.yml");
    assert!(
        log.contains(&format!(
            "{}: group \\\"broken\\\", rule 1, \\\"two\\\": could not parse expression",
            bad_path.display()
        )) || log.contains(&format!(
            "{}: group \"broken\", rule 1, \"two\": could not parse expression",
            bad_path.display()
        )),
        "the log names file, group and rule: {log}"
    );

    // A reload with the bad file still bad answers 500 naming the problems
    // and keeps the good group; a new rule in the good file runs.
    std::fs::write(rules.join("good.yml"), format!("{good}      - record: three\n        expr: vector(3)\n"))
        .expect("edit");
    let r = reqwest::blocking::Client::new().post(format!("{}/-/reload", server.url)).send().expect("reload");
    assert_eq!(r.status(), 500);
    let text = r.text().expect("body");
    assert!(text.contains("group name \"broken\" is repeated in the same file"), "{text}");
    assert!(text.contains("rule 1, \"two\": could not parse expression"), "{text}");
    eventually(&server, "the new rule recorded", || {
        let v = get_json(&format!("{}/api/v1/query?query=three", server.url));
        (v["data"]["result"][0]["value"][1] == "3").then_some(())
    });
    let check =
        std::process::Command::new(harness::binary()).args(["rules", "check"]).arg(&bad_path).output().expect("run");
    assert!(!check.status.success());
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(out.contains("FAILED:") && out.contains("rule 1, \"two\": could not parse expression"), "{out}");
}
