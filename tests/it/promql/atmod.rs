//! Upstream's `@`-invariance check (spec section 6.1.1): the rewrite that
//! pins every top-level selector and subquery to the eval time, the extra
//! evaluation times, and a printer that renders the rewritten AST the way
//! Prometheus's `Expr.String()` does, so that annotation positions in the
//! rewritten text match upstream's.
//!
//! `promql-parser`'s own `Display` is close to Go's but not equal: it prints
//! a negative `@` time as `@ 0.000`, prints `Inf` without its sign, and
//! differs in how it prints `on()`/`ignoring()` and string escapes. Hence
//! this printer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::label::{Labels as GroupLabels, MatchOp};
use promql_parser::parser::{AtModifier, Expr, LabelModifier, Offset, VectorMatchCardinality, VectorSelector};
use promql_parser::util::display_duration;
use rampart::promql::gocompat::format::{format_f, format_g, quote};

/// Functions whose result depends on the evaluation time even when their
/// arguments do not (upstream's `AtModifierUnsafeFunctions`): an expression
/// calling one is not checked for `@`-invariance.
const AT_UNSAFE_FUNCTIONS: [&str; 15] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// The `@` variants of an instant eval at `t` (ms): the rewritten query text
/// and the times to evaluate it at. `None` when the expression calls an
/// `@`-unsafe function (upstream skips the check then).
pub fn at_variants(expr: &Expr, t: i64) -> Option<(String, Vec<i64>)> {
    let mut rewritten = expr.clone();
    if !pin(&mut rewritten, t) {
        return None;
    }
    let times = if t == 0 { vec![-1000, 0, 1000] } else { vec![-10 * t, 0, t / 5, t, 10 * t] };
    Some((render(&rewritten), times))
}

