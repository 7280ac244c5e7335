//! Unit tests of [`super::binary`], mostly cases of Prometheus's
//! `operators.test`, `fill-modifier.test` and `name_label_dropping.test` at
//! one step.

use std::sync::Arc;

use super::super::aggregate::ops::testutil::{assert_ordered, assert_vector, bin, close, labels, show, vector};
use super::*;

const TS: i64 = 60_000;

fn run(query: &str, lhs: Operand, rhs: Operand) -> Result<Operand, QueryError> {
    let e = bin(query);
    let mut annotations = Annotations::default();
    let mut ctx = BinaryCtx { ts: TS, position: Some(0), annotations: &mut annotations };
    let out = binary(&e, lhs, rhs, &mut ctx);
    assert!(annotations.is_empty());
    out
}

#[track_caller]
fn vec_of(out: Result<Operand, QueryError>, query: &str) -> Vec<Sample> {
    match out {
        Ok(Operand::Vector(v)) => {
            assert!(v.iter().all(|s| s.t == TS), "{query}: output carries the step time: {}", show(&v));
            v
        }
        Ok(Operand::Scalar(s)) => panic!("{query}: scalar {s}, want a vector"),
        Err(e) => panic!("{query}: {e}"),
    }
}

/// Vector op vector.
#[track_caller]
fn vv(query: &str, lhs: &[(&str, f64)], rhs: &[(&str, f64)]) -> Vec<Sample> {
    vec_of(run(query, Operand::Vector(vector(lhs)), Operand::Vector(vector(rhs))), query)
}

/// Vector op scalar.
#[track_caller]
fn vs(query: &str, lhs: &[(&str, f64)], rhs: f64) -> Vec<Sample> {
    vec_of(run(query, Operand::Vector(vector(lhs)), Operand::Scalar(rhs)), query)
}

/// Scalar op vector.
#[track_caller]
fn sv(query: &str, lhs: f64, rhs: &[(&str, f64)]) -> Vec<Sample> {
    vec_of(run(query, Operand::Scalar(lhs), Operand::Vector(vector(rhs))), query)
}

/// Scalar op scalar.
#[track_caller]
fn ss(query: &str, lhs: f64, rhs: f64) -> f64 {
    match run(query, Operand::Scalar(lhs), Operand::Scalar(rhs)) {
        Ok(Operand::Scalar(v)) => v,
        other => panic!("{query}: {other:?}"),
    }
}

#[track_caller]
fn vv_err(query: &str, lhs: &[(&str, f64)], rhs: &[(&str, f64)]) -> String {
    match run(query, Operand::Vector(vector(lhs)), Operand::Vector(vector(rhs))) {
        Err(e) => {
            assert_eq!(e.error_type(), "execution", "{query}");
            e.message().to_string()
        }
        Ok(v) => panic!("{query}: expected an error, got {v:?}"),
    }
}

fn drop_names(v: &[Sample]) -> Vec<bool> {
    v.iter().map(|s| s.drop_name).collect()
}

