//! Requests to one Alertmanager: the HTTP client of an `alertmanagers:`
//! entry (TLS with optional client certificate, credentials, timeout) and
//! one `POST /api/v2/alerts` with its outcome.
//!
//! Every target of an entry shares that entry's client; its TLS is
//! `crate::tls::client`'s. Secret files are read at start (to fail early)
//! and again for every request, so they can be rotated without a restart.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use reqwest::StatusCode;

use crate::config::alerting::{AlertmanagerConfig, Scheme};

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
            let tls =
                crate::tls::client::client_config(&config.tls_config).with_context(|| format!("{path}.tls_config"))?;
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
