//! Applying tombstones: every partition still holding samples a tombstone
//! covers is merged (an open one) or rewritten (a sealed one, see
//! `rewrite`), which drops those samples. A tombstone is retired once none
//! of its samples is left anywhere, the head included (samples that were in
//! the head at delete time reach a partition with a later flush and are
//! removed by a later compaction).

use std::collections::BTreeSet;

use crate::chunkenc;
use crate::db::Db;
use crate::error::Result;
use crate::persist::PartitionState;
use crate::tombstone::Tombstone;

use super::{merge, rewrite};

/// What applying tombstones did.
#[derive(Default)]
pub(super) struct Applied {
    pub partitions_rewritten: usize,
    pub samples_deleted: u64,
    pub tombstones_retired: usize,
}

/// Removes deleted samples from every partition that holds some, then
/// retires the tombstones that are fully applied.
pub(super) fn apply(db: &Db) -> Result<Applied> {
    let mut applied = Applied::default();
    let tombstones = db.persist.tombstones();
    if tombstones.is_empty() {
        return Ok(applied);
    }
    for p in db.persist.partitions() {
        let mut causes = BTreeSet::new();
        for t in tombstones.iter().filter(|t| t.overlaps(p.start, p.end - 1)) {
            if persisted_samples_in(db, t, t.start.max(p.start), t.end.min(p.end - 1))? {
                causes.insert(t.seq);
            }
        }
        if causes.is_empty() {
            continue;
        }
        let causes: Vec<u64> = causes.into_iter().collect();
        let merged = match p.state {
            PartitionState::Open => merge::partition(db, p.start)?,
            _ => rewrite::sealed_partition(db, p.start, p.end, &causes)?,
        };
        tracing::info!(partition_start = p.start, samples = merged.samples_deleted, ?causes, "deleted samples removed");
        applied.partitions_rewritten += 1;
        applied.samples_deleted += merged.samples_deleted;
    }
    let mut retired = Vec::new();
    for t in &tombstones {
        if !persisted_samples_in(db, t, t.start, t.end)? && !head_samples_in(db, t)? {
            retired.push(*t);
        }
    }
    if !retired.is_empty() {
        db.persist.retire_tombstones(&retired)?;
        applied.tombstones_retired = retired.len();
    }
    Ok(applied)
}

/// True when RocksDB holds a sample of the tombstone's series in `[mint, maxt]`.
fn persisted_samples_in(db: &Db, t: &Tombstone, mint: i64, maxt: i64) -> Result<bool> {
    for c in db.persist.series_chunks(t.tenant, t.series, mint, maxt)? {
        if any_in(&c.bytes, mint, maxt)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// True when the head holds a sample the tombstone covers.
fn head_samples_in(db: &Db, t: &Tombstone) -> Result<bool> {
    let Some(series) = db.head.get_by_id(t.series) else { return Ok(false) };
    let (chunks, loose) = series.state.lock().read(t.start, t.end);
    if !loose.is_empty() {
        return Ok(true);
    }
    for c in chunks {
        if any_in(&c.bytes, t.start, t.end)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn any_in(chunk: &[u8], mint: i64, maxt: i64) -> Result<bool> {
    for s in chunkenc::XorIter::new(chunk)? {
        let s = s?;
        if s.t > maxt {
            break;
        }
        if s.t >= mint {
            return Ok(true);
        }
    }
    Ok(false)
}
