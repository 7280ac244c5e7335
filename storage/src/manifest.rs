//! The manifest: an append-only, hash-chained record of every change to
//! stored data that is not an append — partitions sealed, dropped by
//! retention, a tenant's data removed by per-tenant retention, delete-series
//! requests, and sealed partitions rewritten to apply them. Format (versioned)
//! in `storage/docs/format/manifest.md`: `DATA_DIR/manifest.jsonl`, one JSON
//! object per line.
//!
//! Invariants:
//! - `seq` counts from 1 without gaps; `prev` is the SHA-256 (hex) of the
//!   previous line's bytes (without its newline), 64 zeros for the first.
//!   An edited, removed or reordered line therefore breaks the chain there.
//! - Write-ahead: an entry is written and fsynced *before* the change it
//!   records is applied to RocksDB. The change and the new head (`seq` and
//!   SHA-256 of the last line) are then written to RocksDB in one batch, so
//!   RocksDB always holds the head of the last *applied* entry.
//! - Recovery at open ([`Manifest::open`]) reconciles a crash between the
//!   two: entries after the head recorded in RocksDB are returned for the
//!   engine to apply again (every change is idempotent); a line cut by the
//!   crash (no newline) is removed only when RocksDB never recorded it. A
//!   file that ends before the recorded head, or whose entry at the recorded
//!   `seq` has another hash, was truncated or edited: open refuses it.
//!
//! The head is logged at every append; an outside party pins it and later
//! checks with `rampart verify --expect-head SEQ:SHA256` that the chain
//! still extends it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::matcher::{MatchKind, Matcher};
use crate::persist::keys::hex;

/// File name of the manifest in the data directory.
pub const FILE_NAME: &str = "manifest.jsonl";
/// Entry format version written in every entry's `v`.
pub const VERSION: u32 = 1;
/// `prev` of the first entry.
const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The position an outside party pins: the last entry's `seq` and the
/// SHA-256 of its line. Written `SEQ:SHA256HEX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestHead {
    /// Sequence number of the last entry.
    pub seq: u64,
    /// SHA-256 of the last entry's line.
    pub sha256: [u8; 32],
}

impl ManifestHead {
    /// Binary form kept in RocksDB: `seq` big-endian, then the hash.
    pub(crate) fn encode(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..].copy_from_slice(&self.sha256);
        b
    }

    /// Inverse of [`ManifestHead::encode`].
    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        let seq = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let sha256 = b.get(8..)?.try_into().ok()?;
        Some(Self { seq, sha256 })
    }
}

impl fmt::Display for ManifestHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, hex(&self.sha256))
    }
}

impl FromStr for ManifestHead {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("manifest head {s:?} is not SEQ:SHA256 (a number, a colon, 64 hex digits)");
        let (seq, hash) = s.split_once(':').ok_or_else(bad)?;
        Ok(Self { seq: seq.parse().map_err(|_| bad())?, sha256: parse_sha256(hash).ok_or_else(bad)? })
    }
}

/// 64 hex digits as 32 bytes.
pub(crate) fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A label matcher as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatcherSpec {
    /// Label name.
    pub name: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: String,
    /// Value or pattern.
    pub value: String,
}

impl From<&Matcher> for MatcherSpec {
    fn from(m: &Matcher) -> Self {
        let op = match m.kind {
            MatchKind::Equal => "=",
            MatchKind::NotEqual => "!=",
            MatchKind::Regex => "=~",
            MatchKind::NotRegex => "!~",
        };
        Self { name: m.name.clone(), op: op.into(), value: m.value.clone() }
    }
}

impl MatcherSpec {
    /// The matcher again (applying a recorded delete after a crash).
    pub fn to_matcher(&self) -> Result<Matcher> {
        let kind = match self.op.as_str() {
            "=" => MatchKind::Equal,
            "!=" => MatchKind::NotEqual,
            "=~" => MatchKind::Regex,
            "!~" => MatchKind::NotRegex,
            _ => {
                return Err(Error::Corrupt {
                    what: "manifest matcher",
                    location: format!("{}{}{:?}", self.name, self.op, self.value),
                    detail: "unknown operator",
                })
            }
        };
        Matcher::new(kind, self.name.clone(), self.value.clone())
    }
}

