//! Where queries run: on the thread that serves the request, at most
//! `query.max_concurrency` at once, within a deadline that covers waiting
//! for a slot and evaluation (the configured `query.timeout`, lowered by a
//! request's `timeout` parameter).
//!
//! Evaluation blocks. A [`Weight::Heavy`] query runs under
//! `tokio::task::block_in_place`: the runtime hands this worker's other
//! tasks to another thread while the request's thread goes on with the
//! job (unlike `spawn_blocking`, with no hand-off to a parked thread and
//! back on the request's path). A [`Weight::Light`] one, which reads few
//! series over few steps, runs as it is: handing the worker over cost
//! more than such a query (it doubled the CPU time and the latency of
//! `sum by (job) (up)` on 38 series). Reads that go to disk outside
//! queries ([`blocking`]) always hand the worker over; series, label name
//! and label value calls never do (`crate::api::meta`). This needs the
//! multi-threaded runtime, which `main` builds.
//!
//! The slot is held while the job runs, so a query whose client went away
//! or whose deadline passed keeps its slot until the evaluator stops (it
//! checks the same deadline through `EngineOptions::timeout`): the limit
//! bounds the CPU really in use, not only the requests waiting.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use promql_parser::parser::Expr;

use super::response::ApiError;
use crate::config::QueryConfig;
use crate::promql::eval::evaluator::TIMED_OUT;
use crate::promql::storage::{vector_selectors, FederatedStorage};
use crate::promql::{EngineOptions, QueryError};

/// Most series, summed over a query's selectors, of a light query.
const LIGHT_SERIES: usize = 1_000;
/// Most series times steps of a light query.
const LIGHT_SERIES_STEPS: usize = 50_000;

/// How much a query is expected to read, which decides where it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    /// At most [`LIGHT_SERIES`] series and [`LIGHT_SERIES_STEPS`] series
    /// times steps: it runs on the worker thread itself.
    Light,
    /// Anything more: the worker is handed over while it runs.
    Heavy,
}

impl Weight {
    /// Weighs `expr` evaluated at `steps` steps from the index alone, with
    /// an upper bound on the series each selector reads.
    pub fn of(storage: &FederatedStorage<'_>, expr: &Expr, steps: usize) -> Self {
        let series: usize = vector_selectors(expr).into_iter().map(|vs| storage.series_bound(vs)).sum();
        if series <= LIGHT_SERIES && series.saturating_mul(steps.max(1)) <= LIGHT_SERIES_STEPS {
            Self::Light
        } else {
            Self::Heavy
        }
    }
}

/// Runs queries within the configured limits.
#[derive(Debug)]
pub struct QueryExecutor {
    config: QueryConfig,
    slots: Arc<Semaphore>,
}

impl QueryExecutor {
    /// An executor for `config`.
    pub fn new(config: QueryConfig) -> Self {
        let slots = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
        Self { config, slots }
    }

    /// The configured limits.
    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    /// The time a query may take: the configured timeout, or the request's
    /// `timeout` (nanoseconds) when lower; a negative one leaves no time.
    pub fn timeout(&self, requested_ns: Option<i64>) -> Duration {
        match requested_ns {
            Some(ns) => self.config.timeout.min(Duration::from_nanos(u64::try_from(ns).unwrap_or(0))),
            None => self.config.timeout,
        }
    }

    /// Engine options from the config; `lookback_ms` overrides the lookback
    /// delta when given and positive (the API's `lookback_delta`).
    pub fn engine_options(&self, lookback_ms: Option<i64>) -> EngineOptions {
        let configured = i64::try_from(self.config.effective_lookback().as_millis()).unwrap_or(i64::MAX);
        EngineOptions {
            lookback_ms: lookback_ms.filter(|&l| l > 0).unwrap_or(configured),
            max_samples: self.config.max_samples,
            timeout: self.config.timeout,
            ..EngineOptions::default()
        }
    }

    /// Runs `job` once a slot is free, where its `weight` says, giving it
    /// `opts` with the time left of `timeout` after waiting. Waiting past
    /// the deadline is `query timed out in query queue`, finishing past it
    /// `query timed out in expression evaluation` (Prometheus's texts). A
    /// job that panics is an internal error, not a dropped connection.
    pub async fn run<T, F>(
        &self,
        timeout: Duration,
        weight: Weight,
        mut opts: EngineOptions,
        job: F,
    ) -> Result<T, QueryError>
    where
        F: FnOnce(EngineOptions) -> Result<T, QueryError>,
    {
        let deadline = Instant::now() + timeout;
        let permit = match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(QueryError::Internal("query slots closed".into())),
            Err(_) => return Err(QueryError::Timeout("query timed out in query queue".into())),
        };
        opts.timeout = deadline.saturating_duration_since(Instant::now());
        if opts.timeout.is_zero() {
            return Err(QueryError::Timeout("query timed out in query queue".into()));
        }
        let guarded = || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(opts))).unwrap_or_else(|panic| {
                Err(QueryError::Internal(format!("query evaluation failed: {}", panic_text(&*panic))))
            })
        };
        let result = match weight {
            Weight::Light => guarded(),
            Weight::Heavy => tokio::task::block_in_place(guarded),
        };
        drop(permit);
        if Instant::now() > deadline {
            return Err(QueryError::Timeout(TIMED_OUT.into()));
        }
        result
    }
}

/// The message of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

