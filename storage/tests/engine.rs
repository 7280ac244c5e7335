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

/// Runs `check` on data in the head, after a flush and after a reopen;
/// returns the reopened store.
fn check_through_flush_and_reopen(db: Db, opts: Options, check: impl Fn(&Db, &str)) -> Db {
    check(&db, "head");
    db.flush_head(true).expect("flush");
    check(&db, "persisted");
    drop(db);
    let db = Db::open(opts).expect("reopen");
    check(&db, "reopened");
    db
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

/// The label-level answers of one tenant over `[mint, maxt]`: label names,
/// values of `job`, and the series of `up`.
fn label_answers(db: &Db, tenant: &str, mint: i64, maxt: i64) -> (Vec<String>, Vec<String>, Vec<Labels>) {
    let q = db.querier(tenant, mint, maxt);
    (
        q.label_names(&[]).expect("names"),
        q.label_values("job", &[]).expect("values"),
        q.series(&[Matcher::equal("__name__", "up")]).expect("series"),
    )
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

#[test]
fn label_index_follows_the_data_through_flush_restart_and_retention() {
    let dir = tempfile::tempdir().expect("tmp");
    let at = |h: i64| Sample::new(h * HOUR + HOUR / 2, 1.0);
    let down_a = Labels::from_pairs([("__name__", "down"), ("job", "a"), ("zone", "z1")]);
    let all = (i64::MIN, i64::MAX);
    let want_all = (strings(&["__name__", "job", "zone"]), strings(&["a", "b"]), vec![up("a"), up("b")]);
    let mut opts = options(dir.path());
    opts.retention = Duration::from_millis(HOUR as u64);
    {
        let db = Db::open(opts.clone()).expect("open");
        db.append("default", &batch(&up("a"), &[at(0)]), 0).expect("append");
        db.append("default", &batch(&up("b"), &[at(2)]), 0).expect("append");
        db.append("default", &batch(&down_a, &[at(0), at(2)]), 0).expect("append");
        db.append("other", &batch(&up("c"), &[at(0)]), 0).expect("append");
        assert_eq!(label_answers(&db, "default", all.0, all.1), want_all, "from the head");
        db.flush_head(true).expect("flush");
        assert_eq!(label_answers(&db, "default", all.0, all.1), want_all, "from RocksDB");
        let early = (strings(&["__name__", "job", "zone"]), strings(&["a"]), vec![up("a")]);
        assert_eq!(label_answers(&db, "default", 0, HOUR - 1), early);
        assert_eq!(label_answers(&db, "default", HOUR, 2 * HOUR - 1), (vec![], vec![], vec![]), "no data in [1h, 2h)");
    }
    let db = Db::open(opts).expect("reopen");
    assert_eq!(label_answers(&db, "default", all.0, all.1), want_all, "index rebuilt at open");
    assert_eq!(
        label_answers(&db, "other", all.0, all.1),
        (strings(&["__name__", "job"]), strings(&["c"]), vec![up("c")])
    );
    assert_eq!(db.stats().expect("stats").index_series, 4);
    // Cut-off 3h30m - 1h: partition [0, 1h) goes; up{job="a"} and tenant
    // `other` keep their series in the index but no data.
    assert_eq!(db.compact(3 * HOUR + HOUR / 2, false).expect("compact").partitions_dropped, 1);
    assert_eq!(
        label_answers(&db, "default", all.0, all.1),
        (strings(&["__name__", "job", "zone"]), strings(&["a", "b"]), vec![up("b")]),
        "job=\"a\" remains through down{{job=\"a\"}}"
    );
    assert_eq!(label_answers(&db, "other", all.0, all.1), (vec![], vec![], vec![]));
    let q = db.querier("default", all.0, all.1);
    assert_eq!(q.label_values("job", &[Matcher::equal("__name__", "up")]).expect("values"), strings(&["b"]));
    assert_eq!(q.label_names(&[Matcher::equal("job", "b")]).expect("names"), strings(&["__name__", "job"]));
}

#[test]
fn ranges_inside_the_data_are_decided_through_flush_reopen_and_compaction() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut opts = options(dir.path());
    opts.head_chunk_samples = 3;
    opts.compacted_chunk_samples = 5;
    opts.out_of_order_window = Duration::from_millis(HOUR as u64);
    let minute = 60_000;
    // One sample a minute for 20 minutes, the later half written first so
    // that chunk spans are joined in both orders.
    let samples: Vec<Sample> = (0..20).map(|m| Sample::new(m * minute, m as f64)).collect();
    let check = |db: &Db, stage: &str| {
        let present = (strings(&["__name__", "job"]), strings(&["a"]), vec![up("a")]);
        assert_eq!(label_answers(db, "default", minute + 1, 18 * minute), present, "{stage}: inside the data");
        assert_eq!(label_answers(db, "default", 10 * minute, 10 * minute), present, "{stage}: one sample");
        assert_eq!(read(db, "default", 0, HOUR)[0].1.len(), 20, "{stage}: every sample read");
    };
    let db = Db::open(opts.clone()).expect("open");
    append(&db, "default", &up("a"), &samples[10..]);
    append(&db, "default", &up("a"), &samples[..10]);
    db.flush_head(true).expect("flush");
    check(&db, "persisted");
    drop(db);
    let db = Db::open(opts).expect("reopen");
    check(&db, "reopened");
    db.compact(10 * HOUR, true).expect("compact");
    check(&db, "compacted");
    // Compacted chunks hold minutes 0-4, 5-9, 10-14 and 15-19.
    let absent = (vec![], vec![], vec![]);
    assert_eq!(label_answers(&db, "default", 4 * minute + 1, 5 * minute - 1), absent, "between compacted chunks");
}

#[test]
fn a_range_in_a_gap_between_chunks_of_one_partition_holds_no_data() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut opts = options(dir.path());
    opts.head_chunk_samples = 5;
    let minute = 60_000;
    // Two chunks in partition [0, 1h): minutes 0-4 and 40-44.
    let samples: Vec<Sample> = (0..5).chain(40..45).map(|m| Sample::new(m * minute, m as f64)).collect();
    let db = Db::open(opts.clone()).expect("open");
    append(&db, "default", &up("a"), &samples);
    let check = |db: &Db, stage: &str| {
        let present = (strings(&["__name__", "job"]), strings(&["a"]), vec![up("a")]);
        let absent = (vec![], vec![], vec![]);
        assert_eq!(label_answers(db, "default", 10 * minute, 30 * minute), absent, "{stage}: inside the gap");
        assert_eq!(label_answers(db, "default", 2 * minute, 30 * minute), present, "{stage}: first chunk overlaps");
        assert_eq!(label_answers(db, "default", 30 * minute, 41 * minute), present, "{stage}: second chunk overlaps");
        assert_eq!(label_answers(db, "default", 45 * minute, HOUR), absent, "{stage}: after the last sample");
        assert!(read(db, "default", 10 * minute, 30 * minute).is_empty(), "{stage}: select in the gap");
        assert_eq!(read(db, "default", 0, HOUR)[0].1.len(), 10, "{stage}: every sample read");
    };
    let db = check_through_flush_and_reopen(db, opts, check);
    // Deleting minutes 40-44 leaves the series without data in [30m, 1h],
    // before and after compaction removes the samples.
    db.delete_series("default", &[Matcher::equal("job", "a")], 40 * minute, 44 * minute, "test").expect("delete");
    let absent = (vec![], vec![], vec![]);
    assert_eq!(label_answers(&db, "default", 30 * minute, HOUR), absent, "tombstoned");
    db.compact(10 * HOUR, true).expect("compact");
    assert_eq!(label_answers(&db, "default", 30 * minute, HOUR), absent, "compacted");
    assert_eq!(read(&db, "default", 0, HOUR)[0].1.len(), 5);
}

