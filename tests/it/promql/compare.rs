//! Checking one query run against an eval's expectations, as upstream's
//! runner does (spec sections 5.2–6): the error, the annotations, and the
//! value (vector, matrix, scalar or string) with the float tolerance, exact
//! label sets, `expect ordered`, and matrix sortedness.
//!
//! Every check returns `Err(text)` with the expectation and what the engine
//! returned; the runner prefixes the variant.

use std::cmp::Ordering;
use std::fmt::Write as _;

use rampart::duration::format_duration;
use rampart::promql::gocompat::almost;
use rampart::promql::gocompat::format::format_f;
use rampart::promql::{Sample, Series, Value};
use rampart_storage::{Labels, MatchKind, Matcher, STALE_NAN_BITS};

use super::script::{Eval, ExpectType};
use super::series::Item;

/// Relative tolerance for float values (upstream's `defaultEpsilon`).
const EPSILON: f64 = 1e-6;

/// Upstream's `almost.Equal` with its default tolerance.
fn almost_equal(a: f64, b: f64) -> bool {
    almost::equal(a, b, EPSILON)
}

/// Prometheus's `labels.Compare`: label by label in name order, the name
/// first, then the value, bytewise; a set that is a prefix of the other
/// sorts first.
pub fn compare_labels(a: &Labels, b: &Labels) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let o = x.name.as_bytes().cmp(y.name.as_bytes()).then_with(|| x.value.as_bytes().cmp(y.value.as_bytes()));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// The text part of an `expect … msg:`/`regex:` line.
#[derive(Clone, Debug)]
pub enum TextMatch {
    /// `msg:` — the whole text must be equal.
    Exact(String),
    /// `regex:` (or no text at all: `^.*$`) — Go RE2, not anchored.
    Regex {
        /// The pattern as written.
        pattern: String,
        /// The compiled pattern, wrapped so that an anchored matcher finds it anywhere.
        matcher: Matcher,
    },
}

impl TextMatch {
    /// An unanchored regular expression. The storage engine's matcher
    /// anchors its patterns as `^(?s:…)$`; wrapping the pattern as
    /// `.*(?-s:pattern).*` turns that back into "matches anywhere" while the
    /// pattern itself keeps RE2's defaults (`.` does not match a newline).
    pub fn regex(pattern: &str) -> Result<Self, String> {
        let matcher = Matcher::new(MatchKind::Regex, "", format!(".*(?-s:{pattern}).*")).map_err(|e| e.to_string())?;
        Ok(Self::Regex { pattern: pattern.to_owned(), matcher })
    }

    /// What a bare `expect <type>` matches: upstream's `^.*$`.
    pub fn any() -> Self {
        Self::regex("^.*$").expect("valid pattern")
    }

    /// True when `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            Self::Exact(m) => m == text,
            Self::Regex { matcher, .. } => matcher.matches(text),
        }
    }
}

impl std::fmt::Display for TextMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(m) => write!(f, "message {m:?}"),
            Self::Regex { pattern, .. } => write!(f, "pattern {pattern:?}"),
        }
    }
}

/// The query failed: was that expected, with this error text?
pub fn check_error(ev: &Eval, error: &str) -> Result<(), String> {
    if !ev.is_fail() {
        return Err(format!("query failed: {error}"));
    }
    if let Some(m) = &ev.expected_fail_message {
        if m != error {
            return Err(format!("expected error {m:?}, got: {error}"));
        }
    }
    if let Some(re) = &ev.expected_fail_regexp {
        if !re.is_match(error) {
            return Err(format!("expected error matching {re}, got: {error}"));
        }
    }
    if let Some(m) = ev.expects_of(ExpectType::Fail).next() {
        if !m.is_match(error) {
            return Err(format!("expected error matching {m}, got: {error}"));
        }
    }
    Ok(())
}

