//! Prometheus `relabel_config` semantics for a tenant's series: every action
//! (`replace`, `keep`, `drop`, `keepequal`, `dropequal`, `hashmod`,
//! `labelmap`, `labeldrop`, `labelkeep`, `lowercase`, `uppercase`), regexes
//! anchored at both ends (`^(?:regex)$`), `$1`/`${name}` expansion, and
//! Prometheus's defaults (`regex: (.*)`, `separator: ;`, `replacement: $1`,
//! `action: replace`). A label set to an empty value is removed.
//!
//! [`RelabelConfig`] is the YAML form (as in `prometheus.yml`); a [`Relabeler`]
//! is the compiled list, built once per config (re)load. A series is dropped
//! when an action drops it or when relabeling leaves it without a metric
//! name (the store would refuse it, after the relay acknowledged it).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use rampart_storage::labels::METRIC_NAME;
use rampart_storage::{Label, Labels};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// A relabel action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Set `target_label` to `replacement` (expanded) when `regex` matches.
    #[default]
    Replace,
    /// Drop the series unless `regex` matches the joined source values.
    Keep,
    /// Drop the series when `regex` matches the joined source values.
    Drop,
    /// Drop the series unless `target_label` equals the joined source values.
    KeepEqual,
    /// Drop the series when `target_label` equals the joined source values.
    DropEqual,
    /// Set `target_label` to the MD5 of the joined source values modulo `modulus`.
    HashMod,
    /// Copy labels whose name matches `regex` to the name `replacement` gives.
    LabelMap,
    /// Remove labels whose name matches `regex`.
    LabelDrop,
    /// Remove labels whose name does not match `regex`.
    LabelKeep,
    /// Set `target_label` to the joined source values in lower case.
    Lowercase,
    /// Set `target_label` to the joined source values in upper case.
    Uppercase,
}

/// One relabel step, as written in `prometheus.yml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` as the input.
    pub source_labels: Vec<String>,
    /// Joins the source values.
    pub separator: String,
    /// The label an action writes (may use `$1` for `replace`).
    pub target_label: String,
    /// RE2-syntax regex, anchored at both ends.
    pub regex: String,
    /// Divisor for `hashmod`.
    pub modulus: u64,
    /// Value written by `replace` and name written by `labelmap`.
    pub replacement: String,
    /// What to do.
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            separator: ";".into(),
            target_label: String::new(),
            regex: "(.*)".into(),
            modulus: 0,
            replacement: "$1".into(),
            action: Action::Replace,
        }
    }
}

/// A relabel config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RelabelError {
    /// The regex does not compile.
    #[error("regex {regex:?}: {source}")]
    Regex {
        /// The regex as written.
        regex: String,
        /// The parser's complaint.
        #[source]
        source: regex::Error,
    },
    /// The action needs a `target_label`.
    #[error("action {0:?} needs a target_label")]
    MissingTarget(Action),
    /// `hashmod` needs a modulus above zero.
    #[error("action hashmod needs a modulus > 0")]
    MissingModulus,
    /// `labeldrop`/`labelkeep` only use `regex`.
    #[error("action {0:?} only uses regex: remove source_labels, target_label, modulus, separator and replacement")]
    ExtraFields(Action),
}

/// One compiled step.
#[derive(Clone, Debug)]
struct Step {
    config: RelabelConfig,
    regex: Regex,
}

/// A compiled list of relabel steps, applied in order.
#[derive(Clone, Debug, Default)]
pub struct Relabeler {
    steps: Vec<Step>,
}