const BY_JOB: &[(&str, f64)] = &[(r#"{job="api-server"}"#, 1000.0), (r#"{job="app-server"}"#, 2600.0)];

#[test]
fn scalar_scalar() {
    assert_eq!(ss("1 + 2", 1.0, 2.0), 3.0);
    assert_eq!(ss("1 - 2", 1.0, 2.0), -1.0);
    assert_eq!(ss("1 * 2", 3.0, 2.0), 6.0);
    assert_eq!(ss("1 / 2", 1.0, 0.0), f64::INFINITY);
    assert!(ss("1 / 2", 0.0, 0.0).is_nan());
    assert_eq!(ss("1 ^ 2", 2.0, 10.0), 1024.0);
    assert!(ss("1 ^ 2", -2.0, 0.5).is_nan());
    assert_eq!(ss("1 % 2", -7.0, 3.0), -1.0);
    assert_eq!(ss("1 % 2", 7.0, -3.0), 1.0);
    assert_eq!(ss("1 % 2", 5.5, f64::INFINITY), 5.5);
    assert!(ss("1 % 2", f64::INFINITY, 2.0).is_nan());
    assert!(ss("1 % 2", 1.0, 0.0).is_nan());
    assert!(ss("1 % 2", -0.0, 3.0).is_sign_negative());
    assert_eq!(ss("0 == bool 1", 0.0, 1.0), 0.0);
    assert_eq!(ss("1 == bool 1", 1.0, 1.0), 1.0);
    assert_eq!(ss("1 != bool 1", 1.0, 2.0), 1.0);
    assert_eq!(ss("1 > bool 1", 2.0, 1.0), 1.0);
    assert_eq!(ss("1 < bool 1", 2.0, 1.0), 0.0);
    assert_eq!(ss("1 >= bool 1", 1.0, 1.0), 1.0);
    assert_eq!(ss("1 <= bool 1", 2.0, 1.0), 0.0);
    assert_eq!(ss("1 == bool 1", f64::NAN, f64::NAN), 0.0);
    assert_eq!(ss("1 != bool 1", f64::NAN, f64::NAN), 1.0);
    assert_eq!(ss("10 atan2 20", 10.0, 20.0), 0.4636476090008061);
    assert!(ss("10 atan2 20", 10.0, f64::NAN).is_nan());
}

#[test]
fn vector_scalar_arithmetic_marks_name_for_dropping() {
    assert_vector(&vs("x - 2", BY_JOB, 2.0), &[(r#"{job="api-server"}"#, 998.0), (r#"{job="app-server"}"#, 2598.0)]);
    assert_vector(&sv("2 - x", 2.0, BY_JOB), &[(r#"{job="api-server"}"#, -998.0), (r#"{job="app-server"}"#, -2598.0)]);
    assert_vector(
        &sv("1000 / x", 1000.0, BY_JOB),
        &[(r#"{job="api-server"}"#, 1.0), (r#"{job="app-server"}"#, 0.38461538461538464)],
    );
    assert_vector(&vs("x % 3", BY_JOB, 3.0), &[(r#"{job="api-server"}"#, 1.0), (r#"{job="app-server"}"#, 2.0)]);
    assert_vector(&vs("x % 0.3", BY_JOB, 0.3), &[(r#"{job="api-server"}"#, 0.1), (r#"{job="app-server"}"#, 0.2)]);
    assert_vector(&vs("x ^ 2", BY_JOB, 2.0), &[(r#"{job="api-server"}"#, 1e6), (r#"{job="app-server"}"#, 6760000.0)]);
    assert_vector(&vs("x % 2", BY_JOB, 512.0), &[(r#"{job="api-server"}"#, 488.0), (r#"{job="app-server"}"#, 40.0)]);
    assert_vector(
        &vs("x / 0", BY_JOB, 0.0),
        &[(r#"{job="api-server"}"#, f64::INFINITY), (r#"{job="app-server"}"#, f64::INFINITY)],
    );
    let canary = &[(r#"http_requests_total{group="canary", instance="0", job="api-server"}"#, 300.0)];
    let neg = sv("-1 * x", -1.0, canary);
    let out = vs("x / 0", &[(r#"http_requests_total{group="canary", instance="0", job="api-server"}"#, neg[0].v)], 0.0);
    assert_eq!(out[0].v, f64::NEG_INFINITY);
    let zero = sv("0 * x", 0.0, canary);
    assert!(vs("x / 0", &[("m", zero[0].v)], 0.0)[0].v.is_nan());
    assert!(vs("x % 0", &[("m", zero[0].v)], 0.0)[0].v.is_nan());
    // The name stays in the labels; the evaluator removes it at the end.
    for q in ["x + 2", "x - 2", "x * 2", "x / 2", "x ^ 2", "x % 2", "x atan2 2"] {
        let out = vs(q, canary, 2.0);
        assert_eq!(out[0].labels, labels(canary[0].0), "{q}");
        assert!(out[0].drop_name, "{q}");
    }
}

#[test]
fn vector_scalar_comparisons_filter_or_give_bool() {
    assert_vector(&vs("x > 1000", BY_JOB, 1000.0), &[(r#"{job="app-server"}"#, 2600.0)]);
    assert_vector(&sv("1000 < x", 1000.0, BY_JOB), &[(r#"{job="app-server"}"#, 2600.0)]);
    assert_vector(&vs("x <= 1000", BY_JOB, 1000.0), &[(r#"{job="api-server"}"#, 1000.0)]);
    assert_vector(&vs("x != 1000", BY_JOB, 1000.0), &[(r#"{job="app-server"}"#, 2600.0)]);
    assert_vector(&vs("x == 1000", BY_JOB, 1000.0), &[(r#"{job="api-server"}"#, 1000.0)]);
    // The scalar on the left: still the vector's value.
    assert_vector(&sv("3 < x", 3.0, &[("m", 4.0), ("n", 2.0)]), &[("m", 4.0)]);
    assert_vector(&sv("3 >= x", 3.0, &[("m", 4.0), ("n", 2.0)]), &[("n", 2.0)]);
    let out = vs("x == bool 1000", BY_JOB, 1000.0);
    assert_vector(&out, &[(r#"{job="api-server"}"#, 1.0), (r#"{job="app-server"}"#, 0.0)]);
    assert_eq!(drop_names(&out), [true, true]);
    let m = &[(r#"http_requests_total{job="api-server", instance="0", group="production"}"#, 100.0)];
    let out = vs("x == bool 100", m, 100.0);
    assert_eq!(out[0].labels, labels(m[0].0));
    assert_eq!((out[0].v, out[0].drop_name), (1.0, true));
    // A filter keeps the input's drop_name.
    let mut input = vector(&[("a", 1.0), ("b", 5.0)]);
    input[1].drop_name = true;
    let out = vec_of(run("x > 0", Operand::Vector(input), Operand::Scalar(0.0)), "x > 0");
    assert_eq!(drop_names(&out), [false, true]);
    let out = sv("0 == bool x", 0.0, &[("a", 0.0)]);
    assert_eq!((out[0].v, out[0].drop_name), (1.0, true));
}

#[test]
fn vector_scalar_nan_and_inf() {
    let left = &[("l", 1.0), ("m", f64::NAN), ("n", f64::INFINITY), ("o", f64::NEG_INFINITY)];
    assert_vector(&vs("x == 3", left, 3.0), &[]);
    assert_vector(&vs("x == Inf", left, f64::INFINITY), &[("n", f64::INFINITY)]);
    assert_vector(&vs("x == NaN", left, f64::NAN), &[]);
    assert_vector(&vs("x == bool NaN", left, f64::NAN), &[("l", 0.0), ("m", 0.0), ("n", 0.0), ("o", 0.0)]);
    assert_vector(&vs("x != NaN", left, f64::NAN), left);
    assert_vector(&sv("NaN == x", f64::NAN, left), &[]);
    assert_vector(&sv("Inf == bool x", f64::INFINITY, left), &[("l", 0.0), ("m", 0.0), ("n", 1.0), ("o", 0.0)]);
    assert_vector(&sv("Inf == x", f64::INFINITY, left), &[("n", f64::INFINITY)]);
}

/// The canary half of `http_requests_total` in `operators.test`.
const CANARY: &[(&str, f64)] = &[
    (r#"http_requests_total{group="canary", instance="0", job="api-server"}"#, 300.0),
    (r#"http_requests_total{group="canary", instance="0", job="app-server"}"#, 700.0),
    (r#"http_requests_total{group="canary", instance="1", job="api-server"}"#, 400.0),
    (r#"http_requests_total{group="canary", instance="1", job="app-server"}"#, 800.0),
];

#[test]
fn vector_vector_one_to_one() {
    assert_vector(
        &vv("a + b", BY_JOB, BY_JOB),
        &[(r#"{job="api-server"}"#, 2000.0), (r#"{job="app-server"}"#, 5200.0)],
    );
    assert_vector(
        &vv("a == bool b", BY_JOB, BY_JOB),
        &[(r#"{job="api-server"}"#, 1.0), (r#"{job="app-server"}"#, 1.0)],
    );
    assert_vector(
        &vv("a != bool b", BY_JOB, BY_JOB),
        &[(r#"{job="api-server"}"#, 0.0), (r#"{job="app-server"}"#, 0.0)],
    );
    let counts = &[(r#"{job="api-server"}"#, 4.0), (r#"{job="app-server"}"#, 4.0)];
    assert_vector(&vv("a ^ b", counts, counts), &[(r#"{job="api-server"}"#, 256.0), (r#"{job="app-server"}"#, 256.0)]);
    assert_vector(&vv("a - b", BY_JOB, counts), &[(r#"{job="api-server"}"#, 996.0), (r#"{job="app-server"}"#, 2596.0)]);

    let production = &[
        (r#"http_requests_total{group="production", instance="0", job="api-server"}"#, 100.0),
        (r#"http_requests_total{group="production", instance="0", job="app-server"}"#, 500.0),
        (r#"http_requests_total{group="production", instance="1", job="api-server"}"#, 200.0),
        (r#"http_requests_total{group="production", instance="1", job="app-server"}"#, 600.0),
    ];
    let want = [
        (r#"{instance="0", job="api-server"}"#, 3.0),
        (r#"{instance="0", job="app-server"}"#, 1.4),
        (r#"{instance="1", job="api-server"}"#, 2.0),
        (r#"{instance="1", job="app-server"}"#, 1.3333333333333333),
    ];
    assert_vector(&vv("a / on(instance,job) b", CANARY, production), &want);
    assert_vector(&vv("a / ignoring(group) b", CANARY, production), &want);
    // No match, no output.
    assert_vector(&vv("a / b", CANARY, production), &[]);
}

#[test]
fn vector_vector_names() {
    let total = &[(r#"metric_total{env="1"}"#, 120.0)];
    let another = &[(r#"another_metric_total{env="1"}"#, 180.0)];
    // Arithmetic removes the name at once.
    let out = vv("a + b", total, another);
    assert_vector(&out, &[(r#"{env="1"}"#, 300.0)]);
    assert_eq!(drop_names(&out), [false]);
    // A comparison filter keeps the left side's labels, name included.
    let out = vv("a <= b", total, another);
    assert_vector(&out, &[(r#"metric_total{env="1"}"#, 120.0)]);
    assert_eq!(drop_names(&out), [false]);
    // bool marks the name for dropping.
    let out = vv("a <= bool b", total, another);
    assert_vector(&out, &[(r#"metric_total{env="1"}"#, 1.0)]);
    assert_eq!(drop_names(&out), [true]);
    // __type__ and __unit__ go with the name.
    let typed = &[(r#"m{__type__="counter", __unit__="seconds", env="1"}"#, 1.0)];
    let typed_too = &[(r#"another_metric_total{__type__="counter", __unit__="seconds", env="1"}"#, 180.0)];
    assert_vector(&vv("a * b", typed, typed_too), &[(r#"{env="1"}"#, 180.0)]);
    // They are ordinary labels for matching.
    assert_vector(&vv("a * b", typed, another), &[]);
    assert_vector(&vv("a > b", &[(typed[0].0, 200.0)], typed_too), &[(typed[0].0, 200.0)]);
    // on(__name__) matches on the name and, for comparisons, keeps it.
    let a = &[(r#"m{x="1"}"#, 5.0), (r#"n{x="1"}"#, 6.0)];
    let b = &[(r#"m{y="2"}"#, 1.0)];
    assert_vector(&vv("a > on(__name__) b", a, b), &[("m", 5.0)]);
    assert_vector(&vv("a - on(__name__) b", a, b), &[("{}", 4.0)]);
    // test_total > test_smaller keeps the left name; with bool it is marked.
    let t = &[(r#"test_total{instance="localhost"}"#, 50.0)];
    let s = &[(r#"test_smaller{instance="localhost"}"#, 10.0)];
    assert_vector(&vv("a > b", t, s), &[(r#"test_total{instance="localhost"}"#, 50.0)]);
    assert_vector(&vv("a < b", t, s), &[]);
    let out = vv("a < bool b", t, s);
    assert_eq!((out[0].v, out[0].drop_name), (0.0, true));
    // atan2 between vectors drops the name.
    let y = &[("trigy", 10.0)];
    assert_vector(&vv("a atan2 b", y, &[("trigx", 20.0)]), &[("{}", 0.4636476090008061)]);
    assert_vector(&vv("a atan2 b", y, &[("trigNaN", f64::NAN)]), &[("{}", f64::NAN)]);
}

const NODE_VAR: &[(&str, f64)] = &[(r#"node_var{instance="abc",job="node"}"#, 2.0)];
const NODE_ROLE: &[(&str, f64)] = &[(r#"node_role{instance="abc",job="node",role="prometheus"}"#, 1.0)];
const NODE_CPU: &[(&str, f64)] = &[
    (r#"node_cpu{instance="abc",job="node",mode="idle"}"#, 3.0),
    (r#"node_cpu{instance="abc",job="node",mode="user"}"#, 1.0),
    (r#"node_cpu{instance="def",job="node",mode="idle"}"#, 8.0),
    (r#"node_cpu{instance="def",job="node",mode="user"}"#, 2.0),
];

#[test]
fn group_left_and_group_right() {
    let want = [(r#"{instance="abc",job="node",role="prometheus"}"#, 2.0)];
    assert_vector(&vv("a * on (instance) group_right (role) b", NODE_ROLE, NODE_VAR), &want);
    assert_vector(&vv("a * on (instance) group_left (role) b", NODE_VAR, NODE_ROLE), &want);
    assert_vector(&vv("a * ignoring (role) group_left (role) b", NODE_VAR, NODE_ROLE), &want);
    assert_vector(&vv("a * ignoring (role) group_right (role) b", NODE_ROLE, NODE_VAR), &want);
    let with_role = [
        (r#"{instance="abc",job="node",mode="idle",role="prometheus"}"#, 3.0),
        (r#"{instance="abc",job="node",mode="user",role="prometheus"}"#, 1.0),
    ];
    assert_vector(&vv("a * ignoring (role, mode) group_left (role) b", NODE_CPU, NODE_ROLE), &with_role);
    assert_vector(&vv("a * on (instance) group_left (role) b", NODE_CPU, NODE_ROLE), &with_role);

    let by_instance = &[(r#"{instance="abc",job="node"}"#, 4.0), (r#"{instance="def",job="node"}"#, 10.0)];
    let ratio = [
        (r#"{instance="abc",job="node",mode="idle"}"#, 0.75),
        (r#"{instance="abc",job="node",mode="user"}"#, 0.25),
        (r#"{instance="def",job="node",mode="idle"}"#, 0.8),
        (r#"{instance="def",job="node",mode="user"}"#, 0.2),
    ];
    assert_vector(&vv("a / on (instance) group_left b", NODE_CPU, by_instance), &ratio);
    assert_vector(&vv("a / ignoring (mode) group_left b", NODE_CPU, by_instance), &ratio);
    assert_vector(&vv("a / ignoring (mode) group_left(dummy) b", NODE_CPU, by_instance), &ratio);
    let by_mode = &[(r#"{job="node",mode="idle"}"#, 11.0), (r#"{job="node",mode="user"}"#, 3.0)];
    let by_job = &[(r#"{job="node"}"#, 14.0)];
    let share =
        [(r#"{job="node",mode="idle"}"#, 0.7857142857142857), (r#"{job="node",mode="user"}"#, 0.21428571428571427)];
    assert_vector(&vv("a / on (job) group_left b", by_mode, by_job), &share);
    assert_vector(&vv("a / ignoring (mode) group_left b", by_mode, by_job), &share);

    // Copy a label from a series with no common labels.
    let random0 = &[(r#"{foo="bar"}"#, 0.0)];
    assert_vector(
        &vv("a + on(dummy) group_left(foo) b", NODE_CPU, random0),
        &[
            (r#"{instance="abc",job="node",mode="idle",foo="bar"}"#, 3.0),
            (r#"{instance="abc",job="node",mode="user",foo="bar"}"#, 1.0),
            (r#"{instance="def",job="node",mode="idle",foo="bar"}"#, 8.0),
            (r#"{instance="def",job="node",mode="user",foo="bar"}"#, 2.0),
        ],
    );
    // A threshold with a copied label; a comparison keeps the name.
    let threshold = &[(r#"threshold{instance="abc",job="node",target="a@b.com"}"#, 0.0)];
    assert_vector(
        &vv("a > on(job, instance) group_left(target) b", NODE_CPU, threshold),
        &[
            (r#"node_cpu{instance="abc",job="node",mode="idle",target="a@b.com"}"#, 3.0),
            (r#"node_cpu{instance="abc",job="node",mode="user",target="a@b.com"}"#, 1.0),
        ],
    );
    // The "one" side lacks the label: it is removed from the result.
    let defaults =
        &[(r#"threshold{instance="abc",job="node",target="a@b.com"}"#, 0.0), (r#"{instance="def",job="node"}"#, 1.0)];
    let with_target = &[
        (r#"node_cpu{instance="abc",job="node",mode="idle",target="x"}"#, 3.0),
        (r#"node_cpu{instance="def",job="node",mode="idle",target="y"}"#, 8.0),
    ];
    assert_vector(
        &vv("a > on(job, instance) group_left(target) b", with_target, defaults),
        &[
            (r#"node_cpu{instance="abc",job="node",mode="idle",target="a@b.com"}"#, 3.0),
            (r#"node_cpu{instance="def",job="node",mode="idle"}"#, 8.0),
        ],
    );
    // group_right with bool: values in the original order.
    assert_vector(
        &vv("a < bool on (instance) group_right b", NODE_VAR, NODE_CPU),
        &[
            (r#"node_cpu{instance="abc",job="node",mode="idle"}"#, 1.0),
            (r#"node_cpu{instance="abc",job="node",mode="user"}"#, 0.0),
        ],
    );
}

#[test]
fn on_and_ignoring_with_empty_lists() {
    assert_vector(
        &vv("a + on() b", &[(r#"random{foo="bar"}"#, 2.0)], &[(r#"metricA{baz="meh"}"#, 3.0)]),
        &[("{}", 5.0)],
    );
    let a = &[(r#"metricA{baz="meh"}"#, 3.0)];
    let b = &[(r#"metricB{baz="meh"}"#, 4.0)];
    assert_vector(&vv("a + ignoring() b", a, b), &[(r#"{baz="meh"}"#, 7.0)]);
    assert_vector(&vv("a + b", a, b), &[(r#"{baz="meh"}"#, 7.0)]);
}

#[test]
fn matching_errors() {
    let dup = &[(r#"dup_metric{label="beta"}"#, 2.0), (r#"dup_metric{label="alpha"}"#, 1.0)];
    let scalar_metric = &[("scalar_metric", 3.0)];
    assert_eq!(
        vv_err("a > on() b", scalar_metric, dup),
        r#"found duplicate series for the match group {} on the right hand-side of the operation: [{__name__="dup_metric", label="alpha"}, {__name__="dup_metric", label="beta"}];many-to-many matching not allowed: matching labels must be unique on one side"#
    );
    assert_eq!(
        vv_err(
            "a * on(x) group_right b",
            &[(r#"l{x="1",a="1"}"#, 1.0), (r#"l{x="1",a="2"}"#, 1.0)],
            &[(r#"r{x="1"}"#, 1.0)]
        ),
        r#"found duplicate series for the match group {x="1"} on the left hand-side of the operation: [{__name__="l", a="1", x="1"}, {__name__="l", a="2", x="1"}];many-to-many matching not allowed: matching labels must be unique on one side"#
    );
    assert_eq!(
        vv_err("a + ignoring(i) b", &[("l", 1.0)], &[(r#"r{i="1",j="x"}"#, 1.0), (r#"q{i="2",j="x"}"#, 1.0)]),
        r#"found duplicate series for the match group {j="x"} on the right hand-side of the operation: [{__name__="q", i="2", j="x"}, {__name__="r", i="1", j="x"}];many-to-many matching not allowed: matching labels must be unique on one side"#
    );
    // Two left series for one right series need group_left, even when the
    // comparison filters both (or one) away.
    let many = &[(r#"many_side{label="foo",job="test"}"#, 0.0), (r#"many_side{label="bar",job="test"}"#, 1.0)];
    let one = &[(r#"one_side{job="test"}"#, 1.0)];
    let msg = "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)";
    for q in ["a > on(job) b", "a >= on(job) b", "a <= on(job) b", "a + on(job) b"] {
        assert_eq!(vv_err(q, many, one), msg, "{q}");
    }
    // Filled pairs count as matches too.
    assert_eq!(
        vv_err("a + fill(0) b", &[(r#"foo{x="1"}"#, 1.0), (r#"bar{x="1"}"#, 2.0)], &[(r#"r{x="2"}"#, 1.0)]),
        msg
    );
    // group_left results must be unique.
    assert_eq!(
        vv_err("a + on(x) group_left b", &[(r#"foo{x="1"}"#, 1.0), (r#"bar{x="1"}"#, 2.0)], &[(r#"r{x="1"}"#, 1.0)]),
        "multiple matches for labels: grouping labels must ensure unique matches"
    );
    // ...but a comparison keeps the names apart.
    assert_eq!(
        vv("a > on(x) group_left b", &[(r#"foo{x="1"}"#, 1.0), (r#"bar{x="1"}"#, 2.0)], &[(r#"r{x="1"}"#, 1.5)]).len(),
        1
    );
}

#[test]
fn set_operators() {
    let instance0 = &[
        (r#"http_requests_total{group="canary", instance="0", job="api-server"}"#, 300.0),
        (r#"http_requests_total{group="canary", instance="0", job="app-server"}"#, 700.0),
        (r#"http_requests_total{group="production", instance="0", job="api-server"}"#, 100.0),
        (r#"http_requests_total{group="production", instance="0", job="app-server"}"#, 500.0),
    ];
    let prod0 = &instance0[2..];
    assert_ordered(&vv("a and b", CANARY, instance0), &CANARY[..2]);
    let plus1: Vec<(String, f64)> =
        CANARY.iter().map(|(l, v)| (l.replace("http_requests_total", ""), v + 1.0)).collect();
    let plus1: Vec<(&str, f64)> = plus1.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    for q in
        ["a and on(instance, job) b", "a and on(instance) b", "a and ignoring(group) b", "a and ignoring(group, job) b"]
    {
        assert_ordered(&vv(q, &plus1, prod0), &plus1[..2]);
    }
    assert_ordered(&vv("a unless b", CANARY, instance0), &CANARY[2..]);
    assert_ordered(&vv("a unless on(job) b", CANARY, instance0), &[]);
    assert_ordered(&vv("a unless on(job, instance) b", CANARY, instance0), &CANARY[2..]);
    assert_ordered(&vv("a unless ignoring(group, instance) b", CANARY, instance0), &[]);
    assert_ordered(&vv("a unless ignoring(group) b", CANARY, instance0), &CANARY[2..]);
    // or: left first, then unmatched right samples.
    let instance1 = &[
        (r#"http_requests_total{group="canary", instance="1", job="api-server"}"#, 400.0),
        (r#"http_requests_total{group="production", instance="1", job="api-server"}"#, 200.0),
    ];
    assert_ordered(&vv("a or b", &plus1, instance1), &[plus1[0], plus1[1], plus1[2], plus1[3], instance1[1]]);
    let others = &[
        (r#"cpu_count{instance="0"}"#, 1.0),
        (r#"vector_matching_a{l="x"}"#, 10.0),
        (r#"vector_matching_a{l="y"}"#, 20.0),
    ];
    assert_ordered(
        &vv("a or on(instance) b", &plus1, others),
        &[plus1[0], plus1[1], plus1[2], plus1[3], others[1], others[2]],
    );
    assert_ordered(
        &vv("a or ignoring(l, group, job) b", &plus1, others),
        &[plus1[0], plus1[1], plus1[2], plus1[3], others[1], others[2]],
    );
    // and on (dummy) with a labelless right side keeps everything.
    assert_ordered(&vv("a and on(dummy) b", CANARY, &[("{}", 1.0)]), CANARY);
    assert_ordered(&vv("a and ignoring(group, instance, job) b", CANARY, &[("{}", 1.0)]), CANARY);
    // Empty sides.
    assert_ordered(&vv("a and b", CANARY, &[]), &[]);
    assert_ordered(&vv("a and b", &[], CANARY), &[]);
    assert_ordered(&vv("a or b", &[], CANARY), CANARY);
    assert_ordered(&vv("a or b", CANARY, &[]), CANARY);
    assert_ordered(&vv("a unless b", CANARY, &[]), CANARY);
    assert_ordered(&vv("a unless b", &[], CANARY), &[]);
    // or matches without the name, keeping each side's drop_name.
    let mut a = vector(&[("metric_a", -1.0)]);
    a[0].drop_name = true;
    let mut b = vector(&[("metric_b", -3.0)]);
    b[0].drop_name = true;
    let out = vec_of(run("a or b", Operand::Vector(a), Operand::Vector(b)), "or");
    assert_ordered(&out, &[("metric_a", -1.0)]);
    assert!(out[0].drop_name);
    // Duplicates on either side are fine for set operators.
    assert_ordered(&vv("a and on() b", CANARY, &[("x", 1.0), ("y", 2.0)]), CANARY);
}

#[test]
fn fill_modifiers() {
    let left = &[
        (r#"left_vector{label="a"}"#, 10.0),
        (r#"left_vector{label="b"}"#, 20.0),
        (r#"left_vector{label="c"}"#, 30.0),
    ];
    let right = &[
        (r#"right_vector{label="a"}"#, 100.0),
        (r#"right_vector{label="b"}"#, 200.0),
        (r#"right_vector{label="d"}"#, 400.0),
    ];
    assert_ordered(
        &vv("a + fill(0) b", left, right),
        &[(r#"{label="a"}"#, 110.0), (r#"{label="b"}"#, 220.0), (r#"{label="c"}"#, 30.0), (r#"{label="d"}"#, 400.0)],
    );
    assert_vector(
        &vv("a + fill_left(0) b", left, right),
        &[(r#"{label="a"}"#, 110.0), (r#"{label="b"}"#, 220.0), (r#"{label="d"}"#, 400.0)],
    );
    assert_vector(
        &vv("a + fill_right(0) b", left, right),
        &[(r#"{label="a"}"#, 110.0), (r#"{label="b"}"#, 220.0), (r#"{label="c"}"#, 30.0)],
    );
    assert_vector(
        &vv("a + fill_left(5) fill_right(7) b", left, right),
        &[(r#"{label="a"}"#, 110.0), (r#"{label="b"}"#, 220.0), (r#"{label="c"}"#, 37.0), (r#"{label="d"}"#, 405.0)],
    );
    for fill in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut e = bin("a + fill(0) b");
        let m = e.modifier.as_mut().unwrap();
        m.fill_values.lhs = Some(fill);
        m.fill_values.rhs = Some(fill);
        let mut annotations = Annotations::default();
        let mut ctx = BinaryCtx { ts: TS, position: None, annotations: &mut annotations };
        let out = binary(&e, Operand::Vector(vector(left)), Operand::Vector(vector(right)), &mut ctx);
        let out = vec_of(out, "fill");
        assert_vector(
            &out,
            &[(r#"{label="a"}"#, 110.0), (r#"{label="b"}"#, 220.0), (r#"{label="c"}"#, fill), (r#"{label="d"}"#, fill)],
        );
    }
    // Comparisons: the filled left side has the right side's matching labels.
    assert_vector(&vv("a == fill(30) b", left, right), &[(r#"left_vector{label="c"}"#, 30.0)]);
    assert_vector(
        &vv("a != fill(30) b", left, right),
        &[(r#"left_vector{label="a"}"#, 10.0), (r#"left_vector{label="b"}"#, 20.0), (r#"{label="d"}"#, 30.0)],
    );
    assert_vector(&vv("a > fill(25) b", left, right), &[(r#"left_vector{label="c"}"#, 30.0)]);
    let out = vv("a == bool fill(30) b", left, right);
    assert_vector(
        &out,
        &[
            (r#"left_vector{label="a"}"#, 0.0),
            (r#"left_vector{label="b"}"#, 0.0),
            (r#"left_vector{label="c"}"#, 1.0),
            (r#"{label="d"}"#, 0.0),
        ],
    );
    assert!(out.iter().all(|s| s.drop_name));
    assert_vector(
        &vv("a > bool fill(25) b", left, right),
        &[
            (r#"left_vector{label="a"}"#, 0.0),
            (r#"left_vector{label="b"}"#, 0.0),
            (r#"left_vector{label="c"}"#, 1.0),
            (r#"{label="d"}"#, 0.0),
        ],
    );

    // With on() and ignoring().
    let l2 = &[
        (r#"left_vector{job="foo", instance="a"}"#, 10.0),
        (r#"left_vector{job="foo", instance="b"}"#, 20.0),
        (r#"left_vector{job="bar", instance="a"}"#, 30.0),
    ];
    let r2 =
        &[(r#"right_vector{job="foo", instance="a"}"#, 100.0), (r#"right_vector{job="foo", instance="c"}"#, 300.0)];
    assert_vector(
        &vv("a + on(job, instance) fill(0) b", l2, r2),
        &[
            (r#"{job="foo", instance="a"}"#, 110.0),
            (r#"{job="foo", instance="b"}"#, 20.0),
            (r#"{job="bar", instance="a"}"#, 30.0),
            (r#"{job="foo", instance="c"}"#, 300.0),
        ],
    );
    assert_vector(
        &vv("a + on(job, instance) fill_left(0) b", l2, r2),
        &[(r#"{job="foo", instance="a"}"#, 110.0), (r#"{job="foo", instance="c"}"#, 300.0)],
    );
    assert_vector(
        &vv("a + ignoring(job) group_left fill(0) b", l2, r2),
        &[
            (r#"{instance="a", job="foo"}"#, 110.0),
            (r#"{instance="a", job="bar"}"#, 130.0),
            (r#"{instance="b", job="foo"}"#, 20.0),
            (r#"{instance="c"}"#, 300.0),
        ],
    );

    // group_left / group_right.
    let requests = &[
        (r#"requests{method="GET", status="200"}"#, 100.0),
        (r#"requests{method="POST", status="200"}"#, 200.0),
        (r#"requests{method="GET", status="500"}"#, 10.0),
        (r#"requests{method="POST", status="500"}"#, 20.0),
    ];
    let limits =
        &[(r#"limits{status="200"}"#, 1000.0), (r#"limits{status="404"}"#, 500.0), (r#"limits{status="500"}"#, 50.0)];
    let sum = [
        (r#"{method="GET", status="200"}"#, 1100.0),
        (r#"{method="POST", status="200"}"#, 1200.0),
        (r#"{method="GET", status="500"}"#, 60.0),
        (r#"{method="POST", status="500"}"#, 70.0),
        (r#"{status="404"}"#, 500.0),
    ];
    assert_vector(&vv("a + on(status) group_left fill_left(0) b", requests, limits), &sum);
    assert_vector(&vv("a + on(status) group_left fill(0) b", requests, limits), &sum);
    assert_vector(
        &vv("a / on(status) group_left fill_right(1) b", &requests[..2], &limits[..1]),
        &[(r#"{method="GET", status="200"}"#, 0.1), (r#"{method="POST", status="200"}"#, 0.2)],
    );
    let cpu_info = &[
        (r#"cpu_info{instance="a", cpu="0"}"#, 1.0),
        (r#"cpu_info{instance="a", cpu="1"}"#, 1.0),
        (r#"cpu_info{instance="b", cpu="0"}"#, 1.0),
    ];
    let node_meta = &[(r#"node_meta{instance="a"}"#, 100.0), (r#"node_meta{instance="c"}"#, 300.0)];
    assert_vector(
        &vv("a * on(instance) group_right fill_left(1) b", node_meta, cpu_info),
        &[(r#"{instance="a", cpu="0"}"#, 100.0), (r#"{instance="a", cpu="1"}"#, 100.0), (r#"{instance="c"}"#, 300.0)],
    );
    assert_vector(
        &vv("a * on(instance) group_right fill_right(0) b", node_meta, cpu_info),
        &[
            (r#"{instance="a", cpu="0"}"#, 100.0),
            (r#"{instance="a", cpu="1"}"#, 100.0),
            (r#"{instance="b", cpu="0"}"#, 0.0),
        ],
    );
    assert_vector(
        &vv("a * on(instance) group_right fill(1) b", node_meta, cpu_info),
        &[
            (r#"{instance="a", cpu="0"}"#, 100.0),
            (r#"{instance="a", cpu="1"}"#, 100.0),
            (r#"{instance="b", cpu="0"}"#, 1.0),
            (r#"{instance="c"}"#, 300.0),
        ],
    );
    // A filled "one" side has no labels to copy.
    let owners =
        &[(r#"limits{status="200", owner="team-a"}"#, 1000.0), (r#"limits{status="500", owner="team-b"}"#, 50.0)];
    assert_vector(
        &vv("a + on(status) group_left(owner) fill_right(0) b", &requests[..2], owners),
        &[
            (r#"{method="GET", status="200", owner="team-a"}"#, 1100.0),
            (r#"{method="POST", status="200", owner="team-a"}"#, 1200.0),
        ],
    );
    // Empty sides.
    let non_empty = &[(r#"non_empty{label="a"}"#, 10.0), (r#"non_empty{label="b"}"#, 20.0)];
    let plain = [(r#"{label="a"}"#, 10.0), (r#"{label="b"}"#, 20.0)];
    assert_vector(&vv("a + fill_right(0) b", non_empty, &[]), &plain);
    assert_vector(&vv("a + fill_left(0) b", non_empty, &[]), &[]);
    assert_vector(&vv("a + fill_left(0) b", &[], non_empty), &plain);
    assert_vector(&vv("a + fill_right(0) b", &[], non_empty), &[]);
    assert_vector(&vv("a + fill(0) b", non_empty, &[]), &plain);
    assert_vector(&vv("a + fill(0) b", &[], non_empty), &plain);
    // Complete overlap: fill changes nothing.
    assert_vector(
        &vv("a + fill(99) b", &[(r#"l{label="a"}"#, 10.0)], &[(r#"r{label="a"}"#, 100.0)]),
        &[(r#"{label="a"}"#, 110.0)],
    );
    // An unmatched right series is filled at every step, whatever earlier
    // steps matched.
    let lhs = &[(r#"matched_lhs{key="a"}"#, 1.0)];
    let rhs = &[(r#"matched_rhs{key="a"}"#, 10.0), (r#"matched_rhs{key="b"}"#, 100.0)];
    assert_vector(
        &vv("a + on(key) group_left fill_left(0) b", lhs, rhs),
        &[(r#"{key="a"}"#, 11.0), (r#"{key="b"}"#, 100.0)],
    );
    assert_vector(
        &vv("a + on(key) group_left fill_left(0) b", &[], rhs),
        &[(r#"{key="a"}"#, 10.0), (r#"{key="b"}"#, 100.0)],
    );
}

#[test]
fn output_label_sets_are_shared_across_steps() {
    let a = vector(NODE_CPU);
    let b = vector(&[(r#"{instance="abc",job="node"}"#, 4.0), (r#"{instance="def",job="node"}"#, 10.0)]);
    let step = || {
        vec_of(run("a / on (instance) group_left b", Operand::Vector(a.clone()), Operand::Vector(b.clone())), "step")
    };
    let (first, second) = (step(), step());
    for (x, y) in first.iter().zip(&second) {
        assert!(Arc::ptr_eq(&x.labels, &y.labels), "{}", show(&first));
    }
    // A filter that keeps the left labels shares the input's label set.
    let out = vec_of(
        run(
            "a > b",
            Operand::Vector(a.clone()),
            Operand::Vector(vector(&[(r#"x{instance="abc",job="node",mode="idle"}"#, 0.0)])),
        ),
        "gt",
    );
    assert!(Arc::ptr_eq(&out[0].labels, &a[0].labels));
    assert!(close(out[0].v, 3.0));
}
