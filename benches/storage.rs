//! Storage engine and ingest benchmarks (criterion): `cargo bench --bench
//! storage`.
//!
//! One function per module, each registering its own benchmark group
//! (`chunkenc/...`, `head/...`, `ingest/...`, `index/...`, `metadata/...`,
//! `select/...`, `relay/...`); add a module by writing its function and
//! listing it in `criterion_group!` at the bottom. `index/...` builds a
//! 100k-series data directory first, `metadata/...` and `select/...` a
//! 20k-series one with two hours of samples (a few seconds each).
//!
//! Inputs are generated from fixed seeds so runs are comparable.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rampart_storage::chunkenc::{encode, XorAppender, XorIter};
use rampart_storage::Sample;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Samples per chunk in the chunk benchmarks: two hours at a 60 s scrape
/// interval, or 30 minutes at 15 s, the typical size of a closed chunk.
const CHUNK_SAMPLES: usize = 120;
/// Seed of the generated series.
const SEED: u64 = 0x5eed_c0de;
/// First timestamp of the generated series (2023-11-14, in milliseconds).
const START_MS: i64 = 1_700_000_000_000;
/// Scrape interval of the realistic patterns, milliseconds.
const SCRAPE_INTERVAL_MS: i64 = 15_000;
/// Largest scrape jitter of the realistic patterns, milliseconds either way.
const SCRAPE_JITTER_MS: i64 = 3;

/// Irregular intervals and arbitrary values: close to the codec's worst case
/// (every value opens a fresh XOR window, timestamps use the wider buckets).
fn irregular(rng: &mut StdRng) -> Vec<Sample> {
    let mut t = START_MS;
    let mut v = rng.gen_range(-1e6..1e6);
    (0..CHUNK_SAMPLES)
        .map(|_| {
            t += rng.gen_range(1_000..11_000);
            v += rng.gen_range(-1e6..1e6);
            Sample::new(t, v)
        })
        .collect()
}

/// A request counter scraped every 15 s with a few milliseconds of jitter:
/// whole-number increments, mostly small.
fn counter(rng: &mut StdRng) -> Vec<Sample> {
    let mut t = START_MS;
    let mut v = 12_345.0;
    (0..CHUNK_SAMPLES)
        .map(|_| {
            t += SCRAPE_INTERVAL_MS + rng.gen_range(-SCRAPE_JITTER_MS..=SCRAPE_JITTER_MS);
            v += f64::from(rng.gen_range(0u32..200));
            Sample::new(t, v)
        })
        .collect()
}

/// A gauge (say, a temperature or a ratio) scraped every 15 s: a random walk
/// with two decimals, as exporters print it.
fn gauge(rng: &mut StdRng) -> Vec<Sample> {
    let mut t = START_MS;
    let mut v: f64 = 50.0;
    (0..CHUNK_SAMPLES)
        .map(|_| {
            t += SCRAPE_INTERVAL_MS + rng.gen_range(-SCRAPE_JITTER_MS..=SCRAPE_JITTER_MS);
            v = ((v + rng.gen_range(-0.5..0.5)) * 100.0).round() / 100.0;
            Sample::new(t, v)
        })
        .collect()
}

/// A constant series at an exact 15 s interval (up/down flags, info metrics).
fn constant(_: &mut StdRng) -> Vec<Sample> {
    (0..CHUNK_SAMPLES as i64).map(|i| Sample::new(START_MS + i * SCRAPE_INTERVAL_MS, 1.0)).collect()
}

