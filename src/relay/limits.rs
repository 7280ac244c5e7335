//! Per-tenant limits that need state: the ingestion rate (a token bucket in
//! samples per second, refusing with 429 and `Retry-After`) and the number
//! of active series (refusing samples of new series beyond the limit, 400).
//! Stateless limits (label counts and lengths, request size) are applied by
//! the shared ingest validation with the tenant's values.
//!
//! Locks: `RateLimiter::buckets` and `SeriesLimiter::tenants` are separate
//! and never held together.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::series::AcceptedSeries;

/// Token buckets per tenant.
#[derive(Default)]
pub struct RateLimiter {
    /// tenant → (tokens, last refill).
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes `samples` tokens from the tenant's bucket (`rate` per second,
    /// at most `burst`); `Err(wait)` when there are not enough, with how
    /// long until there would be. A rate of 0 means no limit.
    pub fn take(&self, tenant: &str, samples: u64, rate: f64, burst: u64, now: Instant) -> Result<(), Duration> {
        if rate <= 0.0 || samples == 0 {
            return Ok(());
        }
        let burst = burst as f64;
        let mut buckets = self.buckets.lock();
        let (tokens, last) = buckets.entry(tenant.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        let need = samples as f64;
        if need <= *tokens {
            *tokens -= need;
            return Ok(());
        }
        let wait = ((need.min(burst) - *tokens) / rate).max(0.0);
        Err(Duration::from_secs_f64(wait.ceil().max(1.0)))
    }
}

/// Series seen per tenant, for `max_global_series_per_user`.
#[derive(Default)]
pub struct SeriesLimiter {
    /// tenant → series hash → last seen (ms).
    tenants: Mutex<HashMap<String, HashMap<u64, i64>>>,
}

/// Samples refused by the series limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeriesRefused {
    /// Series refused.
    pub series: u64,
    /// Their samples.
    pub samples: u64,
    /// The first refused series, for the message.
    pub example: Option<String>,
}

impl SeriesLimiter {
    /// Keeps series already active and new ones while the tenant has fewer
    /// than `limit` active series (0: no limit); removes the others from
    /// `series`. Series unseen for `idle` stop counting.
    pub fn admit(
        &self,
        tenant: &str,
        series: &mut Vec<AcceptedSeries>,
        limit: u64,
        idle: Duration,
        now_ms: i64,
    ) -> SeriesRefused {
        let mut refused = SeriesRefused::default();
        if limit == 0 {
            return refused;
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        let mut tenants = self.tenants.lock();
        let active = tenants.entry(tenant.to_owned()).or_default();
        let mut purged = false;
        series.retain(|s| {
            let mut h = DefaultHasher::new();
            s.labels.hash(&mut h);
            let key = h.finish();
            if let Some(seen) = active.get_mut(&key) {
                *seen = now_ms;
                return true;
            }
            if active.len() >= limit && !purged {
                active.retain(|_, &mut seen| now_ms - seen <= idle_ms);
                purged = true;
            }
            if active.len() < limit {
                active.insert(key, now_ms);
                return true;
            }
            refused.series += 1;
            refused.samples += s.samples.len() as u64;
            if refused.example.is_none() {
                refused.example = Some(s.labels.to_string());
            }
            false
        });
        refused
    }
}

#[cfg(test)]
mod tests {
    use rampart_storage::{Labels, Sample};

    use super::*;

    #[test]
    fn the_bucket_refills_at_the_rate_and_caps_at_the_burst() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        assert_eq!(l.take("a", 100, 10.0, 100, t0), Ok(()));
        assert_eq!(l.take("a", 1, 10.0, 100, t0), Err(Duration::from_secs(1)));
        assert_eq!(l.take("b", 50, 10.0, 100, t0), Ok(()), "tenants have their own bucket");
        assert_eq!(l.take("a", 50, 10.0, 100, t0 + Duration::from_secs(2)), Err(Duration::from_secs(3)));
        assert_eq!(l.take("a", 50, 10.0, 100, t0 + Duration::from_secs(5)), Ok(()));
        assert_eq!(l.take("a", 1_000_000, 0.0, 0, t0), Ok(()), "0 is no limit");
    }

    #[test]
    fn new_series_beyond_the_limit_are_refused_and_idle_ones_stop_counting() {
        let l = SeriesLimiter::default();
        let batch = |names: &[&str]| -> Vec<AcceptedSeries> {
            names
                .iter()
                .map(|n| AcceptedSeries {
                    labels: Labels::from_pairs([("__name__", *n)]),
                    samples: vec![Sample::new(1, 1.0), Sample::new(2, 1.0)],
                    exemplars: Vec::new(),
                })
                .collect()
        };
        let idle = Duration::from_secs(60);
        let mut s = batch(&["a", "b", "c"]);
        let r = l.admit("t", &mut s, 2, idle, 0);
        assert_eq!((s.len(), r.series, r.samples), (2, 1, 2));
        assert_eq!(r.example.as_deref(), Some("c{}"));
        let mut s = batch(&["a", "b"]);
        assert_eq!(l.admit("t", &mut s, 2, idle, 1000).series, 0, "active series keep being accepted");
        let mut s = batch(&["c"]);
        assert_eq!(l.admit("u", &mut s, 2, idle, 1000).series, 0, "other tenants are unaffected");
        let mut s = batch(&["c"]);
        assert_eq!(l.admit("t", &mut s, 2, idle, 1000 + 61_000).series, 0, "a and b went idle");
    }
}
