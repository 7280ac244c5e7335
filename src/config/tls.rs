//! TLS settings, one shape per direction, shared by every part of Rampart:
//!
//! - [`ServerTlsConfig`] (`tls:` of the store and of the relay): serving
//!   HTTPS, with Prometheus exporter-toolkit's `tls_server_config` key names
//!   and `client_auth_type` values, so a `web.yml` block can be pasted;
//! - [`TlsClientConfig`] (`tls_config:` of Alertmanagers, `store.tls_config`
//!   of the relay): connecting over HTTPS, in Prometheus's `tls_config`
//!   shape.
//!
//! Parsing refuses unknown keys and the `client_auth_type` values that
//! accept unverified certificates; `problems` checks the rest (keys that
//! need each other, files that cannot be read) and names each problem by its
//! key path. Building the rustls configurations is `crate::tls`'s job.

use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::alerting::check_file;

/// `tls:`: serve HTTPS, optionally verifying client certificates (mTLS).
/// The files are re-read when they change (see `crate::tls::server`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerTlsConfig {
    /// PEM certificate chain of the server; HTTPS when set (with `key_file`).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates that sign the client certificates accepted.
    pub client_ca_file: Option<PathBuf>,
    /// Whether clients must present a certificate; by default
    /// `VerifyClientCertIfGiven` with `client_ca_file`, else `NoClientCert`.
    pub client_auth_type: Option<ClientAuthType>,
}

/// exporter-toolkit's `client_auth_type`, limited to the values that only
/// let verified certificates through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthType {
    /// No client certificate is asked for.
    NoClientCert,
    /// A client may present a certificate, which must then be signed by
    /// `client_ca_file`; clients without one still connect (and may
    /// authenticate otherwise).
    VerifyClientCertIfGiven,
    /// Every client must present a certificate signed by `client_ca_file`,
    /// else the handshake fails.
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoClientCert => "NoClientCert",
            Self::VerifyClientCertIfGiven => "VerifyClientCertIfGiven",
            Self::RequireAndVerifyClientCert => "RequireAndVerifyClientCert",
        }
    }
}

impl<'de> Deserialize<'de> for ClientAuthType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "NoClientCert" => Ok(Self::NoClientCert),
            "VerifyClientCertIfGiven" => Ok(Self::VerifyClientCertIfGiven),
            "RequireAndVerifyClientCert" => Ok(Self::RequireAndVerifyClientCert),
            "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => Err(de::Error::custom(format!(
                "{s} accepts client certificates nobody verified, which Rampart does not do: \
                 use RequireAndVerifyClientCert (or VerifyClientCertIfGiven) with client_ca_file"
            ))),
            other => Err(de::Error::custom(format!(
                "unknown client_auth_type {other:?}: use NoClientCert, VerifyClientCertIfGiven or \
                 RequireAndVerifyClientCert"
            ))),
        }
    }
}

impl ServerTlsConfig {
    /// True when the server serves HTTPS.
    pub fn is_enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    /// The client certificate policy in force, defaults applied.
    pub fn client_auth(&self) -> ClientAuthType {
        match (self.client_auth_type, &self.client_ca_file) {
            (Some(t), _) => t,
            (None, Some(_)) => ClientAuthType::VerifyClientCertIfGiven,
            (None, None) => ClientAuthType::NoClientCert,
        }
    }

    /// Every problem serde cannot see, named by key path under `path`
    /// (e.g. `tls`).
    pub fn problems(&self, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.cert_file.is_some() != self.key_file.is_some() {
            out.push(format!("{path}: cert_file and key_file go together"));
        }
        let wants_ca = self.client_auth() != ClientAuthType::NoClientCert;
        match (&self.client_ca_file, self.client_auth_type) {
            (Some(_), _) if !self.is_enabled() => out.push(format!(
                "{path}.client_ca_file: needs {path}.cert_file and {path}.key_file (client certificates need HTTPS)"
            )),
            (Some(_), Some(ClientAuthType::NoClientCert)) => out.push(format!(
                "{path}.client_ca_file: set, but client_auth_type is NoClientCert: use VerifyClientCertIfGiven or \
                 RequireAndVerifyClientCert, or remove client_ca_file"
            )),
            (None, Some(t)) if wants_ca => {
                out.push(format!("{path}.client_auth_type: {} needs client_ca_file", t.as_str()));
            }
            _ => {}
        }
        check_file(&format!("{path}.cert_file"), self.cert_file.as_deref(), &mut out);
        check_file(&format!("{path}.key_file"), self.key_file.as_deref(), &mut out);
        check_file(&format!("{path}.client_ca_file"), self.client_ca_file.as_deref(), &mut out);
        out
    }
}