/// Runs the storage reads of a call that goes to disk but is not a query
/// (metadata, exemplars, cardinality); it takes no slot.
pub fn blocking<T>(job: impl FnOnce() -> Result<T, ApiError>) -> Result<T, ApiError> {
    tokio::task::block_in_place(job)
}

#[cfg(test)]
mod tests {
    use rampart_storage::{AppendBatch, Db, FsyncPolicy, Options, Sample};

    use super::*;

    /// A store holding `jobs` x `instances` series of `up` and one of
    /// `build_info`, in tenant `team-a`.
    fn store(dir: &std::path::Path, jobs: usize, instances: usize) -> Db {
        let db = Db::open(Options { wal_fsync: FsyncPolicy::Never, ..Options::new(dir) }).expect("open");
        let mut batch = AppendBatch::new();
        let sample = [Sample { t: 1_000, v: 1.0 }];
        for job in 0..jobs {
            for instance in 0..instances {
                let (job, instance) = (format!("job-{job}"), format!("10.0.0.{instance}"));
                batch.push([("__name__", "up"), ("instance", instance.as_str()), ("job", job.as_str())], &sample, []);
            }
        }
        batch.push([("__name__", "build_info"), ("version", "1")], &sample, []);
        db.append("team-a", &batch, 1_000).expect("append");
        db
    }

    #[test]
    fn a_query_is_light_when_its_selectors_bound_few_series_over_few_steps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = store(dir.path(), 3, 400);
        let tenants = [crate::tenant::from_header(Some("team-a")).expect("tenant")];
        let storage = FederatedStorage::new(&db, &tenants);
        let weigh = |q: &str, steps| Weight::of(&storage, &crate::promql::parse(q).expect("parses"), steps);

        assert_eq!(weigh(r#"up{job="job-1"}"#, 1), Weight::Light, "400 series");
        assert_eq!(weigh(r#"up{job="job-1"}"#, 125), Weight::Light, "400 x 125 series steps");
        assert_eq!(weigh(r#"up{job="job-1"}"#, 126), Weight::Heavy, "over the series steps");
        assert_eq!(weigh("up", 1), Weight::Heavy, "1,200 series");
        assert_eq!(weigh(r#"sum(rate(up{job="job-1"}[5m])) / sum(up{job="job-2"})"#, 1), Weight::Light, "800 series");
        assert_eq!(weigh(r#"up{job="job-1"} + up{job="job-2"} + up{job="job-0"}"#, 1), Weight::Heavy, "1,200 series");
        assert_eq!(weigh(r#"up{job=~"job-1"}"#, 1), Weight::Heavy, "a regex bounds nothing: every series");
        assert_eq!(weigh(r#"up{job="job-9"}"#, 1_000_000), Weight::Light, "no series");
        assert_eq!(weigh("build_info", 1), Weight::Light);
        assert_eq!(weigh("vector(1)", 11_000), Weight::Light, "no selector");
        let other = [crate::tenant::from_header(Some("team-b")).expect("tenant")];
        assert_eq!(
            Weight::of(&FederatedStorage::new(&db, &other), &crate::promql::parse("up").unwrap(), 1),
            Weight::Light
        );
    }

    fn executor(concurrency: usize, timeout: Duration) -> QueryExecutor {
        QueryExecutor::new(QueryConfig { max_concurrency: concurrency, timeout, ..QueryConfig::default() })
    }

    #[test]
    fn request_timeout_only_lowers_the_configured_one() {
        let e = executor(1, Duration::from_secs(120));
        assert_eq!(e.timeout(None), Duration::from_secs(120));
        assert_eq!(e.timeout(Some(5_000_000_000)), Duration::from_secs(5));
        assert_eq!(e.timeout(Some(500_000_000_000)), Duration::from_secs(120));
        assert_eq!(e.timeout(Some(-1)), Duration::ZERO);
        assert_eq!(e.engine_options(None).lookback_ms, 300_000);
        assert_eq!(e.engine_options(Some(60_000)).lookback_ms, 60_000);
        assert_eq!(e.engine_options(Some(0)).lookback_ms, 300_000);
        assert_eq!(e.engine_options(None).max_samples, 50_000_000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_jobs_and_times_out_in_queue_and_in_evaluation() {
        let e = Arc::new(executor(1, Duration::from_secs(10)));
        let opts = e.engine_options(None);
        assert_eq!(
            e.run(Duration::from_secs(1), Weight::Light, opts.clone(), |o| Ok(o.timeout <= Duration::from_secs(1)))
                .await,
            Ok(true)
        );

        // One slot: a second query waits and times out in the queue.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = {
            let e = e.clone();
            let opts = opts.clone();
            tokio::spawn(async move {
                e.run(Duration::from_secs(5), Weight::Heavy, opts, move |_| {
                    let _ = rx.recv();
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = e.run(Duration::from_millis(50), Weight::Light, opts.clone(), |_| Ok(())).await;
        assert_eq!(queued, Err(QueryError::Timeout("query timed out in query queue".into())));
        tx.send(()).expect("release");
        assert_eq!(busy.await.expect("join"), Ok(()));

        let panicked =
            e.run(Duration::from_secs(1), Weight::Light, opts.clone(), |_| -> Result<(), _> { panic!("boom") });
        assert_eq!(panicked.await, Err(QueryError::Internal("query evaluation failed: boom".into())));

        let slow = e
            .run(Duration::from_millis(50), Weight::Heavy, opts, |_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .await;
        assert_eq!(slow, Err(QueryError::Timeout("query timed out in expression evaluation".into())));
    }
}