/// What an entry records. Times are milliseconds since the epoch;
/// partitions are named by their start, `end` is exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A partition became immutable with this content digest (hex).
    PartitionSealed {
        /// Partition start.
        start: i64,
        /// Partition end.
        end: i64,
        /// SHA-256 over the partition's keys and values.
        digest: String,
    },
    /// Retention dropped a whole partition: every tenant's data in it was
    /// past that tenant's cut-off.
    PartitionDropped {
        /// Partition start.
        start: i64,
        /// Partition end.
        end: i64,
        /// The cut-off that expired the partition (the smallest of its
        /// tenants' cut-offs).
        cutoff: i64,
    },
    /// Per-tenant retention removed one tenant's chunks from a partition.
    TenantRemoved {
        /// Tenant name.
        tenant: String,
        /// Partition start.
        start: i64,
        /// Partition end.
        end: i64,
        /// The tenant's cut-off.
        cutoff: i64,
    },
    /// A delete-series request: every sample of every matching series of
    /// `tenant` with `start <= t <= end`.
    SeriesDeleted {
        /// Tenant name.
        tenant: String,
        /// Series selector.
        matchers: Vec<MatcherSpec>,
        /// First deleted time (inclusive).
        start: i64,
        /// Last deleted time (inclusive).
        end: i64,
        /// Who asked.
        requested_by: String,
    },
    /// Compaction rewrote a sealed partition to apply deletions or tenant
    /// retention; `digest` replaces its previous one.
    PartitionRewritten {
        /// Partition start.
        start: i64,
        /// Partition end.
        end: i64,
        /// New content digest (hex).
        digest: String,
        /// `seq` of the entries whose changes the rewrite applied.
        causes: Vec<u64>,
    },
}

/// One line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When it was written, RFC 3339 UTC.
    pub time: String,
    /// SHA-256 (hex) of the previous line.
    pub prev: String,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
}

/// What reading a manifest file found.
#[derive(Debug, Default)]
pub struct Chain {
    /// Entries that parsed, in file order.
    pub entries: Vec<Entry>,
    /// Hash of each entry's line, parallel to `entries`.
    pub hashes: Vec<[u8; 32]>,
    /// Every break, naming the line and what is wrong.
    pub problems: Vec<String>,
    /// Bytes of a last line without its newline (a write cut short), and
    /// where it starts.
    pub torn_tail: Option<(u64, usize)>,
}

impl Chain {
    /// Reads and checks the chain in `path`; a missing file is an empty chain.
    pub fn read(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Self::parse(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io("read manifest", path)(e)),
        }
    }

    /// Checks every line: JSON, version, `seq` consecutive from 1, `prev`
    /// equal to the hash of the line before.
    pub fn parse(bytes: &[u8]) -> Self {
        let mut chain = Self::default();
        let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete_len < bytes.len() {
            chain.torn_tail = Some((complete_len as u64, bytes.len() - complete_len));
        }
        let mut expected_seq = 1u64;
        let mut prev_hash: Option<[u8; 32]> = None;
        for (i, line) in bytes[..complete_len].split_inclusive(|&b| b == b'\n').enumerate() {
            let line = &line[..line.len() - 1];
            let line_no = i + 1;
            let hash: [u8; 32] = Sha256::digest(line).into();
            let expected_prev = prev_hash.map_or_else(|| GENESIS_PREV.to_owned(), |h| hex(&h));
            prev_hash = Some(hash);
            let entry: Entry = match serde_json::from_slice(line) {
                Ok(e) => e,
                Err(e) => {
                    chain.problems.push(format!("line {line_no}: not a manifest entry: {e}"));
                    expected_seq += 1;
                    continue;
                }
            };
            if entry.v != VERSION {
                chain
                    .problems
                    .push(format!("line {line_no}: entry version {} (this build reads version {VERSION})", entry.v));
            }
            if entry.seq != expected_seq {
                chain.problems.push(format!(
                    "line {line_no}: seq {} where {expected_seq} was expected: entries were removed, inserted or reordered",
                    entry.seq
                ));
            }
            if entry.prev != expected_prev {
                chain.problems.push(format!(
                    "line {line_no} (seq {}): prev does not match the SHA-256 of the line before: the chain is broken here (edited, removed or reordered entries)",
                    entry.seq
                ));
            }
            expected_seq = entry.seq + 1;
            chain.entries.push(entry);
            chain.hashes.push(hash);
        }
        chain
    }

    /// The last complete entry's head, if any.
    pub fn head(&self) -> Option<ManifestHead> {
        Some(ManifestHead { seq: self.entries.last()?.seq, sha256: *self.hashes.last()? })
    }

    /// Compares the chain with the head RocksDB recorded (the last applied
    /// entry): a problem when the file ends before it or holds another
    /// entry at its `seq`.
    pub fn check_recorded(&self, recorded: Option<ManifestHead>) -> Option<String> {
        let recorded = recorded?;
        match self.entries.iter().position(|e| e.seq == recorded.seq) {
            Some(i) if self.hashes[i] == recorded.sha256 => None,
            Some(_) => Some(format!(
                "entry seq {} differs from the one the database recorded (sha256 {}): the manifest was edited",
                recorded.seq,
                hex(&recorded.sha256)
            )),
            None => Some(format!(
                "the manifest ends at seq {} but the database recorded head {recorded}: the manifest was truncated or replaced",
                self.head().map_or(0, |h| h.seq)
            )),
        }
    }

    /// Entries after the recorded head, each with its own head: written,
    /// possibly not applied.
    pub fn after(&self, recorded: Option<ManifestHead>) -> Vec<(Entry, ManifestHead)> {
        let from = recorded.map_or(0, |r| r.seq);
        self.entries
            .iter()
            .zip(&self.hashes)
            .filter(|(e, _)| e.seq > from)
            .map(|(e, h)| (e.clone(), ManifestHead { seq: e.seq, sha256: *h }))
            .collect()
    }

    /// Whether the chain holds `pinned` (the pinned head is the last entry
    /// or one before it, with the same hash).
    pub fn extends(&self, pinned: ManifestHead) -> bool {
        self.entries.iter().zip(&self.hashes).any(|(e, h)| e.seq == pinned.seq && *h == pinned.sha256)
    }
}

