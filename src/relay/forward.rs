//! Forwarding: queue → store, at least once.
//!
//! One dispatcher thread reads queue records in order and hands each to the
//! sender of its lane: a shard's records (series chosen at append time by a
//! hash of their labels) to that shard's sender, requests passed on whole
//! (series of any shard, [`Lane::Whole`]) to the one whole-lane sender. Each
//! sender batches consecutive records of one tenant up to
//! `max_samples_per_send` (joining their snappy blocks, see [`merge`]),
//! sends, and retries with exponential backoff and jitter until the store
//! answers 2xx, or a 4xx that no retry can fix (400, 413, 422: counted and
//! logged with the store's reason, then dropped). 401, 403, 404 and 408 are
//! retried too: they come from the relay's own configuration (token, URL)
//! and an operator can fix them without data being lost meanwhile.
//!
//! Order: every series of a tenant reaches the store in queue order. Within
//! a lane one sender sends one batch at a time. Across lanes, the
//! dispatcher hands a tenant's whole-lane record on only once none of that
//! tenant's shard records is in flight, and a shard record only once none
//! of its whole-lane records is (a tenant switches lanes when a request is
//! partly refused or its settings change); other tenants go on meanwhile
//! only behind it in queue order.
//!
//! The cursor (persisted by [`persist_cursor`]) is the start of the oldest
//! record not yet acknowledged by the store, so a restart resends from
//! there; the store treats resent identical samples as no-ops.
//!
//! Locks: `Tracker` guards the dispatched-but-unacknowledged records; it is
//! never held across I/O or an `.await`; [`Acks`] signals acknowledgements
//! to the dispatcher waiting on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use rand::Rng;
use tokio::sync::mpsc;

use super::metrics::RelayMetrics;
use super::queue::{Lane, Position, Queue, Reader, Record};
use crate::config::relay::UpstreamConfig;
use crate::tls::client::client_config;

/// Records the dispatcher reads at a time.
const READ_BATCH: usize = 256;
/// Records waiting per sender before the dispatcher blocks.
const SHARD_CAPACITY: usize = 32;
/// How long the dispatcher waits for new records before checking again.
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// How often the cursor is persisted.
const CURSOR_PERIOD: Duration = Duration::from_millis(500);
/// Characters of a store's error body kept in logs.
const MAX_REASON_IN_LOG: usize = 500;

/// Where and how to forward.
#[derive(Clone, Debug)]
pub struct ForwardSettings {
    /// Remote-write URL of the store.
    pub url: String,
    /// Bearer token presented to the store.
    pub bearer_token: Option<String>,
    /// Header carrying the tenant.
    pub tenant_header: String,
    /// Senders.
    pub shards: usize,
    /// Most samples per request.
    pub max_samples_per_send: usize,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

/// Whether a record is in the whole lane, as the cross-lane order needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LaneKind {
    Shard,
    Whole,
}

impl From<Lane> for LaneKind {
    fn from(lane: Lane) -> Self {
        match lane {
            Lane::Shard(_) => LaneKind::Shard,
            Lane::Whole => LaneKind::Whole,
        }
    }
}

/// A dispatched record not yet acknowledged.
#[derive(Debug)]
struct Pending {
    start: Position,
    tenant: String,
    kind: LaneKind,
    /// Whole lane: its sender and its series' tenant-wide keys.
    whole: Option<(usize, Vec<u64>)>,
}

/// Records handed to senders and not yet acknowledged.
#[derive(Debug)]
pub struct Tracker {
    /// Sequence number → the record.
    pending: BTreeMap<u64, Pending>,
    /// Per tenant: records in flight in shard lanes and in the whole lane.
    in_flight_by_tenant: HashMap<String, [usize; 2]>,
    /// Series key (tenant's key in the high half) of whole-lane records in
    /// flight → their sender and how many of them hold it.
    whole_series: HashMap<u64, (usize, u32), ahash::RandomState>,
    /// Whole-lane records in flight per whole-lane sender.
    whole_load: Vec<usize>,
    tenant_keys: ahash::RandomState,
    /// End of the last record dispatched.
    read_pos: Position,
    next_seq: u64,
    /// The dispatcher's last read found nothing new.
    reader_idle: bool,
}

