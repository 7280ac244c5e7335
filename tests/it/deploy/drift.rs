//! No drift between the manifests and the binary: the store and relay of
//! deploy/kubernetes/management start with the args of their StatefulSets
//! and the ConfigMaps and Secrets mounted into them (paths moved into a
//! temporary directory, Service names onto loopback); the workload side's
//! credentials write through that relay, its HA labels are the relay's; the
//! store's ruler loads the mounted rule files and evaluates every group; and
//! every metric name that the dashboards and the self-monitoring rules use
//! is exposed at `/metrics` after ingest, queries, a flush, a tamper
//! verification and rule evaluation. The credentials are the manifests'
//! own, taken where their clients take them (Grafana's data source and its
//! Secret, the ServiceMonitors' Secret), and they lock what they should:
//! `/metrics` needs the metrics token, Grafana's read credential reads but
//! cannot write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::{walk_expr, ExprVisitor};
use serde_yaml::Value;

use super::{render, repo, store_query, yaml_docs, yaml_file};
use crate::harness::free_port;
use crate::harness::{binary, body, now_ms, series, temp_dir};
use rampart::credentials::hash_secret;

/// Metrics the dashboards and rules take from other exporters, and which.
const EXTERNAL_METRICS: [(&str, &str); 3] = [
    ("up", "Prometheus, one per scrape target"),
    ("kubelet_volume_stats_available_bytes", "the kubelet, per PersistentVolumeClaim"),
    ("kubelet_volume_stats_capacity_bytes", "the kubelet, per PersistentVolumeClaim"),
];

/// How long a process may take to become ready, and data to arrive.
const DEADLINE: Duration = Duration::from_secs(60);

/// How long after its evaluation interval every rule group may take to
/// have been evaluated once (a group's first evaluation comes within one
/// interval of the start).
const RULES_SLACK: Duration = Duration::from_secs(30);

/// The tenant, writer and HA labels the example manifests configure.
const TENANT: &str = "team-a";

// ---------------------------------------------------------------------------
// Metric names in dashboards and rules

/// Metric names of the selectors in a PromQL expression.
fn metric_names(expr: &Expr) -> BTreeSet<String> {
    struct Names(BTreeSet<String>);
    impl Names {
        fn add(&mut self, vs: &VectorSelector) {
            let name = vs
                .name
                .clone()
                .or_else(|| vs.matchers.matchers.iter().find(|m| m.name == "__name__").map(|m| m.value.clone()));
            self.0.insert(name.unwrap_or_else(|| panic!("selector without a metric name: {vs}")));
        }
    }
    impl ExprVisitor for Names {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            match e {
                Expr::VectorSelector(vs) => self.add(vs),
                Expr::MatrixSelector(ms) => self.add(&ms.vs),
                _ => {}
            }
            Ok(true)
        }
        fn post_visit(&mut self, _: &Expr) -> Result<bool, Self::Error> {
            Ok(true)
        }
    }
    let mut names = Names(BTreeSet::new());
    let _ = walk_expr(&mut names, expr);
    names.0
}

/// Grafana's variables replaced by values a query could have: interval
/// variables by durations, template variables (in label matchers) by `.*`.
fn substitute_grafana_variables(query: &str) -> String {
    let q = query.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h");
    regex::Regex::new(r"\$\{?\w+\}?").expect("regex").replace_all(&q, ".*").into_owned()
}

/// Every query of a dashboard, with where it is: panel targets (in rows
/// too) and template variables (`label_values(selector, label)`).
fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    fn panels(list: &serde_json::Value, out: &mut Vec<(String, String)>) {
        for p in list.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((format!("panel {:?}", p["title"]), expr.to_owned()));
                }
            }
            panels(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&dashboard["panels"], &mut out);
    let label_values = regex::Regex::new(r"^label_values\((.+),\s*\w+\)$").expect("regex");
    for v in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"]["query"].as_str().or(v["query"].as_str()).expect("variable query");
        let selector = label_values.captures(q).unwrap_or_else(|| panic!("variable {}: {q}", v["name"]));
        out.push((format!("variable {}", v["name"]), selector[1].to_owned()));
    }
    out
}

