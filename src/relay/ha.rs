//! HA deduplication with Cortex/Mimir HA-tracker semantics.
//!
//! Prometheus HA pairs scrape the same targets and differ only in a replica
//! label. Per (tenant, cluster) one replica is elected; series of other
//! replicas are acknowledged and dropped; the replica label is removed from
//! what is kept. When the elected replica has sent nothing for
//! `failover_timeout`, the next replica seen is elected (a failover).
//!
//! Decisions are made per series, before batching: a request may carry
//! series of several clusters and replicas (a relay or agent in between
//! merges writers), and each series is judged by its own labels. A series
//! with only one of the two labels passes through unchanged (as in Mimir).
//!
//! No duplicates and no false counter resets across a failover: the new
//! replica's samples at or before the newest timestamp accepted from the old
//! one (`floor_ts`) are dropped, so the two replicas' samples never
//! interleave. The gap a failover leaves is at most `failover_timeout` plus
//! one scrape interval.
//!
//! Several relay replicas: the authoritative election is a lease held in the
//! store ([`Elections`] behind `POST /api/v1/ha_tracker/elect`, persisted in
//! the store's data directory), so relays that see different replicas of one
//! cluster agree. A relay decides locally only while its copy of the lease
//! is fresh (synced within `update_timeout`, which must be well below
//! `failover_timeout`); anything else (a new cluster, a candidate failover, a
//! stale copy) asks the store. If the store cannot be reached the relay
//! decides on its own copy, and says so in its log; relays that disagree then
//! can let both replicas through until the store is back. The local copy is
//! saved in the relay's data directory, so a restarted relay keeps its
//! elections even while the store is down.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rampart_storage::Labels;
use serde::{Deserialize, Serialize};

use super::series::AcceptedSeries;

/// The elected replica of one cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Election {
    /// The replica whose samples are kept.
    pub replica: String,
    /// When it was last seen, ms since the epoch (the clock of whoever
    /// holds this copy).
    pub last_seen_ms: i64,
    /// When it was elected.
    pub elected_at_ms: i64,
    /// Failovers so far.
    pub failovers: u64,
    /// Samples of this replica at or before this timestamp are dropped (the
    /// previous replica's newest sample).
    pub floor_ts: i64,
    /// Newest sample timestamp accepted from this cluster.
    pub max_ts: i64,
}

/// Elections per tenant and cluster, with the HA tracker's rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Elections {
    /// tenant → cluster → election.
    pub clusters: BTreeMap<String, BTreeMap<String, Election>>,
}

impl Elections {
    /// `replica` of `(tenant, cluster)` was seen at `now_ms`, carrying
    /// samples up to `max_ts`: elects it if the cluster has no replica or
    /// the elected one was silent for `timeout`, refreshes it if elected.
    /// Returns the election after the update.
    pub fn observe(
        &mut self,
        tenant: &str,
        cluster: &str,
        replica: &str,
        now_ms: i64,
        max_ts: i64,
        timeout: Duration,
    ) -> &Election {
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let clusters = self.clusters.entry(tenant.to_owned()).or_default();
        let e = clusters.entry(cluster.to_owned()).or_insert_with(|| Election {
            replica: replica.to_owned(),
            last_seen_ms: now_ms,
            elected_at_ms: now_ms,
            failovers: 0,
            floor_ts: i64::MIN,
            max_ts: i64::MIN,
        });
        if e.replica == replica {
            e.last_seen_ms = e.last_seen_ms.max(now_ms);
            e.max_ts = e.max_ts.max(max_ts);
        } else if now_ms.saturating_sub(e.last_seen_ms) > timeout_ms {
            tracing::info!(tenant, cluster, from = %e.replica, to = replica, "ha: failover");
            e.floor_ts = e.max_ts;
            e.replica = replica.to_owned();
            e.last_seen_ms = now_ms;
            e.elected_at_ms = now_ms;
            e.failovers += 1;
        }
        e
    }

    /// The election of a cluster, if any.
    pub fn get(&self, tenant: &str, cluster: &str) -> Option<&Election> {
        self.clusters.get(tenant)?.get(cluster)
    }

    /// Replaces a cluster's election with the authoritative copy, keeping
    /// the newer `last_seen_ms` and `max_ts` when the replica is the same.
    pub fn adopt(&mut self, tenant: &str, cluster: &str, mut theirs: Election) {
        let clusters = self.clusters.entry(tenant.to_owned()).or_default();
        if let Some(ours) = clusters.get(cluster) {
            if ours.replica == theirs.replica {
                theirs.last_seen_ms = theirs.last_seen_ms.max(ours.last_seen_ms);
                theirs.max_ts = theirs.max_ts.max(ours.max_ts);
            }
        }
        clusters.insert(cluster.to_owned(), theirs);
    }

