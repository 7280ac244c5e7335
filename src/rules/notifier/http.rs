//! Requests to one Alertmanager: the HTTP client of an `alertmanagers:`
//! entry (TLS with optional client certificate, credentials, timeout) and
//! one `POST /api/v2/alerts` with its outcome.
//!
//! Every target of an entry shares that entry's client. TLS is rustls with
//! the ring provider: the roots are `tls_config.ca_file` or the system's;
//! `server_name` changes the name the certificate is verified against (the
//! SNI sent stays the target's host); `insecure_skip_verify` accepts any
//! certificate but still checks handshake signatures. Secret files are read
//! at start (to fail early) and again for every request, so they can be
//! rotated without a restart.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use reqwest::StatusCode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::alerting::{AlertmanagerConfig, Scheme, TlsClientConfig};

/// Longest excerpt of an error response body kept for the log.
const BODY_EXCERPT_CHARS: usize = 256;

/// One Alertmanager target.
pub struct Endpoint {
    /// `…/api/v2/alerts`; also the `alertmanager` label of the metrics.
    pub url: String,
    client: reqwest::Client,
    auth: Arc<Auth>,
}

/// Credentials sent with every request of an `alertmanagers:` entry.
enum Auth {
    None,
    Basic { username: String, password: Secret },
    Header { kind: String, credentials: Secret },
}

/// A secret given inline or by file.
enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    fn new(inline: Option<&String>, file: Option<&PathBuf>) -> Self {
        match (inline, file) {
            (_, Some(f)) => Self::File(f.clone()),
            (Some(s), None) => Self::Inline(s.clone()),
            (None, None) => Self::Inline(String::new()),
        }
    }

    async fn read(&self) -> std::io::Result<String> {
        match self {
            Self::Inline(s) => Ok(s.clone()),
            Self::File(f) => tokio::fs::read_to_string(f)
                .await
                .map(|s| s.trim().to_owned())
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", f.display()))),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A credentials file could not be read.
    #[error("reading credentials: {0}")]
    Credentials(std::io::Error),
    /// No answer: connection, TLS or timeout.
    #[error("{}", error_chain(.0))]
    Transport(reqwest::Error),
    /// An answer other than 2xx.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The start of the response body.
        body: String,
    },
}

impl SendError {
    /// Whether trying again may succeed: no answer, 5xx or 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Credentials(_) => false,
            Self::Transport(_) => true,
            Self::Status { status, .. } => status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// An error and its sources, `: `-separated (reqwest's own message hides
/// the cause, e.g. "connection refused" or the TLS alert).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Endpoint {
    /// The targets of `config`, which [`AlertmanagerConfig::problems`] found
    /// valid; errors name `path` (the entry's key path).
    pub fn for_config(config: &AlertmanagerConfig, path: &str) -> anyhow::Result<Vec<Endpoint>> {
        let auth = Arc::new(auth(config, path)?);
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("Rampart/", env!("CARGO_PKG_VERSION")));
        if config.scheme == Scheme::Https {
            let tls = client_tls(&config.tls_config).with_context(|| format!("{path}.tls_config"))?;
            builder = builder.use_preconfigured_tls(tls);
        }
        let client = builder.build().with_context(|| format!("{path}: building the HTTP client"))?;
        config
            .targets()
            .map(|t| {
                let url = config.alerts_url(t).map_err(|e| anyhow!("{path}.static_configs: {e}"))?;
                Ok(Endpoint { url: url.to_string(), client: client.clone(), auth: auth.clone() })
            })
            .collect()
    }

    /// POSTs one JSON body of alerts; `Ok` on any 2xx.
    pub async fn post(&self, body: Bytes) -> Result<(), SendError> {
        let mut request = self.client.post(&self.url).header(reqwest::header::CONTENT_TYPE, "application/json");
        match &*self.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                request = request.basic_auth(username, Some(password.read().await.map_err(SendError::Credentials)?));
            }
            Auth::Header { kind, credentials } => {
                let credentials = credentials.read().await.map_err(SendError::Credentials)?;
                request = request.header(reqwest::header::AUTHORIZATION, format!("{kind} {credentials}"));
            }
        }
        let response = request.body(body).send().await.map_err(SendError::Transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let body = match text.char_indices().nth(BODY_EXCERPT_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        };
        Err(SendError::Status { status, body: body.trim().to_owned() })
    }
}

