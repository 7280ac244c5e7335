//! The notifier against a real Alertmanager 0.25 (Debian's
//! `prometheus-alertmanager`) on loopback: delivery of firing and resolved
//! alerts, HTTPS with client certificates and basic auth, and the counters
//! and queue when Alertmanagers fail or hang.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart::config::alerting::AlertingConfig;
use rampart::rules::notifier::{Alert, Notifier};
use rampart_storage::Labels;
use serde_json::Value;

use crate::harness::{self, now_ms, temp_dir, TestCa};

/// The Alertmanager binary.
const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
/// How long anything awaited may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// bcrypt (cost 4) of [`AM_PASSWORD`], the only hash Alertmanager's web
/// config takes. Made with Python's `crypt` module (libxcrypt):
/// `crypt.crypt("notifier-test-password", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))`.
const AM_PASSWORD_BCRYPT: &str = "$2b$04$vzd0ntbqNyB2ewQQe/eYs.qrWZTKuIwYNCYgJE6Mlii/kyAdd320O";
/// The basic-auth password the test Alertmanager wants.
pub(crate) const AM_PASSWORD: &str = "notifier-test-password";
/// The DNS name in the test Alertmanager's certificate.
pub(crate) const AM_TLS_NAME: &str = "alertmanager.test";

/// A running Alertmanager with a null receiver.
pub(crate) struct Alertmanager {
    child: Child,
    /// `host:port` to put in `targets`.
    pub(crate) target: String,
    /// Base URL for the test's own requests.
    base: String,
    client: reqwest::blocking::Client,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Plain HTTP.
    pub(crate) fn start() -> Self {
        Self::start_inner(None, |_| reqwest::blocking::Client::new(), "http")
    }

