//! The write-ahead log: a directory of numbered segment files holding opaque
//! byte records, with group commit, an fsync policy and torn-tail repair.
//!
//! The WAL does not know what its records mean (`crate::record` defines the
//! engine's record types; the relay's disk queue will store its own). Framing
//! lives in [`segment`]; the byte format and the repair rules are documented
//! in `storage/docs/format/wal.md`.
//!
//! Invariants:
//! - Segment ids are consecutive; a new segment's id is one more than the
//!   newest. Only [`Wal::truncate_before`] (oldest first) and repair in
//!   [`Wal::open`] (newest first) delete segments, so deletions never open a
//!   gap in the middle of the log.
//! - After [`Wal::open`] every segment on disk ends exactly after its last
//!   valid record, and writing continues in a new segment: nothing is ever
//!   appended after a repaired tail.
//! - Records are written in the order their [`Wal::append`] calls took the
//!   commit lock; a record's `append` returns only after its bytes were handed
//!   to the operating system (and, under [`FsyncPolicy::Always`], synced).
//! - A record never spans segments; a segment exceeds `segment_size` only
//!   when a single group-commit batch is larger than that.
//! - After a failed fsync (or a failed rollback of a partial write) the WAL
//!   is poisoned and refuses further writes: what reached the disk is unknown
//!   until [`Wal::open`] re-reads it.
//!
//! Locks: `commit` (pending buffer, generations) is never held while
//! `writer` (the active file) is locked by the group-commit leader; the
//! leader takes `writer` with `commit` released. Other methods take only
//! `writer`.

pub mod segment;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use segment::{check_header, check_payload, encode_checked, parse_segment_file_name};
use segment::{segment_file_name, segment_header};
pub use segment::{
    FrameError, HeaderProblem, SegmentId, SegmentReader, StopReason, FORMAT_VERSION, MAX_RECORD_SIZE,
    RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC,
};

/// Default [`WalOptions::segment_size`]: 128 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;

/// Capacity above which a drained group-commit buffer is shrunk back, so one
/// burst of large records does not pin memory for the life of the WAL.
const SPARE_BUFFER_CAPACITY: usize = 4 << 20;

/// How often [`replay`] logs its progress at `info` level.
const REPLAY_PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Records between two clock reads while replaying a segment.
const REPLAY_PROGRESS_CHECK_RECORDS: u64 = 1 << 16;

/// Header length as a file offset.
const HEADER_LEN: u64 = SEGMENT_HEADER_LEN as u64;

/// Callback receiving the latency of every WAL fsync (e.g. to feed a
/// histogram). It runs on the syncing thread and must not panic.
pub type FsyncHook = Arc<dyn Fn(Duration) + Send + Sync>;

/// When appended records are fsynced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every group commit is fsynced before its callers return. An
    /// acknowledged record survives a machine crash.
    #[default]
    Always,
    /// A background thread fsyncs the active segment this often; appends do
    /// not wait for it. A crash loses at most about one interval. A zero
    /// interval behaves like [`FsyncPolicy::Always`].
    Interval(Duration),
    /// Never fsync appends; the operating system writes back when it likes.
    /// A process crash loses nothing, a machine crash may lose anything
    /// not yet written back. Segments are still fsynced when closed.
    Never,
}

/// Options of a [`Wal`].
#[derive(Clone)]
pub struct WalOptions {
    /// Size in bytes after which appends continue in a new segment.
    pub segment_size: u64,
    /// When appends are fsynced.
    pub fsync: FsyncPolicy,
    /// Called with the duration of every fsync of a segment.
    pub on_fsync: Option<FsyncHook>,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self { segment_size: DEFAULT_SEGMENT_SIZE, fsync: FsyncPolicy::Always, on_fsync: None }
    }
}

impl fmt::Debug for WalOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalOptions")
            .field("segment_size", &self.segment_size)
            .field("fsync", &self.fsync)
            .field("on_fsync", &self.on_fsync.as_ref().map(|_| "Fn(Duration)"))
            .finish()
    }
}