/// The manifest of a data directory opened for appending.
pub(crate) struct Manifest {
    path: PathBuf,
    writer: Mutex<Writer>,
}

struct Writer {
    file: File,
    head: Option<ManifestHead>,
}

impl Manifest {
    /// Opens (creating) `DATA_DIR/manifest.jsonl` against the head RocksDB
    /// recorded. Returns the manifest and the entries after that head, which
    /// the caller applies again. Refuses a broken, truncated or edited chain.
    pub(crate) fn open(data_dir: &Path, recorded: Option<ManifestHead>) -> Result<(Self, Vec<(Entry, ManifestHead)>)> {
        let path = data_dir.join(FILE_NAME);
        let chain = Chain::read(&path)?;
        let refuse = |detail: String| Error::Manifest { path: path.clone(), detail };
        if let Some(p) = chain.problems.first() {
            return Err(refuse(p.clone()));
        }
        if let Some(p) = chain.check_recorded(recorded) {
            return Err(refuse(p));
        }
        let created = !path.exists();
        let file =
            OpenOptions::new().create(true).append(true).open(&path).map_err(Error::io("open manifest", &path))?;
        if let Some((offset, len)) = chain.torn_tail {
            // The cut line was never fsynced whole, so its change was never
            // applied (the recorded head is before it, checked above).
            tracing::warn!(path = %path.display(), offset, bytes = len, "manifest: removing a line cut short by a crash");
            file.set_len(offset).map_err(Error::io("truncate manifest", &path))?;
            file.sync_all().map_err(Error::io("sync manifest", &path))?;
        }
        if created {
            sync_dir(data_dir)?;
        }
        let pending = chain.after(recorded);
        let head = chain.head();
        Ok((Self { path, writer: Mutex::new(Writer { file, head }) }, pending))
    }

    /// The last entry's head, `None` while the manifest is empty.
    pub(crate) fn head(&self) -> Option<ManifestHead> {
        self.writer.lock().head
    }

    /// Appends an entry for `change` and fsyncs it; returns the new head,
    /// which the caller writes to RocksDB together with the change.
    pub(crate) fn append(&self, change: Change) -> Result<ManifestHead> {
        let mut w = self.writer.lock();
        let entry = Entry {
            v: VERSION,
            seq: w.head.map_or(1, |h| h.seq + 1),
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            prev: w.head.map_or_else(|| GENESIS_PREV.to_owned(), |h| hex(&h.sha256)),
            change,
        };
        let line = serde_json::to_vec(&entry)
            .map_err(|e| Error::Manifest { path: self.path.clone(), detail: format!("encoding entry: {e}") })?;
        let head = ManifestHead { seq: entry.seq, sha256: Sha256::digest(&line).into() };
        let mut buf = line;
        buf.push(b'\n');
        w.file.write_all(&buf).map_err(Error::io("append to manifest", &self.path))?;
        w.file.sync_data().map_err(Error::io("sync manifest", &self.path))?;
        w.head = Some(head);
        tracing::info!(seq = head.seq, sha256 = %hex(&head.sha256), head = %head, change = ?entry.change, "manifest appended");
        Ok(head)
    }
}