/// The query succeeded: was a failure expected?
pub fn check_no_error(ev: &Eval) -> Result<(), String> {
    if ev.is_fail() {
        let what = ev
            .expected_fail_message
            .as_ref()
            .map(|m| format!(" ({m:?})"))
            .or_else(|| ev.expects_of(ExpectType::Fail).next().map(|m| format!(" ({m})")))
            .unwrap_or_default();
        return Err(format!("expected the query to fail{what}, but it succeeded"));
    }
    Ok(())
}

/// Checks rendered warnings and infos against the eval's annotation expectations.
pub fn check_annotations(ev: &Eval, warnings: &[String], infos: &[String]) -> Result<(), String> {
    if ev.legacy_warn && warnings.is_empty() {
        return Err("expected warnings (eval_warn) but got none".into());
    }
    if ev.legacy_info && infos.is_empty() {
        return Err("expected info annotations (eval_info) but got none".into());
    }
    check_annotations_of(ev, ExpectType::Warn, "warn", warnings)?;
    check_annotations_of(ev, ExpectType::Info, "info", infos)?;
    if ev.has_expect(ExpectType::NoWarn) && !warnings.is_empty() {
        return Err(format!("expected no warnings (expect no_warn), got: {warnings:?}"));
    }
    if ev.has_expect(ExpectType::NoInfo) && !infos.is_empty() {
        return Err(format!("expected no infos (expect no_info), got: {infos:?}"));
    }
    Ok(())
}

fn check_annotations_of(ev: &Eval, ty: ExpectType, name: &str, actual: &[String]) -> Result<(), String> {
    let expected: Vec<&TextMatch> = ev.expects_of(ty).collect();
    if expected.is_empty() {
        return Ok(());
    }
    if actual.is_empty() {
        return Err(format!("expected {name} annotations but none were found"));
    }
    for e in &expected {
        if !actual.iter().any(|a| e.is_match(a)) {
            return Err(format!("expected a {name} annotation matching {e}, got: {actual:?}"));
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.is_match(a)) {
            return Err(format!("unexpected {name} annotation {a:?} (expected: {})", join(&expected)));
        }
    }
    Ok(())
}

fn join(ms: &[&TextMatch]) -> String {
    ms.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
}

/// Checks a result value against the eval's expected value.
pub fn check_value(ev: &Eval, value: &Value) -> Result<(), String> {
    match value {
        Value::Matrix(series) => check_matrix(ev, series),
        Value::Vector(samples) => check_vector(ev, samples),
        Value::Scalar { v, .. } => {
            let Some(want) = ev.expected_scalar else {
                return Err(format!(
                    "expected a vector or matrix ({}), got scalar {}",
                    describe_expected(ev),
                    fmt_f(*v)
                ));
            };
            if !almost_equal(want, *v) {
                return Err(format!("expected scalar {}, got scalar {}", fmt_f(want), fmt_f(*v)));
            }
            Ok(())
        }
        Value::String { s, .. } => {
            let want = ev.expected_string.as_deref().unwrap_or("");
            if want != s {
                return Err(format!("expected string {want:?}, got string {s:?}"));
            }
            Ok(())
        }
    }
}

/// Matrix results must be sorted by label set.
pub fn check_sorted(series: &[Series]) -> Result<(), String> {
    for (i, w) in series.windows(2).enumerate() {
        if compare_labels(&w[0].labels, &w[1].labels) == Ordering::Greater {
            return Err(format!(
                "matrix results should always be sorted by labels, but series {} {} sorts before series {} {}",
                i + 1,
                w[1].labels,
                i,
                w[0].labels
            ));
        }
    }
    Ok(())
}

