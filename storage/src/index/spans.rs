//! Chunk spans: for each partition and tenant, the series holding chunks
//! there and the time span those chunks cover, so that "has this series
//! data in `[mint, maxt]`" is answered without reading chunks.
//!
//! A series' span in a partition is `[min_t, max_t]`: the smallest chunk min
//! time and the largest chunk max time among its chunks in that partition,
//! with `max_gap`, a bound on the longest run of milliseconds inside the
//! span that no chunk covers. Both ends are sample times, so a span with an
//! end inside a range proves that a chunk overlaps the range. A span that
//! strictly contains the range proves it too when the range is longer than
//! `max_gap` (it cannot fall between two chunks); otherwise it is reported
//! as [`Presence::Unsure`], for the caller to check the chunks. Regular
//! scrapes leave gaps of one scrape interval between chunks, so only ranges
//! shorter than that are ever unsure.
//!
//! The span also keeps `max_len`, the longest `max_t - min_t` of those
//! chunks, so that a read of `[mint, maxt]` starts at the first chunk with
//! a min time of at least `mint - max_len` ([`PartitionRead`]): every
//! chunk before it ends before the range. An instant query at the end of a
//! day-long partition reads the last chunk or two of each series, not all
//! of them.
//!
//! `max_gap` is exact for spans built from chunks in time order and an upper
//! bound otherwise: joining two spans takes the larger of their gaps and
//! the distance between them, which no gap of the joined chunks can exceed
//! (a gap lies inside one span's gap or between the spans, as span ends are
//! chunk times).
//!
//! Invariants (kept by `crate::persist`, which owns every chunk write and
//! delete): a series has a span in a partition exactly when the partition
//! holds a chunk of it, and the span covers all of those chunks. Spans are
//! updated after chunks are written (a reader that finds a chunk gone from
//! the head finds its span here), and removed before chunks are dropped.
//! While a merge rewrites a partition a span may briefly be wider than the
//! chunks; merges only remove samples that tombstones cover, and readers
//! check chunks whenever a tombstone overlaps their range.
//!
//! A partition whose chunks could not be read at open (a damaged file) is
//! marked unknown: every series may have chunks there, so readers read its
//! chunks (and meet the damage) instead of missing its data silently.
//!
//! Memory: 40 bytes per series and partition holding it (sorted vectors,
//! no per-entry allocation).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use parking_lot::{RwLock, RwLockReadGuard};

/// The time covered by a series' chunks in one partition (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// Smallest chunk min time.
    pub min_t: i64,
    /// Largest chunk max time.
    pub max_t: i64,
    /// At least the longest run of milliseconds in `[min_t, max_t]` that no
    /// chunk covers; 0 when the chunks leave no gap.
    pub max_gap: i64,
    /// At least the longest `max_t - min_t` of one chunk.
    pub max_len: i64,
}

impl Span {
    /// The span of one chunk.
    pub(crate) fn chunk(min_t: i64, max_t: i64) -> Span {
        Span { min_t, max_t, max_gap: 0, max_len: max_t.saturating_sub(min_t) }
    }

    /// The span of the chunks of both spans.
    pub(crate) fn union(self, other: Span) -> Span {
        let (first, last) = if self.min_t <= other.min_t { (self, other) } else { (other, self) };
        let between = last.min_t.saturating_sub(first.max_t).saturating_sub(1).max(0);
        Span {
            min_t: first.min_t,
            max_t: first.max_t.max(last.max_t),
            max_gap: first.max_gap.max(last.max_gap).max(between),
            max_len: first.max_len.max(last.max_len),
        }
    }

    fn overlaps(self, mint: i64, maxt: i64) -> bool {
        self.min_t <= maxt && self.max_t >= mint
    }

    /// True when a chunk is known to overlap `[mint, maxt]`: an end of the
    /// span (a sample time) lies inside it, or the span strictly contains
    /// it and it is too long to fit in a gap between chunks.
    fn proves_data_in(self, mint: i64, maxt: i64) -> bool {
        let contains = self.min_t < mint && self.max_t > maxt;
        (mint..=maxt).contains(&self.min_t)
            || (mint..=maxt).contains(&self.max_t)
            || (contains && maxt.saturating_sub(mint) >= self.max_gap)
    }
}

/// A partition to read a series' chunks from for a range, and the least
/// chunk min time worth reading there: chunks that start before `from_t`
/// end before the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartitionRead {
    /// The partition's start.
    pub start: i64,
    /// The range's start less the longest chunk's length (`i64::MIN` when
    /// unknown).
    pub from_t: i64,
}

impl PartitionRead {
    /// A read of every chunk of partition `start`.
    pub(crate) fn whole(start: i64) -> Self {
        Self { start, from_t: i64::MIN }
    }
}

