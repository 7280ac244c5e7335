//! `deploy/`: the container image, the Kubernetes manifests of both
//! clusters, Grafana, self-monitoring and the one-machine chain, checked
//! with the tools their users run (kubectl kustomize, kubernetes-validate,
//! the prometheus-operator CRDs, checkov, hadolint, promtool) and against
//! the real binary, so that a manifest cannot drift from its flags, config
//! keys or metric names.
//!
//! | module | checks |
//! |---|---|
//! | [`manifests`] | rendering, schemas, security posture, container hardening |
//! | [`drift`] | the manifests' configs and args start the binary; the ruler evaluates the mounted rules; every metric name used exists |
//! | [`rules`] | the self-monitoring rules with promtool |
//! | [`chain`] | `deploy/local/up.sh` (series, rules, an alert in Alertmanager) and `down.sh` |
//!
//! A missing tool fails its test (naming how to install it), never skips it:
//! `scripts/test` installs them all.

mod chain;
mod drift;
mod manifests;
mod rules;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize as _;

/// The repository root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where `install_deploy_tools` (scripts/deps.sh) puts the Python tools.
fn tools_dir() -> PathBuf {
    match std::env::var_os("RAMPART_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/rampart-tools"),
    }
}

/// A tool from the tools virtualenv, else from `PATH`; fails the test when
/// it is in neither, saying how to get it.
fn tool(name: &str, install: &str) -> PathBuf {
    let pinned = tools_dir().join("bin").join(name);
    if pinned.is_file() {
        return pinned;
    }
    on_path(name).unwrap_or_else(|| panic!("{name} not found in {}/bin or on PATH: {install}", tools_dir().display()))
}

/// A Python tool installed by `install_deploy_tools`.
fn python_tool(name: &str) -> PathBuf {
    tool(name, "run scripts/test, which installs it (install_deploy_tools in scripts/deps.sh)")
}

/// A program from a Debian package.
fn debian_tool(name: &str, package: &str) -> PathBuf {
    on_path(name).unwrap_or_else(|| panic!("{name} not found on PATH: apt-get install {package} (scripts/test does)"))
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Runs a command to completion.
fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// Runs a command and fails the test unless it exits 0; returns stdout.
fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `kubectl kustomize DIR` (DIR relative to the repository).
fn render(dir: &str) -> String {
    run_ok(Command::new(python_tool("kubectl")).arg("kustomize").arg(repo().join(dir)))
}

/// The documents of a multi-document YAML text (empty ones skipped).
fn yaml_docs(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_yaml::Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// A YAML file of the repository, parsed.
fn yaml_file(path: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every directory under deploy/kubernetes with a kustomization, relative to
/// the repository, with its kind (`Kustomization` or `Component`).
fn kustomizations() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        let file = dir.join("kustomization.yaml");
        if file.is_file() {
            let doc: serde_yaml::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&file).expect("read")).expect("kustomization parses");
            let kind = doc["kind"].as_str().unwrap_or("Kustomization").to_owned();
            let rel = dir.strip_prefix(repo()).expect("under the repo").to_string_lossy().into_owned();
            out.push((rel, kind));
        }
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").path()).collect();
        entries.sort();
        for path in entries.into_iter().filter(|p| p.is_dir()) {
            walk(&path, out);
        }
    }
    let mut out = Vec::new();
    walk(&repo().join("deploy/kubernetes"), &mut out);
    out
}

/// The rendered output of every Kustomization (not Component) directory.
fn rendered_all() -> Vec<(String, String)> {
    kustomizations()
        .into_iter()
        .filter(|(_, kind)| kind == "Kustomization")
        .map(|(d, _)| (d.clone(), render(&d)))
        .collect()
}

/// An instant query of a store's API as `tenant`, with the credential
/// `auth` adds: the result vector.
fn store_query(
    store: &str,
    tenant: &str,
    q: &str,
    auth: impl FnOnce(reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder,
) -> Vec<serde_json::Value> {
    let request = reqwest::blocking::Client::new()
        .post(format!("{store}/api/v1/query"))
        .header("X-Scope-OrgID", tenant)
        .form(&[("query", q)]);
    let json: serde_json::Value = auth(request).send().expect("query").json().expect("query JSON");
    assert_eq!(json["status"], "success", "{q}: {json}");
    json["data"]["result"].as_array().cloned().unwrap_or_default()
}
