//! `rampart backup`: an online backup of a running store taken while a
//! writer keeps remote-writing, an offline backup of a stopped (killed)
//! store, and the refusal of a non-empty destination. Each backup is
//! restored by starting a store on the backup directory.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{self, Server};

/// Data is never sealed or dropped, so every batch of the timeline stays
/// writable and readable; head flushes run only when the test asks.
const CONFIG: &str = "
storage:
  retention: 0
  out_of_order_window: 1h
  head: { flush_interval: 1h }
  compaction: { interval: 1h }
";
const METRIC: &str = "backup_test";
const SERIES: usize = 20;
/// Milliseconds between two batches on the timeline.
const STEP_MS: i64 = 10;
/// Batches written and flushed to RocksDB, then written to the WAL only.
const FLUSHED_BATCHES: usize = 300;
const WAL_BATCHES: usize = 300;
/// Batches the writer has acknowledged before the backup starts.
const LIVE_BATCHES_BEFORE_BACKUP: usize = 200;
/// The writer's limit, far beyond what one backup takes.
const MAX_BATCHES: usize = 50_000;

/// The samples of batch `i`: one per series, at `t(i)`.
struct Timeline {
    base: i64,
}

impl Timeline {
    fn new() -> Self {
        // Far enough back for MAX_BATCHES to stay in the past.
        let base = harness::now_ms() - 15 * 60 * 1000;
        Timeline { base: base - base % 1000 }
    }

    fn t(&self, batch: usize) -> i64 {
        self.base + batch as i64 * STEP_MS
    }

    fn value(batch: usize, series: usize) -> f64 {
        batch as f64 * 0.5 + series as f64 / 64.0
    }

    fn body(&self, batch: usize) -> Vec<u8> {
        harness::body(
            (0..SERIES)
                .map(|s| {
                    let idx = s.to_string();
                    harness::series(&[("__name__", METRIC), ("idx", &idx)], &[(self.t(batch), Self::value(batch, s))])
                })
                .collect(),
        )
    }
}

fn write_batches(server: &Server, timeline: &Timeline, batches: std::ops::Range<usize>) {
    for i in batches {
        let (status, text) = server.post("/api/v1/write", timeline.body(i), &[]);
        assert_eq!(status, 204, "write of batch {i} refused: {text}");
    }
}

/// GETs `path` with `params` and returns the `data` of a success answer.
fn get_data(server: &Server, path: &str, params: &[(&str, String)]) -> Value {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}{path}", server.url))
        .query(params)
        .send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = r.status();
    let body: Value = r.json().expect("json answer");
    assert_eq!(status, 200, "GET {path} {params:?}: {body}");
    body["data"].clone()
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// `query_range` of the metric over batches `0..=last`, one step per batch.
fn range_of(server: &Server, timeline: &Timeline, last: usize) -> Value {
    get_data(
        server,
        "/api/v1/query_range",
        &[
            ("query", METRIC.to_owned()),
            ("start", seconds(timeline.t(0))),
            ("end", seconds(timeline.t(last))),
            ("step", format!("{STEP_MS}ms")),
        ],
    )
}

fn series_of(server: &Server, timeline: &Timeline, last: usize) -> Value {
    get_data(
        server,
        "/api/v1/series",
        &[("match[]", METRIC.to_owned()), ("start", seconds(timeline.t(0))), ("end", seconds(timeline.t(last)))],
    )
}

/// Raw samples per series index, as (timestamp ms, value).
fn raw_samples(server: &Server, timeline: &Timeline, last: usize) -> BTreeMap<usize, Vec<(i64, f64)>> {
    let data =
        get_data(server, "/api/v1/query", &[("query", format!("{METRIC}[1h]")), ("time", seconds(timeline.t(last)))]);
    data["result"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|s| {
            let idx = s["metric"]["idx"].as_str().expect("idx").parse().expect("index");
            let values = s["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|p| {
                    let t = (p[0].as_f64().expect("time") * 1000.0).round() as i64;
                    (t, p[1].as_str().expect("value").parse().expect("float"))
                })
                .collect();
            (idx, values)
        })
        .collect()
}

