//! `rampart rules test FILE…`: rule unit tests in `promtool test rules`
//! format, run against Rampart's own rule evaluation, PromQL engine and
//! storage.
//!
//! Each test of a file gets a fresh store in a temporary directory. Its
//! input series are appended step by step (a step sees only the samples at
//! or before it), and at every `evaluation_interval` from 0 to the test's
//! last `eval_time` every rule group is evaluated, in `group_eval_order`.
//! A rule evaluation error ends the test. Alerts are compared at the step
//! their `eval_time` falls in (firing alerts only, labels and annotations);
//! `promql_expr_test` queries run once all steps are done. Alert state is
//! never restored from storage: `ALERTS` is written from the first step.
//!
//! Output follows promtool: `Unit Testing:  FILE` then `  SUCCESS`, or
//! `  FAILED:` and each failure on standard error in promtool's words.
//!
//! Beyond promtool 2.42: a test without `interval` uses the evaluation
//! interval for its input series (as later promtool versions do; 2.42 puts
//! every value at time 0). Not supported: native histogram input, and the
//! later promtool additions (`fuzzy_compare`, `start_timestamp`, `--run`,
//! `--diff`, JUnit output).
//!
//! | module | owns |
//! |---|---|
//! | [`spec`] | the test file format |
//! | [`run`] | one test: store, input, evaluation steps, checks |
//! | [`report`] | comparing results and printing failures as promtool does |

pub mod report;
pub mod run;
pub mod spec;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spec::TestFile;

/// Evaluation interval of a file that sets none.
const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// Runs every test of each file, printing results to `out` and failures and
/// warnings to `err`; returns whether all passed.
pub fn run(files: &[PathBuf], out: &mut impl Write, err: &mut impl Write) -> std::io::Result<bool> {
    let mut all_ok = true;
    for path in files {
        writeln!(out, "Unit Testing:  {}", path.display())?;
        let mut warnings = Vec::new();
        let failures = test_file(path, &mut warnings);
        for w in warnings {
            writeln!(err, "  WARNING: no file match pattern {w}")?;
        }
        if failures.is_empty() {
            writeln!(out, "  SUCCESS")?;
        } else {
            all_ok = false;
            writeln!(err, "  FAILED:")?;
            for f in failures {
                writeln!(err, "{f}")?;
                writeln!(out)?;
            }
        }
        writeln!(out)?;
    }
    Ok(all_ok)
}