/// Everything that can fail in the WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// A file or directory operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Writing a group-commit batch failed; the batch was rolled back.
    #[error("write to wal segment {path} at offset {offset}: {source}")]
    Write {
        /// The segment file.
        path: PathBuf,
        /// The segment.
        segment: SegmentId,
        /// Where the batch was to start.
        offset: u64,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An fsync failed; the WAL is poisoned.
    #[error("fsync of wal segment {path}: {source}")]
    Sync {
        /// The segment file.
        path: PathBuf,
        /// The segment.
        segment: SegmentId,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An earlier fsync or rollback failed, so what is on disk is unknown.
    #[error("wal is unusable after a failed fsync or rollback of segment {segment:08}: restart to repair it")]
    Poisoned {
        /// The segment whose fsync or rollback failed.
        segment: SegmentId,
    },
    /// The record cannot be framed (empty or too large).
    #[error("invalid wal record: {0}")]
    Record(#[from] FrameError),
    /// A file named like a segment does not start with [`SEGMENT_MAGIC`].
    #[error("{path} is not a rampart wal segment (magic {found:02x?}): move it out of the wal directory")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// Its first four bytes.
        found: [u8; 4],
    },
    /// A segment has a format version this build does not read.
    #[error("wal segment {path} has format version {found}, this build reads version {supported}: use a matching rampart version")]
    UnsupportedVersion {
        /// The segment file.
        path: PathBuf,
        /// Version byte found.
        found: u8,
        /// [`FORMAT_VERSION`].
        supported: u8,
    },
    /// A segment header's reserved bytes are not zero.
    #[error("wal segment {path} has non-zero reserved header bytes {found:02x?}")]
    ReservedHeaderBytes {
        /// The segment file.
        path: PathBuf,
        /// The reserved bytes.
        found: [u8; 3],
    },
    /// Replay met a bad record (only possible if the directory changed after
    /// [`Wal::open`] repaired it).
    #[error("corrupt wal segment {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// The segment.
        segment: SegmentId,
        /// End of the last valid record.
        offset: u64,
        /// What is wrong.
        reason: StopReason,
    },
    /// A segment is missing between two others that replay needs.
    #[error("wal segment {missing:08} is missing from {dir} (segments around it exist): records after it cannot be replayed in order; move the later segments away to start without them")]
    SegmentGap {
        /// The WAL directory.
        dir: PathBuf,
        /// The first missing segment.
        missing: SegmentId,
    },
    /// No segment id is left after `last`.
    #[error("wal segment ids in {dir} are exhausted after {last}")]
    SegmentIdOverflow {
        /// The WAL directory.
        dir: PathBuf,
        /// The newest segment.
        last: SegmentId,
    },
}

impl WalError {
    fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> WalError {
        let path = path.into();
        move |source| WalError::Io { op, path, source }
    }

    /// The error of a header problem that repair must not touch; `None` for
    /// torn headers, which repair treats as empty segments.
    fn header(path: &Path, problem: HeaderProblem) -> Option<WalError> {
        let path = path.to_path_buf();
        match problem {
            HeaderProblem::Short { .. } | HeaderProblem::Zeroed => None,
            HeaderProblem::BadMagic(found) => Some(WalError::BadMagic { path, found }),
            HeaderProblem::UnsupportedVersion(found) => {
                Some(WalError::UnsupportedVersion { path, found, supported: FORMAT_VERSION })
            }
            HeaderProblem::ReservedNotZero(found) => Some(WalError::ReservedHeaderBytes { path, found }),
        }
    }

    /// A copy for the other callers of a failed group commit (OS errors are
    /// copied as kind and message).
    fn duplicate(&self) -> WalError {
        let copy_io = |e: &io::Error| io::Error::new(e.kind(), e.to_string());
        match self {
            WalError::Io { op, path, source } => WalError::Io { op, path: path.clone(), source: copy_io(source) },
            WalError::Write { path, segment, offset, source } => {
                WalError::Write { path: path.clone(), segment: *segment, offset: *offset, source: copy_io(source) }
            }
            WalError::Sync { path, segment, source } => {
                WalError::Sync { path: path.clone(), segment: *segment, source: copy_io(source) }
            }
            WalError::Poisoned { segment } => WalError::Poisoned { segment: *segment },
            WalError::Record(e) => WalError::Record(*e),
            WalError::BadMagic { path, found } => WalError::BadMagic { path: path.clone(), found: *found },
            WalError::UnsupportedVersion { path, found, supported } => {
                WalError::UnsupportedVersion { path: path.clone(), found: *found, supported: *supported }
            }
            WalError::ReservedHeaderBytes { path, found } => {
                WalError::ReservedHeaderBytes { path: path.clone(), found: *found }
            }
            WalError::Corrupt { path, segment, offset, reason } => {
                WalError::Corrupt { path: path.clone(), segment: *segment, offset: *offset, reason: *reason }
            }
            WalError::SegmentGap { dir, missing } => WalError::SegmentGap { dir: dir.clone(), missing: *missing },
            WalError::SegmentIdOverflow { dir, last } => WalError::SegmentIdOverflow { dir: dir.clone(), last: *last },
        }
    }
}

/// Why [`Wal::open`] dropped bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutReason {
    /// The segment's reader stopped here.
    Stop(StopReason),
    /// The whole segment was removed because it follows a cut in `segment`.
    AfterCut {
        /// The segment that was cut.
        segment: SegmentId,
    },
}

