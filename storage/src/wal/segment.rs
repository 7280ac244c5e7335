//! Segment framing: the bytes of one WAL segment file, independent of what
//! the records mean and of how segments are managed in a directory.
//!
//! A segment is a [`SEGMENT_HEADER_LEN`]-byte header (magic [`SEGMENT_MAGIC`],
//! format version [`FORMAT_VERSION`], three zero bytes) followed by records,
//! each framed as `len: u32 LE | crc32: u32 LE | payload`. The CRC is CRC-32
//! (IEEE) as computed by `crc32fast`, over the payload only. Lengths are in
//! `1..=MAX_RECORD_SIZE`; a zero or larger length is corruption. The full
//! format, and what a reader does on each mismatch, is in
//! `storage/docs/format/wal.md`.
//!
//! Invariants:
//! - [`encode_record`] only ever appends complete, valid records to a buffer;
//!   it refuses empty and oversized payloads, so everything it writes reads
//!   back through [`SegmentReader`].
//! - [`SegmentReader`] never returns a record that failed its length or CRC
//!   check, never reads past the first bad record, and reports the offset just
//!   past the last good record ([`SegmentReader::valid_end`]) together with the
//!   reason it stopped ([`StopReason`]). Repair (cutting the file at that
//!   offset) is the caller's decision.
//!
//! Nothing here knows about the directory, group commit or fsync: the relay's
//! disk queue reuses this framing as is.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// First four bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 4] = *b"RWAL";

/// Segment format version written by this build, and the only one it reads.
pub const FORMAT_VERSION: u8 = 1;

/// Bytes of the segment header: magic (4), version (1), reserved zeros (3).
pub const SEGMENT_HEADER_LEN: usize = 8;

/// Bytes of a record's frame header: payload length (4) and CRC-32 (4).
pub const RECORD_HEADER_LEN: usize = 8;

/// Largest accepted record payload, in bytes (64 MiB). Writers refuse larger
/// records; readers treat a larger length field as corruption.
pub const MAX_RECORD_SIZE: u32 = 64 << 20;

/// Digits of a segment file name: ids are zero-padded to at least this width.
pub const SEGMENT_NAME_WIDTH: usize = 8;

/// Bytes the reader asks the file for at a time (records larger than this
/// grow the buffer to fit them).
const READ_CHUNK: usize = 1 << 20;

/// Identifier of a segment: its position in the log, and its file name.
pub type SegmentId = u64;

/// The header every segment starts with.
pub fn segment_header() -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..SEGMENT_MAGIC.len()].copy_from_slice(&SEGMENT_MAGIC);
    h[SEGMENT_MAGIC.len()] = FORMAT_VERSION;
    h
}

/// The file name of segment `id` (`00000012` for 12).
pub fn segment_file_name(id: SegmentId) -> String {
    format!("{id:0width$}", width = SEGMENT_NAME_WIDTH)
}

/// The segment id a file name stands for, `None` when the name is not a
/// segment name: only ASCII digits, at least [`SEGMENT_NAME_WIDTH`] of them,
/// and exactly what [`segment_file_name`] produces for the id (so `000000012`
/// is not segment 12).
pub fn parse_segment_file_name(name: &str) -> Option<SegmentId> {
    if name.len() < SEGMENT_NAME_WIDTH || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: SegmentId = name.parse().ok()?;
    (segment_file_name(id) == name).then_some(id)
}

/// Why a payload cannot be framed as a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Zero-length payloads are refused: an all-zero region must never read
    /// back as valid records.
    #[error("empty records are not allowed")]
    Empty,
    /// The payload is larger than [`MAX_RECORD_SIZE`].
    #[error("record of {len} bytes exceeds the maximum record size of {max} bytes")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// [`MAX_RECORD_SIZE`].
        max: u32,
    },
}

/// Checks that `payload` can be framed, returning its length field.
pub fn check_payload(payload: &[u8]) -> Result<u32, FrameError> {
    match u32::try_from(payload.len()) {
        Ok(0) => Err(FrameError::Empty),
        Ok(len) if len <= MAX_RECORD_SIZE => Ok(len),
        _ => Err(FrameError::TooLarge { len: payload.len(), max: MAX_RECORD_SIZE }),
    }
}

