//! One in-memory series: its open chunk, closed chunks awaiting persistence
//! and out-of-order samples, and the append rules that keep history
//! append-only.
//!
//! Invariants (kept under the series' mutex):
//! - `max_t` is the newest timestamp the series holds anywhere (head or
//!   RocksDB); a sample newer than it is appended to the open chunk.
//! - A timestamp occurs at most once across all of a series' data (first
//!   write wins). Because of this a chunk's min time identifies it, which is
//!   what the RocksDB chunk key relies on.
//! - Chunks never span partitions: the open chunk is cut at a partition
//!   boundary and out-of-order samples are split per partition on flush.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::chunkenc::{self, XorAppender};
use crate::db::RejectionKind;
use crate::error::Result;
use crate::model::Sample;
use crate::record::ChunkRecord;

/// An in-memory series.
pub struct MemSeries {
    /// Global series id.
    pub id: u64,
    /// Tenant id.
    pub tenant: u32,
    /// Canonical byte form of its labels: with `tenant`, the head map's
    /// identity of the series.
    pub key: Box<[u8]>,
    /// Mutable state.
    pub state: Mutex<SeriesState>,
}

/// A closed chunk held by the head until RocksDB has it.
#[derive(Clone, Debug)]
pub struct HeadChunk {
    /// First sample time.
    pub min_t: i64,
    /// Last sample time.
    pub max_t: i64,
    /// Encoded XOR chunk.
    pub bytes: Arc<[u8]>,
    /// Generation of the flush that is persisting it; 0 when none is.
    pub flush_gen: u64,
}

struct OpenChunk {
    app: XorAppender,
    min_t: i64,
    max_t: i64,
}

/// Rules one append runs under.
pub struct AppendRules {
    /// Samples per head chunk.
    pub chunk_samples: u16,
    /// Partition width in milliseconds.
    pub partition_ms: i64,
    /// Out-of-order window in milliseconds.
    pub ooo_ms: i64,
    /// Samples older than this are out of bounds (retention).
    pub min_valid_t: i64,
    /// Replaying the WAL: apply what was accepted before, without time checks.
    pub replay: bool,
}

/// The outcome of appending one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored.
    Appended,
    /// The series already holds this exact sample: accepted as a no-op.
    Identical,
    /// Refused.
    Rejected(RejectionKind),
}

/// Mutable state of a series.
pub struct SeriesState {
    /// Newest sample time held anywhere; `i64::MIN` when none.
    pub max_t: i64,
    open: Option<OpenChunk>,
    closed: Vec<HeadChunk>,
    /// Out-of-order samples, sorted by time, not yet persisted.
    ooo: Vec<Sample>,
}

impl SeriesState {
    /// A series whose newest persisted sample is at `max_t`.
    pub fn new(max_t: i64) -> Self {
        Self { max_t, open: None, closed: Vec::new(), ooo: Vec::new() }
    }

    /// True when the head holds no data of this series.
    pub fn is_empty(&self) -> bool {
        self.open.is_none() && self.closed.is_empty() && self.ooo.is_empty()
    }

    /// The oldest sample time held in the head, if any.
    pub fn head_min_t(&self) -> Option<i64> {
        let open = self.open.as_ref().map(|o| o.min_t);
        let closed = self.closed.iter().map(|c| c.min_t).min();
        let ooo = self.ooo.first().map(|s| s.t);
        [open, closed, ooo].into_iter().flatten().min()
    }

    /// Appends a sample. `persisted` looks a timestamp up in RocksDB and
    /// returns the stored value's bits, if any.
    pub fn append(
        &mut self,
        s: Sample,
        rules: &AppendRules,
        persisted: impl FnOnce(i64) -> Result<Option<u64>>,
    ) -> Result<AppendOutcome> {
        if !rules.replay && s.t < rules.min_valid_t {
            return Ok(AppendOutcome::Rejected(RejectionKind::OutOfBounds));
        }
        if s.t > self.max_t {
            self.append_in_order(s, rules)?;
            return Ok(AppendOutcome::Appended);
        }
        let existing = match self.find_in_head(s.t) {
            Some(bits) => Some(bits),
            None => persisted(s.t)?,
        };
        Ok(match existing {
            Some(bits) if bits == s.v.to_bits() => AppendOutcome::Identical,
            Some(_) => AppendOutcome::Rejected(RejectionKind::DuplicateTimestamp),
            None if !rules.replay && s.t < self.max_t.saturating_sub(rules.ooo_ms) => {
                AppendOutcome::Rejected(RejectionKind::OutOfOrder)
            }
            None => {
                let at = self.ooo.partition_point(|x| x.t < s.t);
                self.ooo.insert(at, s);
                AppendOutcome::Appended
            }
        })
    }

