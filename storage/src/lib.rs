//! `rampart-storage`: Rampart's time-series storage engine.
//!
//! The engine knows nothing of HTTP, authentication or PromQL syntax. The
//! write path runs `wal → head → persist → compact`; the read path runs
//! `querier → head + persist → chunkenc`. See `storage/README.md` for the
//! module map, the lock order and the on-disk formats in `docs/format/`.
//!
//! | module | owns |
//! |---|---|
//! | [`chunkenc`] | Gorilla chunk codec (delta-of-delta timestamps, XOR floats); no I/O |
//! | [`wal`] | segment files: framing, CRC32, group commit, fsync, torn-tail repair |
//! | [`labels`] | label sets and their canonical byte form |
//! | `model` | samples, exemplars, metric metadata |
//! | `record` | what a WAL or checkpoint record holds |
//! | `batch` | [`AppendBatch`]: the series of one append, labels in canonical form |
//! | `head` | in-memory series: open chunks, out-of-order samples, flush snapshots |
//! | [`persist`] | RocksDB: series index, postings, partitioned chunks, metadata |
//! | `index` | in memory, derived from RocksDB: postings and labels per tenant, chunk spans per partition |
//! | `compact` | merging, re-encoding, sealing, retention, deletions and crash recovery of partitions |
//! | [`manifest`] | the hash-chained record of seals, drops, retention and deletions |
//! | `tombstone` | deleted ranges of series until compaction removes them |
//! | `delete` | delete-series requests |
//! | [`verify`] | checking sealed partitions and the manifest chain of a data directory, or of the open store ([`Db::verify`]) |
//! | `querier` | label matchers → in-memory postings → samples over head and RocksDB, minus deleted ranges |
//! | `db` | [`Db`]: opens, replays, appends, flushes; composes the above |
//! | `backup` | [`Db::backup`]: consistent online copies of the data directory |

#![deny(missing_docs)]

mod backup;
mod batch;
mod checkpoint;
pub mod chunkenc;
mod compact;
mod db;
mod delete;
mod error;
mod head;
mod index;
pub mod labels;
pub mod manifest;
mod matcher;
pub mod metrics;
mod model;
mod options;
pub mod persist;
mod querier;
mod record;
mod tombstone;
pub mod verify;
pub mod wal;

pub use backup::{BackupSummary, BACKUP_FORMAT, BACKUP_MANIFEST};
pub use batch::{AppendBatch, BatchSeries};
pub use compact::CompactionSummary;
pub use db::{AppendResult, Db, FlushSummary, Rejection, RejectionKind};
pub use delete::DeleteSummary;
pub use error::{Error, Result};
pub use labels::{Label, Labels};
pub use manifest::ManifestHead;
pub use matcher::{MatchKind, Matcher};
pub use model::{Exemplar, Metadata, Sample, STALE_NAN_BITS};
pub use options::{FsyncPolicy, Options};
pub use querier::{PartitionStats, Querier, SeriesSamples, Stats};
