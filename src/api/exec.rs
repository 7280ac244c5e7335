//! Where queries run: on the thread that serves the request, at most
//! `query.max_concurrency` at once, within a deadline that covers waiting
//! for a slot and evaluation (the configured `query.timeout`, lowered by a
//! request's `timeout` parameter).
//!
//! Evaluation and reads that go to disk block, so they run under
//! `tokio::task::block_in_place`: the runtime hands this worker's other
//! tasks to another thread while the request's thread goes on with the
//! job. Unlike `spawn_blocking` there is no hand-off to a parked thread
//! and back on the request's path. This needs the multi-threaded runtime,
//! which `main` builds. Series, label name and label value calls do not
//! come here: they read the in-memory index (`crate::api::meta`), which
//! takes tens of microseconds, less than even this hand-over costs.
//!
//! The slot is held while the job runs, so a query whose client went away
//! or whose deadline passed keeps its slot until the evaluator stops (it
//! checks the same deadline through `EngineOptions::timeout`): the limit
//! bounds the CPU really in use, not only the requests waiting.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::response::ApiError;
use crate::config::QueryConfig;
use crate::promql::eval::evaluator::TIMED_OUT;
use crate::promql::{EngineOptions, QueryError};

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

    /// Runs `job` once a slot is free, giving it `opts` with the time left
    /// of `timeout` after waiting. Waiting past the deadline is `query
    /// timed out in query queue`, finishing past it `query timed out in
    /// expression evaluation` (Prometheus's texts).
    pub async fn run<T, F>(&self, timeout: Duration, mut opts: EngineOptions, job: F) -> Result<T, QueryError>
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
        let result = tokio::task::block_in_place(|| job(opts));
        drop(permit);
        if Instant::now() > deadline {
            return Err(QueryError::Timeout(TIMED_OUT.into()));
        }
        result
    }
}

/// Runs the storage reads of a call that goes to disk but is not a query
/// (metadata, exemplars, cardinality); it takes no slot.
pub fn blocking<T>(job: impl FnOnce() -> Result<T, ApiError>) -> Result<T, ApiError> {
    tokio::task::block_in_place(job)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            e.run(Duration::from_secs(1), opts.clone(), |o| Ok(o.timeout <= Duration::from_secs(1))).await,
            Ok(true)
        );

        // One slot: a second query waits and times out in the queue.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = {
            let e = e.clone();
            let opts = opts.clone();
            tokio::spawn(async move {
                e.run(Duration::from_secs(5), opts, move |_| {
                    let _ = rx.recv();
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = e.run(Duration::from_millis(50), opts.clone(), |_| Ok(())).await;
        assert_eq!(queued, Err(QueryError::Timeout("query timed out in query queue".into())));
        tx.send(()).expect("release");
        assert_eq!(busy.await.expect("join"), Ok(()));

        let slow = e
            .run(Duration::from_millis(50), opts, |_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .await;
        assert_eq!(slow, Err(QueryError::Timeout("query timed out in expression evaluation".into())));
    }
}