/// Sets `@ t` on every selector and subquery outside subqueries that has no
/// numeric `@` (`@ start()`/`@ end()` are replaced, as upstream's rewrite
/// does). Returns false if an `@`-unsafe function is called outside subqueries.
fn pin(e: &mut Expr, t: i64) -> bool {
    let unpinned = |at: &Option<AtModifier>| !matches!(at, Some(AtModifier::At(_)));
    match e {
        Expr::Aggregate(a) => {
            let p = a.param.as_mut().is_none_or(|p| pin(p, t));
            pin(&mut a.expr, t) && p
        }
        Expr::Unary(u) => pin(&mut u.expr, t),
        Expr::Binary(b) => {
            let l = pin(&mut b.lhs, t);
            pin(&mut b.rhs, t) && l
        }
        Expr::Paren(p) => pin(&mut p.expr, t),
        Expr::Subquery(s) => {
            if unpinned(&s.at) {
                s.at = Some(at_ms(t));
            }
            true
        }
        Expr::VectorSelector(vs) => {
            if unpinned(&vs.at) {
                vs.at = Some(at_ms(t));
            }
            true
        }
        Expr::MatrixSelector(ms) => {
            if unpinned(&ms.vs.at) {
                ms.vs.at = Some(at_ms(t));
            }
            true
        }
        Expr::Call(c) => {
            let mut ok = !AT_UNSAFE_FUNCTIONS.contains(&c.func.name);
            for a in &mut c.args.args {
                ok &= pin(a, t);
            }
            ok
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => true,
    }
}

fn at_ms(t: i64) -> AtModifier {
    let d = Duration::from_millis(t.unsigned_abs());
    AtModifier::At(if t >= 0 { UNIX_EPOCH + d } else { UNIX_EPOCH - d })
}

/// Milliseconds since the epoch of a (possibly pre-epoch) time.
pub fn system_time_ms(st: &SystemTime) -> i64 {
    match st.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Renders an expression as Prometheus's `Expr.String()` does.
pub fn render(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e);
    out
}

fn write_expr(out: &mut String, e: &Expr) {
    match e {
        Expr::Aggregate(a) => {
            out.push_str(&a.op.to_string());
            match &a.modifier {
                Some(LabelModifier::Exclude(ls)) => {
                    out.push_str(" without (");
                    write_label_list(out, ls);
                    out.push_str(") ");
                }
                Some(LabelModifier::Include(ls)) if !ls.labels.is_empty() => {
                    out.push_str(" by (");
                    write_label_list(out, ls);
                    out.push_str(") ");
                }
                _ => {}
            }
            out.push('(');
            if let Some(p) = &a.param {
                write_expr(out, p);
                out.push_str(", ");
            }
            write_expr(out, &a.expr);
            out.push(')');
        }
        Expr::Unary(u) => {
            out.push('-');
            write_expr(out, &u.expr);
        }
        Expr::Binary(b) => {
            write_expr(out, &b.lhs);
            out.push(' ');
            out.push_str(&b.op.to_string());
            if let Some(m) = &b.modifier {
                if m.return_bool {
                    out.push_str(" bool");
                }
                let grouped =
                    matches!(m.card, VectorMatchCardinality::ManyToOne(_) | VectorMatchCardinality::OneToMany(_));
                let (on, labels) = match &m.matching {
                    Some(LabelModifier::Include(ls)) => (true, Some(ls)),
                    Some(LabelModifier::Exclude(ls)) => (false, Some(ls)),
                    None => (false, None),
                };
                let has_labels = labels.is_some_and(|l| !l.labels.is_empty());
                if has_labels || on || grouped {
                    out.push_str(if on { " on (" } else { " ignoring (" });
                    if let Some(ls) = labels {
                        write_label_list(out, ls);
                    }
                    out.push(')');
                }
                match &m.card {
                    VectorMatchCardinality::ManyToOne(ls) => {
                        out.push_str(" group_left (");
                        write_label_list(out, ls);
                        out.push(')');
                    }
                    VectorMatchCardinality::OneToMany(ls) => {
                        out.push_str(" group_right (");
                        write_label_list(out, ls);
                        out.push(')');
                    }
                    _ => {}
                }
                let fill = &m.fill_values;
                match (fill.lhs, fill.rhs) {
                    (Some(l), Some(r)) if l == r => out.push_str(&format!(" fill ({})", format_g(l))),
                    (l, r) => {
                        if let Some(l) = l {
                            out.push_str(&format!(" fill_left ({})", format_g(l)));
                        }
                        if let Some(r) = r {
                            out.push_str(&format!(" fill_right ({})", format_g(r)));
                        }
                    }
                }
            }
            out.push(' ');
            write_expr(out, &b.rhs);
        }
        Expr::Paren(p) => {
            out.push('(');
            write_expr(out, &p.expr);
            out.push(')');
        }
        Expr::Subquery(s) => {
            write_expr(out, &s.expr);
            out.push('[');
            out.push_str(&display_duration(&s.range));
            out.push(':');
            if let Some(step) = s.step.filter(|d| !d.is_zero()) {
                out.push_str(&display_duration(&step));
            }
            out.push(']');
            write_at(out, &s.at);
            write_offset(out, &s.offset);
        }
        Expr::NumberLiteral(n) => out.push_str(&format_f(n.val)),
        Expr::StringLiteral(s) => out.push_str(&quote(&s.val)),
        Expr::VectorSelector(vs) => {
            write_selector(out, vs);
            write_at(out, &vs.at);
            write_offset(out, &vs.offset);
        }
        Expr::MatrixSelector(ms) => {
            write_selector(out, &ms.vs);
            out.push('[');
            out.push_str(&display_duration(&ms.range));
            out.push(']');
            write_at(out, &ms.vs.at);
            write_offset(out, &ms.vs.offset);
        }
        Expr::Call(c) => {
            out.push_str(c.func.name);
            out.push('(');
            for (i, a) in c.args.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, a);
            }
            out.push(')');
        }
        Expr::Extension(x) => out.push_str(x.expr.name()),
    }
}

/// Name and sorted matchers, without `@` and `offset`.
fn write_selector(out: &mut String, vs: &VectorSelector) {
    let name = vs.name.as_deref().unwrap_or("");
    let mut matchers: Vec<String> = vs
        .matchers
        .matchers
        .iter()
        .filter(|m| !(m.name == "__name__" && m.op == MatchOp::Equal && m.value == name && !name.is_empty()))
        .map(|m| {
            let label = if is_legacy_label_name(&m.name) { m.name.clone() } else { quote(&m.name) };
            format!("{label}{}{}", m.op, quote(&m.value))
        })
        .collect();
    out.push_str(name);
    if !matchers.is_empty() {
        matchers.sort();
        out.push('{');
        out.push_str(&matchers.join(","));
        out.push('}');
    }
}

