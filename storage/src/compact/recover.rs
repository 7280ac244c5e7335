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
