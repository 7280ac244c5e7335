//! The whole chain on one machine, by the same scripts a person runs:
//! `deploy/local/up.sh` starts node-exporter, a workload Prometheus, the
//! relay (HTTPS, basic auth), the store and Alertmanager on loopback; the
//! node-exporter's series are then queryable from the store with the
//! writer's tenant (and only with it) and the operator credential up.sh
//! makes (the store locks every endpoint but the probes); the store's ruler evaluates the
//! tenant's rules and its always-firing alert reaches Alertmanager; and
//! `down.sh` leaves no process behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{debian_tool, repo, run, run_ok, store_query};
use crate::harness::free_port;
use crate::harness::{binary, temp_dir};

/// How long node-exporter's samples may take to reach the store (scrape
/// every 5 s, remote-write batches every second).
const DATA_DEADLINE: Duration = Duration::from_secs(90);

/// The tenant up.sh gives the writer.
const TENANT: &str = "team-a";

/// The alert that up.sh makes always fire (evaluated every 5 s).
const CHAIN_ALERT: &str = "RampartChainCheck";

/// The local chain's state directory and ports; runs down.sh when dropped,
/// so a failed assertion leaves no process behind either.
struct Chain {
    dir: PathBuf,
    env: Vec<(&'static str, String)>,
    store: u16,
}

impl Chain {
    fn script(&self, name: &str) -> Command {
        let mut cmd = Command::new(repo().join("deploy/local").join(name));
        cmd.env("RAMPART_BIN", binary()).env("RAMPART_LOCAL_DIR", &self.dir);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Pids of live processes whose command line names the state directory.
    fn processes(&self) -> Vec<(u32, String)> {
        let dir = self.dir.to_string_lossy().into_owned();
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            if status.lines().any(|l| l.starts_with("State:") && l.contains('Z')) {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&dir) {
                out.push((pid, cmdline));
            }
        }
        out
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = self.script("down.sh").output();
    }
}

fn pids(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("run"))
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn local_chain_up_serves_the_writers_series_and_alerts_and_down_stops_everything() {
    for (program, package) in [
        ("prometheus", "prometheus"),
        ("prometheus-node-exporter", "prometheus-node-exporter"),
        ("prometheus-alertmanager", "prometheus-alertmanager"),
        ("openssl", "openssl"),
        ("curl", "curl"),
    ] {
        debian_tool(program, package);
    }
    let tmp = temp_dir();
    let (store, alertmanager) = (free_port(), free_port());
    let chain = Chain {
        dir: tmp.path().join("chain"),
        env: vec![
            ("RAMPART_LOCAL_STORE_PORT", store.to_string()),
            ("RAMPART_LOCAL_RELAY_PORT", free_port().to_string()),
            ("RAMPART_LOCAL_PROMETHEUS_PORT", free_port().to_string()),
            ("RAMPART_LOCAL_ALERTMANAGER_PORT", alertmanager.to_string()),
            ("RAMPART_LOCAL_NODE_EXPORTER_PORT", free_port().to_string()),
        ],
        store,
    };
    let printed = run_ok(&mut chain.script("up.sh"));
    let store_url = format!("http://127.0.0.1:{}", chain.store);
    assert!(printed.contains(&store_url), "up.sh says where the store listens:\n{printed}");
    assert!(printed.contains("X-Scope-OrgID: team-a"), "up.sh prints a query to try:\n{printed}");
    for place in [format!("{store_url}/api/v1/rules"), format!("http://127.0.0.1:{alertmanager}/api/v2/alerts")] {
        assert!(printed.contains(&place), "up.sh says where rules and alerts are ({place}):\n{printed}");
    }
    let mut running = pids(&chain.dir);
    running.sort();
    assert_eq!(running, ["alertmanager.pid", "node-exporter.pid", "prometheus.pid", "relay.pid", "store.pid"]);

    // The store only takes the relay's token for writes, and every other
    // endpoint but the probes needs a credential too.
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let secret = |name: &str| std::fs::read_to_string(chain.dir.join("secrets").join(name)).expect("secret");
    let (operator_token, metrics_token) = (secret("operator.token"), secret("metrics.token"));
    let operator = |r: reqwest::blocking::RequestBuilder| r.bearer_auth(&operator_token);
    let r = client.post(format!("{store_url}/api/v1/write")).body(Vec::new()).send().expect("write");
    assert_eq!(r.status(), 401, "the store refuses writes without the relay's token");
    let r = operator(client.post(format!("{store_url}/api/v1/write"))).body(Vec::new()).send().expect("write");
    assert_eq!(r.status(), 403, "the operator's read credential does not write");
    let r = client.get(format!("{store_url}/metrics")).send().expect("metrics");
    assert_eq!(r.status(), 401, "/metrics without the metrics token");

    let deadline = Instant::now() + DATA_DEADLINE;
    let result = loop {
        let result =
            store_query(&store_url, TENANT, r#"node_cpu_seconds_total{job="node", cluster="local"}"#, operator);
        if !result.is_empty() {
            break result;
        }
        let logs = || std::fs::read_to_string(chain.dir.join("logs/prometheus.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "no node-exporter series in the store; Prometheus log:\n{}", logs());
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(result.iter().all(|s| s["metric"]["instance"].as_str().is_some_and(|i| i.starts_with("127.0.0.1:"))));
    let other_tenant = store_query(&store_url, "default", "node_cpu_seconds_total", operator);
    assert!(other_tenant.is_empty(), "another tenant sees nothing");
    // Prometheus scrapes Rampart under the job names of its self-monitoring rules.
    while store_query(&store_url, TENANT, r#"up{job=~"rampart-store|rampart-relay"} == 1"#, operator).len() < 2 {
        assert!(Instant::now() < deadline, "no up series of rampart-store and rampart-relay in the store");
        std::thread::sleep(Duration::from_millis(500));
    }

    // The ruler's always-firing alert reaches Alertmanager.
    let alertmanager_url = format!("http://127.0.0.1:{alertmanager}");
    loop {
        let alerts: serde_json::Value = client
            .get(format!("{alertmanager_url}/api/v2/alerts"))
            .send()
            .and_then(|r| r.json())
            .expect("Alertmanager's alerts");
        let names: Vec<&str> =
            alerts.as_array().into_iter().flatten().filter_map(|a| a["labels"]["alertname"].as_str()).collect();
        if names.contains(&CHAIN_ALERT) {
            break;
        }
        let log = || std::fs::read_to_string(chain.dir.join("logs/store.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "{CHAIN_ALERT} not in Alertmanager ({names:?}); store log:\n{}", log());
        std::thread::sleep(Duration::from_millis(500));
    }
    let metrics = client
        .get(format!("{store_url}/metrics"))
        .bearer_auth(&metrics_token)
        .send()
        .and_then(|r| r.text())
        .expect("metrics");
    let evaluations = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("rampart_rule_evaluations_total{")?.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>();
    assert!(evaluations > 0.0, "rampart_rule_evaluations_total counts no evaluation:\n{metrics}");

    let out = run(&mut chain.script("down.sh"));
    assert!(out.status.success(), "down.sh: {}", String::from_utf8_lossy(&out.stderr));
    assert!(pids(&chain.dir).is_empty(), "down.sh leaves pid files: {:?}", pids(&chain.dir));
    let left = chain.processes();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}
