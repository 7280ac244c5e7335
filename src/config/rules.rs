//! `rules:` section: which rule files each tenant has, and the ruler's
//! settings, with Prometheus's defaults (`evaluation_interval`,
//! `--rules.alert.resend-delay`, `--rules.alert.for-outage-tolerance`,
//! `--rules.alert.for-grace-period`, `rule_query_offset`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::duration::deserialize_duration;

/// Rule evaluation settings.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Per tenant, a directory whose `*.yml` and `*.yaml` files are
    /// Prometheus rule files; their rules read and write that tenant's data.
    pub tenants: BTreeMap<String, PathBuf>,
    /// Interval of groups that set none.
    #[serde(deserialize_with = "deserialize_duration")]
    pub evaluation_interval: Duration,
    /// How far in the past rules query, for groups that set no
    /// `query_offset` (gives late samples time to arrive).
    #[serde(deserialize_with = "deserialize_duration")]
    pub query_offset: Duration,
    /// How often a firing alert is re-sent to Alertmanager.
    #[serde(deserialize_with = "deserialize_duration")]
    pub resend_delay: Duration,
    /// How long an outage may last for alert `for` progress to be restored
    /// from `ALERTS_FOR_STATE` after a start.
    #[serde(deserialize_with = "deserialize_duration")]
    pub outage_tolerance: Duration,
    /// Least time between a start and an alert with a restored `for` firing.
    #[serde(deserialize_with = "deserialize_duration")]
    pub for_grace_period: Duration,
    /// Labels of this ruler: `$externalLabels` in templates, and added to
    /// alerts sent to Alertmanager.
    pub external_labels: BTreeMap<String, String>,
    /// The URL users reach Rampart at: `$externalURL` in templates, and
    /// the base of alerts' generator URLs. Empty: `http://<listen address>`.
    pub external_url: String,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            tenants: BTreeMap::new(),
            evaluation_interval: Duration::from_secs(60),
            query_offset: Duration::ZERO,
            resend_delay: Duration::from_secs(60),
            outage_tolerance: Duration::from_secs(60 * 60),
            for_grace_period: Duration::from_secs(10 * 60),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
        }
    }
}

impl RulesConfig {
    /// Problems serde cannot see, each named by key path.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for tenant in self.tenants.keys() {
            if let Err(e) = crate::tenant::from_header(Some(tenant)) {
                out.push(format!("rules.tenants.{tenant}: {e}"));
            }
        }
        if self.evaluation_interval.is_zero() {
            out.push("rules.evaluation_interval: must be greater than 0".into());
        }
        for name in self.external_labels.keys() {
            if !crate::ingest::is_label_name(name) {
                out.push(format!("rules.external_labels.{name}: not a valid label name"));
            }
        }
        out
    }
}
