//! The config file of `rampart relay` (its own file; `rampart all
//! --relay-config FILE` runs the same relay in-process). Every key has a
//! default, so an empty file is valid; [`RelayConfig::validate`] then checks
//! what serde cannot (tenant ids, duplicate users, relabel rules) and names
//! every problem by its key path at once.
//!
//! Per-tenant limits use Mimir's key names where Mimir has one, so that a
//! Mimir `overrides:` block can be pasted into the relay's overrides file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::size::deserialize_size;
use super::store::FsyncMode;
use super::tls::{ServerTlsConfig, TlsClientConfig};
use super::{ConfigError, LogConfig};
pub use crate::auth::BasicAuthUser;
use crate::auth::CredentialConfig;
use crate::credentials::SecretHash;
use crate::duration::{deserialize_duration, format_duration};
use crate::ingest::IngestLimits;
use crate::relay::relabel::{RelabelConfig, Relabeler};

/// Root of the relay's config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// HTTP listen address. Without tenants the relay refuses any address
    /// but loopback unless started with `--insecure-no-auth`.
    pub listen: SocketAddr,
    /// Directory of the durable queue and the HA election state.
    pub data_dir: PathBuf,
    /// HTTPS and client certificates.
    pub tls: ServerTlsConfig,
    /// Tenants and the credentials that write to each (role `write` for
    /// that tenant); empty (and no `auth.credentials`) means no
    /// authentication, every write going to tenant `default`.
    pub tenants: Vec<TenantConfig>,
    /// Credentials with other roles or several tenants (`crate::auth`):
    /// `admin` for `/api/v1/relay/status`, `metrics` for `/metrics`,
    /// `write` for a service writing for many tenants. With any of them
    /// every endpoint but the probes needs a credential; with only
    /// `tenants`, only writes do.
    pub auth: RelayAuthConfig,
    /// The store the relay forwards to.
    pub store: UpstreamConfig,
    /// The on-disk queue between acknowledgement and forwarding.
    pub queue: QueueConfig,
    /// Sending queued samples to the store.
    pub forward: ForwardConfig,
    /// HA deduplication (enabled per tenant by `accept_ha_samples`).
    pub ha: HaConfig,
    /// Limits of every tenant without an override (Mimir key names).
    pub limits: TenantLimits,
    /// Reloadable per-tenant overrides.
    pub overrides: OverridesConfig,
    /// Logging.
    pub log: LogConfig,
    /// The audit log of refused requests, status reads and reloads
    /// [default dir: `<data_dir>/audit`].
    pub audit: super::audit::AuditConfig,
    /// The file this config was read from (re-read on SIGHUP); not a key.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `auth:` of the relay.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayAuthConfig {
    /// Principals, their tenants and roles, and their secrets.
    pub credentials: Vec<CredentialConfig>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9091)),
            data_dir: PathBuf::from("./relay-data"),
            tls: ServerTlsConfig::default(),
            tenants: Vec::new(),
            store: UpstreamConfig::default(),
            queue: QueueConfig::default(),
            forward: ForwardConfig::default(),
            ha: HaConfig::default(),
            limits: TenantLimits::default(),
            overrides: OverridesConfig::default(),
            log: LogConfig::default(),
            auth: RelayAuthConfig::default(),
            audit: super::audit::AuditConfig::default(),
            source: None,
        }
    }
}

/// A tenant and its write credentials. Secrets are Argon2 hashes from
/// `rampart hash-secret`, never plaintext.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantConfig {
    /// Tenant id, as the store and `X-Scope-OrgID` name it.
    pub id: String,
    /// Hashes of bearer tokens (`Authorization: Bearer <token>`).
    pub bearer_token_hashes: Vec<SecretHash>,
    /// HTTP basic-auth users (Thanos receive and Prometheus `basic_auth`).
    pub basic_auth: Vec<BasicAuthUser>,
    /// Client certificates of this tenant, by subject common name or DNS
    /// name (needs `tls.client_ca_file`).
    pub client_certificate_names: Vec<String>,
}

/// `store:`: where and how the relay forwards.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Remote-write URL of the store.
    pub url: String,
    /// File holding the bearer token the relay presents to the store (one of
    /// the store's `auth.write_bearer_token_hashes`); none when empty.
    pub bearer_token_file: Option<PathBuf>,
    /// Header that carries the tenant to the store.
    pub tenant_header: String,
    /// Time limit of one forwarding request.
    #[serde(deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// TLS settings of an `https` URL: the CA of the store's certificate
    /// and the relay's client certificate (Prometheus's `tls_config`).
    pub tls_config: TlsClientConfig,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:9090/api/v1/write".into(),
            bearer_token_file: None,
            tenant_header: crate::tenant::TENANT_HEADER.into(),
            timeout: Duration::from_secs(30),
            tls_config: TlsClientConfig::default(),
        }
    }
}

