//! Per-tenant settings: the `limits:` defaults of the relay config, with
//! each tenant's entry of the overrides file (Mimir's runtime-config shape,
//! `overrides: {<tenant>: {<limit>: <value>}}`) laid over them key by key.
//!
//! The file is re-read every `overrides.reload_period` and applied when its
//! text changed. A file that does
//! not parse or validate is refused whole: the previous settings stay in
//! force and the error is logged and counted, so a typo never lifts limits.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Deserialize;

use super::relabel::Relabeler;
use crate::config::relay::TenantLimits;
use crate::ingest::IngestLimits;

/// A tenant's settings, compiled.
#[derive(Debug)]
pub struct TenantSettings {
    /// The limits as configured.
    pub limits: TenantLimits,
    /// The ingest validation limits they imply.
    pub ingest: IngestLimits,
    /// The compiled relabel steps.
    pub relabeler: Relabeler,
}

impl TenantSettings {
    fn compile(limits: TenantLimits) -> Result<Self, String> {
        let relabeler = Relabeler::new(&limits.metric_relabel_configs).map_err(|e| e.to_string())?;
        Ok(Self { ingest: limits.ingest_limits(), relabeler, limits })
    }
}

/// The overrides file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct OverridesFile {
    /// tenant → its limits, as a partial mapping over the defaults.
    overrides: BTreeMap<String, serde_yaml::Mapping>,
}

/// Why an overrides file was refused.
#[derive(Debug, thiserror::Error)]
pub enum OverridesError {
    /// It could not be read.
    #[error("reading overrides file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It does not parse, or a tenant's entry is invalid.
    #[error("overrides file {path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the key path.
        problem: String,
    },
}

/// The settings in force.
struct Current {
    /// Of tenants without an override.
    default: Arc<TenantSettings>,
    /// Of the overridden tenants.
    tenants: HashMap<String, Arc<TenantSettings>>,
}

/// Settings of every tenant, reloadable.
pub struct Overrides {
    defaults: TenantLimits,
    file: Option<PathBuf>,
    current: RwLock<Current>,
    /// Text of the file last loaded.
    loaded: RwLock<Option<String>>,
}

impl Overrides {
    /// Loads the defaults and the file (if any).
    pub fn new(defaults: TenantLimits, file: Option<PathBuf>) -> Result<Self, OverridesError> {
        let path = file.clone().unwrap_or_default();
        let base = TenantSettings::compile(defaults.clone())
            .map_err(|problem| OverridesError::Invalid { path, problem: format!("limits: {problem}") })?;
        let o = Self {
            defaults,
            file,
            current: RwLock::new(Current { default: Arc::new(base), tenants: HashMap::new() }),
            loaded: RwLock::new(None),
        };
        o.reload_if_changed()?;
        Ok(o)
    }

    /// The settings of `tenant`.
    pub fn get(&self, tenant: &str) -> Arc<TenantSettings> {
        let current = self.current.read();
        current.tenants.get(tenant).unwrap_or(&current.default).clone()
    }

    /// Re-reads the file if it changed; `Ok(true)` when new settings were
    /// loaded. On error the previous settings stay.
    pub fn reload_if_changed(&self) -> Result<bool, OverridesError> {
        let Some(path) = &self.file else { return Ok(false) };
        let text =
            std::fs::read_to_string(path).map_err(|source| OverridesError::Read { path: path.clone(), source })?;
        if self.loaded.read().as_deref() == Some(text.as_str()) {
            return Ok(false);
        }
        let tenants = self.parse(path, &text)?;
        self.current.write().tenants = tenants;
        *self.loaded.write() = Some(text);
        Ok(true)
    }

    fn parse(&self, path: &Path, text: &str) -> Result<HashMap<String, Arc<TenantSettings>>, OverridesError> {
        let invalid = |problem: String| OverridesError::Invalid { path: path.to_owned(), problem };
        let file: OverridesFile = if text.trim().is_empty() {
            OverridesFile::default()
        } else {
            serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
                .map_err(|e| invalid(e.to_string()))?
        };
        let base = serde_yaml::to_value(&self.defaults).map_err(|e| invalid(e.to_string()))?;
        let mut out = HashMap::new();
        for (tenant, patch) in file.overrides {
            let mut merged = base.clone();
            if let serde_yaml::Value::Mapping(m) = &mut merged {
                m.extend(patch);
            }
            let key = format!("overrides.{tenant}");
            let limits: TenantLimits =
                serde_path_to_error::deserialize(merged).map_err(|e| invalid(format!("{key}.{e}")))?;
            if let Some(problem) = limits.problems(&key).into_iter().next() {
                return Err(invalid(problem));
            }
            let settings = TenantSettings::compile(limits).map_err(|p| invalid(format!("{key}: {p}")))?;
            out.insert(tenant, Arc::new(settings));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_entries_override_defaults_key_by_key_and_reload() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("overrides.yaml");
        std::fs::write(
            &path,
            "overrides:\n  team-a:\n    ingestion_rate: 50\n    ha_replica_label: prometheus_replica\n",
        )
        .expect("write");
        let defaults = TenantLimits { ingestion_burst_size: 7, ..TenantLimits::default() };
        let o = Overrides::new(defaults, Some(path.clone())).expect("load");
        let a = o.get("team-a");
        assert_eq!(a.limits.ingestion_rate, 50.0);
        assert_eq!(a.limits.ingestion_burst_size, 7, "unset keys keep the default");
        assert_eq!(a.limits.ha_replica_label, "prometheus_replica");
        assert_eq!(o.get("team-b").limits.ingestion_rate, 0.0);

        // A bad file is refused and the old settings stay.
        std::fs::write(&path, "overrides:\n  team-a:\n    ingestion_rat: 5\n").expect("write");
        let err = o.reload_if_changed().expect_err("typo");
        assert!(err.to_string().contains("overrides.team-a.ingestion_rat"), "{err}");
        assert_eq!(o.get("team-a").limits.ingestion_rate, 50.0);

        std::fs::write(&path, "overrides:\n  team-b:\n    max_global_series_per_user: 3\n").expect("write");
        assert!(o.reload_if_changed().expect("reload"));
        assert_eq!(o.get("team-a").limits.ingestion_rate, 0.0, "team-a lost its override");
        assert_eq!(o.get("team-b").limits.max_global_series_per_user, 3);
        assert!(!o.reload_if_changed().expect("unchanged"));
    }
}
