//! Verification of a data directory: proves that stored data changed only
//! through recorded operations, or names every place where it did not.
//!
//! Two sections, each a list of problems naming what and where:
//! - manifest: the chain (JSON, version, `seq`, `prev`), a line cut short, an
//!   end before the head RocksDB recorded (truncation) or another entry at
//!   that `seq` (edit), entries not yet applied, and a pinned head the chain
//!   does not hold.
//! - partitions: every sealed partition is read in full and its SHA-256
//!   recomputed (a RocksDB checksum error counts, with the SST file RocksDB
//!   names); its digest must be the one the manifest last recorded for it;
//!   every partition the manifest knows as sealed and not dropped must exist
//!   and be sealed.
//!
//! Two entry points:
//! - [`verify`] opens RocksDB read-only and writes nothing, so it runs on a
//!   stopped store's data directory or on a copy (backup). On a live store's
//!   directory an entry being appended at that moment may be reported as an
//!   unapplied or cut line.
//! - [`Db::verify`] checks the open store itself, race-free: it holds
//!   `flush_lock`, which every writer of the manifest and of partitions
//!   (head flush, compaction with its sealing, retention and rewrites,
//!   delete-series, backup) takes, so the chain, the head RocksDB recorded
//!   and the sealed partitions cannot change while they are compared.
//!   Re-digesting sealed partitions reads all their data and can take long;
//!   only those writers wait meanwhile. Appends and queries never take
//!   `flush_lock`, so ingestion and reads go on (the head grows in memory
//!   until the next flush).

use std::collections::BTreeMap;
use std::path::Path;

use crate::db::Db;
use crate::manifest::{parse_sha256, Chain, Change, ManifestHead, FILE_NAME};
use crate::options::Options;
use crate::persist::keys::hex;
use crate::persist::{PartitionState, Persist};

/// The result of verifying one data directory.
#[derive(Clone, Debug, Default)]
pub struct Verification {
    /// The manifest head (last complete entry).
    pub head: Option<ManifestHead>,
    /// Manifest entries read.
    pub entries: usize,
    /// Sealed partitions whose content was re-read and re-digested.
    pub partitions_verified: usize,
    /// Problems of the manifest chain.
    pub manifest_problems: Vec<String>,
    /// Problems of the partitions.
    pub partition_problems: Vec<String>,
}

impl Verification {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.manifest_problems.is_empty() && self.partition_problems.is_empty()
    }
}

/// What the manifest says a partition should be.
struct Expected {
    digest: Option<[u8; 32]>,
    seq: u64,
}

/// Verifies the data directory `data_dir`; with `pinned`, the chain must
/// still hold that head (the same entry at that `seq`).
pub fn verify(data_dir: &Path, pinned: Option<ManifestHead>) -> Verification {
    let mut v = Verification::default();
    let db_path = data_dir.join("db");
    let persist = match Persist::open(&db_path, Options::default().partition_ms(), true) {
        Ok(p) => Some(p),
        Err(e) => {
            v.partition_problems.push(format!("cannot open the database {} read-only: {e}", db_path.display()));
            None
        }
    };
    check(&mut v, data_dir, persist.as_ref(), pinned);
    v
}

impl Db {
    /// Verifies this open store as [`verify`] does a data directory, while
    /// head flushes, compactions, deletions and backups wait (see the module
    /// documentation); appends and queries go on.
    pub fn verify(&self, pinned: Option<ManifestHead>) -> Verification {
        let _writers = self.flush_lock.lock();
        let mut v = Verification::default();
        check(&mut v, &self.opts.data_dir, Some(&self.persist), pinned);
        v
    }
}

/// The manifest chain of `data_dir` against the head `persist` recorded and
/// `pinned`, then every partition of `persist` against the chain.
fn check(v: &mut Verification, data_dir: &Path, persist: Option<&Persist>, pinned: Option<ManifestHead>) {
    let chain = match Chain::read(&data_dir.join(FILE_NAME)) {
        Ok(c) => c,
        Err(e) => {
            v.manifest_problems.push(e.to_string());
            Chain::default()
        }
    };
    let recorded = match persist.map(Persist::manifest_head).transpose() {
        Ok(r) => r.flatten(),
        Err(e) => {
            v.manifest_problems.push(format!("cannot read the manifest head recorded in the database: {e}"));
            None
        }
    };
    check_chain(v, &chain, recorded, pinned, persist.is_some());
    if let Some(persist) = persist {
        check_partitions(v, &chain, persist);
    }
}

