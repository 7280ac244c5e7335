//! Results of a test and how a failure is told, in promtool's words: alerts
//! and samples are compared after sorting by labels, values with `==` (so
//! NaN never matches), and a mismatch is printed as `exp:` and `got:` in
//! promtool's layout, label sets as `{name="value", …}` with `__name__` as a
//! label.

use std::fmt::Write as _;

use rampart_storage::Labels;

use crate::promql::gocompat::format::{format_e, quote_into};

/// An alert as the test sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertView {
    /// Its labels, `alertname` included.
    pub labels: Labels,
    /// Its expanded annotations.
    pub annotations: Labels,
}

/// One sample of a query result.
pub type SampleView = (Labels, f64);

/// Sorts both sides and tells whether they hold the same alerts.
pub fn alerts_match(exp: &mut [AlertView], got: &mut [AlertView]) -> bool {
    exp.sort();
    got.sort();
    exp == got
}

/// Sorts both sides by labels and tells whether they hold the same samples
/// (values compared with `==`).
pub fn samples_match(exp: &mut [SampleView], got: &mut [SampleView]) -> bool {
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    exp.len() == got.len() && exp.iter().zip(got.iter()).all(|(e, g)| e.0 == g.0 && e.1 == g.1)
}

/// `{a="b", c="d"}`, values quoted as Go quotes them.
pub fn labels_string(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push('=');
        quote_into(&mut out, &l.value);
    }
    out.push('}');
    out
}

/// A list of alerts: `[]`, or each numbered with its labels and
/// annotations on lines of their own.
pub fn alerts_string(alerts: &[AlertView]) -> String {
    if alerts.is_empty() {
        return "[]".into();
    }
    let mut out = String::from("[");
    for (i, a) in alerts.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            out,
            "{sep}\n{i}:\n  Labels:{}\n  Annotations:{}",
            labels_string(&a.labels),
            labels_string(&a.annotations)
        );
    }
    out.push_str("\n]");
    out
}

/// Samples as `{labels} 1.5E+00, …`, or `nil` when there are none.
pub fn samples_string(samples: &[SampleView]) -> String {
    if samples.is_empty() {
        return "nil".into();
    }
    let parts: Vec<String> =
        samples.iter().map(|(l, v)| format!("{} {}", labels_string(l), format_e(*v).replace('e', "E"))).collect();
    parts.join(", ")
}

/// Prefixes every line but the first with `indent`.
pub fn indent_lines(text: &str, indent: &str) -> String {
    text.split('\n').collect::<Vec<_>>().join(&format!("\n{indent}"))
}

/// A time since 0 as Go prints a `time.Duration`: `0s`, `1m0s`, `1h2m3.5s`,
/// `250ms`.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = sign.to_owned();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{s}");
    if frac > 0 {
        let _ = write!(out, ".{}", format!("{frac:03}").trim_end_matches('0'));
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> AlertView {
        AlertView {
            labels: Labels::from_pairs(labels.iter().copied()),
            annotations: Labels::from_pairs(annotations.iter().copied()),
        }
    }

    #[test]
    fn alerts_compare_in_any_order_with_annotations() {
        let a = alert(&[("alertname", "A"), ("i", "1")], &[("s", "x")]);
        let b = alert(&[("alertname", "A"), ("i", "2")], &[]);
        assert!(alerts_match(&mut [a.clone(), b.clone()], &mut [b.clone(), a.clone()]));
        let a2 = alert(&[("alertname", "A"), ("i", "1")], &[("s", "y")]);
        assert!(!alerts_match(&mut [a.clone(), b.clone()], &mut [a2, b.clone()]), "annotations differ");
        assert!(!alerts_match(&mut [a.clone()], &mut [a.clone(), b]), "one more");
        let empty_value = alert(&[("alertname", "A"), ("i", "1"), ("x", "")], &[("s", "x")]);
        assert!(!alerts_match(&mut [empty_value], &mut [a]), "an expected empty label is not an absent one");
    }

    #[test]
    fn samples_compare_sorted_and_float_equal() {
        let l = |v: &str| Labels::from_pairs([("__name__", "m"), ("i", v)]);
        assert!(samples_match(&mut [(l("2"), 2.0), (l("1"), 1.0)], &mut [(l("1"), 1.0), (l("2"), 2.0)]));
        assert!(samples_match(&mut [(l("1"), 0.0)], &mut [(l("1"), -0.0)]), "0 == -0");
        assert!(!samples_match(&mut [(l("1"), f64::NAN)], &mut [(l("1"), f64::NAN)]), "NaN never equals");
        assert!(!samples_match(&mut [(l("1"), 1.0)], &mut [(l("1"), 1.0 + f64::EPSILON)]), "no tolerance");
        assert!(!samples_match(&mut [(l("1"), 1.0)], &mut [(l("2"), 1.0)]));
        assert!(samples_match(&mut [], &mut []));
    }

    #[test]
    fn failures_print_as_promtool_prints_them() {
        let alerts =
            [alert(&[("alertname", "A"), ("job", "x\"y")], &[("summary", "s")]), alert(&[("alertname", "A")], &[])];
        assert_eq!(
            indent_lines(&alerts_string(&alerts), "    "),
            "[\n    0:\n      Labels:{alertname=\"A\", job=\"x\\\"y\"}\n      Annotations:{summary=\"s\"},\n    \
             1:\n      Labels:{alertname=\"A\"}\n      Annotations:{}\n    ]"
        );
        assert_eq!(alerts_string(&[]), "[]");
        let samples = [(Labels::from_pairs([("__name__", "m"), ("a", "b")]), 1.5), (Labels::default(), -1e-7)];
        assert_eq!(samples_string(&samples), r#"{__name__="m", a="b"} 1.5E+00, {} -1E-07"#);
        assert_eq!(samples_string(&[(Labels::default(), f64::INFINITY)]), "{} +Inf");
        assert_eq!(samples_string(&[]), "nil");
    }

    #[test]
    fn go_durations() {
        for (ms, want) in [
            (0, "0s"),
            (250, "250ms"),
            (1000, "1s"),
            (60_000, "1m0s"),
            (90_500, "1m30.5s"),
            (3_600_000, "1h0m0s"),
            (86_400_000 + 61_000, "24h1m1s"),
        ] {
            assert_eq!(go_duration(ms), want, "{ms}");
        }
    }
}