impl Tracker {
    /// A tracker for a reader starting at `start`.
    pub fn new(start: Position) -> Self {
        Self {
            pending: BTreeMap::new(),
            in_flight_by_tenant: HashMap::new(),
            whole_series: HashMap::default(),
            whole_load: Vec::new(),
            tenant_keys: ahash::RandomState::new(),
            read_pos: start,
            next_seq: 0,
            reader_idle: false,
        }
    }

    /// The tenant-wide keys of a whole-lane record's series.
    fn whole_keys(&self, record: &Record) -> Vec<u64> {
        let tenant = u64::from(self.tenant_keys.hash_one(&record.tenant) as u32) << 32;
        record.series.iter().map(|&k| tenant | u64::from(k)).collect()
    }

    /// Registers a dispatched record (a whole-lane record with its sender
    /// and keys); returns its sequence number.
    fn dispatched(
        &mut self,
        start: Position,
        end: Position,
        tenant: &str,
        kind: LaneKind,
        whole: Option<(usize, Vec<u64>)>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some((sender, keys)) = &whole {
            for &key in keys {
                self.whole_series.entry(key).or_insert((*sender, 0)).1 += 1;
            }
            if self.whole_load.len() <= *sender {
                self.whole_load.resize(sender + 1, 0);
            }
            self.whole_load[*sender] += 1;
        }
        self.pending.insert(seq, Pending { start, tenant: tenant.to_owned(), kind, whole });
        self.in_flight_by_tenant.entry(tenant.to_owned()).or_default()[kind as usize] += 1;
        self.read_pos = end;
        seq
    }

    /// Registers a record read and skipped (not forwarded).
    fn skipped(&mut self, end: Position) {
        self.read_pos = end;
    }

    fn acknowledged(&mut self, seqs: impl IntoIterator<Item = u64>) {
        for s in seqs {
            let Some(p) = self.pending.remove(&s) else { continue };
            if let Some(counts) = self.in_flight_by_tenant.get_mut(&p.tenant) {
                counts[p.kind as usize] -= 1;
                if counts == &[0, 0] {
                    self.in_flight_by_tenant.remove(&p.tenant);
                }
            }
            if let Some((sender, keys)) = p.whole {
                self.whole_load[sender] -= 1;
                for key in keys {
                    if let Some((_, n)) = self.whole_series.get_mut(&key) {
                        *n -= 1;
                        if *n == 0 {
                            self.whole_series.remove(&key);
                        }
                    }
                }
            }
        }
    }

    /// True when a record of `tenant` in a lane of `kind` may be handed on
    /// now: none of the tenant's records of the other kind is in flight.
    fn may_dispatch(&self, tenant: &str, kind: LaneKind) -> bool {
        let other = match kind {
            LaneKind::Shard => LaneKind::Whole,
            LaneKind::Whole => LaneKind::Shard,
        };
        self.in_flight_by_tenant.get(tenant).is_none_or(|counts| counts[other as usize] == 0)
    }

    /// The whole-lane sender (of `senders`) a record with these series keys
    /// may go to now: the one sender holding records that share a series
    /// with it, else the least loaded one; `None` while records sharing its
    /// series are in flight on several senders.
    fn whole_sender_for(&self, keys: &[u64], senders: usize) -> Option<usize> {
        let mut holder = None;
        for key in keys {
            match (self.whole_series.get(key), holder) {
                (Some(&(sender, _)), None) => holder = Some(sender),
                (Some(&(sender, _)), Some(h)) if sender != h => return None,
                _ => {}
            }
        }
        let load = |sender: usize| self.whole_load.get(sender).copied().unwrap_or(0);
        holder.or_else(|| (0..senders).min_by_key(|&s| load(s)))
    }

