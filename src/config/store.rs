//! `storage:` section: the storage engine's settings as users write them,
//! converted into `rampart_storage::Options` in one place; and `verify:`,
//! the store's periodic tamper verification of itself (`crate::verify`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rampart_storage::{FsyncPolicy, ManifestHead, Options};
use serde::{Deserialize, Deserializer};

use super::size::deserialize_size;
use crate::duration::deserialize_duration;

/// Storage engine settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// How long to keep data (`15d`); `0` keeps it forever and accepts
    /// samples at any timestamp >= 0.
    #[serde(deserialize_with = "deserialize_duration")]
    pub retention: Duration,
    /// Retention per tenant, overriding `retention` (`acme: 90d`; `0` keeps
    /// that tenant's data forever). A tenant's data is removed from each
    /// partition wholly past its cut-off, and its older samples are refused.
    #[serde(deserialize_with = "deserialize_tenant_retention")]
    pub retention_per_tenant: BTreeMap<String, Duration>,
    /// Width of a time partition; retention, compaction and sealing work on
    /// whole partitions.
    #[serde(deserialize_with = "deserialize_duration")]
    pub partition_duration: Duration,
    /// How far behind a series' newest sample an older sample is still
    /// accepted; partitions are sealed once their end is this far past.
    #[serde(deserialize_with = "deserialize_duration")]
    pub out_of_order_window: Duration,
    /// Write-ahead log.
    pub wal: WalConfig,
    /// In-memory head.
    pub head: HeadConfig,
    /// Background compaction.
    pub compaction: CompactionConfig,
}

/// `storage.wal`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    /// Segment size before rotation (`128MiB`).
    #[serde(deserialize_with = "deserialize_size")]
    pub segment_size: u64,
    /// `always`: fsync before acknowledging each write (group commit);
    /// `interval`: fsync every `fsync_interval`; `never`: leave it to the OS.
    pub fsync: FsyncMode,
    /// Period of background fsyncs when `fsync: interval`.
    #[serde(deserialize_with = "deserialize_duration")]
    pub fsync_interval: Duration,
}

/// When the WAL is fsynced.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    /// Before acknowledging each write (group commit).
    Always,
    /// Periodically in the background.
    Interval,
    /// Never explicitly.
    Never,
}

/// `storage.head`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadConfig {
    /// How often closed chunks go to RocksDB and the WAL is checkpointed.
    #[serde(deserialize_with = "deserialize_duration")]
    pub flush_interval: Duration,
    /// Samples per in-memory chunk.
    pub chunk_samples: u16,
}

/// `storage.compaction`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    /// How often retention, merging and sealing run.
    #[serde(deserialize_with = "deserialize_duration")]
    pub interval: Duration,
    /// Samples per chunk after merging.
    pub chunk_samples: u16,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let o = Options::default();
        Self {
            retention: o.retention,
            retention_per_tenant: o.retention_per_tenant,
            partition_duration: o.partition_duration,
            out_of_order_window: o.out_of_order_window,
            wal: WalConfig::default(),
            head: HeadConfig::default(),
            compaction: CompactionConfig::default(),
        }
    }
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            segment_size: Options::default().wal_segment_size,
            fsync: FsyncMode::Always,
            fsync_interval: Duration::from_secs(1),
        }
    }
}

impl Default for HeadConfig {
    fn default() -> Self {
        let o = Options::default();
        Self { flush_interval: o.head_flush_interval, chunk_samples: o.head_chunk_samples }
    }
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(5 * 60), chunk_samples: Options::default().compacted_chunk_samples }
    }
}

impl StorageConfig {
    /// Engine options for a data directory.
    pub fn to_options(&self, data_dir: &Path) -> Options {
        Options {
            data_dir: data_dir.to_owned(),
            retention: self.retention,
            retention_per_tenant: self.retention_per_tenant.clone(),
            partition_duration: self.partition_duration,
            out_of_order_window: self.out_of_order_window,
            wal_segment_size: self.wal.segment_size,
            wal_fsync: match self.wal.fsync {
                FsyncMode::Always => FsyncPolicy::Always,
                FsyncMode::Interval => FsyncPolicy::Interval(self.wal.fsync_interval),
                FsyncMode::Never => FsyncPolicy::Never,
            },
            head_flush_interval: self.head.flush_interval,
            head_chunk_samples: self.head.chunk_samples,
            compacted_chunk_samples: self.compaction.chunk_samples,
            read_only: false,
        }
    }
}

/// `verify:`: how often the running store verifies its manifest chain,
/// sealed partitions and audit log, as `rampart verify` does offline.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyConfig {
    /// Time between runs (`24h`); the first runs once the engine is open.
    /// `0` disables periodic runs (`POST /api/v1/admin/verify` still runs
    /// one on demand).
    #[serde(deserialize_with = "deserialize_duration")]
    pub interval: Duration,
    /// A manifest head pinned outside the cluster (`SEQ:SHA256`, as
    /// `rampart verify` prints it): every run also checks that the chain
    /// still holds that entry unchanged.
    #[serde(deserialize_with = "deserialize_manifest_head")]
    pub expect_head: Option<ManifestHead>,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(24 * 3600), expect_head: None }
    }
}

/// `SEQ:SHA256`, or absent.
fn deserialize_manifest_head<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ManifestHead>, D::Error> {
    Option::<String>::deserialize(d)?.map(|s| s.parse().map_err(serde::de::Error::custom)).transpose()
}

/// `retention_per_tenant`: tenant name → duration, each in the duration
/// syntax of `retention`.
fn deserialize_tenant_retention<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Duration>, D::Error> {
    #[derive(Deserialize)]
    struct Retention(#[serde(deserialize_with = "deserialize_duration")] Duration);
    Ok(BTreeMap::<String, Retention>::deserialize(d)?.into_iter().map(|(tenant, r)| (tenant, r.0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_tenant_retention_overrides_the_default() {
        let c: StorageConfig =
            serde_yaml::from_str("retention: 15d\nretention_per_tenant: {acme: 90d, audit: 0, short: 1h}\n")
                .expect("valid");
        let o = c.to_options(Path::new("/data"));
        assert_eq!(o.tenant_retention_ms("acme"), Some(90 * 86_400_000));
        assert_eq!(o.tenant_retention_ms("audit"), None, "0 keeps data forever");
        assert_eq!(o.tenant_retention_ms("short"), Some(3_600_000));
        assert_eq!(o.tenant_retention_ms("other"), Some(15 * 86_400_000));
        assert!(serde_yaml::from_str::<StorageConfig>("retention_per_tenant: {acme: soon}").is_err());
    }

    #[test]
    fn verify_takes_an_interval_and_a_pinned_head() {
        let head = format!("7:{}", "ab".repeat(32));
        let c: VerifyConfig = serde_yaml::from_str(&format!("interval: 6h\nexpect_head: '{head}'\n")).expect("valid");
        assert_eq!(c.interval, Duration::from_secs(6 * 3600));
        assert_eq!(c.expect_head.map(|h| h.to_string()), Some(head));
        assert_eq!(serde_yaml::from_str::<VerifyConfig>("interval: 0").expect("disabled").interval, Duration::ZERO);
        let err = serde_yaml::from_str::<VerifyConfig>("expect_head: '7:ab'").expect_err("no hash").to_string();
        assert!(err.contains("is not SEQ:SHA256"), "{err}");
    }
}
