//! Access control end to end, on the real store and relay with
//! `auth.credentials` configured:
//!
//! - every HTTP endpoint of both (the list must equal the routes the
//!   servers declare, `rampart::api::route_rules` and
//!   `rampart::relay::route_rules`) is called without credentials, with
//!   wrong ones, with a credential of another tenant, with one lacking the
//!   role, and with a valid one: 401, 401, 403, 403, success (routes that
//!   touch no tenant's data take the role of any tenant; the probes are
//!   open); and no answer to tenant a's credential carries anything of
//!   tenant b;
//! - a multi-tenant read (`X-Scope-OrgID: a|b`) returns both tenants'
//!   series labelled `__tenant_id__` and is refused to a credential of a only.

use std::collections::BTreeSet;
use std::path::Path;

use prost::Message;
use rampart::credentials::hash_secret;
use rampart::proto::prometheus as pb;
use reqwest::Method;
use serde_json::Value;

use crate::harness::{self, Server};

/// The tenant whose credentials call every endpoint.
const A: &str = "team-alpha";
/// The other tenant: nothing of it may reach tenant a's answers.
const B: &str = "team-bravo";
/// Tenant b's id, metric name, label value and help text.
const B_SECRETS: [&str; 4] = [B, "bravo_only_metric", "bravo-secret", "bravo help"];
/// Roles, each given to a credential of tenant a, of tenant b and of all.
const ROLES: [&str; 5] = ["write", "read", "rules", "admin", "metrics"];