    /// Everything before this position was acknowledged by the store.
    pub fn cursor(&self) -> Position {
        self.pending.first_key_value().map_or(self.read_pos, |(_, p)| p.start)
    }

    /// Records dispatched and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// True when everything queued so far was acknowledged by the store (as
    /// of the dispatcher's last look at the queue).
    pub fn caught_up(&self) -> bool {
        self.reader_idle && self.pending.is_empty()
    }
}

/// The tracker and the signal of acknowledgements, shared by the senders
/// and the dispatcher.
struct Acks {
    tracker: Arc<Mutex<Tracker>>,
    acknowledged: Condvar,
}

impl Acks {
    fn acknowledge(&self, seqs: impl IntoIterator<Item = u64>) {
        self.tracker.lock().acknowledged(seqs);
        self.acknowledged.notify_all();
    }
}

/// A record on its way to a sender.
struct Item {
    seq: u64,
    record: Record,
}

/// The HTTP client of the store (forwarding and the HA lease): `timeout`
/// per request, and for an `https` URL the TLS of `tls_config`.
pub fn store_client(store: &UpstreamConfig) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(store.timeout);
    if reqwest::Url::parse(&store.url).is_ok_and(|u| u.scheme() == "https") {
        builder = builder.use_preconfigured_tls(client_config(&store.tls_config).context("store.tls_config")?);
    }
    builder.build().context("building the store's HTTP client")
}

/// Starts the dispatcher thread and the senders (`shards` for the shard
/// lanes, as many for the whole lane) on the forwarding thread, which send
/// with `client` (see [`store_client`]; used by nothing else, as its
/// connections belong to that thread's runtime); returns the tracker.
pub fn start(
    queue: Arc<Queue>,
    from: Position,
    client: reqwest::Client,
    settings: ForwardSettings,
    metrics: Arc<RelayMetrics>,
) -> std::io::Result<Arc<Mutex<Tracker>>> {
    let tracker = Arc::new(Mutex::new(Tracker::new(from)));
    let acks = Arc::new(Acks { tracker: tracker.clone(), acknowledged: Condvar::new() });
    let settings = Arc::new(settings);
    let shards = settings.shards;
    let lanes = (0..shards).map(|s| Lane::Shard(u8::try_from(s).unwrap_or(u8::MAX)));
    // The senders run on a thread of their own, so that the operating
    // system shares the CPU between them and the receive path rather than
    // queueing them behind the server's connection tasks.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut senders = Vec::with_capacity(2 * shards);
    let mut running = tokio::task::JoinSet::new();
    for lane in lanes.chain(std::iter::repeat_n(Lane::Whole, shards)) {
        let (tx, rx) = mpsc::channel(SHARD_CAPACITY);
        senders.push(tx);
        let sender = Sender {
            lane,
            client: client.clone(),
            settings: settings.clone(),
            metrics: metrics.clone(),
            acks: acks.clone(),
        };
        running.spawn_on(sender.run(rx), runtime.handle());
    }
    std::thread::Builder::new()
        .name("relay-forward".into())
        .spawn(move || runtime.block_on(async move { while running.join_next().await.is_some() {} }))?;
    std::thread::Builder::new()
        .name("relay-dispatch".into())
        .spawn(move || dispatch(&queue, from, senders.split_at(shards), &acks))?;
    Ok(tracker)
}

