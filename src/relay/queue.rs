//! The durable queue between acknowledgement and forwarding: the storage
//! engine's WAL ([`rampart_storage::wal`]: segments, CRC32 framing, group
//! commit, torn-tail repair) plus a cursor file saying how far the store has
//! acknowledged.
//!
//! Record payload (inside the WAL's `len | crc32 | payload` frame), format
//! version [`RECORD_VERSION`]:
//!
//! ```text
//! version u8 | lane u8 | tenant_len u8 | tenant bytes | samples u32 LE
//!   | (whole lane only) series u32 LE | series key u32 LE × series
//!   | snappy(prometheus.WriteRequest)
//! ```
//!
//! `lane` is the forwarding shard of every series in the record (0 to 254;
//! `forward.shards` is at most 255), or [`WHOLE_LANE`] (255): a request
//! passed on whole, its body exactly as the writer sent it, whose series
//! may belong to any shard ([`Lane`]); such a record lists a key of each of
//! its series ([`super::shard::series_key`]), by which the forwarder keeps
//! records that share a series in order without decoding them. Version 1 (written before whole
//! records existed) has the same layout with a shard in place of the lane
//! and is read as such; a record of any other version is reported as
//! written by a newer relay ([`RecordError`]).
//!
//! Cursor file `cursor` in the queue directory, replaced atomically (write
//! `cursor.tmp`, fsync, rename, fsync the directory):
//!
//! ```text
//! magic "RQC1" | segment u64 LE | offset u64 LE | crc32 (IEEE) of the 20 bytes before it
//! ```
//!
//! A missing or damaged cursor means "from the oldest segment": records are
//! then sent again, which the store treats as no-ops (identical samples), so
//! delivery stays at least once and effectively exactly once.
//!
//! Invariants:
//! - [`Queue::append`] returns only once its records are written (and, with
//!   `fsync: always`, synced); only then does the relay answer 2xx.
//! - A [`Reader`] never returns a record of the active segment that is not
//!   yet fully written: it reads at most as many records as appends of this
//!   segment have returned (the first `k` records of a segment are complete
//!   once `k` appends into it returned, because group-commit batches are
//!   written in order). Closed segments are read to their end.
//! - Segments are deleted only below the persisted cursor.
//!
//! Locks: `committed` (counts per segment) is independent of the WAL's own
//! locks and never held across I/O.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use rampart_storage::wal::segment::{segment_file_name, segment_header};
use rampart_storage::wal::SEGMENT_HEADER_LEN;
use rampart_storage::wal::{FsyncPolicy, SegmentId, SegmentReader, StopReason, Wal, WalError, WalOptions};

/// Version byte of the queue records this relay writes.
pub const RECORD_VERSION: u8 = 2;
/// Version of records with a shard in place of the lane, still read.
const SHARD_ONLY_RECORD_VERSION: u8 = 1;
/// Lane byte of a request passed on whole.
pub const WHOLE_LANE: u8 = u8::MAX;
/// Magic of the cursor file.
const CURSOR_MAGIC: &[u8; 4] = b"RQC1";
/// Bytes of the cursor file.
const CURSOR_LEN: usize = 24;
/// Name of the cursor file.
const CURSOR_FILE: &str = "cursor";
/// Offset of the first record of a segment.
const FIRST_RECORD: u64 = SEGMENT_HEADER_LEN as u64;

/// A place in the queue: a segment and a byte offset at a record boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The segment.
    pub segment: SegmentId,
    /// Byte offset in it.
    pub offset: u64,
}

/// Which sender forwards a record, and so which records it must stay in
/// order with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Series that hash to this forwarding shard ([`super::shard::shard_of`]).
    Shard(u8),
    /// A request passed on whole: series of any shard.
    Whole,
}

impl Lane {
    fn byte(self) -> u8 {
        match self {
            Lane::Shard(shard) => shard,
            Lane::Whole => WHOLE_LANE,
        }
    }
}

