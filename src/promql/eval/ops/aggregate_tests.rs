//! Unit tests of [`super::aggregate`], mostly cases of Prometheus's
//! `aggregators.test`, `limit.test` and `name_label_dropping.test` at one
//! step, with inputs in the order the evaluator delivers them (sorted by
//! labels).

// Literals are written as the conformance scripts write them.
#![allow(clippy::excessive_precision)]

use std::sync::Arc;

use promql_parser::parser::{AggregateExpr, Expr};

use super::ops::testutil::{agg, assert_ordered, assert_vector, close, labels, sample, show};
use super::*;
use crate::promql::annotations::{AnnotationKind, Annotations};

/// A vector sorted by labels, as a selector returns it.
fn sorted(items: &[(&str, f64)]) -> Vec<Sample> {
    let mut v: Vec<Sample> = items.iter().map(|(l, v)| sample(l, *v)).collect();
    v.sort_by(|a, b| a.labels.cmp(&b.labels));
    v
}

/// The parameter as the evaluator would pass it for a literal parameter.
fn literal_param(e: &AggregateExpr) -> AggParam<'_> {
    fn num(e: &Expr) -> Option<f64> {
        match e {
            Expr::NumberLiteral(n) => Some(n.val),
            Expr::Paren(p) => num(&p.expr),
            Expr::Unary(u) => num(&u.expr).map(|v| -v),
            _ => None,
        }
    }
    fn string(e: &Expr) -> Option<&str> {
        match e {
            Expr::StringLiteral(s) => Some(&s.val),
            Expr::Paren(p) => string(&p.expr),
            _ => None,
        }
    }
    match e.param.as_deref() {
        None => AggParam::None,
        Some(p) => match string(p) {
            Some(s) => AggParam::String(s),
            None => AggParam::Scalar(num(p).expect("literal parameter")),
        },
    }
}

/// Runs `query` (an aggregation over a literal parameter) on `input` at
/// t = 3000.
fn run_with(query: &str, param: Option<f64>, input: Vec<Sample>) -> (Result<Vec<Sample>, QueryError>, Annotations) {
    let e = agg(query);
    let p = match param {
        Some(v) => AggParam::Scalar(v),
        None => literal_param(&e),
    };
    let mut annotations = Annotations::default();
    let mut ctx = AggCtx { ts: 3000, position: Some(0), param_position: Some(7), annotations: &mut annotations };
    let out = aggregate(&e, p, input, &mut ctx);
    if let Ok(v) = &out {
        assert!(v.iter().all(|s| s.t == 3000), "output samples carry the step time: {}", show(v));
    }
    (out, annotations)
}

#[track_caller]
fn eval(query: &str, input: Vec<Sample>) -> Vec<Sample> {
    let (out, _) = run_with(query, None, input);
    out.unwrap_or_else(|e| panic!("{query}: {e}"))
}

#[track_caller]
fn eval_err(query: &str, param: Option<f64>, input: Vec<Sample>) -> String {
    match run_with(query, param, input).0 {
        Ok(v) => panic!("{query}: expected an error, got {}", show(&v)),
        Err(e) => {
            assert_eq!(e.error_type(), "execution", "{query}");
            e.message().to_string()
        }
    }
}

fn warnings(a: &Annotations) -> Vec<(String, Option<usize>)> {
    a.iter().filter(|a| a.kind == AnnotationKind::Warning).map(|a| (a.message.clone(), a.position)).collect()
}