/// The credentials of an entry, with secret files read once to fail early.
fn auth(config: &AlertmanagerConfig, path: &str) -> anyhow::Result<Auth> {
    let check = |file: Option<&PathBuf>, key: &str| -> anyhow::Result<()> {
        if let Some(f) = file {
            std::fs::read_to_string(f).with_context(|| format!("{path}.{key}: {}", f.display()))?;
        }
        Ok(())
    };
    if let Some(b) = &config.basic_auth {
        check(b.password_file.as_ref(), "basic_auth.password_file")?;
        return Ok(Auth::Basic {
            username: b.username.clone(),
            password: Secret::new(b.password.as_ref(), b.password_file.as_ref()),
        });
    }
    if let Some(a) = &config.authorization {
        check(a.credentials_file.as_ref(), "authorization.credentials_file")?;
        return Ok(Auth::Header {
            kind: a.kind.clone(),
            credentials: Secret::new(a.credentials.as_ref(), a.credentials_file.as_ref()),
        });
    }
    Ok(Auth::None)
}

/// The rustls client configuration of `tls`.
fn client_tls(tls: &TlsClientConfig) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(ca) => {
            for cert in read_certs(ca).context("ca_file")? {
                roots.add(cert).with_context(|| format!("ca_file: {}", ca.display()))?;
            }
        }
        None if !tls.insecure_skip_verify => {
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::warn!(error = %e, "loading the system's CA certificates");
            }
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                tracing::warn!("no system CA certificates found: set tls_config.ca_file");
            }
        }
        None => {}
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("protocol versions")?;
    let builder = if tls.insecure_skip_verify || tls.server_name.is_some() {
        let verifier = Verifier::new(tls, roots, &provider)?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .context("no usable CA certificate: set ca_file")?;
        builder.with_webpki_verifier(webpki)
    };
    let mut config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert).context("cert_file")?;
            let read = || std::fs::File::open(key).map(BufReader::new);
            let key_der =
                rustls_pemfile::private_key(&mut read().with_context(|| format!("key_file: {}", key.display()))?)
                    .with_context(|| format!("key_file: {}", key.display()))?
                    .ok_or_else(|| anyhow!("key_file: {}: no private key found (expected PEM)", key.display()))?;
            builder.with_client_auth_cert(chain, key_der).context("cert_file and key_file")?
        }
        _ => builder.with_no_client_auth(),
    };
    // HTTP/1.1 only, as reqwest is built here.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The PEM certificates of a file (at least one).
fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| path.display().to_string())?;
    if certs.is_empty() {
        return Err(anyhow!("{}: no certificate found (expected PEM)", path.display()));
    }
    Ok(certs)
}

/// Server certificate checks for `server_name` and `insecure_skip_verify`:
/// the standard WebPKI checks against another name, or none at all;
/// handshake signatures are verified either way.
#[derive(Debug)]
struct Verifier {
    /// `None` with `insecure_skip_verify`.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The name certificates are verified against instead of the target's.
    server_name: Option<ServerName<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Verifier {
    fn new(tls: &TlsClientConfig, roots: RootCertStore, provider: &Arc<CryptoProvider>) -> anyhow::Result<Self> {
        let webpki = if tls.insecure_skip_verify {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .context("no usable CA certificate: set ca_file")?,
            )
        };
        let server_name = match &tls.server_name {
            Some(n) => Some(ServerName::try_from(n.clone()).with_context(|| format!("server_name: {n:?}"))?),
            None => None,
        };
        Ok(Self { webpki, server_name, algorithms: provider.signature_verification_algorithms })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.webpki {
            Some(w) => w.verify_server_cert(
                end_entity,
                intermediates,
                self.server_name.as_ref().unwrap_or(server_name),
                ocsp_response,
                now,
            ),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
