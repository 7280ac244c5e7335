//! The YAML config of the serving modes. Every key has a default (in the
//! `impl Default` of its struct), so an empty file, or none, is valid.
//! Unknown keys are errors, reported with their path.

pub mod alerting;
pub mod audit;
pub mod auth;
pub mod query;
pub mod relay;
pub mod rules;
pub mod size;
pub mod store;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::ServeArgs;
use crate::ingest::IngestLimits;
pub use query::QueryConfig;
pub use store::StorageConfig;

/// Root of the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Directory for the WAL and the database.
    pub data_dir: PathBuf,
    /// Storage engine settings.
    pub storage: StorageConfig,
    /// Limits applied to remote-write requests.
    pub ingest: IngestLimits,
    /// Query evaluation limits of the HTTP query API.
    pub query: QueryConfig,
    /// Logging.
    pub log: LogConfig,
    /// Who may use the store: credentials, tenants and roles.
    pub auth: auth::AuthConfig,
    /// Recording and alerting rules.
    pub rules: rules::RulesConfig,
    /// Alertmanagers that alerting rules notify.
    pub alerting: alerting::AlertingConfig,
    /// The audit log.
    pub audit: audit::AuditConfig,
    /// HTTPS and client certificates.
    pub tls: tls::ServerTlsConfig,
    /// Periodic tamper verification of the running store.
    pub verify: store::VerifyConfig,
    /// The file this config was read from (re-read on reload); not a key.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            data_dir: PathBuf::from("./data"),
            storage: StorageConfig::default(),
            ingest: IngestLimits::default(),
            query: QueryConfig::default(),
            log: LogConfig::default(),
            auth: auth::AuthConfig::default(),
            rules: rules::RulesConfig::default(),
            alerting: alerting::AlertingConfig::default(),
            audit: audit::AuditConfig::default(),
            tls: tls::ServerTlsConfig::default(),
            verify: store::VerifyConfig::default(),
            source: None,
        }
    }
}

/// Log output.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Filter in `tracing` syntax, e.g. `info` or `rampart=debug,info`;
    /// the `RUST_LOG` environment variable overrides it.
    pub level: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has unknown keys or bad values.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error, with the key path.
        #[source]
        source: serde_path_to_error::Error<serde_yaml::Error>,
    },
    /// The YAML parses but breaks rules serde cannot check.
    #[error("config file {path}:\n  {}", problems.join("\n  "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Each problem, named by key path.
        problems: Vec<String>,
    },
}

impl Config {
    /// Loads the config file (if any) and applies command-line overrides.
    pub fn load(args: &ServeArgs) -> Result<Self, ConfigError> {
        let mut config = match &args.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        if let Some(d) = &args.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(l) = args.listen {
            config.listen = l;
        }
        if let Some(r) = args.retention {
            config.storage.retention = r;
        }
        Ok(config)
    }

    /// Parses a config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let config = Self::from_yaml(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source })?;
        let mut problems = config.rules.problems();
        problems.extend(config.alerting.problems("alerting"));
        problems.extend(config.tls.problems("tls"));
        problems.extend(config.auth.problems());
        if problems.is_empty() {
            Ok(Self { source: Some(path.to_owned()), ..config })
        } else {
            Err(ConfigError::Invalid { path: path.to_owned(), problems })
        }
    }

    /// Parses config YAML; an empty document gives the defaults.
    pub fn from_yaml(text: &str) -> Result<Self, serde_path_to_error::Error<serde_yaml::Error>> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
    }

    /// The storage engine options this config describes.
    pub fn storage_options(&self) -> rampart_storage::Options {
        self.storage.to_options(&self.data_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_config_parses_and_matches_defaults() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config/store.yaml"))
            .expect("sample config exists");
        let sample = Config::from_yaml(&text).expect("sample config parses");
        let defaults = Config::default();
        assert_eq!(format!("{:?}", sample.storage), format!("{:?}", defaults.storage));
        assert_eq!(sample.query, defaults.query);
        assert_eq!(sample.listen, defaults.listen);
        assert_eq!(sample.rules, defaults.rules);
        assert_eq!(sample.alerting, defaults.alerting);
        assert_eq!(sample.tls, defaults.tls);
        assert_eq!(sample.audit, defaults.audit);
        assert_eq!(sample.verify, defaults.verify);
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let err = Config::from_yaml("storage:\n  retentoin: 1d\n").expect_err("unknown key");
        assert_eq!(err.path().to_string(), "storage.retentoin");
        assert!(err.to_string().contains("unknown field `retentoin`"), "{err}");
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::from_yaml("").expect("empty").listen, Config::default().listen);
    }
}
