//! HTTPS for the relay, with optional client certificates (mTLS).
//!
//! With `tls.cert_file` and `tls.key_file` the relay serves HTTPS only. With
//! `tls.client_ca_file` it also asks for client certificates and accepts
//! only those signed by that CA; a verified certificate's subject common
//! name and DNS names are handed to each request of the connection as a
//! [`ClientCertificate`], and [`super::auth`] maps them to a principal
//! (`tenants[].client_certificate_names`, `auth.credentials[].client_certificate_names`). A client without a certificate
//! may still authenticate with a token or basic auth.
//!
//! Shutdown stops accepting connections; requests in flight on open
//! connections are cut when the process exits (their senders got no answer,
//! so they retry).

use std::future::Future;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::Request;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::relay::TlsConfig;

/// The names a verified client certificate presents: its subject common
/// name and its DNS subject alternative names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCertificate {
    /// CN first, then DNS SANs.
    pub names: Vec<String>,
}

/// TLS settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no certificate or no private key.
    #[error("{path}: no {what} found (expected PEM)")]
    Empty {
        /// The file.
        path: PathBuf,
        /// What was missing.
        what: &'static str,
    },
    /// rustls refused the certificates or key.
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA cannot verify certificates.
    #[error("tls.client_ca_file: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |source| TlsError::Read { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read)?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file)).collect::<Result<Vec<_>, _>>().map_err(read)?;
    if certs.is_empty() {
        return Err(TlsError::Empty { path: path.to_owned(), what: "certificate" });
    }
    Ok(certs)
}

/// The acceptor for `config` (which validation made complete).
pub fn acceptor(cert_file: &Path, key_file: &Path, config: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(cert_file)?;
    let read = |source| TlsError::Read { path: key_file.to_owned(), source };
    let key = rustls_pemfile::private_key(&mut BufReader::new(std::fs::File::open(key_file).map_err(read)?))
        .map_err(read)?
        .ok_or_else(|| TlsError::Empty { path: key_file.to_owned(), what: "private key" })?;
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match &config.client_ca_file {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca)? {
                roots.add(c)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder.with_single_cert(certs, key)?;
    // HTTP/1.1 only, as over plain HTTP: an early refusal (401, 413) then
    // ends the request cleanly, where HTTP/2 would reset a stream whose body
    // is still being sent.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The CN and DNS SANs of a DER certificate (empty when it does not parse;
/// rustls verified it already).
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else { return Vec::new() };
    let mut names: Vec<String> =
        cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok().map(str::to_owned)).collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push((*d).to_owned());
            }
        }
    }
    names
}

/// Serves `router` over TLS until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "relay: accepting a connection failed");
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "relay: TLS handshake failed");
                    return;
                }
            };
            let cert = ClientCertificate {
                names: tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map_or_else(Vec::new, |c| certificate_names(c.as_ref())),
            };
            let service = router.map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(cert.clone());
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            });
            if let Err(e) = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                .await
            {
                tracing::debug!(%peer, error = %e, "relay: connection ended with an error");
            }
        });
    }
}