/// `tls_config:` of outgoing HTTPS connections (Prometheus's shape).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientConfig {
    /// PEM CA certificates that sign the server's certificate; the
    /// system's roots when absent.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (mTLS), with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Name the server's certificate is verified against instead of the
    /// URL's host.
    pub server_name: Option<String>,
    /// Accept any server certificate (still encrypted, not authenticated).
    pub insecure_skip_verify: bool,
}

impl TlsClientConfig {
    /// Pushes every problem serde cannot see, named by key path under
    /// `path` (e.g. `store.tls_config`).
    pub fn problems(&self, path: &str, out: &mut Vec<String>) {
        if self.cert_file.is_some() != self.key_file.is_some() {
            out.push(format!("{path}: cert_file and key_file go together"));
        }
        check_file(&format!("{path}.ca_file"), self.ca_file.as_deref(), out);
        check_file(&format!("{path}.cert_file"), self.cert_file.as_deref(), out);
        check_file(&format!("{path}.key_file"), self.key_file.as_deref(), out);
        if let Some(name) = &self.server_name {
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                out.push(format!("{path}.server_name: {name:?} is not a DNS name or IP address"));
            }
        }
    }

    /// The client certificate files, when both are set.
    pub fn client_certificate(&self) -> Option<(&Path, &Path)> {
        self.cert_file.as_deref().zip(self.key_file.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ServerTlsConfig, serde_path_to_error::Error<serde_yaml::Error>> {
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(yaml))
    }

    #[test]
    fn client_auth_defaults_follow_the_client_ca() {
        assert_eq!(ServerTlsConfig::default().client_auth(), ClientAuthType::NoClientCert);
        let with_ca = parse("{cert_file: c, key_file: k, client_ca_file: ca}").expect("parses");
        assert_eq!(with_ca.client_auth(), ClientAuthType::VerifyClientCertIfGiven);
        let required = parse("{client_ca_file: ca, client_auth_type: RequireAndVerifyClientCert}").expect("parses");
        assert_eq!(required.client_auth(), ClientAuthType::RequireAndVerifyClientCert);
    }

    #[test]
    fn client_auth_types_that_skip_verification_are_refused_with_the_alternative() {
        for unverified in ["RequestClientCert", "RequireAnyClientCert"] {
            let err = parse(&format!("client_auth_type: {unverified}")).expect_err("refused");
            assert_eq!(err.path().to_string(), "client_auth_type");
            assert!(err.to_string().contains("use RequireAndVerifyClientCert"), "{err}");
        }
        let err = parse("client_auth_type: Sometimes").expect_err("unknown");
        assert!(err.to_string().contains("NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"));
    }

    #[test]
    fn every_server_problem_is_reported_with_its_key_path() {
        let problems = parse(
            "{cert_file: /nonexistent/c.pem, client_ca_file: /nonexistent/ca.pem, client_auth_type: NoClientCert}",
        )
        .expect("parses")
        .problems("tls");
        let want = [
            "tls: cert_file and key_file go together",
            "tls.client_ca_file: set, but client_auth_type is NoClientCert",
            "tls.cert_file: /nonexistent/c.pem: ",
            "tls.client_ca_file: /nonexistent/ca.pem: ",
        ];
        assert_eq!(problems.len(), want.len(), "{problems:#?}");
        for (got, want) in problems.iter().zip(want) {
            assert!(got.starts_with(want), "{got:?} does not start with {want:?}");
        }
        let problems = parse("client_auth_type: RequireAndVerifyClientCert").expect("parses").problems("tls");
        assert_eq!(problems, ["tls.client_auth_type: RequireAndVerifyClientCert needs client_ca_file"]);
        let problems = parse("client_ca_file: /dev/null").expect("parses").problems("tls");
        assert_eq!(
            problems,
            ["tls.client_ca_file: needs tls.cert_file and tls.key_file (client certificates need HTTPS)"]
        );
    }
}