/// One repair made by [`Wal::open`]; its [`fmt::Display`] is the warning
/// logged for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The segment cut or removed.
    pub segment: SegmentId,
    /// Offset the segment was cut at (0 for a removed segment).
    pub offset: u64,
    /// Bytes dropped from the segment.
    pub bytes_dropped: u64,
    /// Why.
    pub reason: CutReason,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = segment_file_name(self.segment);
        match self.reason {
            CutReason::Stop(stop) => {
                let kind = if stop.is_torn() { "torn" } else { "corrupted" };
                write!(
                    f,
                    "wal: cut {kind} tail of segment {name} at offset {}: dropped {} bytes ({stop})",
                    self.offset, self.bytes_dropped
                )
            }
            CutReason::AfterCut { segment } => write!(
                f,
                "wal: removed segment {name}: dropped {} bytes (it follows the cut in segment {})",
                self.bytes_dropped,
                segment_file_name(segment)
            ),
        }
    }
}

/// What [`Wal::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalRecovery {
    /// Segment files found.
    pub segments: usize,
    /// Valid records in the segments kept.
    pub records: u64,
    /// Bytes dropped by all cuts.
    pub bytes_dropped: u64,
    /// The repairs, in the order they were logged: at most one cut segment,
    /// followed by the segments removed after it.
    pub cuts: Vec<Cut>,
    /// The new segment writing continues in.
    pub next_segment: SegmentId,
}

/// Totals of a [`replay`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Segments read.
    pub segments: usize,
    /// Records passed to the callback.
    pub records: u64,
    /// Bytes of the segments read (up to their last valid record).
    pub bytes: u64,
}

/// A segment and its size, for observability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment.
    pub id: SegmentId,
    /// Its size in bytes.
    pub size: u64,
}

/// A write-ahead log open for appending. Thread-safe: share it by reference.
pub struct Wal {
    inner: Arc<Inner>,
    syncer: Option<Syncer>,
    /// Set once [`Wal::close`] or drop has run the shutdown.
    shut_down: bool,
}

/// The interval-fsync thread.
struct Syncer {
    /// Dropping it stops the thread.
    stop: mpsc::Sender<()>,
    handle: thread::JoinHandle<()>,
}

struct Inner {
    dir: PathBuf,
    segment_size: u64,
    fsync: FsyncPolicy,
    on_fsync: Option<FsyncHook>,
    commit: Mutex<Commit>,
    /// Callers of batch `g` wait on `committed[g % 2]`. When batch `g`
    /// completes, all of its callers are woken, and one caller of batch
    /// `g + 1` (if any) to lead it; so a caller is woken about once, not once
    /// per batch written while it waits.
    committed: [Condvar; 2],
    writer: Mutex<Writer>,
    /// Id of the active segment.
    current: AtomicU64,
    /// Bytes of all segments.
    total_bytes: AtomicU64,
}

/// Group-commit state.
struct Commit {
    /// Encoded records waiting for the next leader.
    buf: Vec<u8>,
    /// Drained buffer kept for reuse (empty while a leader holds it).
    spare: Vec<u8>,
    /// Callers with records in `buf`.
    callers: usize,
    /// Generation of the batch in `buf`.
    next_gen: u64,
    /// Batches with a generation below this are complete.
    done_gen: u64,
    /// Whether a leader is writing a batch.
    leader: bool,
    /// Results of completed batches not yet picked up by all their callers.
    outcomes: VecDeque<Outcome>,
}

struct Outcome {
    gen: u64,
    result: Result<SegmentId, WalError>,
    /// Callers that have not picked up the result.
    waiting: usize,
}

impl Commit {
    /// Hands the result of batch `gen` to one of its callers.
    fn take_outcome(&mut self, gen: u64) -> Result<SegmentId, WalError> {
        // Batches led by a lone caller leave no outcome, so generations in
        // `outcomes` have gaps: look the batch up.
        let outcome = self
            .outcomes
            .iter_mut()
            .find(|o| o.gen == gen)
            .expect("every completed batch with waiting callers keeps its outcome");
        outcome.waiting -= 1;
        let result = match &outcome.result {
            Ok(id) => Ok(*id),
            Err(e) => Err(e.duplicate()),
        };
        if outcome.waiting == 0 {
            self.outcomes.retain(|o| o.waiting > 0);
        }
        result
    }
}

