//! Merging a partition: per series, all chunks are decoded, merged by time
//! with repeated timestamps and deleted samples (tombstones) removed, and
//! re-encoded into chunks of `compacted_chunk_samples`. A series' deletes
//! and puts always go into the same write batch, so a crash leaves either
//! the old or the new chunks of a series, never a mix. Merging a merged
//! partition changes nothing, so it can be repeated after a crash. After
//! each batch is written, the chunk spans of its series are updated
//! (`crate::index::spans`).

use rocksdb::WriteBatch;

use crate::chunkenc::{self, Encoding};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::index::Span;
use crate::model::Sample;
use crate::persist::keys;

/// Bytes of pending writes after which a batch is committed.
const BATCH_BYTES: usize = 8 << 20;
/// Length of the `tenant | series` prefix of a chunk key.
const SERIES_PREFIX_LEN: usize = keys::TENANT_LEN + keys::SERIES_LEN;

/// Counts of one partition merge.
#[derive(Default)]
pub(super) struct Merged {
    pub series_rewritten: u64,
    pub chunks_before: u64,
    pub chunks_after: u64,
    pub samples_deleted: u64,
}

type Group = Vec<(Box<[u8]>, Box<[u8]>)>;

/// Series rewritten in the pending batch: tenant, series, span of the new
/// chunks (`None` when no sample is left).
type Rewritten = Vec<(u32, u64, Option<Span>)>;

/// Merges the chunks of every series of a partition.
pub(super) fn partition(db: &Db, start: i64) -> Result<Merged> {
    let mut merged = Merged::default();
    let (Some(iter), Some(cf)) = (db.persist.partition_iter(start), db.persist.partition_cf(start)) else {
        return Ok(merged);
    };
    let target = usize::from(db.opts.compacted_chunk_samples.max(1));
    let mut batch = WriteBatch::default();
    let mut rewritten: Rewritten = Vec::new();
    let mut group: Group = Vec::new();
    for item in iter {
        let (k, v) = item.map_err(Error::rocks("read partition"))?;
        if k.len() != keys::CHUNK_KEY_LEN {
            return Err(Error::Corrupt { what: "chunk key", location: keys::hex(&k), detail: "wrong length" });
        }
        let same_series = group.first().is_some_and(|(g, _)| g[..SERIES_PREFIX_LEN] == k[..SERIES_PREFIX_LEN]);
        if !same_series && !group.is_empty() {
            rewrite_series(db, &mut group, &mut batch, &cf, target, &mut merged, &mut rewritten)?;
            if batch.size_in_bytes() >= BATCH_BYTES {
                write(db, start, std::mem::take(&mut batch), &mut rewritten)?;
            }
        }
        group.push((k, v));
    }
    rewrite_series(db, &mut group, &mut batch, &cf, target, &mut merged, &mut rewritten)?;
    write(db, start, batch, &mut rewritten)?;
    Ok(merged)
}

/// Writes a batch of rewritten series, then their new chunk spans.
fn write(db: &Db, start: i64, batch: WriteBatch, rewritten: &mut Rewritten) -> Result<()> {
    db.persist.rocks().write(batch).map_err(Error::rocks("write merged chunks"))?;
    db.persist.chunks_rewritten(start, rewritten.drain(..));
    Ok(())
}

/// Replaces the chunks of one series (all in `group`) by merged ones,
/// without its deleted samples.
fn rewrite_series(
    db: &Db,
    group: &mut Group,
    batch: &mut WriteBatch,
    cf: &impl rocksdb::AsColumnFamilyRef,
    target: usize,
    merged: &mut Merged,
    rewritten: &mut Rewritten,
) -> Result<()> {
    merged.chunks_before += group.len() as u64;
    let Some((first_key, _)) = group.first() else { return Ok(()) };
    let (tenant, series, min_t) = keys::parse_chunk_key(first_key)?;
    let deleted = db.persist.deleted(series);
    let max_t = group.iter().filter_map(|(_, v)| keys::chunk_value_max_t(v)).max().unwrap_or(i64::MAX);
    if group.len() < 2 && !deleted.overlaps(min_t, max_t) {
        merged.chunks_after += group.len() as u64;
        group.clear();
        return Ok(());
    }
    let mut samples: Vec<Sample> = Vec::new();
    for (k, v) in group.iter() {
        let cv = keys::decode_chunk_value(k, v)?;
        samples.extend(chunkenc::decode_all(cv.chunk)?);
        batch.delete_cf(cf, k);
    }
    samples.sort_by_key(|s| s.t);
    samples.dedup_by_key(|s| s.t);
    let before = samples.len();
    samples.retain(|s| !deleted.covers(s.t));
    merged.samples_deleted += (before - samples.len()) as u64;
    for part in samples.chunks(target) {
        let max_t = part[part.len() - 1].t;
        batch.put_cf(
            cf,
            keys::chunk_key(tenant, series, part[0].t),
            keys::encode_chunk_value(Encoding::Xor as u8, max_t, &chunkenc::encode(part)),
        );
        merged.chunks_after += 1;
    }
    let span = samples.chunks(target).map(|part| Span::chunk(part[0].t, part[part.len() - 1].t)).reduce(Span::union);
    rewritten.push((tenant, series, span));
    merged.series_rewritten += 1;
    group.clear();
    Ok(())
}
