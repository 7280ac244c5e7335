//! The storage engine's error type.
//!
//! Each variant carries what a user needs to act on it (path, partition,
//! series, offset). Per-sample refusals (out of order, duplicate timestamp,
//! out of bounds) are *not* errors: they are reported in
//! [`crate::AppendResult`] so that the valid part of a batch is kept.

use std::path::PathBuf;

use crate::wal::WalError;

/// Result alias of the storage engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can fail in the storage engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A RocksDB operation failed.
    #[error("rocksdb {op}: {source}")]
    Rocks {
        /// What was being done.
        op: &'static str,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// The write-ahead log failed.
    #[error("wal: {0}")]
    Wal(#[from] WalError),
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Stored data failed its checksum or could not be parsed.
    #[error("corrupt {what} at {location}: {detail}")]
    Corrupt {
        /// Which structure (chunk, series entry, checkpoint record, ...).
        what: &'static str,
        /// Where (key, file and offset).
        location: String,
        /// What was wrong.
        detail: &'static str,
    },
    /// The data directory was written by an incompatible engine version.
    #[error("data directory {path} has storage format {found:?}, this build reads {expected:?}: use a matching rampart version")]
    FormatVersion {
        /// The data directory.
        path: PathBuf,
        /// Format found on disk.
        found: String,
        /// Format this build writes.
        expected: &'static str,
    },
    /// A regular expression in a label matcher does not compile.
    #[error("invalid regular expression {pattern:?} in matcher: {source}")]
    Regex {
        /// The pattern as given.
        pattern: String,
        /// The regex crate's error.
        #[source]
        source: Box<regex::Error>,
    },
    /// A chunk failed to decode or encode.
    #[error("chunk: {0}")]
    Chunk(#[from] crate::chunkenc::ChunkError),
    /// A backup destination that cannot be used.
    #[error("backup destination {path}: {problem}")]
    BackupDestination {
        /// The destination as given.
        path: PathBuf,
        /// What is wrong with it and what to do.
        problem: &'static str,
    },
    /// The manifest is broken, truncated or edited, or could not be written.
    #[error("manifest {path}: {detail}; run `rampart verify --data-dir` on the data directory and restore the manifest from a backup")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A write was attempted on an engine opened read-only.
    #[error("storage is open read-only")]
    ReadOnly,
}

impl Error {
    pub(crate) fn rocks(op: &'static str) -> impl FnOnce(rocksdb::Error) -> Error {
        move |source| Error::Rocks { op, source }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
