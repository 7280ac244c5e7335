//! Engine tests on real files and RocksDB in temporary directories:
//! restarts with and without a flush, retention, tenants and reads.

use std::time::Duration;

use rampart_storage::{AppendBatch, Db, Labels, MatchKind, Matcher, Options, Sample, STALE_NAN_BITS};

const HOUR: i64 = 3_600_000;

fn options(dir: &std::path::Path) -> Options {
    let mut o = Options::new(dir);
    o.partition_duration = Duration::from_millis(HOUR as u64);
    o.retention = Duration::ZERO;
    o
}

fn batch(labels: &Labels, samples: &[Sample]) -> AppendBatch {
    let mut b = AppendBatch::new();
    b.push(labels.pairs(), samples, []);
    b
}

fn append(db: &Db, tenant: &str, labels: &Labels, samples: &[Sample]) -> rampart_storage::AppendResult {
    db.append(tenant, &batch(labels, samples), 10 * HOUR).expect("append")
}

fn read(db: &Db, tenant: &str, mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, u64)>)> {
    db.querier(tenant, mint, maxt)
        .select(&[Matcher::new(MatchKind::Regex, "__name__", ".+").expect("matcher")])
        .expect("select")
        .into_iter()
        .map(|s| (s.labels.clone(), s.samples().expect("samples").iter().map(|x| (x.t, x.v.to_bits())).collect()))
        .collect()
}

fn up(job: &str) -> Labels {
    Labels::from_pairs([("__name__", "up"), ("job", job)])
}

#[test]
fn data_survives_restart_before_and_after_a_flush_bit_exact() {
    let dir = tempfile::tempdir().expect("tmp");
    let stale = f64::from_bits(STALE_NAN_BITS);
    let samples: Vec<Sample> =
        (0..300).map(|i| Sample::new(i * 15_000, if i == 299 { stale } else { i as f64 * -0.5 })).collect();
    {
        let db = Db::open(options(dir.path())).expect("open");
        append(&db, "default", &up("a"), &samples[..150]);
        db.flush_head(false).expect("flush");
        append(&db, "default", &up("a"), &samples[150..]);
        // Dropped without a flush: the tail lives only in the WAL.
    }
    let db = Db::open(options(dir.path())).expect("reopen");
    let got = read(&db, "default", i64::MIN, i64::MAX);
    let want: Vec<(i64, u64)> = samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
    assert_eq!(got, vec![(up("a"), want.clone())]);
    db.flush_head(true).expect("flush all");
    db.compact(10 * HOUR, true).expect("compact");
    drop(db);
    let db = Db::open(options(dir.path())).expect("reopen after compaction");
    assert_eq!(read(&db, "default", i64::MIN, i64::MAX), vec![(up("a"), want)]);
    assert_eq!(db.stats().expect("stats").partitions.iter().map(|p| p.samples).sum::<u64>(), 300);
}

#[test]
fn retention_drops_only_partitions_entirely_past_the_cutoff() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut opts = options(dir.path());
    opts.retention = Duration::from_millis(2 * HOUR as u64);
    let db = Db::open(opts).expect("open");
    // One sample in each of the partitions [0,1h) .. [4h,5h), each at 30 min.
    let samples: Vec<Sample> = (0..5).map(|h| Sample::new(h * HOUR + HOUR / 2, h as f64)).collect();
    let r = db.append("default", &batch(&up("a"), &samples), 2 * HOUR).expect("append");
    assert!(r.rejections.is_empty(), "{:?}", r.rejections);
    db.flush_head(true).expect("flush");
    // Cut-off at 4h15m - 2h = 2h15m: [0,1h) and [1h,2h) are entirely before
    // it; [2h,3h) straddles it and stays whole.
    let summary = db.compact(4 * HOUR + HOUR / 4, false).expect("compact");
    assert_eq!(summary.partitions_dropped, 2);
    let starts: Vec<i64> = db.persist().partitions().iter().map(|p| p.start).collect();
    assert_eq!(starts, vec![2 * HOUR, 3 * HOUR, 4 * HOUR]);
    let times: Vec<i64> = read(&db, "default", i64::MIN, i64::MAX)[0].1.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![2 * HOUR + HOUR / 2, 3 * HOUR + HOUR / 2, 4 * HOUR + HOUR / 2]);
}

#[test]
fn tenants_are_separate_namespaces() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(options(dir.path())).expect("open");
    append(&db, "a", &up("x"), &[Sample::new(1, 1.0)]);
    append(&db, "b", &up("x"), &[Sample::new(1, 2.0)]);
    assert_eq!(read(&db, "a", 0, 10), vec![(up("x"), vec![(1, 1.0f64.to_bits())])]);
    assert_eq!(read(&db, "b", 0, 10), vec![(up("x"), vec![(1, 2.0f64.to_bits())])]);
    assert!(read(&db, "c", 0, 10).is_empty());
    assert_eq!(db.querier("a", 0, 10).label_values("job", &[]).expect("values"), vec!["x".to_owned()]);
}

#[test]
fn equality_matchers_select_exactly_their_value() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(options(dir.path())).expect("open");
    for job in ["a", "ab", "b", "é"] {
        append(&db, "default", &up(job), &[Sample::new(1_000, 1.0)]);
    }
    append(&db, "other", &up("a"), &[Sample::new(1_000, 1.0)]);
    let q = db.querier("default", 0, HOUR);
    let select = |m: Vec<Matcher>| -> Vec<Labels> {
        q.select(&m).expect("select").into_iter().map(|s| s.labels.clone()).collect()
    };
    assert_eq!(select(vec![Matcher::equal("job", "a")]), vec![up("a")], "not a prefix match, not another tenant");
    assert_eq!(select(vec![Matcher::equal("__name__", "up"), Matcher::equal("job", "é")]), vec![up("é")]);
    assert_eq!(select(vec![Matcher::equal("job", "c")]), Vec::<Labels>::new());
    assert_eq!(select(vec![Matcher::equal("nope", "a")]), Vec::<Labels>::new());
}

#[test]
fn label_queries_honour_the_time_range() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(options(dir.path())).expect("open");
    append(&db, "default", &up("early"), &[Sample::new(1_000, 1.0)]);
    append(&db, "default", &up("late"), &[Sample::new(2 * HOUR, 1.0)]);
    db.flush_head(true).expect("flush");
    let q = db.querier("default", 0, HOUR);
    assert_eq!(q.label_values("job", &[]).expect("values"), vec!["early".to_owned()]);
    assert_eq!(q.series(&[Matcher::equal("__name__", "up")]).expect("series"), vec![up("early")]);
    assert_eq!(q.label_names(&[]).expect("names"), vec!["__name__".to_owned(), "job".to_owned()]);
    let q = db.querier("default", HOUR, 3 * HOUR);
    assert_eq!(q.label_values("job", &[Matcher::equal("__name__", "up")]).expect("values"), vec!["late".to_owned()]);
}

#[test]
fn sealed_partitions_refuse_new_samples_but_accept_identical_resends() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(options(dir.path())).expect("open");
    append(&db, "default", &up("a"), &[Sample::new(1_000, 1.0)]);
    db.flush_head(true).expect("flush");
    let summary = db.compact(2 * HOUR, false).expect("compact");
    assert_eq!(summary.partitions_sealed, 1);
    let r = append(&db, "default", &up("a"), &[Sample::new(1_000, 1.0)]);
    assert_eq!((r.identical, r.rejections.len()), (1, 0));
    let r = append(&db, "default", &up("new"), &[Sample::new(2_000, 1.0)]);
    assert_eq!(r.rejections.len(), 1, "a sealed partition is immutable");
}