/// The dashboards: file name and parsed JSON.
fn dashboards() -> Vec<(String, serde_json::Value)> {
    let dir = repo().join("deploy/kubernetes/grafana/dashboards");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("dashboards")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let json = serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("dashboard JSON");
            (p.file_name().expect("name").to_string_lossy().into_owned(), json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every metric name the dashboards and the self-monitoring rules use, with
/// where it is used.
fn used_metric_names() -> BTreeMap<String, String> {
    let mut used = BTreeMap::new();
    for (file, dashboard) in dashboards() {
        for (place, query) in dashboard_queries(&dashboard) {
            let expr = rampart::promql::parse(&substitute_grafana_variables(&query))
                .unwrap_or_else(|e| panic!("{file} {place}: {query}: {e}"));
            for name in metric_names(&expr) {
                used.entry(name).or_insert_with(|| format!("{file} {place}"));
            }
        }
    }
    let rules = yaml_file("deploy/rules/rampart-self-monitoring.yaml");
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let expr = rule["expr"].as_str().expect("expr");
            let alert = rule["alert"].as_str().or(rule["record"].as_str()).expect("name");
            let parsed = rampart::promql::parse(expr).unwrap_or_else(|e| panic!("rule {alert}: {e}"));
            for name in metric_names(&parsed) {
                used.entry(name).or_insert_with(|| format!("rule {alert}"));
            }
        }
    }
    used
}

/// The data source provisioning file in the rendered Grafana ConfigMaps.
fn datasource_provisioning(rendered: &[Value]) -> Value {
    let configmap = rendered
        .iter()
        .find(|d| d["metadata"]["labels"]["grafana_datasource"].as_str() == Some("1"))
        .expect("a ConfigMap labelled grafana_datasource: \"1\"");
    serde_yaml::from_str(configmap["data"]["rampart.yaml"].as_str().expect("rampart.yaml")).expect("yaml")
}

#[test]
fn every_dashboard_query_parses_and_every_dashboard_is_provisioned() {
    let dashboards = dashboards();
    assert!(dashboards.len() >= 6, "{} dashboards", dashboards.len());
    let mut uids = BTreeSet::new();
    let mut queries = 0;
    for (file, d) in &dashboards {
        assert!(uids.insert(d["uid"].as_str().expect("uid").to_owned()), "{file}: duplicate uid");
        assert!(d["title"].as_str().is_some_and(|t| t.starts_with("Rampart / ")), "{file}: title");
        for (place, query) in dashboard_queries(d) {
            rampart::promql::parse(&substitute_grafana_variables(&query))
                .unwrap_or_else(|e| panic!("{file} {place}: {query}: {e}"));
            queries += 1;
        }
    }
    assert!(queries >= 50, "{queries} queries");
    // The sidecar's ConfigMap holds every dashboard, byte for byte.
    let rendered = yaml_docs(&render("deploy/kubernetes/grafana"));
    let configmap = rendered
        .iter()
        .find(|d| d["metadata"]["labels"]["grafana_dashboard"].as_str() == Some("1"))
        .expect("a ConfigMap labelled grafana_dashboard: \"1\"");
    for (file, _) in &dashboards {
        let on_disk =
            std::fs::read_to_string(repo().join("deploy/kubernetes/grafana/dashboards").join(file)).expect("read");
        assert_eq!(configmap["data"][file.as_str()].as_str(), Some(on_disk.as_str()), "{file} not in the ConfigMap");
    }
    let provisioning = datasource_provisioning(&rendered);
    assert_eq!(provisioning["datasources"][0]["type"].as_str(), Some("prometheus"));
}

// ---------------------------------------------------------------------------
// The management side's pods, run here

/// A process of the test, killed when dropped; its output goes to a file.
struct Proc {
    child: Child,
    log: PathBuf,
    name: String,
}

impl Proc {
    fn start(name: &str, args: &[String], dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary())
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc { child, log, name: name.to_owned() }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `url` until 200, failing if the process exits or time runs out.
    fn wait_ready(&mut self, url: &str) {
        let client = http();
        let deadline = Instant::now() + DEADLINE;
        loop {
            if client.get(url).send().is_ok_and(|r| r.status() == 200) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("{} exited with {status} before it was ready:\n{}", self.name, self.log());
            }
            assert!(Instant::now() < deadline, "{} not ready at {url}:\n{}", self.name, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM and a clean exit.
    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "{} exited with {status}:\n{}", self.name, self.log());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("client")
}

/// The object of `kind` named `name` (exactly, or with kustomize's hash
/// suffix) in rendered documents.
fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            d["kind"].as_str() == Some(kind)
                && d["metadata"]["name"].as_str().is_some_and(|n| {
                    n == name || n.strip_prefix(name).is_some_and(|rest| rest.starts_with('-') && rest.len() == 11)
                })
        })
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The files of a ConfigMap or Secret, decoded.
fn files_of(object: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (k, v) in object["data"].as_mapping().into_iter().flatten() {
        let key = k.as_str().expect("key").to_owned();
        let text = v.as_str().expect("value");
        let bytes = if object["kind"] == "Secret" {
            let text: String = text.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD.decode(text).expect("base64")
        } else {
            text.as_bytes().to_vec()
        };
        out.insert(key, bytes);
    }
    for (k, v) in object["stringData"].as_mapping().into_iter().flatten() {
        out.insert(k.as_str().expect("key").to_owned(), v.as_str().expect("value").as_bytes().to_vec());
    }
    out
}

