//! The manifests and the image as their tools see them: every kustomization
//! renders; core objects pass kubernetes-validate (strict, Kubernetes 1.31);
//! prometheus-operator objects pass their CRDs' schemas; checkov finds no
//! failed check in the manifests or the Dockerfile; hadolint has nothing to
//! say; every container is hardened and has requests and limits.

use std::process::Command;

use serde_yaml::Value;

use super::{debian_tool, kustomizations, python_tool, render, rendered_all, repo, run, run_ok, yaml_docs};

/// The Kubernetes version the manifests are validated for.
const KUBERNETES_VERSION: &str = "1.31.0";

fn is_custom_resource(doc: &Value) -> bool {
    doc["apiVersion"].as_str().is_some_and(|v| v.starts_with("monitoring.coreos.com/"))
}

fn write_docs(dir: &std::path::Path, name: &str, docs: &[&Value]) -> std::path::PathBuf {
    let text: Vec<String> = docs.iter().map(|d| serde_yaml::to_string(d).expect("serialize")).collect();
    let path = dir.join(name);
    std::fs::write(&path, text.join("---\n")).expect("write");
    path
}

#[test]
fn kustomize_renders_every_directory_and_every_component_is_used() {
    let all = kustomizations();
    assert!(all.iter().any(|(d, _)| d == "deploy/kubernetes/management"), "{all:?}");
    assert!(all.iter().any(|(d, _)| d == "deploy/kubernetes/grafana"), "{all:?}");
    for (dir, rendered) in rendered_all() {
        let docs = yaml_docs(&rendered);
        assert!(!docs.is_empty(), "{dir} renders nothing");
        for doc in &docs {
            assert!(doc["kind"].is_string() && doc["metadata"]["name"].is_string(), "{dir}: {doc:?}");
        }
    }
    // A Component cannot be rendered alone: some Kustomization must use it.
    for (component, _) in all.iter().filter(|(_, kind)| kind == "Component") {
        let used = all.iter().filter(|(_, kind)| kind == "Kustomization").any(|(dir, _)| {
            let k = super::yaml_file(&format!("{dir}/kustomization.yaml"));
            k["components"].as_sequence().into_iter().flatten().any(|c| {
                let path = repo().join(dir).join(c.as_str().expect("path"));
                path.canonicalize().ok() == repo().join(component).canonicalize().ok()
            })
        });
        assert!(used, "component {component} is used by no kustomization, so nothing renders it");
    }
    // What the management cluster needs is all there.
    let management = yaml_docs(&render("deploy/kubernetes/management"));
    let kinds: Vec<&str> = management.iter().map(|d| d["kind"].as_str().expect("kind")).collect();
    for want in [
        "Namespace",
        "StatefulSet",
        "Service",
        "Ingress",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(kinds.contains(&want), "management renders no {want}: {kinds:?}");
    }
}

#[test]
fn core_objects_pass_kubernetes_validate_strict() {
    let validate = python_tool("kubernetes-validate");
    let tmp = crate::harness::temp_dir();
    // The validator itself must refuse an unknown field, or a pass means nothing.
    let bad: Value = serde_yaml::from_str(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 1}], portz: 2}\n",
    )
    .expect("yaml");
    let bad = write_docs(tmp.path(), "bad.yaml", &[&bad]);
    let out = run(Command::new(&validate).args(["--strict", "-k", KUBERNETES_VERSION, "--quiet"]).arg(&bad));
    assert!(!out.status.success(), "kubernetes-validate accepted an unknown field");

    let mut checked = 0;
    for (dir, rendered) in rendered_all() {
        let docs = yaml_docs(&rendered);
        let core: Vec<&Value> = docs.iter().filter(|d| !is_custom_resource(d)).collect();
        checked += core.len();
        let file = write_docs(tmp.path(), &format!("{}.yaml", dir.replace('/', "_")), &core);
        run_ok(Command::new(&validate).args(["--strict", "-k", KUBERNETES_VERSION, "--quiet"]).arg(&file));
    }
    assert!(checked >= 20, "only {checked} core objects rendered");
}