/// Reads the queue in order and hands records to the senders of their
/// lanes (`shard_senders`, `whole_senders`), keeping every series in order
/// (see the module doc), until the senders are gone (shutdown).
fn dispatch(
    queue: &Queue,
    from: Position,
    (shard_senders, whole_senders): (&[mpsc::Sender<Item>], &[mpsc::Sender<Item>]),
    acks: &Acks,
) {
    let mut reader = Reader::new(from);
    loop {
        let records = match reader.next(queue, READ_BATCH, IDLE_WAIT) {
            Ok(r) => {
                acks.tracker.lock().reader_idle = r.is_empty();
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "relay: reading the queue failed; retrying");
                std::thread::sleep(IDLE_WAIT);
                continue;
            }
        };
        for (start, payload, end) in records {
            let record = match Record::decode(payload.into()) {
                Ok(record) => record,
                Err(e) => {
                    tracing::error!(segment = start.segment, offset = start.offset, error = %e,
                        "relay: queue record cannot be forwarded; skipping it");
                    acks.tracker.lock().skipped(end);
                    continue;
                }
            };
            let kind = LaneKind::from(record.lane);
            let mut tracker = acks.tracker.lock();
            let keys = (kind == LaneKind::Whole).then(|| tracker.whole_keys(&record));
            let sender = loop {
                if tracker.may_dispatch(&record.tenant, kind) {
                    let sender = match record.lane {
                        Lane::Shard(shard) => Some(usize::from(shard) % shard_senders.len()),
                        Lane::Whole => tracker.whole_sender_for(keys.as_deref().unwrap_or(&[]), whole_senders.len()),
                    };
                    if let Some(sender) = sender {
                        break sender;
                    }
                }
                if acks.acknowledged.wait_for(&mut tracker, IDLE_WAIT).timed_out() && whole_senders[0].is_closed() {
                    return;
                }
            };
            let seq = tracker.dispatched(start, end, &record.tenant, kind, keys.map(|k| (sender, k)));
            drop(tracker);
            let channel = match record.lane {
                Lane::Shard(_) => &shard_senders[sender],
                Lane::Whole => &whole_senders[sender],
            };
            if channel.blocking_send(Item { seq, record }).is_err() {
                return;
            }
        }
    }
}

/// Persists the tracker's cursor every [`CURSOR_PERIOD`] and deletes
/// forwarded segments; runs until the task is dropped.
pub async fn persist_cursor(queue: Arc<Queue>, tracker: Arc<Mutex<Tracker>>) {
    let mut last = None;
    let mut tick = tokio::time::interval(CURSOR_PERIOD);
    loop {
        tick.tick().await;
        commit_cursor(&queue, &tracker, &mut last).await;
    }
}

/// Persists the cursor if it moved since `last`.
pub async fn commit_cursor(queue: &Arc<Queue>, tracker: &Mutex<Tracker>, last: &mut Option<Position>) {
    let cursor = tracker.lock().cursor();
    if *last == Some(cursor) {
        return;
    }
    let q = queue.clone();
    match tokio::task::spawn_blocking(move || q.commit(cursor)).await {
        Ok(Ok(())) => *last = Some(cursor),
        Ok(Err(e)) => tracing::error!(error = %e, "relay: persisting the queue cursor failed; retrying"),
        Err(e) => tracing::error!(error = %e, "relay: persisting the queue cursor failed; retrying"),
    }
}

/// One lane's sender.
struct Sender {
    lane: Lane,
    client: reqwest::Client,
    settings: Arc<ForwardSettings>,
    metrics: Arc<RelayMetrics>,
    acks: Arc<Acks>,
}

impl Sender {
    async fn run(self, mut rx: mpsc::Receiver<Item>) {
        let mut carry: Option<Item> = None;
        loop {
            let first = match carry.take() {
                Some(item) => item,
                None => match rx.recv().await {
                    Some(item) => item,
                    None => return,
                },
            };
            let mut samples = first.record.samples as usize;
            let mut batch = vec![first];
            while samples < self.settings.max_samples_per_send {
                match rx.try_recv() {
                    Ok(next)
                        if next.record.tenant == batch[0].record.tenant
                            && samples + next.record.samples as usize <= self.settings.max_samples_per_send =>
                    {
                        samples += next.record.samples as usize;
                        batch.push(next);
                    }
                    Ok(next) => {
                        carry = Some(next);
                        break;
                    }
                    Err(_) => break,
                }
            }
            match merge(&batch) {
                Some(body) => self.send(&batch[0].record.tenant, body, samples as u64).await,
                None => tracing::error!(lane = ?self.lane, "relay: queued records do not decompress; dropping them"),
            }
            self.acks.acknowledge(batch.iter().map(|i| i.seq));
        }
    }

