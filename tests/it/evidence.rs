//! Tamper evidence end to end: `rampart verify` on a stopped store's data
//! directory names a flipped byte in a sealed partition, a partition removed
//! outside retention, a truncated or reordered manifest and a pinned head
//! the chain lost, and an edited audit record; it passes after retention, per-tenant retention and an
//! audited delete-series followed by compaction. The running store verifies
//! itself the same way (`POST /api/v1/admin/verify`), exports the outcome in
//! `/metrics` and records each problem in its audit log.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{self, Server};

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

/// Hour partitions sealed a minute after they end; nothing expires.
const CONFIG: &str = "
storage:
  retention: 0
  partition_duration: 1h
  out_of_order_window: 1m
";

/// Start of the oldest hour the tests write to, hour-aligned, 12 hours ago.
fn base() -> i64 {
    (harness::now_ms() / HOUR - 12) * HOUR
}

fn minutes(from: i64, to: i64) -> Vec<(i64, f64)> {
    (from / MINUTE..to / MINUTE).map(|m| (m * MINUTE, m as f64)).collect()
}

fn write(server: &Server, tenant: &str, job: &str, samples: &[(i64, f64)]) {
    let body = harness::body(vec![harness::series(&[("__name__", "up"), ("job", job)], samples)]);
    let (status, text) = server.post("/api/v1/write", body, &[("X-Scope-OrgID", tenant)]);
    assert_eq!(status, 204, "write refused: {text}");
}

fn flush(server: &Server) -> Value {
    let r = reqwest::blocking::Client::new().post(format!("{}/api/v1/admin/flush", server.url)).send().expect("flush");
    assert_eq!(r.status(), 200);
    r.json().expect("flush summary")
}

/// A stopped store whose partitions `[base, base + 3h)` are sealed: tenant
/// `default` has `up{job="a"}` and `up{job="b"}` there, tenant `short` has
/// `up{job="a"}` over `[base - 1h, base + 2h)`.
fn sealed_store(data: &Path, base: i64) {
    let server = Server::start(data, CONFIG);
    write(&server, "default", "a", &minutes(base, base + 3 * HOUR));
    write(&server, "default", "b", &minutes(base, base + 3 * HOUR));
    write(&server, "short", "a", &minutes(base - HOUR, base + 2 * HOUR));
    assert_eq!(flush(&server)["data"]["partitions_sealed"], 4);
    server.stop();
}

