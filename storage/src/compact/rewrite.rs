//! Rewriting a sealed partition to apply deletions or tenant retention: the
//! partition is marked `Rewriting` (persisted, still immutable to appends),
//! merged (which drops deleted samples), re-digested, recorded in the
//! manifest as `partition_rewritten` with the `seq` of the entries it
//! applied, and sealed again with the new digest. A crash before the end
//! leaves it `Rewriting`; the next open runs [`finish`] again (merging is
//! idempotent).

use crate::db::Db;
use crate::error::Result;
use crate::manifest::Change;
use crate::persist::keys::hex;

use super::{merge, seal};

/// Rewrites a sealed partition to apply the manifest entries `causes`.
pub(super) fn sealed_partition(db: &Db, start: i64, end: i64, causes: &[u64]) -> Result<merge::Merged> {
    db.persist.begin_rewrite(start, causes)?;
    finish(db, start, end, causes)
}

/// Merges a partition in `Rewriting` state, digests it, records the new
/// digest in the manifest and seals it again.
pub(crate) fn finish(db: &Db, start: i64, end: i64, causes: &[u64]) -> Result<merge::Merged> {
    let merged = merge::partition(db, start)?;
    db.persist.compact_files(start)?;
    let d = seal::digest(&db.persist, start)?;
    let head =
        db.manifest()?.append(Change::PartitionRewritten { start, end, digest: hex(&d), causes: causes.to_vec() })?;
    db.persist.seal_partition(start, d, head)?;
    tracing::info!(partition_start = start, sha256 = %hex(&d), ?causes, "sealed partition rewritten");
    Ok(merged)
}