    /// Reads a saved state; empty when the file does not exist.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Saves the state atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }
}

/// Asks the store for the authoritative election (see `store_lease`).
pub trait Lease: Send + Sync {
    /// Observes `replica` in the store; `None` when the store cannot answer.
    fn elect(&self, tenant: &str, cluster: &str, replica: &str, max_ts: i64) -> Option<Election>;
}

/// The labels that name a series' cluster and replica, per tenant.
#[derive(Clone, Copy, Debug)]
pub struct HaLabels<'a> {
    /// Cluster label name.
    pub cluster: &'a str,
    /// Replica label name.
    pub replica: &'a str,
}

/// What HA deduplication did to a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deduplicated {
    /// Samples dropped because their replica is not elected (or they fall
    /// before the failover floor).
    pub samples: u64,
}

/// The relay's copy of the elections.
struct LocalState {
    elections: Elections,
    /// (tenant, cluster) → when it was last synced with the store (ms).
    synced_ms: BTreeMap<(String, String), i64>,
}

/// The relay's HA tracker: a local copy of the elections, saved to disk,
/// synced with the store's lease when one is configured.
pub struct HaTracker {
    timeout: Duration,
    update_timeout: Duration,
    state: Mutex<LocalState>,
    path: PathBuf,
    dirty: AtomicBool,
    lease: Option<Box<dyn Lease>>,
}

impl HaTracker {
    /// Loads the saved state from `path` (a restarted relay keeps its
    /// elections; each elected replica gets a fresh `failover_timeout`, so
    /// the relay's own downtime does not cause a failover).
    pub fn open(
        path: PathBuf,
        timeout: Duration,
        update_timeout: Duration,
        lease: Option<Box<dyn Lease>>,
        now_ms: i64,
    ) -> std::io::Result<Self> {
        let mut elections = Elections::load(&path)?;
        for e in elections.clusters.values_mut().flat_map(|c| c.values_mut()) {
            e.last_seen_ms = e.last_seen_ms.max(now_ms);
        }
        Ok(Self {
            timeout,
            update_timeout,
            state: Mutex::new(LocalState { elections, synced_ms: BTreeMap::new() }),
            path,
            dirty: AtomicBool::new(false),
            lease,
        })
    }

    /// Drops the series of non-elected replicas and samples before a
    /// failover floor, and removes the replica label from what is kept.
    /// Blocks while asking the store.
    pub fn deduplicate(
        &self,
        tenant: &str,
        labels: HaLabels<'_>,
        series: &mut Vec<AcceptedSeries>,
        now_ms: i64,
    ) -> Deduplicated {
        // Newest sample per (cluster, replica) in this request, in the order
        // the pairs first appear.
        let mut seen: Vec<((String, String), i64)> = Vec::new();
        for s in series.iter() {
            if let (Some(c), Some(r)) = (s.labels.get(labels.cluster), s.labels.get(labels.replica)) {
                let newest = s.samples.iter().map(|x| x.t).max().unwrap_or(i64::MIN);
                match seen.iter_mut().find(|((sc, sr), _)| sc == c && sr == r) {
                    Some((_, max)) => *max = (*max).max(newest),
                    None => seen.push(((c.to_owned(), r.to_owned()), newest)),
                }
            }
        }
        if seen.is_empty() {
            return Deduplicated::default();
        }
        // Decide each (cluster, replica) once: elected → its floor.
        let mut verdicts: BTreeMap<(String, String), Option<i64>> = BTreeMap::new();
        for ((cluster, replica), max_ts) in seen {
            let floor = self.decide(tenant, &cluster, &replica, max_ts, now_ms);
            verdicts.insert((cluster, replica), floor);
        }
        let mut out = Deduplicated::default();
        series.retain_mut(|s| {
            let key = match (s.labels.get(labels.cluster), s.labels.get(labels.replica)) {
                (Some(c), Some(r)) => (c.to_owned(), r.to_owned()),
                _ => return true,
            };
            match verdicts.get(&key).copied().flatten() {
                None => {
                    out.samples += s.samples.len() as u64;
                    false
                }
                Some(floor) => {
                    let before = s.samples.len();
                    s.samples.retain(|x| x.t > floor);
                    out.samples += (before - s.samples.len()) as u64;
                    s.labels = without(&s.labels, labels.replica);
                    !s.samples.is_empty() || !s.exemplars.is_empty()
                }
            }
        });
        out
    }

