//! `label_replace` and `label_join`: rewrite one label of every sample.
//!
//! Both see `__name__` (names are removed only when evaluation ends) and
//! may set it, which un-marks the name for removal. Setting a label to the
//! empty value removes it. If two samples of one step end up with the same
//! label set, the query fails as in Prometheus.
//!
//! Regular expressions are Go RE2 syntax as far as the `regex` crate
//! shares it, fully anchored, `.` matching newlines; compiled ones are
//! cached per thread, since the function runs once per step.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use regex::Regex;

use super::super::value::{Label, Labels, Sample, METRIC_NAME};
use super::{messages, string_arg, vector_arg, Arg, FnCtx};
use crate::promql::error::QueryError;

/// `label_replace(v, dst, replacement, src, regex)`: where `regex` matches
/// the whole value of `src` (empty if absent), sets `dst` to `replacement`
/// with `$1`, `${name}` expanded.
pub(super) fn label_replace(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let input = vector_arg(args, 0)?;
    let dst = string_arg(args, 1)?;
    let replacement = string_arg(args, 2)?;
    let src = string_arg(args, 3)?;
    let pattern = string_arg(args, 4)?;
    with_regex(pattern, |regex| {
        let regex = regex.ok_or_else(|| {
            QueryError::execution(format!("invalid regular expression in label_replace(): {pattern}"))
        })?;
        if !is_valid_label_name(dst) {
            return Err(QueryError::execution(format!("invalid destination label name in label_replace(): {dst}")));
        }
        let mut changed = false;
        let mut value = String::new();
        let out = input
            .iter()
            .map(|s| match regex.captures(s.labels.get(src).unwrap_or("")) {
                Some(caps) => {
                    changed = true;
                    value.clear();
                    caps.expand(replacement, &mut value);
                    set_label(ctx, s, dst, &value)
                }
                None => Sample { t: ctx.ts, ..s.clone() },
            })
            .collect::<Vec<_>>();
        if changed {
            check_unique(&out)?;
        }
        Ok(out)
    })
}

/// `label_join(v, dst, separator, src…)`: sets `dst` to the values of the
/// `src` labels (empty if absent) joined by `separator`.
pub(super) fn label_join(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let input = vector_arg(args, 0)?;
    let dst = string_arg(args, 1)?;
    let separator = string_arg(args, 2)?;
    let srcs = (3..args.len()).map(|i| string_arg(args, i)).collect::<Result<Vec<_>, _>>()?;
    if let Some(bad) = srcs.iter().find(|s| !is_valid_label_name(s)) {
        return Err(QueryError::execution(format!("invalid source label name in label_join(): {bad}")));
    }
    if !is_valid_label_name(dst) {
        return Err(QueryError::execution(format!("invalid destination label name in label_join(): {dst}")));
    }
    let mut value = String::new();
    let out = input
        .iter()
        .map(|s| {
            value.clear();
            for (i, src) in srcs.iter().enumerate() {
                if i > 0 {
                    value.push_str(separator);
                }
                value.push_str(s.labels.get(src).unwrap_or(""));
            }
            set_label(ctx, s, dst, &value)
        })
        .collect::<Vec<_>>();
    check_unique(&out)?;
    Ok(out)
}

/// Prometheus 3 accepts any non-empty UTF-8 label name.
fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// `s` with label `name` set to `value` (removed if empty). Setting the
/// metric name un-marks it for removal.
fn set_label(ctx: &FnCtx<'_>, s: &Sample, name: &str, value: &str) -> Sample {
    let labels = s.labels.as_slice();
    let pos = labels.binary_search_by(|l| l.name.as_str().cmp(name));
    let unchanged = match pos {
        Ok(i) => labels[i].value == value,
        Err(_) => value.is_empty(),
    };
    let labels = if unchanged {
        Arc::clone(&s.labels)
    } else {
        let mut v = labels.to_vec();
        match (pos, value.is_empty()) {
            (Ok(i), true) => {
                v.remove(i);
            }
            (Ok(i), false) => v[i].value = value.to_owned(),
            (Err(i), _) => v.insert(i, Label::new(name, value)),
        }
        Arc::new(Labels::from_sorted(v))
    };
    Sample { labels, t: ctx.ts, v: s.v, drop_name: name != METRIC_NAME && s.drop_name }
}

