//! Tamper evidence on real files: the manifest records every seal, drop,
//! tenant removal, deletion and rewrite; verification passes after each of
//! them, on the directory and on the open store alike; deletions hide
//! samples at once and remove them at compaction.

use std::time::Duration;

use rampart_storage::manifest::{Chain, Change, FILE_NAME};
use rampart_storage::verify::verify;
use rampart_storage::{AppendBatch, Db, Labels, MatchKind, Matcher, Options, Sample};

const HOUR: i64 = 3_600_000;

fn options(dir: &std::path::Path) -> Options {
    let mut o = Options::new(dir);
    o.partition_duration = Duration::from_millis(HOUR as u64);
    o.out_of_order_window = Duration::from_millis(60_000);
    o.retention = Duration::ZERO;
    o
}

fn metric(name: &str, job: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("job", job)])
}

fn append(db: &Db, tenant: &str, labels: &Labels, samples: &[Sample], now: i64) -> rampart_storage::AppendResult {
    let mut b = AppendBatch::new();
    b.push(labels.pairs(), samples, []);
    db.append(tenant, &b, now).expect("append")
}

/// One sample a minute over `[from, to)`.
fn minutes(from: i64, to: i64) -> Vec<Sample> {
    (from / 60_000..to / 60_000).map(|m| Sample::new(m * 60_000, m as f64)).collect()
}

fn times(db: &Db, tenant: &str, labels: &Labels) -> Vec<i64> {
    let matchers: Vec<Matcher> = labels.iter().map(|l| Matcher::equal(&l.name, &l.value)).collect();
    db.querier(tenant, i64::MIN, i64::MAX)
        .select(&matchers)
        .expect("select")
        .iter()
        .flat_map(|s| s.samples().expect("samples"))
        .map(|s| s.t)
        .collect()
}

fn persisted_samples(db: &Db) -> u64 {
    db.stats().expect("stats").partitions.iter().map(|p| p.samples).sum()
}

fn changes(dir: &std::path::Path) -> Vec<Change> {
    let chain = Chain::read(&dir.join(FILE_NAME)).expect("manifest");
    assert!(chain.problems.is_empty(), "{:?}", chain.problems);
    chain.entries.into_iter().map(|e| e.change).collect()
}

/// Both verifications pass: of the directory (read-only, as `rampart
/// verify` does) and of the open store (`Db::verify`, as the running store
/// does), each pinned to the current head and covering the same partitions.
fn assert_verifies(dir: &std::path::Path, db: &Db) {
    let head = db.manifest_head().expect("head");
    let offline = verify(dir, head);
    let live = db.verify(head);
    for v in [&offline, &live] {
        assert!(v.is_ok(), "manifest: {:?}\npartitions: {:?}", v.manifest_problems, v.partition_problems);
    }
    assert_eq!(
        (live.head, live.entries, live.partitions_verified),
        (offline.head, offline.entries, offline.partitions_verified)
    );
}

#[test]
fn delete_series_hides_exactly_the_selected_samples_and_compaction_removes_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(options(dir.path())).expect("open");
    let (a, b, other) = (metric("up", "a"), metric("up", "b"), metric("down", "a"));
    for l in [&a, &b, &other] {
        append(&db, "default", l, &minutes(0, 3 * HOUR), 4 * HOUR);
    }
    append(&db, "other", &a, &minutes(0, 3 * HOUR), 4 * HOUR);
    db.flush_head(true).expect("flush");
    // Partition [0, 1h) sealed before the delete: it must be rewritten.
    assert_eq!(db.compact(HOUR + 2 * 60_000, false).expect("compact").partitions_sealed, 1);
    // One more sample in the head at delete time, inside the range.
    append(&db, "default", &a, &[Sample::new(3 * HOUR + 60_000, 1.0)], 4 * HOUR);

    let (start, end) = (30 * 60_000, 3 * HOUR + 60_000);
    let matchers = [Matcher::equal("__name__", "up"), Matcher::new(MatchKind::Regex, "job", "a").expect("re")];
    let summary = db.delete_series("default", &matchers, start, end, "alice").expect("delete");
    assert_eq!(summary.series, 1);
    assert_eq!(db.manifest_head().expect("head"), Some(summary.manifest));

    let kept: Vec<i64> = minutes(0, 3 * HOUR).iter().map(|s| s.t).filter(|t| *t < start).collect();
    assert_eq!(times(&db, "default", &a), kept, "deleted at once, head and partitions alike");
    let all: Vec<i64> = minutes(0, 3 * HOUR).iter().map(|s| s.t).collect();
    assert_eq!(times(&db, "default", &b), all, "another series of the same metric is untouched");
    assert_eq!(times(&db, "default", &other), all, "another metric is untouched");
    assert_eq!(times(&db, "other", &a), all, "another tenant is untouched");
    let q = db.querier("default", start, end);
    assert_eq!(q.series(&[Matcher::equal("job", "a")]).expect("series"), vec![other.clone()]);

    let persisted_before = persisted_samples(&db);
    db.flush_head(true).expect("flush");
    let c = db.compact(4 * HOUR, true).expect("compact");
    assert_eq!(c.tombstones_retired, 1, "{c:?}");
    let deleted = (3 * HOUR - start) / 60_000;
    assert_eq!(persisted_samples(&db), persisted_before - deleted as u64, "{c:?}");
    assert_eq!(times(&db, "default", &a), kept);

    let changes = changes(dir.path());
    assert!(changes
        .iter()
        .any(|c| matches!(c, Change::SeriesDeleted { tenant, requested_by, start: s, end: e, matchers, .. }
        if tenant == "default" && requested_by == "alice" && (*s, *e) == (start, end) && matchers.len() == 2)));
    assert!(
        changes.iter().any(
            |c| matches!(c, Change::PartitionRewritten { start: 0, causes, .. } if causes == &[summary.manifest.seq])
        ),
        "{changes:?}"
    );
    assert_verifies(dir.path(), &db);
    drop(db);
    let db = Db::open(options(dir.path())).expect("reopen");
    assert_eq!(times(&db, "default", &a), kept);
    assert_verifies(dir.path(), &db);
}

