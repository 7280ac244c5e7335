//! Retention, default and per tenant. A tenant's data in a partition expires
//! once the partition's whole time range is before that tenant's cut-off
//! (`now - retention`, from `retention_per_tenant` or else `retention`). A
//! partition whose tenants have all expired (or that is empty and past the
//! default cut-off) is dropped whole; otherwise each expired tenant's chunks
//! are removed by a range delete over its key prefix, and a sealed partition
//! is then rewritten and re-digested. A partition that straddles a cut-off
//! is kept; queries still see its older samples until it passes completely.
//!
//! Every removal is a manifest entry written before it is applied.

use crate::db::Db;
use crate::error::Result;
use crate::manifest::Change;
use crate::persist::Partition;

use super::rewrite;

/// What retention removed.
#[derive(Default)]
pub(super) struct Expired {
    pub partitions_dropped: usize,
    pub tenants_removed: usize,
}

/// Drops expired partitions and removes expired tenants' data.
pub(super) fn apply(db: &Db, now_ms: i64) -> Result<Expired> {
    let mut expired = Expired::default();
    let tenants = db.persist.tenants();
    let name_of = |id: u32| tenants.iter().find(|(_, v)| **v == id).map(|(k, _)| k.clone());
    for p in db.persist.partitions() {
        let present = db.persist.partition_tenants(p.start)?;
        let cutoff_of = |id: u32| match name_of(id) {
            Some(name) => db.opts.tenant_cutoff(&name, now_ms),
            None => db.opts.retention_ms().map(|r| now_ms.saturating_sub(r)),
        };
        let past: Vec<(u32, i64)> =
            present.iter().filter_map(|&id| cutoff_of(id).filter(|c| p.end <= *c).map(|c| (id, c))).collect();
        let default_cutoff = db.opts.retention_ms().map(|r| now_ms.saturating_sub(r));
        let drop_cutoff = if present.is_empty() {
            default_cutoff.filter(|c| p.end <= *c)
        } else if past.len() == present.len() {
            past.iter().map(|(_, c)| *c).min()
        } else {
            None
        };
        if let Some(cutoff) = drop_cutoff {
            drop_partition(db, p, cutoff)?;
            expired.partitions_dropped += 1;
            continue;
        }
        for (id, cutoff) in past {
            remove_tenant(db, p, id, name_of(id).unwrap_or_else(|| format!("#{id}")), cutoff)?;
            expired.tenants_removed += 1;
        }
    }
    Ok(expired)
}

fn drop_partition(db: &Db, p: Partition, cutoff: i64) -> Result<()> {
    let head = db.manifest()?.append(Change::PartitionDropped { start: p.start, end: p.end, cutoff })?;
    db.persist.drop_partition(p.start, head)?;
    tracing::info!(partition_start = p.start, partition_end = p.end, cutoff, "retention dropped partition");
    Ok(())
}

fn remove_tenant(db: &Db, p: Partition, id: u32, tenant: String, cutoff: i64) -> Result<()> {
    let sealed = p.state.is_immutable();
    let change = Change::TenantRemoved { tenant: tenant.clone(), start: p.start, end: p.end, cutoff };
    let head = db.manifest()?.append(change)?;
    db.persist.remove_tenant(p.start, id, sealed.then_some(&[head.seq][..]), head)?;
    tracing::info!(
        tenant,
        partition_start = p.start,
        partition_end = p.end,
        cutoff,
        "retention removed a tenant's data"
    );
    if sealed {
        rewrite::finish(db, p.start, p.end, &[head.seq])?;
    }
    Ok(())
}
