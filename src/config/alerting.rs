//! `alerting:`: where alerts of alerting rules go, in the shape of
//! Prometheus's own `alerting:` section, so that its `alertmanagers:` list
//! can be pasted from `prometheus.yml`. Rampart knows static targets only
//! (no service discovery, no relabeling) and Alertmanager's API v2 only.
//!
//! Parsing refuses unknown keys and `api_version: v1`; [`AlertingConfig::problems`]
//! checks the rest (auth methods that exclude each other, files that cannot
//! be read, targets that are not `host:port`) and names each problem by its
//! key path. Secrets given inline (`password`, `credentials`) never appear in
//! `Debug` output.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::tls::TlsClientConfig;
use crate::duration::deserialize_duration;

/// Root of the `alerting:` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Alertmanager groups; every alert goes to every target of every group.
    /// Empty: alerts are not sent anywhere.
    pub alertmanagers: Vec<AlertmanagerConfig>,
    /// Alerts waiting to be sent, at most; beyond it the oldest are dropped
    /// (Prometheus's `--alertmanager.notification-queue-capacity`).
    pub queue_capacity: usize,
    /// Most alerts in one request to an Alertmanager.
    pub max_batch_size: usize,
    /// Further attempts of a request that failed for a reason that may pass
    /// (connection, timeout, 5xx, 429), with doubling delays; `0`: one
    /// attempt, as Prometheus does.
    pub max_retries: u32,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self { alertmanagers: Vec::new(), queue_capacity: 10_000, max_batch_size: 64, max_retries: 3 }
    }
}

/// One `alertmanagers:` entry: targets that share scheme, path and
/// credentials.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerConfig {
    /// Groups of `host:port` targets.
    pub static_configs: Vec<StaticConfig>,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Path before `/api/v2/alerts`, for an Alertmanager behind a prefix.
    pub path_prefix: String,
    /// Time limit of one request.
    #[serde(deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// Alertmanager API version; only `v2` exists since Alertmanager 0.27.
    pub api_version: ApiVersion,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization: <type> <credentials>` header.
    pub authorization: Option<Authorization>,
    /// TLS settings of `https` targets.
    pub tls_config: TlsClientConfig,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self {
            static_configs: Vec::new(),
            scheme: Scheme::Http,
            path_prefix: "/".into(),
            timeout: Duration::from_secs(10),
            api_version: ApiVersion::V2,
            basic_auth: None,
            authorization: None,
            tls_config: TlsClientConfig::default(),
        }
    }
}

/// `static_configs:` entry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticConfig {
    /// `host:port` of each Alertmanager.
    pub targets: Vec<String>,
}

/// URL scheme of the targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS (see `tls_config`).
    Https,
}

impl Scheme {
    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Alertmanager API version. Parsing refuses anything but `v2`, naming why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    /// `/api/v2/alerts`.
    V2,
}

impl<'de> Deserialize<'de> for ApiVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "v2" => Ok(Self::V2),
            "v1" => Err(de::Error::custom(
                "Alertmanager API v1 is not supported (Alertmanager 0.27 removed it, Prometheus 3 dropped it): use v2",
            )),
            other => Err(de::Error::custom(format!("unknown Alertmanager API version {other:?}: use v2"))),
        }
    }
}

/// `basic_auth:`. The password is given inline or read from a file (re-read
/// for every request, so it can be rotated).
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password, inline.
    pub password: Option<String>,
    /// File holding the password (surrounding whitespace is ignored).
    pub password_file: Option<PathBuf>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// `authorization:`: a header `Authorization: <type> <credentials>`, the
/// credentials inline or read from a file (re-read for every request).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authorization {
    /// Scheme of the header, `Bearer` by default.
    #[serde(rename = "type")]
    pub kind: String,
    /// Credentials, inline.
    pub credentials: Option<String>,
    /// File holding the credentials (surrounding whitespace is ignored).
    pub credentials_file: Option<PathBuf>,
}

impl Default for Authorization {
    fn default() -> Self {
        Self { kind: "Bearer".into(), credentials: None, credentials_file: None }
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("type", &self.kind)
            .field("credentials", &self.credentials.as_ref().map(|_| "<secret>"))
            .field("credentials_file", &self.credentials_file)
            .finish()
    }
}

impl AlertingConfig {
    /// Every problem serde cannot see, each named by its key path under
    /// `path` (e.g. `alerting`).
    pub fn problems(&self, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.queue_capacity == 0 {
            out.push(format!("{path}.queue_capacity: must be > 0"));
        }
        if self.max_batch_size == 0 {
            out.push(format!("{path}.max_batch_size: must be > 0"));
        }
        for (i, am) in self.alertmanagers.iter().enumerate() {
            am.problems(&format!("{path}.alertmanagers[{i}]"), &mut out);
        }
        out
    }

    /// [`Self::problems`] as a result.
    pub fn validate(&self, path: &str) -> Result<(), Vec<String>> {
        let problems = self.problems(path);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl AlertmanagerConfig {
    /// The targets of all `static_configs`, in order.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.static_configs.iter().flat_map(|s| s.targets.iter().map(String::as_str))
    }

    /// The alerts endpoint of `target`: `{scheme}://{target}{path_prefix}/api/v2/alerts`.
    pub fn alerts_url(&self, target: &str) -> Result<reqwest::Url, String> {
        let prefix = self.path_prefix.trim_end_matches('/');
        let sep = if prefix.is_empty() || prefix.starts_with('/') { "" } else { "/" };
        let text = format!("{}://{target}{sep}{prefix}/api/v2/alerts", self.scheme.as_str());
        let url = reqwest::Url::parse(&text).map_err(|e| format!("{text}: {e}"))?;
        // A target with a path, credentials or query would silently change
        // the URL; only `host[:port]` is a target.
        let authority_only = !target.is_empty()
            && !target.contains(['/', '@', '?', '#'])
            && url.host_str().is_some_and(|h| !h.is_empty());
        if !authority_only {
            return Err(format!("{target:?} is not host:port"));
        }
        Ok(url)
    }

    fn problems(&self, path: &str, out: &mut Vec<String>) {
        if self.targets().next().is_none() {
            out.push(format!("{path}.static_configs: no targets (Rampart has no service discovery)"));
        }
        for (j, sc) in self.static_configs.iter().enumerate() {
            for (k, t) in sc.targets.iter().enumerate() {
                if let Err(e) = self.alerts_url(t) {
                    out.push(format!("{path}.static_configs[{j}].targets[{k}]: {e}"));
                }
            }
        }
        if self.timeout.is_zero() {
            out.push(format!("{path}.timeout: must be > 0s"));
        }
        if self.basic_auth.is_some() && self.authorization.is_some() {
            out.push(format!("{path}: at most one of basic_auth and authorization may be set"));
        }
        if let Some(b) = &self.basic_auth {
            let p = format!("{path}.basic_auth");
            if b.password.is_some() && b.password_file.is_some() {
                out.push(format!("{p}: at most one of password and password_file may be set"));
            }
            if b.username.is_empty() {
                out.push(format!("{p}.username: must not be empty"));
            }
            check_file(&format!("{p}.password_file"), b.password_file.as_deref(), out);
        }
        if let Some(a) = &self.authorization {
            let p = format!("{path}.authorization");
            if a.kind.eq_ignore_ascii_case("basic") {
                out.push(format!("{p}.type: Basic is not allowed here: use basic_auth"));
            }
            if a.kind.is_empty() || a.kind.contains(char::is_whitespace) {
                out.push(format!("{p}.type: {:?} is not a single word such as Bearer", a.kind));
            }
            match (&a.credentials, &a.credentials_file) {
                (Some(_), Some(_)) => {
                    out.push(format!("{p}: at most one of credentials and credentials_file may be set"));
                }
                (None, None) => out.push(format!("{p}: needs credentials or credentials_file")),
                _ => {}
            }
            check_file(&format!("{p}.credentials_file"), a.credentials_file.as_deref(), out);
        }
        self.tls_config.problems(&format!("{path}.tls_config"), out);
    }
}