/// `queue:`: the durable queue (the storage engine's WAL segments).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Most bytes on disk; writes beyond it get 503 until forwarding frees
    /// space (nothing is dropped).
    #[serde(deserialize_with = "deserialize_size")]
    pub max_bytes: u64,
    /// Segment size; forwarded segments are deleted whole.
    #[serde(deserialize_with = "deserialize_size")]
    pub segment_size: u64,
    /// `always`: fsync (group commit) before acknowledging; `interval` or
    /// `never` trade a machine crash's last writes for speed.
    pub fsync: FsyncMode,
    /// Period of background fsyncs when `fsync: interval`.
    #[serde(deserialize_with = "deserialize_duration")]
    pub fsync_interval: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            segment_size: 16 << 20,
            fsync: FsyncMode::Always,
            fsync_interval: Duration::from_secs(1),
        }
    }
}

/// `forward:`: batching, parallelism and retries.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardConfig {
    /// Parallel senders per lane kind (series-hashed shards, and as many
    /// for requests passed on whole); a series' samples reach the store in
    /// order either way.
    pub shards: usize,
    /// Most samples in one request to the store.
    pub max_samples_per_send: usize,
    /// First retry delay; doubled per failure, with jitter.
    #[serde(deserialize_with = "deserialize_duration")]
    pub min_backoff: Duration,
    /// Longest retry delay.
    #[serde(deserialize_with = "deserialize_duration")]
    pub max_backoff: Duration,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        Self {
            shards: 4,
            max_samples_per_send: 10_000,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// `ha:`: the HA tracker (Cortex/Mimir semantics).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaConfig {
    /// Time without samples from the elected replica after which another
    /// replica of the cluster is elected.
    #[serde(deserialize_with = "deserialize_duration")]
    pub failover_timeout: Duration,
    /// Hold elections in the store (a lease every relay replica shares) so
    /// that several relays agree; `false` keeps them on this relay only.
    pub store_lease: bool,
    /// How long this relay trusts its copy of the store's lease before
    /// asking again; the store learns of the elected replica's activity at
    /// least this often, so keep it well below `failover_timeout`.
    #[serde(deserialize_with = "deserialize_duration")]
    pub update_timeout: Duration,
}

impl Default for HaConfig {
    fn default() -> Self {
        Self { failover_timeout: Duration::from_secs(30), store_lease: true, update_timeout: Duration::from_secs(10) }
    }
}

/// `overrides:`: the runtime file of per-tenant limits (Mimir's
/// `overrides:` block), re-read when it changes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OverridesConfig {
    /// The file; no overrides when absent.
    pub file: Option<PathBuf>,
    /// How often the file is checked for changes.
    #[serde(deserialize_with = "deserialize_duration")]
    pub reload_period: Duration,
}

impl Default for OverridesConfig {
    fn default() -> Self {
        Self { file: None, reload_period: Duration::from_secs(10) }
    }
}

/// Limits and per-tenant processing. Mimir's key names; `0` means no limit
/// for rates and counts.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantLimits {
    /// Samples per second, averaged by a token bucket; over it: 429.
    pub ingestion_rate: f64,
    /// Bucket size of `ingestion_rate`, in samples (at least one request).
    pub ingestion_burst_size: u64,
    /// Most active series (seen within `active_series_idle_timeout`);
    /// samples of new series beyond it are refused with 400.
    pub max_global_series_per_user: u64,
    /// A series unseen this long no longer counts as active.
    #[serde(deserialize_with = "deserialize_duration", serialize_with = "serialize_duration")]
    pub active_series_idle_timeout: Duration,
    /// Most labels per series.
    pub max_label_names_per_series: usize,
    /// Longest label name, in bytes.
    pub max_label_name_length: usize,
    /// Longest label value, in bytes.
    pub max_label_value_length: usize,
    /// How far ahead of the relay's clock a sample may be.
    #[serde(deserialize_with = "deserialize_duration", serialize_with = "serialize_duration")]
    pub creation_grace_period: Duration,
    /// Largest request body as sent (snappy), in bytes; over it: 413.
    pub max_request_body_bytes: u64,
    /// Largest request body after decompression, in bytes; over it: 413.
    pub max_request_decoded_bytes: u64,
    /// Deduplicate HA pairs for this tenant.
    pub accept_ha_samples: bool,
    /// Label naming a series' HA cluster.
    pub ha_cluster_label: String,
    /// Label naming the replica within the cluster; removed before storage.
    pub ha_replica_label: String,
    /// Prometheus `relabel_config` steps applied to every series.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Labels added to every series (after relabeling) unless present.
    pub external_labels: BTreeMap<String, String>,
}

