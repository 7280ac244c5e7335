//! The Prometheus-compatible query API over real HTTP against `rampart all`:
//! the shape of every endpoint's answer, GET and form POST alike, each
//! parameter error with Prometheus's status, `errorType` and text, tenant
//! isolation on every endpoint, remote read, `promtool`, and the requests a
//! Grafana Prometheus data source sends.
//!
//! until the evaluator behind `Engine::instant`/`Engine::range` lands; they
//! are written against Prometheus's answers and need no change then.

use std::process::Command;

use prost::Message;
use rampart::proto::prometheus as pb;
use serde_json::{json, Value};

use crate::harness::{self, Server};

/// A tenant other than the default one.
const TEAM_B: &str = "team-b";

/// The data every test writes, relative to `t0` (whole seconds, two
/// minutes ago): five samples 15s apart per series.
struct Data {
    t0: i64,
}

impl Data {
    /// Writes the data set: default tenant `up` ×3 and
    /// `http_requests_total` ×2 (with one exemplar and metadata), tenant
    /// `team-b` `up{job="secret"}` and `only_b`.
    fn write(server: &Server) -> Data {
        let t0 = (harness::now_ms() / 1000) * 1000 - 120_000;
        let at = |vals: [f64; 5]| -> Vec<(i64, f64)> {
            vals.iter().enumerate().map(|(i, &v)| (t0 + i as i64 * 15_000, v)).collect()
        };
        let mut requests_200 = harness::series(
            &[("__name__", "http_requests_total"), ("code", "200"), ("job", "api")],
            &at([0.0, 10.0, 20.0, 30.0, 40.0]),
        );
        requests_200.exemplars.push(pb::Exemplar {
            labels: vec![pb::Label { name: "trace_id".into(), value: "abc".into() }],
            value: 20.0,
            timestamp: t0 + 30_000,
        });
        let default_tenant = pb::WriteRequest {
            timeseries: vec![
                harness::series(&[("__name__", "up"), ("instance", "a"), ("job", "api")], &at([1.0; 5])),
                harness::series(
                    &[("__name__", "up"), ("instance", "b"), ("job", "api")],
                    &at([1.0, 1.0, 0.0, 0.0, 1.0]),
                ),
                harness::series(&[("__name__", "up"), ("instance", "c"), ("job", "db")], &at([1.0; 5])),
                requests_200,
                harness::series(
                    &[("__name__", "http_requests_total"), ("code", "500"), ("job", "api")],
                    &at([0.0, 1.0, 2.0, 3.0, 4.0]),
                ),
            ],
            metadata: vec![
                metadata("up", pb::metric_metadata::MetricType::Gauge, "1 if the target is up."),
                metadata("http_requests_total", pb::metric_metadata::MetricType::Counter, "Requests."),
            ],
        };
        let (status, text) = server.post("/api/v1/write", harness::encode(&default_tenant), &[]);
        assert_eq!(status, 204, "{text}");
        let team_b = pb::WriteRequest {
            timeseries: vec![
                harness::series(&[("__name__", "up"), ("instance", "x"), ("job", "secret")], &at([1.0; 5])),
                harness::series(&[("__name__", "only_b"), ("job", "secret")], &at([7.0; 5])),
            ],
            metadata: vec![metadata("only_b", pb::metric_metadata::MetricType::Gauge, "Only in team-b.")],
        };
        let (status, text) = server.post("/api/v1/write", harness::encode(&team_b), &[("X-Scope-OrgID", TEAM_B)]);
        assert_eq!(status, 204, "{text}");
        Data { t0 }
    }

    /// `t0 + offset_ms` as Unix seconds, the way clients send times.
    fn secs(&self, offset_ms: i64) -> String {
        let t = self.t0 + offset_ms;
        if t % 1000 == 0 {
            (t / 1000).to_string()
        } else {
            format!("{}.{:03}", t / 1000, t % 1000)
        }
    }
}

fn metadata(name: &str, kind: pb::metric_metadata::MetricType, help: &str) -> pb::MetricMetadata {
    pb::MetricMetadata { r#type: kind as i32, metric_family_name: name.into(), help: help.into(), unit: String::new() }
}

/// An HTTP answer: status, content type and body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The `data` of a success, checking the envelope.
    fn data(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.content_type, "application/json");
        let v = self.json();
        assert_eq!(v["status"], "success", "{v}");
        v["data"].clone()
    }
}

/// Calls the API as `tenant` (the default one when `None`).
struct Client {
    url: String,
    http: reqwest::blocking::Client,
}

impl Client {
    fn new(server: &Server) -> Client {
        Client { url: server.url.clone(), http: reqwest::blocking::Client::new() }
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder, tenant: Option<&str>) -> Answer {
        let req = match tenant {
            Some(t) => req.header("X-Scope-OrgID", t),
            None => req,
        };
        let r = req.send().expect("request");
        let status = r.status().as_u16();
        let content_type =
            r.headers().get("content-type").map(|v| v.to_str().expect("ascii").to_owned()).unwrap_or_default();
        Answer { status, content_type, body: r.text().expect("body") }
    }

    fn get(&self, path: &str, params: &[(&str, &str)], tenant: Option<&str>) -> Answer {
        self.send(self.http.get(format!("{}{path}?{}", self.url, form(params))), tenant)
    }

    fn post(&self, path: &str, params: &[(&str, &str)], tenant: Option<&str>) -> Answer {
        let req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(params));
        self.send(req, tenant)
    }

    fn method(&self, method: reqwest::Method, path: &str) -> Answer {
        self.send(self.http.request(method, format!("{}{path}", self.url)), None)
    }

    /// GET and form POST must answer the same; returns the GET answer.
    fn both(&self, path: &str, params: &[(&str, &str)], tenant: Option<&str>) -> Answer {
        let g = self.get(path, params, tenant);
        let p = self.post(path, params, tenant);
        assert_eq!((g.status, &g.body), (p.status, &p.body), "GET and POST {path} {params:?} differ");
        g
    }
}

