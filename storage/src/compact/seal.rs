//! Sealing: records a SHA-256 digest over a partition's content and marks it
//! immutable. The digest covers every key and value in key order, each
//! prefixed by its length (u32 big-endian), so that no two different
//! contents hash alike. The manifest entry is written before the seal
//! (see `crate::manifest`).

use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::error::{Error, Result};
use crate::manifest::Change;
use crate::persist::keys::hex;
use crate::persist::Persist;

/// Digest of a partition's content. A RocksDB read error (a block checksum
/// mismatch names the SST file) is returned as is.
pub(crate) fn digest(persist: &Persist, start: i64) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    if let Some(iter) = persist.partition_iter(start) {
        for item in iter {
            let (k, v) = item.map_err(Error::rocks("read partition"))?;
            h.update((k.len() as u32).to_be_bytes());
            h.update(&k);
            h.update((v.len() as u32).to_be_bytes());
            h.update(&v);
        }
    }
    Ok(h.finalize().into())
}

/// Seals a partition: manifest entry first, then the digest in RocksDB.
pub(super) fn partition(db: &Db, start: i64, end: i64) -> Result<()> {
    let d = digest(&db.persist, start)?;
    let head = db.manifest()?.append(Change::PartitionSealed { start, end, digest: hex(&d) })?;
    db.persist.seal_partition(start, d, head)?;
    tracing::info!(partition_start = start, sha256 = %hex(&d), "partition sealed");
    Ok(())
}