/// Runs `rampart verify`; returns (success, stdout).
fn verify(data: &Path, expect_head: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(harness::binary());
    cmd.args(["verify", "--data-dir"]).arg(data);
    if let Some(h) = expect_head {
        cmd.args(["--expect-head", h]);
    }
    let out = cmd.output().expect("run verify");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn assert_verifies(data: &Path) -> String {
    let (ok, out) = verify(data, None);
    assert!(ok, "verify failed:\n{out}");
    assert!(out.contains("manifest: ok") && out.contains("partitions: ok") && out.contains("audit: ok"), "{out}");
    out
}

fn assert_refused(data: &Path, expect_head: Option<&str>, wanted: &[&str]) {
    let (ok, out) = verify(data, expect_head);
    assert!(!ok, "verify passed a tampered directory:\n{out}");
    for w in wanted {
        assert!(out.contains(w), "verify does not say {w:?}:\n{out}");
    }
}

fn copy(data: &Path, name: &str) -> PathBuf {
    let to = data.with_file_name(name);
    assert!(Command::new("cp").arg("-a").arg(data).arg(&to).status().expect("cp").success());
    to
}

fn manifest_lines(data: &Path) -> Vec<String> {
    std::fs::read_to_string(data.join("manifest.jsonl")).expect("manifest").lines().map(str::to_owned).collect()
}

/// The RocksDB of a stopped store, opened with every column family.
fn rocks(data: &Path) -> rocksdb::DB {
    let path = data.join("db");
    let opts = rocksdb::Options::default();
    let families = rocksdb::DB::list_cf(&opts, &path).expect("list column families");
    rocksdb::DB::open_cf(&opts, &path, families).expect("open rocksdb")
}

#[test]
fn verify_names_each_kind_of_tampering() {
    let dir = harness::temp_dir();
    let data = dir.path().join("data");
    let base = base();
    sealed_store(&data, base);
    let out = assert_verifies(&data);
    let head =
        out.rsplit("manifest head ").next().and_then(|r| r.split(',').next()).expect("head printed").trim().to_owned();
    let (ok, _) = verify(&data, Some(&head));
    assert!(ok, "the current head is accepted as pinned");

    let flipped = copy(&data, "flipped");
    let partition = format!("chunks_{}", base + HOUR);
    let sst_name = flip_a_byte(&flipped, &partition);
    assert_refused(&flipped, None, &["partitions: 1 problems", &partition, &sst_name]);

    let dropped = copy(&data, "dropped");
    rocks(&dropped).drop_cf(&partition).expect("drop the partition");
    assert_refused(&dropped, None, &[&partition, "missing from the database and the manifest records no drop"]);

    let cut = copy(&data, "cut");
    let manifest = cut.join("manifest.jsonl");
    let text = std::fs::read(&manifest).expect("manifest");
    std::fs::write(&manifest, &text[..text.len() - 10]).expect("cut");
    assert_refused(&cut, None, &["cut mid-line", "truncated"]);

    let shortened = copy(&data, "shortened");
    let lines = manifest_lines(&shortened);
    std::fs::write(shortened.join("manifest.jsonl"), lines[..lines.len() - 2].join("\n") + "\n").expect("shorten");
    assert_refused(&shortened, Some(&head), &["truncated", "pinned head"]);

    let reordered = copy(&data, "reordered");
    let mut lines = manifest_lines(&reordered);
    lines.swap(0, 1);
    std::fs::write(reordered.join("manifest.jsonl"), lines.join("\n") + "\n").expect("reorder");
    assert_refused(&reordered, None, &["line 1: seq 2 where 1 was expected"]);

    let other_head = format!("1:{}", "0".repeat(64));
    assert_refused(&data, Some(&other_head), &["pinned head 1:0000"]);

    // The flush was an audited admin action; changing its record's outcome
    // breaks the record's hash.
    let edited = copy(&data, "edited");
    let line = edit_the_flush_record(&edited);
    assert_refused(&edited, None, &["audit: 1 problems", &format!("audit-000001.jsonl:{line}:"), "was edited"]);
}

/// Flips a byte of `partition`'s SST file in a stopped store's `data`;
/// returns the file's name.
fn flip_a_byte(data: &Path, partition: &str) -> String {
    let sst = {
        let db = rocks(data);
        let files = db.live_files().expect("live files");
        let file = files.iter().find(|f| f.column_family_name == partition).expect("the partition's SST file");
        data.join("db").join(file.name.trim_start_matches('/'))
    };
    let mut bytes = std::fs::read(&sst).expect("read sst");
    bytes[20] ^= 0x01;
    std::fs::write(&sst, bytes).expect("write sst");
    sst.file_name().expect("name").to_string_lossy().into_owned()
}

/// Changes the outcome of the audited flush (`sealed_store`'s) in a stopped
/// store's audit log, which breaks that record's hash; returns its line.
fn edit_the_flush_record(data: &Path) -> usize {
    let audit = data.join("audit").join("audit-000001.jsonl");
    let mut records: Vec<String> =
        std::fs::read_to_string(&audit).expect("audit log").lines().map(str::to_owned).collect();
    let flush_record =
        records.iter().position(|l| l.contains("\"action\":\"admin\"") && l.contains("/api/v1/admin/flush"));
    let index = flush_record.expect("the flush is in the audit log");
    records[index] = records[index].replace("\"outcome\":\"success\"", "\"outcome\":\"error\"");
    std::fs::write(&audit, records.join("\n") + "\n").expect("edit the audit log");
    index + 1
}

/// `POST /api/v1/admin/verify`: the running store's report.
fn verify_live(server: &Server) -> Value {
    let r =
        reqwest::blocking::Client::new().post(format!("{}/api/v1/admin/verify", server.url)).send().expect("verify");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().expect("report");
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

/// The problems of one section of a live report.
fn problems(report: &Value, section: &str) -> Vec<String> {
    let section = report["sections"].as_array().expect("sections").iter().find(|s| s["name"] == section);
    let list = section.unwrap_or_else(|| panic!("no section {section:?} in {report}"))["problems"].as_array();
    list.expect("problems").iter().map(|p| p.as_str().expect("problem").to_owned()).collect()
}

/// The value of one series of the store's `/metrics`.
fn metric(server: &Server, series: &str) -> f64 {
    let text =
        reqwest::blocking::get(format!("{}/metrics", server.url)).expect("metrics").text().expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

#[test]
fn the_running_store_verifies_itself_and_records_what_it_finds() {
    let dir = harness::temp_dir();
    let data = dir.path().join("data");
    let base = base();
    sealed_store(&data, base);

    let server = Server::start(&data, CONFIG);
    let report = verify_live(&server);
    assert_eq!(report["ok"], true, "{report}");
    for section in ["manifest", "partitions", "audit"] {
        assert_eq!(problems(&report, section), Vec::<String>::new(), "{report}");
    }
    let partitions = report["sections"][1]["checked"].as_str().expect("checked");
    assert!(partitions.starts_with("4 sealed partitions"), "{report}");
    assert_eq!(metric(&server, "rampart_verify_problems{section=\"partitions\"}"), 0.0);
    let success = metric(&server, "rampart_verify_last_success_timestamp_seconds");
    assert!(success * 1000.0 >= (harness::now_ms() - 10 * MINUTE) as f64, "last success at {success}");
    assert!(metric(&server, "rampart_verify_runs_total{outcome=\"ok\"}") >= 1.0);
    assert_eq!(metric(&server, "rampart_verify_interval_seconds"), 86_400.0, "24h by default");
    server.stop();

    let partition = format!("chunks_{}", base + HOUR);
    let sst_name = flip_a_byte(&data, &partition);
    let line = edit_the_flush_record(&data);
    let server = Server::start(&data, &format!("{CONFIG}verify:\n  interval: 0\n"));
    assert_eq!(metric(&server, "rampart_verify_last_success_timestamp_seconds"), 0.0, "no periodic run");
    let report = verify_live(&server);
    assert_eq!(report["ok"], false, "{report}");
    let found = problems(&report, "partitions");
    assert!(found.len() == 1 && found[0].contains(&partition) && found[0].contains(&sst_name), "{found:?}");
    let found = problems(&report, "audit");
    assert!(
        found.len() == 1
            && found[0].contains(&format!("audit-000001.jsonl:{line}:"))
            && found[0].contains("was edited"),
        "{found:?}"
    );
    assert_eq!(problems(&report, "manifest"), Vec::<String>::new());
    assert_eq!(metric(&server, "rampart_verify_problems{section=\"partitions\"}"), 1.0);
    assert_eq!(metric(&server, "rampart_verify_problems{section=\"audit\"}"), 1.0);
    assert_eq!(metric(&server, "rampart_verify_runs_total{outcome=\"problems\"}"), 1.0);
    assert_eq!(metric(&server, "rampart_verify_last_success_timestamp_seconds"), 0.0);
    server.stop();

    let audit = std::fs::read_to_string(data.join("audit").join("audit-000001.jsonl")).expect("audit log");
    let recorded: Vec<&str> = audit.lines().filter(|l| l.contains("\"action\":\"verify\"")).collect();
    assert_eq!(recorded.len(), 2, "one record per problem:\n{audit}");
    assert!(recorded.iter().all(|l| l.contains("\"outcome\":\"error\"")), "{recorded:?}");
    assert!(recorded.iter().any(|l| l.contains(&partition) && l.contains(&sst_name)), "{recorded:?}");
    assert!(recorded.iter().any(|l| l.contains("audit: ") && l.contains("was edited")), "{recorded:?}");
}

/// `up{job=...}` samples of tenant `default` from the query API.
fn queried_times(server: &Server, job: &str) -> Vec<i64> {
    let r: Value = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/query", server.url))
        .query(&[("query", format!("up{{job=\"{job}\"}}[14h]")), ("time", (harness::now_ms() / 1000).to_string())])
        .send()
        .expect("query")
        .json()
        .expect("json");
    let result = r["data"]["result"].as_array().expect("matrix");
    result
        .iter()
        .flat_map(|s| s["values"].as_array().expect("values").iter())
        .map(|v| (v[0].as_f64().expect("time") * 1000.0).round() as i64)
        .collect()
}

fn dumped_times(data: &Path, tenant: &str, job: &str) -> Vec<i64> {
    harness::dump(data, &["--tenant", tenant, "--match", &format!("up{{job=\"{job}\"}}")])
        .into_iter()
        .map(|(_, _, t)| t)
        .collect()
}

#[test]
fn retention_and_audited_deletes_leave_a_verifiable_store() {
    let dir = harness::temp_dir();
    let data = dir.path().join("data");
    let base = base();
    sealed_store(&data, base);

    let server = Server::start(&data, CONFIG);
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/api/v1/admin/tsdb/delete_series", server.url);
    let r = client.post(&url).form(&[("start", "1")]).send().expect("delete without match[]");
    assert_eq!(r.status(), 400);
    let err: Value = r.json().expect("json");
    assert_eq!(
        (err["errorType"].as_str(), err["error"].as_str()),
        (Some("bad_data"), Some("no match[] parameter provided"))
    );
    let r = client.post(&url).form(&[("match[]", "up{")]).send().expect("bad selector");
    assert_eq!(r.status(), 400);

    let (start, end) = (base + 30 * MINUTE, base + 90 * MINUTE);
    let form = [
        ("match[]", "up{job=\"a\"}".to_owned()),
        ("start", (start / 1000).to_string()),
        ("end", (end / 1000).to_string()),
    ];
    let r = client.post(&url).form(&form).send().expect("delete");
    assert_eq!(r.status(), 204, "{}", r.text().unwrap_or_default());
    let all: Vec<i64> = minutes(base, base + 3 * HOUR).iter().map(|(t, _)| *t).collect();
    let kept: Vec<i64> = all.iter().copied().filter(|t| *t < start || *t > end).collect();
    assert_eq!(kept.len(), all.len() - 61);
    assert_eq!(queried_times(&server, "a"), kept, "deleted from queries at once");
    assert_eq!(queried_times(&server, "b"), all, "other series untouched");
    let summary = flush(&server);
    assert!(summary["data"]["partitions_compacted"].as_u64().is_some(), "{summary}");
    server.stop();

    assert_eq!(dumped_times(&data, "default", "a"), kept, "removed from disk by compaction");
    assert_eq!(dumped_times(&data, "default", "b"), all);
    assert_eq!(dumped_times(&data, "short", "a").len(), 180);
    let lines = manifest_lines(&data);
    let deleted = lines
        .iter()
        .find(|l| l.contains("\"kind\":\"series_deleted\""))
        .unwrap_or_else(|| panic!("no delete entry: {lines:#?}"));
    for field in
        ["\"tenant\":\"default\"", "\"requested_by\":\"anonymous\"", &format!("\"start\":{start}"), "\"value\":\"a\""]
    {
        assert!(deleted.contains(field), "{field} missing from {deleted}");
    }
    assert!(lines.iter().any(|l| l.contains("\"kind\":\"partition_rewritten\"")), "{lines:#?}");
    let audit = std::fs::read_to_string(data.join("audit").join("audit-000001.jsonl")).expect("audit log");
    let audited = audit
        .lines()
        .find(|l| l.contains("/api/v1/admin/tsdb/delete_series") && l.contains("\"outcome\":\"success\""))
        .unwrap_or_else(|| panic!("no audit record of the delete:\n{audit}"));
    for field in
        ["\"action\":\"admin\"", "\"tenant\":\"default\"", "match[]=up{job=\\\"a\\\"}", &format!("start={start}")]
    {
        assert!(audited.contains(field), "{field} missing from {audited}");
    }
    assert_verifies(&data);

    // "short" keeps 10 hours: its hour before `base` holds nobody else's
    // data and goes whole; its data in the next two hours is removed from
    // partitions "default" keeps.
    let config = format!("{CONFIG}  retention_per_tenant: {{short: 10h}}\n");
    let server = Server::start(&data, &config);
    let summary = flush(&server);
    assert_eq!(summary["data"]["partitions_dropped"], 1, "{summary}");
    server.stop();
    assert!(dumped_times(&data, "short", "a").is_empty());
    assert_eq!(dumped_times(&data, "default", "a"), kept);
    assert_eq!(dumped_times(&data, "default", "b"), all);
    let lines = manifest_lines(&data);
    assert!(lines.iter().any(|l| l.contains("\"kind\":\"partition_dropped\"")), "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains("\"kind\":\"tenant_removed\"")).count(), 2, "{lines:#?}");
    assert_verifies(&data);
}