impl Relabeler {
    /// Compiles and checks `configs`.
    pub fn new(configs: &[RelabelConfig]) -> Result<Self, RelabelError> {
        let steps = configs.iter().map(compile).collect::<Result<_, _>>()?;
        Ok(Self { steps })
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Applies every step; `None` when the series is dropped.
    pub fn apply(&self, labels: &Labels) -> Option<Labels> {
        let mut set: BTreeMap<String, String> = labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
        for step in &self.steps {
            if !step.apply(&mut set) {
                return None;
            }
        }
        if !set.contains_key(METRIC_NAME) {
            return None;
        }
        Some(Labels::from_sorted(set.into_iter().map(|(name, value)| Label { name, value }).collect()))
    }
}

fn compile(c: &RelabelConfig) -> Result<Step, RelabelError> {
    let regex = Regex::new(&format!("^(?:{})$", c.regex))
        .map_err(|source| RelabelError::Regex { regex: c.regex.clone(), source })?;
    let needs_target = matches!(
        c.action,
        Action::Replace
            | Action::HashMod
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual
    );
    if needs_target && c.target_label.is_empty() {
        return Err(RelabelError::MissingTarget(c.action));
    }
    if c.action == Action::HashMod && c.modulus == 0 {
        return Err(RelabelError::MissingModulus);
    }
    if matches!(c.action, Action::LabelDrop | Action::LabelKeep) {
        let d = RelabelConfig::default();
        if !c.source_labels.is_empty()
            || !c.target_label.is_empty()
            || c.modulus != 0
            || c.separator != d.separator
            || c.replacement != d.replacement
        {
            return Err(RelabelError::ExtraFields(c.action));
        }
    }
    Ok(Step { config: c.clone(), regex })
}

impl Step {
    /// Applies this step to `set`; false when the series is dropped.
    fn apply(&self, set: &mut BTreeMap<String, String>) -> bool {
        let c = &self.config;
        let value = c
            .source_labels
            .iter()
            .map(|n| set.get(n).map_or("", String::as_str))
            .collect::<Vec<_>>()
            .join(&c.separator);
        let target_value = || set.get(&c.target_label).map_or("", String::as_str);
        match c.action {
            Action::Drop => return !self.regex.is_match(&value),
            Action::Keep => return self.regex.is_match(&value),
            Action::DropEqual => return target_value() != value,
            Action::KeepEqual => return target_value() == value,
            Action::Replace => {
                if let Some(caps) = self.regex.captures(&value) {
                    let mut target = String::new();
                    caps.expand(&c.target_label, &mut target);
                    if is_label_name(&target) {
                        let mut replaced = String::new();
                        caps.expand(&c.replacement, &mut replaced);
                        set_label(set, target, replaced);
                    }
                }
            }
            Action::Lowercase => set_label(set, c.target_label.clone(), value.to_lowercase()),
            Action::Uppercase => set_label(set, c.target_label.clone(), value.to_uppercase()),
            Action::HashMod => {
                let hash = Md5::digest(value.as_bytes());
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&hash[8..]);
                set_label(set, c.target_label.clone(), (u64::from_be_bytes(tail) % c.modulus).to_string());
            }
            Action::LabelMap => {
                let mapped: Vec<(String, String)> = set
                    .iter()
                    .filter_map(|(name, v)| {
                        let caps = self.regex.captures(name)?;
                        let mut new_name = String::new();
                        caps.expand(&c.replacement, &mut new_name);
                        Some((new_name, v.clone()))
                    })
                    .collect();
                for (name, v) in mapped {
                    set_label(set, name, v);
                }
            }
            Action::LabelDrop => set.retain(|name, _| !self.regex.is_match(name)),
            Action::LabelKeep => set.retain(|name, _| self.regex.is_match(name)),
        }
        true
    }
}

