//! What WAL and checkpoint records hold; the framing (length, CRC) belongs to
//! [`crate::wal`]. Layout in `storage/docs/format/wal.md` (record types).
//!
//! | type | record | content |
//! |---|---|---|
//! | 1 | series | count, then per series: tenant u32, id u64, labels (len-prefixed canonical form) |
//! | 2 | samples | count, then per sample: zigzag varint delta of series id and of timestamp against the previous sample, value as 8 raw bytes |
//! | 3 | checkpoint series | tenant, id, newest time, optional open chunk, chunks awaiting persistence |
//!
//! All fixed-width integers are little-endian. Decoding never panics: any
//! malformed record yields `None` and the caller reports corruption.

use crate::labels::Labels;
use crate::model::Sample;

const TYPE_SERIES: u8 = 1;
const TYPE_SAMPLES: u8 = 2;
const TYPE_CHECKPOINT_SERIES: u8 = 3;

/// A series created in the head.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRecord {
    /// Tenant id.
    pub tenant: u32,
    /// Series id.
    pub id: u64,
    /// Labels.
    pub labels: Labels,
}

/// A sample of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleRecord {
    /// Series id.
    pub series: u64,
    /// The sample.
    pub sample: Sample,
}

/// A chunk held by the head: time bounds and encoded bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkRecord {
    /// First sample time.
    pub min_t: i64,
    /// Last sample time.
    pub max_t: i64,
    /// Encoded XOR chunk.
    pub bytes: Vec<u8>,
}

/// The head state of one series at a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointSeries {
    /// Tenant id.
    pub tenant: u32,
    /// Series id.
    pub id: u64,
    /// Newest sample time of the series.
    pub max_t: i64,
    /// The open chunk, if any.
    pub open: Option<ChunkRecord>,
    /// Closed and out-of-order chunks the checkpoint's flush persists.
    pub pending: Vec<ChunkRecord>,
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// New series.
    Series(Vec<SeriesRecord>),
    /// Samples.
    Samples(Vec<SampleRecord>),
    /// One series of a checkpoint.
    Checkpoint(CheckpointSeries),
}

/// Encodes a series record into `out` (cleared first).
pub fn encode_series(series: &[SeriesRecord], out: &mut Vec<u8>) {
    out.clear();
    out.push(TYPE_SERIES);
    put_uvarint(out, series.len() as u64);
    for s in series {
        out.extend_from_slice(&s.tenant.to_le_bytes());
        out.extend_from_slice(&s.id.to_le_bytes());
        let labels = s.labels.encode();
        put_uvarint(out, labels.len() as u64);
        out.extend_from_slice(&labels);
    }
}

/// Encodes a samples record into `out` (cleared first).
pub fn encode_samples(samples: &[SampleRecord], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(samples.len() * 11 + 6);
    out.push(TYPE_SAMPLES);
    put_uvarint(out, samples.len() as u64);
    let (mut prev_id, mut prev_t) = (0u64, 0i64);
    for s in samples {
        put_varint(out, s.series.wrapping_sub(prev_id) as i64);
        put_varint(out, s.sample.t.wrapping_sub(prev_t));
        out.extend_from_slice(&s.sample.v.to_bits().to_le_bytes());
        prev_id = s.series;
        prev_t = s.sample.t;
    }
}

/// Encodes one checkpoint series record into `out` (cleared first).
pub fn encode_checkpoint(c: &CheckpointSeries, out: &mut Vec<u8>) {
    out.clear();
    out.push(TYPE_CHECKPOINT_SERIES);
    out.extend_from_slice(&c.tenant.to_le_bytes());
    out.extend_from_slice(&c.id.to_le_bytes());
    out.extend_from_slice(&c.max_t.to_le_bytes());
    out.push(u8::from(c.open.is_some()));
    if let Some(open) = &c.open {
        put_chunk(out, open);
    }
    put_uvarint(out, c.pending.len() as u64);
    for p in &c.pending {
        put_chunk(out, p);
    }
}