/// One queued write: what the forwarder needs without decoding the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Sender that owns it.
    pub lane: Lane,
    /// Tenant.
    pub tenant: String,
    /// Samples in the body.
    pub samples: u32,
    /// Whole lane: the key of each series in the body (empty in a shard's lane).
    pub series: Vec<u32>,
    /// Snappy-compressed `WriteRequest` (a slice of the payload, not a copy).
    pub body: Bytes,
}

/// Why a queue payload is not a record this relay can forward.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Written by a relay with a newer record format.
    #[error(
        "queue record format version {0} is not one this relay reads ({SHARD_ONLY_RECORD_VERSION} or \
         {RECORD_VERSION}): a newer relay wrote it; run that version until the queue has drained"
    )]
    UnknownVersion(u8),
    /// Shorter than its header says, or a tenant that is not UTF-8.
    #[error("queue record header is truncated or damaged")]
    Damaged,
}

impl Record {
    /// The payload stored in the WAL.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_HEADER_MAX + 4 * self.series.len() + self.body.len());
        record_header(self.lane, &self.tenant, self.samples, &mut out);
        if self.lane == Lane::Whole {
            series_keys(&self.series, &mut out);
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses a payload of version [`RECORD_VERSION`] or 1; the body is a
    /// slice of `payload`.
    pub fn decode(payload: Bytes) -> Result<Record, RecordError> {
        let (&version, rest) = payload.split_first().ok_or(RecordError::Damaged)?;
        let lane = match (version, rest.first()) {
            (_, None) => return Err(RecordError::Damaged),
            (RECORD_VERSION, Some(&WHOLE_LANE)) => Lane::Whole,
            (RECORD_VERSION | SHARD_ONLY_RECORD_VERSION, Some(&shard)) => Lane::Shard(shard),
            (other, _) => return Err(RecordError::UnknownVersion(other)),
        };
        let len = usize::from(*rest.get(1).ok_or(RecordError::Damaged)?);
        let tenant = rest.get(2..2 + len).ok_or(RecordError::Damaged)?;
        let tenant = std::str::from_utf8(tenant).map_err(|_| RecordError::Damaged)?.to_owned();
        let samples = rest.get(2 + len..6 + len).ok_or(RecordError::Damaged)?;
        let samples = u32::from_le_bytes(samples.try_into().map_err(|_| RecordError::Damaged)?);
        let mut header = 1 + 6 + len;
        let mut series = Vec::new();
        if lane == Lane::Whole {
            let count = payload.get(header..header + 4).ok_or(RecordError::Damaged)?;
            let count = u32::from_le_bytes(count.try_into().map_err(|_| RecordError::Damaged)?) as usize;
            let keys = payload.get(header + 4..header + 4 + 4 * count).ok_or(RecordError::Damaged)?;
            series = keys.chunks_exact(4).map(|k| u32::from_le_bytes(k.try_into().expect("4 bytes"))).collect();
            header += 4 + 4 * count;
        }
        Ok(Record { lane, tenant, samples, series, body: payload.slice(header..) })
    }
}

/// Writes the series keys of a whole-lane record: their count, then each.
fn series_keys(keys: &[u32], out: &mut Vec<u8>) {
    out.extend_from_slice(&u32::try_from(keys.len()).unwrap_or(u32::MAX).to_le_bytes());
    keys.iter().for_each(|k| out.extend_from_slice(&k.to_le_bytes()));
}

/// Most bytes of a record's header (before its body).
const RECORD_HEADER_MAX: usize = 3 + u8::MAX as usize + 4;

/// Writes a record's header: everything before the body.
fn record_header(lane: Lane, tenant: &str, samples: u32, out: &mut Vec<u8>) {
    let tenant = tenant.as_bytes();
    // Tenant ids are at most 150 bytes (`tenant::MAX_TENANT_LEN`).
    let tenant = &tenant[..tenant.len().min(usize::from(u8::MAX))];
    out.push(RECORD_VERSION);
    out.push(lane.byte());
    out.push(tenant.len() as u8);
    out.extend_from_slice(tenant);
    out.extend_from_slice(&samples.to_le_bytes());
}

/// Writes into `out` (replacing its content) the payload of a record whose
/// body is `write_request` (an encoded `prometheus.WriteRequest`)
/// compressed: what [`Record::encode`] makes of that record, compressing
/// straight into the payload. `out` and `encoder` are reusable.
pub fn encode_record(
    shard: u8,
    tenant: &str,
    samples: u32,
    write_request: &[u8],
    encoder: &mut snap::raw::Encoder,
    out: &mut Vec<u8>,
) {
    out.clear();
    record_header(Lane::Shard(shard), tenant, samples, out);
    let header = out.len();
    out.resize(header + snap::raw::max_compress_len(write_request.len()), 0);
    let n = encoder
        .compress(write_request, &mut out[header..])
        .expect("snappy compression into a buffer of max_compress_len cannot fail");
    out.truncate(header + n);
}

/// Writes into `out` (replacing its content) the payload of a record of
/// [`Lane::Whole`] with these series keys, whose body is
/// `snappy_write_request`, a request body exactly as its writer sent it (a
/// snappy block of an encoded `prometheus.WriteRequest`): one copy, no
/// compression. `out` is reusable.
pub fn encode_whole_record(tenant: &str, samples: u32, series: &[u32], snappy_write_request: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(RECORD_HEADER_MAX + 4 * series.len() + snappy_write_request.len());
    record_header(Lane::Whole, tenant, samples, out);
    series_keys(series, out);
    out.extend_from_slice(snappy_write_request);
}

/// Queue settings.
#[derive(Clone, Debug)]
pub struct QueueOptions {
    /// Bytes on disk above which appends are refused.
    pub max_bytes: u64,
    /// WAL segment size.
    pub segment_size: u64,
    /// WAL fsync policy.
    pub fsync: FsyncPolicy,
}

/// The queue: append side and cursor.
pub struct Queue {
    wal: Wal,
    max_bytes: u64,
    /// Appends returned per segment in this run.
    committed: Mutex<BTreeMap<SegmentId, u64>>,
    /// Signalled after every append.
    appended: Condvar,
}

impl Queue {
    /// Opens (and repairs) the queue in `dir`; returns it and the persisted
    /// cursor to resume forwarding from.
    pub fn open(dir: &Path, options: &QueueOptions) -> Result<(Queue, Position), WalError> {
        let wal_options = WalOptions { segment_size: options.segment_size, fsync: options.fsync, on_fsync: None };
        let (wal, recovery) = Wal::open(dir, wal_options)?;
        let oldest = wal.segments().first().map_or(recovery.next_segment, |s| s.id);
        let cursor = match read_cursor(&dir.join(CURSOR_FILE)) {
            Some(c) if c.segment >= oldest => c,
            Some(c) => {
                tracing::warn!(cursor_segment = c.segment, oldest, "relay queue: cursor is before the oldest segment");
                Position { segment: oldest, offset: FIRST_RECORD }
            }
            None => Position { segment: oldest, offset: FIRST_RECORD },
        };
        tracing::info!(
            dir = %dir.display(),
            bytes = wal.size_bytes(),
            cursor_segment = cursor.segment,
            cursor_offset = cursor.offset,
            "relay queue opened"
        );
        let queue = Queue {
            wal,
            max_bytes: options.max_bytes,
            committed: Mutex::new(BTreeMap::new()),
            appended: Condvar::new(),
        };
        Ok((queue, cursor))
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.wal.size_bytes()
    }

