//! The test file format of `promtool test rules`, read as promtool reads it:
//! unknown keys are errors, an absent or null key is its zero value, and a
//! scalar of any YAML type is taken as written where a string is expected
//! (`values: 0x10` is `0x10`, not 16).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::duration::deserialize_duration;

/// A test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Rule files (glob patterns), relative to the test file.
    #[serde(default, deserialize_with = "nullable")]
    pub rule_files: Vec<String>,
    /// Step of the evaluation of every group; 1m when absent.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub evaluation_interval: Duration,
    /// Group names in the order they are evaluated at each step; groups not
    /// named go with the first.
    #[serde(default, deserialize_with = "nullable")]
    pub group_eval_order: Vec<String>,
    /// The tests, each with its own data.
    #[serde(default, deserialize_with = "nullable")]
    pub tests: Vec<TestGroup>,
}

/// One test: input series and what to expect of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    /// Step between the values of the input series; the evaluation interval
    /// when absent. Also the interval of rule groups that set none.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub interval: Duration,
    /// The data, in series-description notation.
    #[serde(default, deserialize_with = "nullable")]
    pub input_series: Vec<InputSeries>,
    /// Expected firing alerts.
    #[serde(default, deserialize_with = "nullable")]
    pub alert_rule_test: Vec<AlertTest>,
    /// Expected query results.
    #[serde(default, deserialize_with = "nullable")]
    pub promql_expr_test: Vec<ExprTest>,
    /// `$externalLabels` of templates.
    #[serde(default, deserialize_with = "nullable")]
    pub external_labels: BTreeMap<String, String>,
    /// `$externalURL` of templates.
    #[serde(default, deserialize_with = "nullable")]
    pub external_url: String,
    /// Named in failures.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// An input series: `series` is a series identifier, `values` its value
/// sequence (`0+10x5 _ stale 3`), one value per `interval` from time 0.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    /// `name{label="value", …}`.
    #[serde(default, deserialize_with = "nullable")]
    pub series: String,
    /// The value sequence.
    #[serde(default, deserialize_with = "nullable")]
    pub values: String,
}

/// The alerts of one alerting rule expected to be firing at a time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTest {
    /// Time since 0 at which alerts are checked.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub eval_time: Duration,
    /// The alerting rule's name.
    #[serde(default, deserialize_with = "nullable")]
    pub alertname: String,
    /// The firing alerts, in any order.
    #[serde(default, deserialize_with = "nullable")]
    pub exp_alerts: Vec<ExpAlert>,
}

/// One expected alert.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpAlert {
    /// Its labels, without `alertname` (added from the test).
    #[serde(default, deserialize_with = "nullable")]
    pub exp_labels: BTreeMap<String, String>,
    /// Its annotations, expanded.
    #[serde(default, deserialize_with = "nullable")]
    pub exp_annotations: BTreeMap<String, String>,
}

/// An instant query and its expected result.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExprTest {
    /// The PromQL expression.
    #[serde(default, deserialize_with = "nullable")]
    pub expr: String,
    /// Time since 0 of the query.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub eval_time: Duration,
    /// The result, in any order.
    #[serde(default, deserialize_with = "nullable")]
    pub exp_samples: Vec<ExpSample>,
}

/// One expected sample.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpSample {
    /// Its series identifier; empty for a scalar result.
    #[serde(default, deserialize_with = "nullable")]
    pub labels: String,
    /// Its value.
    #[serde(default, deserialize_with = "nullable")]
    pub value: f64,
}

