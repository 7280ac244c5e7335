//! `rampart backup`: consistent backups of a store's data directory, and the
//! store's admin socket that takes them while the store runs.
//!
//! A running store holds RocksDB's lock on its data directory, so another
//! process cannot open it. The store therefore listens on a Unix socket in
//! its data directory, [`ADMIN_SOCKET`] (`DATA_DIR/admin.sock`, mode 0600,
//! removed at shutdown): whoever can reach it can already read the data
//! directory. `rampart backup` asks the store there; when nothing answers
//! (no socket, or a stale one left by a killed store), it opens the data
//! directory itself and takes the backup offline. Either way the work is
//! [`rampart_storage::Db::backup`].
//!
//! Protocol: one JSON request line from the client, one JSON response line
//! from the store, then the store closes the connection.
//!
//! ```text
//! → {"command":"backup","to":"/srv/backups/2024-05-01"}
//! ← {"status":"success","backup":{ ...BACKUP.json's fields... }}
//! ← {"status":"error","error":"backup destination /srv/...: is not empty: ..."}
//! ```
//!
//! `to` is an absolute path on the store's machine; the store writes there
//! with its own user's permissions.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use rampart_storage::{BackupSummary, Db, Options};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use crate::cli::BackupArgs;

/// File name of the admin socket in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// Longest request line the store reads.
const MAX_REQUEST_BYTES: u64 = 64 << 10;

/// A request on the admin socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
enum Request {
    /// Take a backup into `to`.
    Backup {
        /// Absolute destination path.
        to: PathBuf,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum Response {
    /// The backup is complete.
    Success {
        /// What it holds.
        backup: BackupSummary,
    },
    /// The request failed; nothing usable was written.
    Error {
        /// What is wrong and what to do.
        error: String,
    },
}

/// Who took a backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BackupMode {
    /// The running store, asked over its admin socket.
    Online,
    /// This process, on a data directory no store was running on.
    Offline,
}

/// `rampart backup`: asks the store running on `--data-dir` for a backup
/// into `--to`, or takes it offline when no store runs there; prints which
/// happened and the summary.
pub fn run(args: &BackupArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let to = std::path::absolute(&args.to).with_context(|| format!("resolving {}", args.to.display()))?;
    let (mode, summary) = backup(&args.data_dir, &to)?;
    print_summary(mode, &summary, out)?;
    Ok(())
}

/// Takes a backup of `data_dir` into `to` (absolute), online when a store
/// answers on the data directory's admin socket, offline otherwise.
fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<(BackupMode, BackupSummary)> {
    let socket = data_dir.join(ADMIN_SOCKET);
    if let Some(summary) = ask_running_store(&socket, to)? {
        return Ok((BackupMode::Online, summary));
    }
    tracing::info!(data_dir = %data_dir.display(), "no store answers on {}: taking the backup offline", socket.display());
    if !data_dir.join("db").is_dir() {
        bail!("{} is not a store's data directory (it has no db/): check --data-dir", data_dir.display());
    }
    let db = Db::open(Options::new(data_dir)).with_context(|| {
        format!(
            "no store answered on {} and opening {} for an offline backup failed \
             (if a store is running on it, check that it can create its admin socket; see its log)",
            socket.display(),
            data_dir.display()
        )
    })?;
    // Dropped without a flush: the engine options here are defaults, not
    // the store's, so nothing is written to RocksDB beyond what start-up does.
    let summary = db.backup(to)?;
    Ok((BackupMode::Offline, summary))
}

/// Sends the backup request to `socket`; `None` when no store listens there.
fn ask_running_store(socket: &Path, to: &Path) -> anyhow::Result<Option<BackupSummary>> {
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| {
                format!("connecting to the store's admin socket {} (run as the store's user)", socket.display())
            })
        }
    };
    let mut line = serde_json::to_string(&Request::Backup { to: to.to_owned() })?;
    line.push('\n');
    stream.write_all(line.as_bytes()).with_context(|| format!("sending the request to {}", socket.display()))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .with_context(|| format!("reading the store's answer on {}", socket.display()))?;
    if answer.is_empty() {
        bail!("the store closed {} without an answer (did it stop?); see its log", socket.display());
    }
    match serde_json::from_str(&answer).with_context(|| format!("unreadable answer from the store: {answer:?}"))? {
        Response::Success { backup } => Ok(Some(backup)),
        Response::Error { error } => bail!("the running store could not take the backup: {error}"),
    }
}