/// Asserts that batches `0..=last` are all present, exactly, in a range
/// query result.
fn assert_range_complete(range: &Value, timeline: &Timeline, last: usize) {
    let result = range["result"].as_array().expect("matrix");
    assert_eq!(result.len(), SERIES, "{range}");
    for s in result {
        let idx: usize = s["metric"]["idx"].as_str().expect("idx").parse().expect("index");
        let values = s["values"].as_array().expect("values");
        assert_eq!(values.len(), last + 1, "series {idx} lacks steps");
        for (i, p) in values.iter().enumerate() {
            let t = (p[0].as_f64().expect("time") * 1000.0).round() as i64;
            let v: f64 = p[1].as_str().expect("value").parse().expect("float");
            assert_eq!((t, v), (timeline.t(i), Timeline::value(i, idx)), "series {idx} at batch {i}");
        }
    }
}

fn run_backup(data: &Path, to: &Path) -> Output {
    Command::new(harness::binary())
        .args(["backup", "--data-dir"])
        .arg(data)
        .arg("--to")
        .arg(to)
        .output()
        .expect("run rampart backup")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "rampart backup failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Remote-writes batches from `first` on, one at a time, until `stop`;
/// `acked` counts the batches acknowledged (batch `first + acked - 1` is
/// the newest).
fn write_until_stopped(url: &str, timeline: &Timeline, first: usize, stop: &AtomicBool, acked: &AtomicUsize) {
    let client = reqwest::blocking::Client::new();
    for i in first..MAX_BATCHES {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let r = client
            .post(format!("{url}/api/v1/write"))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .body(timeline.body(i))
            .send()
            .expect("write during the backup");
        assert_eq!(r.status(), 204, "write of batch {i} refused: {}", r.text().unwrap_or_default());
        acked.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits until `acked` reaches `n` (or the writer ended).
fn wait_for_acks(acked: &AtomicUsize, n: usize, writer: &std::thread::JoinHandle<()>) {
    while acked.load(Ordering::SeqCst) < n && !writer.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn online_backup_under_writes_restores_every_sample_acknowledged_before_it() {
    let dir = harness::temp_dir();
    let data = dir.path().join("data");
    let backup = dir.path().join("backup");
    let timeline = Arc::new(Timeline::new());
    let original = Server::start(&data, CONFIG);
    let socket = data.join("admin.sock");
    let mode = std::fs::metadata(&socket).expect("the store listens on admin.sock").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "admin.sock must be private to the store's user");

    write_batches(&original, &timeline, 0..FLUSHED_BATCHES);
    let (status, text) = original.post("/api/v1/admin/flush", Vec::new(), &[]);
    assert_eq!(status, 200, "flush: {text}");
    write_batches(&original, &timeline, FLUSHED_BATCHES..FLUSHED_BATCHES + WAL_BATCHES);

    let first_live = FLUSHED_BATCHES + WAL_BATCHES;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (url, timeline, stop, acked) = (original.url.clone(), timeline.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || write_until_stopped(&url, &timeline, first_live, &stop, &acked))
    };
    wait_for_acks(&acked, LIVE_BATCHES_BEFORE_BACKUP, &writer);
    let acked_before = acked.load(Ordering::SeqCst);
    let out = run_backup(&data, &backup);
    let acked_after = acked.load(Ordering::SeqCst);
    // Writes go on after the backup too: the store must not be stuck.
    wait_for_acks(&acked, acked_after + 10, &writer);
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");
    assert!(acked_before >= LIVE_BATCHES_BEFORE_BACKUP, "the writer stopped early");
    let stdout = stdout_of(&out);
    assert!(stdout.contains("online backup taken by the store running on"), "{stdout}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("BACKUP.json")).expect("BACKUP.json")).expect("json");
    assert_eq!(manifest["format"], "rampart-backup/1", "{manifest}");
    assert!(manifest["wal_checkpoint"].is_u64(), "the flush left a head checkpoint: {manifest}");
    let verified =
        Command::new(harness::binary()).args(["verify", "--data-dir"]).arg(&backup).output().expect("verify");
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success() && report.contains("audit: ok"), "rampart verify on the backup:\n{report}");

    // Every batch acknowledged before the backup started.
    let last_before = first_live + acked_before - 1;
    let restored = Server::start(&backup, CONFIG);
    let want_range = range_of(&original, &timeline, last_before);
    assert_range_complete(&want_range, &timeline, last_before);
    assert_eq!(range_of(&restored, &timeline, last_before), want_range);
    let want_series = series_of(&original, &timeline, last_before);
    assert_eq!(want_series.as_array().map(Vec::len), Some(SERIES), "{want_series}");
    assert_eq!(series_of(&restored, &timeline, last_before), want_series);

    // Batches acknowledged during the backup may or may not be there, but
    // whole: every series holds the same unbroken run of batches.
    let last_sent = first_live + acked.load(Ordering::SeqCst);
    let raw = raw_samples(&restored, &timeline, last_sent);
    assert_eq!(raw.len(), SERIES);
    let batches = raw[&0].len();
    assert!(batches > last_before, "restored only {batches} batches, {} were acknowledged before", last_before + 1);
    for (idx, samples) in &raw {
        let want: Vec<(i64, f64)> = (0..batches).map(|i| (timeline.t(i), Timeline::value(i, *idx))).collect();
        assert_eq!(samples, &want, "series {idx}");
    }

    let log = restored.log.lock().expect("log").clone();
    assert!(!log.contains("ERROR"), "the restored store logged an error:\n{log}");
    restored.stop();
    original.stop();
    assert!(!socket.exists(), "a stopped store removes admin.sock");
}

#[test]
fn offline_backup_of_a_killed_store_restores_its_data() {
    let dir = harness::temp_dir();
    let data = dir.path().join("data");
    let backup = dir.path().join("backup");
    let timeline = Timeline::new();
    let original = Server::start(&data, CONFIG);
    write_batches(&original, &timeline, 0..FLUSHED_BATCHES);
    let (status, text) = original.post("/api/v1/admin/flush", Vec::new(), &[]);
    assert_eq!(status, 200, "flush: {text}");
    write_batches(&original, &timeline, FLUSHED_BATCHES..FLUSHED_BATCHES + WAL_BATCHES);
    let last = FLUSHED_BATCHES + WAL_BATCHES - 1;
    let want_range = range_of(&original, &timeline, last);
    assert_range_complete(&want_range, &timeline, last);
    original.kill();
    assert!(data.join("admin.sock").exists(), "a killed store leaves its socket behind");

    let stdout = stdout_of(&run_backup(&data, &backup));
    assert!(stdout.contains("offline backup taken (no store was running on"), "{stdout}");
    assert!(backup.join("BACKUP.json").exists());

    let restored = Server::start(&backup, CONFIG);
    assert_eq!(range_of(&restored, &timeline, last), want_range);
    assert_eq!(series_of(&restored, &timeline, last).as_array().map(Vec::len), Some(SERIES));
}

#[test]
fn a_non_empty_destination_is_refused_and_left_alone() {
    let dir = harness::temp_dir();
    let data = dir.path().join("data");
    let dest = dir.path().join("taken");
    std::fs::create_dir_all(&dest).expect("destination");
    std::fs::write(dest.join("notes.txt"), "mine").expect("a file in it");
    let server = Server::start(&data, CONFIG);
    write_batches(&server, &Timeline::new(), 0..1);

    let out = run_backup(&data, &dest);
    assert!(!out.status.success(), "a backup into a non-empty directory succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the running store could not take the backup")
            && stderr.contains("is not empty: give a new or empty directory"),
        "{stderr}"
    );
    let entries: Vec<_> = std::fs::read_dir(&dest).expect("list").flatten().map(|e| e.file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("notes.txt")]);
    assert_eq!(std::fs::read_to_string(dest.join("notes.txt")).expect("read"), "mine");
    server.stop();

    let out = run_backup(&data, &dest);
    assert!(!out.status.success(), "an offline backup into a non-empty directory succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not empty: give a new or empty directory"), "{stderr}");
    assert_eq!(std::fs::read_dir(&dest).expect("list").count(), 1);
}