#[test]
fn reads_of_the_last_minutes_skip_earlier_chunks_but_not_a_long_one_that_reaches_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut opts = options(dir.path());
    opts.head_chunk_samples = 5;
    opts.out_of_order_window = Duration::from_millis(HOUR as u64);
    let minute = 60_000;
    let db = Db::open(opts.clone()).expect("open");
    // Twelve 5-minute chunks in partition [0, 1h), then two samples written
    // out of order, 30 s after minutes 2 and 57: one chunk 55 minutes long.
    let in_order: Vec<Sample> = (0..60).map(|m| Sample::new(m * minute, m as f64)).collect();
    append(&db, "default", &up("a"), &in_order);
    let late = [Sample::new(2 * minute + 30_000, -2.0), Sample::new(57 * minute + 30_000, -57.0)];
    let r = append(&db, "default", &up("a"), &late);
    assert!(r.rejections.is_empty(), "{:?}", r.rejections);
    let check = |db: &Db, stage: &str| {
        let last = read(db, "default", 57 * minute, 58 * minute);
        let times: Vec<i64> = last[0].1.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [57 * minute, 57 * minute + 30_000, 58 * minute], "{stage}: the long chunk is read");
        let first = read(db, "default", 0, 3 * minute);
        assert_eq!(first[0].1.len(), 5, "{stage}: minutes 0-3 and the sample after minute 2");
        assert_eq!(read(db, "default", 0, HOUR)[0].1.len(), 62, "{stage}: every sample read");
    };
    check_through_flush_and_reopen(db, opts, check);
}

