//! The rustls configuration of outgoing HTTPS, from Prometheus's
//! `tls_config` shape ([`TlsClientConfig`]): the relay towards the store,
//! the notifier towards Alertmanagers. Hand it to
//! `reqwest::ClientBuilder::use_preconfigured_tls`.
//!
//! The roots are `ca_file` or the system's; `cert_file` and `key_file` are
//! the client certificate (mTLS); `server_name` changes the name the
//! server's certificate is verified against (the SNI sent stays the URL's
//! host); `insecure_skip_verify` accepts any certificate but still checks
//! handshake signatures.

use std::sync::Arc;

use anyhow::Context as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::pem;
use crate::config::tls::TlsClientConfig;

/// The rustls configuration of outgoing connections with `tls` (which
/// config validation found complete); errors name the key at fault.
pub fn client_config(tls: &TlsClientConfig) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(ca) => {
            for cert in pem::read_certificates(ca).context("ca_file")? {
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
    let mut config = match tls.client_certificate() {
        Some((cert, key)) => {
            let chain = pem::read_certificates(cert).context("cert_file")?;
            let key = pem::read_private_key(key).context("key_file")?;
            builder.with_client_auth_cert(chain, key).context("cert_file and key_file")?
        }
        None => builder.with_no_client_auth(),
    };
    // HTTP/1.1 only, as Rampart's reqwest clients are built.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Server certificate checks for `server_name` and `insecure_skip_verify`:
/// the standard WebPKI checks against another name, or none at all;
/// handshake signatures are verified either way.
#[derive(Debug)]
struct Verifier {
    /// `None` with `insecure_skip_verify`.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The name certificates are verified against instead of the URL's.
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