    /// `Some(floor)` when `replica` is (now) elected for the cluster.
    fn decide(&self, tenant: &str, cluster: &str, replica: &str, max_ts: i64, now_ms: i64) -> Option<i64> {
        let key = (tenant.to_owned(), cluster.to_owned());
        let update_ms = i64::try_from(self.update_timeout.as_millis()).unwrap_or(i64::MAX);
        let timeout_ms = i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX);
        if let Some(lease) = &self.lease {
            let local = {
                let state = self.state.lock();
                let synced = state.synced_ms.get(&key).is_some_and(|&t| now_ms - t < update_ms);
                state.elections.get(tenant, cluster).cloned().filter(|_| synced)
            };
            // A fresh copy answers alone: the elected replica is accepted,
            // another one refused while the elected was seen recently.
            let local_answer = local.as_ref().and_then(|e| {
                if e.replica == replica {
                    Some(true)
                } else if now_ms - e.last_seen_ms <= timeout_ms {
                    Some(false)
                } else {
                    None
                }
            });
            if local_answer.is_none() {
                match lease.elect(tenant, cluster, replica, max_ts) {
                    // The store's answer is final (its clock decides).
                    Some(theirs) => {
                        let verdict = (theirs.replica == replica).then_some(theirs.floor_ts);
                        let mut state = self.state.lock();
                        state.elections.adopt(tenant, cluster, theirs);
                        state.synced_ms.insert(key, now_ms);
                        self.dirty.store(true, Ordering::Relaxed);
                        return verdict;
                    }
                    None => tracing::warn!(
                        tenant,
                        cluster,
                        replica,
                        "ha: the store's lease cannot be reached; deciding on this relay's own copy"
                    ),
                }
            }
        }
        let mut state = self.state.lock();
        let e = state.elections.observe(tenant, cluster, replica, now_ms, max_ts, self.timeout);
        let verdict = (e.replica == replica).then_some(e.floor_ts);
        self.dirty.store(true, Ordering::Relaxed);
        verdict
    }

    /// Saves the local copy if it changed since the last save.
    pub fn save_if_dirty(&self) -> std::io::Result<()> {
        if self.dirty.swap(false, Ordering::Relaxed) {
            let snapshot = self.state.lock().elections.clone();
            if let Err(e) = snapshot.save(&self.path) {
                self.dirty.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }

    /// A copy of the elections, for the status endpoint and metrics.
    pub fn snapshot(&self) -> Elections {
        self.state.lock().elections.clone()
    }

    /// The failover timeout.
    pub fn failover_timeout(&self) -> Duration {
        self.timeout
    }
}

/// `labels` without the label `name`.
fn without(labels: &Labels, name: &str) -> Labels {
    Labels::from_sorted(labels.iter().filter(|l| l.name != name).cloned().collect())
}

#[cfg(test)]
mod tests {
    use rampart_storage::Sample;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30);
    const HA: HaLabels<'static> = HaLabels { cluster: "cluster", replica: "__replica__" };

    fn series(cluster: &str, replica: &str, metric: &str, ts: &[i64]) -> AcceptedSeries {
        AcceptedSeries {
            labels: Labels::from_pairs([("__name__", metric), ("cluster", cluster), ("__replica__", replica)]),
            samples: ts.iter().map(|&t| Sample::new(t, 1.0)).collect(),
            exemplars: Vec::new(),
        }
    }

    fn tracker(dir: &Path) -> HaTracker {
        HaTracker::open(dir.join("ha.json"), TIMEOUT, Duration::from_secs(10), None, 0).expect("open")
    }

    /// (metric, cluster, timestamps) of what survived.
    fn kept(series: &[AcceptedSeries]) -> Vec<(String, String, Vec<i64>)> {
        series
            .iter()
            .map(|s| {
                assert_eq!(s.labels.get("__replica__"), None, "replica label removed");
                (
                    s.labels.metric_name().unwrap_or_default().to_owned(),
                    s.labels.get("cluster").unwrap_or_default().to_owned(),
                    s.samples.iter().map(|x| x.t).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn one_replica_per_cluster_is_kept_judged_per_series() {
        let dir = tempfile::tempdir().expect("dir");
        let ha = tracker(dir.path());
        // One request mixing two clusters and two replicas each: the first
        // replica seen of each cluster is elected, per series.
        let mut req = vec![
            series("c1", "a", "m1", &[1000]),
            series("c2", "b", "m1", &[1000]),
            series("c1", "b", "m2", &[1000]),
            series("c2", "a", "m2", &[1000]),
            AcceptedSeries {
                labels: Labels::from_pairs([("__name__", "no_ha"), ("cluster", "c1")]),
                samples: vec![Sample::new(1000, 1.0)],
                exemplars: Vec::new(),
            },
        ];
        let d = ha.deduplicate("t", HA, &mut req, 10_000);
        assert_eq!(d.samples, 2);
        assert_eq!(
            kept(&req),
            vec![
                ("m1".into(), "c1".into(), vec![1000]),
                ("m1".into(), "c2".into(), vec![1000]),
                ("no_ha".into(), "c1".into(), vec![1000])
            ]
        );
        // Tenants are separate: the same cluster name elects anew.
        let mut other = vec![series("c1", "b", "m1", &[1000])];
        assert_eq!(ha.deduplicate("u", HA, &mut other, 10_000).samples, 0);
    }

    #[test]
    fn failover_after_the_timeout_drops_overlap_and_survives_restart() {
        let dir = tempfile::tempdir().expect("dir");
        let ha = tracker(dir.path());
        let mut a = vec![series("c", "a", "m", &[1000, 2000])];
        ha.deduplicate("t", HA, &mut a, 2_000);
        // b within the timeout: refused.
        let mut b = vec![series("c", "b", "m", &[2500])];
        assert_eq!(ha.deduplicate("t", HA, &mut b, 20_000).samples, 1);
        // a silent for more than the timeout: b takes over, but its samples
        // at or before a's newest (2000) are dropped.
        let mut b = vec![series("c", "b", "m", &[1500, 2000, 33_000])];
        assert_eq!(ha.deduplicate("t", HA, &mut b, 32_001).samples, 2);
        assert_eq!(kept(&b), vec![("m".into(), "c".into(), vec![33_000])]);
        // a is back: now it is the non-elected one.
        let mut a = vec![series("c", "a", "m", &[33_500])];
        assert_eq!(ha.deduplicate("t", HA, &mut a, 33_500).samples, 1);
        let e = ha.snapshot().get("t", "c").cloned().expect("election");
        assert_eq!((e.replica.as_str(), e.failovers, e.floor_ts), ("b", 1, 2000));

        ha.save_if_dirty().expect("save");
        let restarted = HaTracker::open(dir.path().join("ha.json"), TIMEOUT, Duration::from_secs(10), None, 100_000)
            .expect("reopen");
        // Long after the last sighting, but the restart granted a fresh
        // timeout: b stays elected.
        let mut a = vec![series("c", "a", "m", &[100_000])];
        assert_eq!(restarted.deduplicate("t", HA, &mut a, 100_000).samples, 1);
        let mut b = vec![series("c", "b", "m", &[100_000])];
        assert_eq!(restarted.deduplicate("t", HA, &mut b, 100_000).samples, 0);
    }

    /// A store lease that is the single source of truth for two relays.
    struct SharedLease(std::sync::Arc<Mutex<(Elections, i64)>>);

    impl Lease for SharedLease {
        fn elect(&self, tenant: &str, cluster: &str, replica: &str, max_ts: i64) -> Option<Election> {
            let mut s = self.0.lock();
            let now = s.1;
            Some(s.0.observe(tenant, cluster, replica, now, max_ts, TIMEOUT).clone())
        }
    }

    #[test]
    fn two_relays_sharing_a_lease_agree_on_the_elected_replica() {
        let dir = tempfile::tempdir().expect("dir");
        let store = std::sync::Arc::new(Mutex::new((Elections::default(), 0)));
        let relay = |name: &str| {
            HaTracker::open(
                dir.path().join(name),
                TIMEOUT,
                Duration::from_secs(10),
                Some(Box::new(SharedLease(store.clone()))),
                0,
            )
            .expect("open")
        };
        let (r1, r2) = (relay("r1.json"), relay("r2.json"));
        // Replica a only reaches relay 1, replica b only relay 2.
        for now in (0..60_000).step_by(5_000) {
            store.lock().1 = now;
            let mut a = vec![series("c", "a", "m", &[now])];
            assert_eq!(r1.deduplicate("t", HA, &mut a, now).samples, 0, "a is elected at {now}");
            let mut b = vec![series("c", "b", "m", &[now])];
            assert_eq!(r2.deduplicate("t", HA, &mut b, now).samples, 1, "b is refused at {now}");
        }
        // a stops; after the timeout relay 2 fails over to b.
        let now = 60_000 + TIMEOUT.as_millis() as i64 + 1;
        store.lock().1 = now;
        let mut b = vec![series("c", "b", "m", &[now])];
        assert_eq!(r2.deduplicate("t", HA, &mut b, now).samples, 0);
        assert_eq!(store.lock().0.get("t", "c").map(|e| e.replica.clone()), Some("b".into()));
    }
}
