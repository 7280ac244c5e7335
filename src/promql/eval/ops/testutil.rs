//! Test helpers: series and vectors written as in the conformance scripts,
//! parsed operator expressions, and value comparison as the script runner
//! does it.

use std::sync::Arc;

use promql_parser::parser::{AggregateExpr, BinaryExpr, Expr};

use crate::promql::value::{Label, Labels, Sample};

/// Parses `name{a="b", c="d"}`, `{a="b"}` or `name` (values may use `\"`
/// and `\\`).
pub(crate) fn labels(text: &str) -> Arc<Labels> {
    let text = text.trim();
    let (name, rest) = match text.find('{') {
        Some(i) => (&text[..i], &text[i + 1..text.len() - 1]),
        None => (text, ""),
    };
    let mut out = Vec::new();
    if !name.is_empty() {
        out.push(Label::new("__name__", name));
    }
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        chars.next(); // '='
        assert_eq!(chars.next(), Some('"'), "value of {key} in {text}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next().expect("escape")),
                '"' => break,
                c => value.push(c),
            }
        }
        out.push(Label::new(key.trim(), value));
    }
    Arc::new(Labels::from_unsorted(out))
}

/// A sample at t = 0.
pub(crate) fn sample(text: &str, v: f64) -> Sample {
    Sample { labels: labels(text), t: 0, v, drop_name: false }
}

/// A vector from `(series, value)` pairs.
pub(crate) fn vector(items: &[(&str, f64)]) -> Vec<Sample> {
    items.iter().map(|(l, v)| sample(l, *v)).collect()
}

fn unwrap_parens(mut e: Expr) -> Expr {
    while let Expr::Paren(p) = e {
        e = *p.expr;
    }
    e
}

/// The aggregation `query` parses to.
pub(crate) fn agg(query: &str) -> AggregateExpr {
    match unwrap_parens(promql_parser::parser::parse(query).expect(query)) {
        Expr::Aggregate(a) => a,
        other => panic!("{query} is not an aggregation: {other:?}"),
    }
}

/// The binary expression `query` parses to.
pub(crate) fn bin(query: &str) -> BinaryExpr {
    match unwrap_parens(promql_parser::parser::parse(query).expect(query)) {
        Expr::Binary(b) => b,
        other => panic!("{query} is not a binary expression: {other:?}"),
    }
}

/// Float equality as the conformance runner checks it: NaN equals NaN,
/// exact equality (±Inf, 0), else relative difference below 1e-6.
pub(crate) fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || sum < f64::MIN_POSITIVE {
        return (a - b).abs() < 1e-6 * f64::MIN_POSITIVE;
    }
    (a - b).abs() / sum < 1e-6
}

/// Asserts that `got` holds exactly the `want` series (in any order) with
/// close values.
#[track_caller]
pub(crate) fn assert_vector(got: &[Sample], want: &[(&str, f64)]) {
    assert_eq!(got.len(), want.len(), "got {}, want {want:?}", show(got));
    for (l, v) in want {
        let ls = labels(l);
        let found = got.iter().find(|s| *s.labels == *ls);
        let Some(s) = found else { panic!("{l} missing from {}", show(got)) };
        assert!(close(s.v, *v), "{l}: got {}, want {v}", s.v);
    }
}

/// Asserts that `got` is exactly `want`, in this order.
#[track_caller]
pub(crate) fn assert_ordered(got: &[Sample], want: &[(&str, f64)]) {
    assert_eq!(got.len(), want.len(), "got {}, want {want:?}", show(got));
    for (s, (l, v)) in got.iter().zip(want) {
        assert_eq!(*s.labels, *labels(l), "order: got {}", show(got));
        assert!(close(s.v, *v), "{l}: got {}, want {v}", s.v);
    }
}

/// A vector as text, for failure messages.
pub(crate) fn show(v: &[Sample]) -> String {
    let parts: Vec<String> =
        v.iter().map(|s| format!("{} {}{}", s.labels, s.v, if s.drop_name { " (drop_name)" } else { "" })).collect();
    format!("[{}]", parts.join(", "))
}