    /// Sends until the store acknowledges or refuses for good.
    async fn send(&self, tenant: &str, body: Bytes, samples: u64) {
        let s = &self.settings;
        let mut attempt: u32 = 0;
        loop {
            let mut req = self
                .client
                .post(&s.url)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .header(s.tenant_header.as_str(), tenant)
                .body(body.clone());
            if let Some(token) = &s.bearer_token {
                req = req.bearer_auth(token);
            }
            let started = Instant::now();
            let result = req.send().await;
            self.metrics.forward_latency.observe(started.elapsed());
            let cause = match result {
                Ok(r) if r.status().is_success() => {
                    self.metrics.forwarded.add([tenant], samples);
                    return;
                }
                Ok(r) => {
                    let code = r.status().as_u16();
                    let reason: String = r.text().await.unwrap_or_default().chars().take(MAX_REASON_IN_LOG).collect();
                    if !retryable(code) {
                        tracing::warn!(
                            tenant,
                            code,
                            samples,
                            reason = reason.trim_end(),
                            "relay: the store refused a batch; not retrying (no retry can fix it)"
                        );
                        self.metrics.forward_refused.add([&code.to_string()], samples);
                        return;
                    }
                    if attempt == 0 || code != 503 {
                        tracing::warn!(
                            tenant,
                            code,
                            attempt,
                            reason = reason.trim_end(),
                            "relay: the store did not accept a batch; retrying"
                        );
                    }
                    code.to_string()
                }
                Err(e) => {
                    if attempt == 0 {
                        // As an error value, so that the log shows its causes
                        // (connection refused, the TLS alert).
                        let error: &(dyn std::error::Error + 'static) = &e;
                        tracing::warn!(tenant, error, "relay: the store is unreachable; retrying");
                    }
                    "network".to_owned()
                }
            };
            self.metrics.forward_retries.add([&cause], 1);
            tokio::time::sleep(backoff(attempt, s.min_backoff, s.max_backoff)).await;
            attempt = attempt.saturating_add(1);
        }
    }
}

/// True for statuses a resend can fix.
fn retryable(code: u16) -> bool {
    code >= 500 || matches!(code, 401 | 403 | 404 | 408 | 429)
}

/// Delay before retry `attempt` (0-based): `min · 2^attempt`, at most
/// `max`, scaled by a random factor in [0.5, 1] so that shards and relays
/// do not retry in lockstep.
fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let base = min.saturating_mul(2u32.saturating_pow(attempt.min(30))).min(max);
    base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// One request body for records of one tenant: the record's own body when
/// there is one, else the records' bodies joined into one snappy block.
///
/// Each body is a snappy block of an encoded `WriteRequest`; protobuf
/// concatenation appends repeated fields, so the request is the
/// concatenation of the decoded bodies. A snappy block is a varint of its
/// decoded length followed by literal and copy elements whose copies reach
/// back at most to the start of that block's own output; so the elements of
/// several blocks, one after the other, under a varint of the summed
/// lengths, are one valid block of the concatenation. Joining thus costs a
/// copy, not a decompression and a compression. `None` when a body is not
/// a snappy block.
fn merge(batch: &[Item]) -> Option<Bytes> {
    if let [one] = batch {
        return Some(one.record.body.clone());
    }
    let mut decoded_len = 0u64;
    let mut elements = Vec::with_capacity(batch.len());
    for item in batch {
        let (len, header) = snappy_block_len(&item.record.body)?;
        decoded_len += len;
        elements.push(&item.record.body[header..]);
    }
    // The snappy block format holds at most u32::MAX decoded bytes.
    u32::try_from(decoded_len).ok()?;
    let mut body = Vec::with_capacity(10 + elements.iter().map(|e| e.len()).sum::<usize>());
    prost::encoding::encode_varint(decoded_len, &mut body);
    elements.iter().for_each(|e| body.extend_from_slice(e));
    Some(body.into())
}

/// The decoded length a snappy block announces and the bytes of that
/// announcement (a varint of at most 5 bytes).
fn snappy_block_len(block: &[u8]) -> Option<(u64, usize)> {
    let mut len = 0u64;
    for (i, &b) in block.iter().take(5).enumerate() {
        len |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((len, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::proto::prometheus as pb;

    #[test]
    fn only_statuses_a_resend_can_fix_are_retried() {
        for code in [500, 502, 503, 429, 401, 403, 404, 408] {
            assert!(retryable(code), "{code}");
        }
        for code in [400, 413, 422] {
            assert!(!retryable(code), "{code}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_maximum() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 0..40 {
            let d = backoff(attempt, min, max);
            let base = (min * 2u32.pow(attempt.min(10))).min(max);
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d:?} vs {base:?}");
        }
    }

    #[test]
    fn the_cursor_is_the_oldest_unacknowledged_record() {
        let p = |offset| Position { segment: 1, offset };
        let mut t = Tracker::new(p(8));
        assert_eq!(t.cursor(), p(8));
        let a = t.dispatched(p(8), p(20), "t", LaneKind::Shard, None);
        let b = t.dispatched(p(20), p(30), "u", LaneKind::Whole, Some((0, vec![1, 2])));
        let c = t.dispatched(p(30), p(44), "t", LaneKind::Shard, None);
        t.acknowledged([b]);
        assert_eq!(t.cursor(), p(8), "a is still in flight");
        t.acknowledged([a]);
        assert_eq!(t.cursor(), p(30));
        t.acknowledged([c]);
        assert_eq!((t.cursor(), t.in_flight()), (p(44), 0));
        t.skipped(p(60));
        assert_eq!(t.cursor(), p(60), "a skipped record is behind the cursor");
    }

    #[test]
    fn a_tenant_changes_lanes_only_once_its_other_lanes_are_acknowledged() {
        let p = |offset| Position { segment: 1, offset };
        let mut t = Tracker::new(p(8));
        for kind in [LaneKind::Shard, LaneKind::Whole] {
            assert!(t.may_dispatch("a", kind), "nothing in flight");
        }
        let shard_1 = t.dispatched(p(8), p(20), "a", LaneKind::Shard, None);
        let shard_2 = t.dispatched(p(20), p(30), "a", LaneKind::Shard, None);
        assert!(t.may_dispatch("a", LaneKind::Shard), "one lane kind at a time may have many in flight");
        assert!(!t.may_dispatch("a", LaneKind::Whole), "a's shard records are in flight");
        assert!(t.may_dispatch("b", LaneKind::Whole), "other tenants' series never meet a's");
        t.acknowledged([shard_1]);
        assert!(!t.may_dispatch("a", LaneKind::Whole), "one shard record is still in flight");
        t.acknowledged([shard_2]);
        assert!(t.may_dispatch("a", LaneKind::Whole));
        let whole = t.dispatched(p(30), p(40), "a", LaneKind::Whole, Some((0, vec![7])));
        assert!(!t.may_dispatch("a", LaneKind::Shard), "the whole-lane record is in flight");
        t.acknowledged([whole]);
        assert!(t.may_dispatch("a", LaneKind::Shard));
    }

    #[test]
    fn whole_lane_records_sharing_a_series_go_to_one_sender_in_order() {
        let p = |offset| Position { segment: 1, offset };
        let mut t = Tracker::new(p(8));
        assert_eq!(t.whole_sender_for(&[1, 2], 3), Some(0), "nothing in flight: the least loaded");
        let first = t.dispatched(p(8), p(20), "a", LaneKind::Whole, Some((0, vec![1, 2])));
        assert_eq!(t.whole_sender_for(&[3, 4], 3), Some(1), "disjoint series: another sender, in parallel");
        let second = t.dispatched(p(20), p(30), "a", LaneKind::Whole, Some((1, vec![3, 4])));
        assert_eq!(t.whole_sender_for(&[5, 2], 3), Some(0), "shares series 2 with the first: behind it");
        assert_eq!(t.whole_sender_for(&[2, 3], 3), None, "shares series with records on two senders: wait");
        t.acknowledged([first]);
        assert_eq!(t.whole_sender_for(&[2, 3], 3), Some(1), "only the second holds one of its series now");
        t.acknowledged([second]);
        assert_eq!((t.whole_series.len(), t.whole_load.iter().sum::<usize>()), (0, 0), "nothing left in flight");
    }

    #[test]
    fn tenants_never_share_series() {
        let t = Tracker::new(Position { segment: 1, offset: 8 });
        let record = |tenant: &str| Record {
            lane: Lane::Whole,
            tenant: tenant.into(),
            samples: 1,
            series: vec![42],
            body: Bytes::new(),
        };
        assert_ne!(t.whole_keys(&record("a")), t.whole_keys(&record("b")));
        assert_eq!(t.whole_keys(&record("a")), t.whole_keys(&record("a")));
    }

    /// A one-sample shard-lane item of tenant `t` holding `body`.
    fn shard_item(seq: u64, body: Vec<u8>) -> Item {
        Item {
            seq,
            record: Record {
                lane: Lane::Shard(0),
                tenant: "t".into(),
                samples: 1,
                series: Vec::new(),
                body: body.into(),
            },
        }
    }

    #[test]
    fn merged_bodies_hold_every_series() {
        let item = |seq, name: &str| {
            let req = pb::WriteRequest {
                timeseries: vec![pb::TimeSeries {
                    labels: vec![pb::Label { name: "__name__".into(), value: name.into() }],
                    samples: vec![pb::Sample { value: 1.0, timestamp: 5 }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy");
            shard_item(seq, body)
        };
        let body = merge(&[item(0, "a"), item(1, "b")]).expect("merge");
        let raw = snap::raw::Decoder::new().decompress_vec(&body).expect("snappy");
        let req = pb::WriteRequest::decode(raw.as_slice()).expect("protobuf");
        let names: Vec<&str> = req.timeseries.iter().map(|t| t.labels[0].value.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn joined_snappy_blocks_decode_to_the_concatenation() {
        // Sizes around snappy's 64 KiB internal blocks and its literal and
        // copy element forms; repetitive data makes copies.
        let data = |seed: u8, len: usize| -> Vec<u8> {
            (0..len).map(|i| if i % 97 < 60 { seed } else { (i as u8).wrapping_mul(seed | 1) }).collect()
        };
        let parts = [data(1, 0), data(2, 5), data(3, 70_000), data(4, 131_072), data(5, 1_000), data(6, 65_536)];
        let batch: Vec<Item> = parts
            .iter()
            .enumerate()
            .map(|(seq, part)| {
                let body = snap::raw::Encoder::new().compress_vec(part).expect("snappy");
                shard_item(seq as u64, body)
            })
            .collect();
        let joined = merge(&batch).expect("merge");
        let decoded = snap::raw::Decoder::new().decompress_vec(&joined).expect("one valid snappy block");
        assert_eq!(decoded, parts.concat());
        let not_snappy = Item {
            seq: 9,
            record: Record {
                lane: Lane::Whole,
                tenant: "t".into(),
                samples: 1,
                series: Vec::new(),
                body: vec![0xff; 6].into(),
            },
        };
        assert!(merge(&[not_snappy, batch.into_iter().next().expect("item")]).is_none());
    }
}