#[test]
fn prometheus_operator_objects_pass_their_crds() {
    let python = python_tool("python3");
    let script = repo().join("tests/deploy/validate-crs.py");
    let tmp = crate::harness::temp_dir();
    let bad: Value = serde_yaml::from_str(
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\n\
         spec: {selector: {}, endpoints: [{port: http, intervall: 30s}]}\n",
    )
    .expect("yaml");
    let bad = write_docs(tmp.path(), "bad.yaml", &[&bad]);
    let out = run(Command::new(&python).arg(&script).arg(&bad));
    assert_eq!(out.status.code(), Some(1), "the CRD validator accepted an unknown field");

    let mut files = Vec::new();
    let mut kinds = Vec::new();
    for (dir, rendered) in rendered_all() {
        let docs = yaml_docs(&rendered);
        let crs: Vec<&Value> = docs.iter().filter(|d| is_custom_resource(d)).collect();
        kinds.extend(crs.iter().map(|d| d["kind"].as_str().expect("kind").to_owned()));
        files.push(write_docs(tmp.path(), &format!("{}.yaml", dir.replace('/', "_")), &crs));
    }
    let out = run_ok(Command::new(&python).arg(&script).args(&files));
    kinds.sort();
    assert_eq!(kinds, ["Prometheus", "PrometheusRule", "ServiceMonitor", "ServiceMonitor"], "{out}");
    assert!(out.contains("4 custom resources checked, status 0"), "{out}");
}

/// checkov's JSON report: one object per framework, or a list of them.
fn checkov_failures(report: &str) -> (u64, Vec<String>) {
    let json: serde_json::Value = serde_json::from_str(report).expect("checkov JSON");
    let reports = match json {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    let mut passed = 0;
    let mut failed = Vec::new();
    for r in &reports {
        passed += r["summary"]["passed"].as_u64().unwrap_or(0);
        for f in r["results"]["failed_checks"].as_array().into_iter().flatten() {
            failed.push(format!("{} {} {}", f["check_id"], f["resource"], f["check_name"]));
        }
        let errors = r["summary"]["parsing_errors"].as_u64().unwrap_or(0);
        assert_eq!(errors, 0, "checkov could not parse: {r}");
    }
    (passed, failed)
}

fn checkov(file: &std::path::Path, framework: &str) -> (u64, Vec<String>) {
    let out = run(Command::new(python_tool("checkov")).arg("-f").arg(file).args([
        "--framework",
        framework,
        "--skip-download",
        "--quiet",
        "-o",
        "json",
    ]));
    checkov_failures(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn checkov_finds_no_failed_check_in_manifests_or_dockerfile() {
    let tmp = crate::harness::temp_dir();
    // checkov must fail a plainly insecure pod, or its silence means nothing.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: x}\n\
         spec: {containers: [{name: c, image: 'x:latest', securityContext: {privileged: true}}]}\n",
    )
    .expect("write");
    let (_, failed) = checkov(&bad, "kubernetes");
    assert!(failed.iter().any(|f| f.contains("CKV_K8S_16")), "checkov passed a privileged pod: {failed:?}");

    for (dir, rendered) in rendered_all() {
        let file = tmp.path().join(format!("{}.yaml", dir.replace('/', "_")));
        std::fs::write(&file, rendered).expect("write");
        let (passed, failed) = checkov(&file, "kubernetes");
        assert!(failed.is_empty(), "checkov on {dir}:\n{}", failed.join("\n"));
        assert!(passed > 0, "checkov checked nothing in {dir}");
    }
    let (passed, failed) = checkov(&repo().join("deploy/container/Dockerfile"), "dockerfile");
    assert!(failed.is_empty(), "checkov on the Dockerfile:\n{}", failed.join("\n"));
    assert!(passed > 0, "checkov checked nothing in the Dockerfile");
}

#[test]
fn hadolint_has_nothing_to_say_about_the_dockerfile() {
    let out = run(Command::new(python_tool("hadolint")).arg(repo().join("deploy/container/Dockerfile")));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "hadolint:\n{said}");
}

#[test]
fn the_image_runs_as_numeric_non_root_with_data_as_volume() {
    let text = std::fs::read_to_string(repo().join("deploy/container/Dockerfile")).expect("Dockerfile");
    let last_stage = text.rsplit_once("\nFROM ").expect("multi-stage").1;
    for want in ["USER 65532:65532", "VOLUME [\"/data\"]", "ENTRYPOINT [\"rampart\"]", "org.opencontainers.image.title"]
    {
        assert!(last_stage.contains(want), "the runtime stage lacks {want}");
    }
    assert!(last_stage.starts_with("gcr.io/distroless/"), "the runtime stage is not distroless: {last_stage:.60}");
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    for want in ["target", ".git"] {
        assert!(ignore.lines().any(|l| l == want), ".dockerignore does not exclude {want}");
    }
}

/// The pod templates of every rendered workload, with their names.
fn pod_specs(docs: &[Value]) -> Vec<(String, &Value)> {
    docs.iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("StatefulSet" | "Deployment" | "DaemonSet" | "Job")))
        .map(|d| (d["metadata"]["name"].as_str().expect("name").to_owned(), &d["spec"]["template"]["spec"]))
        .collect()
}

