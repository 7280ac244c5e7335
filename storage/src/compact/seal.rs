//! Sealing: records a SHA-256 digest over a partition's content and marks it
//! immutable. The digest covers every key and value in key order, each
//! prefixed by its length (u32 big-endian), so that no two different
//! contents hash alike.

use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::error::{Error, Result};

/// Digest of a partition's content.
pub(crate) fn digest(db: &Db, start: i64) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    if let Some(iter) = db.persist.partition_iter(start) {
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

/// Seals a partition.
pub(super) fn partition(db: &Db, start: i64) -> Result<()> {
    let d = digest(db, start)?;
    db.persist.seal_partition(start, d)?;
    tracing::info!(partition_start = start, sha256 = %crate::persist::keys::hex(&d), "partition sealed");
    Ok(())
}
