//! `parse_query`'s JSON form of a PromQL AST: Prometheus 3's
//! `translateAST` (`web/api/v1/translate_ast.go`), the tree the
//! Prometheus UI's explain view draws, built from `promql-parser`'s AST.
//!
//! As in Prometheus, a selector with a metric name written outside the
//! braces lists it as a trailing `__name__` matcher, and a binary
//! expression between two instant vectors always has a `matching` object
//! (`one-to-one`, or `many-to-many` for `and`/`or`/`unless`), while one
//! with a scalar side has `matching: null`.

use std::time::{Duration, SystemTime};

use promql_parser::label::{MatchOp, Matcher, METRIC_NAME};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AtModifier, BinModifier, Expr, LabelModifier, Offset, VectorMatchCardinality, VectorSelector,
};
use serde_json::{json, Value};

use crate::promql::gocompat::format::format_f;

/// The JSON tree of `expr`.
pub fn translate(expr: &Expr) -> Value {
    match expr {
        Expr::Aggregate(a) => {
            let (grouping, without) = match &a.modifier {
                Some(LabelModifier::Include(l)) => (l.labels.clone(), false),
                Some(LabelModifier::Exclude(l)) => (l.labels.clone(), true),
                None => (Vec::new(), false),
            };
            json!({
                "type": "aggregation",
                "op": a.op.to_string(),
                "expr": translate(&a.expr),
                "param": a.param.as_deref().map_or(Value::Null, translate),
                "grouping": grouping,
                "without": without,
            })
        }
        Expr::Binary(b) => {
            let vectors = b.lhs.value_type() == ValueType::Vector && b.rhs.value_type() == ValueType::Vector;
            let matching = if vectors { matching(b.modifier.as_ref(), b.op.is_set_operator()) } else { Value::Null };
            json!({
                "type": "binaryExpr",
                "op": b.op.to_string(),
                "lhs": translate(&b.lhs),
                "rhs": translate(&b.rhs),
                "matching": matching,
                "bool": b.modifier.as_ref().is_some_and(|m| m.return_bool),
            })
        }
        Expr::Call(c) => json!({
            "type": "call",
            "func": {
                "name": c.func.name,
                "argTypes": c.func.arg_types.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "variadic": c.func.variadic,
                "returnType": c.func.return_type.to_string(),
            },
            "args": c.args.args.iter().map(|a| translate(a)).collect::<Vec<_>>(),
        }),
        Expr::MatrixSelector(m) => {
            let mut v = selector(&m.vs, "matrixSelector");
            v["range"] = json!(millis(m.range));
            v
        }
        Expr::Subquery(s) => {
            let (timestamp, start_or_end) = at(s.at.as_ref());
            json!({
                "type": "subquery",
                "expr": translate(&s.expr),
                "range": millis(s.range),
                "offset": offset(s.offset.as_ref()),
                "step": s.step.map_or(0, millis),
                "timestamp": timestamp,
                "startOrEnd": start_or_end,
            })
        }
        Expr::NumberLiteral(n) => json!({"type": "numberLiteral", "val": format_f(n.val)}),
        Expr::StringLiteral(s) => json!({"type": "stringLiteral", "val": s.val}),
        Expr::Paren(p) => json!({"type": "parenExpr", "expr": translate(&p.expr)}),
        Expr::Unary(u) => json!({"type": "unaryExpr", "op": "-", "expr": translate(&u.expr)}),
        Expr::VectorSelector(vs) => selector(vs, "vectorSelector"),
        // The parser never produces extension nodes.
        Expr::Extension(_) => Value::Null,
    }
}

fn selector(vs: &VectorSelector, kind: &str) -> Value {
    let mut matchers: Vec<Value> = vs.matchers.matchers.iter().map(matcher).collect();
    if let Some(name) = &vs.name {
        matchers.push(json!({"name": METRIC_NAME, "value": name, "type": "="}));
    }
    let (timestamp, start_or_end) = at(vs.at.as_ref());
    json!({
        "type": kind,
        "name": vs.name.clone().unwrap_or_default(),
        "offset": offset(vs.offset.as_ref()),
        "matchers": matchers,
        "timestamp": timestamp,
        "startOrEnd": start_or_end,
    })
}

