//! The self-monitoring rules: `promtool check rules`, the unit tests in
//! `deploy/rules/rampart-self-monitoring.test.yaml` (each alert firing on
//! its condition), the PrometheusRule holding the same groups, and a
//! `runbook` on every alert.

use std::process::Command;

use super::{debian_tool, repo, run_ok, yaml_file};

const RULES: &str = "deploy/rules/rampart-self-monitoring.yaml";
const RULE_TESTS: &str = "deploy/rules/rampart-self-monitoring.test.yaml";
const PROMETHEUS_RULE: &str = "deploy/kubernetes/management/prometheus-rule.yaml";

#[test]
fn self_monitoring_rules_pass_promtool_check_and_unit_tests() {
    let promtool = debian_tool("promtool", "prometheus");
    let out = run_ok(Command::new(&promtool).args(["check", "rules"]).arg(repo().join(RULES)));
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run_ok(Command::new(&promtool).args(["test", "rules"]).arg(repo().join(RULE_TESTS)));
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_alert_has_a_runbook_and_a_unit_test() {
    let rules = yaml_file(RULES);
    let tests = yaml_file(RULE_TESTS);
    let tested: Vec<&str> = tests["tests"]
        .as_sequence()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_sequence().into_iter().flatten())
        .filter(|a| a["exp_alerts"].as_sequence().is_some_and(|e| !e.is_empty()))
        .map(|a| a["alertname"].as_str().expect("alertname"))
        .collect();
    let mut alerts = 0;
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let Some(alert) = rule["alert"].as_str() else { continue };
            alerts += 1;
            let runbook = rule["annotations"]["runbook"].as_str().unwrap_or("");
            assert!(runbook.len() > 80, "{alert}: the runbook annotation must say what to do");
            assert!(rule["annotations"]["summary"].is_string(), "{alert}: no summary");
            assert!(rule["labels"]["severity"].is_string(), "{alert}: no severity");
            assert!(tested.contains(&alert), "{alert}: no promtool unit test shows it firing");
        }
    }
    assert!(alerts >= 20, "{alerts} alerts");
}

#[test]
fn the_prometheus_rule_holds_the_same_groups_as_the_rule_file() {
    let file = yaml_file(RULES);
    let resource = yaml_file(PROMETHEUS_RULE);
    assert_eq!(resource["kind"].as_str(), Some("PrometheusRule"));
    assert!(
        resource["spec"]["groups"] == file["groups"],
        "{PROMETHEUS_RULE} and {RULES} differ: copy the groups of the rule file into the resource's spec"
    );
}