impl Default for TenantLimits {
    fn default() -> Self {
        let ingest = IngestLimits::default();
        Self {
            ingestion_rate: 0.0,
            ingestion_burst_size: 0,
            max_global_series_per_user: 0,
            active_series_idle_timeout: Duration::from_secs(20 * 60),
            max_label_names_per_series: ingest.max_labels_per_series,
            max_label_name_length: ingest.max_label_name_length,
            max_label_value_length: ingest.max_label_value_length,
            creation_grace_period: ingest.creation_grace_period,
            max_request_body_bytes: ingest.max_body_bytes,
            max_request_decoded_bytes: ingest.max_decoded_bytes,
            accept_ha_samples: false,
            ha_cluster_label: "cluster".into(),
            ha_replica_label: "__replica__".into(),
            metric_relabel_configs: Vec::new(),
            external_labels: BTreeMap::new(),
        }
    }
}

impl TenantLimits {
    /// The ingest module's limits these stand for.
    pub fn ingest_limits(&self) -> IngestLimits {
        IngestLimits {
            max_body_bytes: self.max_request_body_bytes,
            max_decoded_bytes: self.max_request_decoded_bytes,
            max_label_name_length: self.max_label_name_length,
            max_label_value_length: self.max_label_value_length,
            max_labels_per_series: self.max_label_names_per_series,
            creation_grace_period: self.creation_grace_period,
        }
    }

    /// Problems serde cannot see, each prefixed with `path`.
    pub fn problems(&self, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !(self.ingestion_rate >= 0.0 && self.ingestion_rate.is_finite()) {
            out.push(format!("{path}.ingestion_rate: must be a number >= 0 (0: no limit)"));
        }
        if self.accept_ha_samples && (self.ha_cluster_label.is_empty() || self.ha_replica_label.is_empty()) {
            out.push(format!("{path}: accept_ha_samples needs ha_cluster_label and ha_replica_label"));
        }
        if let Err(e) = Relabeler::new(&self.metric_relabel_configs) {
            out.push(format!("{path}.metric_relabel_configs: {e}"));
        }
        out
    }
}

fn serialize_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

impl RelayConfig {
    /// Loads the config file (if any), applies command-line overrides and
    /// validates the result.
    pub fn load(args: &crate::cli::RelayArgs) -> Result<Self, ConfigError> {
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
        if let Some(u) = &args.store_url {
            config.store.url = u.clone();
        }
        let path = args.config.clone().unwrap_or_else(|| PathBuf::from("<command line>"));
        config.source = args.config.clone();
        config.validate().map_err(|problems| ConfigError::Invalid { path, problems })?;
        Ok(config)
    }