    fn append_in_order(&mut self, s: Sample, rules: &AppendRules) -> Result<()> {
        let partition = s.t.div_euclid(rules.partition_ms);
        let cut = self.open.as_ref().is_some_and(|o| {
            o.app.num_samples() >= usize::from(rules.chunk_samples)
                || o.min_t.div_euclid(rules.partition_ms) != partition
        });
        if cut {
            self.close_open();
        }
        let open = self.open.get_or_insert_with(|| OpenChunk { app: XorAppender::new(), min_t: s.t, max_t: s.t });
        open.app.append(s.t, s.v)?;
        open.max_t = s.t;
        self.max_t = s.t;
        Ok(())
    }

    fn close_open(&mut self) {
        if let Some(o) = self.open.take() {
            self.closed.push(HeadChunk { min_t: o.min_t, max_t: o.max_t, bytes: o.app.bytes().into(), flush_gen: 0 });
        }
    }

    /// The value bits stored at `t` in the head, if any.
    fn find_in_head(&self, t: i64) -> Option<u64> {
        if let Ok(i) = self.ooo.binary_search_by(|x| x.t.cmp(&t)) {
            return Some(self.ooo[i].v.to_bits());
        }
        let open = self.open.as_ref().filter(|o| o.min_t <= t && t <= o.max_t).map(|o| o.app.bytes());
        let closed = self.closed.iter().filter(|c| c.min_t <= t && t <= c.max_t).map(|c| &c.bytes[..]);
        open.into_iter().chain(closed).find_map(|bytes| find_in_chunk(bytes, t))
    }

    /// Restores head state from a checkpoint.
    pub fn restore(&mut self, open: Option<ChunkRecord>, pending: Vec<ChunkRecord>) -> Result<()> {
        if let Some(o) = open {
            let app = XorAppender::from_bytes(&o.bytes)?;
            self.open = Some(OpenChunk { app, min_t: o.min_t, max_t: o.max_t });
        }
        self.closed.extend(pending.into_iter().map(|c| HeadChunk {
            min_t: c.min_t,
            max_t: c.max_t,
            bytes: c.bytes.into(),
            flush_gen: 0,
        }));
        Ok(())
    }

    /// Prepares a flush: closes the open chunk when `force` is set, turns
    /// out-of-order samples into chunks, marks every closed chunk with `gen`
    /// and returns them, plus the open chunk for the checkpoint.
    pub fn take_for_flush(
        &mut self,
        gen: u64,
        force: bool,
        rules: &AppendRules,
    ) -> (Vec<HeadChunk>, Option<ChunkRecord>) {
        if force {
            self.close_open();
        }
        let ooo = std::mem::take(&mut self.ooo);
        for group in ooo.chunk_by(|a, b| a.t.div_euclid(rules.partition_ms) == b.t.div_euclid(rules.partition_ms)) {
            for part in group.chunks(usize::from(rules.chunk_samples.max(1))) {
                self.closed.push(HeadChunk {
                    min_t: part[0].t,
                    max_t: part[part.len() - 1].t,
                    bytes: chunkenc::encode(part).into(),
                    flush_gen: 0,
                });
            }
        }
        for c in &mut self.closed {
            c.flush_gen = gen;
        }
        let open =
            self.open.as_ref().map(|o| ChunkRecord { min_t: o.min_t, max_t: o.max_t, bytes: o.app.bytes().to_vec() });
        (self.closed.clone(), open)
    }

    /// Drops the chunks a successful flush `gen` persisted.
    pub fn finish_flush(&mut self, gen: u64) {
        self.closed.retain(|c| c.flush_gen != gen);
    }

    /// True when [`SeriesState::read`] over `[mint, maxt]` would return
    /// something (a chunk overlapping the range or a loose sample in it),
    /// without copying anything.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        let overlaps = |min_t, max_t| spans_overlap(min_t, max_t, mint, maxt);
        self.closed.iter().any(|c| overlaps(c.min_t, c.max_t))
            || self.open.as_ref().is_some_and(|o| overlaps(o.min_t, o.max_t))
            || self.ooo.iter().any(|s| s.t >= mint && s.t <= maxt)
    }

    /// Head data overlapping `[mint, maxt]`: chunks (the open one copied) and
    /// out-of-order samples.
    pub fn read(&self, mint: i64, maxt: i64) -> (Vec<HeadChunk>, Vec<Sample>) {
        let overlaps = |min_t, max_t| spans_overlap(min_t, max_t, mint, maxt);
        let mut chunks: Vec<HeadChunk> = self.closed.iter().filter(|c| overlaps(c.min_t, c.max_t)).cloned().collect();
        if let Some(o) = self.open.as_ref().filter(|o| overlaps(o.min_t, o.max_t)) {
            chunks.push(HeadChunk { min_t: o.min_t, max_t: o.max_t, bytes: o.app.bytes().into(), flush_gen: 0 });
        }
        let ooo = self.ooo.iter().filter(|s| s.t >= mint && s.t <= maxt).copied().collect();
        (chunks, ooo)
    }

    /// Number of samples held in the head.
    pub fn head_samples(&self) -> usize {
        let chunk_samples = |b: &[u8]| chunkenc::XorIter::new(b).map_or(0, |i| i.num_samples());
        self.open.as_ref().map_or(0, |o| o.app.num_samples())
            + self.closed.iter().map(|c| chunk_samples(&c.bytes)).sum::<usize>()
            + self.ooo.len()
    }
}