/// A StatefulSet's container laid out under `root` as the kubelet would:
/// each ConfigMap or Secret volume's files at its mount path, each volume
/// claim an empty directory. Mount paths in its args and its mounted files
/// are moved under `root`, `0.0.0.0:<port>` becomes `127.0.0.1:<listen>`,
/// and each `service:port` of `services` its loopback address. Returns the
/// args.
fn lay_out(
    docs: &[Value],
    statefulset: &str,
    root: &Path,
    listen: u16,
    services: &BTreeMap<String, String>,
) -> Vec<String> {
    let sts = find(docs, "StatefulSet", statefulset);
    let pod = &sts["spec"]["template"]["spec"];
    let containers = pod["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1, "{statefulset}: one container");
    let container = &containers[0];
    let volumes: BTreeMap<&str, &Value> = pod["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|v| (v["name"].as_str().expect("volume name"), v))
        .collect();
    let claims: BTreeSet<&str> = sts["spec"]["volumeClaimTemplates"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|c| c["metadata"]["name"].as_str().expect("claim name"))
        .collect();
    let mounts: Vec<(&str, &str)> = container["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .map(|m| (m["name"].as_str().expect("name"), m["mountPath"].as_str().expect("mountPath")))
        .collect();
    // Longest mount path first, so that /etc/rampart-x is not taken for /etc/rampart.
    let mut paths: Vec<&str> = mounts.iter().map(|(_, p)| *p).collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let pattern = paths.iter().map(|p| regex::escape(p)).collect::<Vec<_>>().join("|");
    let mount_re = regex::Regex::new(&format!(r"({pattern})\b")).expect("regex");
    let relocate = |text: &str| -> String {
        let mut t =
            mount_re.replace_all(text, |c: &regex::Captures| format!("{}{}", root.display(), &c[1])).into_owned();
        t = regex::Regex::new(r"0\.0\.0\.0:\d+")
            .expect("regex")
            .replace_all(&t, format!("127.0.0.1:{listen}"))
            .into_owned();
        for (service, local) in services {
            t = t.replace(service.as_str(), local);
        }
        t
    };
    for (volume, path) in &mounts {
        let dir = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).expect("mount dir");
        if claims.contains(volume) {
            continue;
        }
        let v = volumes.get(volume).unwrap_or_else(|| panic!("{statefulset}: no volume {volume}"));
        let object = if let Some(name) = v["configMap"]["name"].as_str() {
            find(docs, "ConfigMap", name)
        } else if let Some(name) = v["secret"]["secretName"].as_str() {
            find(docs, "Secret", name)
        } else {
            panic!("{statefulset}: volume {volume} is neither a ConfigMap, a Secret nor a claim");
        };
        for (file, bytes) in files_of(object) {
            let content = match String::from_utf8(bytes) {
                Ok(text) => relocate(&text).into_bytes(),
                Err(e) => e.into_bytes(),
            };
            std::fs::write(dir.join(&file), content).expect("write mounted file");
        }
    }
    assert!(container["command"].is_null(), "{statefulset}: the image's entrypoint (rampart) runs");
    container["args"].as_sequence().expect("args").iter().map(|a| relocate(a.as_str().expect("arg"))).collect()
}

/// The store's config as its ConfigMap holds it.
fn store_config(docs: &[Value]) -> Value {
    let files = files_of(find(docs, "ConfigMap", "rampart-store-config"));
    serde_yaml::from_slice(&files["store.yaml"]).expect("store.yaml")
}

/// Every `host:port` of `alerting.alertmanagers` in a store config.
fn alertmanager_targets(store: &Value) -> Vec<String> {
    store["alerting"]["alertmanagers"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|am| am["static_configs"].as_sequence().into_iter().flatten())
        .flat_map(|sc| sc["targets"].as_sequence().into_iter().flatten())
        .map(|t| t.as_str().expect("target").to_owned())
        .collect()
}

/// `rules.tenants` of a store config: tenant and rule directory.
fn rule_directories(store: &Value) -> Vec<(String, String)> {
    store["rules"]["tenants"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(t, d)| (t.as_str().expect("tenant").to_owned(), d.as_str().expect("directory").to_owned()))
        .collect()
}

/// The ConfigMap mounted (read-only) in the store at `dir`, and its files.
fn mounted_rule_files<'a>(docs: &'a [Value], dir: &str) -> (&'a Value, BTreeMap<String, Vec<u8>>) {
    let pod = &find(docs, "StatefulSet", "rampart-store")["spec"]["template"]["spec"];
    let mount = pod["containers"][0]["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(dir))
        .unwrap_or_else(|| panic!("rule directory {dir} is no volume mount of the store"));
    assert_eq!(mount["readOnly"], Value::Bool(true), "{dir} is mounted read-only");
    let volume = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mount's volume");
    let name = volume["configMap"]["name"].as_str().unwrap_or_else(|| panic!("{dir}: not a ConfigMap volume"));
    let configmap = find(docs, "ConfigMap", name);
    (configmap, files_of(configmap))
}

/// Names of the rule groups in the ConfigMap mounted at `dir`.
fn rule_groups_in(docs: &[Value], dir: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (file, bytes) in mounted_rule_files(docs, dir).1 {
        let rules: Value = serde_yaml::from_slice(&bytes).unwrap_or_else(|e| panic!("{dir}/{file}: {e}"));
        for g in rules["groups"].as_sequence().unwrap_or_else(|| panic!("{dir}/{file}: no groups")) {
            names.insert(g["name"].as_str().expect("group name").to_owned());
        }
    }
    assert!(!names.is_empty(), "no rule groups mounted at {dir}");
    names
}

/// Polls `GET /api/v1/rules` as `tenant` until exactly `groups` are loaded,
/// each evaluated at least once with every rule's health ok; a rule whose
/// health is err fails the test at once.
fn wait_rules_evaluated(
    store: &Proc,
    url: &str,
    tenant: &str,
    reader: &Credential,
    groups: &BTreeSet<String>,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let request = http().get(format!("{url}/api/v1/rules")).header("X-Scope-OrgID", tenant);
        let r = reader.apply(request).send().expect("rules");
        let json: serde_json::Value = r.json().expect("rules JSON");
        assert_eq!(json["status"], "success", "{json}");
        let loaded = json["data"]["groups"].as_array().cloned().unwrap_or_default();
        let names: BTreeSet<String> = loaded.iter().map(|g| g["name"].as_str().expect("name").to_owned()).collect();
        assert_eq!(&names, groups, "tenant {tenant}: loaded groups\n{}", store.log());
        for rule in loaded.iter().flat_map(|g| g["rules"].as_array().into_iter().flatten()) {
            assert_ne!(rule["health"], "err", "tenant {tenant}: rule {} failed: {}", rule["name"], rule["lastError"]);
        }
        let evaluated = loaded.iter().all(|g| {
            g["lastEvaluation"] != "0001-01-01T00:00:00Z"
                && g["rules"].as_array().into_iter().flatten().all(|r| r["health"] == "ok")
        });
        if evaluated {
            return;
        }
        assert!(Instant::now() < deadline, "tenant {tenant}: not every group evaluated within {within:?}: {json}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Family names declared in a `/metrics` text, with their types.
fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').expect("# TYPE name kind");
            (name.to_owned(), kind.to_owned())
        })
        .collect()
}

/// Whether `name` is a series name of one of `families` (a histogram's
/// `_bucket`, `_sum` and `_count` included).
fn exposed(name: &str, families: &BTreeMap<String, String>) -> bool {
    families.contains_key(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| families.get(base).is_some_and(|k| k == "histogram" || k == "summary"))
        })
}