/// Appends the framed record of `payload` to `buf`. Allocates only when
/// `buf` must grow.
pub fn encode_record(buf: &mut Vec<u8>, payload: &[u8]) -> Result<(), FrameError> {
    let len = check_payload(payload)?;
    encode_checked(buf, len, crc32fast::hash(payload), payload);
    Ok(())
}

/// Appends a record whose length was checked by [`check_payload`] and whose
/// CRC was computed by the caller (so it can be computed outside a lock).
pub(crate) fn encode_checked(buf: &mut Vec<u8>, len: u32, crc: u32, payload: &[u8]) {
    buf.reserve(RECORD_HEADER_LEN + payload.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// What is wrong with a segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The file ends inside the header (a segment created just before a
    /// crash). Repairable: the segment holds no records.
    Short {
        /// Bytes the file holds.
        len: u64,
    },
    /// The header is all zero bytes (space allocated but never written).
    /// Repairable like [`HeaderProblem::Short`].
    Zeroed,
    /// The file does not start with [`SEGMENT_MAGIC`]: not a segment.
    BadMagic([u8; 4]),
    /// A format version this build does not read.
    UnsupportedVersion(u8),
    /// Reserved bytes are not zero.
    ReservedNotZero([u8; 3]),
}

impl HeaderProblem {
    /// Whether repair may treat the segment as empty and rewrite its header.
    /// The other problems mean the file is not one this build may modify.
    pub fn is_torn(&self) -> bool {
        matches!(self, HeaderProblem::Short { .. } | HeaderProblem::Zeroed)
    }
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderProblem::Short { len } => write!(f, "torn header ({len} of {SEGMENT_HEADER_LEN} bytes)"),
            HeaderProblem::Zeroed => f.write_str("zero-filled header"),
            HeaderProblem::BadMagic(m) => write!(f, "bad magic {m:02x?}"),
            HeaderProblem::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            HeaderProblem::ReservedNotZero(r) => write!(f, "non-zero reserved header bytes {r:02x?}"),
        }
    }
}

/// Checks a segment header. `bytes` is the start of the file (at most
/// [`SEGMENT_HEADER_LEN`] bytes are looked at); `file_len` its full length.
pub fn check_header(bytes: &[u8], file_len: u64) -> Result<(), HeaderProblem> {
    let Some(h) = bytes.get(..SEGMENT_HEADER_LEN) else {
        return Err(HeaderProblem::Short { len: file_len });
    };
    if h.iter().all(|&b| b == 0) {
        return Err(HeaderProblem::Zeroed);
    }
    let mut magic = [0u8; 4];
    magic.copy_from_slice(&h[..4]);
    if magic != SEGMENT_MAGIC {
        return Err(HeaderProblem::BadMagic(magic));
    }
    if h[4] != FORMAT_VERSION {
        return Err(HeaderProblem::UnsupportedVersion(h[4]));
    }
    let reserved = [h[5], h[6], h[7]];
    if reserved != [0; 3] {
        return Err(HeaderProblem::ReservedNotZero(reserved));
    }
    Ok(())
}

/// Why a [`SegmentReader`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The segment ended exactly after a record (or after the header).
    Eof,
    /// The header is missing or invalid; no record was read.
    BadHeader(HeaderProblem),
    /// The file ends inside a record's frame header or payload: a write that
    /// did not finish.
    TornTail,
    /// The rest of the file, from the record header on, is zero bytes:
    /// space the file system allocated but whose data never landed.
    ZeroFilled,
    /// The length field is zero or larger than [`MAX_RECORD_SIZE`].
    BadLength(u32),
    /// The payload does not match its CRC.
    CrcMismatch {
        /// CRC stored in the frame.
        stored: u32,
        /// CRC of the payload as read.
        computed: u32,
    },
}

impl StopReason {
    /// Whether the reader reached a clean end of the segment.
    pub fn is_clean(&self) -> bool {
        matches!(self, StopReason::Eof)
    }