/// Whether a series' persisted chunks overlap a time range.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    /// A chunk overlaps the range.
    Present,
    /// No chunk overlaps the range.
    Absent,
    /// The span of the series in these partitions strictly contains the
    /// range: read the chunks there to decide.
    Unsure(Vec<PartitionRead>),
}

/// Spans of one tenant in one partition, sorted by series id.
type TenantSpans = Vec<(u64, Span)>;

/// Spans of every partition, by partition start and tenant.
pub(crate) struct SpanTable {
    partitions: BTreeMap<i64, HashMap<u32, TenantSpans>>,
    /// Starts of partitions whose spans are unknown.
    unknown: BTreeSet<i64>,
    partition_ms: i64,
}

/// The chunk spans of a database, behind their lock.
pub(crate) struct ChunkSpans {
    table: RwLock<SpanTable>,
}

impl ChunkSpans {
    /// No spans, for partitions `partition_ms` wide.
    pub(crate) fn new(partition_ms: i64) -> Self {
        Self { table: RwLock::new(SpanTable { partitions: BTreeMap::new(), unknown: BTreeSet::new(), partition_ms }) }
    }

    /// Widens (or creates) spans for written chunks, given as
    /// `(partition start, tenant, series, span)` in any order.
    pub(crate) fn add(&self, chunks: impl IntoIterator<Item = (i64, u32, u64, Span)>) {
        let mut grouped: HashMap<(i64, u32), TenantSpans> = HashMap::new();
        for (start, tenant, series, span) in chunks {
            grouped.entry((start, tenant)).or_default().push((series, span));
        }
        let mut table = self.table.write();
        for ((start, tenant), mut added) in grouped {
            let spans = table.partitions.entry(start).or_default().entry(tenant).or_default();
            added.sort_by_key(|(id, _)| *id);
            // Two sorted runs: the stable sort merges them in linear time.
            spans.extend(added);
            spans.sort_by_key(|(id, _)| *id);
            spans.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1 = kept.1.union(later.1);
                }
                same
            });
        }
    }

    /// Sets the spans of series whose chunks in partition `start` were
    /// rewritten: `Some` is the new span, `None` means no chunk is left.
    pub(crate) fn replace(&self, start: i64, rewritten: impl IntoIterator<Item = (u32, u64, Option<Span>)>) {
        let mut table = self.table.write();
        let Some(partition) = table.partitions.get_mut(&start) else { return };
        for (tenant, series, span) in rewritten {
            let Some(spans) = partition.get_mut(&tenant) else { continue };
            match (spans.binary_search_by_key(&series, |(id, _)| *id), span) {
                (Ok(i), Some(span)) => spans[i].1 = span,
                (Ok(i), None) => {
                    spans.remove(i);
                }
                (Err(i), Some(span)) => spans.insert(i, (series, span)),
                (Err(_), None) => {}
            }
        }
    }

    /// Marks a partition's spans unknown: any series may have chunks there.
    pub(crate) fn mark_unknown(&self, start: i64) {
        self.table.write().unknown.insert(start);
    }

    /// Forgets a partition (before it is dropped).
    pub(crate) fn drop_partition(&self, start: i64) {
        let mut table = self.table.write();
        table.partitions.remove(&start);
        table.unknown.remove(&start);
    }

    /// Forgets a tenant's spans in a partition (before its chunks there are
    /// deleted).
    pub(crate) fn remove_tenant(&self, start: i64, tenant: u32) {
        if let Some(p) = self.table.write().partitions.get_mut(&start) {
            p.remove(&tenant);
        }
    }

    /// Read access for one query.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, SpanTable> {
        self.table.read()
    }
}

impl SpanTable {
    /// Starts of the partitions that may overlap `[mint, maxt]`.
    fn starts(&self, mint: i64, maxt: i64) -> std::ops::RangeInclusive<i64> {
        let first = mint.saturating_sub(self.partition_ms).saturating_add(1);
        if first <= maxt {
            first..=maxt
        } else {
            maxt..=maxt
        }
    }