/// The value of one exposed series (exact labels text), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Remote-write POST to the relay with a credential.
fn write(
    url: &str,
    body: Vec<u8>,
    auth: impl FnOnce(reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder,
) -> (u16, String) {
    let req = http()
        .post(format!("{url}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body);
    let r = auth(req).send().expect("write");
    let status = r.status().as_u16();
    (status, r.text().unwrap_or_default())
}

/// A credential of the manifests, as a client presents it.
#[derive(Clone, Debug)]
enum Credential {
    Basic { user: String, password: String },
    Bearer(String),
}

impl Credential {
    fn apply(&self, request: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        match self {
            Self::Basic { user, password } => request.basic_auth(user, Some(password)),
            Self::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// Grafana's read credential: the data source's basic-auth user, and the
/// password its `secureJsonData` takes from Grafana's environment, which the
/// Secret of the Grafana kustomization provides.
fn grafana_credential() -> Credential {
    let rendered = yaml_docs(&render("deploy/kubernetes/grafana"));
    let datasource = &datasource_provisioning(&rendered)["datasources"][0];
    assert_eq!(datasource["basicAuth"], Value::Bool(true), "the data source reads with basic auth");
    let user = datasource["basicAuthUser"].as_str().expect("basicAuthUser").to_owned();
    let password = datasource["secureJsonData"]["basicAuthPassword"].as_str().expect("basicAuthPassword");
    let variable = password.strip_prefix('$').expect("the password comes from Grafana's environment");
    let secret = rendered
        .iter()
        .find(|d| d["kind"] == "Secret" && d["data"][variable].is_string())
        .unwrap_or_else(|| panic!("no Secret of the Grafana kustomization holds {variable}"));
    let password = String::from_utf8(files_of(secret)[variable].clone()).expect("utf-8");
    Credential::Basic { user, password }
}

/// The token every ServiceMonitor presents to `/metrics` (one Secret key
/// for all of them).
fn scrape_credential(docs: &[Value]) -> Credential {
    let mut references = BTreeSet::new();
    for monitor in docs.iter().filter(|d| d["kind"] == "ServiceMonitor") {
        for endpoint in monitor["spec"]["endpoints"].as_sequence().expect("endpoints") {
            let auth = &endpoint["authorization"];
            assert_eq!(auth["type"].as_str().unwrap_or("Bearer"), "Bearer", "{monitor:?}");
            let name = auth["credentials"]["name"].as_str().expect("authorization.credentials.name");
            references.insert((name.to_owned(), auth["credentials"]["key"].as_str().expect("key").to_owned()));
        }
    }
    assert_eq!(references.len(), 1, "the ServiceMonitors share one metrics token: {references:?}");
    let (name, key) = references.pop_first().expect("a reference");
    let token = files_of(find(docs, "Secret", &name)).remove(&key).unwrap_or_else(|| panic!("no key {key} in {name}"));
    Credential::Bearer(String::from_utf8(token).expect("utf-8"))
}

/// Adds an operator credential (roles admin and read, every tenant) to the
/// laid-out store config: the manifests rightly hold none, and the test
/// needs admin for a flush and a tamper verification. Returns it.
fn add_operator(store_args: &[String]) -> Credential {
    let path = store_args.iter().find_map(|a| a.strip_prefix("--config=")).expect("the store's --config argument");
    let mut config: Value = serde_yaml::from_str(&std::fs::read_to_string(path).expect("store.yaml")).expect("yaml");
    let token = "drift-test-operator-token";
    let operator: Value = serde_yaml::from_str(&format!(
        "{{name: operator, tenants: '*', roles: [admin, read], bearer_token_hashes: ['{}']}}",
        hash_secret(token.as_bytes())
    ))
    .expect("operator credential");
    config["auth"]["credentials"].as_sequence_mut().expect("auth.credentials").push(operator);
    std::fs::write(path, serde_yaml::to_string(&config).expect("yaml")).expect("write store.yaml");
    Credential::Bearer(token.to_owned())
}

/// `GET /metrics`: status and text.
fn get_metrics(url: &str, auth: Option<&Credential>) -> (u16, String) {
    let request = http().get(format!("{url}/metrics"));
    let r = match auth {
        Some(c) => c.apply(request),
        None => request,
    }
    .send()
    .expect("metrics");
    (r.status().as_u16(), r.text().expect("text"))
}

#[test]
fn management_manifests_start_the_binary_and_every_used_metric_is_exposed() {
    let docs = yaml_docs(&render("deploy/kubernetes/management"));
    let workload = yaml_docs(&render("deploy/kubernetes/workload/example"));
    let tmp = temp_dir();
    let (store_port, relay_port) = (free_port(), free_port());
    let store_service = find(&docs, "Service", "rampart-store");
    let store_service_port = store_service["spec"]["ports"][0]["port"].as_u64().expect("port");
    let mut services =
        BTreeMap::from([(format!("rampart-store:{store_service_port}"), format!("127.0.0.1:{store_port}"))]);
    // Alertmanager becomes a loopback port where nothing listens: the
    // notifier's metric families are rendered before any delivery, and alert
    // delivery itself is the chain test's (a real Alertmanager).
    let store_yaml = store_config(&docs);
    for target in alertmanager_targets(&store_yaml) {
        services.insert(target, format!("127.0.0.1:{}", free_port()));
    }

    let grafana = grafana_credential();
    let scraper = scrape_credential(&docs);
    let store_root = tmp.path().join("store");
    let args = lay_out(&docs, "rampart-store", &store_root, store_port, &services);
    let operator = add_operator(&args);
    let mut store = Proc::start("store", &args, tmp.path());
    let store_url = format!("http://127.0.0.1:{store_port}");
    store.wait_ready(&format!("{store_url}/-/ready"));

    let relay_root = tmp.path().join("relay");
    let args = lay_out(&docs, "rampart-relay", &relay_root, relay_port, &services);
    let mut relay = Proc::start("relay", &args, tmp.path());
    let relay_url = format!("http://127.0.0.1:{relay_port}");
    relay.wait_ready(&format!("{relay_url}/-/ready"));

    // The workload side's credentials, as its Secret holds them.
    let secret = files_of(find(&workload, "Secret", "rampart-writer"));
    let text = |k: &str| String::from_utf8(secret[k].clone()).expect("utf-8");
    let (user, password, token) = (text("username"), text("password"), text("token"));
    let prometheus = find(&workload, "Prometheus", "kube-prometheus-stack-prometheus");
    let replica_label = prometheus["spec"]["replicaExternalLabelName"].as_str().expect("replica label");
    let (cluster_label, cluster) = prometheus["spec"]["externalLabels"]
        .as_mapping()
        .and_then(|m| m.iter().next())
        .map(|(k, v)| (k.as_str().expect("label"), v.as_str().expect("value")))
        .expect("externalLabels");

    // An HA pair: both replicas write, one is stored.
    let now = now_ms();
    for (replica, status) in [("replica-a", 204), ("replica-b", 204)] {
        let mut labels = [
            ("__name__", "rampart_deploy_check"),
            ("job", "deploy"),
            (cluster_label, cluster),
            (replica_label, replica),
        ];
        labels.sort();
        let (code, text) =
            write(&relay_url, body(vec![series(&labels, &[(now, 1.0)])]), |r| r.basic_auth(&user, Some(&password)));
        assert_eq!(code, status, "{replica}: {text}\n{}", relay.log());
    }
    let (code, text) = write(
        &relay_url,
        body(vec![series(&[("__name__", "rampart_deploy_bearer"), ("job", "deploy")], &[(now, 2.0)])]),
        |r| r.bearer_auth(&token),
    );
    assert_eq!(code, 204, "bearer token: {text}");
    let (code, _) = write(&relay_url, body(vec![series(&[("__name__", "x")], &[(now, 1.0)])]), |r| r);
    assert_eq!(code, 401, "no credentials");
    let (code, text) = write(&relay_url, body(vec![series(&[("__name__", "bad"), ("1a", "x")], &[(now, 1.0)])]), |r| {
        r.basic_auth(&user, Some(&password))
    });
    assert_eq!(code, 400, "invalid label name: {text}");

    // Forwarded to the store under the writer's tenant, one replica, no replica label.
    let deadline = Instant::now() + DEADLINE;
    let stored = loop {
        let result = store_query(&store_url, TENANT, "rampart_deploy_check", |r| grafana.apply(r));
        if !result.is_empty() {
            break result;
        }
        assert!(Instant::now() < deadline, "nothing forwarded:\n{}", relay.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0]["metric"][replica_label].is_null(), "the replica label is removed: {stored:?}");
    assert_eq!(stored[0]["metric"][cluster_label], cluster, "{stored:?}");
    assert_eq!(store_query(&store_url, TENANT, "rampart_deploy_bearer", |r| grafana.apply(r)).len(), 1);
    let range = http().get(format!("{store_url}/api/v1/query_range")).header("X-Scope-OrgID", TENANT).query(&[
        ("query", "sum(rate(rampart_deploy_check[5m]))"),
        ("start", "0"),
        ("end", "60"),
        ("step", "15"),
    ]);
    assert_eq!(grafana.apply(range.try_clone().expect("clone")).send().expect("query_range").status(), 200);
    assert_eq!(range.send().expect("query_range").status(), 401, "a query without credentials");

    // The lock: Grafana's read credential cannot write, the relay's writers
    // cannot reach the store, /metrics needs the metrics token.
    let store_write = |auth: &Credential| {
        let request =
            http().post(format!("{store_url}/api/v1/write")).header("X-Scope-OrgID", TENANT).body(body(vec![]));
        auth.apply(request).send().expect("write").status().as_u16()
    };
    assert_eq!(store_write(&grafana), 403, "a write with Grafana's read credential");
    assert_eq!(store_write(&Credential::Basic { user: user.clone(), password: password.clone() }), 401);
    for url in [&store_url, &relay_url] {
        assert_eq!(get_metrics(url, None).0, 401, "{url}/metrics without the metrics token");
    }
    assert_eq!(get_metrics(&store_url, Some(&grafana)).0, 403, "the store's /metrics with a read credential");
    let r = operator.apply(http().post(format!("{store_url}/api/v1/admin/flush"))).send().expect("flush");
    assert!(r.status().is_success(), "flush: {}", r.status());
    let r = operator.apply(http().post(format!("{store_url}/api/v1/admin/verify"))).send().expect("verify");
    let report: serde_json::Value = r.json().expect("verification report");
    assert_eq!(report["data"]["ok"], true, "the store verifies itself: {report}");

    // The ruler loaded the mounted rule files and evaluated each group.
    let interval =
        rampart::duration::parse_duration(store_yaml["rules"]["evaluation_interval"].as_str().unwrap_or("1m"))
            .expect("rules.evaluation_interval");
    for (tenant, dir) in rule_directories(&store_yaml) {
        let groups = rule_groups_in(&docs, &dir);
        wait_rules_evaluated(&store, &store_url, &tenant, &grafana, &groups, interval + RULES_SLACK);
    }

    let (status, store_metrics) = get_metrics(&store_url, Some(&scraper));
    assert_eq!(status, 200, "the store's /metrics with the ServiceMonitors' token: {store_metrics}");
    let (status, relay_metrics) = get_metrics(&relay_url, Some(&scraper));
    assert_eq!(status, 200, "the relay's /metrics with the ServiceMonitors' token: {relay_metrics}");
    assert_eq!(sample(&store_metrics, "rampart_verify_problems{section=\"partitions\"}"), Some(0.0));
    assert_eq!(
        sample(&relay_metrics, "rampart_relay_overrides_reload_failures_total"),
        Some(0.0),
        "overrides refused:\n{}",
        relay.log()
    );
    let elected =
        format!("rampart_relay_ha_elected_replica{{tenant=\"{TENANT}\",cluster=\"{cluster}\",replica=\"replica-a\"}}");
    assert_eq!(sample(&relay_metrics, &elected), Some(1.0), "{relay_metrics}");
    assert_eq!(
        sample(&relay_metrics, &format!("rampart_relay_samples_deduplicated_total{{tenant=\"{TENANT}\"}}")),
        Some(1.0)
    );

    let mut all = families(&store_metrics);
    all.extend(families(&relay_metrics));
    let external: BTreeMap<&str, &str> = EXTERNAL_METRICS.into_iter().collect();
    let mut missing = Vec::new();
    for (name, place) in used_metric_names() {
        if !exposed(&name, &all) && !external.contains_key(name.as_str()) {
            missing.push(format!("{name} (used by {place})"));
        }
    }
    assert!(missing.is_empty(), "not in /metrics of the store or the relay:\n{}", missing.join("\n"));

    relay.stop();
    store.stop();
}

#[test]
fn the_ruler_reads_the_rule_configmap_and_may_reach_alertmanager() {
    let docs = yaml_docs(&render("deploy/kubernetes/management"));
    let store = store_config(&docs);

    // Each tenant's rule directory is a ConfigMap of deploy/rules' rule
    // files, byte for byte, and of nothing else (the store loads them all).
    let dirs = rule_directories(&store);
    assert!(dirs.iter().any(|(t, _)| t == TENANT), "no rules for {TENANT}: {dirs:?}");
    let mut self_monitoring = false;
    for (tenant, dir) in &dirs {
        let (configmap, files) = mounted_rule_files(&docs, dir);
        assert!(!files.is_empty(), "{tenant}: {:?} holds no files", configmap["metadata"]["name"]);
        for (file, bytes) in &files {
            assert!(
                (file.ends_with(".yaml") || file.ends_with(".yml")) && !file.ends_with(".test.yaml"),
                "{tenant}: {file} is not a rule file"
            );
            let source = std::fs::read(repo().join("deploy/rules").join(file)).expect("the file in deploy/rules");
            assert!(*bytes == source, "{tenant}: {file} differs from deploy/rules/{file}");
            self_monitoring |= file == "rampart-self-monitoring.yaml";
        }
    }
    assert!(self_monitoring, "the ruler does not get the self-monitoring rules");

    // Each Alertmanager is a Service of another namespace, and the store's
    // NetworkPolicy lets it reach that namespace's Alertmanager pods there.
    let targets = alertmanager_targets(&store);
    assert!(!targets.is_empty(), "the store sends alerts nowhere");
    let policy = find(&docs, "NetworkPolicy", "rampart-store");
    for target in targets {
        let (host, port) = target.rsplit_once(':').expect("host:port");
        let port: u64 = port.parse().expect("port");
        let namespace = host.split('.').nth(1).unwrap_or_else(|| panic!("{target}: not <service>.<namespace>.svc"));
        let allowed = policy["spec"]["egress"].as_sequence().into_iter().flatten().any(|rule| {
            let to = rule["to"].as_sequence().into_iter().flatten().any(|peer| {
                peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str() == Some(namespace)
                    && peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"].as_str() == Some("alertmanager")
            });
            let ports = rule["ports"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|p| p["port"].as_u64() == Some(port) && p["protocol"].as_str().unwrap_or("TCP") == "TCP");
            to && ports
        });
        assert!(allowed, "NetworkPolicy rampart-store allows no egress to Alertmanager {target}");
    }
}

#[test]
fn the_images_default_command_starts_the_store() {
    let text = std::fs::read_to_string(repo().join("deploy/container/Dockerfile")).expect("Dockerfile");
    let cmd = text.lines().rev().find_map(|l| l.strip_prefix("CMD ")).expect("CMD");
    let args: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec form");
    let tmp = temp_dir();
    let port = free_port();
    let data = tmp.path().join("data");
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            let a = a.replace("0.0.0.0:9090", &format!("127.0.0.1:{port}"));
            a.replace("=/data", &format!("={}", data.display()))
        })
        .collect();
    assert!(args.iter().any(|a| a.contains(&data.display().to_string())), "CMD keeps its data in /data: {args:?}");
    let mut store = Proc::start("image-cmd", &args, tmp.path());
    store.wait_ready(&format!("http://127.0.0.1:{port}/-/ready"));
    store.stop();
}

#[test]
fn the_workload_side_and_grafana_point_at_the_management_side() {
    let management = yaml_docs(&render("deploy/kubernetes/management"));
    let workload = yaml_docs(&render("deploy/kubernetes/workload/example"));
    let namespace = find(&management, "Namespace", "rampart")["metadata"]["name"].as_str().expect("namespace");

    // remoteWrite reaches the relay through the Ingress.
    let ingress = find(&management, "Ingress", "rampart-relay");
    let host = ingress["spec"]["rules"][0]["host"].as_str().expect("host");
    let paths: Vec<&str> = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_sequence()
        .expect("paths")
        .iter()
        .map(|p| p["path"].as_str().expect("path"))
        .collect();
    assert!(ingress["spec"]["tls"][0]["hosts"].as_sequence().expect("tls hosts").iter().any(|h| h == host));
    let prometheus = find(&workload, "Prometheus", "kube-prometheus-stack-prometheus");
    let remote = &prometheus["spec"]["remoteWrite"][0];
    let url = reqwest::Url::parse(remote["url"].as_str().expect("url")).expect("url");
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.host_str(), Some(host));
    assert!(paths.contains(&url.path()), "{} is not routed by the Ingress ({paths:?})", url.path());
    assert_eq!(remote["tlsConfig"]["serverName"].as_str(), Some(host));
    let secret = find(&workload, "Secret", "rampart-writer");
    assert_eq!(remote["basicAuth"]["password"]["name"], secret["metadata"]["name"]);

    // The HA labels are the relay's.
    let relay = find(&management, "Secret", "rampart-relay-config");
    let relay_yaml: Value = serde_yaml::from_slice(&files_of(relay)["relay.yaml"]).expect("relay.yaml");
    assert_eq!(prometheus["spec"]["replicaExternalLabelName"], relay_yaml["limits"]["ha_replica_label"]);
    let cluster_label = relay_yaml["limits"]["ha_cluster_label"].as_str().expect("ha_cluster_label");
    assert!(prometheus["spec"]["externalLabels"][cluster_label].is_string(), "no external label {cluster_label}");
    assert!(prometheus["spec"]["replicas"].as_u64().is_some_and(|r| r >= 2), "an HA pair");
    let overrides = find(&management, "ConfigMap", "rampart-relay-overrides");
    let overrides: Value = serde_yaml::from_slice(&files_of(overrides)["overrides.yaml"]).expect("overrides.yaml");
    assert_eq!(overrides["overrides"][TENANT]["accept_ha_samples"], Value::Bool(true));

    // Grafana queries the store's Service.
    let provisioning = datasource_provisioning(&yaml_docs(&render("deploy/kubernetes/grafana")));
    let service = find(&management, "Service", "rampart-store");
    let port = service["spec"]["ports"][0]["port"].as_u64().expect("port");
    let want = format!("http://{}.{namespace}.svc:{port}", service["metadata"]["name"].as_str().expect("name"));
    assert_eq!(provisioning["datasources"][0]["url"].as_str(), Some(want.as_str()));
    assert_eq!(provisioning["datasources"][0]["secureJsonData"]["httpHeaderValue1"].as_str(), Some(TENANT));
}