    /// True when appends are refused until forwarding frees space.
    pub fn is_full(&self) -> bool {
        self.bytes() >= self.max_bytes
    }

    /// The byte limit.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Appends records contiguously; returns once they are durable.
    pub fn append(&self, records: &[&[u8]]) -> Result<(), WalError> {
        if records.is_empty() {
            return Ok(());
        }
        let segment = self.wal.append_many(records)?;
        *self.committed.lock().entry(segment).or_default() += records.len() as u64;
        self.appended.notify_all();
        Ok(())
    }

    /// Persists `cursor` (everything before it was acknowledged by the
    /// store) and deletes the segments wholly before it.
    pub fn commit(&self, cursor: Position) -> Result<(), WalError> {
        let dir = self.wal.dir();
        write_cursor(dir, cursor).map_err(|source| WalError::Io {
            op: "write relay queue cursor",
            path: dir.join(CURSOR_FILE),
            source,
        })?;
        self.wal.truncate_before(cursor.segment)?;
        self.committed.lock().retain(|&s, _| s >= cursor.segment);
        Ok(())
    }
}

/// A record read from the queue: its start, its payload and its end.
pub type ReadRecord = (Position, Vec<u8>, Position);

/// A segment file read from a record boundary: the reader is given a
/// segment header first, then the file's bytes from that boundary on.
type OpenSegment = SegmentReader<io::Chain<io::Cursor<[u8; SEGMENT_HEADER_LEN]>, File>>;

/// Reads records in order from a position, waiting for new ones. The
/// segment being read stays open between calls, so a reader that keeps up
/// with appends reads each byte once.
pub struct Reader {
    pos: Position,
    /// Records read from `pos.segment` in this run (meaningful for the
    /// active segment, which a reader always enters at its start).
    read_in_segment: u64,
    /// The open segment and the file offset its stream starts at (minus
    /// the header the stream is given first).
    open: Option<(OpenSegment, u64)>,
}

impl Reader {
    /// A reader starting at `from`.
    pub fn new(from: Position) -> Self {
        Self { pos: from, read_in_segment: 0, open: None }
    }