/// True when the chunk `[min_t, max_t]` overlaps `[mint, maxt]`.
fn spans_overlap(min_t: i64, max_t: i64, mint: i64, maxt: i64) -> bool {
    min_t <= maxt && max_t >= mint
}

/// The value bits at `t` in an encoded chunk. A chunk that fails to decode
/// was produced by this process and cannot be corrupt; it is treated as not
/// holding `t`.
fn find_in_chunk(bytes: &[u8], t: i64) -> Option<u64> {
    for s in chunkenc::XorIter::new(bytes).ok()? {
        let s = s.ok()?;
        if s.t == t {
            return Some(s.v.to_bits());
        }
        if s.t > t {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AppendRules {
        AppendRules { chunk_samples: 3, partition_ms: 1000, ooo_ms: 100, min_valid_t: 0, replay: false }
    }

    fn none(_: i64) -> Result<Option<u64>> {
        Ok(None)
    }

    #[test]
    fn append_rules_keep_history_append_only() {
        let mut s = SeriesState::new(i64::MIN);
        let r = rules();
        let stale = f64::from_bits(crate::model::STALE_NAN_BITS);
        let cases: [(i64, f64, AppendOutcome); 9] = [
            (10, 1.0, AppendOutcome::Appended),
            (20, stale, AppendOutcome::Appended),
            (20, stale, AppendOutcome::Identical),
            (20, 2.0, AppendOutcome::Rejected(RejectionKind::DuplicateTimestamp)),
            (500, 5.0, AppendOutcome::Appended),
            (450, 4.5, AppendOutcome::Appended), // out of order, inside the window
            (450, 4.5, AppendOutcome::Identical),
            (300, 3.0, AppendOutcome::Rejected(RejectionKind::OutOfOrder)),
            (-1, 0.0, AppendOutcome::Rejected(RejectionKind::OutOfBounds)),
        ];
        for (t, v, want) in cases {
            assert_eq!(s.append(Sample::new(t, v), &r, none).expect("append"), want, "sample at {t}");
        }
        let (chunks, ooo) = s.read(0, 1000);
        let mut all: Vec<Sample> =
            chunks.iter().flat_map(|c| chunkenc::decode_all(&c.bytes).expect("decode")).collect();
        all.extend(ooo);
        all.sort_by_key(|s| s.t);
        let ts: Vec<i64> = all.iter().map(|s| s.t).collect();
        assert_eq!(ts, vec![10, 20, 450, 500]);
        assert_eq!(all[1].v.to_bits(), crate::model::STALE_NAN_BITS);
    }

    #[test]
    fn persisted_values_take_part_in_duplicate_checks() {
        let mut s = SeriesState::new(100);
        let r = rules();
        let persisted = |t: i64| Ok((t == 50).then_some(7.0f64.to_bits()));
        assert_eq!(s.append(Sample::new(50, 7.0), &r, persisted).expect("append"), AppendOutcome::Identical);
        assert_eq!(
            s.append(Sample::new(50, 8.0), &r, persisted).expect("append"),
            AppendOutcome::Rejected(RejectionKind::DuplicateTimestamp)
        );
    }

    #[test]
    fn chunks_are_cut_by_size_and_partition_and_flushed_once() {
        let mut s = SeriesState::new(i64::MIN);
        let r = rules();
        for t in [1, 2, 3, 4, 999, 1000, 1001] {
            s.append(Sample::new(t, t as f64), &r, none).expect("append");
        }
        let (chunks, open) = s.take_for_flush(7, false, &r);
        let bounds: Vec<(i64, i64)> = chunks.iter().map(|c| (c.min_t, c.max_t)).collect();
        assert_eq!(bounds, vec![(1, 3), (4, 999)]);
        assert_eq!(open.map(|o| (o.min_t, o.max_t)), Some((1000, 1001)));
        s.append(Sample::new(1002, 0.0), &r, none).expect("append");
        s.finish_flush(7);
        assert!(s.closed.is_empty());
        let (chunks, open) = s.take_for_flush(8, true, &r);
        assert_eq!(chunks.len(), 1);
        assert!(open.is_none());
    }
}