    /// Reads, parses and validates a relay config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let config = Self::from_yaml(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source })?;
        config.validate().map_err(|problems| ConfigError::Invalid { path: path.to_owned(), problems })?;
        Ok(Self { source: Some(path.to_owned()), ..config })
    }

    /// Parses relay config YAML; an empty document gives the defaults.
    pub fn from_yaml(text: &str) -> Result<Self, serde_path_to_error::Error<serde_yaml::Error>> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
    }

    /// Every problem serde cannot see, named by key path.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut users = BTreeMap::new();
        let mut ids = BTreeMap::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if let Err(e) = crate::tenant::from_header(Some(&t.id)) {
                problems.push(format!("tenants[{i}].id: {e}"));
            }
            if let Some(first) = ids.insert(t.id.as_str(), i) {
                problems.push(format!("tenants[{i}].id: {:?} is also tenants[{first}]", t.id));
            }
            if t.bearer_token_hashes.is_empty() && t.basic_auth.is_empty() && t.client_certificate_names.is_empty() {
                problems.push(format!(
                    "tenants[{i}]: no credentials: add bearer_token_hashes, basic_auth or client_certificate_names"
                ));
            }
            if !t.client_certificate_names.is_empty() && self.tls.client_ca_file.is_none() {
                problems.push(format!("tenants[{i}].client_certificate_names: needs tls.client_ca_file"));
            }
            for (j, u) in t.basic_auth.iter().enumerate() {
                if let Some(first) = users.insert(u.username.clone(), format!("tenants[{i}]")) {
                    problems.push(format!(
                        "tenants[{i}].basic_auth[{j}].username: {:?} is also a user of {first}",
                        u.username
                    ));
                }
            }
        }
        problems.extend(self.tls.problems("tls"));
        self.store.tls_config.problems("store.tls_config", &mut problems);
        problems.extend(crate::auth::problems("auth.credentials", &self.auth.credentials, &mut users));
        for (i, c) in self.auth.credentials.iter().enumerate() {
            if !c.client_certificate_names.is_empty() && self.tls.client_ca_file.is_none() {
                problems.push(format!("auth.credentials[{i}].client_certificate_names: needs tls.client_ca_file"));
            }
        }
        if self.forward.shards == 0 {
            problems.push("forward.shards: must be > 0".into());
        }
        if self.forward.shards > usize::from(u8::MAX) {
            problems.push(format!("forward.shards: must be at most {}", u8::MAX));
        }
        if self.forward.max_samples_per_send == 0 {
            problems.push("forward.max_samples_per_send: must be > 0".into());
        }
        if self.ha.failover_timeout.is_zero() {
            problems.push("ha.failover_timeout: must be > 0s".into());
        }
        if self.ha.store_lease && self.ha.update_timeout >= self.ha.failover_timeout {
            problems.push("ha.update_timeout: must be below ha.failover_timeout".into());
        }
        if let Err(e) = reqwest::Url::parse(&self.store.url) {
            problems.push(format!("store.url: {e}: use e.g. http://store:9090/api/v1/write"));
        }
        if self.queue.max_bytes < self.queue.segment_size {
            problems.push("queue.max_bytes: must be at least queue.segment_size".into());
        }
        problems.extend(self.limits.problems("limits"));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_config_parses_and_matches_defaults() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config/relay.yaml"))
            .expect("sample relay config exists");
        let sample = RelayConfig::from_yaml(&text).expect("sample relay config parses");
        let defaults = RelayConfig::default();
        assert_eq!(sample.listen, defaults.listen);
        assert_eq!(sample.data_dir, defaults.data_dir);
        assert_eq!(format!("{:?}", sample.store), format!("{:?}", defaults.store));
        assert_eq!(format!("{:?}", sample.queue), format!("{:?}", defaults.queue));
        assert_eq!(format!("{:?}", sample.forward), format!("{:?}", defaults.forward));
        assert_eq!(format!("{:?}", sample.ha), format!("{:?}", defaults.ha));
        assert_eq!(sample.limits, defaults.limits);
        assert_eq!(format!("{:?}", sample.overrides), format!("{:?}", defaults.overrides));
        assert_eq!(format!("{:?}", sample.log), format!("{:?}", defaults.log));
        assert_eq!(format!("{:?}", sample.tls), format!("{:?}", defaults.tls));
        assert!(sample.tenants.is_empty(), "the sample's tenants are commented out");
        sample.validate().expect("sample is valid");
    }

    #[test]
    fn every_problem_is_reported_with_its_key_path() {
        let hash = crate::credentials::hash_secret(b"x");
        let yaml = format!(
            "tenants:\n\
             - id: 'a/b'\n  basic_auth: [{{username: u, password_hash: '{hash}'}}]\n\
             - id: ok\n  basic_auth: [{{username: u, password_hash: '{hash}'}}]\n\
             - id: empty\n\
             forward: {{shards: 0}}\n\
             ha: {{failover_timeout: 0}}\n\
             limits: {{metric_relabel_configs: [{{action: hashmod, source_labels: [a], target_label: b}}]}}\n"
        );
        let problems = RelayConfig::from_yaml(&yaml).expect("parses").validate().expect_err("invalid");
        let want = [
            "tenants[0].id: tenant id \"a/b\"",
            "tenants[1].basic_auth[0].username: \"u\" is also a user of tenants[0]",
            "tenants[2]: no credentials",
            "forward.shards: must be > 0",
            "ha.failover_timeout: must be > 0s",
            "ha.update_timeout: must be below ha.failover_timeout",
            "limits.metric_relabel_configs: action hashmod needs a modulus > 0",
        ];
        assert_eq!(problems.len(), want.len(), "{problems:#?}");
        for (got, want) in problems.iter().zip(want) {
            assert!(got.starts_with(want), "{got:?} does not start with {want:?}");
        }
    }

    #[test]
    fn plaintext_secrets_are_refused_at_parse_time() {
        let err = RelayConfig::from_yaml("tenants: [{id: a, bearer_token_hashes: [hunter2]}]").expect_err("plain");
        assert_eq!(err.path().to_string(), "tenants[0].bearer_token_hashes[0]");
        assert!(err.to_string().contains("rampart hash-secret"), "{err}");
    }
}