    /// Up to `max` records with their start and end positions; waits up to
    /// `wait` when there are none, then returns an empty list.
    pub fn next(&mut self, queue: &Queue, max: usize, wait: Duration) -> Result<Vec<ReadRecord>, WalError> {
        let dir = queue.wal.dir();
        let io_err = |path: PathBuf| move |source| WalError::Io { op: "read relay queue segment", path, source };
        loop {
            let path = dir.join(segment_file_name(self.pos.segment));
            if self.pos.segment < queue.wal.current_segment() {
                // Closed: read to its end.
                if !self.ensure_open(&path).map_err(io_err(path.clone()))? {
                    self.next_segment();
                    continue;
                }
                let (records, stop) = self.read(max).map_err(io_err(path.clone()))?;
                if let Some(stop) = stop {
                    if !matches!(stop, StopReason::Eof) {
                        tracing::error!(segment = %path.display(), offset = self.pos.offset, reason = %stop,
                            "relay queue: unreadable record in a closed segment; skipping the rest of the segment");
                    }
                    self.next_segment();
                }
                if !records.is_empty() {
                    return Ok(records);
                }
                continue;
            }
            // Active: read only records whose appends returned.
            let mut committed = queue.committed.lock();
            let available = committed.get(&self.pos.segment).copied().unwrap_or(0) - self.read_in_segment;
            if available == 0 {
                if queue.appended.wait_for(&mut committed, wait).timed_out() {
                    return Ok(Vec::new());
                }
                continue;
            }
            drop(committed);
            if !self.ensure_open(&path).map_err(io_err(path.clone()))? {
                return Ok(Vec::new());
            }
            let want = max.min(usize::try_from(available).unwrap_or(usize::MAX));
            let (records, _) = self.read(want).map_err(io_err(path))?;
            self.read_in_segment += records.len() as u64;
            return Ok(records);
        }
    }

    fn next_segment(&mut self) {
        self.pos = Position { segment: self.pos.segment + 1, offset: FIRST_RECORD };
        self.read_in_segment = 0;
        self.open = None;
    }

    /// Opens the current segment at the current offset unless it is open;
    /// false when the file does not exist.
    fn ensure_open(&mut self, path: &Path) -> io::Result<bool> {
        if self.open.is_some() {
            return Ok(true);
        }
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(self.pos.offset))?;
        let reader = SegmentReader::new(io::Cursor::new(segment_header()).chain(file), len)?;
        self.open = Some((reader, self.pos.offset - FIRST_RECORD));
        Ok(true)
    }

