//! `rampart relay` end to end: the real binary as relay and store on
//! loopback, real Prometheus 2.42 as a sender, SIGKILL for crashes.
//!
//! - security: every kind of refused request gets its status and message,
//!   and nothing of it is stored, while other tenants keep writing;
//! - no loss: a store outage and a relay SIGKILL under load lose no
//!   acknowledged sample and store none twice;
//! - HA: two replicas through two relays; one replica is stored, failover
//!   within `failover_timeout` plus one interval, no overlap, no reset;
//! - Prometheus: its own samples arrive through the relay as its TSDB has them;
//! - mTLS client certificates and `rampart all --relay-config`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rampart::credentials::hash_secret;

use crate::harness;

/// How long the relay may take to forward its queue.
const DRAIN_DEADLINE: Duration = Duration::from_secs(60);
/// The relay's service token to the store.
const SERVICE_TOKEN: &str = "relay-service-token";

/// A running `rampart` process (store or relay) on a port the test chose,
/// so that a restarted process keeps the address its clients know.
struct Proc {
    server: harness::Server,
    port: u16,
}

impl std::ops::Deref for Proc {
    type Target = harness::Server;

    fn deref(&self) -> &harness::Server {
        &self.server
    }
}

impl Proc {
    /// Starts `rampart <mode> --config <file> --data-dir <dir> --listen 127.0.0.1:<port>`
    /// and waits for `/-/ready`.
    fn start(mode: &str, dir: &Path, config: &str, port: u16) -> Proc {
        Self::start_with(mode, dir, config, port, |url| {
            reqwest::blocking::get(format!("{url}/-/ready")).is_ok_and(|r| r.status() == 200)
        })
    }

    /// Like [`Proc::start`], with `ready(url)` telling when it is ready.
    fn start_with(mode: &str, dir: &Path, config: &str, port: u16, ready: impl Fn(&str) -> bool) -> Proc {
        Proc { server: harness::Server::start_with(port, mode, dir, config, &[], "http", ready), port }
    }

    fn log(&self) -> String {
        self.server.log.lock().expect("log").clone()
    }

    /// SIGKILL.
    fn kill(self) {
        self.server.kill();
    }

    /// SIGTERM and a clean exit.
    fn stop(self) {
        self.server.stop();
    }

    /// POSTs a remote-write body with `headers`.
    fn post(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
        post(&format!("{}{path}", self.url), body, headers)
    }

    fn status(&self) -> serde_json::Value {
        reqwest::blocking::get(format!("{}/api/v1/relay/status", self.url))
            .and_then(|r| r.json())
            .expect("relay status")
    }

    fn metrics(&self) -> String {
        reqwest::blocking::get(format!("{}/metrics", self.url)).and_then(|r| r.text()).expect("metrics")
    }

