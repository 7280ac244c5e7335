//! Prometheus rule files: the YAML format (`groups:` of `record` and `alert`
//! rules), loaded unchanged and validated as `promtool check rules` does.
//!
//! [`load_file`] returns every problem of a file at once, each naming the
//! file, the group and the rule (1-based index and name), so one run of
//! `rampart rules check` shows everything to fix. A file is used whole or
//! not at all; a bad file never affects other files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use promql_parser::parser::Expr;
use rampart_storage::Labels;
use serde::{Deserialize, Deserializer};

use super::template;
use crate::duration::parse_duration;
use crate::ingest::{is_label_name, is_metric_name};

/// A validated rule group.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// The file it was read from.
    pub file: PathBuf,
    /// Its name, unique within the file.
    pub name: String,
    /// Evaluation interval; the configured default when the file sets none.
    pub interval: Duration,
    /// How far in the past each evaluation queries; the configured default
    /// when the file sets none.
    pub query_offset: Option<Duration>,
    /// Most series (recording) or alerts (alerting) a rule may produce; 0
    /// is no limit.
    pub limit: usize,
    /// Its rules in evaluation order.
    pub rules: Vec<RuleSpec>,
}

/// A validated rule.
#[derive(Clone, Debug)]
pub struct RuleSpec {
    /// Recording or alerting, with what only that kind has.
    pub kind: RuleKind,
    /// The PromQL expression as written.
    pub expr_text: String,
    /// The parsed expression.
    pub expr: Expr,
    /// Labels added to results (the group's labels, then the rule's); alert
    /// label values are templates.
    pub labels: Labels,
}

/// What kind of rule, and its kind-specific settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `record: NAME`.
    Recording {
        /// The metric name results are stored under.
        name: String,
    },
    /// `alert: NAME`.
    Alerting {
        /// The alert name (`alertname` label).
        name: String,
        /// How long a condition must hold before the alert fires.
        hold: Duration,
        /// How long a firing alert keeps firing after its condition ends.
        keep_firing_for: Duration,
        /// Annotation templates.
        annotations: Labels,
    },
}

impl RuleSpec {
    /// The rule's name: the recorded metric or the alert.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { name } | RuleKind::Alerting { name, .. } => name,
        }
    }
}

/// A problem with a rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFileError {
    /// The file.
    pub file: PathBuf,
    /// The group, when the problem is inside one.
    pub group: Option<String>,
    /// The rule's 1-based index in its group and its name, when the problem
    /// is inside one.
    pub rule: Option<(usize, String)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(g) = &self.group {
            write!(f, "group {g:?}, ")?;
        }
        if let Some((i, name)) = &self.rule {
            write!(f, "rule {i}, {name:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Reads and validates a rule file. `default_interval` applies to groups
/// without `interval`.
pub fn load_file(path: &Path, default_interval: Duration) -> Result<Vec<GroupSpec>, Vec<RuleFileError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![RuleFileError { file: path.to_owned(), group: None, rule: None, message: format!("reading: {e}") }]
    })?;
    parse(path, &text, default_interval)
}

