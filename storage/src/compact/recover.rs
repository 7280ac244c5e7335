//! Recovery at open: finishes the changes a crash interrupted, so that the
//! database matches the manifest again.
//!
//! - Entries after the head RocksDB recorded were written but maybe not
//!   applied: each is applied again (every change is idempotent) and its
//!   head recorded. A seal is completed only when the partition's content
//!   still has the recorded digest.
//! - Partitions left `Rewriting` are merged, digested and sealed again
//!   (`rewrite::finish`).
//! - A manifest that is new while sealed partitions exist (a data directory
//!   from before the manifest) gets a `partition_sealed` entry for each, so
//!   that they are verifiable from then on.

use crate::db::Db;
use crate::error::Result;
use crate::manifest::{Change, Entry, ManifestHead, MatcherSpec};
use crate::persist::keys::hex;
use crate::persist::{Partition, PartitionState};

use super::{rewrite, seal};

impl Db {
    /// Applies `pending` manifest entries, finishes interrupted rewrites and
    /// adopts sealed partitions a new manifest does not know.
    pub(crate) fn recover(&self, pending: Vec<(Entry, ManifestHead)>) -> Result<()> {
        for (entry, head) in pending {
            tracing::warn!(seq = entry.seq, change = ?entry.change, "manifest: applying an entry a crash interrupted");
            self.reapply(entry.change, head)?;
        }
        for (start, causes) in self.persist.interrupted_rewrites()? {
            tracing::warn!(partition_start = start, ?causes, "finishing a partition rewrite a crash interrupted");
            rewrite::finish(self, start, start + self.opts.partition_ms(), &causes)?;
        }
        if self.manifest()?.head().is_none() {
            for p in self.persist.partitions() {
                if let PartitionState::Sealed { digest } = p.state {
                    let change = Change::PartitionSealed { start: p.start, end: p.end, digest: hex(&digest) };
                    let head = self.manifest()?.append(change)?;
                    self.persist.seal_partition(p.start, digest, head)?;
                }
            }
        }
        Ok(())
    }

    fn reapply(&self, change: Change, head: ManifestHead) -> Result<()> {
        let partition =
            |start: i64| -> Option<Partition> { self.persist.partitions().into_iter().find(|p| p.start == start) };
        match change {
            Change::PartitionSealed { start, digest, .. } => match partition(start) {
                Some(p) if p.state == PartitionState::Open => self.seal_if_digest(start, &digest, head),
                _ => self.persist.record_manifest_head(head),
            },
            Change::PartitionDropped { start, .. } => self.persist.drop_partition(start, head),
            Change::TenantRemoved { tenant, start, .. } => match (self.persist.tenant_id(&tenant), partition(start)) {
                (Some(id), Some(p)) => {
                    let sealed = p.state.is_immutable();
                    self.persist.remove_tenant(start, id, sealed.then_some(&[head.seq][..]), head)
                }
                _ => self.persist.record_manifest_head(head),
            },
            Change::SeriesDeleted { tenant, matchers, start, end, .. } => {
                let matchers = matchers.iter().map(MatcherSpec::to_matcher).collect::<Result<Vec<_>>>()?;
                self.apply_delete(head, &tenant, &matchers, start, end).map(|_| ())
            }
            Change::PartitionRewritten { start, digest, .. } => match partition(start) {
                Some(p) if p.state == PartitionState::Rewriting => self.seal_if_digest(start, &digest, head),
                _ => self.persist.record_manifest_head(head),
            },
        }
    }

    /// Seals a partition whose content has the digest the manifest recorded;
    /// otherwise only records the head and leaves the mismatch to
    /// `rampart verify` (and an interrupted rewrite to be finished).
    fn seal_if_digest(&self, start: i64, recorded: &str, head: ManifestHead) -> Result<()> {
        let d = seal::digest(&self.persist, start)?;
        if hex(&d) == recorded {
            return self.persist.seal_partition(start, d, head);
        }
        tracing::error!(
            partition_start = start,
            recorded,
            found = %hex(&d),
            "manifest: partition content differs from the digest the manifest recorded; not sealing it"
        );
        self.persist.record_manifest_head(head)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::manifest::{Chain, FILE_NAME};
    use crate::{AppendBatch, Labels, Matcher, Options, Sample};

    const HOUR: i64 = 3_600_000;

    fn open(dir: &std::path::Path) -> Db {
        let mut o = Options::new(dir);
        o.partition_duration = Duration::from_millis(HOUR as u64);
        o.out_of_order_window = Duration::from_millis(60_000);
        o.retention = Duration::ZERO;
        Db::open(o).expect("open")
    }

    /// A sealed partition `[0, 1h)` with one series of 60 samples.
    fn sealed(dir: &std::path::Path) -> Db {
        let db = open(dir);
        let samples: Vec<Sample> = (0..60).map(|m| Sample::new(m * 60_000, 1.0)).collect();
        let mut b = AppendBatch::new();
        b.push(Labels::from_pairs([("__name__", "up")]).pairs(), &samples, []);
        db.append("default", &b, 2 * HOUR).expect("append");
        db.flush_head(true).expect("flush");
        assert_eq!(db.compact(2 * HOUR, false).expect("seal").partitions_sealed, 1);
        db
    }

    fn samples(db: &Db) -> usize {
        let q = db.querier("default", 0, HOUR);
        q.select(&[Matcher::equal("__name__", "up")])
            .expect("select")
            .iter()
            .map(|s| s.samples().expect("samples").len())
            .sum()
    }

    #[test]
    fn an_entry_written_but_not_applied_before_a_crash_is_applied_at_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = sealed(dir.path());
        let change = Change::SeriesDeleted {
            tenant: "default".into(),
            matchers: vec![MatcherSpec::from(&Matcher::equal("__name__", "up"))],
            start: 0,
            end: 30 * 60_000 - 1,
            requested_by: "test".into(),
        };
        let head = db.manifest().expect("manifest").append(change).expect("append");
        assert_ne!(db.persist.manifest_head().expect("recorded"), Some(head));
        drop(db); // the crash: no tombstones written
        let db = open(dir.path());
        assert_eq!(db.persist.manifest_head().expect("recorded"), Some(head));
        assert_eq!(samples(&db), 30);
        assert!(crate::verify::verify(dir.path(), Some(head)).is_ok());
    }

    #[test]
    fn a_rewrite_interrupted_by_a_crash_is_finished_at_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = sealed(dir.path());
        db.persist.begin_rewrite(0, &[1]).expect("begin");
        drop(db); // the crash: still Rewriting
        assert!(!crate::verify::verify(dir.path(), None).is_ok(), "an unfinished rewrite is reported");
        let db = open(dir.path());
        assert!(matches!(db.persist.partitions()[0].state, PartitionState::Sealed { .. }));
        let chain = Chain::read(&dir.path().join(FILE_NAME)).expect("manifest");
        assert!(
            matches!(chain.entries.last().map(|e| &e.change), Some(Change::PartitionRewritten { causes, .. }) if causes == &[1])
        );
        assert_eq!(samples(&db), 60);
        assert!(crate::verify::verify(dir.path(), db.manifest_head().expect("head")).is_ok());
    }
}