    /// [`Proc::wait_drained`] for a relay serving HTTPS.
    fn wait_drained_tls(&self, ca: &Path) {
        let url = format!("{}/api/v1/relay/status", self.url.replace("http://", "https://"));
        let deadline = Instant::now() + DRAIN_DEADLINE;
        loop {
            let out = Command::new("curl").args(["-s", "--cacert"]).arg(ca).arg(&url).output().expect("curl");
            let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if status["queue"]["caught_up"] == true {
                return;
            }
            assert!(Instant::now() < deadline, "relay queue not drained: {status}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until the relay's store acknowledged everything queued.
    fn wait_drained(&self) {
        let deadline = Instant::now() + DRAIN_DEADLINE;
        let mut in_a_row = 0;
        while in_a_row < 3 {
            assert!(
                Instant::now() < deadline,
                "relay queue not drained; status {}\nlog:\n{}",
                self.status(),
                self.log()
            );
            in_a_row = if self.status()["queue"]["caught_up"] == true { in_a_row + 1 } else { 0 };
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Status, headers and body of an answer (status 0: no answer).
struct Response {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

fn post(url: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    match harness::remote_write_request(&client, url, body, headers).send() {
        Ok(r) => {
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            Response { status, headers, body: r.text().unwrap_or_default() }
        }
        Err(e) => Response { status: 0, headers: Default::default(), body: e.to_string() },
    }
}

/// The store's config: writes need the relay's service token.
fn store_config() -> String {
    format!("auth:\n  write_bearer_token_hashes: ['{}']\n", hash_secret(SERVICE_TOKEN.as_bytes()))
}

/// A relay config forwarding to the store on `store_port`, with `extra` YAML.
fn relay_config(dir: &Path, store_port: u16, extra: &str) -> String {
    let token = dir.join("service-token");
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(&token, SERVICE_TOKEN).expect("token");
    format!(
        "store:\n  url: http://127.0.0.1:{store_port}/api/v1/write\n  bearer_token_file: {}\n\
         forward:\n  min_backoff: 20ms\n  max_backoff: 200ms\n{extra}",
        token.display()
    )
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn good(metric: &str, t: i64, v: f64) -> rampart::proto::prometheus::TimeSeries {
    harness::series(&[("__name__", metric), ("job", "relay-test")], &[(t, v)])
}

#[test]
fn security_each_refusal_gets_its_status_and_other_tenants_are_unaffected() {
    let tmp = harness::temp_dir();
    let (store_dir, relay_dir) = (tmp.path().join("store"), tmp.path().join("relay"));
    let store = Proc::start("store", &store_dir, &store_config(), harness::free_port());
    let overrides = tmp.path().join("overrides.yaml");
    std::fs::write(
        &overrides,
        "overrides:\n\
         \x20 limited:\n    ingestion_rate: 10\n    ingestion_burst_size: 20\n    max_global_series_per_user: 3\n\
         \x20 team-b:\n    external_labels: {cluster: workload-b}\n    metric_relabel_configs:\n\
         \x20     - {action: drop, source_labels: [__name__], regex: 'debug_.*'}\n",
    )
    .expect("overrides");
    let h = |s: &str| hash_secret(s.as_bytes());
    let extra = format!(
        "tenants:\n\
         - id: team-a\n  bearer_token_hashes: ['{}']\n\
         - id: team-b\n  basic_auth: [{{username: workload-b, password_hash: '{}'}}]\n\
         - id: limited\n  bearer_token_hashes: ['{}']\n\
         limits:\n  max_request_body_bytes: 65536\n\
         overrides:\n  file: {}\n",
        h("token-a"),
        h("password-b"),
        h("token-limited"),
        overrides.display()
    );
    let relay = Proc::start("relay", &relay_dir, &relay_config(&relay_dir, store.port, &extra), harness::free_port());
    let now = harness::now_ms();
    let a = [("Authorization", "Bearer token-a")];
    let b_auth = basic("workload-b", "password-b");
    let b = [("Authorization", b_auth.as_str())];
    let limited = [("Authorization", "Bearer token-limited")];

    struct Case {
        name: &'static str,
        path: &'static str,
        body: Vec<u8>,
        headers: Vec<(&'static str, String)>,
        status: u16,
        message: &'static str,
        header: Option<(&'static str, &'static str)>,
    }
    fn case(
        name: &'static str,
        body: Vec<u8>,
        headers: &[(&'static str, &str)],
        status: u16,
        message: &'static str,
    ) -> Case {
        Case {
            name,
            path: "/api/v1/write",
            body,
            headers: headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            status,
            message,
            header: None,
        }
    }
    let mut cases = vec![
        Case {
            header: Some(("www-authenticate", "Bearer realm=\"rampart\", Basic realm=\"rampart\"")),
            ..case("no credentials", harness::body(vec![good("refused_1", now, 1.0)]), &[], 401, "missing credentials")
        },
        Case {
            header: Some(("www-authenticate", "Bearer realm=\"rampart\", Basic realm=\"rampart\"")),
            ..case(
                "wrong token",
                harness::body(vec![good("refused_2", now, 1.0)]),
                &[("Authorization", "Bearer token-b")],
                401,
                "invalid credentials",
            )
        },
        case(
            "wrong password",
            harness::body(vec![good("refused_3", now, 1.0)]),
            &[("Authorization", &basic("workload-b", "password-a"))],
            401,
            "invalid credentials",
        ),
        case(
            "another tenant's X-Scope-OrgID",
            harness::body(vec![good("refused_4", now, 1.0)]),
            &[a[0], ("X-Scope-OrgID", "team-b")],
            403,
            "does not match the tenant team-a",
        ),
        Case {
            path: "/api/v1/receive",
            ..case(
                "another tenant's THANOS-TENANT",
                harness::body(vec![good("refused_5", now, 1.0)]),
                &[b[0], ("THANOS-TENANT", "team-a")],
                403,
                "does not match the tenant team-b",
            )
        },
        case("oversized body", vec![0u8; 70 * 1024], &a, 413, "exceeds the limit of 65536 bytes"),
        case("malformed snappy", b"\xff\xff\xff\xff not snappy".to_vec(), &a, 400, "invalid snappy block"),
        case(
            "invalid label name: the valid series is kept",
            harness::body(vec![
                harness::series(&[("__name__", "m"), ("bad-name", "x")], &[(now, 1.0)]),
                good("kept_a", now, 2.0),
            ]),
            &a,
            400,
            "accepted 1 samples, rejected 1:\n1 invalid_label_name: invalid label name \"bad-name\"",
        ),
        case(
            "too many series: the first three are kept",
            harness::body((0..5).map(|i| good(&format!("series_{i}"), now, 1.0)).collect()),
            &limited,
            400,
            "2 per_user_series_limit: per-user series limit of 3 exceeded for tenant limited",
        ),
        Case {
            header: Some(("retry-after", "")),
            ..case(
                "over the ingestion rate",
                harness::body(
                    (0..3)
                        .map(|i| {
                            harness::series(
                                &[("__name__", &format!("series_{i}"))],
                                &[
                                    (now + 1, 1.0),
                                    (now + 2, 1.0),
                                    (now + 3, 1.0),
                                    (now + 4, 1.0),
                                    (now + 5, 1.0),
                                    (now + 6, 1.0),
                                    (now + 7, 1.0),
                                    (now + 8, 1.0),
                                ],
                            )
                        })
                        .collect(),
                ),
                &limited,
                429,
                "ingestion rate limit of 10 samples/s with burst 20",
            )
        },
        case("team-a writes", harness::body(vec![good("kept_a2", now, 3.0)]), &a, 204, ""),
        Case {
            path: "/api/v1/receive",
            ..case(
                "team-b writes the Thanos way, its relabeling drops debug_ series",
                harness::body(vec![good("kept_b", now, 4.0), good("debug_x", now, 5.0)]),
                &[b[0], ("THANOS-TENANT", "team-b")],
                204,
                "",
            )
        },
    ];
    for c in cases.drain(..) {
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = relay.post(c.path, c.body, &headers);
        assert_eq!(r.status, c.status, "{}: {}", c.name, r.body);
        assert!(r.body.contains(c.message), "{}: {:?} lacks {:?}", c.name, r.body, c.message);
        if let Some((name, value)) = c.header {
            let got =
                r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("{}: no {name}", c.name));
            assert!(got.starts_with(value), "{}: {name}: {got}", c.name);
        }
        // Another tenant is unaffected by whatever was just refused.
        let r = relay.post("/api/v1/write", harness::body(vec![good("after", now, 9.0)]), &b);
        assert_eq!(r.status, 204, "team-b after {}: {}", c.name, r.body);
    }
    // The store itself refuses writes without the service token.
    let r = store.post("/api/v1/write", harness::body(vec![good("direct", now, 1.0)]), &[]);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.headers.contains_key("www-authenticate"));
    let r = store.post("/api/v1/write", harness::body(vec![good("direct", now, 1.0)]), &a);
    assert_eq!(r.status, 401, "a tenant's token is not a store credential: {}", r.body);

    let metrics = relay.metrics();
    for line in [
        "rampart_relay_requests_refused_total{reason=\"missing_credentials\"} 1",
        "rampart_relay_requests_refused_total{reason=\"bad_credentials\"} 2",
        "rampart_relay_requests_refused_total{reason=\"tenant_mismatch\"} 2",
        "rampart_relay_requests_refused_total{reason=\"request_too_large\"} 1",
        "rampart_relay_requests_refused_total{reason=\"rate_limited\"} 1",
        "rampart_relay_samples_rejected_total{tenant=\"limited\",reason=\"per_user_series_limit\"} 2",
        "rampart_relay_samples_rejected_total{tenant=\"team-a\",reason=\"invalid_label_name\"} 1",
        "rampart_relay_samples_relabel_dropped_total{tenant=\"team-b\"} 1",
    ] {
        assert!(metrics.contains(line), "metrics lack {line}:\n{metrics}");
    }
    relay.wait_drained();
    relay.stop();
    store.stop();

    let names = |tenant: &str| -> Vec<String> {
        harness::dump(&store_dir, &["--tenant", tenant]).into_iter().map(|(labels, _, _)| labels).collect()
    };
    assert_eq!(
        names("team-a"),
        [r#"{__name__="kept_a", job="relay-test"}"#, r#"{__name__="kept_a2", job="relay-test"}"#]
    );
    assert_eq!(
        names("team-b"),
        [
            r#"{__name__="after", cluster="workload-b", job="relay-test"}"#,
            r#"{__name__="kept_b", cluster="workload-b", job="relay-test"}"#
        ]
    );
    assert_eq!(
        names("limited"),
        [
            r#"{__name__="series_0", job="relay-test"}"#,
            r#"{__name__="series_1", job="relay-test"}"#,
            r#"{__name__="series_2", job="relay-test"}"#
        ]
    );
    assert!(names("default").is_empty(), "nothing reached the default tenant");
}

/// A sample key: (series index, timestamp) → value bits.
type Samples = HashMap<(usize, i64), u64>;

/// Sends one sample per series per batch to the URL in `url` (which may
/// change while it runs) until `stop`; records what was sent and what was
/// acknowledged. Refused or unanswered batches are sent anew later with new
/// timestamps, as a sender that gave up on them would.
fn write_load(url: &Mutex<String>, stop: &AtomicBool, sent: &Mutex<Samples>, acked: &Mutex<Samples>) {
    const SERIES: usize = 20;
    let mut t = harness::now_ms();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        t = (t + 1).max(harness::now_ms());
        n += 1;
        let batch: Vec<(usize, f64)> = (0..SERIES).map(|i| (i, (n * 100 + i as u64) as f64)).collect();
        let ts = batch
            .iter()
            .map(|(i, v)| harness::series(&[("__name__", "load"), ("idx", &i.to_string())], &[(t, *v)]))
            .collect();
        {
            let mut s = sent.lock().expect("sent");
            for (i, v) in &batch {
                s.insert((*i, t), v.to_bits());
            }
        }
        let u = url.lock().expect("url").clone();
        let r = post(&u, harness::body(ts), &[("Authorization", "Bearer token-a")]);
        if r.status == 204 {
            let mut a = acked.lock().expect("acked");
            for (i, v) in &batch {
                a.insert((*i, t), v.to_bits());
            }
        } else {
            assert!(r.status == 0 || r.status >= 500, "refused with {}: {}", r.status, r.body);
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn no_acknowledged_sample_is_lost_across_a_store_outage_and_a_relay_sigkill() {
    let tmp = harness::temp_dir();
    let (store_dir, relay_dir) = (tmp.path().join("store"), tmp.path().join("relay"));
    let (store_port, relay_port) = (harness::free_port(), harness::free_port());
    let store = Proc::start("store", &store_dir, &store_config(), store_port);
    let extra = format!("tenants:\n- id: team-a\n  bearer_token_hashes: ['{}']\n", hash_secret(b"token-a"));
    let relay_yaml = relay_config(&relay_dir, store_port, &extra);
    let relay = Proc::start("relay", &relay_dir, &relay_yaml, relay_port);

    let url = Arc::new(Mutex::new(format!("{}/api/v1/write", relay.url)));
    let (stop, sent, acked) =
        (Arc::new(AtomicBool::new(false)), Arc::<Mutex<Samples>>::default(), Arc::<Mutex<Samples>>::default());
    let writer = {
        let (url, stop, sent, acked) = (url.clone(), stop.clone(), sent.clone(), acked.clone());
        std::thread::spawn(move || write_load(&url, &stop, &sent, &acked))
    };
    let acked_count = || acked.lock().expect("acked").len();
    let wait_for_more = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        let start = acked_count();
        while acked_count() < start + n {
            assert!(Instant::now() < deadline, "writes stalled at {}", acked_count());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for_more(2000);
    // The store goes away; the relay keeps acknowledging into its queue.
    store.kill();
    wait_for_more(2000);
    let queued = relay.status()["queue"]["caught_up"].clone();
    assert_eq!(queued, false, "with the store down the queue cannot be caught up");
    // The relay dies mid-load with a backlog on disk, and comes back.
    relay.kill();
    let relay = Proc::start("relay", &relay_dir, &relay_yaml, relay_port);
    assert!(relay.log().contains("relay queue opened"), "{}", relay.log());
    wait_for_more(2000);
    // The store comes back; the backlog drains while writes go on.
    let store = Proc::start("store", &store_dir, &store_config(), store_port);
    wait_for_more(2000);
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    relay.wait_drained();
    let relay_log = relay.log();
    relay.stop();
    store.stop();

    let dumped = harness::dump(&store_dir, &["--tenant", "team-a"]);
    let mut stored: Samples = HashMap::new();
    for (labels, bits, t) in dumped {
        let idx = labels
            .split("idx=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("unexpected series {labels}"));
        assert!(stored.insert((idx, t), bits).is_none(), "sample ({idx}, {t}) stored twice");
    }
    let (sent, acked) = (sent.lock().expect("sent"), acked.lock().expect("acked"));
    assert!(acked.len() >= 8000, "too few acknowledged samples to prove anything: {}", acked.len());
    let missing: Vec<_> = acked.iter().filter(|(k, v)| stored.get(k) != Some(v)).take(5).collect();
    assert!(missing.is_empty(), "acknowledged samples missing or changed: {missing:?}\nrelay log:\n{relay_log}");
    for (k, v) in &stored {
        assert_eq!(sent.get(k), Some(v), "stored sample {k:?} was never sent");
    }
}

/// Sends like one Prometheus replica of cluster `c1`: every `interval`, one
/// sample of a counter that grows with time: twice the timestamp in ms, plus
/// one for replica `r2` so that its samples can be told apart; until `stop`.
fn ha_replica(url: String, token: &str, replica: &str, interval: Duration, stop: &AtomicBool) {
    let offset = if replica == "r2" { 1.0 } else { 0.0 };
    let auth = format!("Bearer {token}");
    while !stop.load(Ordering::Relaxed) {
        let t = harness::now_ms();
        let s = harness::series(
            &[("__name__", "ha_counter"), ("__replica__", replica), ("cluster", "c1"), ("job", "ha")],
            &[(t, 2.0 * t as f64 + offset)],
        );
        let r = post(&url, harness::body(vec![s]), &[("Authorization", &auth)]);
        assert_eq!(r.status, 204, "{replica}: {}", r.body);
        std::thread::sleep(interval);
    }
}

#[test]
fn ha_one_replica_is_stored_and_failover_leaves_no_gap_overlap_or_reset() {
    const FAILOVER: Duration = Duration::from_secs(2);
    const INTERVAL: Duration = Duration::from_millis(200);
    let tmp = harness::temp_dir();
    let store_dir = tmp.path().join("store");
    let store = Proc::start("store", &store_dir, &store_config(), harness::free_port());
    // Two relay replicas sharing the store's lease; each Prometheus replica
    // reaches a different relay, the case that needs the lease.
    let extra = format!(
        "tenants:\n- id: team-a\n  bearer_token_hashes: ['{}']\n\
         limits:\n  accept_ha_samples: true\n\
         ha:\n  failover_timeout: 2s\n  update_timeout: 500ms\n",
        hash_secret(b"token-a")
    );
    let relays: Vec<Proc> = ["relay1", "relay2"]
        .iter()
        .map(|name| {
            let dir = tmp.path().join(name);
            Proc::start("relay", &dir, &relay_config(&dir, store.port, &extra), harness::free_port())
        })
        .collect();
    let start = |relay: &Proc, replica: &'static str| {
        let stop = Arc::new(AtomicBool::new(false));
        let (url, s) = (format!("{}/api/v1/write", relay.url), stop.clone());
        (stop, std::thread::spawn(move || ha_replica(url, "token-a", replica, INTERVAL, &s)))
    };
    let elected = |relay: &Proc| relay.status()["ha"]["clusters"][0]["elected_replica"].clone();
    let (stop1, r1) = start(&relays[0], "r1");
    // r2 starts once r1 holds the lease, so the election is not a race.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while elected(&relays[0]) != "r1" {
        assert!(std::time::Instant::now() < deadline, "r1 never elected: {}", relays[0].status());
        std::thread::sleep(INTERVAL);
    }
    let (stop2, r2) = start(&relays[1], "r2");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(elected(&relays[0]), "r1");
    assert_eq!(elected(&relays[1]), "r1", "the second relay follows the store's lease");
    // The elected replica stops; r2 takes over.
    stop1.store(true, Ordering::Relaxed);
    r1.join().expect("r1");
    std::thread::sleep(FAILOVER + Duration::from_secs(2));
    stop2.store(true, Ordering::Relaxed);
    r2.join().expect("r2");
    let status = relays[1].status();
    assert_eq!(status["ha"]["clusters"][0]["elected_replica"], "r2", "{status}");
    assert_eq!(status["ha"]["clusters"][0]["failovers"], 1, "{status}");
    let metrics = relays[1].metrics();
    assert!(
        metrics.contains("rampart_relay_ha_elected_replica{tenant=\"team-a\",cluster=\"c1\",replica=\"r2\"} 1"),
        "{metrics}"
    );
    for relay in relays {
        relay.wait_drained();
        relay.stop();
    }
    store.stop();

    let samples = harness::dump(&store_dir, &["--tenant", "team-a"]);
    let series: Vec<&str> =
        samples.iter().map(|(l, _, _)| l.as_str()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(series, [r#"{__name__="ha_counter", cluster="c1", job="ha"}"#], "replica label removed");
    let points: Vec<(i64, f64)> = samples.iter().map(|&(_, bits, t)| (t, f64::from_bits(bits))).collect();
    let from_r2 = |v: f64| v as i64 % 2 == 1;
    let switch = points.iter().position(|&(_, v)| from_r2(v)).expect("r2 took over");
    assert!(switch > 5, "r1 was stored first");
    assert!(points[..switch].iter().all(|&(_, v)| !from_r2(v)), "only r1 before the failover");
    assert!(points[switch..].iter().all(|&(_, v)| from_r2(v)), "only r2 after the failover, no overlap");
    let gap = Duration::from_millis((points[switch].0 - points[switch - 1].0) as u64);
    // Scheduling slack for the test machine on top of the bound.
    assert!(gap <= FAILOVER + INTERVAL + Duration::from_millis(300), "gap of {gap:?} at the failover");
    assert!(gap >= FAILOVER - Duration::from_millis(600), "failover after {gap:?}, before the timeout");
    for w in points.windows(2) {
        assert!(w[1].0 > w[0].0 && w[1].1 >= w[0].1, "counter went backwards (a false reset): {w:?}");
    }
}

/// Runs Prometheus 2.42 (Debian's `prometheus` package).
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_binary() -> PathBuf {
    let path = PathBuf::from("/usr/bin/prometheus");
    assert!(path.exists(), "{} is missing: install Debian's `prometheus` package (scripts/test does)", path.display());
    path
}

#[test]
fn prometheus_remote_writes_through_the_relay_as_its_tsdb_has_it() {
    let tmp = harness::temp_dir();
    let (store_dir, relay_dir, prom_dir) =
        (tmp.path().join("store"), tmp.path().join("relay"), tmp.path().join("prom"));
    let store = Proc::start("store", &store_dir, &store_config(), harness::free_port());
    // A workload cluster that used to send to Thanos receive: basic auth,
    // THANOS-TENANT, replica label prometheus_replica.
    let extra = format!(
        "tenants:\n- id: workload-1\n  basic_auth: [{{username: prom, password_hash: '{}'}}]\n\
         limits:\n  accept_ha_samples: true\n  ha_replica_label: prometheus_replica\n",
        hash_secret(b"prom-password")
    );
    let relay = Proc::start("relay", &relay_dir, &relay_config(&relay_dir, store.port, &extra), harness::free_port());
    let prom_port = harness::free_port();
    std::fs::create_dir_all(&prom_dir).expect("dir");
    let prom_config = prom_dir.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels: {{cluster: workload-1, prometheus_replica: prometheus-0}}\n\
             scrape_configs:\n  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]\n\
             remote_write:\n  - url: {}/api/v1/receive\n    headers: {{THANOS-TENANT: workload-1}}\n\
             \x20   basic_auth: {{username: prom, password: prom-password}}\n\
             \x20   queue_config: {{batch_send_deadline: 500ms, min_backoff: 50ms, max_backoff: 500ms}}\n",
            relay.url
        ),
    )
    .expect("prometheus config");
    let prometheus = Prometheus {
        child: Command::new(prometheus_binary())
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!("--storage.tsdb.path={}", prom_dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
        url: format!("http://127.0.0.1:{prom_port}"),
    };
    // Let it scrape itself for a while and send.
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = |q: &str| -> serde_json::Value {
        reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/query", prometheus.url))
            .query(&[("query", q)])
            .send()
            .and_then(|r| r.json())
            .unwrap_or_default()
    };
    loop {
        let n = query("count_over_time(up[1m])")["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap_or("0")
            .parse::<u32>()
            .unwrap_or(0);
        if n >= 8 {
            break;
        }
        assert!(Instant::now() < deadline, "prometheus did not scrape");
        std::thread::sleep(Duration::from_millis(250));
    }
    // Prometheus's own samples of a few series, raw.
    let metrics = ["up", "prometheus_tsdb_head_series", "scrape_samples_scraped"];
    let mut want: BTreeMap<&str, Vec<(i64, f64)>> = BTreeMap::new();
    for m in metrics {
        let r = query(&format!("{m}[2m]"));
        let values = r["data"]["result"][0]["values"].as_array().unwrap_or_else(|| panic!("{m}: {r}")).clone();
        want.insert(
            m,
            values
                .iter()
                .map(|p| {
                    let t = (p[0].as_f64().expect("time") * 1000.0).round() as i64;
                    (t, p[1].as_str().expect("value").parse().expect("float"))
                })
                .collect(),
        );
    }
    // Give remote write time to send what was queried, then stop.
    std::thread::sleep(Duration::from_secs(2));
    drop(prometheus);
    relay.wait_drained();
    relay.stop();
    store.stop();

    let stored = harness::dump(&store_dir, &["--tenant", "workload-1"]);
    for (m, points) in want {
        let series =
            format!(r#"{{__name__="{m}", cluster="workload-1", instance="127.0.0.1:{prom_port}", job="prometheus"}}"#);
        let got: BTreeMap<i64, f64> =
            stored.iter().filter(|(l, _, _)| *l == series).map(|&(_, bits, t)| (t, f64::from_bits(bits))).collect();
        assert!(
            !got.is_empty(),
            "{series} not stored; stored series: {:?}",
            stored.iter().map(|s| &s.0).collect::<std::collections::BTreeSet<_>>()
        );
        assert!(points.len() >= 5, "{m}: prometheus has only {} samples", points.len());
        for (t, v) in &points {
            assert_eq!(got.get(t), Some(v), "{m} at {t}: prometheus has {v}, rampart {:?}", got.get(t));
        }
    }
    assert!(
        !stored.iter().any(|(l, _, _)| l.contains("prometheus_replica")),
        "the replica label is removed before storage"
    );
}

/// POSTs a remote-write body over HTTPS with curl (optionally presenting a
/// client certificate); returns the status (0 when the handshake failed)
/// and curl's messages.
fn curl_write(url: &str, ca: &Path, cert: Option<(&Path, &Path)>, body: &Path) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"]).arg(ca);
    if let Some((c, k)) = cert {
        cmd.arg("--cert").arg(c).arg("--key").arg(k);
    }
    cmd.args(["-H", "Content-Encoding: snappy", "-H", "Content-Type: application/x-protobuf"])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(url);
    let out = cmd.output().expect("curl (Debian package curl)");
    (
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mtls_client_certificates_signed_by_the_ca_map_to_their_tenant() {
    let tmp = harness::temp_dir();
    let (store_dir, relay_dir) = (tmp.path().join("store"), tmp.path().join("relay"));
    // A CA, the relay's certificate, a client certificate for workload-m
    // signed by the CA, and one with the same name that the CA did not sign.
    let pki = tmp.path().join("pki");
    let test_ca = harness::TestCa::new(&pki, "rampart-test-ca");
    let (server_cert, server_key) = test_ca.issue("server", "relay", &["127.0.0.1"]);
    let (client_cert, client_key) = test_ca.issue("client", "workload-m", &[]);
    let (rogue_cert, rogue_key) = harness::TestCa::new(&pki, "rogue-ca").issue("rogue", "workload-m", &[]);
    let store = Proc::start("store", &store_dir, &store_config(), harness::free_port());
    let extra = format!(
        "tls:\n  cert_file: {}\n  key_file: {}\n  client_ca_file: {}\n\
         tenants:\n- id: team-m\n  client_certificate_names: [workload-m]\n",
        server_cert.display(),
        server_key.display(),
        test_ca.cert_file.display()
    );
    let ca = test_ca.cert_file.clone();
    let relay = Proc::start_with(
        "relay",
        &relay_dir,
        &relay_config(&relay_dir, store.port, &extra),
        harness::free_port(),
        |url| {
            let out = Command::new("curl")
                .args(["-s", "--cacert"])
                .arg(&ca)
                .arg(format!("{}/-/ready", url.replace("http://", "https://")))
                .output();
            out.is_ok_and(|o| o.status.success())
        },
    );
    let url = format!("{}/api/v1/write", relay.url.replace("http://", "https://"));
    let now = harness::now_ms();
    let body = tmp.path().join("body");
    std::fs::write(&body, harness::body(vec![good("via_mtls", now, 1.0)])).expect("body");
    let client = Some((client_cert.as_path(), client_key.as_path()));
    let (status, messages) = curl_write(&url, &ca, client, &body);
    assert_eq!(status, 204, "a certificate signed by the CA: {messages}");
    let (status, messages) = curl_write(&url, &ca, None, &body);
    assert_eq!(status, 401, "no certificate and no other credential: {messages}");
    let rogue = Some((rogue_cert.as_path(), rogue_key.as_path()));
    let (status, messages) = curl_write(&url, &ca, rogue, &body);
    assert_eq!(status, 0, "a certificate the CA did not sign fails the handshake: {messages}");
    relay.wait_drained_tls(&ca);
    relay.stop();
    store.stop();
    let stored = harness::dump(&store_dir, &["--tenant", "team-m"]);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0, r#"{__name__="via_mtls", job="relay-test"}"#);
}

#[test]
fn rampart_all_runs_the_relay_in_front_of_its_store() {
    let tmp = harness::temp_dir();
    let data = tmp.path().join("data");
    let relay_port = harness::free_port();
    let relay_yaml = tmp.path().join("relay.yaml");
    std::fs::write(
        &relay_yaml,
        format!(
            "listen: 127.0.0.1:{relay_port}\ndata_dir: {}\n\
             tenants:\n- id: team-a\n  bearer_token_hashes: ['{}']\n",
            tmp.path().join("relay-data").display(),
            hash_secret(b"token-a")
        ),
    )
    .expect("relay config");
    let relay_url = format!("http://127.0.0.1:{relay_port}");
    let relay_config = relay_yaml.to_str().expect("UTF-8 path");
    let all = harness::Server::start_with(
        harness::free_port(),
        "all",
        &data,
        "",
        &["--relay-config", relay_config],
        "http",
        |_| reqwest::blocking::get(format!("{relay_url}/-/ready")).is_ok_and(|r| r.status() == 200),
    );
    let now = harness::now_ms();
    let r = post(
        &format!("{relay_url}/api/v1/write"),
        harness::body(vec![good("through_all", now, 1.0)]),
        &[("Authorization", "Bearer token-a")],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = post(&format!("{relay_url}/api/v1/write"), harness::body(vec![good("no_auth", now, 1.0)]), &[]);
    assert_eq!(r.status, 401, "{}", r.body);
    let deadline = Instant::now() + DRAIN_DEADLINE;
    loop {
        let status: serde_json::Value = reqwest::blocking::get(format!("{relay_url}/api/v1/relay/status"))
            .and_then(|r| r.json())
            .expect("relay status");
        if status["queue"]["caught_up"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "relay queue not drained: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    all.stop();
    let stored = harness::dump(&data, &["--tenant", "team-a"]);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0, r#"{__name__="through_all", job="relay-test"}"#);
}