fn check_matrix(ev: &Eval, series: &[Series]) -> Result<(), String> {
    if ev.is_ordered() {
        return Err("expected ordered result, but query returned a matrix".into());
    }
    if ev.expected_scalar.is_some() {
        return Err(format!("expected scalar result, got matrix {}", render_matrix(series)));
    }
    check_sorted(series)?;
    let mut seen = vec![false; ev.expected.len()];
    for s in series {
        let Some(idx) = ev.expected.iter().position(|e| e.labels == *s.labels) else {
            return Err(format!("unexpected series {} in result: {}", s.labels, render_points(s)));
        };
        seen[idx] = true;
        let exp = &ev.expected[idx];
        let mut want_floats = Vec::new();
        let mut want_histograms = 0;
        for (i, item) in exp.values.iter().enumerate() {
            let t = match ev.matrix_grid() {
                Some((start, end, step)) if start + i as i64 * step <= end => start + i as i64 * step,
                _ => {
                    return Err(format!(
                        "expected {} points for {}, but the query time range cannot return this many points",
                        exp.values.len(),
                        exp.labels
                    ))
                }
            };
            match item {
                Item::Float(v) => want_floats.push((t, *v)),
                Item::Histogram(_) => want_histograms += 1,
                Item::Omitted => {}
            }
        }
        if want_floats.len() != s.points.len() || want_histograms != 0 {
            return Err(format!(
                "expected {} float points and {} histogram points for {}: {}, got {}",
                want_floats.len(),
                want_histograms,
                exp.labels,
                render_expected_points(ev, &exp.values),
                render_points(s)
            ));
        }
        for (i, ((t, v), p)) in want_floats.iter().zip(&s.points).enumerate() {
            if *t != p.t {
                return Err(format!(
                    "expected point {i} of {} at t={}, got t={} (result has {})",
                    exp.labels,
                    fmt_t(*t),
                    fmt_t(p.t),
                    render_points(s)
                ));
            }
            if !almost_equal(p.v, *v) {
                return Err(format!(
                    "expected {} at t={} for {}, got {} (result has {})",
                    fmt_f(*v),
                    fmt_t(*t),
                    exp.labels,
                    fmt_f(p.v),
                    render_points(s)
                ));
            }
        }
    }
    all_seen(ev, &seen, || render_matrix(series))
}

fn check_vector(ev: &Eval, samples: &[Sample]) -> Result<(), String> {
    if ev.expected_scalar.is_some() {
        return Err(format!("expected scalar result, got vector {}", render_vector(samples)));
    }
    let mut seen = vec![false; ev.expected.len()];
    for (pos, s) in samples.iter().enumerate() {
        let Some(idx) = ev.expected.iter().position(|e| e.labels == *s.labels) else {
            return Err(format!(
                "unexpected series {} {} in result (expected {})",
                s.labels,
                fmt_f(s.v),
                describe_expected(ev)
            ));
        };
        let exp = &ev.expected[idx];
        if ev.is_ordered() && exp.pos != pos + 1 {
            return Err(format!(
                "expected {} at position {}, but it was at {}; result: {}",
                exp.labels,
                exp.pos,
                pos + 1,
                render_vector(samples)
            ));
        }
        match exp.values.first() {
            Some(Item::Float(want)) => {
                if !almost_equal(*want, s.v) {
                    return Err(format!("expected {} for {}, got {}", fmt_f(*want), exp.labels, fmt_f(s.v)));
                }
            }
            Some(Item::Histogram(h)) => {
                return Err(format!("expected histogram {h} for {}, got float {}", exp.labels, fmt_f(s.v)));
            }
            Some(Item::Omitted) | None => {
                return Err(format!("expected no value for {}, got {}", exp.labels, fmt_f(s.v)));
            }
        }
        seen[idx] = true;
    }
    all_seen(ev, &seen, || render_vector(samples))
}

/// Fails for the first expected series that `seen` does not mark, showing
/// the whole `result`.
fn all_seen(ev: &Eval, seen: &[bool], result: impl FnOnce() -> String) -> Result<(), String> {
    match seen.iter().position(|s| !s) {
        Some(missing) => {
            let exp = &ev.expected[missing];
            Err(format!(
                "expected series {} {} not found; result: {}",
                exp.labels,
                render_expected_points(ev, &exp.values),
                result()
            ))
        }
        None => Ok(()),
    }
}