fn write_at(out: &mut String, at: &Option<AtModifier>) {
    match at {
        Some(AtModifier::At(st)) => out.push_str(&format!(" @ {:.3}", system_time_ms(st) as f64 / 1000.0)),
        Some(AtModifier::Start) => out.push_str(" @ start()"),
        Some(AtModifier::End) => out.push_str(" @ end()"),
        None => {}
    }
}

fn write_offset(out: &mut String, offset: &Option<Offset>) {
    match offset {
        Some(Offset::Pos(d)) if !d.is_zero() => {
            out.push_str(" offset ");
            out.push_str(&display_duration(d));
        }
        Some(Offset::Neg(d)) if !d.is_zero() => {
            out.push_str(" offset -");
            out.push_str(&display_duration(d));
        }
        _ => {}
    }
}

fn write_label_list(out: &mut String, ls: &GroupLabels) {
    for (i, l) in ls.labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if is_legacy_label_name(l) {
            out.push_str(l);
        } else {
            out.push_str(&quote(l));
        }
    }
}

fn is_legacy_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Expr {
        rampart::promql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    #[test]
    fn renders_like_prometheus() {
        let cases: &[(&str, &str)] = &[
            ("foo", "foo"),
            ("foo @ -10", "foo @ -10.000"),
            ("foo @ 1.5 offset -5m", "foo @ 1.500 offset -5m"),
            ("foo{b='x', a=~\"y\"}", "foo{a=~\"y\",b=\"x\"}"),
            ("{__name__=\"foo\"}", "{__name__=\"foo\"}"),
            ("rate(foo[1h30m] @ end())", "rate(foo[1h30m] @ end())"),
            ("sum by (a, b) (x)", "sum by (a, b) (x)"),
            ("sum(x) without (a)", "sum without (a) (x)"),
            ("topk(3, x)", "topk(3, x)"),
            ("a + on() b", "a + on () b"),
            ("a / ignoring(x) group_left(y) b", "a / ignoring (x) group_left (y) b"),
            ("a * on(x) group_right b", "a * on (x) group_right () b"),
            ("a > bool 1", "a > bool 1"),
            ("a and ignoring() b", "a and b"),
            ("-foo", "-foo"),
            ("1 / -Inf", "1 / -Inf"),
            ("+Inf", "+Inf"),
            (
                "1e100",
                "10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            ),
            ("0.0000001", "0.0000001"),
            ("0x10", "16"),
            ("\"a\\nb\\\"c\"", "\"a\\nb\\\"c\""),
            ("max_over_time(rate(x[5m])[30m:1m] offset 1m)", "max_over_time(rate(x[5m])[30m:1m] offset 1m)"),
            ("x[5m:]", "x[5m:]"),
            ("(foo)", "(foo)"),
        ];
        for &(q, want) in cases {
            assert_eq!(render(&parse(q)), want, "{q}");
        }
    }

    #[test]
    fn pins_selectors_outside_subqueries() {
        let (text, times) = at_variants(&parse("sum(rate(foo[5m])) + bar @ 10 + baz @ start()"), 60_000).expect("safe");
        assert_eq!(text, "sum(rate(foo[5m] @ 60.000)) + bar @ 10.000 + baz @ 60.000");
        assert_eq!(times, vec![-600_000, 0, 12_000, 60_000, 600_000]);
        let (text, times) = at_variants(&parse("max_over_time(rate(foo[1m])[5m:1m])"), 0).expect("safe");
        assert_eq!(text, "max_over_time(rate(foo[1m])[5m:1m] @ 0.000)");
        assert_eq!(times, vec![-1000, 0, 1000]);
        let (text, _) = at_variants(&parse("foo offset 5m"), -3_000).expect("safe");
        assert_eq!(text, "foo @ -3.000 offset 5m");
        // The rewritten text parses back to the same pinned expression.
        assert_eq!(render(&parse(&text)), text);
        assert_eq!(render(&parse("foo @ -3.000 offset 5m")), "foo @ -3.000 offset 5m");
    }

    #[test]
    fn skips_time_dependent_expressions() {
        for q in ["time()", "timestamp(foo)", "hour(foo)", "predict_linear(foo[5m], 60)", "foo - step()"] {
            assert!(at_variants(&parse(q), 60_000).is_none(), "{q}");
        }
        // Inside a subquery, upstream does not look.
        assert!(at_variants(&parse("sum_over_time(vector(time())[5m:1m])"), 60_000).is_some());
    }
}