/// Validates rule file text (read from `path`, which names it in errors).
pub fn parse(path: &Path, text: &str, default_interval: Duration) -> Result<Vec<GroupSpec>, Vec<RuleFileError>> {
    let file_error = |message: String| RuleFileError { file: path.to_owned(), group: None, rule: None, message };
    let raw: RawFile = if text.trim().is_empty() {
        RawFile::default()
    } else {
        // serde_yaml's message names the key path, line and column.
        serde_yaml::from_str(text).map_err(|e| vec![file_error(e.to_string())])?
    };
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut names = BTreeSet::new();
    for g in raw.groups {
        let mut group_error = |message: String| {
            errors.push(RuleFileError { file: path.to_owned(), group: Some(g.name.clone()), rule: None, message });
        };
        if g.name.is_empty() {
            group_error("group name must not be empty".into());
        } else if !names.insert(g.name.clone()) {
            group_error(format!("group name {:?} is repeated in the same file", g.name));
        }
        let interval = match g.interval.as_deref().map(parse_duration).transpose() {
            Ok(i) => i.unwrap_or(default_interval),
            Err(e) => {
                group_error(format!("interval: {e}"));
                default_interval
            }
        };
        if interval.is_zero() {
            group_error("interval must be greater than 0".into());
        }
        let query_offset = g.query_offset.as_deref().map(parse_duration).transpose().unwrap_or_else(|e| {
            group_error(format!("query_offset: {e}"));
            None
        });
        for (k, v) in &g.labels {
            if let Some(problem) = label_problem(k, v) {
                group_error(problem);
            }
        }
        let mut rules = Vec::new();
        for (i, r) in g.rules.into_iter().enumerate() {
            let name = r.alert.clone().or_else(|| r.record.clone()).unwrap_or_default();
            let mut problems = Vec::new();
            let rule = check_rule(r, &g.labels, &mut problems);
            errors.extend(problems.into_iter().map(|message| RuleFileError {
                file: path.to_owned(),
                group: Some(g.name.clone()),
                rule: Some((i + 1, name.clone())),
                message,
            }));
            rules.extend(rule);
        }
        groups.push(GroupSpec { file: path.to_owned(), name: g.name, interval, query_offset, limit: g.limit, rules });
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

/// Validates one rule; pushes each problem and returns the rule when it has
/// none.
fn check_rule(r: RawRule, group_labels: &BTreeMap<String, String>, problems: &mut Vec<String>) -> Option<RuleSpec> {
    match (&r.record, &r.alert) {
        (Some(_), Some(_)) => problems.push("only one of 'record' and 'alert' must be set".into()),
        (None, None) => problems.push("one of 'record' or 'alert' must be set".into()),
        _ => {}
    }
    let expr = if r.expr.is_empty() {
        problems.push("field 'expr' must be set in rule".into());
        None
    } else {
        match crate::promql::parse(&r.expr) {
            Ok(e) => Some(e),
            Err(e) => {
                problems.push(format!("could not parse expression: {}", e.message()));
                None
            }
        }
    };
    let hold = duration_field("for", r.r#for.as_deref(), problems);
    let keep_firing_for = duration_field("keep_firing_for", r.keep_firing_for.as_deref(), problems);
    if let Some(record) = &r.record {
        if !r.annotations.is_empty() {
            problems.push("invalid field 'annotations' in recording rule".into());
        }
        if !hold.is_zero() {
            problems.push("invalid field 'for' in recording rule".into());
        }
        if !keep_firing_for.is_zero() {
            problems.push("invalid field 'keep_firing_for' in recording rule".into());
        }
        if record.contains('{') || record.contains('}') {
            problems.push(format!("braces present in the recording rule name; should it be in expr?: {record}"));
        } else if !is_metric_name(record) {
            problems.push(format!("invalid recording rule name: {record}"));
        }
    }
    for (k, v) in &r.labels {
        if let Some(problem) = label_problem(k, v) {
            problems.push(problem);
        }
    }
    for k in r.annotations.keys() {
        if !is_label_name(k) {
            problems.push(format!("invalid annotation name: {k}"));
        }
    }
    if let Some(alert) = &r.alert {
        let name = format!("__alert_{alert}");
        for (what, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
            for (k, text) in map {
                if let Err(e) = template::check(&name, text) {
                    problems.push(format!("{what} {k:?}: {e}"));
                }
            }
        }
    }
    if !problems.is_empty() {
        return None;
    }
    // Rule labels override group labels.
    let mut labels = group_labels.clone();
    labels.extend(r.labels);
    let labels = Labels::from_pairs(labels);
    let kind = match (r.record, r.alert) {
        (Some(name), None) => RuleKind::Recording { name },
        (None, Some(name)) => {
            RuleKind::Alerting { name, hold, keep_firing_for, annotations: Labels::from_pairs(r.annotations) }
        }
        _ => return None,
    };
    Some(RuleSpec { kind, expr_text: r.expr, expr: expr?, labels })
}

fn duration_field(key: &str, text: Option<&str>, problems: &mut Vec<String>) -> Duration {
    match text.map(parse_duration).transpose() {
        Ok(d) => d.unwrap_or_default(),
        Err(e) => {
            problems.push(format!("{key}: {e}"));
            Duration::ZERO
        }
    }
}

fn label_problem(name: &str, _value: &str) -> Option<String> {
    (!is_label_name(name) || name == "__name__").then(|| format!("invalid label name: {name}"))
}

/// A rule file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    query_offset: Option<String>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    /// YAML may give a bare number (`expr: 1`); it is PromQL all the same.
    #[serde(default, deserialize_with = "scalar_string")]
    expr: String,
    #[serde(default)]
    r#for: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default, deserialize_with = "scalar_map")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "scalar_map")]
    annotations: BTreeMap<String, String>,
}

/// A YAML scalar of any type, as its text.
fn scalar_text(v: serde_yaml::Value) -> Result<String, String> {
    match v {
        serde_yaml::Value::String(s) => Ok(s),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml::Value::Null => Ok(String::new()),
        other => Err(format!("expected a string, found {other:?}")),
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar_text(serde_yaml::Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = BTreeMap::<String, serde_yaml::Value>::deserialize(d)?;
    map.into_iter().map(|(k, v)| Ok((k, scalar_text(v).map_err(serde::de::Error::custom)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(Path::new("r.yml"), text, Duration::from_secs(60))
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn valid_file_loads_with_group_and_rule_settings() {
        let text = r#"
groups:
  - name: g
    interval: 30s
    query_offset: 1m
    limit: 10
    labels: {team: a}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: {team: b}
      - alert: Down
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        annotations: {summary: "{{ $labels.instance }} down"}
  - name: h
    rules:
      - record: one
        expr: 1
"#;
        let groups = parse(Path::new("r.yml"), text, Duration::from_secs(60)).expect("valid");
        assert_eq!(groups.len(), 2);
        let g = &groups[0];
        assert_eq!((g.interval, g.query_offset, g.limit), (Duration::from_secs(30), Some(Duration::from_secs(60)), 10));
        assert_eq!(g.rules[0].labels.get("team"), Some("b"), "rule labels override group labels");
        assert_eq!(g.rules[1].labels.get("team"), Some("a"));
        assert_eq!(
            g.rules[1].kind,
            RuleKind::Alerting {
                name: "Down".into(),
                hold: Duration::from_secs(300),
                keep_firing_for: Duration::from_secs(60),
                annotations: Labels::from_pairs([("summary", "{{ $labels.instance }} down")]),
            }
        );
        assert_eq!(groups[1].interval, Duration::from_secs(60), "default interval");
        assert_eq!(groups[1].rules[0].expr_text, "1");
    }

    #[test]
    fn every_problem_is_named_by_file_group_and_rule() {
        let text = r#"
groups:
  - name: g
    rules:
      - record: a b
        expr: up
      - alert: X
        record: y
        expr: up
      - alert: Bad
        expr: sum(
      - record: r
        expr: up
        for: 1m
        annotations: {a: b}
      - alert: T
        expr: up
        labels: {"0bad": x}
  - name: g
    rules: []
"#;
        let errs = errors(text);
        assert!(
            errs.contains(&r#"r.yml: group "g", rule 1, "a b": invalid recording rule name: a b"#.to_owned()),
            "{errs:#?}"
        );
        assert!(
            errs.contains(&r#"r.yml: group "g", rule 2, "X": only one of 'record' and 'alert' must be set"#.to_owned()),
            "{errs:#?}"
        );
        assert!(
            errs.iter().any(|e| e.starts_with(r#"r.yml: group "g", rule 3, "Bad": could not parse expression: "#)),
            "{errs:#?}"
        );
        assert!(
            errs.contains(
                &r#"r.yml: group "g", rule 4, "r": invalid field 'annotations' in recording rule"#.to_owned()
            ),
            "{errs:#?}"
        );
        assert!(
            errs.contains(&r#"r.yml: group "g", rule 4, "r": invalid field 'for' in recording rule"#.to_owned()),
            "{errs:#?}"
        );
        assert!(errs.contains(&r#"r.yml: group "g", rule 5, "T": invalid label name: 0bad"#.to_owned()), "{errs:#?}");
        assert!(
            errs.contains(&r#"r.yml: group "g", group name "g" is repeated in the same file"#.to_owned()),
            "{errs:#?}"
        );
    }

    #[test]
    fn yaml_errors_and_unknown_keys_name_the_file_and_place() {
        let errs = errors("groups:\n  - name: g\n    rules:\n      - recrod: x\n        expr: up\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("r.yml: groups[0].rules[0]: unknown field `recrod`"), "{errs:?}");
        let errs = errors("groups: [\n");
        assert!(errs[0].starts_with("r.yml: "), "{errs:?}");
    }

    #[test]
    fn bad_templates_are_refused_with_the_label_or_annotation_named() {
        let errs = errors(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations: {summary: '{{ .Labels'}\n",
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with(r#"r.yml: group "g", rule 1, "A": annotation "summary": "#), "{errs:?}");
    }
}