fn print_summary(mode: BackupMode, s: &BackupSummary, out: &mut impl Write) -> std::io::Result<()> {
    match mode {
        BackupMode::Online => writeln!(out, "online backup taken by the store running on {}", s.source.display())?,
        BackupMode::Offline => writeln!(out, "offline backup taken (no store was running on {})", s.source.display())?,
    }
    writeln!(out, "backup directory:  {}", s.destination.display())?;
    writeln!(out, "rocksdb:           {} bytes (sequence {})", s.db_bytes, s.rocksdb_sequence)?;
    let checkpoint = s.wal_checkpoint.map_or_else(|| "none".to_owned(), |c| c.to_string());
    writeln!(out, "wal:               {} segments, {} bytes (checkpoint {checkpoint})", s.wal_segments, s.wal_bytes)?;
    writeln!(out, "other files:       {} ({} bytes)", s.other_files, s.other_bytes)?;
    writeln!(out, "took:              {} ms", s.finished_unix_ms - s.started_unix_ms)?;
    writeln!(
        out,
        "restore: stop the store and copy {} into place as its data directory, \
         or start `rampart store --data-dir {}`",
        s.destination.display(),
        s.destination.display()
    )
}

/// The store's side: the admin socket, listening while it exists. Dropping
/// it stops listening and removes the socket file.
pub struct AdminSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AdminSocket {
    /// Listens on `DATA_DIR/admin.sock` (replacing a stale socket: the
    /// caller holds the open engine, so no other store uses this directory)
    /// and serves backup requests against `db`.
    pub fn start(data_dir: &Path, db: Arc<Db>) -> anyhow::Result<AdminSocket> {
        let path = data_dir.join(ADMIN_SOCKET);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {
                std::fs::remove_file(&path).with_context(|| format!("removing the stale socket {}", path.display()))?
            }
            Ok(_) => bail!("{} exists and is not a socket: move it out of the data directory", path.display()),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
        }
        let listener = UnixListener::bind(&path).with_context(|| format!("listening on {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {} to its owner", path.display()))?;
        tracing::info!(socket = %path.display(), "admin socket listening (rampart backup)");
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve_connection(stream, db.clone()));
                    }
                    Err(e) => tracing::warn!(error = %e, "admin socket: accept failed"),
                }
            }
        });
        Ok(AdminSocket { path, task })
    }
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        self.task.abort();
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(socket = %self.path.display(), error = %e, "admin socket: removing it failed");
        }
    }
}

/// Reads one request line, runs it, writes one response line.
async fn serve_connection(stream: tokio::net::UnixStream, db: Arc<Db>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let response = match tokio::io::BufReader::new(read.take(MAX_REQUEST_BYTES)).read_line(&mut line).await {
        Err(e) => Response::Error { error: format!("reading the request: {e}") },
        Ok(_) => match serde_json::from_str::<Request>(&line) {
            Err(e) => Response::Error { error: format!("invalid request {:?}: {e}", line.trim_end()) },
            Ok(Request::Backup { to }) => run_backup(db, to).await,
        },
    };
    let mut answer = serde_json::to_vec(&response).expect("a response always serializes");
    answer.push(b'\n');
    if let Err(e) = write.write_all(&answer).await {
        tracing::warn!(error = %e, "admin socket: the client left before the answer");
    }
}

async fn run_backup(db: Arc<Db>, to: PathBuf) -> Response {
    if !to.is_absolute() {
        return Response::Error { error: format!("backup destination {} must be an absolute path", to.display()) };
    }
    tracing::info!(destination = %to.display(), "admin socket: backup requested");
    match tokio::task::spawn_blocking(move || db.backup(&to)).await {
        Ok(Ok(backup)) => Response::Success { backup },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "admin socket: backup failed");
            Response::Error { error: e.to_string() }
        }
        Err(e) => Response::Error { error: format!("backup task failed: {e}") },
    }
}
