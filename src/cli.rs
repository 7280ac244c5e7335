//! Command-line interface: every flag defined once, documented for `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Rampart: Prometheus remote-write relay and long-term metrics store.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Modes and admin commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process on local disk (the quick start).
    All(AllArgs),
    /// Run the store: remote-write ingest, storage engine, query API.
    Store(ServeArgs),
    /// Run the relay: authenticated, multi-tenant, HA-deduplicating
    /// remote-write relay with a durable queue in front of the store.
    Relay(RelayArgs),
    /// Hash a secret (bearer token or password) for the config files: reads
    /// the secret from standard input and prints its Argon2id hash.
    HashSecret(HashSecretArgs),
    /// Take a consistent backup of a store's data directory. With a store
    /// running on it, the store takes the backup while it keeps ingesting
    /// (asked over DATA_DIR/admin.sock); otherwise the data directory is
    /// opened and backed up offline. Restore: copy the backup directory into
    /// place as the data directory, or start `rampart store --data-dir
    /// BACKUP_DIR` on it.
    Backup(BackupArgs),
    /// Inspect a stopped store's data directory (like `promtool tsdb`).
    #[command(subcommand)]
    Tsdb(TsdbCommand),
    /// Verify a stopped store's data directory (or a backup): re-digest every
    /// sealed partition and check the manifest's hash chain. Prints each
    /// problem with what and where; exits non-zero on any.
    Verify(VerifyArgs),
    /// Check and unit-test Prometheus rule files (like `promtool check rules`
    /// and `promtool test rules`).
    #[command(subcommand)]
    Rules(RulesCommand),
}

/// Rule file commands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rule files: YAML, PromQL, names, templates. Prints the
    /// number of rules of each file or every problem, naming file, group and
    /// rule; exits non-zero when a file is invalid.
    Check(RuleFilesArgs),
    /// Run rule unit tests in `promtool test rules` format: input series,
    /// expected alerts and query results, checked against Rampart's rule
    /// evaluation. Rule files are relative to the test file; exits non-zero
    /// when a test fails.
    Test(RuleFilesArgs),
}

/// Files to work on.
#[derive(Debug, Args)]
pub struct RuleFilesArgs {
    /// Rule files (`check`) or rule test files (`test`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Flags shared by the serving modes. A flag given on the command line
/// overrides the same setting in the config file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// YAML config file; every key has a default, so the file is optional.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the WAL and the database [default: ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on for HTTP [default: 127.0.0.1:9090].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// How long to keep data, e.g. `15d`, `12h`; `0` keeps data forever and
    /// accepts samples at any timestamp >= 0 (backfill) [default: 15d].
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse_duration)]
    pub retention: Option<std::time::Duration>,
}

/// `rampart all`: the store's flags, and optionally a relay in front.
#[derive(Debug, Args)]
pub struct AllArgs {
    /// The store's flags.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Relay config file (see deploy/config/relay.yaml): also run the relay
    /// in this process, forwarding to this store. Its `store.url` is set to
    /// this store's listen address.
    #[arg(long, value_name = "FILE")]
    pub relay_config: Option<PathBuf>,
    /// DEVELOPMENT ONLY, NOT FOR PRODUCTION: serve the store over HTTPS with
    /// a self-signed certificate generated at every start and written to
    /// DATA_DIR/development-tls/cert.pem for clients to trust (its key lies
    /// next to it). Nobody vouches for it; in production set tls.cert_file
    /// and tls.key_file.
    #[arg(long)]
    pub tls_self_signed_development: bool,
}

/// `rampart relay`. A flag given on the command line overrides the same
/// setting in the config file.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Relay config file (see deploy/config/relay.yaml); every key has a
    /// default, so the file is optional.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the durable queue and HA state [default: ./relay-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on for HTTP [default: 127.0.0.1:9091].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Remote-write URL of the store [default: http://127.0.0.1:9090/api/v1/write].
    #[arg(long, value_name = "URL")]
    pub store_url: Option<String>,
    /// Allow listening beyond loopback with no tenants configured, i.e.
    /// without any authentication. Only behind another authenticating proxy.
    #[arg(long)]
    pub insecure_no_auth: bool,
}

/// `rampart hash-secret`.
#[derive(Debug, Args)]
pub struct HashSecretArgs {
    /// Generate a random token instead of reading one, and print the token
    /// (to hand to the client) and its hash (for the config).
    #[arg(long)]
    pub generate: bool,
}

/// `rampart backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Data directory of the store to back up.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Directory to write the backup to; it must not exist or be empty, and
    /// lie outside the data directory. A running store writes it itself, so
    /// it is a path on the store's machine that the store's user can write.
    /// The backup is complete once it holds `BACKUP.json`.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

/// Admin commands on a stopped store's data directory.
#[derive(Debug, Subcommand)]
pub enum TsdbCommand {
    /// Series, samples, bytes on disk and bytes per sample, per partition.
    Stats(TsdbStatsArgs),
    /// Print samples as `{labels} value timestamp_ms`, one per line.
    Dump(TsdbDumpArgs),
}

/// `rampart verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Data directory of the store.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// A manifest head pinned earlier (logged as `head=SEQ:SHA256` at every
    /// manifest append): the manifest must still hold that entry unchanged.
    #[arg(long, value_name = "SEQ:SHA256")]
    pub expect_head: Option<rampart_storage::ManifestHead>,
    /// Directory of the audit log, when `audit.dir` moved it
    /// [default: DATA_DIR/audit].
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
}

/// `rampart tsdb stats`.
#[derive(Debug, Args)]
pub struct TsdbStatsArgs {
    /// Data directory of the store.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

/// `rampart tsdb dump`.
#[derive(Debug, Args)]
pub struct TsdbDumpArgs {
    /// Data directory of the store.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Tenant whose data to dump.
    #[arg(long, default_value = crate::tenant::DEFAULT_TENANT)]
    pub tenant: String,
    /// Series selector, e.g. `{job="node"}` or `up{instance=~"a.*"}`; all
    /// series when absent.
    #[arg(long = "match", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Earliest timestamp to dump, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = i64::MIN, allow_negative_numbers = true)]
    pub min_time: i64,
    /// Latest timestamp to dump, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = i64::MAX, allow_negative_numbers = true)]
    pub max_time: i64,
}