    /// Whether the stop looks like an interrupted write (as opposed to data
    /// that was written and later damaged).
    pub fn is_torn(&self) -> bool {
        match self {
            StopReason::TornTail | StopReason::ZeroFilled => true,
            StopReason::BadHeader(p) => p.is_torn(),
            _ => false,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Eof => f.write_str("end of segment"),
            StopReason::BadHeader(p) => p.fmt(f),
            StopReason::TornTail => f.write_str("torn record"),
            StopReason::ZeroFilled => f.write_str("zero-filled tail"),
            StopReason::BadLength(len) => write!(f, "bad length {len}"),
            StopReason::CrcMismatch { .. } => f.write_str("crc mismatch"),
        }
    }
}

/// Reads the records of one segment in order, stopping at the first record
/// that is incomplete or fails its checks.
///
/// [`SegmentReader::next_record`] lends each payload from an internal buffer
/// that is reused, so reading allocates only when a record is larger than
/// any before it.
pub struct SegmentReader<R> {
    src: R,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
    /// End of the bytes read into `buf`.
    filled: usize,
    /// File offset of `buf[pos]`: the end of the last record returned.
    offset: u64,
    records: u64,
    stop: Option<StopReason>,
}

impl SegmentReader<File> {
    /// Opens the segment file at `path` for reading.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Self::new(file, len)
    }
}

impl<R: Read> SegmentReader<R> {
    /// Starts reading a segment of `len` bytes (used to report a short
    /// header) from `src`, checking its header.
    pub fn new(src: R, len: u64) -> io::Result<Self> {
        let mut r = Self { src, buf: vec![0; READ_CHUNK], pos: 0, filled: 0, offset: 0, records: 0, stop: None };
        r.fill(SEGMENT_HEADER_LEN)?;
        let have = &r.buf[..r.filled.min(SEGMENT_HEADER_LEN)];
        match check_header(have, len.max(have.len() as u64)) {
            Ok(()) => r.consume(SEGMENT_HEADER_LEN),
            Err(p) => r.stop = Some(StopReason::BadHeader(p)),
        }
        Ok(r)
    }

    /// The next record's payload, or `None` once the reader stopped (see
    /// [`SegmentReader::stop_reason`]). I/O errors are returned as is and do
    /// not count as a stop.
    pub fn next_record(&mut self) -> io::Result<Option<&[u8]>> {
        if self.stop.is_some() {
            return Ok(None);
        }
        if !self.fill(RECORD_HEADER_LEN)? {
            self.stop = Some(if self.available() == 0 { StopReason::Eof } else { StopReason::TornTail });
            return Ok(None);
        }
        let h = &self.buf[self.pos..self.pos + RECORD_HEADER_LEN];
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let stored = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if len == 0 || len > MAX_RECORD_SIZE {
            let zero = len == 0 && self.rest_is_zero()?;
            self.stop = Some(if zero { StopReason::ZeroFilled } else { StopReason::BadLength(len) });
            return Ok(None);
        }
        let total = RECORD_HEADER_LEN + len as usize;
        if !self.fill(total)? {
            self.stop = Some(StopReason::TornTail);
            return Ok(None);
        }
        let start = self.pos + RECORD_HEADER_LEN;
        let computed = crc32fast::hash(&self.buf[start..self.pos + total]);
        if computed != stored {
            self.stop = Some(StopReason::CrcMismatch { stored, computed });
            return Ok(None);
        }
        self.consume(total);
        self.records += 1;
        Ok(Some(&self.buf[start..self.pos]))
    }