    /// The partitions where a series may have chunks overlapping
    /// `[mint, maxt]`, each with the series' span there (`None`: unknown).
    fn overlapping(
        &self,
        tenant: u32,
        series: u64,
        mint: i64,
        maxt: i64,
    ) -> impl Iterator<Item = (i64, Option<Span>)> + '_ {
        let known = self.partitions.range(self.starts(mint, maxt)).filter_map(move |(start, tenants)| {
            let spans = tenants.get(&tenant)?;
            let i = spans.binary_search_by_key(&series, |(id, _)| *id).ok()?;
            let span = spans[i].1;
            span.overlaps(mint, maxt).then_some((*start, Some(span)))
        });
        let unknown = self.unknown.range(self.starts(mint, maxt)).map(|start| (*start, None));
        known.chain(unknown)
    }

    /// Whether a series' persisted chunks overlap `[mint, maxt]`.
    pub(crate) fn presence(&self, tenant: u32, series: u64, mint: i64, maxt: i64) -> Presence {
        if self
            .overlapping(tenant, series, mint, maxt)
            .any(|(_, span)| span.is_some_and(|s| s.proves_data_in(mint, maxt)))
        {
            return Presence::Present;
        }
        match self.partitions_of(tenant, series, mint, maxt) {
            reads if reads.is_empty() => Presence::Absent,
            reads => Presence::Unsure(reads),
        }
    }

    /// The partitions where a series' chunks may overlap `[mint, maxt]`,
    /// ascending, each with where its reading starts: the only chunks
    /// worth reading for it.
    pub(crate) fn partitions_of(&self, tenant: u32, series: u64, mint: i64, maxt: i64) -> Vec<PartitionRead> {
        let mut reads: Vec<PartitionRead> = self
            .overlapping(tenant, series, mint, maxt)
            .map(|(start, span)| match span {
                Some(span) => PartitionRead { start, from_t: mint.saturating_sub(span.max_len) },
                None => PartitionRead::whole(start),
            })
            .collect();
        // A partition both known and marked unknown is read whole.
        reads.sort_unstable_by_key(|r| (r.start, r.from_t));
        reads.dedup_by_key(|r| r.start);
        reads
    }

    /// Approximate heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(u64, Span)>();
        self.partitions.values().flat_map(|p| p.values()).map(|s| s.capacity() * entry).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: i64 = 1000;

    fn span(min_t: i64, max_t: i64) -> Span {
        Span::chunk(min_t, max_t)
    }

    fn read(start: i64, from_t: i64) -> PartitionRead {
        PartitionRead { start, from_t }
    }

    #[test]
    fn presence_is_decided_by_span_ends_and_unsure_inside_a_span() {
        let spans = ChunkSpans::new(P);
        spans.add([(0, 1, 7, span(100, 200)), (0, 1, 7, span(600, 700)), (1000, 1, 7, span(1000, 1100))]);
        let t = spans.read();
        assert_eq!(t.presence(1, 7, 0, 99), Presence::Absent);
        assert_eq!(t.presence(1, 7, 50, 150), Presence::Present, "the span's start is in the range");
        assert_eq!(t.presence(1, 7, 650, 1050), Presence::Present, "a span's end is in the range");
        // Chunks are at most 100 ms long: reads start 100 ms before the range.
        assert_eq!(t.presence(1, 7, 150, 250), Presence::Unsure(vec![read(0, 50)]), "the two chunks share one span");
        assert_eq!(t.presence(1, 7, 300, 400), Presence::Unsure(vec![read(0, 200)]), "inside the span, maybe a gap");
        assert_eq!(t.presence(1, 7, 201, 599), Presence::Unsure(vec![read(0, 101)]), "exactly the gap");
        assert_eq!(t.presence(1, 7, 200, 599), Presence::Present, "one longer than the gap");
        assert_eq!(t.presence(1, 7, 300, 699), Presence::Present, "longer than the gap between the chunks");
        assert_eq!(t.presence(1, 7, 701, 999), Presence::Absent);
        assert_eq!(t.presence(2, 7, 0, 2000), Presence::Absent, "another tenant");
        assert_eq!(t.presence(1, 8, 0, 2000), Presence::Absent, "another series");
        assert_eq!(t.partitions_of(1, 7, 0, 2000), [read(0, -100), read(1000, -100)]);
        assert_eq!(t.partitions_of(1, 7, 1050, 2000), [read(1000, 950)]);
    }

    /// The longest run of milliseconds inside the chunks' span that no
    /// chunk covers, by brute force over the chunks in time order.
    fn true_max_gap(chunks: &[(i64, i64)]) -> i64 {
        let mut sorted = chunks.to_vec();
        sorted.sort_unstable();
        let mut covered_to = sorted[0].1;
        let mut gap = 0;
        for &(min_t, max_t) in &sorted[1..] {
            gap = gap.max(min_t - covered_to - 1);
            covered_to = covered_to.max(max_t);
        }
        gap
    }

    fn stored_span(spans: &ChunkSpans, start: i64, tenant: u32, series: u64) -> Span {
        let table = spans.read();
        let tenant_spans = &table.partitions[&start][&tenant];
        tenant_spans.iter().find(|(id, _)| *id == series).map(|(_, s)| *s).expect("a span")
    }

    proptest::proptest! {
        /// Chunks added in any order and grouping: `Present` and `Absent`
        /// are never wrong; the gap bound is exact when chunks come in time
        /// order and never too small otherwise; a read skips only chunks
        /// that end before the range.
        #[test]
        fn presence_never_contradicts_the_chunks(
            chunks in proptest::collection::vec((0i64..1000, 0i64..120), 1..7),
            split in 0usize..7,
            ranges in proptest::collection::vec((0i64..1200, 0i64..500), 1..20),
        ) {
            let chunks: Vec<(i64, i64)> = chunks.into_iter().map(|(min_t, len)| (min_t, min_t + len)).collect();
            let shuffled = ChunkSpans::new(10 * P);
            let (early, late) = chunks.split_at(split.min(chunks.len()));
            for group in [late, early] {
                shuffled.add(group.iter().map(|&(min_t, max_t)| (0, 1, 7, span(min_t, max_t))));
            }
            let mut in_order = chunks.clone();
            in_order.sort_unstable();
            let ordered = ChunkSpans::new(10 * P);
            for &(min_t, max_t) in &in_order {
                ordered.add([(0, 1, 7, span(min_t, max_t))]);
            }
            let gap = true_max_gap(&chunks);
            proptest::prop_assert_eq!(stored_span(&ordered, 0, 1, 7).max_gap, gap);
            proptest::prop_assert!(stored_span(&shuffled, 0, 1, 7).max_gap >= gap);
            for (mint, len) in ranges {
                let maxt = mint + len;
                let holds = chunks.iter().any(|&(min_t, max_t)| min_t <= maxt && max_t >= mint);
                for spans in [&shuffled, &ordered] {
                    match spans.read().presence(1, 7, mint, maxt) {
                        Presence::Present => proptest::prop_assert!(holds, "{:?} in {}..={}", chunks, mint, maxt),
                        Presence::Absent => proptest::prop_assert!(!holds, "{:?} in {}..={}", chunks, mint, maxt),
                        Presence::Unsure(reads) => {
                            proptest::prop_assert_eq!(reads.len(), 1);
                            proptest::prop_assert_eq!(reads[0].start, 0);
                        }
                    }
                    for r in spans.read().partitions_of(1, 7, mint, maxt) {
                        let skipped = chunks.iter().filter(|&&(min_t, _)| min_t < r.from_t);
                        for &(min_t, max_t) in skipped {
                            proptest::prop_assert!(max_t < mint, "({}, {}) skipped for {}..={}", min_t, max_t, mint, maxt);
                        }
                    }
                }
                if len >= gap {
                    let decided = ordered.read().presence(1, 7, mint, maxt);
                    proptest::prop_assert!(!matches!(decided, Presence::Unsure(_)), "longer than every gap");
                }
            }
        }
    }

    #[test]
    fn rewrites_and_removals_update_spans() {
        let spans = ChunkSpans::new(P);
        spans.add([(0, 1, 1, span(10, 20)), (0, 1, 2, span(10, 20)), (0, 2, 3, span(10, 20))]);
        spans.add([(0, 1, 1, span(5, 8)), (1000, 1, 1, span(1000, 1001))]);
        assert_eq!(spans.read().presence(1, 1, 5, 5), Presence::Present);
        spans.replace(0, [(1, 1, Some(span(15, 20))), (1, 2, None)]);
        assert_eq!(spans.read().presence(1, 1, 0, 12), Presence::Absent);
        assert_eq!(spans.read().presence(1, 2, 0, 999), Presence::Absent);
        spans.remove_tenant(0, 2);
        assert_eq!(spans.read().presence(2, 3, 0, 999), Presence::Absent);
        spans.drop_partition(1000);
        assert_eq!(spans.read().presence(1, 1, 1000, 1001), Presence::Absent);
        assert_eq!(spans.read().presence(1, 1, 0, 999), Presence::Present);
    }

    #[test]
    fn an_unknown_partition_is_read_for_every_series() {
        let spans = ChunkSpans::new(P);
        spans.add([(0, 1, 1, span(10, 20))]);
        spans.mark_unknown(1000);
        let t = spans.read();
        assert_eq!(t.presence(1, 1, 0, 1500), Presence::Present);
        assert_eq!(t.presence(1, 2, 0, 1500), Presence::Unsure(vec![PartitionRead::whole(1000)]));
        assert_eq!(t.presence(1, 2, 0, 999), Presence::Absent);
        assert_eq!(t.partitions_of(1, 1, 0, 1500), [read(0, -10), PartitionRead::whole(1000)]);
        drop(t);
        spans.drop_partition(1000);
        assert_eq!(spans.read().presence(1, 2, 0, 1500), Presence::Absent);
    }
}