/// The active segment and the closed ones.
struct Writer {
    file: Arc<File>,
    id: SegmentId,
    path: PathBuf,
    /// Bytes in the active segment.
    size: u64,
    /// Whether bytes were written since the last fsync.
    dirty: bool,
    /// Closed segments and their sizes.
    closed: BTreeMap<SegmentId, u64>,
    /// The segment whose fsync or rollback failed.
    poisoned: Option<SegmentId>,
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir`, repairs it, and starts a
    /// new segment to write to.
    ///
    /// Every record of every segment is read and checked once. At the first
    /// segment whose reader does not end cleanly, the segments after it are
    /// deleted (newest first) and the segment is truncated to its last valid
    /// record (a segment with a torn header keeps a fresh header). Each
    /// repair is logged as a warning and listed in [`WalRecovery::cuts`].
    /// Files that are not segments of this format version are refused
    /// before anything is modified.
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, WalRecovery), WalError> {
        fs::create_dir_all(dir).map_err(WalError::io("create wal directory", dir))?;
        let mut segments = list_segments(dir)?;
        let mut recovery = WalRecovery { segments: segments.len(), ..WalRecovery::default() };

        // Refuse foreign or newer files before modifying anything.
        for (_, path) in &segments {
            if let Err(problem) = read_header(path)? {
                if let Some(err) = WalError::header(path, problem) {
                    return Err(err);
                }
            }
        }
        if let Some(missing) = first_gap(&segments) {
            tracing::warn!(
                dir = %dir.display(),
                missing = %segment_file_name(missing),
                "wal: segment {} is missing; replay across it will fail",
                segment_file_name(missing)
            );
        }

        let mut sizes = BTreeMap::new();
        let mut damaged = None;
        for (i, (id, path)) in segments.iter().enumerate() {
            let mut reader = SegmentReader::open(path).map_err(WalError::io("open wal segment", path))?;
            let stop = reader.skip_to_end().map_err(WalError::io("read wal segment", path))?;
            recovery.records += reader.records();
            if let StopReason::BadHeader(problem) = stop {
                // Checked above; only a file replaced since then gets here.
                if let Some(err) = WalError::header(path, problem) {
                    return Err(err);
                }
            }
            if !stop.is_clean() {
                let len = file_len(path)?;
                damaged = Some((i, reader.valid_end(), len, stop));
                break;
            }
            sizes.insert(*id, reader.valid_end());
        }

        if let Some((i, offset, len, stop)) = damaged {
            let (id, path) = segments[i].clone();
            let cut =
                Cut { segment: id, offset, bytes_dropped: len.saturating_sub(offset), reason: CutReason::Stop(stop) };
            tracing::warn!(segment = %path.display(), offset, dropped = cut.bytes_dropped, reason = %stop, "{cut}");
            recovery.cuts.push(cut);
            // Newest first: a crash part-way leaves the damaged segment
            // untouched, so the next open repeats the same repair.
            let mut removed = Vec::new();
            for (later, later_path) in segments[i + 1..].iter().rev() {
                let bytes = file_len(later_path)?;
                fs::remove_file(later_path).map_err(WalError::io("remove wal segment", later_path))?;
                removed.push(Cut {
                    segment: *later,
                    offset: 0,
                    bytes_dropped: bytes,
                    reason: CutReason::AfterCut { segment: id },
                });
            }
            if !removed.is_empty() {
                sync_dir(dir)?;
            }
            for cut in removed.into_iter().rev() {
                tracing::warn!(segment = %segment_file_name(cut.segment), dropped = cut.bytes_dropped, "{cut}");
                recovery.cuts.push(cut);
            }
            let size = cut_segment(&path, offset)?;
            sizes.insert(id, size);
            segments.truncate(i + 1);
        }
        recovery.bytes_dropped = recovery.cuts.iter().map(|c| c.bytes_dropped).sum();

        let next = match segments.last() {
            Some(&(last, _)) => {
                last.checked_add(1).ok_or_else(|| WalError::SegmentIdOverflow { dir: dir.to_path_buf(), last })?
            }
            None => 0,
        };
        recovery.next_segment = next;
        let wal = Wal::start(dir, options, next, sizes)?;
        tracing::info!(
            dir = %dir.display(),
            segments = recovery.segments,
            records = recovery.records,
            bytes_dropped = recovery.bytes_dropped,
            next_segment = next,
            "wal opened"
        );
        Ok((wal, recovery))
    }

    /// Creates segment `id` and the writer around it.
    fn start(
        dir: &Path,
        options: WalOptions,
        id: SegmentId,
        closed: BTreeMap<SegmentId, u64>,
    ) -> Result<Wal, WalError> {
        let (file, path) = create_segment(dir, id)?;
        let fsync = match options.fsync {
            FsyncPolicy::Interval(d) if d.is_zero() => FsyncPolicy::Always,
            p => p,
        };
        let total = closed.values().sum::<u64>() + HEADER_LEN;
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            segment_size: options.segment_size,
            fsync,
            on_fsync: options.on_fsync,
            commit: Mutex::new(Commit {
                buf: Vec::new(),
                spare: Vec::new(),
                callers: 0,
                next_gen: 0,
                done_gen: 0,
                leader: false,
                outcomes: VecDeque::new(),
            }),
            committed: [Condvar::new(), Condvar::new()],
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                id,
                path,
                size: HEADER_LEN,
                dirty: false,
                closed,
                poisoned: None,
            }),
            current: AtomicU64::new(id),
            total_bytes: AtomicU64::new(total),
        });
        let syncer = match fsync {
            FsyncPolicy::Interval(every) => Some(Syncer::spawn(inner.clone(), every)?),
            _ => None,
        };
        Ok(Wal { inner, syncer, shut_down: false })
    }

    /// Reads every record of the segments `>= from` in order; see [`replay`].
    pub fn replay<E, F>(dir: &Path, from: SegmentId, f: F) -> Result<ReplayStats, E>
    where
        E: From<WalError>,
        F: FnMut(SegmentId, &[u8]) -> Result<(), E>,
    {
        replay(dir, from, f)
    }

    /// Appends one record, returning the segment it landed in once it is
    /// written (and synced, per the fsync policy). Concurrent appends are
    /// written together by one of the callers (group commit).
    pub fn append(&self, record: &[u8]) -> Result<SegmentId, WalError> {
        let len = check_payload(record)?;
        let crc = crc32fast::hash(record);
        self.inner.commit(|buf| encode_checked(buf, len, crc, record))
    }

    /// Appends records in order, contiguously, in one segment; returns that
    /// segment once all are written (and synced, per the fsync policy).
    /// Nothing is written if any record is invalid.
    pub fn append_many(&self, records: &[&[u8]]) -> Result<SegmentId, WalError> {
        for r in records {
            check_payload(r)?;
        }
        if records.is_empty() {
            return Ok(self.current_segment());
        }
        self.inner.commit(|buf| {
            for r in records {
                // Checked above; the length fits in u32.
                let len = r.len() as u32;
                encode_checked(buf, len, crc32fast::hash(r), r);
            }
        })
    }

    /// Closes the active segment (fsyncing it) and starts a new one, whose
    /// id is returned. Records appended after this returns land in the new
    /// segment or later.
    pub fn rotate(&self) -> Result<SegmentId, WalError> {
        let mut w = self.inner.writer.lock();
        if let Some(segment) = w.poisoned {
            return Err(WalError::Poisoned { segment });
        }
        self.inner.rotate_locked(&mut w)
    }

    /// Deletes the closed segments with an id below `id` (never the active
    /// segment), oldest first; returns how many were deleted.
    pub fn truncate_before(&self, id: SegmentId) -> Result<usize, WalError> {
        let gone = {
            let mut w = self.inner.writer.lock();
            let limit = id.min(w.id);
            let keep = w.closed.split_off(&limit);
            mem::replace(&mut w.closed, keep)
        };
        let mut deleted = 0;
        let mut failure = None;
        for (&seg, &size) in &gone {
            if failure.is_some() {
                self.inner.writer.lock().closed.insert(seg, size);
                continue;
            }
            let path = self.inner.dir.join(segment_file_name(seg));
            match fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    failure = Some(WalError::Io { op: "remove wal segment", path, source: e });
                    self.inner.writer.lock().closed.insert(seg, size);
                    continue;
                }
            }
            self.inner.total_bytes.fetch_sub(size, Ordering::Relaxed);
        }
        if deleted > 0 {
            sync_dir(&self.inner.dir)?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(deleted),
        }
    }

    /// The segments, oldest first, with their sizes (the last is active).
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let w = self.inner.writer.lock();
        w.closed
            .iter()
            .map(|(&id, &size)| SegmentInfo { id, size })
            .chain(std::iter::once(SegmentInfo { id: w.id, size: w.size }))
            .collect()
    }

    /// The segment appends currently go to.
    pub fn current_segment(&self) -> SegmentId {
        self.inner.current.load(Ordering::Relaxed)
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.inner.total_bytes.load(Ordering::Relaxed)
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Stops the fsync thread and fsyncs what was written since the last
    /// fsync (unless the policy is [`FsyncPolicy::Never`]). Dropping the WAL
    /// does the same but can only log a failure.
    pub fn close(mut self) -> Result<(), WalError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), WalError> {
        if mem::replace(&mut self.shut_down, true) {
            return Ok(());
        }
        if let Some(syncer) = self.syncer.take() {
            drop(syncer.stop);
            if syncer.handle.join().is_err() {
                tracing::error!(dir = %self.inner.dir.display(), "wal: fsync thread panicked");
            }
        }
        if self.inner.fsync == FsyncPolicy::Never {
            return Ok(());
        }
        let mut w = self.inner.writer.lock();
        match w.poisoned {
            Some(segment) => Err(WalError::Poisoned { segment }),
            None if w.dirty => self.inner.sync_locked(&mut w),
            None => Ok(()),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(dir = %self.inner.dir.display(), error = %e, "wal: closing failed");
        }
    }
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.inner.dir)
            .field("current_segment", &self.current_segment())
            .field("fsync", &self.inner.fsync)
            .finish_non_exhaustive()
    }
}

impl Syncer {
    fn spawn(inner: Arc<Inner>, every: Duration) -> Result<Syncer, WalError> {
        let (stop, rx) = mpsc::channel::<()>();
        let dir = inner.dir.clone();
        let handle = thread::Builder::new()
            .name("rampart-wal-fsync".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    inner.background_sync();
                }
            })
            .map_err(WalError::io("start wal fsync thread for", dir))?;
        Ok(Syncer { stop, handle })
    }
}

impl Inner {
    /// Adds the records `encode` writes to the pending batch and returns once
    /// that batch is written, leading it if no other caller is.
    fn commit(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<SegmentId, WalError> {
        let mut c = self.commit.lock();
        encode(&mut c.buf);
        c.callers += 1;
        let gen = c.next_gen;
        loop {
            if c.done_gen > gen {
                return c.take_outcome(gen);
            }
            if !c.leader {
                break;
            }
            self.committed[parity(gen)].wait(&mut c);
        }
        // No leader and our batch is not done: it is still in `buf`.
        debug_assert_eq!(gen, c.next_gen);
        c.leader = true;
        let spare = mem::take(&mut c.spare);
        let mut batch = mem::replace(&mut c.buf, spare);
        let callers = mem::take(&mut c.callers);
        c.next_gen += 1;
        let written =
            MutexGuard::unlocked(&mut c, || panic::catch_unwind(AssertUnwindSafe(|| self.write_batch(&batch))));
        let result = match written {
            Ok(result) => result,
            Err(_) => {
                let mut w = self.writer.lock();
                let active = w.id;
                let segment = *w.poisoned.get_or_insert(active);
                Err(WalError::Poisoned { segment })
            }
        };
        batch.clear();
        if batch.capacity() > SPARE_BUFFER_CAPACITY {
            batch.shrink_to(SPARE_BUFFER_CAPACITY);
        }
        c.spare = batch;
        if callers > 1 {
            let shared = match &result {
                Ok(id) => Ok(*id),
                Err(e) => Err(e.duplicate()),
            };
            c.outcomes.push_back(Outcome { gen, result: shared, waiting: callers - 1 });
        }
        c.done_gen = gen + 1;
        c.leader = false;
        let next_has_callers = c.callers > 0;
        drop(c);
        self.committed[parity(gen)].notify_all();
        if next_has_callers {
            self.committed[parity(gen + 1)].notify_one();
        }
        result
    }

    /// Writes one batch to the active segment, rotating first when it would
    /// overflow, and fsyncs it under [`FsyncPolicy::Always`].
    fn write_batch(&self, batch: &[u8]) -> Result<SegmentId, WalError> {
        let mut w = self.writer.lock();
        if let Some(segment) = w.poisoned {
            return Err(WalError::Poisoned { segment });
        }
        let len = batch.len() as u64;
        if w.size > HEADER_LEN && w.size.saturating_add(len) > self.segment_size {
            self.rotate_locked(&mut w)?;
        }
        let offset = w.size;
        if let Err(source) = (&*w.file).write_all(batch) {
            self.roll_back(&mut w, offset);
            return Err(WalError::Write { path: w.path.clone(), segment: w.id, offset, source });
        }
        w.size += len;
        w.dirty = true;
        self.total_bytes.fetch_add(len, Ordering::Relaxed);
        if self.fsync == FsyncPolicy::Always {
            self.sync_locked(&mut w)?;
        }
        Ok(w.id)
    }

    /// Cuts a partly written batch off the active segment, poisoning the WAL
    /// if that fails.
    fn roll_back(&self, w: &mut Writer, offset: u64) {
        let undone = w.file.set_len(offset).and_then(|()| (&*w.file).seek(SeekFrom::Start(offset)));
        if let Err(e) = undone {
            tracing::error!(segment = %w.path.display(), offset, error = %e, "wal: rolling back a failed write failed; refusing further writes");
            w.poisoned = Some(w.id);
        }
    }

    /// Fsyncs the active segment, poisoning the WAL on failure.
    fn sync_locked(&self, w: &mut Writer) -> Result<(), WalError> {
        let started = Instant::now();
        if let Err(source) = w.file.sync_data() {
            tracing::error!(segment = %w.path.display(), error = %source, "wal: fsync failed; refusing further writes");
            w.poisoned = Some(w.id);
            return Err(WalError::Sync { path: w.path.clone(), segment: w.id, source });
        }
        w.dirty = false;
        self.observe_fsync(started.elapsed());
        Ok(())
    }

    fn observe_fsync(&self, took: Duration) {
        if let Some(hook) = &self.on_fsync {
            hook(took);
        }
    }

    /// Fsyncs the active segment and switches to a new one.
    fn rotate_locked(&self, w: &mut Writer) -> Result<SegmentId, WalError> {
        if w.dirty {
            self.sync_locked(w)?;
        }
        let id =
            w.id.checked_add(1).ok_or_else(|| WalError::SegmentIdOverflow { dir: self.dir.clone(), last: w.id })?;
        let (file, path) = create_segment(&self.dir, id)?;
        let old = mem::replace(&mut w.id, id);
        let old_size = mem::replace(&mut w.size, HEADER_LEN);
        w.closed.insert(old, old_size);
        w.file = Arc::new(file);
        w.path = path;
        w.dirty = false;
        self.current.store(id, Ordering::Relaxed);
        self.total_bytes.fetch_add(HEADER_LEN, Ordering::Relaxed);
        tracing::debug!(closed = old, size = old_size, next = id, "wal: segment rotated");
        Ok(id)
    }

    /// The interval fsync: syncs the active segment if it has unsynced
    /// bytes, without holding the writer lock during the fsync.
    fn background_sync(&self) {
        let (file, id, path) = {
            let mut w = self.writer.lock();
            if w.poisoned.is_some() || !w.dirty {
                return;
            }
            w.dirty = false;
            (w.file.clone(), w.id, w.path.clone())
        };
        let started = Instant::now();
        match file.sync_data() {
            Ok(()) => self.observe_fsync(started.elapsed()),
            Err(e) => {
                tracing::error!(segment = %path.display(), error = %e, "wal: fsync failed; refusing further writes");
                self.writer.lock().poisoned.get_or_insert(id);
            }
        }
    }
}

/// Index of the condition variable the callers of batch `gen` wait on.
fn parity(gen: u64) -> usize {
    (gen % 2) as usize
}

/// Reads every record of the segments in `dir` with an id `>= from`, in
/// order, passing each to `f` with its segment; stops at the first error `f`
/// returns.
///
/// Meant for start-up, after [`Wal::open`] repaired the directory: a bad
/// record is an error ([`WalError::Corrupt`]), except a torn tail of the
/// newest segment, which is where a concurrent writer may be. A missing
/// segment within the range is an error ([`WalError::SegmentGap`]). Progress
/// is logged at `info` every few seconds.
pub fn replay<E, F>(dir: &Path, from: SegmentId, mut f: F) -> Result<ReplayStats, E>
where
    E: From<WalError>,
    F: FnMut(SegmentId, &[u8]) -> Result<(), E>,
{
    let segments: Vec<_> = list_segments(dir)?.into_iter().filter(|(id, _)| *id >= from).collect();
    if let Some(missing) = first_gap(&segments) {
        return Err(WalError::SegmentGap { dir: dir.to_path_buf(), missing }.into());
    }
    let mut total_bytes = 0u64;
    for (_, path) in &segments {
        total_bytes += file_len(path)?;
    }
    let started = Instant::now();
    let mut last_log = started;
    let mut stats = ReplayStats::default();
    let n = segments.len();
    if let Some((first, _)) = segments.first() {
        tracing::info!(
            dir = %dir.display(),
            segments = n,
            bytes = total_bytes,
            "wal: replaying {n} segments from {}",
            segment_file_name(*first)
        );
    }
    for (i, (id, path)) in segments.iter().enumerate() {
        let mut reader = SegmentReader::open(path).map_err(WalError::io("open wal segment", path))?;
        let mut in_segment = 0u64;
        let mut until_check = REPLAY_PROGRESS_CHECK_RECORDS;
        while let Some(record) = reader.next_record().map_err(WalError::io("read wal segment", path))? {
            f(*id, record)?;
            in_segment += 1;
            until_check -= 1;
            if until_check == 0 {
                until_check = REPLAY_PROGRESS_CHECK_RECORDS;
                if last_log.elapsed() >= REPLAY_PROGRESS_INTERVAL {
                    log_progress(i, n, stats.bytes + reader.valid_end(), total_bytes, stats.records + in_segment);
                    last_log = Instant::now();
                }
            }
        }
        stats.segments += 1;
        stats.records += in_segment;
        stats.bytes += reader.valid_end();
        match reader.stop_reason().unwrap_or(StopReason::Eof) {
            StopReason::Eof => {}
            stop if stop.is_torn() && i + 1 == n => {
                tracing::debug!(segment = %path.display(), offset = reader.valid_end(), reason = %stop, "wal: replay stopped at the tail of the newest segment");
            }
            StopReason::BadHeader(problem) => {
                let err = WalError::header(path, problem).unwrap_or_else(|| WalError::Corrupt {
                    path: path.clone(),
                    segment: *id,
                    offset: 0,
                    reason: StopReason::BadHeader(problem),
                });
                return Err(err.into());
            }
            reason => {
                return Err(
                    WalError::Corrupt { path: path.clone(), segment: *id, offset: reader.valid_end(), reason }.into()
                )
            }
        }
        if last_log.elapsed() >= REPLAY_PROGRESS_INTERVAL {
            log_progress(i + 1, n, stats.bytes, total_bytes, stats.records);
            last_log = Instant::now();
        }
    }
    if n > 0 {
        tracing::info!(
            dir = %dir.display(),
            segments = stats.segments,
            records = stats.records,
            bytes = stats.bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "wal: replayed {} records from {} segments",
            stats.records,
            stats.segments
        );
    }
    Ok(stats)
}

fn log_progress(done: usize, of: usize, bytes: u64, total_bytes: u64, records: u64) {
    tracing::info!(
        segment = done,
        segments = of,
        bytes,
        total_bytes,
        records,
        "wal: replay progress: segment {done} of {of}, {bytes} of {total_bytes} bytes, {records} records"
    );
}

/// The segment files of `dir`, by id. Other entries (checkpoints, temporary
/// files, directories) are ignored.
fn list_segments(dir: &Path) -> Result<Vec<(SegmentId, PathBuf)>, WalError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(WalError::io("list wal directory", dir))? {
        let entry = entry.map_err(WalError::io("list wal directory", dir))?;
        let Some(id) = entry.file_name().to_str().and_then(parse_segment_file_name) else {
            continue;
        };
        let path = entry.path();
        let kind = entry.file_type().map_err(WalError::io("inspect wal segment", &path))?;
        if !kind.is_dir() {
            out.push((id, path));
        }
    }
    out.sort_unstable_by_key(|(id, _)| *id);
    Ok(out)
}

/// The first id missing between the first and last of `segments` (sorted).
fn first_gap(segments: &[(SegmentId, PathBuf)]) -> Option<SegmentId> {
    segments.windows(2).find(|w| w[1].0 != w[0].0 + 1).map(|w| w[0].0 + 1)
}

fn file_len(path: &Path) -> Result<u64, WalError> {
    fs::metadata(path).map(|m| m.len()).map_err(WalError::io("inspect wal segment", path))
}

/// Checks the header of the segment file at `path`.
fn read_header(path: &Path) -> Result<Result<(), HeaderProblem>, WalError> {
    let file = File::open(path).map_err(WalError::io("open wal segment", path))?;
    let len = file.metadata().map_err(WalError::io("inspect wal segment", path))?.len();
    let mut head = Vec::with_capacity(SEGMENT_HEADER_LEN);
    (&file).take(HEADER_LEN).read_to_end(&mut head).map_err(WalError::io("read wal segment", path))?;
    Ok(check_header(&head, len))
}

/// Truncates the segment at `path` to `offset` and fsyncs it; a cut inside
/// the header leaves a fresh header. Returns the new size.
fn cut_segment(path: &Path, offset: u64) -> Result<u64, WalError> {
    let mut file =
        OpenOptions::new().write(true).open(path).map_err(WalError::io("open wal segment for repair", path))?;
    let size = if offset < HEADER_LEN {
        file.set_len(0)
            .and_then(|()| file.write_all(&segment_header()))
            .map_err(WalError::io("rewrite wal segment header", path))?;
        HEADER_LEN
    } else {
        file.set_len(offset).map_err(WalError::io("truncate wal segment", path))?;
        offset
    };
    file.sync_all().map_err(WalError::io("fsync wal segment", path))?;
    Ok(size)
}

/// Creates segment `id` in `dir` with its header, durably (file and
/// directory entry fsynced).
fn create_segment(dir: &Path, id: SegmentId) -> Result<(File, PathBuf), WalError> {
    let path = dir.join(segment_file_name(id));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(WalError::io("create wal segment", &path))?;
    if let Err(e) = file.write_all(&segment_header()).and_then(|()| file.sync_all()) {
        // Best effort: a leftover would block the next attempt; a header-less
        // file left behind is repaired by the next open.
        let _ = fs::remove_file(&path);
        return Err(WalError::Io { op: "write wal segment header", path, source: e });
    }
    sync_dir(dir)?;
    Ok((file, path))
}

/// Makes directory entry changes (created, removed files) in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), WalError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(WalError::io("fsync wal directory", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests;