    /// HTTPS with client certificates signed by `pki`'s CA and basic auth
    /// (user `rampart`), as `--web.config.file` sets it up; the certificate
    /// names only [`AM_TLS_NAME`].
    pub(crate) fn start_tls(pki: &Pki) -> Self {
        let web = format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  \
             client_ca_file: {}\nbasic_auth_users:\n  rampart: '{AM_PASSWORD_BCRYPT}'\n",
            pki.server.0.display(),
            pki.server.1.display(),
            pki.ca.display(),
        );
        let identity =
            [std::fs::read(&pki.client.0).expect("cert"), std::fs::read(&pki.client.1).expect("key")].concat();
        let client = |port: u16| {
            reqwest::blocking::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&pki.ca).expect("ca")).expect("ca"))
                .identity(reqwest::Identity::from_pem(&identity).expect("identity"))
                .resolve(AM_TLS_NAME, ([127, 0, 0, 1], port).into())
                .build()
                .expect("client")
        };
        Self::start_inner(Some(web), client, "https")
    }

    fn start_inner(web: Option<String>, client: impl Fn(u16) -> reqwest::blocking::Client, scheme: &str) -> Self {
        let dir = temp_dir();
        let port = harness::free_port();
        let config = dir.path().join("am.yml");
        std::fs::write(&config, "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n").expect("am config");
        let log = dir.path().join("am.log");
        let mut cmd = Command::new(ALERTMANAGER);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(web) = web {
            let path = dir.path().join("web.yml");
            std::fs::write(&path, web).expect("web config");
            cmd.arg(format!("--web.config.file={}", path.display()));
        }
        let child = cmd.spawn().expect("start prometheus-alertmanager");
        let host = if scheme == "https" { AM_TLS_NAME } else { "127.0.0.1" };
        let am = Alertmanager {
            child,
            target: format!("127.0.0.1:{port}"),
            base: format!("{scheme}://{host}:{port}"),
            client: client(port),
            log,
            _dir: dir,
        };
        am.eventually("Alertmanager ready", || {
            let r = am.request("/-/ready").send().ok()?;
            (r.status() == 200).then_some(())
        });
        am
    }

    fn request(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        self.client.get(format!("{}{path}", self.base)).basic_auth("rampart", Some(AM_PASSWORD))
    }

    /// `GET /api/v2/alerts` (AM 0.25 lists unresolved alerts only).
    pub(crate) fn alerts(&self) -> Vec<Value> {
        let r = self.request("/api/v2/alerts").send().expect("GET alerts");
        assert_eq!(r.status(), 200, "GET /api/v2/alerts");
        r.json().expect("alerts JSON")
    }

    /// The `alertname`s Alertmanager lists.
    pub(crate) fn alert_names(&self) -> BTreeSet<String> {
        self.alerts().iter().map(|a| a["labels"]["alertname"].as_str().expect("alertname").to_owned()).collect()
    }

    /// A sample of Alertmanager's own `/metrics`.
    pub(crate) fn metric(&self, series: &str) -> f64 {
        let text = self.request("/metrics").send().expect("GET metrics").text().expect("metrics");
        sample(&text, series)
    }

    /// Polls `f` until it gives a value; fails with the log after [`DEADLINE`].
    pub(crate) fn eventually<T>(&self, what: &str, f: impl FnMut() -> Option<T>) -> T {
        poll(what, f).unwrap_or_else(|| {
            panic!(
                "{what}: not within {DEADLINE:?}; Alertmanager log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )
        })
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls `f` every 20 ms until it gives a value, for at most [`DEADLINE`].
fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            eprintln!("gave up waiting for {what}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of `series` (name and labels exactly as rendered) in a text
/// exposition; 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().expect("sample value"))
}

/// A sample of the notifier's metrics.
fn metric(n: &Notifier, series: &str) -> f64 {
    let mut out = String::new();
    n.render_metrics(&mut out);
    sample(&out, series)
}

/// Waits until the notifier's `series` equals `want`.
fn wait_metric(n: &Notifier, series: &str, want: f64) {
    poll(series, || (metric(n, series) == want).then_some(())).unwrap_or_else(|| {
        let mut out = String::new();
        n.render_metrics(&mut out);
        panic!("{series} never became {want}; metrics:\n{out}")
    });
}

/// `alertmanager` label value of a target.
fn am_label(scheme: &str, target: &str) -> String {
    format!("{scheme}://{target}/api/v2/alerts")
}

fn alert(name: &str, starts_at_ms: i64, ends_at_ms: i64) -> Alert {
    Alert {
        labels: Labels::from_pairs([("alertname", name), ("severity", "page")]),
        annotations: Labels::from_pairs([("summary", format!("{name} is <on> & \"firing\""))]),
        starts_at_ms,
        ends_at_ms,
        generator_url: format!("http://rampart.test:9090/graph?g0.expr=up%3D%3D0&alert={name}"),
    }
}

/// A firing alert that started a minute ago.
fn firing(name: &str) -> Alert {
    let now = now_ms();
    alert(name, now - 60_000, now + 240_000)
}

/// `2006-01-02T15:04:05.000Z`, as Alertmanager prints times.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).expect("time").format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A runtime for the notifier and a notifier started on it from `yaml`.
fn notifier(yaml: &str, external_labels: Labels) -> (tokio::runtime::Runtime, Arc<Notifier>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let config: AlertingConfig = serde_yaml::from_str(yaml).expect("alerting config");
    let n = {
        let _guard = rt.enter();
        Notifier::start(&config, external_labels).expect("start notifier")
    };
    (rt, n)
}

#[test]
fn firing_alert_reaches_alertmanager_with_labels_annotations_and_times() {
    let am = Alertmanager::start();
    let (_rt, n) = notifier(
        &format!("alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]", am.target),
        Labels::from_pairs([("cluster", "eu1"), ("severity", "ignored: the alert has its own")]),
    );
    let sent = firing("HighLatency");
    n.send(vec![sent.clone()]);

    let alerts = am.eventually("the alert in Alertmanager", || {
        let a = am.alerts();
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(
        a["labels"],
        serde_json::json!({"alertname": "HighLatency", "severity": "page", "cluster": "eu1"}),
        "external labels are added where the alert lacks them"
    );
    assert_eq!(a["annotations"], serde_json::json!({"summary": "HighLatency is <on> & \"firing\""}));
    assert_eq!(a["startsAt"], rfc3339(sent.starts_at_ms));
    assert_eq!(a["endsAt"], rfc3339(sent.ends_at_ms));
    assert_eq!(a["generatorURL"], sent.generator_url);
    assert_eq!(a["status"]["state"], "active");

    let label = am_label("http", &am.target);
    assert_eq!(metric(&n, &format!("rampart_notifications_sent_total{{alertmanager=\"{label}\"}}")), 1.0);
    assert_eq!(metric(&n, &format!("rampart_notifications_errors_total{{alertmanager=\"{label}\"}}")), 0.0);
    assert_eq!(metric(&n, "rampart_notifications_dropped_total"), 0.0);
    assert_eq!(metric(&n, "rampart_notifications_queue_length"), 0.0);
    assert_eq!(metric(&n, "rampart_notifications_queue_capacity"), 10_000.0);
    assert_eq!(metric(&n, "rampart_notifications_alertmanagers_discovered"), 1.0);
    assert_eq!(metric(&n, "rampart_notifications_latency_seconds_count"), 1.0);
    assert_eq!(am.metric("alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"}"), 1.0);
}

#[test]
fn resolved_alert_is_resolved_in_alertmanager() {
    let am = Alertmanager::start();
    let (_rt, n) =
        notifier(&format!("alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]", am.target), Labels::default());
    let mut a = firing("DiskFull");
    n.send(vec![a.clone()]);
    am.eventually("the firing alert", || am.alert_names().contains("DiskFull").then_some(()));
    assert_eq!(am.metric("alertmanager_alerts_received_total{status=\"resolved\",version=\"v2\"}"), 0.0);

    // Resolved as the rule evaluator resends it: same labels and start,
    // endsAt in the past.
    a.ends_at_ms = now_ms() - 1_000;
    n.send(vec![a]);
    // Alertmanager 0.25 takes it as resolved and then no longer lists it in
    // /api/v2/alerts (resolved alerts are filtered out there).
    am.eventually("the resolved alert counted by Alertmanager", || {
        (am.metric("alertmanager_alerts_received_total{status=\"resolved\",version=\"v2\"}") == 1.0).then_some(())
    });
    assert!(am.alerts().is_empty(), "resolved alert still listed: {:#?}", am.alerts());
    let label = am_label("http", &am.target);
    assert_eq!(metric(&n, &format!("rampart_notifications_sent_total{{alertmanager=\"{label}\"}}")), 2.0);
}

/// Test PKI files.
pub(crate) struct Pki {
    pub(crate) ca: PathBuf,
    server: (PathBuf, PathBuf),
    pub(crate) client: (PathBuf, PathBuf),
}

/// A CA, a server certificate for [`AM_TLS_NAME`] only and a client
/// certificate, all in `dir`.
pub(crate) fn test_pki(dir: &Path) -> Pki {
    let ca = TestCa::new(dir, "notifier-test-ca");
    Pki {
        server: ca.issue("server", "alertmanager", &[AM_TLS_NAME]),
        client: ca.issue("client", "rampart", &[]),
        ca: ca.cert_file,
    }
}

#[test]
fn mtls_and_basic_auth_deliver_and_missing_client_certificate_is_refused() {
    let dir = temp_dir();
    let pki = test_pki(dir.path());
    let am = Alertmanager::start_tls(&pki);
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{AM_PASSWORD}\n")).expect("password file");
    // The certificate names alertmanager.test, the target is an address:
    // server_name makes the verification use the certificate's name.
    let config = |tls: &str, password: &str| {
        format!(
            "alertmanagers:\n\
             - static_configs: [{{targets: ['{}']}}]\n\
             \x20 scheme: https\n\
             \x20 basic_auth: {{username: rampart, {password}}}\n\
             \x20 tls_config: {{ca_file: '{}', server_name: {AM_TLS_NAME}{tls}}}\n\
             max_retries: 0\n",
            am.target,
            pki.ca.display(),
        )
    };
    let with_cert = format!(", cert_file: '{}', key_file: '{}'", pki.client.0.display(), pki.client.1.display());
    let label = am_label("https", &am.target);
    let sent = format!("rampart_notifications_sent_total{{alertmanager=\"{label}\"}}");
    let errors = format!("rampart_notifications_errors_total{{alertmanager=\"{label}\"}}");

    let (_rt, good) =
        notifier(&config(&with_cert, &format!("password_file: '{}'", password_file.display())), Labels::default());
    good.send(vec![firing("ViaMtls")]);
    am.eventually("the alert sent over mTLS", || am.alert_names().contains("ViaMtls").then_some(()));
    assert_eq!(metric(&good, &sent), 1.0);
    assert_eq!(metric(&good, &errors), 0.0);

    let (_rt2, no_cert) = notifier(&config("", &format!("password: '{AM_PASSWORD}'")), Labels::default());
    no_cert.send(vec![firing("WithoutClientCert")]);
    wait_metric(&no_cert, &errors, 1.0);
    assert_eq!(metric(&no_cert, &sent), 0.0);
    assert_eq!(metric(&no_cert, "rampart_notifications_dropped_total"), 1.0, "no Alertmanager took it");

    let (_rt3, bad_password) = notifier(&config(&with_cert, "password: wrong"), Labels::default());
    bad_password.send(vec![firing("WrongPassword")]);
    wait_metric(&bad_password, &errors, 1.0);
    assert_eq!(metric(&bad_password, &sent), 0.0);

    assert_eq!(am.alert_names(), BTreeSet::from(["ViaMtls".to_owned()]));
}

#[test]
fn unreachable_alertmanager_counts_errors_after_retries() {
    let refused = format!("127.0.0.1:{}", harness::free_port());
    let (_rt, n) = notifier(
        &format!("alertmanagers: [{{static_configs: [{{targets: ['{refused}']}}]}}]\nmax_retries: 2\n"),
        Labels::default(),
    );
    n.send(vec![firing("A"), firing("B")]);
    let errors = format!("rampart_notifications_errors_total{{alertmanager=\"{}\"}}", am_label("http", &refused));
    wait_metric(&n, &errors, 2.0);
    assert_eq!(metric(&n, "rampart_notifications_latency_seconds_count"), 3.0, "one attempt and two retries");
    wait_metric(&n, "rampart_notifications_dropped_total", 2.0);
    assert_eq!(metric(&n, "rampart_notifications_queue_length"), 0.0);
}

#[test]
fn full_queue_drops_the_oldest_alerts_and_shutdown_stops_sending() {
    let am = Alertmanager::start();
    // Accepts connections (the kernel's backlog) but never answers: each
    // request to it lasts its whole timeout, holding the sender.
    let blackhole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hang = blackhole.local_addr().expect("addr").to_string();
    let (rt, n) = notifier(
        &format!(
            "alertmanagers:\n\
             - static_configs: [{{targets: ['{}']}}]\n\
             - static_configs: [{{targets: ['{hang}']}}]\n\
             \x20 timeout: 3s\n\
             queue_capacity: 3\n\
             max_retries: 0\n",
            am.target
        ),
        Labels::default(),
    );
    let dropped = "rampart_notifications_dropped_total";
    let queued = "rampart_notifications_queue_length";
    let hang_errors = format!("rampart_notifications_errors_total{{alertmanager=\"{}\"}}", am_label("http", &hang));
    let am_sent = format!("rampart_notifications_sent_total{{alertmanager=\"{}\"}}", am_label("http", &am.target));

    n.send(vec![firing("a0")]);
    // The sender took a0 and now waits for the blackhole.
    wait_metric(&n, queued, 0.0);
    for i in 1..=5 {
        n.send(vec![firing(&format!("a{i}"))]);
    }
    assert_eq!(metric(&n, queued), 3.0);
    assert_eq!(metric(&n, dropped), 2.0, "a1 and a2, the oldest, were dropped");

    am.eventually("a0 and the three newest alerts in Alertmanager", || (am.alert_names().len() == 4).then_some(()));
    assert_eq!(am.alert_names(), ["a0", "a3", "a4", "a5"].map(str::to_owned).into());
    wait_metric(&n, &hang_errors, 4.0);
    assert_eq!(metric(&n, &am_sent), 4.0);
    assert_eq!(metric(&n, dropped), 2.0, "batches one Alertmanager took are not dropped");

    // Shutdown sends what is queued; the batch Alertmanager took is not
    // counted as dropped although the blackhole outlasts the deadline.
    n.send(vec![firing("a6")]);
    let start = Instant::now();
    rt.block_on(n.shutdown(Duration::from_millis(1500)));
    assert!(start.elapsed() < Duration::from_millis(2900), "shutdown waited past its deadline: {:?}", start.elapsed());
    assert!(am.alert_names().contains("a6"));
    assert_eq!(metric(&n, dropped), 2.0);
    n.send(vec![firing("a7")]);
    assert_eq!(metric(&n, dropped), 3.0, "alerts sent after shutdown are dropped");
    assert_eq!(metric(&n, queued), 0.0);
    drop(blackhole);
}