fn form(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
}

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect())
}

/// Starts `rampart all` with `config` plus JSON logs, and writes the data.
fn start_server(config: &str) -> (tempfile::TempDir, Server, Data) {
    let dir = harness::temp_dir();
    let server = Server::start(&dir.path().join("data"), &format!("log:\n  format: json\n{config}"));
    let data = Data::write(&server);
    (dir, server, data)
}

#[test]
fn series_labels_and_values_have_prometheus_shapes() {
    let (_dir, server, data) = start_server("");
    let c = Client::new(&server);
    let up_a = labels(&[("__name__", "up"), ("instance", "a"), ("job", "api")]);
    let up_b = labels(&[("__name__", "up"), ("instance", "b"), ("job", "api")]);
    let up_c = labels(&[("__name__", "up"), ("instance", "c"), ("job", "db")]);

    assert_eq!(c.both("/api/v1/series", &[("match[]", "up")], None).data(), json!([up_a, up_b, up_c]));
    // Several selectors: the sorted union, each series once.
    assert_eq!(
        c.both("/api/v1/series", &[("match[]", r#"up{job="api"}"#), ("match[]", r#"{instance=~"a|c"}"#)], None).data(),
        json!([up_a, up_b, up_c])
    );
    assert_eq!(
        c.both("/api/v1/series", &[("match[]", r#"http_requests_total{code!="200"}"#)], None).data(),
        json!([labels(&[("__name__", "http_requests_total"), ("code", "500"), ("job", "api")])])
    );
    // Only series with samples in [start, end] count.
    let before = data.secs(-600_000);
    let just_before = data.secs(-1);
    assert_eq!(
        c.both("/api/v1/series", &[("match[]", "up"), ("start", &before), ("end", &just_before)], None).data(),
        json!([])
    );
    let rfc3339 = rfc3339(data.t0);
    assert_eq!(
        c.both("/api/v1/series", &[("match[]", r#"up{instance="a"}"#), ("start", &rfc3339), ("end", &rfc3339)], None)
            .data(),
        json!([up_a])
    );
    // limit: cut, with Prometheus's warning.
    let cut = c.both("/api/v1/series", &[("match[]", "up"), ("limit", "2")], None).json();
    assert_eq!(cut, json!({"status": "success", "data": [up_a, up_b], "warnings": ["results truncated due to limit"]}));

    assert_eq!(c.both("/api/v1/labels", &[], None).data(), json!(["__name__", "code", "instance", "job"]));
    assert_eq!(c.both("/api/v1/labels", &[("match[]", "up")], None).data(), json!(["__name__", "instance", "job"]));
    assert_eq!(
        c.both("/api/v1/labels", &[("match[]", "up"), ("match[]", "http_requests_total")], None).data(),
        json!(["__name__", "code", "instance", "job"])
    );
    assert_eq!(c.both("/api/v1/labels", &[("start", &before), ("end", &just_before)], None).data(), json!([]));
    let cut = c.both("/api/v1/labels", &[("limit", "1")], None).json();
    assert_eq!(cut["data"], json!(["__name__"]));
    assert_eq!(cut["warnings"], json!(["results truncated due to limit"]));

    assert_eq!(c.get("/api/v1/label/job/values", &[], None).data(), json!(["api", "db"]));
    assert_eq!(c.get("/api/v1/label/__name__/values", &[], None).data(), json!(["http_requests_total", "up"]));
    assert_eq!(c.get("/api/v1/label/job/values", &[("match[]", "http_requests_total")], None).data(), json!(["api"]));
    assert_eq!(
        c.get(
            "/api/v1/label/instance/values",
            &[("match[]", r#"up{job="api"}"#), ("match[]", r#"up{job="db"}"#)],
            None
        )
        .data(),
        json!(["a", "b", "c"])
    );
    // The U__ escape form of a label name (how clients put UTF-8 names in paths).
    assert_eq!(c.get("/api/v1/label/U__j_6f_b/values", &[], None).data(), json!(["api", "db"]));
    assert_eq!(c.get("/api/v1/label/nonexistent/values", &[], None).data(), json!([]));
    let cut = c.get("/api/v1/label/instance/values", &[("limit", "2")], None).json();
    assert_eq!(cut["data"], json!(["a", "b"]));
    assert_eq!(cut["warnings"], json!(["results truncated due to limit"]));
}

/// `t` (milliseconds) as RFC 3339 in UTC.
fn rfc3339(t: i64) -> String {
    let secs = t.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, t.rem_euclid(1000))
}

#[test]
fn metadata_exemplars_status_and_syntax_endpoints() {
    let (_dir, server, data) = start_server("");
    let c = Client::new(&server);

    let up_meta = json!([{"type": "gauge", "help": "1 if the target is up.", "unit": ""}]);
    let requests_meta = json!([{"type": "counter", "help": "Requests.", "unit": ""}]);
    assert_eq!(
        c.get("/api/v1/metadata", &[], None).data(),
        json!({"http_requests_total": requests_meta, "up": up_meta})
    );
    assert_eq!(c.get("/api/v1/metadata", &[("metric", "up")], None).data(), json!({"up": up_meta}));
    assert_eq!(c.get("/api/v1/metadata", &[("metric", "nope")], None).data(), json!({}));
    assert_eq!(
        c.get("/api/v1/metadata", &[("limit", "1")], None).data(),
        json!({"http_requests_total": requests_meta})
    );
    // Prometheus: limit=0 gives nothing, a negative limit everything.
    assert_eq!(c.get("/api/v1/metadata", &[("limit", "0")], None).data(), json!({}));
    assert_eq!(
        c.get("/api/v1/metadata", &[("limit", "-1"), ("limit_per_metric", "1")], None)
            .data()
            .as_object()
            .map(|o| o.len()),
        Some(2)
    );

    let t_exemplar = (data.t0 + 30_000) / 1000;
    assert_eq!(
        c.both("/api/v1/query_exemplars", &[("query", r#"sum(rate(http_requests_total{job="api"}[5m]))"#)], None)
            .data(),
        json!([{
            "seriesLabels": {"__name__": "http_requests_total", "code": "200", "job": "api"},
            "exemplars": [{"labels": {"trace_id": "abc"}, "value": "20", "timestamp": t_exemplar}],
        }])
    );
    let after = data.secs(31_000);
    assert_eq!(
        c.both("/api/v1/query_exemplars", &[("query", "http_requests_total"), ("start", &after)], None).data(),
        json!([])
    );
    // No selector in the query: Prometheus answers 204 without a body.
    let none = c.both("/api/v1/query_exemplars", &[("query", "1 + 1")], None);
    assert_eq!((none.status, none.body.as_str()), (204, ""));

    assert_eq!(
        c.both("/api/v1/format_query", &[("query", "sum(rate(foo{job=\"a\"}[5m])) by (job)")], None).data(),
        json!("sum by (job) (rate(foo{job=\"a\"}[5m]))")
    );
    assert_eq!(
        c.both("/api/v1/parse_query", &[("query", r#"up{job="a"}"#)], None).data(),
        json!({
            "type": "vectorSelector", "name": "up", "offset": 0,
            "matchers": [{"name": "job", "value": "a", "type": "="}, {"name": "__name__", "value": "up", "type": "="}],
            "timestamp": null, "startOrEnd": null,
        })
    );

    let build = c.get("/api/v1/status/buildinfo", &[], None).data();
    assert_eq!(build["version"], env!("CARGO_PKG_VERSION"));
    for key in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(build[key].is_string(), "buildinfo lacks {key}: {build}");
    }

    let tsdb = c.get("/api/v1/status/tsdb", &[], None).data();
    assert_eq!(tsdb["headStats"]["numSeries"], 5, "{tsdb}");
    assert_eq!(tsdb["headStats"]["numLabelPairs"], 9, "{tsdb}");
    let (min, max) =
        (tsdb["headStats"]["minTime"].as_i64().expect("min"), tsdb["headStats"]["maxTime"].as_i64().expect("max"));
    assert!(min <= data.t0 && data.t0 + 60_000 <= max, "{tsdb}");
    assert_eq!(
        tsdb["seriesCountByMetricName"],
        json!([{"name": "up", "value": 3}, {"name": "http_requests_total", "value": 2}])
    );
    assert_eq!(
        tsdb["labelValueCountByLabelName"],
        json!([{"name": "instance", "value": 3}, {"name": "__name__", "value": 2}, {"name": "code", "value": 2}, {"name": "job", "value": 2}])
    );
    assert_eq!(tsdb["seriesCountByLabelValuePair"][0], json!({"name": "job=api", "value": 4}));
    assert_eq!(tsdb["seriesCountByLabelValuePair"][1], json!({"name": "__name__=up", "value": 3}));
    // Label strings with their one-byte length prefixes, per series
    // (Prometheus's `SizeOfLabels` with its default stringlabels).
    assert_eq!(
        tsdb["memoryInBytesByLabelName"],
        json!([{"name": "__name__", "value": 94}, {"name": "job", "value": 39}, {"name": "instance", "value": 33}, {"name": "code", "value": 18}])
    );
    let top1 = c.get("/api/v1/status/tsdb", &[("limit", "1")], None).data();
    assert_eq!(top1["seriesCountByMetricName"], json!([{"name": "up", "value": 3}]));

    let runtime = c.get("/api/v1/status/runtimeinfo", &[], None).data();
    assert_eq!(runtime["storageRetention"], "15d");
    assert!(runtime["startTime"].is_string() && runtime["GOMAXPROCS"].is_number(), "{runtime}");
    let flags = c.get("/api/v1/status/flags", &[], None).data();
    assert_eq!(flags["query.lookback-delta"], "5m");
    assert_eq!(flags["query.max-samples"], "50000000");
    assert_eq!(flags["query.timeout"], "2m");
    assert_eq!(flags["query.max-concurrency"], "20");
}

/// One bad request and Prometheus's answer to it.
struct BadCase {
    path: &'static str,
    params: Vec<(&'static str, String)>,
    status: u16,
    error_type: &'static str,
    /// The exact error text, or its start when it ends with `…`.
    error: String,
}

fn bad(
    path: &'static str,
    params: &[(&'static str, &str)],
    status: u16,
    error_type: &'static str,
    error: &str,
) -> BadCase {
    BadCase {
        path,
        params: params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        status,
        error_type,
        error: error.to_owned(),
    }
}

#[test]
fn parameter_errors_have_prometheus_status_type_and_text() {
    let (_dir, server, _data) = start_server("");
    let c = Client::new(&server);
    let q = "/api/v1/query";
    let qr = "/api/v1/query_range";
    let cases = vec![
        bad(qr, &[("query", "up"), ("start", "x"), ("end", "1"), ("step", "1")], 400, "bad_data",
            r#"invalid parameter "start": cannot parse "x" to a valid timestamp"#),
        bad(qr, &[("query", "up"), ("end", "1"), ("step", "1")], 400, "bad_data",
            r#"invalid parameter "start": cannot parse "" to a valid timestamp"#),
        bad(qr, &[("query", "up"), ("start", "1"), ("end", "y"), ("step", "1")], 400, "bad_data",
            r#"invalid parameter "end": cannot parse "y" to a valid timestamp"#),
        bad(qr, &[("query", "up"), ("start", "2"), ("end", "1"), ("step", "1")], 400, "bad_data",
            r#"invalid parameter "end": end timestamp must not be before start time"#),
        bad(qr, &[("query", "up"), ("start", "1"), ("end", "2"), ("step", "0")], 400, "bad_data",
            r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#),
        bad(qr, &[("query", "up"), ("start", "1"), ("end", "2"), ("step", "-15")], 400, "bad_data",
            r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#),
        bad(qr, &[("query", "up"), ("start", "1"), ("end", "2"), ("step", "x")], 400, "bad_data",
            r#"invalid parameter "step": cannot parse "x" to a valid duration"#),
        bad(qr, &[("query", "up"), ("start", "0"), ("end", "11001"), ("step", "1")], 400, "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"),
        // Prometheus's MinTime to MaxTime: the span saturates instead of overflowing.
        bad(qr, &[("query", "up"), ("start", "-9223309901257974"), ("end", "9223309901257974"), ("step", "60")], 400, "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"),
        bad(qr, &[("query", "up[5m]"), ("start", "1"), ("end", "2"), ("step", "1")], 400, "bad_data",
            r#"invalid parameter "query": invalid expression type "range vector" for range query, must be Scalar or instant Vector"#),
        bad(qr, &[("query", r#""text""#), ("start", "1"), ("end", "2"), ("step", "1")], 400, "bad_data",
            r#"invalid parameter "query": invalid expression type "string" for range query, must be Scalar or instant Vector"#),
        bad(qr, &[("query", "up{"), ("start", "1"), ("end", "2"), ("step", "1")], 400, "bad_data",
            r#"invalid parameter "query": 1:1: parse error: …"#),
        bad(qr, &[("query", "up"), ("start", "1"), ("end", "2"), ("step", "1"), ("timeout", "soon")], 400, "bad_data",
            r#"invalid parameter "timeout": cannot parse "soon" to a valid duration"#),
        bad(qr, &[("query", "up"), ("start", "1"), ("end", "2"), ("step", "1"), ("limit", "-1")], 400, "bad_data",
            r#"invalid parameter "limit": limit must be non-negative"#),
        bad(q, &[("query", "up"), ("time", "x")], 400, "bad_data",
            r#"invalid parameter "time": invalid time value for 'time': cannot parse "x" to a valid timestamp"#),
        bad(q, &[("query", "sum(")], 400, "bad_data", r#"invalid parameter "query": 1:1: parse error: …"#),
        bad(q, &[], 400, "bad_data", r#"invalid parameter "query": 1:1: parse error: …"#),
        bad(q, &[("query", "up"), ("limit", "x")], 400, "bad_data",
            r#"invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax"#),
        bad(q, &[("query", "up"), ("timeout", "1x")], 400, "bad_data",
            r#"invalid parameter "timeout": cannot parse "1x" to a valid duration"#),
        bad(q, &[("query", "up"), ("timeout", "1e300")], 400, "bad_data",
            r#"invalid parameter "timeout": cannot parse "1e300" to a valid duration. It overflows int64"#),
        bad(q, &[("query", "up"), ("lookback_delta", "x")], 400, "bad_data",
            r#"error parsing lookback delta duration: cannot parse "x" to a valid duration"#),
        bad("/api/v1/series", &[], 400, "bad_data", "no match[] parameter provided"),
        bad("/api/v1/series", &[("match[]", "up{")], 400, "bad_data", r#"invalid parameter "match[]": 1:1: parse error: …"#),
        bad("/api/v1/series", &[("match[]", "rate(up[5m])")], 400, "bad_data",
            r#"invalid parameter "match[]": 1:1: parse error: "rate(up[5m])" is not a series selector"#),
        bad("/api/v1/series", &[("match[]", r#"{job=~".*"}"#)], 400, "bad_data",
            r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#),
        bad("/api/v1/labels", &[("match[]", r#"{job=~".*"}"#)], 400, "bad_data",
            "match[] must contain at least one non-empty matcher"),
        bad("/api/v1/series", &[("match[]", "up"), ("start", "x")], 400, "bad_data",
            r#"invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp"#),
        bad("/api/v1/series", &[("match[]", "up"), ("end", "x")], 400, "bad_data",
            r#"invalid parameter "end": invalid time value for 'end': cannot parse "x" to a valid timestamp"#),
        bad("/api/v1/series", &[("match[]", "up"), ("limit", "-5")], 400, "bad_data",
            r#"invalid parameter "limit": limit must be non-negative"#),
        bad("/api/v1/labels", &[("match[]", "up{")], 400, "bad_data", "1:1: parse error: …"),
        bad("/api/v1/labels", &[("start", "x")], 400, "bad_data",
            r#"invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp"#),
        bad("/api/v1/label/job/values", &[("match[]", "up{")], 400, "bad_data", "1:1: parse error: …"),
        bad("/api/v1/label/job/values", &[("limit", "x")], 400, "bad_data",
            r#"invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax"#),
        bad("/api/v1/label/U__/values", &[], 400, "bad_data", r#"invalid label name: """#),
        bad("/api/v1/metadata", &[("limit", "x")], 400, "bad_data", "limit must be a number"),
        bad("/api/v1/metadata", &[("limit_per_metric", "x")], 400, "bad_data", "limit_per_metric must be a number"),
        bad("/api/v1/status/tsdb", &[("limit", "0")], 400, "bad_data", "limit must be a positive number"),
        bad("/api/v1/status/tsdb", &[("limit", "10001")], 400, "bad_data", "limit must not exceed 10000"),
        bad("/api/v1/query_exemplars", &[("query", "up"), ("start", "2"), ("end", "1")], 400, "bad_data",
            "end timestamp must not be before start timestamp"),
        bad("/api/v1/query_exemplars", &[("query", "up{")], 400, "bad_data", "1:1: parse error: …"),
        bad("/api/v1/format_query", &[("query", "up{")], 400, "bad_data", r#"invalid parameter "query": 1:1: parse error: …"#),
        bad("/api/v1/parse_query", &[("query", "sum(")], 400, "bad_data", r#"invalid parameter "query": 1:1: parse error: …"#),
    ];
    for case in &cases {
        let params: Vec<(&str, &str)> = case.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let methods: &[&str] = if case.path.starts_with("/api/v1/label/")
            || case.path.starts_with("/api/v1/status")
            || case.path == "/api/v1/metadata"
        {
            &["GET"]
        } else {
            &["GET", "POST"]
        };
        for method in methods {
            let a = if *method == "GET" { c.get(case.path, &params, None) } else { c.post(case.path, &params, None) };
            let what = format!("{method} {} {params:?}: {}", case.path, a.body);
            assert_eq!(a.status, case.status, "{what}");
            assert_eq!(a.content_type, "application/json", "{what}");
            let v = a.json();
            assert_eq!(v["status"], "error", "{what}");
            assert_eq!(v["errorType"], case.error_type, "{what}");
            let text = v["error"].as_str().expect("error text");
            match case.error.strip_suffix('…') {
                Some(prefix) => assert!(text.starts_with(prefix), "{what}: want prefix {prefix:?}"),
                None => assert_eq!(text, case.error, "{what}"),
            }
            assert_eq!(v.as_object().map(|o| o.len()), Some(3), "{what}: only status, errorType and error");
        }
    }

    // An invalid tenant header is bad data on every endpoint.
    for path in ["/api/v1/series?match[]=up", "/api/v1/labels", "/api/v1/query?query=up", "/api/v1/status/tsdb"] {
        let a = c.send(c.http.get(format!("{}{path}", c.url)).header("X-Scope-OrgID", "a/b"), None);
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert_eq!(a.json()["errorType"], "bad_data");
        assert!(a.json()["error"].as_str().expect("text").contains("tenant id \"a/b\""), "{}", a.body);
    }

    // Wrong methods: 405, as Prometheus's router answers.
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/v1/query"),
        (reqwest::Method::PUT, "/api/v1/query_range"),
        (reqwest::Method::POST, "/api/v1/label/job/values"),
        (reqwest::Method::POST, "/api/v1/metadata"),
        (reqwest::Method::POST, "/api/v1/status/buildinfo"),
        (reqwest::Method::GET, "/api/v1/read"),
    ] {
        assert_eq!(c.method(method.clone(), path).status, 405, "{method} {path}");
    }
    // CORS preflight of a GET/POST endpoint.
    assert_eq!(c.method(reqwest::Method::OPTIONS, "/api/v1/query").status, 204);
}

#[test]
fn tenants_see_only_their_own_data_on_every_endpoint() {
    let (_dir, server, data) = start_server("");
    let c = Client::new(&server);
    let b = Some(TEAM_B);
    let secret_up = labels(&[("__name__", "up"), ("instance", "x"), ("job", "secret")]);

    assert_eq!(c.both("/api/v1/series", &[("match[]", "up")], b).data(), json!([secret_up]));
    assert_eq!(c.both("/api/v1/series", &[("match[]", "http_requests_total")], b).data(), json!([]));
    assert_eq!(c.both("/api/v1/series", &[("match[]", "only_b")], None).data(), json!([]));
    assert_eq!(c.both("/api/v1/series", &[("match[]", r#"{job="secret"}"#)], None).data(), json!([]));
    assert_eq!(c.both("/api/v1/labels", &[], b).data(), json!(["__name__", "instance", "job"]));
    assert_eq!(c.get("/api/v1/label/job/values", &[], b).data(), json!(["secret"]));
    assert_eq!(c.get("/api/v1/label/__name__/values", &[], b).data(), json!(["only_b", "up"]));
    assert_eq!(c.get("/api/v1/label/job/values", &[], None).data(), json!(["api", "db"]));
    assert_eq!(
        c.get("/api/v1/metadata", &[], b).data(),
        json!({"only_b": [{"type": "gauge", "help": "Only in team-b.", "unit": ""}]})
    );
    assert_eq!(c.get("/api/v1/metadata", &[("metric", "only_b")], None).data(), json!({}));
    assert_eq!(c.both("/api/v1/query_exemplars", &[("query", "http_requests_total")], b).data(), json!([]));
    let tsdb_b = c.get("/api/v1/status/tsdb", &[], b).data();
    assert_eq!(tsdb_b["headStats"]["numSeries"], 2);
    assert_eq!(tsdb_b["seriesCountByMetricName"], json!([{"name": "only_b", "value": 1}, {"name": "up", "value": 1}]));

    // A tenant that never wrote sees nothing at all.
    let none = Some("team-c");
    assert_eq!(c.both("/api/v1/series", &[("match[]", "up")], none).data(), json!([]));
    assert_eq!(c.both("/api/v1/labels", &[], none).data(), json!([]));
    assert_eq!(c.get("/api/v1/label/__name__/values", &[], none).data(), json!([]));
    assert_eq!(c.get("/api/v1/metadata", &[], none).data(), json!({}));
    let empty = c.get("/api/v1/status/tsdb", &[], none).data();
    assert_eq!(empty["headStats"]["numSeries"], 0);
    assert_eq!(empty["headStats"]["minTime"], i64::MAX);
    assert_eq!(empty["headStats"]["maxTime"], i64::MIN);
    assert_eq!(empty["seriesCountByMetricName"], json!([]));

    // Remote read.
    let read = |tenant: Option<&str>| {
        let all = pb::Query {
            start_timestamp_ms: data.t0 - 1,
            end_timestamp_ms: data.t0 + 60_000,
            matchers: vec![matcher(pb::label_matcher::Type::Re, "__name__", ".+")],
            hints: None,
        };
        names(&remote_read(&server, tenant, &read_request(vec![all], &[])).1.results[0])
    };
    assert_eq!(read(b), vec![r#"only_b{job="secret"}"#, r#"up{instance="x",job="secret"}"#]);
    assert_eq!(read(None).len(), 5);
    assert!(read(None).iter().all(|n| !n.contains("secret")));
    assert!(read(none).is_empty());

    // The log names the tenant of each request.
    assert!(
        access_log(&server).iter().any(|f| f["tenant"] == TEAM_B && f["path"] == "/api/v1/series"),
        "no access log line for team-b"
    );
}

/// The `fields` of every access log line so far.
fn access_log(server: &Server) -> Vec<Value> {
    let log = server.log.lock().expect("log").clone();
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| l["fields"].clone())
        .filter(|f| f["message"] == "api request")
        .collect()
}

#[test]
fn requests_are_logged_and_counted() {
    let (_dir, server, _data) = start_server("");
    let c = Client::new(&server);
    c.get("/api/v1/series", &[("match[]", r#"up{job="api"}"#)], Some(TEAM_B)).data();
    let bad = c.get("/api/v1/query_range", &[("query", "rate(x[5m])"), ("start", "x")], None);
    assert_eq!(bad.status, 400);
    // The log line is written after the response is sent: wait for both.
    let log = server.eventually("both requests in the access log", || {
        let log = access_log(&server);
        let paths = ["/api/v1/series", "/api/v1/query_range"];
        paths.iter().all(|p| log.iter().any(|f| f["path"] == *p)).then_some(log)
    });
    let series = log.iter().find(|f| f["path"] == "/api/v1/series").expect("series request logged");
    assert_eq!(series["method"], "GET");
    assert_eq!(series["tenant"], TEAM_B);
    assert_eq!(series["query"], r#"up{job="api"}"#);
    assert_eq!(series["status"], 200);
    assert!(series["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{series}");
    let range = log.iter().find(|f| f["path"] == "/api/v1/query_range").expect("query_range request logged");
    assert_eq!(range["tenant"], "default");
    assert_eq!(range["query"], "rate(x[5m])");
    assert_eq!(range["status"], 400);
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.url)).expect("metrics").text().expect("text");
    assert!(metrics.contains(r#"rampart_query_requests_total{handler="/api/v1/series",code="200"} 1"#), "{metrics}");
    assert!(
        metrics.contains(r#"rampart_query_requests_total{handler="/api/v1/query_range",code="400"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"rampart_query_request_duration_seconds_count{handler="/api/v1/series"} 1"#),
        "{metrics}"
    );
}

fn matcher(kind: pb::label_matcher::Type, name: &str, value: &str) -> pb::LabelMatcher {
    pb::LabelMatcher { r#type: kind as i32, name: name.into(), value: value.into() }
}

fn read_request(queries: Vec<pb::Query>, accepted: &[pb::read_request::ResponseType]) -> pb::ReadRequest {
    pb::ReadRequest { queries, accepted_response_types: accepted.iter().map(|&t| t as i32).collect() }
}

/// POSTs a read request as Prometheus's remote-read client does; returns
/// the response headers and decoded body.
fn remote_read(
    server: &Server,
    tenant: Option<&str>,
    req: &pb::ReadRequest,
) -> (reqwest::header::HeaderMap, pb::ReadResponse) {
    let (status, headers, body) = remote_read_raw(server, tenant, harness::encode(req));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let raw = snap::raw::Decoder::new().decompress_vec(&body).expect("snappy response");
    (headers, pb::ReadResponse::decode(raw.as_slice()).expect("ReadResponse"))
}

fn remote_read_raw(server: &Server, tenant: Option<&str>, body: Vec<u8>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/read", server.url))
        .header("Content-Encoding", "snappy")
        .header("Accept-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0");
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let r = req.body(body).send().expect("read");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().expect("body").to_vec())
}

/// `name{l="v",…}` of each series of a result.
fn names(result: &pb::QueryResult) -> Vec<String> {
    result
        .timeseries
        .iter()
        .map(|ts| {
            let name = ts.labels.iter().find(|l| l.name == "__name__").map_or("", |l| l.value.as_str());
            let rest: Vec<String> = ts
                .labels
                .iter()
                .filter(|l| l.name != "__name__")
                .map(|l| format!("{}=\"{}\"", l.name, l.value))
                .collect();
            format!("{name}{{{}}}", rest.join(","))
        })
        .collect()
}

#[test]
fn remote_read_round_trip() {
    let (_dir, server, data) = start_server("");
    let t0 = data.t0;
    let queries = vec![
        // Regex and negative matchers, the whole range.
        pb::Query {
            start_timestamp_ms: t0,
            end_timestamp_ms: t0 + 60_000,
            matchers: vec![
                matcher(pb::label_matcher::Type::Eq, "__name__", "up"),
                matcher(pb::label_matcher::Type::Re, "instance", "a|b"),
                matcher(pb::label_matcher::Type::Nre, "job", "d.*"),
            ],
            hints: None,
        },
        // The hints' range narrows the query's.
        pb::Query {
            start_timestamp_ms: t0,
            end_timestamp_ms: t0 + 60_000,
            matchers: vec![
                matcher(pb::label_matcher::Type::Eq, "__name__", "http_requests_total"),
                matcher(pb::label_matcher::Type::Neq, "code", "500"),
            ],
            hints: Some(pb::ReadHints {
                start_ms: t0 + 15_000,
                end_ms: t0 + 30_000,
                step_ms: 15_000,
                ..Default::default()
            }),
        },
        // Nothing matches.
        pb::Query {
            start_timestamp_ms: t0,
            end_timestamp_ms: t0 + 60_000,
            matchers: vec![matcher(pb::label_matcher::Type::Eq, "__name__", "nope")],
            hints: None,
        },
    ];
    // Prometheus 2.42 sends no accepted types; Prometheus 3 prefers streamed
    // chunks but accepts samples. Both get samples.
    for accepted in
        [&[][..], &[pb::read_request::ResponseType::StreamedXorChunks, pb::read_request::ResponseType::Samples]]
    {
        let (headers, resp) = remote_read(&server, None, &read_request(queries.clone(), accepted));
        assert_eq!(headers["content-type"], "application/x-protobuf");
        assert_eq!(headers["content-encoding"], "snappy");
        assert_eq!(resp.results.len(), 3);
        assert_eq!(names(&resp.results[0]), vec![r#"up{instance="a",job="api"}"#, r#"up{instance="b",job="api"}"#]);
        let b = &resp.results[0].timeseries[1];
        assert_eq!(
            b.samples.iter().map(|s| (s.timestamp - t0, s.value)).collect::<Vec<_>>(),
            vec![(0, 1.0), (15_000, 1.0), (30_000, 0.0), (45_000, 0.0), (60_000, 1.0)]
        );
        assert_eq!(names(&resp.results[1]), vec![r#"http_requests_total{code="200",job="api"}"#]);
        assert_eq!(
            resp.results[1].timeseries[0].samples.iter().map(|s| (s.timestamp - t0, s.value)).collect::<Vec<_>>(),
            vec![(15_000, 10.0), (30_000, 20.0)]
        );
        assert!(resp.results[2].timeseries.is_empty());
    }

    // Only streamed chunks: refused, with Prometheus's text.
    let (status, _, body) = remote_read_raw(
        &server,
        None,
        harness::encode(&read_request(queries.clone(), &[pb::read_request::ResponseType::StreamedXorChunks])),
    );
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).starts_with("server does not support any of the requested response types"));
    let (status, _, _) = remote_read_raw(&server, None, b"not snappy".to_vec());
    assert_eq!(status, 400);
    let bad_regex = pb::Query {
        start_timestamp_ms: t0,
        end_timestamp_ms: t0 + 60_000,
        matchers: vec![matcher(pb::label_matcher::Type::Re, "job", "(")],
        hints: None,
    };
    let (status, _, _) = remote_read_raw(&server, None, harness::encode(&read_request(vec![bad_regex], &[])));
    assert_eq!(status, 400);
}

#[test]
fn remote_read_honours_the_sample_limit() {
    let (_dir, server, data) = start_server("query:\n  max_samples: 7\n");
    let q = |name: &str| pb::Query {
        start_timestamp_ms: data.t0,
        end_timestamp_ms: data.t0 + 60_000,
        matchers: vec![matcher(pb::label_matcher::Type::Eq, "__name__", name)],
        hints: None,
    };
    // 2 series × 5 samples: over the limit of 7.
    let (status, _, body) =
        remote_read_raw(&server, None, harness::encode(&read_request(vec![q("http_requests_total")], &[])));
    assert_eq!((status, String::from_utf8_lossy(&body).as_ref()), (400, "exceeded sample limit (7)\n"));
    let (_, ok) = remote_read(&server, Some(TEAM_B), &read_request(vec![q("only_b")], &[]));
    assert_eq!(ok.results[0].timeseries[0].samples.len(), 5);
}

fn promtool(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("promtool").args(args).output().expect("run promtool (Debian package prometheus)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn promtool_query_series_and_labels() {
    let (_dir, server, _data) = start_server("");
    let (ok, out, err) = promtool(&["query", "series", "--match", r#"up{job="api"}"#, &server.url]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![r#"{__name__="up", instance="a", job="api"}"#, r#"{__name__="up", instance="b", job="api"}"#,]
    );
    let (ok, out, err) = promtool(&[
        "query",
        "series",
        "-o",
        "json",
        "--match",
        "http_requests_total",
        "--match",
        r#"up{job="db"}"#,
        &server.url,
    ]);
    assert!(ok, "{err}");
    let series: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(series.as_array().map(Vec::len), Some(3), "{series}");

    let (ok, out, err) = promtool(&["query", "labels", &server.url, "job"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["api", "db"]);
    let (ok, out, err) = promtool(&["query", "labels", "--match", "http_requests_total", &server.url, "code"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["200", "500"]);
    // An error answer is shown as promtool shows Prometheus's.
    let (ok, _, err) = promtool(&["query", "series", "--match", "up{", &server.url]);
    assert!(!ok);
    assert!(err.contains("bad_data") && err.contains("invalid parameter \"match[]\""), "{err}");
}

/// Grafana's time parameters: whole Unix seconds.
fn grafana_range(data: &Data) -> (String, String) {
    (data.secs(-3_600_000).split('.').next().expect("secs").to_owned(), data.secs(120_000))
}

#[test]
fn grafana_data_source_metadata_requests() {
    let (_dir, server, data) = start_server("");
    let c = Client::new(&server);
    let (start, end) = grafana_range(&data);
    let range = [("start", start.as_str()), ("end", end.as_str())];

    // Adding the data source: version detection.
    let build = c.get("/api/v1/status/buildinfo", &[], None).data();
    assert!(build["version"].is_string() && build.get("application").is_none(), "{build}");

    // Loading a dashboard: metric and label browser, template variables.
    assert_eq!(c.get("/api/v1/labels", &range, None).data(), json!(["__name__", "code", "instance", "job"]));
    assert_eq!(c.post("/api/v1/labels", &range, None).data(), json!(["__name__", "code", "instance", "job"]));
    assert_eq!(c.get("/api/v1/label/__name__/values", &range, None).data(), json!(["http_requests_total", "up"]));
    let with_match = [("match[]", "up"), range[0], range[1]];
    assert_eq!(c.get("/api/v1/label/job/values", &with_match, None).data(), json!(["api", "db"]));
    let series = c.get("/api/v1/series", &with_match, None).data();
    assert_eq!(series.as_array().map(Vec::len), Some(3));
    assert!(series[0]["__name__"] == "up" && series[0]["instance"] == "a", "{series}");
    let meta = c.get("/api/v1/metadata", &[], None).data();
    assert_eq!(meta["up"][0]["type"], "gauge");
    assert_eq!(meta["http_requests_total"][0]["help"], "Requests.");
}

#[test]
fn grafana_data_source_query_requests() {
    let (_dir, server, data) = start_server("");
    let c = Client::new(&server);
    // Save & test: Grafana's health check is the instant query 1+1.
    let now = data.secs(120_000);
    let health = c.post("/api/v1/query", &[("query", "1+1"), ("time", &now)], None).data();
    assert_eq!(health["resultType"], "scalar");
    assert_eq!(health["result"][1], "2");

    // A time-series panel: POST form query_range, step in seconds.
    let (start, end) = (data.secs(0), data.secs(60_000));
    let m = c
        .post(
            "/api/v1/query_range",
            &[("query", r#"up{job="api"}"#), ("start", &start), ("end", &end), ("step", "15")],
            None,
        )
        .data();
    assert_eq!(m["resultType"], "matrix");
    assert_eq!(m["result"].as_array().map(Vec::len), Some(2));
    assert_eq!(m["result"][0]["metric"], labels(&[("__name__", "up"), ("instance", "a"), ("job", "api")]));
    let t0 = data.t0 / 1000;
    assert_eq!(
        m["result"][1]["values"],
        json!([[t0, "1"], [t0 + 15, "1"], [t0 + 30, "0"], [t0 + 45, "0"], [t0 + 60, "1"]])
    );
    // A stat panel: POST form instant query.
    let at = data.secs(60_000);
    let v = c.post("/api/v1/query", &[("query", r#"sum by (job) (up)"#), ("time", &at)], None).data();
    assert_eq!(
        v,
        json!({"resultType": "vector", "result": [
            {"metric": {"job": "api"}, "value": [t0 + 60, "2"]},
            {"metric": {"job": "db"}, "value": [t0 + 60, "1"]},
        ]})
    );
}

#[test]
fn instant_and_range_queries_have_prometheus_shapes() {
    let (_dir, server, data) = start_server("");
    let c = Client::new(&server);
    let t0 = data.t0 / 1000;
    let at = data.secs(60_000);

    let v = c.both("/api/v1/query", &[("query", r#"up{job="api"}"#), ("time", &at)], None).json();
    assert_eq!(
        v,
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "instance": "a", "job": "api"}, "value": [t0 + 60, "1"]},
            {"metric": {"__name__": "up", "instance": "b", "job": "api"}, "value": [t0 + 60, "1"]},
        ]}})
    );
    // Evaluation time with milliseconds: written back with three decimals.
    let at_ms = data.secs(60_250);
    let v = c.both("/api/v1/query", &[("query", r#"up{instance="a"}"#), ("time", &at_ms)], None).data();
    assert_eq!(v["result"][0]["value"], json!([(data.t0 + 60_250) as f64 / 1000.0, "1"]));
    assert_eq!(
        c.both("/api/v1/query", &[("query", "1/0"), ("time", &at)], None).data(),
        json!({"resultType": "scalar", "result": [t0 + 60, "+Inf"]})
    );
    assert_eq!(
        c.both("/api/v1/query", &[("query", r#""hello""#), ("time", &at)], None).data(),
        json!({"resultType": "string", "result": [t0 + 60, "hello"]})
    );
    // No sample on the window's edge, so Prometheus 2 and 3 agree.
    let matrix =
        c.both("/api/v1/query", &[("query", r#"http_requests_total{code="500"}[25s]"#), ("time", &at)], None).data();
    assert_eq!(matrix["resultType"], "matrix");
    assert_eq!(matrix["result"][0]["values"], json!([[t0 + 45, "3"], [t0 + 60, "4"]]));
    // limit cuts series, with a warning.
    let cut = c.both("/api/v1/query", &[("query", "up"), ("time", &at), ("limit", "1")], None).json();
    assert_eq!(cut["data"]["result"].as_array().map(Vec::len), Some(1));
    assert_eq!(cut["warnings"], json!(["results truncated due to limit"]));

    let (start, end) = (data.secs(0), data.secs(60_000));
    let r = c
        .both(
            "/api/v1/query_range",
            &[("query", r#"sum(http_requests_total)"#), ("start", &start), ("end", &end), ("step", "30s")],
            None,
        )
        .data();
    assert_eq!(
        r,
        json!({"resultType": "matrix", "result": [{"metric": {}, "values": [[t0, "0"], [t0 + 30, "22"], [t0 + 60, "44"]]}]})
    );
    // A scalar over a range is a matrix of one series without labels.
    let s =
        c.both("/api/v1/query_range", &[("query", "2"), ("start", &start), ("end", &end), ("step", "60")], None).data();
    assert_eq!(s, json!({"resultType": "matrix", "result": [{"metric": {}, "values": [[t0, "2"], [t0 + 60, "2"]]}]}));
    // Nothing selected: an empty matrix.
    let e = c
        .both("/api/v1/query_range", &[("query", "nope"), ("start", &start), ("end", &end), ("step", "15")], None)
        .data();
    assert_eq!(e, json!({"resultType": "matrix", "result": []}));
    // Warnings and infos of the evaluation are passed on.
    let info = c.both("/api/v1/query", &[("query", "rate(up[5m])"), ("time", &at)], None).json();
    assert!(info["infos"][0].as_str().is_some_and(|s| s.starts_with("PromQL info:")), "{info}");

    // Tenants: team-b's `up` only.
    let b = c.both("/api/v1/query", &[("query", "up"), ("time", &at)], Some(TEAM_B)).data();
    assert_eq!(b["result"].as_array().map(Vec::len), Some(1));
    assert_eq!(b["result"][0]["metric"]["job"], "secret");
    let d = c.both("/api/v1/query", &[("query", "only_b"), ("time", &at)], None).data();
    assert_eq!(d["result"], json!([]));

    // Too many samples: 422 execution.
    drop(server);
    let (_dir2, small, data) = start_server("query:\n  max_samples: 3\n");
    let c = Client::new(&small);
    let (start, end) = (data.secs(0), data.secs(60_000));
    let a = c.get("/api/v1/query_range", &[("query", "up"), ("start", &start), ("end", &end), ("step", "15")], None);
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.json()["errorType"], "execution");
}

#[test]
fn promtool_query_instant_and_range() {
    let (_dir, server, data) = start_server("");
    let at = data.secs(60_000);
    let (ok, out, err) = promtool(&["query", "instant", "--time", &at, &server.url, r#"sum by (job) (up)"#]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![format!(r#"{{job="api"}} => 2 @[{at}]"#), format!(r#"{{job="db"}} => 1 @[{at}]"#)]
    );
    let (start, end) = (data.secs(0), data.secs(30_000));
    let (ok, out, err) = promtool(&[
        "query",
        "range",
        "--start",
        &start,
        "--end",
        &end,
        "--step",
        "15s",
        &server.url,
        r#"up{instance="b"}"#,
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with(r#"up{instance="b", job="api"} =>"#), "{out}");
    assert_eq!(out.lines().count(), 4, "{out}");
}