/// Sets a label; an empty value removes it (Prometheus semantics).
fn set_label(set: &mut BTreeMap<String, String>, name: String, value: String) {
    if value.is_empty() {
        set.remove(&name);
    } else {
        set.insert(name, value);
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, the rule a `replace` target must meet.
fn is_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn run(yaml: &str, input: &[(&str, &str)]) -> Option<Labels> {
        let configs: Vec<RelabelConfig> = serde_yaml::from_str(yaml).expect("yaml");
        Relabeler::new(&configs).expect("compiles").apply(&labels(input))
    }

    #[test]
    fn every_action_behaves_as_in_prometheus() {
        let base = [("__name__", "http_requests_total"), ("job", "api"), ("instance", "10.0.0.1:9100")];
        type Case = (&'static str, &'static str, Option<Vec<(&'static str, &'static str)>>);
        let cases: Vec<Case> = vec![
            (
                "replace with capture groups",
                "- {source_labels: [instance], regex: '(.*):(\\d+)', target_label: host, replacement: '${1}'}",
                Some(vec![("__name__", "http_requests_total"), ("host", "10.0.0.1"), ("instance", "10.0.0.1:9100"), ("job", "api")]),
            ),
            (
                "replace is anchored: a partial match does nothing",
                "- {source_labels: [job], regex: 'ap', target_label: x, replacement: y}",
                Some(base.to_vec()),
            ),
            (
                "replace with an empty result removes the target",
                "- {source_labels: [nothing], target_label: job}",
                Some(vec![("__name__", "http_requests_total"), ("instance", "10.0.0.1:9100")]),
            ),
            (
                "replace with an invalid target name does nothing",
                "- {source_labels: [job], target_label: '${1}-x'}",
                Some(base.to_vec()),
            ),
            (
                "joined source values with the separator",
                "- {source_labels: [job, instance], separator: '@', regex: 'api@(.*)', target_label: t}",
                Some(vec![("__name__", "http_requests_total"), ("instance", "10.0.0.1:9100"), ("job", "api"), ("t", "10.0.0.1:9100")]),
            ),
            ("keep, matching", "- {action: keep, source_labels: [job], regex: 'api|web'}", Some(base.to_vec())),
            ("keep, not matching", "- {action: keep, source_labels: [job], regex: 'web'}", None),
            ("drop, matching", "- {action: drop, source_labels: [__name__], regex: 'http_.*'}", None),
            ("drop is anchored", "- {action: drop, source_labels: [__name__], regex: 'http'}", Some(base.to_vec())),
            ("dropequal, equal", "- {action: dropequal, source_labels: [job], target_label: job}", None),
            ("keepequal, different", "- {action: keepequal, source_labels: [job], target_label: instance}", None),
            (
                "hashmod",
                "- {action: hashmod, source_labels: [instance], modulus: 8, target_label: shard}",
                Some(vec![("__name__", "http_requests_total"), ("instance", "10.0.0.1:9100"), ("job", "api"), ("shard", "HASH")]),
            ),
            (
                "labelmap",
                "- {action: labelmap, regex: '(job|instance)', replacement: 'src_$1'}",
                Some(vec![
                    ("__name__", "http_requests_total"),
                    ("instance", "10.0.0.1:9100"),
                    ("job", "api"),
                    ("src_instance", "10.0.0.1:9100"),
                    ("src_job", "api"),
                ]),
            ),
            (
                "labeldrop",
                "- {action: labeldrop, regex: 'inst.*'}",
                Some(vec![("__name__", "http_requests_total"), ("job", "api")]),
            ),
            ("labelkeep keeps only matches", "- {action: labelkeep, regex: '__name__|job'}", Some(vec![("__name__", "http_requests_total"), ("job", "api")])),
            (
                "lowercase and uppercase",
                "- {action: uppercase, source_labels: [job], target_label: up}\n- {action: lowercase, source_labels: [up], target_label: down}",
                Some(vec![("__name__", "http_requests_total"), ("down", "api"), ("instance", "10.0.0.1:9100"), ("job", "api"), ("up", "API")]),
            ),
            ("a series left without a metric name is dropped", "- {action: labeldrop, regex: '__name__'}", None),
        ];
        // md5("10.0.0.1:9100"), last 8 bytes big-endian, modulo 8.
        let digest = Md5::digest(b"10.0.0.1:9100");
        let shard = (u64::from_be_bytes(digest[8..].try_into().expect("8 bytes")) % 8).to_string();
        for (name, yaml, want) in cases {
            let got = run(yaml, &base);
            let want = want.map(|pairs| {
                labels(
                    &pairs.iter().map(|&(n, v)| (n, if v == "HASH" { shard.as_str() } else { v })).collect::<Vec<_>>(),
                )
            });
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn bad_configs_are_refused() {
        let cases = [
            ("- {regex: '('}", "regex \"(\""),
            ("- {action: replace, source_labels: [a]}", "needs a target_label"),
            ("- {action: hashmod, source_labels: [a], target_label: b}", "modulus"),
            ("- {action: labeldrop, regex: a, source_labels: [b]}", "only uses regex"),
        ];
        for (yaml, message) in cases {
            let configs: Vec<RelabelConfig> = serde_yaml::from_str(yaml).expect("yaml");
            let err = Relabeler::new(&configs).expect_err(yaml);
            assert!(err.to_string().contains(message), "{yaml}: {err}");
        }
        assert!(serde_yaml::from_str::<Vec<RelabelConfig>>("- {action: explode}").is_err());
    }
}