/// Makes a new file's directory entry durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(start: i64) -> Change {
        Change::PartitionSealed { start, end: start + 10, digest: "ab".repeat(32) }
    }

    fn written(dir: &Path, n: i64) -> Vec<u8> {
        let (m, pending) = Manifest::open(dir, None).expect("open");
        assert!(pending.is_empty());
        for i in 0..n {
            m.append(sealed(i * 10)).expect("append");
        }
        std::fs::read(dir.join(FILE_NAME)).expect("read")
    }

    fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
    }

    fn join(lines: &[Vec<u8>]) -> Vec<u8> {
        lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
    }

    #[test]
    fn appends_chain_and_survive_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let bytes = written(dir.path(), 3);
        let chain = Chain::parse(&bytes);
        assert!(chain.problems.is_empty(), "{:?}", chain.problems);
        assert_eq!(chain.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(chain.entries[0].prev, GENESIS_PREV);
        assert_eq!(chain.entries[1].prev, hex(&chain.hashes[0]));
        assert_eq!(chain.entries[2].change, sealed(20));
        let head = chain.head().expect("head");
        let (m, pending) = Manifest::open(dir.path(), Some(head)).expect("reopen");
        assert!(pending.is_empty());
        assert_eq!(m.head(), Some(head));
        let next = m.append(sealed(30)).expect("append after reopen");
        assert_eq!(next.seq, 4);
        let chain = Chain::read(&dir.path().join(FILE_NAME)).expect("read");
        assert!(chain.problems.is_empty(), "{:?}", chain.problems);
        assert!(chain.extends(head) && chain.extends(next));
        assert_eq!(head.to_string().parse::<ManifestHead>(), Ok(head));
        assert_eq!(ManifestHead::decode(&head.encode()), Some(head));
    }

    #[test]
    fn entries_after_the_recorded_head_are_returned_for_recovery() {
        let dir = tempfile::tempdir().expect("tmp");
        let bytes = written(dir.path(), 3);
        let chain = Chain::parse(&bytes);
        let recorded = ManifestHead { seq: 2, sha256: chain.hashes[1] };
        let (_, pending) = Manifest::open(dir.path(), Some(recorded)).expect("open");
        assert_eq!(pending.iter().map(|(e, h)| (e.seq, h.sha256)).collect::<Vec<_>>(), vec![(3, chain.hashes[2])]);
    }

    #[test]
    fn each_kind_of_break_is_detected() {
        let dir = tempfile::tempdir().expect("tmp");
        let bytes = written(dir.path(), 4);
        let good = lines(&bytes);

        let mut reordered = good.clone();
        reordered.swap(1, 2);
        let p = Chain::parse(&join(&reordered)).problems;
        assert!(p.iter().any(|p| p.contains("line 2: seq 3 where 2 was expected")), "{p:?}");

        let mut removed = good.clone();
        removed.remove(1);
        let p = Chain::parse(&join(&removed)).problems;
        assert!(p.iter().any(|p| p.contains("line 2: seq 3")), "{p:?}");

        let mut edited = good.clone();
        edited[1] = String::from_utf8(edited[1].clone()).expect("utf-8").replace("\"start\":10", "\"start\":11").into();
        let p = Chain::parse(&join(&edited)).problems;
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("line 3 (seq 3): prev does not match"), "{p:?}");

        let mut garbage = good.clone();
        garbage[0] = b"{not json".to_vec();
        assert!(Chain::parse(&join(&garbage)).problems[0].starts_with("line 1: not a manifest entry"));

        let full = join(&good);
        let cut = &full[..full.len() - 7];
        let chain = Chain::parse(cut);
        assert!(chain.problems.is_empty());
        assert_eq!(chain.torn_tail.map(|(_, len)| len), Some(good[3].len() - 6));
        let recorded = Chain::parse(&full).head();
        let truncated = chain.check_recorded(recorded).expect("truncation detected");
        assert!(truncated.contains("ends at seq 3"), "{truncated}");
        let whole_lines_cut = Chain::parse(&join(&good[..2]));
        assert!(whole_lines_cut.check_recorded(recorded).is_some());
    }

    #[test]
    fn open_refuses_a_truncated_manifest_and_repairs_a_torn_unapplied_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let bytes = written(dir.path(), 3);
        let chain = Chain::parse(&bytes);
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, &bytes[..bytes.len() - 5]).expect("cut");
        let err = Manifest::open(dir.path(), chain.head()).err().expect("truncation refused");
        assert!(err.to_string().contains("truncated"), "{err}");
        // The database recorded only seq 2: the torn seq 3 was never applied.
        let recorded = ManifestHead { seq: 2, sha256: chain.hashes[1] };
        let (m, pending) = Manifest::open(dir.path(), Some(recorded)).expect("repaired");
        assert!(pending.is_empty());
        assert_eq!(m.append(sealed(99)).expect("append").seq, 3);
        assert!(Chain::read(&path).expect("read").problems.is_empty());
    }

    #[test]
    fn matchers_round_trip() {
        for kind in [MatchKind::Equal, MatchKind::NotEqual, MatchKind::Regex, MatchKind::NotRegex] {
            let m = Matcher::new(kind, "job", "a.*").expect("matcher");
            let back = MatcherSpec::from(&m).to_matcher().expect("round trip");
            assert_eq!((back.kind, back.name, back.value), (kind, "job".to_owned(), "a.*".to_owned()));
        }
    }
}
