//! Tombstones: the deleted time ranges of series, from delete-series
//! requests until compaction has removed the samples physically.
//!
//! A tombstone names one series and an inclusive range `[start, end]`, and
//! the manifest `seq` of the request that made it. Tombstones are kept in
//! RocksDB's `meta` family (`tombstone/<series><seq>`, written in the same
//! batch as the request's manifest head) and mirrored here in memory, where
//! the querier consults them for every series it reads: a deleted sample is
//! never returned, wherever it still lies (head or partition). Compaction
//! drops the samples and retires a tombstone once none of its samples is
//! left anywhere.

use std::collections::HashMap;

use parking_lot::RwLock;

/// One series' deleted range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// Manifest `seq` of the delete-series request.
    pub seq: u64,
    /// Tenant id of the series.
    pub tenant: u32,
    /// Series id.
    pub series: u64,
    /// First deleted time (inclusive), milliseconds.
    pub start: i64,
    /// Last deleted time (inclusive), milliseconds.
    pub end: i64,
}

impl Tombstone {
    /// True when `t` is deleted by this tombstone.
    pub fn covers(&self, t: i64) -> bool {
        self.start <= t && t <= self.end
    }

    /// True when `[mint, maxt]` overlaps the deleted range.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.start <= maxt && mint <= self.end
    }
}

/// The deleted ranges of a series, empty for most series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted(Vec<Tombstone>);

impl Deleted {
    /// True when no range is deleted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `t` lies in a deleted range.
    pub fn covers(&self, t: i64) -> bool {
        self.0.iter().any(|d| d.covers(t))
    }

    /// True when a deleted range overlaps `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.0.iter().any(|d| d.overlaps(mint, maxt))
    }
}

/// The in-memory mirror of the persisted tombstones, by series.
#[derive(Debug, Default)]
pub(crate) struct Tombstones {
    by_series: RwLock<HashMap<u64, Vec<Tombstone>>>,
}

impl Tombstones {
    /// Adds tombstones (loading at open, or after they were persisted).
    pub(crate) fn insert(&self, tombstones: impl IntoIterator<Item = Tombstone>) {
        let mut map = self.by_series.write();
        for t in tombstones {
            let list = map.entry(t.series).or_default();
            if !list.contains(&t) {
                list.push(t);
            }
        }
    }

    /// Removes tombstones (after they were retired in RocksDB).
    pub(crate) fn remove(&self, retired: &[Tombstone]) {
        let mut map = self.by_series.write();
        for t in retired {
            if let Some(list) = map.get_mut(&t.series) {
                list.retain(|x| x != t);
                if list.is_empty() {
                    map.remove(&t.series);
                }
            }
        }
    }

    /// The deleted ranges of one series.
    pub(crate) fn of(&self, series: u64) -> Deleted {
        Deleted(self.by_series.read().get(&series).cloned().unwrap_or_default())
    }

    /// Every tombstone, ordered by series then request.
    pub(crate) fn all(&self) -> Vec<Tombstone> {
        let mut out: Vec<Tombstone> = self.by_series.read().values().flatten().copied().collect();
        out.sort_by_key(|t| (t.series, t.seq));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_retire_individually() {
        let set = Tombstones::default();
        let a = Tombstone { seq: 1, tenant: 1, series: 7, start: 10, end: 20 };
        let b = Tombstone { seq: 2, ..a };
        set.insert([a, a, b]);
        assert_eq!(set.all(), vec![a, b]);
        let d = set.of(7);
        assert!(d.covers(10) && d.covers(20) && !d.covers(9) && !d.covers(21));
        assert!(d.overlaps(0, 10) && d.overlaps(20, 30) && !d.overlaps(21, 30));
        assert!(set.of(8).is_empty());
        set.remove(&[a]);
        assert_eq!(set.all(), vec![b]);
        set.remove(&[b]);
        assert!(set.of(7).is_empty());
    }
}