    /// Reads up to `max` records from the open segment; returns them and
    /// the reason reading stopped early (`None` when `max` were read).
    fn read(&mut self, max: usize) -> io::Result<(Vec<ReadRecord>, Option<StopReason>)> {
        let Some((reader, base)) = self.open.as_mut() else { return Ok((Vec::new(), Some(StopReason::Eof))) };
        let mut out = Vec::new();
        while out.len() < max {
            let start = self.pos;
            match reader.next_record()? {
                Some(payload) => {
                    let payload = payload.to_vec();
                    self.pos = Position { segment: start.segment, offset: *base + reader.valid_end() };
                    out.push((start, payload, self.pos));
                }
                None => return Ok((out, reader.stop_reason())),
            }
        }
        Ok((out, None))
    }
}

fn read_cursor(path: &Path) -> Option<Position> {
    let bytes = fs::read(path).ok()?;
    if bytes.len() != CURSOR_LEN || &bytes[..4] != CURSOR_MAGIC {
        tracing::warn!(path = %path.display(), "relay queue: cursor file is damaged; resending from the oldest segment");
        return None;
    }
    let crc = u32::from_le_bytes(bytes[20..24].try_into().ok()?);
    if crc32fast::hash(&bytes[..20]) != crc {
        tracing::warn!(path = %path.display(), "relay queue: cursor checksum mismatch; resending from the oldest segment");
        return None;
    }
    Some(Position {
        segment: u64::from_le_bytes(bytes[4..12].try_into().ok()?),
        offset: u64::from_le_bytes(bytes[12..20].try_into().ok()?),
    })
}