fn matcher(m: &Matcher) -> Value {
    let op = match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    };
    json!({"name": m.name, "value": m.value, "type": op})
}

fn matching(modifier: Option<&BinModifier>, set_operator: bool) -> Value {
    let default_card = if set_operator { "many-to-many" } else { "one-to-one" };
    let (card, include) = match modifier.map(|m| &m.card) {
        Some(VectorMatchCardinality::ManyToOne(l)) => ("many-to-one", l.labels.clone()),
        Some(VectorMatchCardinality::OneToMany(l)) => ("one-to-many", l.labels.clone()),
        Some(VectorMatchCardinality::ManyToMany) => ("many-to-many", Vec::new()),
        Some(VectorMatchCardinality::OneToOne) | None => (default_card, Vec::new()),
    };
    let (labels, on) = match modifier.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(l)) => (l.labels.clone(), true),
        Some(LabelModifier::Exclude(l)) => (l.labels.clone(), false),
        None => (Vec::new(), false),
    };
    json!({"card": card, "labels": labels, "on": on, "include": include})
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset(o: Option<&Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => millis(*d),
        Some(Offset::Neg(d)) => -millis(*d),
        None => 0,
    }
}

/// `timestamp` (milliseconds) and `startOrEnd` of an `@` modifier.
fn at(a: Option<&AtModifier>) -> (Value, Value) {
    match a {
        None => (Value::Null, Value::Null),
        Some(AtModifier::Start) => (Value::Null, json!("start")),
        Some(AtModifier::End) => (Value::Null, json!("end")),
        Some(AtModifier::At(t)) => {
            let ms = match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => millis(d),
                Err(e) => -millis(e.duration()),
            };
            (json!(ms), Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(q: &str) -> Value {
        translate(&crate::promql::parse(q).expect("parses"))
    }

    #[test]
    fn selectors_list_the_name_matcher_last() {
        assert_eq!(
            tree(r#"up{job="a"} offset 5m"#),
            json!({
                "type": "vectorSelector", "name": "up", "offset": 300000,
                "matchers": [{"name": "job", "value": "a", "type": "="}, {"name": "__name__", "value": "up", "type": "="}],
                "timestamp": null, "startOrEnd": null,
            })
        );
        let m = tree(r#"rate({__name__=~"x.*"}[1m] @ 100)"#);
        assert_eq!(m["type"], "call");
        assert_eq!(m["func"], json!({"name": "rate", "argTypes": ["matrix"], "variadic": 0, "returnType": "vector"}));
        assert_eq!(m["args"][0]["type"], "matrixSelector");
        assert_eq!(m["args"][0]["range"], 60000);
        assert_eq!(m["args"][0]["timestamp"], 100000);
        assert_eq!(m["args"][0]["matchers"], json!([{"name": "__name__", "value": "x.*", "type": "=~"}]));
    }

    #[test]
    fn binary_matching_and_aggregations() {
        let b = tree("a / on(job) group_left(x) b");
        assert_eq!(b["op"], "/");
        assert_eq!(b["matching"], json!({"card": "many-to-one", "labels": ["job"], "on": true, "include": ["x"]}));
        assert_eq!(tree("a and b")["matching"]["card"], "many-to-many");
        assert_eq!(tree("a + b")["matching"], json!({"card": "one-to-one", "labels": [], "on": false, "include": []}));
        assert_eq!(tree("a > bool 1")["matching"], Value::Null);
        assert_eq!(tree("a > bool 1")["bool"], true);
        let agg = tree("topk without (a) (3, x)");
        assert_eq!(agg["op"], "topk");
        assert_eq!(agg["without"], true);
        assert_eq!(agg["grouping"], json!(["a"]));
        assert_eq!(agg["param"], json!({"type": "numberLiteral", "val": "3"}));
        assert_eq!(tree("sum(x)")["grouping"], json!([]));
        let sq = tree("max_over_time(x[10m:1m] offset -1m)");
        assert_eq!(sq["args"][0]["type"], "subquery");
        assert_eq!(sq["args"][0]["step"], 60000);
        assert_eq!(sq["args"][0]["offset"], -60000);
        assert_eq!(tree(r#""s""#), json!({"type": "stringLiteral", "val": "s"}));
        assert_eq!(tree("-(x)")["type"], "unaryExpr");
    }
}