/// Pushes a problem when `file` is set but cannot be read.
pub(super) fn check_file(path: &str, file: Option<&Path>, out: &mut Vec<String>) {
    if let Some(f) = file {
        if let Err(e) = std::fs::File::open(f) {
            out.push(format!("{path}: {}: {e}", f.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<AlertingConfig, serde_path_to_error::Error<serde_yaml::Error>> {
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(yaml))
    }

    #[test]
    fn prometheus_shaped_config_parses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret\n").expect("write");
        let yaml = format!(
            "alertmanagers:\n\
             - static_configs: [{{targets: ['127.0.0.1:9093', 'am-2:9093']}}]\n\
             \x20 scheme: https\n\
             \x20 path_prefix: /am\n\
             \x20 timeout: 5s\n\
             \x20 api_version: v2\n\
             \x20 basic_auth: {{username: u, password_file: {}}}\n\
             \x20 tls_config: {{server_name: am.example, insecure_skip_verify: true}}\n\
             queue_capacity: 100\n\
             max_batch_size: 10\n\
             max_retries: 0\n",
            pw.display()
        );
        let c = parse(&yaml).expect("parses");
        assert_eq!(c.queue_capacity, 100);
        assert_eq!(c.max_batch_size, 10);
        assert_eq!(c.max_retries, 0);
        let am = &c.alertmanagers[0];
        assert_eq!(am.targets().collect::<Vec<_>>(), ["127.0.0.1:9093", "am-2:9093"]);
        assert_eq!(am.scheme, Scheme::Https);
        assert_eq!(am.timeout, Duration::from_secs(5));
        assert_eq!(am.basic_auth.as_ref().expect("basic_auth").password_file.as_deref(), Some(pw.as_path()));
        assert_eq!(am.tls_config.server_name.as_deref(), Some("am.example"));
        assert!(am.tls_config.insecure_skip_verify);
        c.validate("alerting").expect("valid");
        assert_eq!(am.alerts_url("127.0.0.1:9093").expect("url").as_str(), "https://127.0.0.1:9093/am/api/v2/alerts");
    }

    #[test]
    fn defaults_are_prometheus_defaults() {
        let c = parse("alertmanagers: [{static_configs: [{targets: ['localhost:9093']}]}]").expect("parses");
        let am = &c.alertmanagers[0];
        assert_eq!(am.scheme, Scheme::Http);
        assert_eq!(am.path_prefix, "/");
        assert_eq!(am.timeout, Duration::from_secs(10));
        assert_eq!(am.api_version, ApiVersion::V2);
        assert_eq!(c.queue_capacity, 10_000);
        assert_eq!(am.alerts_url("localhost:9093").expect("url").as_str(), "http://localhost:9093/api/v2/alerts");
        assert_eq!(parse("{}").expect("empty"), AlertingConfig::default());
    }

    #[test]
    fn path_prefixes_join_like_prometheus() {
        for (prefix, want) in [
            ("/", "http://h:1/api/v2/alerts"),
            ("", "http://h:1/api/v2/alerts"),
            ("/am", "http://h:1/am/api/v2/alerts"),
            ("/am/", "http://h:1/am/api/v2/alerts"),
            ("am", "http://h:1/am/api/v2/alerts"),
        ] {
            let am = AlertmanagerConfig { path_prefix: prefix.into(), ..Default::default() };
            assert_eq!(am.alerts_url("h:1").expect("url").as_str(), want, "{prefix:?}");
        }
    }

    #[test]
    fn api_v1_is_refused_at_parse_time_with_its_path() {
        let err = parse("alertmanagers: [{api_version: v1}]").expect_err("v1");
        assert_eq!(err.path().to_string(), "alertmanagers[0].api_version");
        assert!(err.to_string().contains("API v1 is not supported"), "{err}");
        let err = parse("alertmanagers: [{api_version: v3}]").expect_err("v3");
        assert!(err.to_string().contains("unknown Alertmanager API version \"v3\""), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let err = parse("alertmanagers: [{tls_config: {ca_fil: x}}]").expect_err("typo");
        assert_eq!(err.path().to_string(), "alertmanagers[0].tls_config.ca_fil");
        let err = parse("alertmanagers: [{scheme: ftp}]").expect_err("scheme");
        assert_eq!(err.path().to_string(), "alertmanagers[0].scheme");
    }

    #[test]
    fn every_problem_is_named_by_its_key_path() {
        let yaml = "alertmanagers:\n\
             - static_configs: [{targets: ['ok:9093', 'http://h:1', 'u@h:1', '']}]\n\
             \x20 timeout: 0\n\
             \x20 basic_auth: {username: u, password: a, password_file: /nonexistent/pw}\n\
             \x20 authorization: {type: Basic, credentials: t}\n\
             \x20 tls_config: {cert_file: /nonexistent/cert.pem, server_name: 'not a name'}\n\
             - authorization: {}\n\
             queue_capacity: 0\n\
             max_batch_size: 0\n";
        let problems = parse(yaml).expect("parses").problems("alerting");
        let want = [
            "alerting.queue_capacity: must be > 0",
            "alerting.max_batch_size: must be > 0",
            "alerting.alertmanagers[0].static_configs[0].targets[1]: ",
            "alerting.alertmanagers[0].static_configs[0].targets[2]: \"u@h:1\" is not host:port",
            "alerting.alertmanagers[0].static_configs[0].targets[3]: ",
            "alerting.alertmanagers[0].timeout: must be > 0s",
            "alerting.alertmanagers[0]: at most one of basic_auth and authorization may be set",
            "alerting.alertmanagers[0].basic_auth: at most one of password and password_file may be set",
            "alerting.alertmanagers[0].basic_auth.password_file: /nonexistent/pw: ",
            "alerting.alertmanagers[0].authorization.type: Basic is not allowed here: use basic_auth",
            "alerting.alertmanagers[0].tls_config: cert_file and key_file go together",
            "alerting.alertmanagers[0].tls_config.cert_file: /nonexistent/cert.pem: ",
            "alerting.alertmanagers[0].tls_config.server_name: \"not a name\" is not a DNS name or IP address",
            "alerting.alertmanagers[1].static_configs: no targets",
            "alerting.alertmanagers[1].authorization: needs credentials or credentials_file",
        ];
        assert_eq!(problems.len(), want.len(), "{problems:#?}");
        for (got, want) in problems.iter().zip(want) {
            assert!(got.starts_with(want), "{got:?} does not start with {want:?}");
        }
    }

    #[test]
    fn inline_secrets_stay_out_of_debug_output() {
        let c = parse(
            "alertmanagers:\n\
             - basic_auth: {username: u, password: hunter2}\n\
             - authorization: {credentials: tok3n}\n",
        )
        .expect("parses");
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2") && !text.contains("tok3n"), "{text}");
        assert!(text.contains("<secret>"), "{text}");
    }
}