/// Encoder and decoder throughput of the XOR chunk over several patterns.
fn chunkenc(c: &mut Criterion) {
    type Pattern = fn(&mut StdRng) -> Vec<Sample>;
    let patterns: [(String, Pattern); 4] = [
        (format!("{CHUNK_SAMPLES}_samples"), irregular),
        (format!("counter_{CHUNK_SAMPLES}_samples"), counter),
        (format!("gauge_{CHUNK_SAMPLES}_samples"), gauge),
        (format!("constant_{CHUNK_SAMPLES}_samples"), constant),
    ];
    let mut group = c.benchmark_group("chunkenc");
    for (name, make) in patterns {
        let samples = make(&mut StdRng::seed_from_u64(SEED));
        let bytes = encode(&samples);
        eprintln!(
            "chunkenc/{name}: {} bytes, {:.3} bytes/sample",
            bytes.len(),
            bytes.len() as f64 / samples.len() as f64
        );
        group.throughput(Throughput::Elements(samples.len() as u64));
        group.bench_with_input(BenchmarkId::new("xor_encode", &name), &samples, |b, samples| {
            b.iter(|| {
                let mut app = XorAppender::new();
                for s in samples {
                    // The chunk holds CHUNK_SAMPLES < MAX_SAMPLES samples.
                    let _ = app.append(s.t, s.v);
                }
                black_box(app.into_bytes())
            })
        });
        group.bench_with_input(BenchmarkId::new("xor_decode", &name), &bytes, |b, bytes| {
            b.iter(|| {
                let mut sum = 0.0;
                let mut last_t = 0;
                if let Ok(it) = XorIter::new(black_box(bytes)) {
                    for s in it.flatten() {
                        sum += s.v;
                        last_t = s.t;
                    }
                }
                black_box((sum, last_t))
            })
        });
    }
    group.finish();
}

/// Remote-write batch size used by `head/append`.
const BATCH_SERIES: usize = 2000;
/// Scrape interval of the `head/append` batches.
const HEAD_SCRAPE_MS: i64 = 15_000;

