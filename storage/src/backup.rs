//! [`Db::backup`]: a consistent copy of the data directory, taken while
//! appends keep running, that opens as a data directory of its own.
//!
//! A backup directory holds, in the order they are written:
//!
//! 1. `db/`: a RocksDB checkpoint (hard links to the immutable SST files
//!    where the destination is on the same filesystem, copies otherwise);
//! 2. `wal/`: copies of the WAL segments and head checkpoints;
//! 3. every other file of the data directory (`ha_tracker.json`,
//!    `manifest.jsonl`, `audit/`, ...), copied as it is, except that JSON-lines
//!    files (`*.jsonl`) are copied only up to their last complete line;
//! 4. `BACKUP.json` ([`BackupSummary`]), written last and atomically: a
//!    backup directory without it is incomplete and must not be used.
//!
//! Why this is consistent: the whole backup runs under `Db::flush_lock`, so
//! no head flush or compaction runs. Those are the only writers of chunks and
//! of the checkpoint marker in RocksDB, and the only deleters of WAL segments
//! and head checkpoints. The RocksDB checkpoint therefore holds the chunks
//! that the newest head checkpoint's marker promises, and every WAL segment
//! from that checkpoint on still exists when it is copied. Appends only add
//! records at the end of the newest segment (or start a new one, which the
//! copy does not need: its records were acknowledged after the listing); a
//! copy that ends inside a record is cut back to the last whole record when
//! the backup is opened (WAL repair, `docs/format/wal.md`). Index entries
//! written between the RocksDB checkpoint and the WAL copy are re-created by
//! WAL replay, since the WAL copy is taken after the checkpoint.
//!
//! WAL files are copied, never hard-linked: opening the backup repairs and
//! appends to them, which must not touch the source.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::db::{dir_size, Db};
use crate::error::{Error, Result};
use crate::wal::segment::parse_segment_file_name;

/// Format identifier stored in `BACKUP.json`'s `format`.
pub const BACKUP_FORMAT: &str = "rampart-backup/1";

/// Name of the file that marks a backup directory complete.
pub const BACKUP_MANIFEST: &str = "BACKUP.json";

/// Entries of the data directory that are not copied as plain files: the
/// engine's own directories (copied their own way) and a previous backup's
/// manifest (the new one is written last).
const SPECIAL_ENTRIES: [&str; 3] = ["db", "wal", BACKUP_MANIFEST];

/// Block size when searching a JSON-lines file backwards for its last newline.
const TAIL_SCAN_BLOCK: u64 = 64 << 10;

/// What a backup holds. Written to `BACKUP.json` in the backup directory as
/// its last step, and returned by [`Db::backup`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    /// [`BACKUP_FORMAT`].
    pub format: String,
    /// Storage format of the RocksDB part (`persist::FORMAT`).
    pub storage_format: String,
    /// The data directory backed up.
    pub source: PathBuf,
    /// The backup directory.
    pub destination: PathBuf,
    /// When the backup started, milliseconds since the Unix epoch.
    pub started_unix_ms: i64,
    /// When it finished (just before `BACKUP.json` was written).
    pub finished_unix_ms: i64,
    /// RocksDB's sequence number just before its checkpoint: the checkpoint
    /// holds at least every RocksDB write up to it.
    pub rocksdb_sequence: u64,
    /// The head checkpoint the backup starts its WAL replay from (the WAL
    /// segment it was cut at), if one was written yet.
    pub wal_checkpoint: Option<u64>,
    /// WAL segments copied.
    pub wal_segments: u64,
    /// Bytes of the RocksDB checkpoint (hard-linked files count in full).
    pub db_bytes: u64,
    /// Bytes of the WAL copy (segments and head checkpoints).
    pub wal_bytes: u64,
    /// Other files copied.
    pub other_files: u64,
    /// Bytes of the other files copied.
    pub other_bytes: u64,
    /// Bytes of incomplete last lines of JSON-lines files left out.
    pub partial_line_bytes_left_out: u64,
}

/// Sizes of a directory tree copy.
#[derive(Default)]
struct CopyTotals {
    files: u64,
    bytes: u64,
    partial_line_bytes: u64,
}