    /// Why the reader stopped, `None` while records may follow.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop
    }

    /// Offset just past the last valid record (or past the header when there
    /// is none; 0 when the header is bad): where repair cuts the file.
    pub fn valid_end(&self) -> u64 {
        self.offset
    }

    /// Records returned so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Reads all remaining records, returning the stop reason.
    pub fn skip_to_end(&mut self) -> io::Result<StopReason> {
        loop {
            if self.next_record()?.is_none() {
                return Ok(self.stop.unwrap_or(StopReason::Eof));
            }
        }
    }

    fn available(&self) -> usize {
        self.filled - self.pos
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    /// Makes at least `need` unread bytes available; `false` when the source
    /// ended first (whatever it had is then available).
    fn fill(&mut self, need: usize) -> io::Result<bool> {
        if self.available() >= need {
            return Ok(true);
        }
        if self.buf.len() - self.pos < need {
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
            if self.buf.len() < need {
                self.buf.resize(need.max(READ_CHUNK), 0);
            }
        }
        while self.available() < need {
            match self.src.read(&mut self.buf[self.filled..]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Whether every byte from the read position to the end of the source is
    /// zero. Consumes the source (the reader is stopping anyway).
    fn rest_is_zero(&mut self) -> io::Result<bool> {
        if self.buf[self.pos..self.filled].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        loop {
            let n = match self.src.read(&mut self.buf[self.filled..]) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if self.buf[self.filled..self.filled + n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(records: &[&[u8]]) -> Vec<u8> {
        let mut b = segment_header().to_vec();
        for r in records {
            encode_record(&mut b, r).unwrap();
        }
        b
    }

    /// Reads all records of `bytes`, returning payloads, valid end and stop.
    fn read_all(bytes: &[u8]) -> (Vec<Vec<u8>>, u64, StopReason) {
        let mut r = SegmentReader::new(bytes, bytes.len() as u64).unwrap();
        let mut out = Vec::new();
        while let Some(p) = r.next_record().unwrap() {
            out.push(p.to_vec());
        }
        assert_eq!(r.records(), out.len() as u64);
        (out, r.valid_end(), r.stop_reason().unwrap())
    }

    #[test]
    fn header_layout() {
        assert_eq!(&segment_header(), b"RWAL\x01\x00\x00\x00");
    }

    #[test]
    fn record_layout() {
        let mut b = Vec::new();
        encode_record(&mut b, b"abc").unwrap();
        let crc = crc32fast::hash(b"abc").to_le_bytes();
        assert_eq!(b, [&3u32.to_le_bytes()[..], &crc, b"abc"].concat());
        // CRC-32 (IEEE) check value.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn encode_refuses_empty_and_oversized() {
        let mut b = Vec::new();
        assert_eq!(encode_record(&mut b, b""), Err(FrameError::Empty));
        let big = vec![1u8; MAX_RECORD_SIZE as usize + 1];
        assert_eq!(encode_record(&mut b, &big), Err(FrameError::TooLarge { len: big.len(), max: MAX_RECORD_SIZE }));
        assert!(b.is_empty());
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_file_name(12), "00000012");
        assert_eq!(segment_file_name(123_456_789), "123456789");
        let table: &[(&str, Option<SegmentId>)] = &[
            ("00000012", Some(12)),
            ("00000000", Some(0)),
            ("123456789", Some(123_456_789)),
            ("000000012", None),
            ("0000012", None),
            ("0000001a", None),
            ("checkpoint.00000012", None),
            ("00000012.tmp", None),
            ("99999999999999999999999", None),
        ];
        for &(name, want) in table {
            assert_eq!(parse_segment_file_name(name), want, "{name}");
        }
    }

    #[test]
    fn reads_records_back() {
        let big = vec![7u8; READ_CHUNK * 2 + 3];
        let records: Vec<&[u8]> = vec![b"a", b"hello", &big, b"z"];
        let bytes = segment(&records);
        let (got, end, stop) = read_all(&bytes);
        assert_eq!(got, records.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
        assert_eq!(end, bytes.len() as u64);
        assert_eq!(stop, StopReason::Eof);
    }

    #[test]
    fn stop_reasons() {
        let good = segment(&[b"first", b"second"]);
        let first_end = (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 5) as u64;
        let last = good.len() - 1;
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            b
        };
        let flip = |at: usize| with(&|b: &mut Vec<u8>| b[at] ^= 0x10);
        let second_len_at = first_end as usize;
        let table: Vec<(&str, Vec<u8>, usize, u64, StopReason)> = vec![
            ("clean", good.clone(), 2, good.len() as u64, StopReason::Eof),
            ("header only", segment_header().to_vec(), 0, 8, StopReason::Eof),
            ("empty file", vec![], 0, 0, StopReason::BadHeader(HeaderProblem::Short { len: 0 })),
            ("short header", b"RWA".to_vec(), 0, 0, StopReason::BadHeader(HeaderProblem::Short { len: 3 })),
            ("zero header", vec![0; 8], 0, 0, StopReason::BadHeader(HeaderProblem::Zeroed)),
            ("bad magic", with(&|b| b[0] = b'X'), 0, 0, StopReason::BadHeader(HeaderProblem::BadMagic(*b"XWAL"))),
            ("version 2", with(&|b| b[4] = 2), 0, 0, StopReason::BadHeader(HeaderProblem::UnsupportedVersion(2))),
            ("reserved", with(&|b| b[6] = 1), 0, 0, StopReason::BadHeader(HeaderProblem::ReservedNotZero([0, 1, 0]))),
            ("torn payload", good[..last].to_vec(), 1, first_end, StopReason::TornTail),
            ("torn frame header", good[..second_len_at + 5].to_vec(), 1, first_end, StopReason::TornTail),
            ("frame header only", good[..second_len_at + 8].to_vec(), 1, first_end, StopReason::TornTail),
            (
                "payload flip",
                flip(last),
                1,
                first_end,
                StopReason::CrcMismatch { stored: crc32fast::hash(b"second"), computed: crc32fast::hash(b"secont") },
            ),
            (
                "crc flip",
                flip(second_len_at + 4),
                1,
                first_end,
                StopReason::CrcMismatch {
                    stored: crc32fast::hash(b"second") ^ 0x10,
                    computed: crc32fast::hash(b"second"),
                },
            ),
            ("huge length", with(&|b| b[second_len_at + 3] = 0x10), 1, first_end, StopReason::BadLength(0x1000_0006)),
            ("zero length", with(&|b| b[second_len_at] = 0), 1, first_end, StopReason::BadLength(0)),
            ("zero tail", with(&|b| b.extend_from_slice(&[0; 100])), 2, good.len() as u64, StopReason::ZeroFilled),
            (
                "zero then data",
                with(&|b| b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
                2,
                good.len() as u64,
                StopReason::BadLength(0),
            ),
            ("short zero tail", with(&|b| b.extend_from_slice(&[0; 3])), 2, good.len() as u64, StopReason::TornTail),
        ];
        for (name, bytes, records, end, stop) in table {
            let (got, got_end, got_stop) = read_all(&bytes);
            assert_eq!(got.len(), records, "{name}: records");
            assert_eq!(got_end, end, "{name}: valid end");
            assert_eq!(got_stop, stop, "{name}: stop");
        }
    }

    #[test]
    fn reader_stays_stopped() {
        let bytes = segment(&[b"x"]);
        let mut r = SegmentReader::new(&bytes[..bytes.len() - 1], bytes.len() as u64 - 1).unwrap();
        assert_eq!(r.skip_to_end().unwrap(), StopReason::TornTail);
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(r.valid_end(), SEGMENT_HEADER_LEN as u64);
    }

    #[test]
    fn reader_survives_one_byte_reads() {
        /// A source that returns one byte per read call.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                match (self.0.split_first(), out.first_mut()) {
                    (Some((&b, rest)), Some(o)) => {
                        *o = b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let bytes = segment(&[b"one", b"two", b"three"]);
        let mut r = SegmentReader::new(Trickle(&bytes), bytes.len() as u64).unwrap();
        let mut got = Vec::new();
        while let Some(p) = r.next_record().unwrap() {
            got.push(p.to_vec());
        }
        assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        assert_eq!(r.stop_reason(), Some(StopReason::Eof));
    }

    #[test]
    fn stop_reason_display() {
        assert_eq!(StopReason::CrcMismatch { stored: 1, computed: 2 }.to_string(), "crc mismatch");
        assert_eq!(StopReason::BadLength(0).to_string(), "bad length 0");
        assert_eq!(StopReason::TornTail.to_string(), "torn record");
        assert!(StopReason::TornTail.is_torn());
        assert!(!StopReason::BadLength(0).is_torn());
        assert!(StopReason::BadHeader(HeaderProblem::Zeroed).is_torn());
        assert!(!StopReason::BadHeader(HeaderProblem::BadMagic(*b"ABCD")).is_torn());
    }
}
