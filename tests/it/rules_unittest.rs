//! The example rule files and their unit tests in `tests/rules/`, under both
//! Prometheus's `promtool` 2.42 (Debian's `prometheus`) and the `rampart`
//! binary: every rule file (`*.yml` but `*_test.yml`) passes
//! `promtool check rules` and `rampart rules check`; every test file
//! (`*_test.yml`) passes `promtool test rules` and `rampart rules test`; the
//! deliberately wrong `failing/service_wrong_test.yml` fails under both, with
//! the same report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::binary;

/// Prometheus 2.42's promtool.
const PROMTOOL: &str = "/usr/bin/promtool";

/// `tests/rules`.
fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules")
}

/// The files of `tests/rules` (not below it) whose name ends with `suffix`,
/// sorted.
fn files(suffix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(rules_dir())
        .expect("read tests/rules")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    out.sort();
    out
}

/// Runs `program args…` in `tests/rules`.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(rules_dir())
        .output()
        .unwrap_or_else(|e| panic!("run {program} (promtool: Debian package prometheus): {e}"))
}

fn show(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn example_rule_files_pass_promtool_and_rampart_check() {
    let rule_files: Vec<String> = files(".yml").into_iter().filter(|f| !f.ends_with("_test.yml")).collect();
    assert!(rule_files.len() >= 2, "{rule_files:?}");
    for f in &rule_files {
        let o = run(PROMTOOL, &["check", "rules", f]);
        assert!(o.status.success(), "promtool check rules {f}: {}", show(&o));
        let o = run(binary(), &["rules", "check", f]);
        assert!(o.status.success(), "rampart rules check {f}: {}", show(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("  SUCCESS: "), "{}", show(&o));
    }
}

#[test]
fn example_rule_tests_pass_promtool_and_rampart() {
    let tests = files("_test.yml");
    assert!(tests.len() >= 2, "{tests:?}");
    for f in &tests {
        let o = run(PROMTOOL, &["test", "rules", f]);
        assert!(o.status.success(), "promtool test rules {f}: {}", show(&o));
        let o = run(binary(), &["rules", "test", f]);
        assert!(o.status.success(), "rampart rules test {f}: {}", show(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout), format!("Unit Testing:  {f}\n  SUCCESS\n\n"));
    }
}

#[test]
fn wrong_expectations_fail_under_both_with_the_same_report() {
    let f = "failing/service_wrong_test.yml";
    let want = run(PROMTOOL, &["test", "rules", f]);
    assert!(!want.status.success(), "promtool must fail: {}", show(&want));
    let got = run(binary(), &["rules", "test", f]);
    assert!(!got.status.success(), "rampart must fail: {}", show(&got));
    let (want_err, got_err) = (String::from_utf8_lossy(&want.stderr), String::from_utf8_lossy(&got.stderr));
    for alert in ["alertname: InstanceDown, time: 7m", "alertname: QueueBacklog, time: 5m"] {
        assert!(want_err.contains(alert) && got_err.contains(alert), "{alert}\n{}\n{}", show(&want), show(&got));
    }
    assert_eq!(got.stdout, want.stdout, "stdout\n{}\n{}", show(&want), show(&got));
    assert_eq!(got_err, format!("{want_err}rampart: some rule tests failed\n"));
}