impl Db {
    /// Writes a consistent backup of the data directory to `dest`, which must
    /// not exist or be an empty directory outside the data directory.
    /// Appends continue meanwhile; head flushes and compactions wait until
    /// the backup is done. The backup is a data directory: a store started on
    /// it serves every sample acknowledged before the backup started.
    pub fn backup(&self, dest: &Path) -> Result<BackupSummary> {
        if self.opts.read_only {
            return Err(Error::ReadOnly);
        }
        let source = fs::canonicalize(&self.opts.data_dir).map_err(Error::io("resolve", &self.opts.data_dir))?;
        let dest = prepare_destination(&source, dest)?;
        let started = Instant::now();
        let started_unix_ms = unix_ms();
        tracing::info!(source = %source.display(), destination = %dest.display(), "backup started");

        let _flush = self.flush_lock.lock();

        let rocks = self.persist.rocks();
        let rocksdb_sequence = rocks.latest_sequence_number();
        let db_dest = dest.join("db");
        rocksdb::checkpoint::Checkpoint::new(rocks)
            .and_then(|c| c.create_checkpoint(&db_dest))
            .map_err(Error::rocks("checkpoint for backup"))?;
        let db_bytes = dir_size(&db_dest);
        tracing::info!(bytes = db_bytes, sequence = rocksdb_sequence, "backup: rocksdb checkpoint written");

        let wal_checkpoint = checkpoint::latest(&self.wal_dir)?.map(|(segment, _)| segment);
        let wal_dest = dest.join("wal");
        let wal = copy_tree(&self.wal_dir, &wal_dest, &[])?;
        let wal_segments = count_segments(&wal_dest)?;
        tracing::info!(segments = wal_segments, bytes = wal.bytes, checkpoint = ?wal_checkpoint, "backup: wal copied");

        let other = copy_tree(&source, &dest, &SPECIAL_ENTRIES)?;
        tracing::info!(
            files = other.files,
            bytes = other.bytes,
            partial_line_bytes_left_out = other.partial_line_bytes,
            "backup: other files copied"
        );

        let summary = BackupSummary {
            format: BACKUP_FORMAT.to_owned(),
            storage_format: crate::persist::FORMAT.to_owned(),
            source,
            destination: dest.clone(),
            started_unix_ms,
            finished_unix_ms: unix_ms(),
            rocksdb_sequence,
            wal_checkpoint,
            wal_segments,
            db_bytes,
            wal_bytes: wal.bytes,
            other_files: other.files,
            other_bytes: other.bytes,
            partial_line_bytes_left_out: other.partial_line_bytes,
        };
        write_manifest(&dest, &summary)?;
        tracing::info!(
            destination = %dest.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "backup finished"
        );
        Ok(summary)
    }
}

/// Creates `dest` (or accepts it when it is an empty directory) and returns
/// its canonical path. Refuses anything a backup could overwrite or that
/// lies inside the data directory (the copy would copy itself), before
/// creating anything.
fn prepare_destination(source: &Path, dest: &Path) -> Result<PathBuf> {
    let refuse = |problem: &'static str| Error::BackupDestination { path: dest.to_owned(), problem };
    if resolve_existing_prefix(dest)?.starts_with(source) {
        return Err(refuse("is inside the data directory being backed up: choose a directory outside it"));
    }
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(refuse("is not empty: give a new or empty directory (a backup never overwrites files)"));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(Error::io("create backup directory", dest))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(refuse("exists and is not a directory: give a new or empty directory"))
        }
        Err(e) => return Err(Error::io("read backup directory", dest)(e)),
    }
    fs::canonicalize(dest).map_err(Error::io("resolve", dest))
}

/// `path` with its longest existing prefix resolved (symbolic links, `..`)
/// and the rest appended as given.
fn resolve_existing_prefix(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path).map_err(Error::io("resolve", path))?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        match fs::canonicalize(existing) {
            Ok(resolved) => return Ok(rest.iter().rev().fold(resolved, |p, c| p.join(c))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("resolve", existing)(e)),
        }
        let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
            return Ok(absolute);
        };
        rest.push(name);
        existing = parent;
    }
}

/// Copies the regular files under `from` to `to` (created), recursively,
/// skipping top-level entries named in `skip`, and fsyncs what it wrote.
/// JSON-lines files are cut after their last complete line. Files that
/// vanish while the copy runs (renamed temporary files) are skipped;
/// sockets and other special files are not copied.
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<CopyTotals> {
    let mut totals = CopyTotals::default();
    fs::create_dir_all(to).map_err(Error::io("create directory", to))?;
    let skipped = |e: &walkdir::DirEntry| e.depth() == 1 && skip.iter().any(|s| e.file_name() == *s);
    for entry in walkdir::WalkDir::new(from).min_depth(1).sort_by_file_name().into_iter().filter_entry(|e| !skipped(e))
    {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(from).to_owned();
            Error::io("list", path)(e.into())
        })?;
        let rel = entry.path().strip_prefix(from).expect("walkdir yields paths under its root");
        let target = to.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            fs::create_dir_all(&target).map_err(Error::io("create directory", &target))?;
        } else if kind.is_file() {
            match copy_file(entry.path(), &target)? {
                Some((bytes, left_out)) => {
                    totals.files += 1;
                    totals.bytes += bytes;
                    totals.partial_line_bytes += left_out;
                }
                None => tracing::debug!(path = %entry.path().display(), "backup: file vanished during the copy"),
            }
        } else {
            tracing::debug!(path = %entry.path().display(), "backup: not a regular file, not copied");
        }
    }
    sync_dirs(to)?;
    Ok(totals)
}