#[test]
fn every_container_is_hardened_probed_and_sized() {
    let docs = yaml_docs(&render("deploy/kubernetes/management"));
    let pods = pod_specs(&docs);
    assert_eq!(pods.len(), 2, "store and relay");
    for (name, pod) in pods {
        assert_eq!(pod["automountServiceAccountToken"], Value::Bool(false), "{name}");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], Value::Bool(true), "{name}");
        assert_eq!(pod["securityContext"]["seccompProfile"]["type"].as_str(), Some("RuntimeDefault"), "{name}");
        let containers = pod["containers"].as_sequence().into_iter().flatten();
        let init = pod["initContainers"].as_sequence().into_iter().flatten();
        for c in containers.chain(init) {
            let s = &c["securityContext"];
            let what = format!("{name}/{}", c["name"].as_str().unwrap_or("?"));
            assert_eq!(s["runAsNonRoot"], Value::Bool(true), "{what}");
            assert!(s["runAsUser"].as_u64().is_some_and(|u| u >= 10_000), "{what}: numeric UID >= 10000");
            assert_eq!(s["readOnlyRootFilesystem"], Value::Bool(true), "{what}");
            assert_eq!(s["allowPrivilegeEscalation"], Value::Bool(false), "{what}");
            assert_eq!(s["privileged"], Value::Bool(false), "{what}");
            assert_eq!(s["capabilities"]["drop"], serde_yaml::from_str::<Value>("[ALL]").expect("yaml"), "{what}");
            assert!(s["capabilities"]["add"].is_null(), "{what} adds capabilities");
            assert_eq!(s["seccompProfile"]["type"].as_str(), Some("RuntimeDefault"), "{what}");
            for kind in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(c["resources"][kind][resource].is_string(), "{what}: no {kind}.{resource}");
                }
            }
            assert_eq!(c["readinessProbe"]["httpGet"]["path"].as_str(), Some("/-/ready"), "{what}");
            assert_eq!(c["livenessProbe"]["httpGet"]["path"].as_str(), Some("/-/healthy"), "{what}");
        }
    }
}

#[test]
fn workload_prometheus_yml_passes_promtool_check_config() {
    let promtool = debian_tool("promtool", "prometheus");
    let tmp = crate::harness::temp_dir();
    let text = std::fs::read_to_string(repo().join("deploy/kubernetes/workload/prometheus-remote-write.yml"))
        .expect("remote-write block");
    let secret = "/etc/prometheus/secrets/rampart-writer/password";
    assert!(text.contains(secret), "the block reads its password from {secret}");
    let password = tmp.path().join("password");
    std::fs::write(&password, "example").expect("write");
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(&config, text.replace(secret, &password.to_string_lossy())).expect("write");
    let out = run_ok(Command::new(promtool).args(["check", "config"]).arg(&config));
    assert!(out.contains("SUCCESS"), "{out}");
}
