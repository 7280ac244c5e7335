//! PromQL evaluator benchmarks (criterion): `cargo bench --bench promql`.
//!
//! Queries run against an in-memory [`Queryable`] so that only evaluation is
//! measured: range functions, aggregations, binary matching and classic
//! histogram quantiles, each as a dashboard-style range query (1 h at a
//! 1 m step) over series scraped every 15 s.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rampart::promql::{self, Engine, EngineOptions, Point, QueryError, Queryable, RawSeries};
use rampart_storage::{Labels, Matcher};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// First sample time (2023-11-14, milliseconds).
const START_MS: i64 = 1_700_000_000_000;
const SCRAPE_INTERVAL_MS: i64 = 15_000;
/// Two hours of data; queries cover the second hour.
const SAMPLES_PER_SERIES: i64 = 480;
const QUERY_STEP_MS: i64 = 60_000;

/// Series held in memory, sorted by labels, answering selects by scan.
struct Memory(Vec<RawSeries>);

impl Queryable for Memory {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<RawSeries>, QueryError> {
        Ok(self
            .0
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches(s.labels.get(&m.name).unwrap_or(""))))
            .filter_map(|s| {
                let lo = s.points.partition_point(|p| p.t < mint);
                let hi = s.points.partition_point(|p| p.t <= maxt);
                (lo < hi).then(|| RawSeries { labels: s.labels.clone(), points: s.points[lo..hi].to_vec() })
            })
            .collect())
    }
}

/// `instances` instances of a service: per instance, request counters by
/// code and method, a memory gauge, and a 12-bucket latency histogram.
fn dataset(instances: usize) -> Memory {
    let mut rng = StdRng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut push = |labels: Labels, counter: bool, rng: &mut StdRng| {
        let offset = rng.gen_range(0..SCRAPE_INTERVAL_MS);
        let mut v: f64 = if counter { rng.gen_range(0.0..1e6_f64).round() } else { 1e9 };
        let points = (0..SAMPLES_PER_SERIES)
            .map(|i| {
                v += if counter { rng.gen_range(0..100) as f64 } else { rng.gen_range(-1e6..1e6) };
                Point { t: START_MS + i * SCRAPE_INTERVAL_MS + offset, v }
            })
            .collect();
        out.push(RawSeries { labels: Arc::new(labels), points });
    };
    for i in 0..instances {
        let instance = format!("10.0.{}.{}:8080", i / 250, i % 250);
        let job = format!("svc-{}", i % 10);
        for code in ["200", "404", "500"] {
            for method in ["GET", "POST"] {
                let labels = Labels::from_pairs([
                    ("__name__", "http_requests_total"),
                    ("code", code),
                    ("instance", &instance),
                    ("job", &job),
                    ("method", method),
                ]);
                push(labels, true, &mut rng);
            }
        }
        let labels =
            Labels::from_pairs([("__name__", "process_resident_memory_bytes"), ("instance", &instance), ("job", &job)]);
        push(labels, false, &mut rng);
        for le in ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"] {
            let labels = Labels::from_pairs([
                ("__name__", "http_request_duration_seconds_bucket"),
                ("instance", instance.as_str()),
                ("job", job.as_str()),
                ("le", le),
            ]);
            push(labels, true, &mut rng);
        }
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Memory(out)
}

const QUERIES: &[(&str, &str)] = &[
    ("range_function", "rate(http_requests_total[5m])"),
    ("over_time", "max_over_time(process_resident_memory_bytes[10m])"),
    ("aggregation", "sum by (job, code) (rate(http_requests_total[5m]))"),
    ("topk", "topk(5, rate(http_requests_total[5m]))"),
    (
        "binary_matching",
        "sum by (instance) (rate(http_requests_total[5m])) / on(instance) group_left process_resident_memory_bytes",
    ),
    (
        "histogram_quantile",
        "histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
];

fn range_queries(c: &mut Criterion) {
    let engine = Engine::new(EngineOptions::default());
    let end = START_MS + SAMPLES_PER_SERIES * SCRAPE_INTERVAL_MS;
    let start = end - 3_600_000;
    for instances in [100, 1000] {
        let data = dataset(instances);
        let mut group = c.benchmark_group("promql/range_1h_step_1m");
        group.throughput(Throughput::Elements(data.0.len() as u64));
        group.sample_size(10);
        for (name, query) in QUERIES {
            let expr = promql::parse(query).expect("valid query");
            group.bench_with_input(BenchmarkId::new(*name, format!("{}_series", data.0.len())), &expr, |b, expr| {
                b.iter(|| engine.range(&data, query, expr, start, end, QUERY_STEP_MS).expect("evaluates"))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, range_queries);
criterion_main!(benches);