#[test]
fn per_tenant_retention_removes_one_tenants_data_and_drops_partitions_nobody_keeps() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut opts = options(dir.path());
    opts.retention_per_tenant.insert("short".into(), Duration::from_millis(3 * HOUR as u64));
    let db = Db::open(opts.clone()).expect("open");
    let l = metric("up", "a");
    assert!(append(&db, "short", &l, &minutes(0, 3 * HOUR), 2 * HOUR).rejections.is_empty());
    assert!(append(&db, "forever", &l, &minutes(0, HOUR), 2 * HOUR).rejections.is_empty());
    db.flush_head(true).expect("flush");
    let c = db.compact(2 * HOUR + 2 * 60_000, false).expect("seal");
    assert_eq!((c.partitions_sealed, c.tenants_removed, c.partitions_dropped), (2, 0, 0), "{c:?}");

    // Cut-off of "short" at 5h - 3h = 2h: [0,1h) keeps "forever"'s data and
    // is rewritten, [1h,2h) holds only "short"'s and goes, [2h,3h) stays.
    let c = db.compact(5 * HOUR, false).expect("retention");
    assert_eq!((c.tenants_removed, c.partitions_dropped), (1, 1), "{c:?}");
    assert_eq!(times(&db, "short", &l), minutes(2 * HOUR, 3 * HOUR).iter().map(|s| s.t).collect::<Vec<_>>());
    assert_eq!(times(&db, "forever", &l), minutes(0, HOUR).iter().map(|s| s.t).collect::<Vec<_>>());
    let r = append(&db, "short", &l, &[Sample::new(2 * HOUR - 1, 1.0)], 5 * HOUR);
    assert_eq!(r.rejections.len(), 1, "older than the tenant's cut-off");
    let r = append(&db, "forever", &l, &[Sample::new(3 * HOUR + 1, 1.0)], 5 * HOUR);
    assert!(r.rejections.is_empty());

    let changes = changes(dir.path());
    let removed =
        changes.iter().position(|c| matches!(c, Change::TenantRemoved { tenant, start: 0, .. } if tenant == "short"));
    let dropped = changes.iter().position(|c| matches!(c, Change::PartitionDropped { start, .. } if *start == HOUR));
    assert!(removed.is_some() && dropped.is_some(), "{changes:?}");
    assert!(changes.iter().any(|c| matches!(c, Change::PartitionRewritten { start: 0, .. })), "{changes:?}");
    assert_verifies(dir.path(), &db);
}

#[test]
fn verification_live_and_offline_names_a_sealed_partition_the_manifest_does_not_know() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(options(dir.path())).expect("open");
    append(&db, "default", &metric("up", "a"), &minutes(0, HOUR), 2 * HOUR);
    db.flush_head(true).expect("flush");
    db.compact(2 * HOUR, false).expect("seal");
    let head = db.manifest_head().expect("head").expect("an entry");
    // Emptied under the running store, then after it stopped: the live and
    // the offline verification say the same.
    std::fs::write(dir.path().join(FILE_NAME), b"").expect("empty the manifest");
    let live = db.verify(Some(head));
    drop(db);
    for v in [live, verify(dir.path(), Some(head))] {
        assert!(v.manifest_problems.iter().any(|p| p.contains("truncated")), "{:?}", v.manifest_problems);
        assert!(v.manifest_problems.iter().any(|p| p.contains("pinned head")), "{:?}", v.manifest_problems);
        assert!(
            v.partition_problems.iter().any(|p| p.contains("is not in the manifest")),
            "{:?}",
            v.partition_problems
        );
    }
    let err = Db::open(options(dir.path())).err().expect("a truncated manifest is refused");
    assert!(err.to_string().contains("truncated"), "{err}");
}