/// Runs the tests of one file; returns its failures. Rule file patterns
/// that match nothing are added to `warnings`.
fn test_file(path: &Path, warnings: &mut Vec<String>) -> Vec<String> {
    let file = match TestFile::load(path) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    let base = path.parent().unwrap_or(Path::new(""));
    let rule_files = match file.rule_paths(base, |p| warnings.push(p.to_owned())) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let mut group_order = HashMap::new();
    for (i, name) in file.group_eval_order.iter().enumerate() {
        if group_order.insert(name.clone(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {name}")];
        }
    }
    let interval =
        if file.evaluation_interval.is_zero() { DEFAULT_EVALUATION_INTERVAL } else { file.evaluation_interval };
    let settings = run::FileSettings {
        rule_files: &rule_files,
        eval_interval_ms: i64::try_from(interval.as_millis()).unwrap_or(i64::MAX),
        group_order: &group_order,
    };
    file.tests.iter().flat_map(|t| run::run_test(t, &settings)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` (a test file) next to `rules` (a rule file `rules.yml`);
    /// returns whether it passed, standard output and standard error.
    fn run_files(rules: &str, test: &str) -> (bool, String, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("rules.yml"), rules).expect("write rules");
        let path = dir.path().join("t_test.yml");
        std::fs::write(&path, test).expect("write test");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let ok = run(std::slice::from_ref(&path), &mut out, &mut err).expect("io");
        let dir_text = format!("{}/", dir.path().display());
        let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8").replace(&dir_text, "");
        (ok, text(out), text(err))
    }

    const RULES: &str = r#"
groups:
  - name: recording
    rules:
      - record: job:requests:sum
        expr: sum by (job) (requests)
      - record: job:requests:doubled
        expr: job:requests:sum * 2
  - name: alerts
    rules:
      - alert: TooMany
        expr: job:requests:doubled > 10
        for: 2m
        keep_firing_for: 2m
        labels: {severity: page}
        annotations: {summary: too many}
"#;

    #[test]
    fn passing_tests_print_success() {
        let test = r#"
rule_files: [rules.yml]
evaluation_interval: 1m
group_eval_order: [recording, alerts]
tests:
  - interval: 1m
    input_series:
      - series: 'requests{job="a", i="1"}'
        values: '1 2 3 4 5 6 6 6 1 1 1 1'
      - series: 'requests{job="a", i="2"}'
        values: '1x11'
    promql_expr_test:
      - expr: job:requests:doubled
        eval_time: 3m
        exp_samples:
          - labels: 'job:requests:doubled{job="a"}'
            value: 10
      - expr: scalar(job:requests:sum)
        eval_time: 0m
        exp_samples:
          - value: 2
      - expr: ALERTS
        eval_time: 5m
        exp_samples:
          - labels: 'ALERTS{alertname="TooMany", alertstate="pending", job="a", severity="page"}'
            value: 1
    alert_rule_test:
      # Condition true from 4m to 7m: pending at 4m and 5m, firing from 6m.
      - eval_time: 5m59s
        alertname: TooMany
      - eval_time: 6m
        alertname: TooMany
        exp_alerts:
          - exp_labels: {job: a, severity: page}
            exp_annotations: {summary: too many}
      # False from 8m, kept firing for 2m.
      - eval_time: 9m
        alertname: TooMany
        exp_alerts:
          - exp_labels: {job: a, severity: page}
            exp_annotations: {summary: too many}
      - eval_time: 10m
        alertname: TooMany
        exp_alerts: []
"#;
        let (ok, out, err) = run_files(RULES, test);
        assert!(ok, "{out}{err}");
        assert_eq!(out, "Unit Testing:  t_test.yml\n  SUCCESS\n\n");
        assert_eq!(err, "");
    }

    #[test]
    fn failures_are_told_as_promtool_tells_them() {
        let test = r#"
rule_files: [rules.yml, nothing*.yml]
tests:
  - name: wrong
    interval: 1m
    input_series:
      - series: 'requests{job="a"}'
        values: '20x10'
    alert_rule_test:
      - eval_time: 3m
        alertname: TooMany
        exp_alerts:
          - exp_labels: {job: a, severity: ticket}
    promql_expr_test:
      - expr: requests
        eval_time: 1m
        exp_samples:
          - labels: 'requests{job="b"}'
            value: 2e-3
      - expr: requests{
        eval_time: 1m
      - expr: requests
        eval_time: 1m
        exp_samples:
          - labels: 'requests{'
"#;
        let (ok, out, err) = run_files(RULES, test);
        assert!(!ok);
        assert_eq!(out, "Unit Testing:  t_test.yml\n\n\n\n\n\n");
        let (first, rest) = err.split_once("  FAILED:\n").expect("failed");
        assert_eq!(first, "  WARNING: no file match pattern nothing*.yml\n");
        let want_alert = "    name: wrong,\n    alertname: TooMany, time: 3m, \n        exp:[\n            0:\n              \
                          Labels:{alertname=\"TooMany\", job=\"a\", severity=\"ticket\"}\n              Annotations:{}\n            \
                          ], \n        got:[\n            0:\n              Labels:{alertname=\"TooMany\", job=\"a\", \
                          severity=\"page\"}\n              Annotations:{summary=\"too many\"}\n            ]\n";
        let want_expr =
            "    expr: \"requests\", time: 1m,\n        exp: {__name__=\"requests\", job=\"b\"} 2E-03\n        \
                         got: {__name__=\"requests\", job=\"a\"} 2E+01\n";
        let rest = rest.strip_prefix(want_alert).unwrap_or_else(|| panic!("alert failure first: {rest}"));
        let rest = rest.strip_prefix(want_expr).unwrap_or_else(|| panic!("then the sample mismatch: {rest}"));
        let (parse_error, labels_error) = rest.split_once("\n    expr: ").expect("two more failures");
        assert!(parse_error.starts_with("    expr: \"requests{\", time: 1m, err: "), "{parse_error}");
        assert!(labels_error.starts_with("\"requests\", time: 1m, err: labels \"requests{\": "), "{labels_error}");
    }

    #[test]
    fn rule_errors_stop_the_test_at_their_step() {
        let rules = "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: 'label_replace(m, \"b\", \"x\", \"b\", \".*\")'\n";
        let test = r#"
rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'm{b="1"}'
        values: '1 _'
      - series: 'm{b="2"}'
        values: '_ 1'
      - series: 'm{b="3"}'
        values: '_ 1'
    promql_expr_test:
      - expr: r
        eval_time: 5m
"#;
        let (ok, _, err) = run_files(rules, test);
        assert!(!ok);
        // Two series end up with the same labels at 1m, not at 0.
        assert!(err.starts_with("  FAILED:\n    rule: r, time: 1m0s, err: "), "{err}");
        assert_eq!(err.lines().count(), 2, "the test stops there: {err}");
    }

    #[test]
    fn bad_files_fail_with_the_reason() {
        let (ok, _, err) = run_files(RULES, "rule_files: [rules.yml]\ntests:\n  - bogus: 1\n");
        assert!(!ok && err.contains("unknown field `bogus`"), "{err}");
        let (ok, _, err) = run_files(
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: sum(\n",
            "rule_files: [rules.yml]\ntests: [{}]\n",
        );
        assert!(!ok && err.contains(r#"rules.yml: group "g", rule 1, "r": could not parse expression"#), "{err}");
        let (ok, _, err) = run_files(RULES, "group_eval_order: [a, a]\n");
        assert!(!ok && err.contains("group name repeated in evaluation order: a"), "{err}");
        let (ok, _, err) = run_files(RULES, "tests:\n  - alert_rule_test:\n      - eval_time: 1m\n    name: n\n");
        assert!(!ok && err.contains("misses required attribute alertname at eval_time 1m (in TestGroup n)"), "{err}");
        let (ok, _, err) =
            run_files(RULES, "tests:\n  - input_series:\n      - {series: m, values: '1 {{count:1}}'}\n");
        assert!(!ok && err.contains("native histogram samples are not supported"), "{err}");
    }

    #[test]
    fn input_is_appended_step_by_step_and_later_definitions_win() {
        // At 1m the data at 1m30s is not loaded yet, so a query at 1m30s
        // (after the last step, 1m) sees the value at 1m; an `@` query
        // cannot see past the last step either.
        let test = r#"
evaluation_interval: 1m
tests:
  - interval: 30s
    input_series:
      - {series: m, values: '9 9 9 9'}
      - {series: m, values: '0 1 2 3'}
      - {series: 'e{a=""}', values: '5'}
    promql_expr_test:
      - expr: m
        eval_time: 1m30s
        exp_samples: [{labels: m, value: 2}]
      - expr: m @ 90
        eval_time: 0s
        exp_samples: [{labels: m, value: 2}]
      - expr: e
        eval_time: 0s
        exp_samples: [{labels: e, value: 5}]
"#;
        let (ok, out, err) = run_files("", test);
        assert!(ok, "{out}{err}");
    }
}