/// Copies one file and fsyncs the copy; a `*.jsonl` file only up to its last
/// complete line. Returns the bytes copied and the bytes left out, or `None`
/// when the source no longer exists.
fn copy_file(from: &Path, to: &Path) -> Result<Option<(u64, u64)>> {
    let mut src = match File::open(from) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", from)(e)),
    };
    let len = src.metadata().map_err(Error::io("stat", from))?.len();
    let keep = if from.extension().is_some_and(|e| e == "jsonl") {
        complete_lines_len(&mut src, len).map_err(Error::io("read", from))?
    } else {
        len
    };
    src.seek(SeekFrom::Start(0)).map_err(Error::io("read", from))?;
    let mut dst = File::create(to).map_err(Error::io("create", to))?;
    let copied = io::copy(&mut (&mut src).take(keep), &mut dst).map_err(Error::io("copy to", to))?;
    dst.sync_all().map_err(Error::io("fsync", to))?;
    Ok(Some((copied, len - keep)))
}

/// Length of the prefix of the first `len` bytes of `f` that ends with a
/// newline (0 when there is none).
fn complete_lines_len(f: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; TAIL_SCAN_BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(TAIL_SCAN_BLOCK);
        let block = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(block)?;
        if let Some(i) = block.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Fsyncs `dir` and every directory below it, so the new entries are durable.
fn sync_dirs(dir: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.map_err(|e| Error::io("list", dir)(e.into()))?;
        if entry.file_type().is_dir() {
            File::open(entry.path()).and_then(|d| d.sync_all()).map_err(Error::io("fsync", entry.path()))?;
        }
    }
    Ok(())
}

