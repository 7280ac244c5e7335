//! Expansion tests: Prometheus's `template_test.go` expectations that apply
//! to alert templates, and alert-shaped templates; expected strings are
//! what Prometheus (Go's `text/template`) renders.

use rampart_storage::Labels;

use super::*;

/// Query results by expression: `missing` is empty, `fail` fails, `1.5` is
/// one unlabelled sample, anything else two samples of `metric`.
struct FakeQuery;

impl TemplateQuery for FakeQuery {
    fn query(&self, expr: &str) -> Result<Vec<(Labels, f64)>, String> {
        Ok(match expr {
            "missing" => vec![],
            "fail" => return Err("query failed".into()),
            "1.5" => vec![(Labels::from_pairs(Vec::<(String, String)>::new()), 1.5)],
            _ => vec![
                (Labels::from_pairs([("__name__", "metric"), ("instance", "b"), ("job", "api")]), 21.0),
                (
                    Labels::from_pairs([("__name__", "metric"), ("instance", "a"), ("job", "api"), ("__value__", "v")]),
                    11.0,
                ),
            ],
        })
    }

    fn now(&self) -> f64 {
        1353755652.0
    }
}

fn run_with(name: &str, text: &str, value: f64) -> Result<String, String> {
    let labels = Labels::from_pairs([("instance", "host:9100"), ("job", "node"), ("severity", "critical")]);
    let external = Labels::from_pairs([("cluster", "eu1")]);
    let data = TemplateData {
        labels: &labels,
        external_labels: &external,
        external_url: "http://testhost:9090/path/prefix",
        value,
    };
    expand(name, text, &data, &FakeQuery)
}

fn run(text: &str) -> Result<String, String> {
    run_with("test", text, 0.5)
}

#[track_caller]
fn ok(text: &str, want: &str) {
    assert_eq!(run(text), Ok(want.to_owned()), "template {text:?}");
}

#[track_caller]
fn fails(text: &str, want: &str) {
    assert_eq!(run(text), Err(want.to_owned()), "template {text:?}");
}

#[test]
fn smoke() {
    ok("plain text", "plain text");
    ok("{{ 1 }}", "1");
    ok("{{ $labels.instance }} is down", "host:9100 is down");
}