fn check_chain(
    v: &mut Verification,
    chain: &Chain,
    recorded: Option<ManifestHead>,
    pinned: Option<ManifestHead>,
    have_db: bool,
) {
    v.head = chain.head();
    v.entries = chain.entries.len();
    v.manifest_problems.extend(chain.problems.iter().cloned());
    if let Some((offset, len)) = chain.torn_tail {
        v.manifest_problems.push(format!(
            "the manifest ends with an incomplete line ({len} bytes at byte {offset}): it was cut mid-line"
        ));
    }
    v.manifest_problems.extend(chain.check_recorded(recorded));
    let unapplied = chain.after(recorded);
    if have_db && !unapplied.is_empty() {
        let (first, last) = (unapplied[0].0.seq, unapplied[unapplied.len() - 1].0.seq);
        v.manifest_problems.push(format!(
            "entries seq {first}..={last} are not applied to the database (a crash interrupted them): start the store once to finish them, then verify again"
        ));
    }
    if let Some(pinned) = pinned {
        if !chain.extends(pinned) {
            v.manifest_problems.push(format!(
                "the pinned head {pinned} is not in the chain (its head is {}): entries up to it were changed or removed",
                v.head.map_or_else(|| "none".to_owned(), |h| h.to_string())
            ));
        }
    }
}

fn check_partitions(v: &mut Verification, chain: &Chain, persist: &Persist) {
    let mut expected: BTreeMap<i64, Expected> = BTreeMap::new();
    for e in &chain.entries {
        match &e.change {
            Change::PartitionSealed { start, digest, .. } | Change::PartitionRewritten { start, digest, .. } => {
                expected.insert(*start, Expected { digest: parse_sha256(digest), seq: e.seq });
            }
            Change::PartitionDropped { start, .. } => {
                expected.remove(start);
            }
            Change::TenantRemoved { .. } | Change::SeriesDeleted { .. } => {}
        }
    }
    for p in persist.partitions() {
        let name = partition_name(p.start);
        let wanted = expected.remove(&p.start);
        match p.state {
            PartitionState::Sealed { digest } => {
                v.partitions_verified += 1;
                match crate::compact::seal::digest(persist, p.start) {
                    Err(e) => v.partition_problems.push(format!("partition {name}: cannot be read: {e}")),
                    Ok(found) if found != digest => v.partition_problems.push(format!(
                        "partition {name}: content SHA-256 {} does not match its sealed digest {}: the data was modified",
                        hex(&found),
                        hex(&digest)
                    )),
                    Ok(_) => {}
                }
                match wanted {
                    None => v.partition_problems.push(format!("sealed partition {name} is not in the manifest")),
                    Some(w) if w.digest != Some(digest) => v.partition_problems.push(format!(
                        "partition {name}: sealed digest {} differs from the one the manifest recorded at seq {}",
                        hex(&digest),
                        w.seq
                    )),
                    Some(_) => {}
                }
            }
            PartitionState::Rewriting => v.partition_problems.push(format!(
                "partition {name} is being rewritten (a crash interrupted it): start the store once to finish it, then verify again"
            )),
            PartitionState::Open | PartitionState::Sealing => {
                if let Some(w) = wanted {
                    v.partition_problems.push(format!(
                        "partition {name} is open in the database but the manifest sealed it at seq {}",
                        w.seq
                    ));
                }
            }
        }
    }
    for (start, w) in expected {
        v.partition_problems.push(format!(
            "partition {} (sealed at manifest seq {}) is missing from the database and the manifest records no drop: it was deleted outside retention",
            partition_name(start),
            w.seq
        ));
    }
}

/// `chunks_<start> (<start as RFC 3339>)`.
fn partition_name(start: i64) -> String {
    let at = u64::try_from(start)
        .map(|ms| {
            humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
        })
        .unwrap_or_else(|_| format!("{start} ms"));
    format!("chunks_{start} ({at})")
}