/// `head/append/2000_series`: `Db::append` of one sample for each of 2000
/// series (one remote-write batch), WAL included with fsync off so that the
/// figure is CPU, not disk.
fn head(c: &mut Criterion) {
    use rampart_storage::{AppendBatch, Db, FsyncPolicy, Labels, Options};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = Options::new(dir.path());
    opts.wal_fsync = FsyncPolicy::Never;
    opts.retention = std::time::Duration::ZERO;
    let db = Db::open(opts).expect("open");
    let labels: Vec<Labels> = (0..BATCH_SERIES)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", "node_cpu_seconds_total".to_owned()),
                ("cpu", (i % 16).to_string()),
                ("instance", format!("node-{}:9100", i / 16)),
                ("job", "node".to_owned()),
            ])
        })
        .collect();
    let mut t = 1_700_000_000_000i64;
    let mut g = c.benchmark_group("head");
    g.throughput(Throughput::Elements(BATCH_SERIES as u64));
    g.bench_function(format!("append/{BATCH_SERIES}_series"), |b| {
        b.iter_batched(
            || {
                t += HEAD_SCRAPE_MS;
                let mut batch = AppendBatch::new();
                for (i, l) in labels.iter().enumerate() {
                    batch.push(l.pairs(), &[Sample::new(t, i as f64 + t as f64 / 1e3)], []);
                }
                (t, batch)
            },
            |(now, batch)| db.append("default", &batch, now).expect("append"),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Labels of the `i`th series of an `ingest` batch: cAdvisor-style
/// container series as a Kubernetes Prometheus sends them (16 labels, long
/// `id`, `image` and `name` values), sorted by name.
fn container_labels(i: usize, rng: &mut StdRng) -> Vec<(&'static str, String)> {
    const METRICS: [&str; 4] = [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_fs_writes_bytes_total",
        "container_network_receive_bytes_total",
    ];
    let (node, pod) = (i / 400, i / 4);
    let uid: String = (0..32).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0')).collect();
    vec![
        ("__name__", METRICS[i % METRICS.len()].to_owned()),
        ("cluster", "workload-1".to_owned()),
        ("container", format!("app-{}", pod % 7)),
        ("cpu", "total".to_owned()),
        ("endpoint", "https-metrics".to_owned()),
        ("id", format!("/kubepods/burstable/pod{uid}/{uid}")),
        ("image", format!("registry.example.com/team/app-{}:v1.{}.3", pod % 7, pod % 13)),
        ("instance", format!("10.0.{node}.1:10250")),
        ("job", "kubelet".to_owned()),
        ("metrics_path", "/metrics/cadvisor".to_owned()),
        ("name", format!("k8s_app_{pod}_{uid}")),
        ("namespace", format!("team-{}", pod % 11)),
        ("node", format!("node-{node}")),
        ("pod", format!("app-{pod}-{}", &uid[..10])),
        ("prometheus", "monitoring/k8s".to_owned()),
        ("service", "kubelet".to_owned()),
    ]
}

/// One remote-write request of 2000 container series with one sample each
/// at `now` (how Prometheus sends), snappy-compressed.
fn container_request(now: i64) -> Vec<u8> {
    use prost::Message as _;
    use rampart::proto::prometheus as pb;
    let mut rng = StdRng::seed_from_u64(SEED);
    let req = pb::WriteRequest {
        timeseries: (0..BATCH_SERIES)
            .map(|i| pb::TimeSeries {
                labels: container_labels(i, &mut rng)
                    .into_iter()
                    .map(|(name, value)| pb::Label { name: name.to_owned(), value })
                    .collect(),
                samples: vec![pb::Sample { value: rng.gen_range(0.0..1e9), timestamp: now }],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let raw = req.encode_to_vec();
    let body = snap::raw::Encoder::new().compress_vec(&raw).expect("compress");
    eprintln!("request: {} bytes decoded, {} bytes compressed", raw.len(), body.len());
    body
}

/// `ingest/...`: one [`container_request`]: `prost_decode` is the owned
/// prost decode for reference, `decode` the service's decode into a reused
/// view, `decode_validate` decode and validation into a reused storage
/// batch (the handler's work before `Db::append`).
fn ingest(c: &mut Criterion) {
    use prost::Message as _;
    use rampart::ingest::{self, IngestLimits, ValidatedWrite, WriteView};
    use rampart::proto::prometheus as pb;
    let now = 1_700_000_000_000i64;
    let body = container_request(now);
    let limits = IngestLimits::default();
    let mut view = WriteView::new();
    let mut validated = ValidatedWrite::default();
    ingest::decode(&body, &limits, &mut view).expect("decode");
    ingest::validate(&view, &limits, now, &mut validated);
    assert_eq!((validated.series.len(), validated.rejections.total_samples()), (BATCH_SERIES, 0));
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(BATCH_SERIES as u64));
    g.bench_function(format!("prost_decode/{BATCH_SERIES}_series"), |b| {
        b.iter(|| {
            let raw = snap::raw::Decoder::new().decompress_vec(black_box(&body)).expect("snappy");
            pb::WriteRequest::decode(raw.as_slice()).expect("protobuf")
        })
    });
    g.bench_function(format!("decode/{BATCH_SERIES}_series"), |b| {
        b.iter(|| ingest::decode(black_box(&body), &limits, &mut view).expect("decode"))
    });
    g.bench_function(format!("decode_validate/{BATCH_SERIES}_series"), |b| {
        b.iter(|| {
            ingest::decode(black_box(&body), &limits, &mut view).expect("decode");
            ingest::validate(&view, &limits, now, &mut validated);
            validated.series.len()
        })
    });
    g.finish();
}

/// Series in the `index` benchmarks' data directory.
const INDEX_SERIES: usize = 100_000;

/// `index/...` over a data directory of 100k cAdvisor-style series with two
/// persisted samples each: `label_names`, `label_values` of a low- and a
/// high-cardinality label, a regex `select` (index and chunk reads), and
/// `open` (building the in-memory index from RocksDB). Prints the index's
/// memory per series.
fn index(c: &mut Criterion) {
    use rampart_storage::{AppendBatch, Db, FsyncPolicy, MatchKind, Matcher, Options};
    let dir = tempfile::tempdir().expect("temp dir");
    let options = || {
        let mut opts = Options::new(dir.path());
        opts.wal_fsync = FsyncPolicy::Never;
        opts.retention = std::time::Duration::ZERO;
        opts
    };
    let db = Db::open(options()).expect("open");
    let mut rng = StdRng::seed_from_u64(SEED);
    let t0 = START_MS;
    for first in (0..INDEX_SERIES).step_by(BATCH_SERIES) {
        let labels: Vec<_> = (first..first + BATCH_SERIES).map(|i| container_labels(i, &mut rng)).collect();
        let mut batch = AppendBatch::new();
        for l in &labels {
            let pairs = l.iter().map(|(n, v)| (*n, v.as_str()));
            batch.push(pairs, &[Sample::new(t0, 1.0), Sample::new(t0 + SCRAPE_INTERVAL_MS, 2.0)], []);
        }
        db.append("default", &batch, t0 + SCRAPE_INTERVAL_MS).expect("append");
    }
    db.flush_head(true).expect("flush");
    let stats = db.stats().expect("stats");
    eprintln!(
        "index: {} series, {} bytes of index memory, {} bytes per series",
        stats.index_series,
        stats.index_memory_bytes,
        stats.index_memory_bytes / stats.index_series.max(1)
    );
    let (mint, maxt) = (t0, t0 + SCRAPE_INTERVAL_MS);
    let selector = [
        Matcher::equal("__name__", "container_cpu_usage_seconds_total"),
        Matcher::new(MatchKind::Regex, "namespace", "team-(1|2)").expect("regex"),
    ];
    let mut g = c.benchmark_group("index");
    g.sample_size(10);
    g.bench_function("label_names/100k_series", |b| {
        b.iter(|| db.querier("default", mint, maxt).label_names(&[]).expect("names"))
    });
    g.bench_function("label_values/namespace/100k_series", |b| {
        b.iter(|| db.querier("default", mint, maxt).label_values("namespace", &[]).expect("values"))
    });
    g.bench_function("label_values/pod/100k_series", |b| {
        b.iter(|| db.querier("default", mint, maxt).label_values("pod", &[]).expect("values"))
    });
    g.bench_function("select_regex/100k_series", |b| {
        b.iter(|| db.querier("default", mint, maxt).select(black_box(&selector)).expect("select").len())
    });
    drop(db);
    g.bench_function("open/100k_series", |b| b.iter(|| Db::open(options()).expect("open").head_series()));
    g.finish();
}

/// Series in the `metadata` benchmarks' data directory, as in the
/// `../shared/bench` dataset.
const METADATA_SERIES: usize = 20_000;
/// Samples per series there: two hours at a 15 s scrape interval.
const METADATA_SAMPLES: usize = 480;
/// First timestamp there: the start of a daily partition (2023-11-15), so
/// that the two hours lie in one partition, as in the query benchmark's
/// dataset.
const METADATA_START_MS: i64 = 1_700_006_400_000;

/// Labels of the `i`th `metadata` series: 301 metric names, 38 instances
/// of 20 jobs and a per-series `id`, so that `__name__` has about 66 series
/// per value and `instance` about 530.
fn metadata_labels(i: usize) -> Vec<(&'static str, String)> {
    let target = i % 38;
    vec![
        ("__name__", format!("metric_{}_total", i % 301)),
        ("cluster", "workload-1".to_owned()),
        ("id", i.to_string()),
        ("instance", format!("10.1.0.{target}:9100")),
        ("job", format!("job-{}", target % 20)),
    ]
}

/// `metadata/...`: the queries behind `/api/v1/labels`,
/// `/api/v1/label/<name>/values` and `/api/v1/series` over 20k series of
/// two hours of persisted 15 s samples, for the range the query benchmark
/// sends (one minute inside the data at both ends, so that every series'
/// chunk span strictly contains it).
fn metadata(c: &mut Criterion) {
    use rampart_storage::{AppendBatch, Db, FsyncPolicy, MatchKind, Matcher, Options};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = Options::new(dir.path());
    opts.wal_fsync = FsyncPolicy::Never;
    opts.retention = std::time::Duration::ZERO;
    let db = Db::open(opts).expect("open");
    let times: Vec<i64> = (0..METADATA_SAMPLES as i64).map(|k| METADATA_START_MS + k * SCRAPE_INTERVAL_MS).collect();
    let last = times[times.len() - 1];
    for first in (0..METADATA_SERIES).step_by(BATCH_SERIES) {
        let mut batch = AppendBatch::new();
        for i in first..first + BATCH_SERIES {
            let labels = metadata_labels(i);
            let samples: Vec<Sample> = times.iter().map(|&t| Sample::new(t, (i + t as usize) as f64)).collect();
            batch.push(labels.iter().map(|(n, v)| (*n, v.as_str())), &samples, []);
        }
        db.append("default", &batch, last).expect("append");
    }
    db.flush_head(true).expect("flush");
    let (mint, maxt) = (METADATA_START_MS + 60_000, last - 60_000);
    let selector = [
        Matcher::equal("__name__", "metric_7_total"),
        Matcher::new(MatchKind::Regex, "job", "job-(1|2)").expect("regex"),
    ];
    let mut g = c.benchmark_group("metadata");
    g.bench_function("label_names/20k_series", |b| {
        b.iter(|| db.querier("default", mint, maxt).label_names(&[]).expect("names"))
    });
    g.bench_function("label_values/__name__/20k_series", |b| {
        b.iter(|| db.querier("default", mint, maxt).label_values("__name__", &[]).expect("values"))
    });
    g.bench_function("label_values/instance/20k_series", |b| {
        b.iter(|| db.querier("default", mint, maxt).label_values("instance", &[]).expect("values"))
    });
    g.bench_function("series/regex/20k_series", |b| {
        b.iter(|| db.querier("default", mint, maxt).series(black_box(&selector)).expect("series"))
    });
    g.finish();
}

/// Series in the `select` benchmarks' data directory (the size of the
/// peer benchmark's default dataset).
const SELECT_SERIES: usize = 20_000;
/// Samples per series in the `select` benchmarks: two hours at 15 s.
const SELECT_ROUNDS: usize = 480;
/// Samples of a series per append in the `select` set-up.
const SELECT_SAMPLES_PER_APPEND: usize = 60;

/// `select/...` over a data directory of 20k cAdvisor-style series with two
/// hours of samples at 15 s, flushed and compacted (120-sample chunks) as
/// the admin flush leaves it, all in one partition: `select` plus
/// `samples()` of every selected series, as the PromQL evaluator reads.
/// `all_series_last_5m` is an instant query over every series (the shape of
/// `count({__name__=~".+"})`), `one_metric_last_5m` the same over every
/// fourth series, `one_metric_2h` a range query's read of every sample of
/// those. Builds the directory first (several seconds).
fn select(c: &mut Criterion) {
    use rampart_storage::{AppendBatch, Db, FsyncPolicy, MatchKind, Matcher, Options};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = Options::new(dir.path());
    opts.wal_fsync = FsyncPolicy::Never;
    opts.retention = std::time::Duration::ZERO;
    let db = Db::open(opts).expect("open");
    let mut rng = StdRng::seed_from_u64(SEED);
    let labels: Vec<_> = (0..SELECT_SERIES).map(|i| container_labels(i, &mut rng)).collect();
    let t0 = START_MS - START_MS % (24 * 3600 * 1000);
    let end = t0 + (SELECT_ROUNDS as i64 - 1) * SCRAPE_INTERVAL_MS;
    for first_round in (0..SELECT_ROUNDS).step_by(SELECT_SAMPLES_PER_APPEND) {
        for batch_labels in labels.chunks(BATCH_SERIES) {
            let mut batch = AppendBatch::new();
            for l in batch_labels {
                let samples: Vec<Sample> = (first_round..first_round + SELECT_SAMPLES_PER_APPEND)
                    .map(|round| {
                        Sample::new(t0 + round as i64 * SCRAPE_INTERVAL_MS, rng.gen_range(0.0f64..1e6).round())
                    })
                    .collect();
                batch.push(l.iter().map(|(n, v)| (*n, v.as_str())), &samples, []);
            }
            let now = t0 + (first_round + SELECT_SAMPLES_PER_APPEND - 1) as i64 * SCRAPE_INTERVAL_MS;
            let appended = db.append("default", &batch, now).expect("append");
            assert_eq!(appended.appended as usize, batch_labels.len() * SELECT_SAMPLES_PER_APPEND, "{appended:?}");
        }
    }
    db.flush_head(true).expect("flush");
    db.compact(end, true).expect("compact");
    let all = [Matcher::new(MatchKind::Regex, "__name__", ".+").expect("regex")];
    let one_metric = [Matcher::equal("__name__", "container_cpu_usage_seconds_total")];
    let last_5m = (end - 5 * 60 * 1000 + 1, end);
    let cases = [
        ("all_series_last_5m", &all[..], last_5m, SELECT_SERIES),
        ("one_metric_last_5m", &one_metric[..], last_5m, SELECT_SERIES / 4),
        ("one_metric_2h", &one_metric[..], (t0, end), SELECT_SERIES / 4),
    ];
    let mut g = c.benchmark_group("select");
    g.sample_size(20);
    for (name, matchers, (mint, maxt), series) in cases {
        assert_eq!(db.querier("default", mint, maxt).select(matchers).expect("select").len(), series, "{name}");
        g.throughput(Throughput::Elements(series as u64));
        g.bench_function(format!("{name}/{SELECT_SERIES}_series"), |b| {
            b.iter(|| {
                let selected = db.querier("default", mint, maxt).select(black_box(matchers)).expect("select");
                selected.iter().map(|s| s.samples().expect("samples").len()).sum::<usize>()
            })
        });
    }
    g.finish();
}

/// `relay/...`: the relay's receive path for one [`container_request`], up
/// to the queue records it appends (the queue's disk write and the HTTP
/// layer aside), step by step as `relay::receive` runs them:
/// `untouched` is a tenant without HA, relabeling or series limit, whose
/// request is queued whole as sent (decode → validate → series keys → one
/// record of the body, no compression);
/// `ha_relabel` is a tenant with HA deduplication (cluster `cluster`,
/// replica `prometheus`) and one relabel step, whose series are rebuilt
/// (decode → validate → owned series → HA → relabel → shard → encode →
/// compress).
fn relay(c: &mut Criterion) {
    use rampart::ingest::{self, IngestLimits, ValidatedWrite, WriteView};
    use rampart::relay::ha::{HaLabels, HaTracker};
    use rampart::relay::relabel::{Action, RelabelConfig, Relabeler};
    use rampart::relay::series::accepted_series;
    use rampart::relay::shard::ShardedWrite;
    use std::time::Duration;
    /// Forwarding shards (the relay's default).
    const SHARDS: usize = 4;
    let now = 1_700_000_000_000i64;
    let body = container_request(now);
    let limits = IngestLimits::default();
    let mut view = WriteView::new();
    let mut validated = ValidatedWrite::default();
    let mut shards = ShardedWrite::default();
    let dir = tempfile::tempdir().expect("temp dir");
    let minute = Duration::from_secs(60);
    let ha = HaTracker::open(dir.path().join("ha.json"), minute, minute, None, now).expect("HA tracker");
    let ha_labels = HaLabels { cluster: "cluster", replica: "prometheus" };
    let drop_id = RelabelConfig { action: Action::LabelDrop, regex: "id".into(), ..Default::default() };
    let relabeler = Relabeler::new(&[drop_id]).expect("relabel config");
    let mut g = c.benchmark_group("relay");
    g.throughput(Throughput::Elements(BATCH_SERIES as u64));
    g.bench_function(format!("untouched/{BATCH_SERIES}_series"), |b| {
        b.iter(|| {
            ingest::decode(black_box(&body), &limits, &mut view).expect("decode");
            ingest::validate(&view, &limits, now, &mut validated);
            shards.reset(SHARDS);
            shards.whole_record("default", validated.accepted_samples(), view.series(), &body).len()
        })
    });
    g.bench_function(format!("ha_relabel/{BATCH_SERIES}_series"), |b| {
        b.iter(|| {
            ingest::decode(black_box(&body), &limits, &mut view).expect("decode");
            ingest::validate(&view, &limits, now, &mut validated);
            let mut series = accepted_series(&validated);
            ha.deduplicate("default", ha_labels, &mut series, now);
            shards.reset(SHARDS);
            for mut s in series {
                if let Some(labels) = relabeler.apply(&s.labels) {
                    s.labels = labels;
                    shards.push_owned(s);
                }
            }
            shards.records("default").len()
        })
    });
    g.finish();
}

criterion_group!(benches, chunkenc, head, ingest, index, metadata, select, relay);
criterion_main!(benches);