// ---- rendering ------------------------------------------------------------

/// A float as the scripts write it.
pub fn fmt_f(v: f64) -> String {
    if v.to_bits() == STALE_NAN_BITS {
        "stale".into()
    } else {
        format_f(v)
    }
}

/// A time in ms in the scripts' duration syntax (`50m`, `-8h20m`, `1s500ms`).
pub fn fmt_t(t: i64) -> String {
    let d = format_duration(std::time::Duration::from_millis(t.unsigned_abs()));
    if t < 0 {
        format!("-{d}")
    } else {
        d
    }
}

fn describe_expected(ev: &Eval) -> String {
    if let Some(v) = ev.expected_scalar {
        return format!("scalar {}", fmt_f(v));
    }
    if ev.expected.is_empty() {
        return "an empty result".into();
    }
    let mut out = String::from("{");
    for (i, e) in ev.expected.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} {}", e.labels, render_expected_points(ev, &e.values));
    }
    out.push('}');
    out
}

fn render_expected_points(ev: &Eval, values: &[Item]) -> String {
    let items: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let val = match v {
                Item::Omitted => "_".to_owned(),
                Item::Float(f) => fmt_f(*f),
                Item::Histogram(h) => h.clone(),
            };
            match ev.matrix_grid() {
                Some((start, _, step)) => format!("{val}@{}", fmt_t(start + i as i64 * step)),
                None => val,
            }
        })
        .collect();
    format!("[{}]", items.join(" "))
}

fn render_points(s: &Series) -> String {
    let pts: Vec<String> = s.points.iter().map(|p| format!("{}@{}", fmt_f(p.v), fmt_t(p.t))).collect();
    format!("[{}]", pts.join(" "))
}

fn render_matrix(series: &[Series]) -> String {
    if series.is_empty() {
        return "(empty matrix)".into();
    }
    let parts: Vec<String> = series.iter().map(|s| format!("{} {}", s.labels, render_points(s))).collect();
    format!("{{{}}}", parts.join(", "))
}