impl TestFile {
    /// Reads and parses a test file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(&text)).map_err(|e| {
            let at = e.path().to_string();
            if at == "." || at.is_empty() {
                e.inner().to_string()
            } else {
                format!("{at}: {}", e.inner())
            }
        })
    }

    /// The rule files: each pattern joined to `base` (the test file's
    /// directory) unless absolute, then expanded as a glob. Patterns that
    /// match nothing are passed to `warn`.
    pub fn rule_paths(&self, base: &Path, mut warn: impl FnMut(&str)) -> Result<Vec<PathBuf>, String> {
        let mut out = Vec::new();
        for pattern in &self.rule_files {
            let full = if pattern.is_empty() || Path::new(pattern).is_absolute() {
                PathBuf::from(pattern)
            } else {
                base.join(pattern)
            };
            let full = full.to_string_lossy();
            let before = out.len();
            if !pattern.is_empty() {
                let matches = glob::glob(&full).map_err(|e| format!("rule file pattern {pattern:?}: {e}"))?;
                out.extend(matches.filter_map(Result::ok));
            }
            if out.len() == before {
                warn(&full);
            }
        }
        Ok(out)
    }
}

/// A value that may be null: null is the type's zero value.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TestFile, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_reads_and_absent_or_null_keys_are_zero() {
        let f = parse(
            r#"
rule_files: [a.yml]
evaluation_interval: 30s
group_eval_order: [g1, g2]
tests:
  - name: t
    interval: 1m
    external_labels: {region: eu, n: 1.50}
    external_url: http://x
    input_series:
      - series: 'up{job="a"}'
        values: 0x10
    alert_rule_test:
      - eval_time: 5m
        alertname: A
        exp_alerts:
          - exp_labels: {code: 500}
            exp_annotations:
          - {}
    promql_expr_test:
      - expr: up
        eval_time: 0
        exp_samples:
          - labels: up
            value: 1
          - value: .inf
  - alert_rule_test:
      - alertname: B
        exp_alerts:
"#,
        )
        .expect("valid");
        assert_eq!(f.rule_files, ["a.yml"]);
        assert_eq!(f.evaluation_interval, Duration::from_secs(30));
        assert_eq!(f.group_eval_order, ["g1", "g2"]);
        let t = &f.tests[0];
        assert_eq!((t.name.as_str(), t.interval, t.external_url.as_str()), ("t", Duration::from_secs(60), "http://x"));
        assert_eq!(t.external_labels.get("n").map(String::as_str), Some("1.50"));
        assert_eq!(t.input_series[0].values, "0x10", "a number is its text");
        let a = &t.alert_rule_test[0];
        assert_eq!(a.exp_alerts[0].exp_labels.get("code").map(String::as_str), Some("500"));
        assert!(a.exp_alerts[0].exp_annotations.is_empty() && a.exp_alerts[1].exp_labels.is_empty());
        assert_eq!(t.promql_expr_test[0].exp_samples[1].labels, "");
        assert_eq!(t.promql_expr_test[0].exp_samples[1].value, f64::INFINITY);
        let t = &f.tests[1];
        assert_eq!((t.interval, t.alert_rule_test[0].eval_time), (Duration::ZERO, Duration::ZERO));
        assert!(t.alert_rule_test[0].exp_alerts.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_errors() {
        let e = parse("tests:\n  - intervall: 1m\n").expect_err("unknown key");
        assert!(e.contains("unknown field `intervall`"), "{e}");
        let e = parse("evaluation_interval: 1x\n").expect_err("bad duration");
        assert!(e.contains("invalid duration"), "{e}");
    }

    #[test]
    fn rule_files_are_relative_to_the_test_file_and_globbed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["a.yml", "b.yml", "c.txt"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        let f = parse("rule_files: ['*.yml', c.txt, missing.yml]").expect("valid");
        let mut warned = Vec::new();
        let paths = f.rule_paths(dir.path(), |p| warned.push(p.to_owned())).expect("globs");
        let names: Vec<_> = paths.iter().map(|p| p.strip_prefix(dir.path()).expect("under dir").to_owned()).collect();
        assert_eq!(names, [Path::new("a.yml"), Path::new("b.yml"), Path::new("c.txt")]);
        assert_eq!(warned, [dir.path().join("missing.yml").to_string_lossy()]);
        let f = parse("rule_files: ['[']").expect("valid");
        assert!(f.rule_paths(dir.path(), |_| {}).is_err(), "bad pattern");
    }
}