/// Decodes any record; `None` when it is malformed.
pub fn decode(rec: &[u8]) -> Option<Record> {
    let mut r = Reader { b: rec };
    match r.u8()? {
        TYPE_SERIES => {
            let n = r.uvarint()?;
            let mut out = Vec::with_capacity(n.min(1 << 16) as usize);
            for _ in 0..n {
                let tenant = r.u32()?;
                let id = r.u64()?;
                let len = r.uvarint()? as usize;
                let labels = Labels::decode(r.take(len)?)?;
                out.push(SeriesRecord { tenant, id, labels });
            }
            r.done().then_some(Record::Series(out))
        }
        TYPE_SAMPLES => {
            let n = r.uvarint()?;
            let mut out = Vec::with_capacity(n.min(1 << 20) as usize);
            let (mut id, mut t) = (0u64, 0i64);
            for _ in 0..n {
                id = id.wrapping_add(r.varint()? as u64);
                t = t.wrapping_add(r.varint()?);
                let v = f64::from_bits(r.u64()?);
                out.push(SampleRecord { series: id, sample: Sample { t, v } });
            }
            r.done().then_some(Record::Samples(out))
        }
        TYPE_CHECKPOINT_SERIES => {
            let tenant = r.u32()?;
            let id = r.u64()?;
            let max_t = r.u64()? as i64;
            let open = match r.u8()? {
                0 => None,
                1 => Some(r.chunk()?),
                _ => return None,
            };
            let n = r.uvarint()?;
            let mut pending = Vec::new();
            for _ in 0..n {
                pending.push(r.chunk()?);
            }
            r.done().then_some(Record::Checkpoint(CheckpointSeries { tenant, id, max_t, open, pending }))
        }
        _ => None,
    }
}

fn put_chunk(out: &mut Vec<u8>, c: &ChunkRecord) {
    out.extend_from_slice(&c.min_t.to_le_bytes());
    out.extend_from_slice(&c.max_t.to_le_bytes());
    put_uvarint(out, c.bytes.len() as u64);
    out.extend_from_slice(&c.bytes);
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
    }
    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
    fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    fn chunk(&mut self) -> Option<ChunkRecord> {
        let min_t = self.u64()? as i64;
        let max_t = self.u64()? as i64;
        let len = self.uvarint()? as usize;
        Some(ChunkRecord { min_t, max_t, bytes: self.take(len)?.to_vec() })
    }
    fn done(&self) -> bool {
        self.b.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn series_and_checkpoint_records_round_trip() {
        let mut buf = Vec::new();
        let series = vec![SeriesRecord { tenant: 3, id: 9, labels: Labels::from_pairs([("__name__", "up")]) }];
        encode_series(&series, &mut buf);
        assert_eq!(decode(&buf), Some(Record::Series(series)));
        let c = CheckpointSeries {
            tenant: 1,
            id: 2,
            max_t: -5,
            open: Some(ChunkRecord { min_t: -9, max_t: -5, bytes: vec![1, 2, 3] }),
            pending: vec![ChunkRecord { min_t: 0, max_t: 1, bytes: vec![] }],
        };
        encode_checkpoint(&c, &mut buf);
        assert_eq!(decode(&buf), Some(Record::Checkpoint(c)));
        assert_eq!(decode(&buf[..buf.len() - 1]), None);
        assert_eq!(decode(&[99]), None);
    }

    proptest! {
        #[test]
        fn samples_records_round_trip_bit_exact(raw in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<u64>()), 0..200)) {
            let samples: Vec<SampleRecord> = raw.iter().map(|&(series, t, bits)| SampleRecord { series, sample: Sample { t, v: f64::from_bits(bits) } }).collect();
            let mut buf = Vec::new();
            encode_samples(&samples, &mut buf);
            let Some(Record::Samples(back)) = decode(&buf) else { panic!("decode failed") };
            prop_assert_eq!(back.len(), samples.len());
            for (a, b) in back.iter().zip(&samples) {
                prop_assert_eq!(a.series, b.series);
                prop_assert!(a.sample.same_as(&b.sample));
            }
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
