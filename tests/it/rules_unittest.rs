//! The rule files of the repository and their unit tests, under both
//! Prometheus's `promtool` 2.42 (Debian's `prometheus`) and the `rampart`
//! binary: every rule file passes `promtool check rules` and
//! `rampart rules check`; every test file passes `promtool test rules` and
//! `rampart rules test`; the deliberately wrong
//! `tests/rules/failing/service_wrong_test.yml` fails under both, with the
//! same report.
//!
//! Rule files and their tests live in `tests/rules/` (tests `*_test.yml`)
//! and `deploy/rules/` (tests `*.test.yaml`).

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::binary;

/// Prometheus 2.42's promtool.
const PROMTOOL: &str = "/usr/bin/promtool";

/// Directories of rule files, each with the suffix of its test files.
const RULE_DIRS: [(&str, &str); 2] = [("tests/rules", "_test.yml"), ("deploy/rules", ".test.yaml")];

/// The rule files (`tests == false`) or the test files (`tests == true`) of
/// [`RULE_DIRS`], relative to the repository, sorted.
fn files(tests: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (dir, test_suffix) in RULE_DIRS {
        for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).expect("read rule directory") {
            let name = entry.expect("dir entry").file_name().to_string_lossy().into_owned();
            let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
            if yaml && name.ends_with(test_suffix) == tests {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    out
}

/// Runs `program args…` in the repository.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
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
fn rule_files_pass_promtool_and_rampart_check() {
    let rule_files = files(false);
    assert!(rule_files.len() >= 3, "{rule_files:?}");
    for f in &rule_files {
        let o = run(PROMTOOL, &["check", "rules", f]);
        assert!(o.status.success(), "promtool check rules {f}: {}", show(&o));
        let o = run(binary(), &["rules", "check", f]);
        assert!(o.status.success(), "rampart rules check {f}: {}", show(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("  SUCCESS: "), "{}", show(&o));
    }
}

#[test]
fn rule_tests_pass_promtool_and_rampart() {
    let tests = files(true);
    assert!(tests.len() >= 3, "{tests:?}");
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
    let f = "tests/rules/failing/service_wrong_test.yml";
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