/// `http_requests` of `aggregators.test` at 50m.
fn http_requests() -> Vec<Sample> {
    sorted(&[
        (r#"http_requests{job="api-server", instance="0", group="production"}"#, 100.0),
        (r#"http_requests{job="api-server", instance="1", group="production"}"#, 200.0),
        (r#"http_requests{job="api-server", instance="0", group="canary"}"#, 300.0),
        (r#"http_requests{job="api-server", instance="1", group="canary"}"#, 400.0),
        (r#"http_requests{job="app-server", instance="0", group="production"}"#, 500.0),
        (r#"http_requests{job="app-server", instance="1", group="production"}"#, 600.0),
        (r#"http_requests{job="app-server", instance="0", group="canary"}"#, 700.0),
        (r#"http_requests{job="app-server", instance="1", group="canary"}"#, 800.0),
    ])
}

fn api_server() -> Vec<Sample> {
    http_requests().into_iter().filter(|s| s.labels.get("job") == Some("api-server")).collect()
}

#[test]
fn sum_avg_count_by_group() {
    let want = [(r#"{group="canary"}"#, 700.0), (r#"{group="production"}"#, 300.0)];
    assert_ordered(&eval("sum by (group) (x)", api_server()), &want);
    assert_ordered(&eval("SUM(x) BY (group)", api_server()), &want);
    assert_vector(
        &eval("avg by (group) (x)", api_server()),
        &[(r#"{group="canary"}"#, 350.0), (r#"{group="production"}"#, 150.0)],
    );
    assert_vector(
        &eval("count by (group) (x)", api_server()),
        &[(r#"{group="canary"}"#, 2.0), (r#"{group="production"}"#, 2.0)],
    );
    assert_vector(
        &eval("sum by (job) (x)", http_requests()),
        &[(r#"{job="api-server"}"#, 1000.0), (r#"{job="app-server"}"#, 2600.0)],
    );
    assert_vector(
        &eval("avg by (job) (x)", http_requests()),
        &[(r#"{job="api-server"}"#, 250.0), (r#"{job="app-server"}"#, 650.0)],
    );
    assert_vector(
        &eval("min by (job) (x)", http_requests()),
        &[(r#"{job="api-server"}"#, 100.0), (r#"{job="app-server"}"#, 500.0)],
    );
    assert_vector(
        &eval("max by (job) (x)", http_requests()),
        &[(r#"{job="api-server"}"#, 400.0), (r#"{job="app-server"}"#, 800.0)],
    );
    assert_vector(
        &eval("sum by (job, group) (x)", http_requests()),
        &[
            (r#"{group="canary", job="api-server"}"#, 700.0),
            (r#"{group="canary", job="app-server"}"#, 1500.0),
            (r#"{group="production", job="api-server"}"#, 300.0),
            (r#"{group="production", job="app-server"}"#, 1100.0),
        ],
    );
}

#[test]
fn by_and_without_select_labels() {
    assert_vector(
        &eval("sum without (instance) (x)", api_server()),
        &[(r#"{group="canary",job="api-server"}"#, 700.0), (r#"{group="production",job="api-server"}"#, 300.0)],
    );
    assert_vector(&eval("sum by () (x)", api_server()), &[("{}", 1000.0)]);
    assert_vector(&eval("sum(x)", api_server()), &[("{}", 1000.0)]);
    assert_vector(&eval("sum(x)", http_requests()), &[("{}", 3600.0)]);
    // Non-existent labels in by() do not show up.
    assert_vector(
        &eval("sum by (job, nonexistent) (x)", http_requests()),
        &[(r#"{job="api-server"}"#, 1000.0), (r#"{job="app-server"}"#, 2600.0)],
    );
    // without () keeps everything but the name.
    let prod: Vec<Sample> = api_server().into_iter().filter(|s| s.labels.get("group") == Some("production")).collect();
    assert_vector(
        &eval("sum without () (x)", prod),
        &[
            (r#"{group="production",job="api-server",instance="0"}"#, 100.0),
            (r#"{group="production",job="api-server",instance="1"}"#, 200.0),
        ],
    );
    // Mismatched and missing labels.
    let mut input = api_server();
    input.extend(sorted(&[
        (r#"foo{job="api-server", instance="0", region="europe"}"#, 900.0),
        (r#"foo{job="api-server"}"#, 1000.0),
    ]));
    assert_vector(
        &eval("sum without (instance) (x)", input),
        &[
            (r#"{group="canary",job="api-server"}"#, 700.0),
            (r#"{group="production",job="api-server"}"#, 300.0),
            (r#"{region="europe",job="api-server"}"#, 900.0),
            (r#"{job="api-server"}"#, 1000.0),
        ],
    );
    // The separator byte keeps these groups apart.
    let input = sorted(&[(r#"t{a="aa", b="bb"}"#, 100.0), (r#"t{a="a", b="abb"}"#, 200.0)]);
    assert_vector(&eval("sum by (a, b) (t)", input), &[(r#"{a="a", b="abb"}"#, 200.0), (r#"{a="aa", b="bb"}"#, 100.0)]);
}

#[test]
fn groups_come_out_in_first_seen_order() {
    let input = vec![
        sample(r#"m{g="z", i="1"}"#, 1.0),
        sample(r#"m{g="a", i="2"}"#, 2.0),
        sample(r#"m{g="z", i="3"}"#, 3.0),
        sample(r#"m{i="4"}"#, 4.0),
    ];
    assert_ordered(&eval("sum by (g) (m)", input), &[(r#"{g="z"}"#, 4.0), (r#"{g="a"}"#, 2.0), ("{}", 4.0)]);
}

#[test]
fn min_max_skip_nan_unless_all_nan() {
    let input = sorted(&[
        (r#"http_requests{job="api-server", instance="0", group="production"}"#, 1.0),
        (r#"http_requests{job="api-server", instance="1", group="production"}"#, 2.0),
        (r#"http_requests{job="api-server", instance="0", group="canary"}"#, f64::NAN),
        (r#"http_requests{job="api-server", instance="1", group="canary"}"#, 3.0),
        (r#"http_requests{job="api-server", instance="2", group="canary"}"#, 4.0),
    ]);
    assert_vector(&eval("max(x)", input.clone()), &[("{}", 4.0)]);
    assert_vector(&eval("min(x)", input.clone()), &[("{}", 1.0)]);
    assert_vector(
        &eval("max by (group) (x)", input.clone()),
        &[(r#"{group="production"}"#, 2.0), (r#"{group="canary"}"#, 4.0)],
    );
    assert_vector(
        &eval("min by (group) (x)", input),
        &[(r#"{group="production"}"#, 1.0), (r#"{group="canary"}"#, 3.0)],
    );
    let nans = sorted(&[("a", f64::NAN), ("b", f64::NAN)]);
    assert_vector(&eval("min(x)", nans.clone()), &[("{}", f64::NAN)]);
    assert_vector(&eval("max(x)", nans), &[("{}", f64::NAN)]);
    // A NaN first is replaced by the next value; -Inf/+Inf are ordinary values.
    let v = sorted(&[("a", f64::NAN), ("b", f64::NEG_INFINITY), ("c", 5.0)]);
    assert_vector(&eval("min(x)", v.clone()), &[("{}", f64::NEG_INFINITY)]);
    assert_vector(&eval("max(x)", v), &[("{}", 5.0)]);
}

#[test]
fn stddev_and_stdvar() {
    assert_vector(&eval("stddev(x)", http_requests()), &[("{}", 229.12878474779)]);
    assert_vector(&eval("stdvar(x)", http_requests()), &[("{}", 52500.0)]);
    assert_vector(
        &eval("stddev by (instance) (x)", http_requests()),
        &[(r#"{instance="0"}"#, 223.60679774998), (r#"{instance="1"}"#, 223.60679774998)],
    );
    assert_vector(
        &eval("stdvar by (instance) (x)", http_requests()),
        &[(r#"{instance="0"}"#, 50000.0), (r#"{instance="1"}"#, 50000.0)],
    );
    // Equal inputs (0+1.33x10 at 50m) give exactly 0.
    let mut v = 0.0;
    for _ in 0..10 {
        v += 1.33;
    }
    let same = sorted(&[(r#"h{i="0",g="p"}"#, v), (r#"h{i="1",g="p"}"#, v), (r#"h{i="0",g="c"}"#, v)]);
    assert_eq!(eval("stddev(x)", same.clone())[0].v, 0.0);
    assert_eq!(eval("stdvar(x)", same)[0].v, 0.0);
    // NaN and ±Inf make the result NaN, wherever they are.
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        for input in [
            sorted(&[(r#"s{label="a"}"#, 1.0), (r#"s{label="b"}"#, 2.0), (r#"s{label="c"}"#, bad)]),
            sorted(&[(r#"s{label="a"}"#, bad), (r#"s{label="b"}"#, 1.0), (r#"s{label="c"}"#, 2.0)]),
            sorted(&[("s", bad)]),
        ] {
            assert!(eval("stddev(x)", input.clone())[0].v.is_nan());
            assert!(eval("stdvar(x)", input.clone())[0].v.is_nan());
        }
        let by = eval("stdvar by (label) (x)", sorted(&[(r#"s{label="a"}"#, 1.0), (r#"s{label="c"}"#, bad)]));
        assert_vector(&by, &[(r#"{label="a"}"#, 0.0), (r#"{label="c"}"#, f64::NAN)]);
    }
    assert_vector(&eval("stddev(x)", sorted(&[("a", 1.0), ("b", 2.0)])), &[("{}", 0.5)]);
    assert_vector(&eval("stdvar(x)", sorted(&[("a", 1.0), ("b", 2.0)])), &[("{}", 0.25)]);
}

fn avg_data(test: &str) -> Vec<Sample> {
    let big = 9.988465674311579e+307;
    let all: &[(&str, &str, f64)] = &[
        ("ten", "a", 8.0),
        ("ten", "b", 10.0),
        ("ten", "c", 12.0),
        ("inf", "a", 0.0),
        ("inf", "b", f64::INFINITY),
        ("inf", "d", f64::INFINITY),
        ("inf", "c", 0.0),
        ("-inf", "a", f64::NEG_INFINITY),
        ("-inf", "b", f64::NEG_INFINITY),
        ("-inf", "c", 0.0),
        ("inf2", "a", f64::INFINITY),
        ("inf2", "b", 0.0),
        ("inf2", "c", f64::INFINITY),
        ("-inf2", "a", f64::NEG_INFINITY),
        ("-inf2", "b", 0.0),
        ("-inf2", "c", f64::NEG_INFINITY),
        ("inf3", "b", f64::INFINITY),
        ("inf3", "c", f64::INFINITY),
        ("inf3", "d", f64::NEG_INFINITY),
        ("-inf3", "b", f64::NEG_INFINITY),
        ("-inf3", "d", f64::NEG_INFINITY),
        ("-inf3", "c", f64::INFINITY),
        ("nan", "a", f64::NEG_INFINITY),
        ("nan", "b", 0.0),
        ("nan", "c", f64::INFINITY),
        ("big", "a", big),
        ("big", "b", big),
        ("big", "c", big),
        ("big", "d", big),
        ("-big", "a", -big),
        ("-big", "b", -big),
        ("-big", "c", -big),
        ("-big", "d", -big),
        ("bigzero", "a", -big),
        ("bigzero", "b", -big),
        ("bigzero", "c", big),
        ("bigzero", "d", big),
    ];
    let items: Vec<(String, f64)> = all
        .iter()
        .filter(|(t, _, _)| test.is_empty() || *t == test)
        .map(|(t, p, v)| (format!(r#"data{{test="{t}",point="{p}"}}"#), *v))
        .collect();
    let refs: Vec<(&str, f64)> = items.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    sorted(&refs)
}

#[test]
fn avg_handles_infinities_and_overflow() {
    let big = 9.988465674311579e+307;
    let cases: &[(&str, f64)] = &[
        ("ten", 10.0),
        ("inf", f64::INFINITY),
        ("inf2", f64::INFINITY),
        ("inf3", f64::NAN),
        ("-inf", f64::NEG_INFINITY),
        ("-inf2", f64::NEG_INFINITY),
        ("-inf3", f64::NAN),
        ("nan", f64::NAN),
        ("big", big),
        ("-big", -big),
        ("bigzero", 0.0),
    ];
    for (test, want) in cases {
        let got = eval("avg(x)", avg_data(test));
        assert!(close(got[0].v, *want), "avg({test}) = {}, want {want}", got[0].v);
    }
    let mut all = avg_data("");
    all.push(sample(r#"data{test="value is nan"}"#, f64::NAN));
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert!(eval("avg(x)", all)[0].v.is_nan());
}

#[test]
fn sum_and_avg_use_compensated_summation() {
    let ten = sorted(&[
        (r#"data{test="ten",point="a"}"#, 2.0),
        (r#"data{test="ten",point="b"}"#, 8.0),
        (r#"data{test="ten",point="c"}"#, 1e100),
        (r#"data{test="ten",point="d"}"#, -1e100),
    ]);
    assert_eq!(eval("sum(x)", ten.clone())[0].v, 10.0);
    assert_eq!(eval("avg(x)", ten)[0].v, 2.5);
    let inf = f64::INFINITY;
    let pos = sorted(&[
        (r#"d{group="1",point="a"}"#, inf),
        (r#"d{group="1",point="b"}"#, 2.0),
        (r#"d{group="2",point="a"}"#, 2.0),
        (r#"d{group="2",point="b"}"#, inf),
    ]);
    assert_vector(&eval("sum by (group) (x)", pos.clone()), &[(r#"{group="1"}"#, inf), (r#"{group="2"}"#, inf)]);
    assert_vector(&eval("avg by (group) (x)", pos), &[(r#"{group="1"}"#, inf), (r#"{group="2"}"#, inf)]);
    let neg = sorted(&[
        (r#"d{group="1",point="a"}"#, -inf),
        (r#"d{group="1",point="b"}"#, 2.0),
        (r#"d{group="2",point="a"}"#, 2.0),
        (r#"d{group="2",point="b"}"#, -inf),
    ]);
    assert_vector(&eval("sum by (group) (x)", neg.clone()), &[(r#"{group="1"}"#, -inf), (r#"{group="2"}"#, -inf)]);
    assert_vector(&eval("avg by (group) (x)", neg), &[(r#"{group="1"}"#, -inf), (r#"{group="2"}"#, -inf)]);
    let inf_inf = sorted(&[(r#"d{point="a"}"#, inf), (r#"d{point="b"}"#, -inf)]);
    assert!(eval("sum(x)", inf_inf.clone())[0].v.is_nan());
    assert!(eval("avg(x)", inf_inf)[0].v.is_nan());
    let nan = sorted(&[
        (r#"d{group="1",point="a"}"#, f64::NAN),
        (r#"d{group="1",point="b"}"#, 2.0),
        (r#"d{group="2",point="a"}"#, 2.0),
        (r#"d{group="2",point="b"}"#, f64::NAN),
    ]);
    assert_vector(
        &eval("sum by (group) (x)", nan.clone()),
        &[(r#"{group="1"}"#, f64::NAN), (r#"{group="2"}"#, f64::NAN)],
    );
    assert_vector(&eval("avg by (group) (x)", nan), &[(r#"{group="1"}"#, f64::NAN), (r#"{group="2"}"#, f64::NAN)]);
}

#[test]
fn avg_of_equal_values_is_exact() {
    let foo: Vec<Sample> = (0..12).map(|i| sample(&format!(r#"foo{{idx="{i}"}}"#), 52.0)).collect();
    assert_eq!(eval("avg(x)", foo.clone())[0].v, 52.0);
    for k in [11, 10, 9, 8] {
        let top = eval(&format!("topk({k}, x)"), foo.clone());
        assert_eq!(top.len(), k);
        assert_eq!(eval("avg(x)", top)[0].v, 52.0, "avg(topk({k}, foo))");
    }
}

#[test]
fn group_gives_one() {
    let data = sorted(&[
        (r#"data{test="two samples",point="a"}"#, 0.0),
        (r#"data{test="two samples",point="b"}"#, 1.0),
        (r#"data{test="three samples",point="a"}"#, 0.0),
        (r#"data{test="uneven samples",point="c"}"#, 4.0),
    ]);
    assert_vector(
        &eval("group without (point) (x)", data),
        &[(r#"{test="two samples"}"#, 1.0), (r#"{test="three samples"}"#, 1.0), (r#"{test="uneven samples"}"#, 1.0)],
    );
    assert_vector(&eval("group(x)", sorted(&[("foo", 0.8)])), &[("{}", 1.0)]);
}

fn quantile_data() -> Vec<Sample> {
    sorted(&[
        (r#"data{test="two samples",point="a"}"#, 0.0),
        (r#"data{test="two samples",point="b"}"#, 1.0),
        (r#"data{test="three samples",point="a"}"#, 0.0),
        (r#"data{test="three samples",point="b"}"#, 1.0),
        (r#"data{test="three samples",point="c"}"#, 2.0),
        (r#"data{test="uneven samples",point="a"}"#, 0.0),
        (r#"data{test="uneven samples",point="b"}"#, 1.0),
        (r#"data{test="uneven samples",point="c"}"#, 4.0),
        (r#"data{test="NaN sample",point="a"}"#, 0.0),
        (r#"data{test="NaN sample",point="b"}"#, 1.0),
        (r#"data{test="NaN sample",point="c"}"#, f64::NAN),
    ])
}

#[test]
fn quantile_interpolates_with_nan_first() {
    let (out, ann) = run_with("quantile without (point) (0.8, x)", None, quantile_data());
    assert_vector(
        &out.unwrap(),
        &[
            (r#"{test="two samples"}"#, 0.8),
            (r#"{test="three samples"}"#, 1.6),
            (r#"{test="uneven samples"}"#, 2.8),
            (r#"{test="NaN sample"}"#, 0.6),
        ],
    );
    assert!(ann.is_empty());
    assert_vector(
        &eval("quantile without (point) (0.2, x)", quantile_data()),
        &[
            (r#"{test="two samples"}"#, 0.2),
            (r#"{test="three samples"}"#, 0.4),
            (r#"{test="uneven samples"}"#, 0.4),
            (r#"{test="NaN sample"}"#, f64::NAN),
        ],
    );
    // A parameter that is not a literal (scalar(foo)).
    let (out, _) = run_with("quantile without (point) (scalar(foo), x)", Some(0.8), quantile_data());
    assert_eq!(out.unwrap().len(), 4);
}

#[test]
fn quantile_outside_0_1_warns_at_the_parameter() {
    let (out, ann) = run_with("quantile without (point) (NaN, x)", None, quantile_data());
    assert!(out.unwrap().iter().all(|s| s.v.is_nan()));
    assert_eq!(warnings(&ann), vec![("quantile value should be between 0 and 1, got NaN".to_string(), Some(7))]);
    let (out, ann) = run_with("quantile(1.5, x)", None, quantile_data());
    assert_eq!(out.unwrap()[0].v, f64::INFINITY);
    assert_eq!(warnings(&ann), vec![("quantile value should be between 0 and 1, got 1.5".to_string(), Some(7))]);
    let (out, ann) = run_with("quantile(-1, x)", None, quantile_data());
    assert_eq!(out.unwrap()[0].v, f64::NEG_INFINITY);
    assert_eq!(warnings(&ann), vec![("quantile value should be between 0 and 1, got -1".to_string(), Some(7))]);
    // The warning does not need any input.
    let (out, ann) = run_with("quantile(2e6, x)", None, vec![]);
    assert!(out.unwrap().is_empty());
    assert_eq!(warnings(&ann), vec![("quantile value should be between 0 and 1, got 2e+06".to_string(), Some(7))]);
    // Boundaries are fine.
    let (out, ann) = run_with("quantile(0.5, x)", Some(0.0), quantile_data());
    assert!(ann.is_empty());
    assert!(out.unwrap()[0].v.is_nan(), "the NaN sorts first");
    let (out, ann) = run_with("quantile(0.5, x)", Some(1.0), quantile_data());
    assert!(ann.is_empty());
    assert_eq!(out.unwrap()[0].v, 4.0);
}

/// `http_requests` of the topk tests: [`http_requests`] and a NaN series.
fn topk_data() -> Vec<Sample> {
    let mut v = http_requests();
    v.push(sample(r#"http_requests{job="api-server", instance="2", group="production"}"#, f64::NAN));
    v.sort_by(|a, b| a.labels.cmp(&b.labels));
    v
}

fn only(v: Vec<Sample>, pairs: &[(&str, &str)]) -> Vec<Sample> {
    v.into_iter().filter(|s| pairs.iter().all(|(k, want)| s.labels.get(k) == Some(want))).collect()
}

#[test]
fn topk_and_bottomk_order() {
    let top3 = [
        (r#"http_requests{group="canary", instance="1", job="app-server"}"#, 800.0),
        (r#"http_requests{group="canary", instance="0", job="app-server"}"#, 700.0),
        (r#"http_requests{group="production", instance="1", job="app-server"}"#, 600.0),
    ];
    assert_ordered(&eval("topk(3, x)", topk_data()), &top3);
    assert_ordered(&eval("topk((3), (x))", topk_data()), &top3);
    let (out, _) = run_with("topk(scalar(foo), x)", Some(3.0), topk_data());
    assert_ordered(&out.unwrap(), &top3);
    let app_canary = only(topk_data(), &[("group", "canary"), ("job", "app-server")]);
    assert_ordered(
        &eval("topk(5, x)", app_canary.clone()),
        &[
            (r#"http_requests{group="canary", instance="1", job="app-server"}"#, 800.0),
            (r#"http_requests{group="canary", instance="0", job="app-server"}"#, 700.0),
        ],
    );
    assert_ordered(
        &eval("bottomk(3, x)", topk_data()),
        &[
            (r#"http_requests{group="production", instance="0", job="api-server"}"#, 100.0),
            (r#"http_requests{group="production", instance="1", job="api-server"}"#, 200.0),
            (r#"http_requests{group="canary", instance="0", job="api-server"}"#, 300.0),
        ],
    );
    assert_ordered(
        &eval("bottomk(5, x)", app_canary.clone()),
        &[
            (r#"http_requests{group="canary", instance="0", job="app-server"}"#, 700.0),
            (r#"http_requests{group="canary", instance="1", job="app-server"}"#, 800.0),
        ],
    );
    assert_vector(
        &eval("topk by (group) (1, x)", topk_data()),
        &[
            (r#"http_requests{group="production", instance="1", job="app-server"}"#, 600.0),
            (r#"http_requests{group="canary", instance="1", job="app-server"}"#, 800.0),
        ],
    );
    assert_vector(
        &eval("bottomk by (group) (2, x)", topk_data()),
        &[
            (r#"http_requests{group="canary", instance="0", job="api-server"}"#, 300.0),
            (r#"http_requests{group="canary", instance="1", job="api-server"}"#, 400.0),
            (r#"http_requests{group="production", instance="0", job="api-server"}"#, 100.0),
            (r#"http_requests{group="production", instance="1", job="api-server"}"#, 200.0),
        ],
    );
    let prod = only(topk_data(), &[("group", "production")]);
    assert_ordered(
        &eval("bottomk by (group) (2, x)", prod),
        &[
            (r#"http_requests{group="production", instance="0", job="api-server"}"#, 100.0),
            (r#"http_requests{group="production", instance="1", job="api-server"}"#, 200.0),
        ],
    );
    // Huge k is capped by the input size.
    assert_ordered(
        &eval("bottomk(9999999999, x)", app_canary),
        &[
            (r#"http_requests{group="canary", instance="0", job="app-server"}"#, 700.0),
            (r#"http_requests{group="canary", instance="1", job="app-server"}"#, 800.0),
        ],
    );
}

#[test]
fn topk_and_bottomk_choose_nan_last() {
    let api_prod = only(topk_data(), &[("group", "production"), ("job", "api-server")]);
    let want_top = [
        (r#"http_requests{job="api-server", instance="1", group="production"}"#, 200.0),
        (r#"http_requests{job="api-server", instance="0", group="production"}"#, 100.0),
        (r#"http_requests{job="api-server", instance="2", group="production"}"#, f64::NAN),
    ];
    assert_ordered(&eval("topk(3, x)", api_prod.clone()), &want_top);
    assert_ordered(&eval("topk(9999999999, x)", api_prod.clone()), &want_top);
    assert_ordered(
        &eval("bottomk(3, x)", api_prod.clone()),
        &[
            (r#"http_requests{job="api-server", instance="0", group="production"}"#, 100.0),
            (r#"http_requests{job="api-server", instance="1", group="production"}"#, 200.0),
            (r#"http_requests{job="api-server", instance="2", group="production"}"#, f64::NAN),
        ],
    );
    // With room for fewer, NaN is dropped first.
    assert_vector(
        &eval("topk(2, x)", api_prod.clone()),
        &[
            (r#"http_requests{job="api-server", instance="1", group="production"}"#, 200.0),
            (r#"http_requests{job="api-server", instance="0", group="production"}"#, 100.0),
        ],
    );
    assert_vector(
        &eval("bottomk(1, x)", api_prod),
        &[(r#"http_requests{job="api-server", instance="0", group="production"}"#, 100.0)],
    );
    assert_vector(
        &eval("topk by (instance) (1, x)", topk_data()),
        &[
            (r#"http_requests{group="canary", instance="0", job="app-server"}"#, 700.0),
            (r#"http_requests{group="canary", instance="1", job="app-server"}"#, 800.0),
            (r#"http_requests{group="production", instance="2", job="api-server"}"#, f64::NAN),
        ],
    );
}

#[test]
fn topk_ties_follow_prometheus_heap_order() {
    // Equal values: the first k seen, in input order.
    let eq: Vec<Sample> = (0..4).map(|i| sample(&format!(r#"m{{i="{i}"}}"#), 52.0)).collect();
    assert_ordered(&eval("topk(3, x)", eq), &[(r#"m{i="0"}"#, 52.0), (r#"m{i="1"}"#, 52.0), (r#"m{i="2"}"#, 52.0)]);
    // A later equal value replaces the heap top, not the earlier one.
    let v = vec![
        sample(r#"m{i="0"}"#, 1.0),
        sample(r#"m{i="1"}"#, 2.0),
        sample(r#"m{i="2"}"#, 2.0),
        sample(r#"m{i="3"}"#, 3.0),
    ];
    assert_ordered(&eval("topk(2, x)", v), &[(r#"m{i="3"}"#, 3.0), (r#"m{i="1"}"#, 2.0)]);
}

#[test]
fn k_parameter_checks() {
    for q in ["topk", "bottomk", "limitk"] {
        assert_eq!(eval_err(&format!("{q}(NaN, x)"), None, vec![]), "Parameter value is NaN");
        assert_eq!(eval_err(&format!("{q}(NaN, x)"), None, topk_data()), "Parameter value is NaN");
        for k in [0.0, 0.5, -1.0, -1e300, f64::NEG_INFINITY] {
            assert!(run_with(&format!("{q}(1, x)"), Some(k), topk_data()).0.unwrap().is_empty(), "{q}({k})");
        }
        assert_eq!(eval_err(&format!("{q}(1e19, x)"), None, topk_data()), "Scalar value 1e+19 overflows int64");
        assert_eq!(
            eval_err(&format!("{q}(1, x)"), Some(f64::INFINITY), topk_data()),
            "Scalar value +Inf overflows int64"
        );
        assert_eq!(run_with(&format!("{q}(1, x)"), Some(9223372036854774000.0), topk_data()).0.unwrap().len(), 9);
    }
    // k is truncated.
    assert_eq!(eval("topk(2.9, x)", topk_data()).len(), 2);
    assert_eq!(eval_err("limit_ratio(NaN, x)", None, vec![]), "Ratio value is NaN");
}

#[test]
fn limitk_returns_k_per_group() {
    let data = sorted(&[
        (r#"http_requests{job="api-server", instance="0", group="production"}"#, 100.0),
        (r#"http_requests{job="api-server", instance="1", group="production"}"#, 200.0),
        (r#"http_requests{job="api-server", instance="0", group="canary"}"#, 300.0),
        (r#"http_requests{job="api-server", instance="1", group="canary"}"#, 400.0),
        (r#"http_requests{job="api-server", instance="2", group="canary"}"#, 500.0),
        (r#"http_requests{job="api-server", instance="3", group="canary"}"#, 600.0),
    ]);
    let input_labels: Vec<Arc<Labels>> = data.iter().map(|s| s.labels.clone()).collect();
    for (q, n) in [("limitk by (group) (1, x)", 2), ("limitk by (group) (2, x)", 4), ("limitk(100, x)", 6)] {
        let out = eval(q, data.clone());
        assert_eq!(out.len(), n, "{q}");
        assert!(out.iter().all(|s| input_labels.contains(&s.labels)), "{q}: a subset of the input");
    }
    // Heap order, as Prometheus: the larger first sample stays on top.
    let v = vec![sample(r#"m{i="0"}"#, 5.0), sample(r#"m{i="1"}"#, 1.0), sample(r#"m{i="2"}"#, 3.0)];
    assert_ordered(&eval("limitk(2, x)", v), &[(r#"m{i="1"}"#, 1.0), (r#"m{i="0"}"#, 5.0)]);
    assert!(eval("limitk by (group) (0, x)", data.clone()).is_empty());
    assert!(eval("limitk by (group) (-1, x)", data).is_empty());
}

#[test]
fn limit_ratio_picks_by_label_hash() {
    let data = topk_data();
    let n = data.len();
    assert_eq!(eval("limit_ratio(1, x)", data.clone()).len(), n);
    assert_eq!(eval("limit_ratio(-1, x)", data.clone()).len(), n);
    assert!(eval("limit_ratio(0, x)", data.clone()).is_empty());
    let (out, ann) = run_with("limit_ratio(1.1, x)", None, data.clone());
    assert_eq!(out.unwrap().len(), n);
    assert_eq!(warnings(&ann), vec![("ratio value should be between -1 and 1, got 1.1, capping to 1".into(), Some(7))]);
    let (out, ann) = run_with("limit_ratio(-1.1, x)", None, data.clone());
    assert_eq!(out.unwrap().len(), n);
    assert_eq!(
        warnings(&ann),
        vec![("ratio value should be between -1 and 1, got -1.1, capping to -1".into(), Some(7))]
    );
    // r and -(1-r) pick complementary sets.
    for r in [0.2, 0.5, 0.8, 3.0 / 17.0] {
        let a = eval("limit_ratio(0.5, x)", data.clone());
        let (a2, _) = run_with("limit_ratio(0.5, x)", Some(r), data.clone());
        let (b, _) = run_with("limit_ratio(0.5, x)", Some(-(1.0 - r)), data.clone());
        let (a2, b) = (a2.unwrap(), b.unwrap());
        assert_eq!(a2.len() + b.len(), n, "r={r}");
        assert!(a2.iter().all(|s| !b.iter().any(|t| t.labels == s.labels)), "r={r}");
        assert!(a.len() <= n);
    }
    // The offset of a series is its Prometheus label hash over 2^64.
    let mut buf = Vec::new();
    assert_eq!(ops::topk::labels_hash(&Labels::default(), &mut buf), 0xEF46DB3751D8E999);
    let one = labels(r#"{a="b"}"#);
    ops::topk::labels_hash(&one, &mut buf);
    assert_eq!(buf, vec![1, b'a', 1, b'b']);
    let long = Labels::from_pairs([("n", "x".repeat(300))]);
    ops::topk::labels_hash(&long, &mut buf);
    assert_eq!(&buf[..6], &[1, b'n', 255, 44, 1, 0]);
}

fn versions() -> Vec<Sample> {
    sorted(&[
        (r#"version{job="api-server", instance="0", group="production"}"#, 6.0),
        (r#"version{job="api-server", instance="1", group="production"}"#, 6.0),
        (r#"version{job="api-server", instance="2", group="production"}"#, 6.0),
        (r#"version{job="api-server", instance="0", group="canary"}"#, 8.0),
        (r#"version{job="api-server", instance="1", group="canary"}"#, 8.0),
        (r#"version{job="app-server", instance="0", group="production"}"#, 6.0),
        (r#"version{job="app-server", instance="1", group="production"}"#, 6.0),
        (r#"version{job="app-server", instance="0", group="canary"}"#, 7.0),
        (r#"version{job="app-server", instance="1", group="canary"}"#, 7.0),
    ])
}

#[test]
fn count_values_counts_by_value_label() {
    let want = [(r#"{version="6"}"#, 5.0), (r#"{version="7"}"#, 2.0), (r#"{version="8"}"#, 2.0)];
    assert_vector(&eval(r#"count_values("version", x)"#, versions()), &want);
    assert_vector(&eval(r#"count_values(((("version"))), x)"#, versions()), &want);
    assert_vector(
        &eval(r#"count_values without (instance) ("version", x)"#, versions()),
        &[
            (r#"{job="api-server", group="production", version="6"}"#, 3.0),
            (r#"{job="api-server", group="canary", version="8"}"#, 2.0),
            (r#"{job="app-server", group="production", version="6"}"#, 2.0),
            (r#"{job="app-server", group="canary", version="7"}"#, 2.0),
        ],
    );
    let overwritten = [
        (r#"{job="6", group="production"}"#, 5.0),
        (r#"{job="8", group="canary"}"#, 2.0),
        (r#"{job="7", group="canary"}"#, 2.0),
    ];
    assert_vector(&eval(r#"count_values without (instance) ("job", x)"#, versions()), &overwritten);
    assert_vector(&eval(r#"count_values by (job, group) ("job", x)"#, versions()), &overwritten);
    let out = eval(r#"count_values("version", x)"#, versions());
    assert!(out.iter().all(|s| !s.drop_name));
    // Values are written as Go's FormatFloat(v, 'f', -1, 64).
    let odd = sorted(&[
        ("a", 1e21),
        ("b", -0.5),
        ("c", f64::INFINITY),
        ("d", f64::NEG_INFINITY),
        ("e", f64::NAN),
        ("f", 1.5e-7),
        ("g", 0.1 + 0.2),
    ]);
    assert_vector(
        &eval(r#"count_values("v", x)"#, odd),
        &[
            (r#"{v="1000000000000000000000"}"#, 1.0),
            (r#"{v="-0.5"}"#, 1.0),
            (r#"{v="+Inf"}"#, 1.0),
            (r#"{v="-Inf"}"#, 1.0),
            (r#"{v="NaN"}"#, 1.0),
            (r#"{v="0.00000015"}"#, 1.0),
            (r#"{v="0.30000000000000004"}"#, 1.0),
        ],
    );
    // without () may drop the value label itself.
    assert_vector(
        &eval(r#"count_values without (v) ("v", x)"#, sorted(&[(r#"m{a="1"}"#, 1.0), (r#"m{a="1",b="2"}"#, 2.0)])),
        &[(r#"{a="1"}"#, 1.0), (r#"{a="1",b="2"}"#, 1.0)],
    );
    // Groups in first-seen order.
    assert_ordered(
        &eval(r#"count_values("v", x)"#, vec![sample("a", 2.0), sample("b", 1.0), sample("c", 2.0)]),
        &[(r#"{v="2"}"#, 2.0), (r#"{v="1"}"#, 1.0)],
    );
    // by (__name__) keeps the name.
    assert_vector(
        &eval(r#"count_values by (__name__) ("v", x)"#, sorted(&[("m", 1.0), ("n", 1.0)])),
        &[(r#"m{v="1"}"#, 1.0), (r#"n{v="1"}"#, 1.0)],
    );
}

#[test]
fn count_values_rejects_invalid_label_names() {
    let e = agg(r#"count_values("x", v)"#);
    let mut annotations = Annotations::default();
    let mut ctx = AggCtx { ts: 0, position: None, param_position: None, annotations: &mut annotations };
    let err = aggregate(&e, AggParam::String(""), versions(), &mut ctx).unwrap_err();
    assert_eq!(err.message(), r#"invalid label name """#);
    assert_eq!(err.error_type(), "execution");
    // Any non-empty UTF-8 name is valid (Prometheus 3 UTF-8 names).
    let out = aggregate(&e, AggParam::String("a.b c"), versions(), &mut ctx).unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].labels.iter().next().unwrap().name, "a.b c");
}

#[test]
fn name_dropping_propagates_through_aggregations() {
    let mut dropped = sample(r#"metric_total{env="2"}"#, 0.05);
    dropped.drop_name = true;
    let kept = sample(r#"metric_total{env="1"}"#, 10.0);
    // by (__name__) groups by the name that is still present.
    let out = eval("sum by (__name__) (x)", vec![kept.clone(), dropped.clone()]);
    assert_eq!(out.len(), 1);
    assert_eq!(*out[0].labels, *labels("metric_total"));
    assert!(close(out[0].v, 10.05));
    assert!(out[0].drop_name, "any dropped input drops the group's name");
    let out = eval("sum by (__name__) (x)", vec![dropped.clone(), kept.clone()]);
    assert!(out[0].drop_name);
    let out = eval("sum by (__name__) (x)", vec![kept.clone()]);
    assert!(!out[0].drop_name);
    let out = eval("sum by (__name__, env) (x)", vec![dropped.clone()]);
    assert_eq!(*out[0].labels, *labels(r#"metric_total{env="2"}"#));
    assert!(out[0].drop_name);
    // Other groupings remove the name anyway.
    let out = eval("sum by (env) (x)", vec![dropped.clone()]);
    assert_eq!(*out[0].labels, *labels(r#"{env="2"}"#));
    // topk and friends pass samples through.
    for q in ["topk(10, x)", "bottomk(10, x)", "limitk(10, x)", "limit_ratio(1, x)"] {
        let out = eval(q, vec![kept.clone(), dropped.clone()]);
        assert_eq!(out.len(), 2, "{q}");
        for s in &out {
            assert_eq!(s.drop_name, s.labels.get("env") == Some("2"), "{q}");
        }
    }
}

/// Series of `input`'s label sets with a point at the steps `present`
/// says (value: the sample's value plus the step), on a grid of `steps`
/// steps of 10 ms from 0.
fn series_at(input: &[Sample], present: impl Fn(usize, usize) -> bool, steps: usize) -> Vec<Series> {
    input
        .iter()
        .enumerate()
        .map(|(i, s)| Series {
            labels: s.labels.clone(),
            points: (0..steps)
                .filter(|&step| present(i, step))
                .map(|step| crate::promql::value::Point { t: step as i64 * 10, v: s.v + step as f64 })
                .collect(),
            drop_name: i % 3 == 0,
        })
        .collect()
}

#[test]
fn grouped_aggregation_gives_each_step_what_one_step_gives() {
    let input = http_requests();
    let steps = 5;
    // Series come and go, so groups open in a different order at each step.
    let series = series_at(&input, |i, step| (i + step) % 3 != 0, steps);
    let grid = crate::promql::eval::steps::Grid { start: 0, end: (steps as i64 - 1) * 10, interval: 10 };
    for query in [
        "sum by (group) (x)",
        "avg without (instance) (x)",
        "count(x)",
        "max by (job) (x)",
        "stddev by (instance) (x)",
        "quantile(0.3, x)",
    ] {
        let e = agg(query);
        let grouped = GroupedAggregation::new(&e, series.iter().map(|s| &s.labels)).expect("one sample per group");
        let mut annotations = Annotations::default();
        let mut ctx = AggCtx { ts: 0, position: None, param_position: None, annotations: &mut annotations };
        let ops: Vec<StepOp> = (0..steps).map(|_| grouped.op_at(&e, literal_param(&e), &mut ctx).unwrap()).collect();
        let mut cursors = vec![0; series.len()];
        // Two blocks: the cursors carry over.
        let mut got = grouped.steps(&series, &mut cursors, &grid, 0, &ops[..2]);
        got.extend(grouped.steps(&series, &mut cursors, &grid, 2, &ops[2..]));
        for (step, (out, inputs)) in got.iter().enumerate() {
            let t = step as i64 * 10;
            let at_step: Vec<Sample> = series
                .iter()
                .filter_map(|s| {
                    let p = s.points.iter().find(|p| p.t == t)?;
                    Some(Sample { labels: s.labels.clone(), t, v: p.v, drop_name: s.drop_name })
                })
                .collect();
            assert_eq!(*inputs, at_step.len(), "{query} step {step}");
            let mut annotations = Annotations::default();
            let mut ctx = AggCtx { ts: t, position: None, param_position: None, annotations: &mut annotations };
            let want = aggregate(&e, literal_param(&e), at_step, &mut ctx).unwrap();
            assert_eq!(show(out), show(&want), "{query} step {step}");
            let drops = |v: &[Sample]| v.iter().map(|s| s.drop_name).collect::<Vec<_>>();
            assert_eq!(drops(out), drops(&want), "{query} step {step}");
        }
    }
}

#[test]
fn grouped_aggregation_builds_each_group_label_set_once() {
    let input = http_requests();
    let series = series_at(&input, |_, _| true, 2);
    let grid = crate::promql::eval::steps::Grid { start: 0, end: 10, interval: 10 };
    let e = agg("sum by (job) (x)");
    let grouped = GroupedAggregation::new(&e, series.iter().map(|s| &s.labels)).expect("sum");
    assert_eq!(grouped.grouping().len(), 2);
    let ops = vec![
        grouped
            .op_at(
                &e,
                AggParam::None,
                &mut AggCtx { ts: 0, position: None, param_position: None, annotations: &mut Annotations::default() }
            )
            .unwrap();
        2
    ];
    let out = grouped.steps(&series, &mut vec![0; series.len()], &grid, 0, &ops);
    for (x, y) in out[0].0.iter().zip(&out[1].0) {
        assert!(Arc::ptr_eq(&x.labels, &y.labels), "the second step shares the first step's label set");
    }
    // A grouping that keeps every label uses the input's label set.
    let nameless = vec![sample(r#"{job="a"}"#, 1.0)];
    let out = eval("sum by (job) (x)", nameless.clone());
    assert!(Arc::ptr_eq(&out[0].labels, &nameless[0].labels));
    assert!(GroupedAggregation::new(&agg("topk(1, x)"), series.iter().map(|s| &s.labels)).is_none());
}

#[test]
fn empty_input_gives_empty_output() {
    for q in ["sum(x)", "avg by (a) (x)", "count(x)", "topk(1, x)", r#"count_values("v", x)"#, "quantile(0.5, x)"] {
        assert!(eval(q, vec![]).is_empty(), "{q}");
    }
}