fn write_cursor(dir: &Path, pos: Position) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(CURSOR_LEN);
    bytes.extend_from_slice(CURSOR_MAGIC);
    bytes.extend_from_slice(&pos.segment.to_le_bytes());
    bytes.extend_from_slice(&pos.offset.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    let tmp: PathBuf = dir.join(format!("{CURSOR_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(CURSOR_FILE))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> QueueOptions {
        QueueOptions { max_bytes: 1 << 20, segment_size: 300, fsync: FsyncPolicy::Never }
    }

    fn record(i: u32) -> Vec<u8> {
        let body = Bytes::from(vec![i as u8; 40]);
        Record { lane: Lane::Shard((i % 3) as u8), tenant: format!("t{i}"), samples: i, series: Vec::new(), body }
            .encode()
    }

    fn read_all(queue: &Queue, reader: &mut Reader) -> Vec<Record> {
        let mut out = Vec::new();
        loop {
            let batch = reader.next(queue, 7, Duration::from_millis(10)).expect("read");
            if batch.is_empty() {
                return out;
            }
            out.extend(batch.into_iter().map(|(_, p, _)| Record::decode(p.into()).expect("record")));
        }
    }

    #[test]
    fn a_record_encoded_while_compressing_is_the_record_of_its_compressed_body() {
        let write_request = b"protobuf bytes protobuf bytes protobuf bytes".repeat(50);
        let body = snap::raw::Encoder::new().compress_vec(&write_request).expect("snappy");
        let record =
            Record { lane: Lane::Shard(2), tenant: "team-a".into(), samples: 9, series: Vec::new(), body: body.into() };
        let mut out = b"earlier record".to_vec();
        encode_record(2, "team-a", 9, &write_request, &mut snap::raw::Encoder::new(), &mut out);
        assert_eq!(out, record.encode());
    }

    #[test]
    fn a_whole_record_holds_the_body_as_sent_in_the_whole_lane() {
        let sent = snap::raw::Encoder::new().compress_vec(b"a request as its writer sent it").expect("snappy");
        let mut out = b"earlier record".to_vec();
        encode_whole_record("team-a", 7, &[11, 22, 33], &sent, &mut out);
        let record = Record::decode(out.into()).expect("a record");
        let want = Record {
            lane: Lane::Whole,
            tenant: "team-a".into(),
            samples: 7,
            series: vec![11, 22, 33],
            body: sent.into(),
        };
        assert_eq!(record, want);
    }

    #[test]
    fn records_round_trip_and_version_1_records_are_read_as_shard_records() {
        for (lane, series) in [(Lane::Shard(0), vec![]), (Lane::Shard(254), vec![]), (Lane::Whole, vec![5, 6])] {
            let r = Record { lane, tenant: "team-a".into(), samples: 77, series, body: Bytes::from_static(b"xyz") };
            assert_eq!(Record::decode(r.encode().into()), Ok(r));
        }
        // As the relay wrote records before whole records existed.
        let version_1 = [&[1, 3, 6][..], b"team-a", &77u32.to_le_bytes(), b"xyz"].concat();
        let body = Bytes::from_static(b"xyz");
        let want = Record { lane: Lane::Shard(3), tenant: "team-a".into(), samples: 77, series: Vec::new(), body };
        assert_eq!(Record::decode(version_1.into()), Ok(want));
        let newer = Record::decode(Bytes::from_static(&[3, 0, 0, 0, 0, 0, 0]));
        assert_eq!(newer, Err(RecordError::UnknownVersion(3)));
        assert!(newer.unwrap_err().to_string().contains("a newer relay wrote it"));
        assert_eq!(Record::decode(Bytes::from_static(&[2, 0, 9, b'a'])), Err(RecordError::Damaged), "truncated");
        let keys_cut = Bytes::from_static(&[2, 255, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1, 2]);
        assert_eq!(Record::decode(keys_cut), Err(RecordError::Damaged), "fewer series keys than announced");
    }

    #[test]
    fn readers_see_appends_across_segments_and_resume_from_the_cursor() {
        let dir = tempfile::tempdir().expect("dir");
        let (queue, start) = Queue::open(dir.path(), &options()).expect("open");
        let mut reader = Reader::new(start);
        for i in 0..20 {
            queue.append(&[&record(i)]).expect("append");
        }
        let got = read_all(&queue, &mut reader);
        assert_eq!(got.len(), 20);
        assert!(queue.wal.segments().len() > 3, "small segments rotate");
        assert_eq!(got[13].tenant, "t13");

        // Acknowledge through record 9, then reopen: 10.. come again.
        let mut r2 = Reader::new(start);
        let mut seen = Vec::new();
        while seen.len() < 10 {
            seen.extend(r2.next(&queue, 10 - seen.len(), Duration::from_millis(10)).expect("read"));
        }
        let cursor = seen[9].2;
        queue.commit(cursor).expect("commit");
        assert!(queue.wal.segments().first().expect("segments").id <= cursor.segment);
        drop(queue);
        let (queue, resumed) = Queue::open(dir.path(), &options()).expect("reopen");
        assert_eq!(resumed, cursor);
        let mut reader = Reader::new(resumed);
        let again: Vec<String> = read_all(&queue, &mut reader).into_iter().map(|r| r.tenant).collect();
        assert_eq!(again, (10..20).map(|i| format!("t{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn a_damaged_cursor_means_resending_everything() {
        let dir = tempfile::tempdir().expect("dir");
        let (queue, start) = Queue::open(dir.path(), &options()).expect("open");
        queue.append(&[&record(1), &record(2)]).expect("append");
        queue.commit(Position { segment: start.segment, offset: 100 }).expect("commit");
        drop(queue);
        let mut bytes = fs::read(dir.path().join(CURSOR_FILE)).expect("cursor");
        bytes[6] ^= 1;
        fs::write(dir.path().join(CURSOR_FILE), bytes).expect("damage");
        let (queue, resumed) = Queue::open(dir.path(), &options()).expect("reopen");
        assert_eq!(resumed, start);
        assert_eq!(read_all(&queue, &mut Reader::new(resumed)).len(), 2);
    }

    #[test]
    fn the_queue_reports_full_at_its_byte_limit() {
        let dir = tempfile::tempdir().expect("dir");
        let (queue, _) = Queue::open(dir.path(), &QueueOptions { max_bytes: 150, ..options() }).expect("open");
        assert!(!queue.is_full());
        queue.append(&[&record(1), &record(2), &record(3)]).expect("append");
        assert!(queue.is_full());
    }
}
