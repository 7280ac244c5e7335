//! Retention: drops whole partitions whose entire time range is before the
//! cut-off (`now - retention`). A partition that straddles the cut-off is
//! kept; queries still see its older samples until it passes completely.

use crate::db::Db;
use crate::error::Result;

/// Drops expired partitions; returns how many.
pub(super) fn apply(db: &Db, now_ms: i64) -> Result<usize> {
    let Some(retention) = db.opts.retention_ms() else { return Ok(0) };
    let cutoff = now_ms.saturating_sub(retention);
    let mut dropped = 0;
    for p in db.persist.partitions().into_iter().filter(|p| p.end <= cutoff) {
        db.persist.drop_partition(p.start)?;
        tracing::info!(partition_start = p.start, partition_end = p.end, cutoff, "retention dropped partition");
        dropped += 1;
    }
    Ok(dropped)
}
