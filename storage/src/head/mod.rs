//! The head: every series that currently holds in-memory data, sharded by
//! the hash of its identity, tenant and canonical labels (for appends), and
//! by id (for reads and WAL replay).
//!
//! Locks, in the order they may be taken:
//! 1. `creation` serialises series creation and removal, so that a series'
//!    WAL record and index entry exist before any append can reach it;
//! 2. a `by_id` shard, then a `by_key` shard (never held during I/O);
//! 3. a series' own state mutex (see [`series`]).
//!
//! A `by_key` shard is a hash table of `(hash, series)`: a lookup compares
//! the stored hash before it reads the series, so it touches the series
//! (and compares its key) only on a real match. The shard is picked from
//! hash bits that the table itself does not use for its buckets or tags.

pub mod series;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};

pub use series::{AppendOutcome, AppendRules, MemSeries, SeriesState};

/// Number of shards of each map (a power of two).
const SHARDS: usize = 256;

type KeyShard = HashTable<(u64, Arc<MemSeries>)>;
type IdShard = HashMap<u64, Arc<MemSeries>>;

/// The set of in-memory series.
pub struct Head {
    hasher: ahash::RandomState,
    by_key: Box<[RwLock<KeyShard>]>,
    by_id: Box<[RwLock<IdShard>]>,
    /// Serialises creation and removal of series.
    pub creation: Mutex<()>,
    next_id: AtomicU64,
}

impl Head {
    /// An empty head whose new series ids start after `max_id`.
    pub fn new(max_id: u64) -> Self {
        Self {
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
            by_key: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
            by_id: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            creation: Mutex::new(()),
            next_id: AtomicU64::new(max_id + 1),
        }
    }

    fn hash(&self, tenant: u32, key: &[u8]) -> u64 {
        self.hasher.hash_one((tenant, key))
    }

    /// The `by_key` shard of hash `h`: bits 32 to 39, as the table uses the
    /// low bits for buckets and the top seven for tags.
    fn key_shard(&self, h: u64) -> &RwLock<KeyShard> {
        &self.by_key[(h >> 32) as usize % SHARDS]
    }

    /// The series of `tenant` whose labels have the canonical form `key`, if
    /// it is in the head.
    pub fn get_by_key(&self, tenant: u32, key: &[u8]) -> Option<Arc<MemSeries>> {
        let h = self.hash(tenant, key);
        let shard = self.key_shard(h).read();
        let (_, series) = shard.find(h, |(sh, s)| *sh == h && s.tenant == tenant && *s.key == *key)?;
        Some(series.clone())
    }

    /// The series with id `id`, if it is in the head.
    pub fn get_by_id(&self, id: u64) -> Option<Arc<MemSeries>> {
        self.by_id[id as usize % SHARDS].read().get(&id).cloned()
    }

    /// Allocates a new series id. Caller holds `creation`.
    pub fn allocate_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes sure ids handed out later are above `id` (WAL replay).
    pub fn observe_id(&self, id: u64) {
        self.next_id.fetch_max(id + 1, Ordering::Relaxed);
    }

    /// Inserts a series. Caller holds `creation` and has checked it is absent.
    pub fn insert(&self, series: Arc<MemSeries>) {
        let h = self.hash(series.tenant, &series.key);
        self.by_id[series.id as usize % SHARDS].write().insert(series.id, series.clone());
        self.key_shard(h).write().insert_unique(h, (h, series), |(h, _)| *h);
    }

    /// Every series in the head.
    pub fn all(&self) -> Vec<Arc<MemSeries>> {
        self.by_id.iter().flat_map(|s| s.read().values().cloned().collect::<Vec<_>>()).collect()
    }

    /// Number of series in the head.
    pub fn len(&self) -> usize {
        self.by_id.iter().map(|s| s.read().len()).sum()
    }

    /// Removes series that hold no head data and that nobody else references.
    /// Returns how many were removed. Takes `creation` itself.
    pub fn remove_idle(&self) -> usize {
        let _creation = self.creation.lock();
        let mut removed = 0;
        for shard in self.by_id.iter() {
            let mut ids = shard.write();
            ids.retain(|_, s| {
                // Appenders clone series out of the key map, so hold its shard
                // while deciding. Two references: this map and the key map; a
                // third means an appender or reader holds it right now.
                let h = self.hash(s.tenant, &s.key);
                let mut keys = self.key_shard(h).write();
                let idle = Arc::strong_count(s) == 2 && s.state.lock().is_empty();
                if idle {
                    if let Ok(entry) = keys.find_entry(h, |(_, x)| x.id == s.id) {
                        entry.remove();
                    }
                    removed += 1;
                }
                !idle
            });
        }
        removed
    }
}
