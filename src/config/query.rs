//! `query:` section: PromQL evaluation limits of the HTTP query API, with
//! Prometheus's defaults (`--query.lookback-delta`, `--query.max-samples`,
//! `--query.timeout`, `--query.max-concurrency`).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::duration::deserialize_duration;

/// Query evaluation settings.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// How far back an instant selector looks for a sample; `0` means the
    /// default (5m), as in Prometheus.
    #[serde(deserialize_with = "deserialize_duration")]
    pub lookback_delta: Duration,
    /// Most samples one query may hold in memory (422 beyond); also the
    /// most samples one remote-read query may return (400 beyond).
    pub max_samples: usize,
    /// Longest a query may run, queueing included; a request's `timeout`
    /// parameter can only lower it.
    #[serde(deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// Queries (and remote reads) evaluated at once; more wait in a queue
    /// until their timeout.
    #[serde(deserialize_with = "deserialize_at_least_one")]
    pub max_concurrency: usize,
}

/// Prometheus's default lookback delta.
pub const DEFAULT_LOOKBACK_DELTA: Duration = Duration::from_secs(5 * 60);

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            lookback_delta: DEFAULT_LOOKBACK_DELTA,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(2 * 60),
            max_concurrency: 20,
        }
    }
}

impl QueryConfig {
    /// The lookback delta to use: the configured one, or the default for `0`.
    pub fn effective_lookback(&self) -> Duration {
        if self.lookback_delta.is_zero() {
            DEFAULT_LOOKBACK_DELTA
        } else {
            self.lookback_delta
        }
    }
}

fn deserialize_at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom("must be at least 1: with 0 no query could ever run"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn parses_and_refuses_zero_concurrency() {
        let c = Config::from_yaml("query:\n  timeout: 30s\n  max_concurrency: 4\n").expect("valid");
        assert_eq!(c.query.timeout.as_secs(), 30);
        assert_eq!(c.query.max_concurrency, 4);
        assert_eq!(c.query.max_samples, 50_000_000);
        let err = Config::from_yaml("query:\n  max_concurrency: 0\n").expect_err("zero");
        assert_eq!(err.path().to_string(), "query.max_concurrency");
        assert!(err.to_string().contains("at least 1"), "{err}");
        let zero = Config::from_yaml("query:\n  lookback_delta: 0\n").expect("zero lookback");
        assert_eq!(zero.query.effective_lookback().as_secs(), 300);
    }
}