#[test]
fn select_returns_series_in_label_order_with_every_sample_from_chunks_and_head() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(options(dir.path())).expect("open");
    // Created (so numbered) in an order unlike their label order, with a
    // label set that is a prefix of another and one series with no sample
    // in the range between those that have.
    let created = [
        Labels::from_pairs([("__name__", "up"), ("job", "z")]),
        Labels::from_pairs([("__name__", "up"), ("job", "a"), ("zone", "eu")]),
        Labels::from_pairs([("__name__", "old"), ("job", "a")]),
        Labels::from_pairs([("__name__", "up"), ("job", "a")]),
        Labels::from_pairs([("__name__", "up"), ("job", "m")]),
        Labels::from_pairs([("__name__", "down"), ("job", "b")]),
    ];
    let samples = |first: i64, n: i64, of: usize| -> Vec<Sample> {
        (first..first + n).map(|i| Sample::new(i * 60_000, (of * 1000) as f64 + i as f64)).collect()
    };
    for (i, labels) in created.iter().enumerate() {
        let (first, n) = if labels.get("__name__") == Some("old") { (0, 10) } else { (0, 150) };
        append(&db, "default", labels, &samples(first, n, i));
    }
    // Chunks in two partitions on disk, then more samples in the head.
    db.flush_head(true).expect("flush");
    for (i, labels) in created.iter().enumerate().filter(|(_, l)| l.get("__name__") != Some("old")) {
        append(&db, "default", labels, &samples(150, 30, i));
    }
    let (mint, maxt) = (50 * 60_000, 170 * 60_000);
    let got = read(&db, "default", mint, maxt);
    let mut want: Vec<(Labels, Vec<(i64, u64)>)> = created
        .iter()
        .enumerate()
        .filter(|(_, l)| l.get("__name__") != Some("old"))
        .map(|(i, l)| (l.clone(), samples(50, 121, i).iter().map(|s| (s.t, s.v.to_bits())).collect()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    let up_only = db.querier("default", mint, maxt).select(&[Matcher::equal("__name__", "up")]).expect("select");
    let up_labels: Vec<Labels> = up_only.iter().map(|s| s.labels.clone()).collect();
    let want_up: Vec<Labels> =
        want.iter().map(|(l, _)| l.clone()).filter(|l| l.get("__name__") == Some("up")).collect();
    assert_eq!(up_labels, want_up);
}