/// Number of WAL segment files in `wal_dir`.
fn count_segments(wal_dir: &Path) -> Result<u64> {
    let mut n = 0;
    for entry in fs::read_dir(wal_dir).map_err(Error::io("list", wal_dir))? {
        let entry = entry.map_err(Error::io("list", wal_dir))?;
        if entry.file_name().to_str().and_then(parse_segment_file_name).is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Writes `BACKUP.json` atomically (temporary file, fsync, rename, directory
/// fsync): once it exists, the backup is complete.
fn write_manifest(dest: &Path, summary: &BackupSummary) -> Result<()> {
    let path = dest.join(BACKUP_MANIFEST);
    let tmp = dest.join(format!("{BACKUP_MANIFEST}.tmp"));
    let mut text = serde_json::to_vec_pretty(summary).expect("a backup summary always serializes");
    text.push(b'\n');
    let mut f = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    f.write_all(&text).map_err(Error::io("write", &tmp))?;
    f.sync_all().map_err(Error::io("fsync", &tmp))?;
    fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
    File::open(dest).and_then(|d| d.sync_all()).map_err(Error::io("fsync", dest))
}

fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AppendBatch, Labels, MatchKind, Matcher, Options, Sample};

    const HOUR: i64 = 3_600_000;

    fn options(dir: &Path) -> Options {
        let mut o = Options::new(dir);
        o.partition_duration = std::time::Duration::from_millis(HOUR as u64);
        o.retention = std::time::Duration::ZERO;
        o
    }

    fn append(db: &Db, job: &str, samples: &[Sample]) {
        let mut b = AppendBatch::new();
        b.push(Labels::from_pairs([("__name__", "up"), ("job", job)]).pairs(), samples, []);
        let r = db.append("default", &b, 10 * HOUR).expect("append");
        assert!(r.rejections.is_empty(), "{:?}", r.rejections);
    }

    fn read_all(db: &Db) -> Vec<(String, Vec<(i64, u64)>)> {
        db.querier("default", i64::MIN, i64::MAX)
            .select(&[Matcher::new(MatchKind::Regex, "__name__", ".+").expect("matcher")])
            .expect("select")
            .into_iter()
            .map(|s| {
                let samples = s.samples().expect("samples").iter().map(|x| (x.t, x.v.to_bits())).collect();
                (format!("{:?}", s.labels), samples)
            })
            .collect()
    }

    fn samples(from: i64, n: i64) -> Vec<Sample> {
        (from..from + n).map(|i| Sample::new(i * 15_000, i as f64 * 0.25)).collect()
    }

    #[test]
    fn a_backup_opens_with_flushed_and_wal_data_and_cut_json_lines() {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("data");
        let db = Db::open(options(&data)).expect("open");
        append(&db, "flushed", &samples(0, 200));
        db.flush_head(true).expect("flush");
        append(&db, "flushed", &samples(200, 10));
        append(&db, "head", &samples(0, 50));
        fs::create_dir_all(data.join("audit")).expect("audit dir");
        fs::write(data.join("audit/audit-1.jsonl"), "{\"a\":1}\n{\"a\":2}\n{\"a\":").expect("audit");
        fs::write(data.join("ha_tracker.json"), "{\"x\":1}").expect("ha");
        fs::write(data.join(BACKUP_MANIFEST), "{}").expect("old manifest");

        let dest = dir.path().join("backup");
        let summary = db.backup(&dest).expect("backup");
        assert_eq!(summary.format, BACKUP_FORMAT);
        assert!(summary.wal_checkpoint.is_some(), "{summary:?}");
        assert!(summary.wal_segments >= 1 && summary.db_bytes > 0, "{summary:?}");
        // The audit file, ha_tracker.json and the engine's manifest.jsonl.
        assert_eq!(summary.other_files, 3, "{summary:?}");
        assert!(dest.join(crate::manifest::FILE_NAME).exists(), "the manifest is backed up");
        assert_eq!(summary.partial_line_bytes_left_out, 5);
        assert_eq!(fs::read_to_string(dest.join("audit/audit-1.jsonl")).expect("copy"), "{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(fs::read_to_string(dest.join("ha_tracker.json")).expect("copy"), "{\"x\":1}");
        let manifest: BackupSummary =
            serde_json::from_slice(&fs::read(dest.join(BACKUP_MANIFEST)).expect("manifest")).expect("parse");
        assert_eq!(manifest, summary);

        let want = read_all(&db);
        assert_eq!(want.len(), 2);
        let restored = Db::open(options(&dest)).expect("open the backup");
        assert_eq!(read_all(&restored), want);
    }

    #[test]
    fn a_torn_last_wal_record_in_a_backup_is_cut_at_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("data");
        let db = Db::open(options(&data)).expect("open");
        append(&db, "a", &samples(0, 20));
        let dest = dir.path().join("backup");
        db.backup(&dest).expect("backup");
        let want = read_all(&db);
        // What a copy racing an append can see: a record frame whose payload
        // has not been written yet.
        let wal = dest.join("wal");
        let newest = fs::read_dir(&wal)
            .expect("list")
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(parse_segment_file_name))
            .max()
            .expect("a segment");
        let segment = wal.join(crate::wal::segment::segment_file_name(newest));
        let mut f = fs::OpenOptions::new().append(true).open(&segment).expect("open segment");
        f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9]).expect("torn frame");
        drop(f);
        let restored = Db::open(options(&dest)).expect("open the backup");
        assert_eq!(read_all(&restored), want);
        assert_eq!(restored.metrics().wal_bytes_dropped.load(std::sync::atomic::Ordering::Relaxed), 10);
    }

    #[test]
    fn unusable_destinations_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("data");
        let db = Db::open(options(&data)).expect("open");
        let full = dir.path().join("full");
        fs::create_dir_all(&full).expect("dir");
        fs::write(full.join("keep.txt"), "mine").expect("file");
        let err = db.backup(&full).expect_err("non-empty destination").to_string();
        assert!(err.contains("is not empty"), "{err}");
        assert_eq!(fs::read_dir(&full).expect("list").count(), 1);

        let inside = data.join("backups/one");
        let err = db.backup(&inside).expect_err("destination inside the data directory").to_string();
        assert!(err.contains("inside the data directory"), "{err}");
        assert!(!inside.exists());

        let file = dir.path().join("file");
        fs::write(&file, "x").expect("file");
        let err = db.backup(&file).expect_err("a file").to_string();
        assert!(err.contains("not a directory"), "{err}");

        let empty = dir.path().join("empty");
        fs::create_dir_all(&empty).expect("dir");
        db.backup(&empty).expect("an empty directory is fine");
        assert!(empty.join(BACKUP_MANIFEST).exists());
    }
}
