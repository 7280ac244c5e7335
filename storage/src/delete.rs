//! Delete-series requests ([`Db::delete_series`]), with Prometheus's
//! semantics: every sample of every series of the tenant matching all
//! matchers, with `start <= t <= end`.
//!
//! The request is a manifest entry, written and fsynced first; one tombstone
//! per matching series is then written to RocksDB with the entry's head in
//! one synced batch. From then on the querier hides the deleted samples
//! (head and partitions alike); the next compaction removes them physically
//! and retires the tombstones (`compact::deletes`).

use crate::db::Db;
use crate::error::Result;
use crate::manifest::{Change, ManifestHead, MatcherSpec};
use crate::matcher::Matcher;
use crate::tombstone::Tombstone;

/// What a delete-series request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteSummary {
    /// The manifest entry recording the request.
    pub manifest: ManifestHead,
    /// Series that matched (each got a tombstone).
    pub series: usize,
}

impl Db {
    /// Deletes the samples of `tenant`'s series matching all `matchers`
    /// with `start_ms <= t <= end_ms`, on behalf of `requested_by`. Queries
    /// stop returning them when this returns; compaction removes them from
    /// disk.
    pub fn delete_series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        requested_by: &str,
    ) -> Result<DeleteSummary> {
        // One at a time with compaction, so a rewrite never misses a
        // tombstone written while it runs.
        let _compaction = self.flush_lock.lock();
        let change = Change::SeriesDeleted {
            tenant: tenant.to_owned(),
            matchers: matchers.iter().map(MatcherSpec::from).collect(),
            start: start_ms,
            end: end_ms,
            requested_by: requested_by.to_owned(),
        };
        let head = self.manifest()?.append(change)?;
        let series = self.apply_delete(head, tenant, matchers, start_ms, end_ms)?;
        tracing::info!(
            tenant,
            requested_by,
            start_ms,
            end_ms,
            series,
            manifest_seq = head.seq,
            "series deleted (pending compaction)"
        );
        Ok(DeleteSummary { manifest: head, series })
    }

    /// Writes the tombstones of the delete request recorded at `head`;
    /// returns how many series matched. Idempotent (recovery repeats it).
    pub(crate) fn apply_delete(
        &self,
        head: ManifestHead,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<usize> {
        let Some(tenant_id) = self.persist.tenant_id(tenant) else {
            self.persist.record_manifest_head(head)?;
            return Ok(0);
        };
        let tombstones: Vec<Tombstone> = self
            .querier(tenant, start, end)
            .matching_series(tenant_id, matchers)
            .into_iter()
            .map(|series| Tombstone { seq: head.seq, tenant: tenant_id, series, start, end })
            .collect();
        self.persist.put_tombstones(&tombstones, head)?;
        Ok(tombstones.len())
    }
}