fn render_vector(samples: &[Sample]) -> String {
    if samples.is_empty() {
        return "(empty vector)".into();
    }
    let parts: Vec<String> = samples.iter().map(|s| format!("{} {}", s.labels, fmt_f(s.v))).collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rampart::promql::Point;

    use super::super::script::{parse_script, Command};
    use super::*;

    #[test]
    fn label_set_order() {
        let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        let cases: &[(Labels, Labels, Ordering)] = &[
            (l(&[("a", "1")]), l(&[("a", "2")]), Ordering::Less),
            (l(&[("a", "2")]), l(&[("b", "1")]), Ordering::Less), // name before value
            (l(&[("a", "1")]), l(&[("a", "1"), ("b", "1")]), Ordering::Less), // prefix first
            (l(&[]), l(&[("a", "")]), Ordering::Less),
            (l(&[("a", "B")]), l(&[("a", "a")]), Ordering::Less), // bytewise
            (l(&[("__name__", "x"), ("z", "1")]), l(&[("a", "1")]), Ordering::Less),
            (l(&[("a", "1"), ("b", "2")]), l(&[("b", "2"), ("a", "1")]), Ordering::Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_labels(a, b), *want, "{a} vs {b}");
            assert_eq!(compare_labels(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn unanchored_regex() {
        let m = TextMatch::regex(r"quantile value should be between 0 and 1, got NaN \([0-9]+:[0-9]+\)").unwrap();
        assert!(m.is_match("PromQL warning: quantile value should be between 0 and 1, got NaN (1:10)"));
        assert!(!m.is_match("PromQL warning: quantile value should be between 0 and 1, got NaN"));
        assert!(TextMatch::regex("^foo").unwrap().is_match("foobar"));
        assert!(!TextMatch::regex("^foo").unwrap().is_match("a foo"));
        assert!(!TextMatch::regex("a.b").unwrap().is_match("a\nb"));
        assert!(TextMatch::any().is_match("anything"));
        assert!(TextMatch::any().is_match(""));
        assert!(!TextMatch::Exact("a".into()).is_match("ab"));
        assert!(TextMatch::regex("(").is_err());
    }

    fn eval(text: &str) -> Box<Eval> {
        let script = parse_script(text).expect("parses");
        match script.commands.into_iter().next() {
            Some(Command::Eval(e)) => e,
            _ => panic!("not an eval"),
        }
    }

    fn sample(pairs: &[(&str, &str)], v: f64) -> Sample {
        Sample { labels: Arc::new(Labels::from_pairs(pairs.iter().copied())), t: 0, v, drop_name: false }
    }

    #[test]
    fn vector_comparison() {
        let ev = eval("eval instant at 1m x\n  x{a=\"1\"} 1\n  {b=\"2\"} 2\n");
        let ok = Value::Vector(vec![sample(&[("b", "2")], 2.0000001), sample(&[("__name__", "x"), ("a", "1")], 1.0)]);
        assert_eq!(check_value(&ev, &ok), Ok(()));
        let extra = Value::Vector(vec![sample(&[("a", "1")], 1.0)]);
        assert!(check_value(&ev, &extra).unwrap_err().contains("unexpected series"));
        let missing = Value::Vector(vec![sample(&[("b", "2")], 2.0)]);
        assert!(check_value(&ev, &missing).unwrap_err().contains("not found"));
        let wrong = Value::Vector(vec![sample(&[("b", "2")], 3.0), sample(&[("__name__", "x"), ("a", "1")], 1.0)]);
        assert!(check_value(&ev, &wrong).unwrap_err().contains("expected 2"));
        assert!(check_value(&ev, &Value::Scalar { t: 0, v: 1.0 }).is_err());

        let ordered = eval("eval instant at 1m x\n  expect ordered\n  {a=\"1\"} 1\n  {a=\"2\"} 2\n");
        let right = Value::Vector(vec![sample(&[("a", "1")], 1.0), sample(&[("a", "2")], 2.0)]);
        let swapped = Value::Vector(vec![sample(&[("a", "2")], 2.0), sample(&[("a", "1")], 1.0)]);
        assert_eq!(check_value(&ordered, &right), Ok(()));
        assert!(check_value(&ordered, &swapped).unwrap_err().contains("position"));

        let empty = eval("eval instant at 1m x\n");
        assert_eq!(check_value(&empty, &Value::Vector(vec![])), Ok(()));
        assert_eq!(check_value(&empty, &Value::Matrix(vec![])), Ok(()));
        assert_eq!(check_value(&empty, &Value::String { t: 0, s: String::new() }), Ok(()));
    }

    #[test]
    fn scalar_and_string_comparison() {
        let ev = eval("eval instant at 1m 1\n  1.0000001\n");
        assert_eq!(check_value(&ev, &Value::Scalar { t: 0, v: 1.0 }), Ok(()));
        assert!(check_value(&ev, &Value::Vector(vec![sample(&[], 1.0)])).is_err());
        let s = eval("eval instant at 1m \"a\"\n  expect string \"a\"\n");
        assert_eq!(check_value(&s, &Value::String { t: 0, s: "a".into() }), Ok(()));
        assert!(check_value(&s, &Value::String { t: 0, s: "b".into() }).is_err());
    }

    fn series(pairs: &[(&str, &str)], pts: &[(i64, f64)]) -> Series {
        Series {
            labels: Arc::new(Labels::from_pairs(pairs.iter().copied())),
            points: pts.iter().map(|&(t, v)| Point { t, v }).collect(),
            drop_name: false,
        }
    }

    #[test]
    fn matrix_comparison() {
        let ev = eval("eval range from 0 to 2m step 1m x\n  {a=\"1\"} 1 _ 3\n  {a=\"2\"} 5\n");
        let ok =
            Value::Matrix(vec![series(&[("a", "1")], &[(0, 1.0), (120_000, 3.0)]), series(&[("a", "2")], &[(0, 5.0)])]);
        assert_eq!(check_value(&ev, &ok), Ok(()));
        let unsorted =
            Value::Matrix(vec![series(&[("a", "2")], &[(0, 5.0)]), series(&[("a", "1")], &[(0, 1.0), (120_000, 3.0)])]);
        assert!(check_value(&ev, &unsorted).unwrap_err().contains("sorted"));
        let extra_point = Value::Matrix(vec![
            series(&[("a", "1")], &[(0, 1.0), (60_000, 2.0), (120_000, 3.0)]),
            series(&[("a", "2")], &[(0, 5.0)]),
        ]);
        assert!(check_value(&ev, &extra_point).is_err());
        let wrong_time =
            Value::Matrix(vec![series(&[("a", "1")], &[(0, 1.0), (60_000, 3.0)]), series(&[("a", "2")], &[(0, 5.0)])]);
        assert!(check_value(&ev, &wrong_time).is_err());
        let too_many = eval("eval range from 0 to 1m step 1m x\n  {} 1 2 3\n");
        assert!(check_value(&too_many, &Value::Matrix(vec![series(&[], &[(0, 1.0)])])).is_err());
        let ordered = eval("eval instant at 1m x\n  expect ordered\n");
        assert!(check_value(&ordered, &Value::Matrix(vec![])).is_err());
    }

    #[test]
    fn annotation_rules() {
        let w = |s: &str| vec![s.to_owned()];
        let plain = eval("eval instant at 1m x\n");
        assert_eq!(check_annotations(&plain, &w("PromQL warning: w (1:1)"), &w("PromQL info: i (1:1)")), Ok(()));
        let warn = eval("eval instant at 1m x\n  expect warn msg: PromQL warning: w (1:1)\n");
        assert_eq!(check_annotations(&warn, &w("PromQL warning: w (1:1)"), &[]), Ok(()));
        assert!(check_annotations(&warn, &[], &[]).is_err());
        assert!(check_annotations(&warn, &["PromQL warning: w (1:1)".into(), "PromQL warning: v (1:1)".into()], &[])
            .is_err());
        let any = eval("eval instant at 1m x\n  expect warn\n");
        assert_eq!(check_annotations(&any, &w("a"), &[]), Ok(()));
        assert!(check_annotations(&any, &[], &[]).is_err());
        let none = eval("eval instant at 1m x\n  expect no_warn\n  expect no_info\n");
        assert!(check_annotations(&none, &w("a"), &[]).is_err());
        assert!(check_annotations(&none, &[], &w("a")).is_err());
        assert_eq!(check_annotations(&none, &[], &[]), Ok(()));
        let legacy = eval("eval_warn instant at 1m x\n");
        assert!(check_annotations(&legacy, &[], &[]).is_err());
    }

    #[test]
    fn error_rules() {
        let plain = eval("eval instant at 1m x\n");
        assert!(check_error(&plain, "boom").is_err());
        assert_eq!(check_no_error(&plain), Ok(()));
        let fail = eval("eval instant at 1m x\n  expect fail msg: boom\n");
        assert_eq!(check_error(&fail, "boom"), Ok(()));
        assert!(check_error(&fail, "boom!").is_err());
        assert!(check_no_error(&fail).is_err());
        let re = eval("eval instant at 1m x\n  expect fail regex: bo+m\n");
        assert_eq!(check_error(&re, "a boooom b"), Ok(()));
        let legacy = eval("eval_fail instant at 1m x\n  expected_fail_regexp ^b\n");
        assert_eq!(check_error(&legacy, "boom"), Ok(()));
        assert!(check_error(&legacy, "a boom").is_err());
    }
}