/// Fails if two samples have the same label set.
fn check_unique(out: &[Sample]) -> Result<(), QueryError> {
    if out.len() < 2 {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(out.len());
    if out.iter().all(|s| seen.insert(&*s.labels)) {
        Ok(())
    } else {
        Err(messages::duplicate_labelset())
    }
}

/// Runs `f` with `pattern` compiled as Prometheus anchors it, or `None` if
/// it does not compile.
fn with_regex<T>(pattern: &str, f: impl FnOnce(Option<&Regex>) -> T) -> T {
    /// Distinct patterns kept per thread before the cache starts over.
    const CACHE_SIZE: usize = 64;
    thread_local! {
        static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
    }
    CACHE.with_borrow_mut(|cache| {
        if !cache.contains_key(pattern) {
            let Ok(regex) = Regex::new(&format!("^(?s:{pattern})$")) else {
                return f(None);
            };
            if cache.len() >= CACHE_SIZE {
                cache.clear();
            }
            cache.insert(pattern.to_owned(), regex);
        }
        f(cache.get(pattern))
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{sample, Harness};
    use super::*;

    fn testmetric() -> Vec<Sample> {
        vec![
            sample(
                &[("__name__", "testmetric"), ("src", "source-value-10"), ("dst", "original-destination-value")],
                0.0,
            ),
            sample(
                &[("__name__", "testmetric"), ("src", "source-value-20"), ("dst", "original-destination-value")],
                1.0,
            ),
        ]
    }

    fn replace(input: &[Sample], dst: &str, repl: &str, src: &str, re: &str) -> Result<Vec<Sample>, QueryError> {
        let args = [Arg::Vector(input), Arg::String(dst), Arg::String(repl), Arg::String(src), Arg::String(re)];
        Harness::new(0).call(label_replace, &args)
    }

    fn label_values(out: &[Sample], name: &str) -> Vec<Option<String>> {
        out.iter().map(|s| s.labels.get(name).map(str::to_owned)).collect()
    }

    fn some(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some((*s).to_owned())).collect()
    }

    #[test]
    fn label_replace_matches_whole_values() {
        let input = testmetric();
        let cases: &[(&str, &str, &str, &str, [&str; 2])] = &[
            (
                "dst",
                "destination-value-$1",
                "src",
                "source-value-(.*)",
                ["destination-value-10", "destination-value-20"],
            ),
            ("dst", "destination-value-$1", "src", "value-(.*)", ["original-destination-value"; 2]),
            ("dst", "$1-value-$2", "src", "(.*)-value-(.*)", ["source-value-10", "source-value-20"]),
            ("dst", "value-$1", "nonexistent-src", "source-value-(.*)", ["original-destination-value"; 2]),
            ("dst", "value-$1", "nonexistent-src", "(.*)", ["value-"; 2]),
            ("dst", "value-$1", "src", "non-matching-regex", ["original-destination-value"; 2]),
            ("dst", "${1}0-$$-$1x-$name", "src", "source-value-(?P<name>.)(.)", ["10-$--1", "20-$--2"]),
        ];
        for &(dst, repl, src, re, want) in cases {
            let out = replace(&input, dst, repl, src, re).unwrap();
            assert_eq!(label_values(&out, dst), some(&want), "{repl} {re}");
            assert_eq!(label_values(&out, "src"), label_values(&input, "src"));
            assert_eq!(out.iter().map(|s| s.v).collect::<Vec<_>>(), [0.0, 1.0]);
            assert!(out.iter().all(|s| !s.drop_name));
        }
    }

    #[test]
    fn label_replace_with_empty_value_removes_the_label() {
        let out = replace(&testmetric(), "dst", "", "dst", ".*").unwrap();
        assert_eq!(label_values(&out, "dst"), [None, None]);
        assert_eq!(out[0].labels.len(), 2);
        // Regex `.` matches newlines.
        let input = [sample(&[("a", "x\ny")], 1.0)];
        let out = replace(&input, "b", "$1", "a", "x(.)y").unwrap();
        assert_eq!(label_values(&out, "b"), some(&["\n"]));
    }

    #[test]
    fn label_replace_errors() {
        let err = replace(&testmetric(), "dst", "value-$1", "src", "(.*").unwrap_err();
        assert_eq!(err, QueryError::execution("invalid regular expression in label_replace(): (.*"));
        let err = replace(&testmetric(), "", "", "src", "(.*)").unwrap_err();
        assert_eq!(err, QueryError::execution("invalid destination label name in label_replace(): "));
        // Removing the only distinguishing label.
        let err = replace(&testmetric(), "src", "", "", "").unwrap_err();
        assert_eq!(err, messages::duplicate_labelset());
        let overlap = [sample(&[("label", "a"), ("idx", "1")], 1.0), sample(&[("label", "a"), ("idx", "2")], 2.0)];
        assert_eq!(replace(&overlap, "idx", "same", "idx", ".*").unwrap_err(), messages::duplicate_labelset());
        // Errors come before looking at the vector.
        assert!(replace(&[], "dst", "", "src", "(").is_err());
    }

    #[test]
    fn label_replace_drop_name_follows_the_destination() {
        let mut input = testmetric();
        input.iter_mut().for_each(|s| s.drop_name = true);
        let out = replace(&input, "dst", "x$1", "src", "source-value-(.*)").unwrap();
        assert!(out.iter().all(|s| s.drop_name));
        let out = replace(&input, "__name__", "renamed", "", "").unwrap();
        assert!(out.iter().all(|s| !s.drop_name && s.labels.metric_name() == Some("renamed")));
        // No match: the sample is untouched, mark included.
        let out = replace(&input, "__name__", "renamed", "src", "nope").unwrap();
        assert!(out.iter().all(|s| s.drop_name && s.labels.metric_name() == Some("testmetric")));
        // The name is visible as a source.
        let out = replace(&input, "n", "$1", "__name__", "test(.*)").unwrap();
        assert_eq!(label_values(&out, "n"), some(&["metric", "metric"]));
    }

    fn join(input: &[Sample], dst: &str, sep: &str, srcs: &[&str]) -> Result<Vec<Sample>, QueryError> {
        let mut args = vec![Arg::Vector(input), Arg::String(dst), Arg::String(sep)];
        args.extend(srcs.iter().map(|s| Arg::String(s)));
        Harness::new(0).call(label_join, &args)
    }

    #[test]
    fn label_join_joins_in_order() {
        let input = [
            sample(&[("src", "a"), ("src1", "b"), ("src2", "c"), ("dst", "original")], 0.0),
            sample(&[("src", "d"), ("src1", "e"), ("src2", "f"), ("dst", "original")], 1.0),
        ];
        let out = join(&input, "dst", "-", &["src", "src1", "src2"]).unwrap();
        assert_eq!(label_values(&out, "dst"), some(&["a-b-c", "d-e-f"]));
        let out = join(&input, "dst", "-", &["src", "src3", "src1"]).unwrap();
        assert_eq!(label_values(&out, "dst"), some(&["a--b", "d--e"]));
        let out = join(&input, "dst", "", &["emptysrc", "emptysrc1"]).unwrap();
        assert_eq!(label_values(&out, "dst"), [None, None]);
        let out = join(&input, "dst", ", ", &[]).unwrap();
        assert_eq!(label_values(&out, "dst"), [None, None]);
        let out = join(&input, "new", ", ", &["src", "src1"]).unwrap();
        assert_eq!(label_values(&out, "new"), some(&["a, b", "d, e"]));
        assert_eq!(label_values(&out, "dst"), some(&["original", "original"]));
    }

    #[test]
    fn label_join_errors() {
        let dup = [sample(&[("label", "a"), ("this", "a")], 1.0), sample(&[("label", "b"), ("this", "a")], 1.0)];
        assert_eq!(join(&dup, "label", "", &["this"]).unwrap_err(), messages::duplicate_labelset());
        assert_eq!(
            join(&dup, "x", "", &["this", ""]).unwrap_err(),
            QueryError::execution("invalid source label name in label_join(): ")
        );
        assert_eq!(
            join(&dup, "", "", &["this"]).unwrap_err(),
            QueryError::execution("invalid destination label name in label_join(): ")
        );
    }

    #[test]
    fn label_join_sets_the_name() {
        let mut input = [sample(&[("__name__", "m"), ("a", "x")], 1.0)];
        input[0].drop_name = true;
        let out = join(&input, "__name__", "_", &["__name__", "a"]).unwrap();
        assert_eq!(out[0].labels.metric_name(), Some("m_x"));
        assert!(!out[0].drop_name);
        let out = join(&input, "b", "_", &["a"]).unwrap();
        assert!(out[0].drop_name);
    }

    #[test]
    fn unchanged_labels_are_shared() {
        let input = testmetric();
        let out = replace(&input, "dst", "original-destination-value", "src", ".*").unwrap();
        assert!(Arc::ptr_eq(&out[0].labels, &input[0].labels));
    }
}