/// What an endpoint requires, as this test expects it (written
/// independently of the servers' rule tables).
#[derive(Clone, Copy, Debug)]
enum Need {
    /// Nothing (probes).
    Open,
    /// The role for the tenant the request names.
    Tenant(&'static str),
    /// The role for any tenant (the endpoint shows no tenant's data).
    AnyTenant(&'static str),
    /// The role for every tenant (the endpoint shows every tenant).
    AllTenants(&'static str),
}

/// What a request carries in its body.
#[derive(Clone, Copy, Debug)]
enum Payload {
    None,
    /// A remote write of tenant a's metric.
    Write,
    /// A remote read of every series.
    Read,
    /// An HA lease request.
    Elect,
}

/// One endpoint: its route, a concrete call of it, and its answer on success.
struct Endpoint {
    route: &'static str,
    method: Method,
    target: String,
    payload: Payload,
    need: Need,
    success: u16,
}

fn endpoint(route: &'static str, method: Method, target: &str, payload: Payload, need: Need, success: u16) -> Endpoint {
    Endpoint { route, method, target: target.to_owned(), payload, need, success }
}

/// Every endpoint of the store.
fn store_endpoints(now: i64) -> Vec<Endpoint> {
    use Need::{AllTenants, AnyTenant, Open, Tenant};
    use Payload::{Elect, None, Read, Write};
    let (get, post) = (Method::GET, Method::POST);
    let range = format!("/api/v1/query_range?query=alpha_metric&start={}&end={}&step=15", now / 1000 - 300, now / 1000);
    let any = r#"/api/v1/series?match[]={__name__=~".+"}"#;
    vec![
        endpoint("/api/v1/query", get.clone(), "/api/v1/query?query={__name__=~\".%2B\"}", None, Tenant("read"), 200),
        endpoint("/api/v1/query_range", get.clone(), &range, None, Tenant("read"), 200),
        endpoint("/api/v1/format_query", get.clone(), "/api/v1/format_query?query=up", None, AnyTenant("read"), 200),
        endpoint("/api/v1/parse_query", get.clone(), "/api/v1/parse_query?query=up", None, AnyTenant("read"), 200),
        endpoint(
            "/api/v1/query_exemplars",
            get.clone(),
            "/api/v1/query_exemplars?query=alpha_metric",
            None,
            Tenant("read"),
            200,
        ),
        endpoint("/api/v1/series", get.clone(), &any.replace('+', "%2B"), None, Tenant("read"), 200),
        endpoint("/api/v1/labels", get.clone(), "/api/v1/labels", None, Tenant("read"), 200),
        endpoint("/api/v1/label/{name}/values", get.clone(), "/api/v1/label/zone/values", None, Tenant("read"), 200),
        endpoint("/api/v1/metadata", get.clone(), "/api/v1/metadata", None, Tenant("read"), 200),
        endpoint("/api/v1/status/buildinfo", get.clone(), "/api/v1/status/buildinfo", None, AnyTenant("read"), 200),
        endpoint("/api/v1/status/runtimeinfo", get.clone(), "/api/v1/status/runtimeinfo", None, AnyTenant("read"), 200),
        endpoint("/api/v1/status/flags", get.clone(), "/api/v1/status/flags", None, AnyTenant("read"), 200),
        endpoint("/api/v1/status/tsdb", get.clone(), "/api/v1/status/tsdb", None, Tenant("read"), 200),
        endpoint("/api/v1/read", post.clone(), "/api/v1/read", Read, Tenant("read"), 200),
        endpoint("/api/v1/rules", get.clone(), "/api/v1/rules", None, Tenant("read"), 200),
        endpoint("/api/v1/alerts", get.clone(), "/api/v1/alerts", None, Tenant("read"), 200),
        endpoint("/api/v1/write", post.clone(), "/api/v1/write", Write, Tenant("write"), 204),
        endpoint("/api/v1/push", post.clone(), "/api/v1/push", Write, Tenant("write"), 204),
        endpoint("/api/v1/receive", post.clone(), "/api/v1/receive", Write, Tenant("write"), 204),
        endpoint("/api/v1/ha_tracker/elect", post.clone(), "/api/v1/ha_tracker/elect", Elect, Tenant("write"), 200),
        endpoint("/api/v1/admin/flush", post.clone(), "/api/v1/admin/flush", None, AllTenants("admin"), 200),
        endpoint("/api/v1/admin/verify", post.clone(), "/api/v1/admin/verify", None, AllTenants("admin"), 200),
        endpoint(
            "/api/v1/admin/tsdb/delete_series",
            post.clone(),
            "/api/v1/admin/tsdb/delete_series?match[]=no_such_metric",
            None,
            Tenant("admin"),
            204,
        ),
        endpoint("/-/healthy", get.clone(), "/-/healthy", None, Open, 200),
        endpoint("/-/ready", get.clone(), "/-/ready", None, Open, 200),
        endpoint("/-/reload", post, "/-/reload", None, AnyTenant("rules"), 200),
        endpoint("/metrics", get, "/metrics", None, AllTenants("metrics"), 200),
    ]
}

/// Every endpoint of the relay.
fn relay_endpoints() -> Vec<Endpoint> {
    use Need::{AllTenants, Open, Tenant};
    use Payload::{None, Write};
    let (get, post) = (Method::GET, Method::POST);
    vec![
        endpoint("/api/v1/write", post.clone(), "/api/v1/write", Write, Tenant("write"), 204),
        endpoint("/api/v1/push", post.clone(), "/api/v1/push", Write, Tenant("write"), 204),
        endpoint("/api/v1/receive", post, "/api/v1/receive", Write, Tenant("write"), 204),
        endpoint("/api/v1/relay/status", get.clone(), "/api/v1/relay/status", None, AllTenants("admin"), 200),
        endpoint("/metrics", get.clone(), "/metrics", None, AllTenants("metrics"), 200),
        endpoint("/-/healthy", get.clone(), "/-/healthy", None, Open, 200),
        endpoint("/-/ready", get, "/-/ready", None, Open, 200),
    ]
}

/// The bearer token of credential `name`.
fn token(name: &str) -> String {
    format!("token-{name}")
}

/// `auth:` with, per role, credentials `<role>-a`, `<role>-b` and
/// `<role>-all`, plus `read-ab` for both tenants.
fn auth_yaml() -> String {
    let mut out = String::from("auth:\n  credentials:\n");
    let mut add = |name: &str, tenants: &str, role: &str| {
        out.push_str(&format!(
            "    - {{name: {name}, tenants: {tenants}, roles: [{role}], bearer_token_hashes: ['{}']}}\n",
            hash_secret(token(name).as_bytes())
        ));
    };
    for role in ROLES {
        add(&format!("{role}-a"), &format!("[{A}]"), role);
        add(&format!("{role}-b"), &format!("[{B}]"), role);
        add(&format!("{role}-all"), "'*'", role);
    }
    add("read-ab", &format!("[{A}, {B}]"), "read");
    out
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(30)).build().expect("client")
}

/// Status and body (remote read's answer decompressed).
fn call(base: &str, e: &Endpoint, credential: Option<&str>, tenant: &str, seq: i64) -> (u16, String) {
    let mut req = client().request(e.method.clone(), format!("{base}{}", e.target)).header("X-Scope-OrgID", tenant);
    if let Some(c) = credential {
        req = req.bearer_auth(c);
    }
    req = match e.payload {
        Payload::None => req,
        Payload::Write => {
            let series = harness::series(&[("__name__", "alpha_metric"), ("zone", "alpha-zone")], &[(seq, 1.0)]);
            req.header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(harness::body(vec![series]))
        }
        Payload::Read => {
            let matcher = pb::LabelMatcher {
                r#type: pb::label_matcher::Type::Re as i32,
                name: "__name__".into(),
                value: ".+".into(),
            };
            let query =
                pb::Query { start_timestamp_ms: 0, end_timestamp_ms: i64::MAX, matchers: vec![matcher], hints: None };
            req.header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .body(harness::encode(&pb::ReadRequest { queries: vec![query], ..Default::default() }))
        }
        Payload::Elect => req.json(&serde_json::json!({
            "cluster": "c1", "replica": "r1", "max_ts": seq, "failover_timeout_ms": 30_000
        })),
    };
    let r = req.send().unwrap_or_else(|err| panic!("{} {}: {err}", e.method, e.target));
    let status = r.status().as_u16();
    let bytes = r.bytes().expect("body");
    let body = match (e.payload, status) {
        (Payload::Read, 200) => {
            let raw = snap::raw::Decoder::new().decompress_vec(&bytes).expect("snappy");
            format!("{:?}", pb::ReadResponse::decode(raw.as_slice()).expect("ReadResponse"))
        }
        _ => String::from_utf8_lossy(&bytes).into_owned(),
    };
    (status, body)
}

/// Calls every endpoint with each kind of credential and checks the
/// statuses, and that tenant a's answers hold nothing of tenant b.
fn check_matrix(server: &str, base: &str, endpoints: &[Endpoint], seq: &mut i64) {
    for e in endpoints {
        let (role, other_tenant, valid) = match e.need {
            Need::Open => ("read", 0, "read-a".to_owned()),
            Need::Tenant(r) => (r, 403, format!("{r}-a")),
            Need::AnyTenant(r) => (r, e.success, format!("{r}-a")),
            Need::AllTenants(r) => (r, 403, format!("{r}-all")),
        };
        let refused = |status| if matches!(e.need, Need::Open) { e.success } else { status };
        // A credential for every tenant that holds another role.
        let other_role = ROLES.iter().find(|r| **r != role).expect("another role");
        let cases = [
            ("no credentials", None, refused(401)),
            ("wrong credentials", Some("not-a-token".to_owned()), refused(401)),
            ("another tenant's credential", Some(token(&format!("{role}-b"))), refused(other_tenant)),
            ("a credential without the role", Some(token(&format!("{other_role}-all"))), refused(403)),
            ("a valid credential", Some(token(&valid)), e.success),
        ];
        for (what, credential, want) in cases {
            *seq += 1;
            let (status, body) = call(base, e, credential.as_deref(), A, *seq);
            assert_eq!(status, want, "{server} {} {} with {what}: {body}", e.method, e.target);
            if status == 401 {
                assert!(body.contains("credentials"), "{server} {}: 401 says what is missing: {body}", e.target);
            }
            if status == 403 {
                assert!(
                    body.contains(role) || body.contains(A),
                    "{server} {}: 403 names what is missing: {body}",
                    e.target
                );
            }
            if e.target.starts_with("/api/v1/") && e.target != "/api/v1/read" && (status == 401 || status == 403) {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let types = ["unauthorized", "forbidden"];
                let text_routes = [
                    "/api/v1/write",
                    "/api/v1/push",
                    "/api/v1/receive",
                    "/api/v1/ha_tracker/elect",
                    "/api/v1/relay/status",
                ];
                if !text_routes.contains(&e.target.as_str()) {
                    assert_eq!(v["status"], "error", "{server} {}: Prometheus's error shape: {body}", e.target);
                    assert!(types.contains(&v["errorType"].as_str().unwrap_or_default()), "{body}");
                }
            }
            let shows_every_tenant = matches!(e.need, Need::AllTenants(_));
            if status < 300 && !shows_every_tenant {
                for secret in B_SECRETS {
                    assert!(
                        !body.contains(secret),
                        "{server} {} with {what} shows tenant b's {secret:?}: {body}",
                        e.target
                    );
                }
            }
        }
    }
}

/// The route patterns a list of endpoints covers.
fn routes(endpoints: &[Endpoint]) -> BTreeSet<&'static str> {
    endpoints.iter().map(|e| e.route).collect()
}

/// Writes `series` with `metadata` for the credential's tenant.
fn write(store: &Server, credential: &str, tenant: &str, series: pb::TimeSeries, metadata: pb::MetricMetadata) {
    let body = harness::encode(&pb::WriteRequest { timeseries: vec![series], metadata: vec![metadata] });
    let auth = format!("Bearer {}", token(credential));
    let (status, text) = store.post("/api/v1/write", body, &[("Authorization", &auth), ("X-Scope-OrgID", tenant)]);
    assert_eq!(status, 204, "write for {tenant}: {text}");
}

fn metadata(family: &str, help: &str) -> pb::MetricMetadata {
    pb::MetricMetadata {
        r#type: pb::metric_metadata::MetricType::Gauge as i32,
        metric_family_name: family.into(),
        help: help.into(),
        unit: String::new(),
    }
}

fn relay_config(dir: &Path, store: &Server) -> String {
    let token_file = dir.join("relay-token");
    std::fs::write(&token_file, token("write-all")).expect("token file");
    format!(
        "store:\n  url: {}/api/v1/write\n  bearer_token_file: {}\nforward:\n  min_backoff: 20ms\n  max_backoff: 200ms\n{}",
        store.url,
        token_file.display(),
        auth_yaml()
    )
}

fn query(base: &str, credential: &str, tenants: &str, q: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{base}/api/v1/query"))
        .bearer_auth(token(credential))
        .header("X-Scope-OrgID", tenants)
        .query(&[("query", q)])
        .send()
        .expect("query");
    let status = r.status().as_u16();
    (status, r.json().expect("json"))
}

/// `metric{__tenant_id__}` pairs of a query result, sorted.
fn tenant_series(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|s| {
            let m = &s["metric"];
            (
                m["__name__"].as_str().unwrap_or_default().to_owned(),
                m["__tenant_id__"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_endpoint_needs_its_role_and_tenant_and_reads_may_span_tenants() {
    let tmp = harness::temp_dir();
    let store = Server::start(&tmp.path().join("store"), &auth_yaml());
    let now = harness::now_ms();
    let at = now - 60_000;
    write(
        &store,
        "write-a",
        A,
        harness::series(&[("__name__", "alpha_metric"), ("zone", "alpha-zone")], &[(at, 1.0)]),
        metadata("alpha_metric", "alpha help"),
    );
    write(
        &store,
        "write-b",
        B,
        harness::series(&[("__name__", "bravo_only_metric"), ("zone", "bravo-secret")], &[(at, 2.0)]),
        metadata("bravo_only_metric", "bravo help"),
    );
    let relay_dir = tmp.path().join("relay");
    std::fs::create_dir_all(&relay_dir).expect("relay dir");
    let relay = Server::start_mode("relay", &relay_dir, &relay_config(&relay_dir, &store));

    let store_routes: BTreeSet<&str> = rampart::api::route_rules().iter().map(|r| r.path).collect();
    let relay_routes: BTreeSet<&str> = rampart::relay::route_rules().iter().map(|r| r.path).collect();
    let (store_list, relay_list) = (store_endpoints(now), relay_endpoints());
    assert_eq!(routes(&store_list), store_routes, "every store route has a row here, and only those");
    assert_eq!(routes(&relay_list), relay_routes, "every relay route has a row here, and only those");

    // Samples written by the matrix go one millisecond apart after `now`.
    let mut seq = now;
    check_matrix("store", &store.url, &store_list, &mut seq);
    check_matrix("relay", &relay.url, &relay_list, &mut seq);

    // Multi-tenant reads: both tenants' series, each labelled with its tenant.
    let both = format!("{A}|{B}");
    let (status, v) = query(&store.url, "read-ab", &both, r#"{zone=~".+"}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        tenant_series(&v),
        [("alpha_metric".to_owned(), A.to_owned()), ("bravo_only_metric".to_owned(), B.to_owned())]
    );
    let (_, v) = query(&store.url, "read-ab", &both, &format!(r#"count({{__tenant_id__="{B}"}})"#));
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "a __tenant_id__ matcher selects the tenant: {v}");
    let (_, v) = query(&store.url, "read-ab", &both, r#"sum({zone=~".+"})"#);
    assert_eq!(v["data"]["result"][0]["value"][1], "3", "evaluated over the union: {v}");
    let r = client()
        .get(format!("{}/api/v1/label/__tenant_id__/values", store.url))
        .bearer_auth(token("read-ab"))
        .header("X-Scope-OrgID", &both)
        .send()
        .expect("label values");
    let values: Value = r.json().expect("json");
    assert_eq!(values["data"], serde_json::json!([A, B]), "{values}");
    let (status, v) = query(&store.url, "read-a", &both, "alpha_metric");
    assert_eq!(status, 403, "a credential of tenant a only: {v}");
    assert_eq!(v["errorType"], "forbidden", "{v}");
    assert!(v["error"].as_str().unwrap_or_default().contains(B), "the refusal names the tenant: {v}");
    let (status, v) = query(&store.url, "read-ab", "", "alpha_metric");
    assert_eq!(status, 400, "an empty tenant header: {v}");
    let r = client()
        .get(format!("{}/api/v1/query?query=up", store.url))
        .bearer_auth(token("read-ab"))
        .send()
        .expect("query");
    assert_eq!(r.status(), 400, "several tenants and no header: name one");
    assert!(r.text().expect("text").contains("X-Scope-OrgID"), "the refusal says to set the header");

    // Reload: a new credential works at once; a broken file keeps the old ones.
    let config_file = tmp.path().join("store.yaml");
    let reload = |credential: &str| {
        let r = client().post(format!("{}/-/reload", store.url)).bearer_auth(token(credential)).send().expect("reload");
        (r.status().as_u16(), r.text().unwrap_or_default())
    };
    let late = format!(
        "{}    - {{name: late, tenants: [{A}], roles: [read], bearer_token_hashes: ['{}']}}\n",
        auth_yaml(),
        hash_secret(token("late").as_bytes())
    );
    assert_eq!(query(&store.url, "late", A, "alpha_metric").0, 401, "not yet configured");
    std::fs::write(&config_file, late).expect("config");
    assert_eq!(reload("admin-all").0, 200);
    assert_eq!(query(&store.url, "late", A, "alpha_metric").0, 200, "configured by the reload");
    std::fs::write(&config_file, "auth:\n  credentials: [{name: broken}]\n").expect("config");
    let (status, text) = reload("admin-all");
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("the credentials in force stay"), "{text}");
    assert_eq!(query(&store.url, "late", A, "alpha_metric").0, 200, "a refused reload changes nothing");

    relay.stop();
    store.stop();
}
