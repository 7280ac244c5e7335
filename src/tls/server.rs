//! Serving a router over plain HTTP or HTTPS, for the store and the relay.
//!
//! With `tls.cert_file` and `tls.key_file` the server speaks HTTPS only.
//! `tls.client_auth_type` decides whether clients may (`VerifyClientCertIfGiven`)
//! or must (`RequireAndVerifyClientCert`) present a certificate signed by
//! `tls.client_ca_file`; a certificate that does not verify fails the
//! handshake. A verified certificate's subject common name and DNS names
//! are handed to each request of the connection as a [`ClientCertificate`]
//! extension (absent when the client presented none).
//!
//! Both listeners hand each request the client's address as
//! `axum::extract::ConnectInfo<SocketAddr>`.
//!
//! Reload: every [`RELOAD_CHECK_PERIOD`] the certificate, key and client CA
//! files are read again; when their contents changed and make a usable
//! configuration, new connections use it (open connections keep theirs).
//! A pair that does not work (unreadable, not PEM, key not matching the
//! certificate) is logged and the previous configuration stays in force,
//! so a rotation (cert-manager, `kubectl create secret`) needs no restart
//! and a half-written one cannot take the server down.
//!
//! Shutdown: the plain listener lets requests in flight finish; the TLS
//! listener stops accepting and requests in flight are cut when the process
//! exits (their senders got no answer, so they retry).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use parking_lot::{Mutex, RwLock};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::{pem, TlsError};
use crate::config::tls::{ClientAuthType, ServerTlsConfig};

/// How often the certificate files are checked for changes.
pub const RELOAD_CHECK_PERIOD: Duration = Duration::from_secs(2);

/// The names a verified client certificate presents: its subject common
/// name and its DNS subject alternative names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCertificate {
    /// CN first, then DNS SANs.
    pub names: Vec<String>,
}

/// The files a server's TLS configuration is built from.
#[derive(Debug)]
struct Files {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    client_auth: ClientAuthType,
}

/// The contents of [`Files`], compared to notice a rotation.
#[derive(PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

/// A server's TLS configuration, swapped for a new one when its files
/// change. Clones share it.
#[derive(Clone)]
pub struct ServerTls {
    files: Arc<Files>,
    current: Arc<RwLock<Arc<ServerConfig>>>,
    /// The contents `current` was built from.
    loaded: Arc<Mutex<Contents>>,
}

impl ServerTls {
    /// The configuration of `config` (with HTTPS enabled and validated);
    /// fails when its files do not make a usable one.
    pub fn load(config: &ServerTlsConfig) -> Result<Self, TlsError> {
        let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) else {
            return Err(TlsError::Incomplete("tls: cert_file and key_file go together"));
        };
        let files = Files {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: config.client_ca_file.clone(),
            client_auth: config.client_auth(),
        };
        let contents = files.read()?;
        let server = files.server_config(&contents)?;
        Ok(Self {
            files: Arc::new(files),
            current: Arc::new(RwLock::new(Arc::new(server))),
            loaded: Arc::new(Mutex::new(contents)),
        })
    }

    /// The acceptor for a new connection.
    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().clone())
    }

    /// Reads the files again and, when their contents changed, swaps in the
    /// configuration they make. `Ok(true)`: swapped; `Err`: the files
    /// changed but are not usable, the previous configuration stays.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let contents = self.files.read()?;
        if *self.loaded.lock() == contents {
            return Ok(false);
        }
        let server = self.files.server_config(&contents)?;
        *self.current.write() = Arc::new(server);
        *self.loaded.lock() = contents;
        Ok(true)
    }
}

impl Files {
    fn read(&self) -> Result<Contents, TlsError> {
        Ok(Contents {
            cert: pem::read(&self.cert)?,
            key: pem::read(&self.key)?,
            client_ca: self.client_ca.as_deref().map(pem::read).transpose()?,
        })
    }

    /// The rustls configuration of `contents`, read from these files.
    fn server_config(&self, contents: &Contents) -> Result<ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let rustls_error = |context: String| move |source| TlsError::Rustls { context, source };
        let certs = pem::certificates(&self.cert, &contents.cert)?;
        let key = pem::private_key(&self.key, &contents.key)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(rustls_error("protocol versions".into()))?;
        let builder = match (self.client_auth, &self.client_ca, &contents.client_ca) {
            (ClientAuthType::NoClientCert, _, _) => builder.with_no_client_auth(),
            (required, Some(path), Some(ca)) => {
                let mut roots = RootCertStore::empty();
                for cert in pem::certificates(path, ca)? {
                    roots.add(cert).map_err(rustls_error(format!("client_ca_file {}", path.display())))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if required == ClientAuthType::VerifyClientCertIfGiven {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier.build().map_err(|source| TlsError::Verifier { path: path.clone(), source })?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => {
                return Err(TlsError::Incomplete(
                    "tls.client_auth_type: verifying client certificates needs client_ca_file",
                ))
            }
        };
        let mut server = builder.with_single_cert(certs, key).map_err(rustls_error(format!(
            "cert_file {} and key_file {}",
            self.cert.display(),
            self.key.display()
        )))?;
        // HTTP/1.1 only, as over plain HTTP: an early refusal (401, 413) then
        // ends the request cleanly, where HTTP/2 would reset a stream whose body
        // is still being sent.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(server)
    }
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

/// Serves `router` on `listener` until `shutdown` completes: HTTPS with
/// `tls` (re-reading its files while serving), plain HTTP without.
pub async fn serve(
    listener: TcpListener,
    tls: Option<ServerTls>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(tls) = tls else {
        return axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
    };
    let listen = listener.local_addr()?;
    let reload = tokio::spawn(reload_periodically(tls.clone(), listen));
    serve_tls(listener, listen, tls, router, shutdown).await;
    reload.abort();
    Ok(())
}

/// Checks the certificate files every [`RELOAD_CHECK_PERIOD`]; logs each
/// swap, and each new reason a changed set of files is not used.
async fn reload_periodically(tls: ServerTls, listen: SocketAddr) {
    let mut tick = tokio::time::interval(RELOAD_CHECK_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last_problem = None;
    loop {
        tick.tick().await;
        let check = tls.clone();
        let Ok(outcome) = tokio::task::spawn_blocking(move || check.reload_if_changed()).await else { continue };
        match outcome {
            Ok(false) => {}
            Ok(true) => {
                last_problem = None;
                tracing::info!(%listen, cert_file = %tls.files.cert.display(), "TLS: certificate files changed; new connections use them");
            }
            Err(e) => {
                let problem = e.to_string();
                if last_problem.as_ref() != Some(&problem) {
                    tracing::error!(
                        %listen,
                        error = %e,
                        "TLS: the changed certificate files are not usable; the previous certificate stays in use until they are fixed"
                    );
                    last_problem = Some(problem);
                }
            }
        }
    }
}

/// The TLS accept loop.
async fn serve_tls(
    listener: TcpListener,
    listen: SocketAddr,
    tls: ServerTls,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(%listen, error = %e, "accepting a connection failed");
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let (acceptor, router) = (tls.acceptor(), router.clone());
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::info!(%listen, %peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| ClientCertificate { names: certificate_names(c.as_ref()) });
            let service = router.map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                if let Some(c) = &certificate {
                    req.extensions_mut().insert(c.clone());
                }
                req
            });
            if let Err(e) = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await
            {
                tracing::debug!(%listen, %peer, error = %e, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for localhost and 127.0.0.1 and its key, as PEM.
    fn pair() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
        (cert.self_signed(&key).expect("cert").pem(), key.serialize_pem())
    }

    #[test]
    fn changed_files_are_swapped_in_and_a_mismatched_pair_keeps_the_previous_one() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let install = |(cert, key): &(String, String)| {
            std::fs::write(&cert_file, cert).expect("cert");
            std::fs::write(&key_file, key).expect("key");
        };
        let (first, second) = (pair(), pair());
        install(&first);
        let config = ServerTlsConfig {
            cert_file: Some(cert_file.clone()),
            key_file: Some(key_file.clone()),
            ..ServerTlsConfig::default()
        };
        let tls = ServerTls::load(&config).expect("load");
        assert!(!tls.reload_if_changed().expect("unchanged"), "nothing changed");

        install(&second);
        assert!(tls.reload_if_changed().expect("a good new pair"));
        assert_eq!(tls.loaded.lock().cert, second.0.as_bytes());

        let before = tls.current.read().clone();
        std::fs::write(&cert_file, &first.0).expect("cert of the first pair, key of the second");
        let err = tls.reload_if_changed().expect_err("a certificate with another's key");
        assert!(err.to_string().contains("cert_file"), "{err}");
        assert!(Arc::ptr_eq(&before, &tls.current.read()), "the previous configuration stays");
        assert_eq!(tls.loaded.lock().cert, second.0.as_bytes());

        std::fs::remove_file(&key_file).expect("remove key");
        let err = tls.reload_if_changed().expect_err("a missing key");
        assert!(err.to_string().contains("key.pem"), "{err}");
    }

    #[test]
    fn verifying_client_certificates_without_a_ca_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair();
        std::fs::write(dir.path().join("cert.pem"), cert).expect("cert");
        std::fs::write(dir.path().join("key.pem"), key).expect("key");
        let config = ServerTlsConfig {
            cert_file: Some(dir.path().join("cert.pem")),
            key_file: Some(dir.path().join("key.pem")),
            client_ca_file: None,
            client_auth_type: Some(ClientAuthType::RequireAndVerifyClientCert),
        };
        let err = ServerTls::load(&config).err().expect("no CA to verify with");
        assert!(err.to_string().contains("needs client_ca_file"), "{err}");
    }

    #[tokio::test]
    async fn handlers_get_the_client_address_over_plain_http_and_over_tls() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair();
        std::fs::write(dir.path().join("cert.pem"), &cert).expect("cert");
        std::fs::write(dir.path().join("key.pem"), key).expect("key");
        let config = ServerTlsConfig {
            cert_file: Some(dir.path().join("cert.pem")),
            key_file: Some(dir.path().join("key.pem")),
            ..ServerTlsConfig::default()
        };
        let tls = ServerTls::load(&config).expect("load");
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("pem"))
            .build()
            .expect("client");
        for (scheme, tls) in [("http", None), ("https", Some(tls))] {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let router = Router::new().route(
                "/peer",
                axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
            );
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(serve(listener, tls, router, async {
                let _ = stopped.await;
            }));
            let response = client.get(format!("{scheme}://127.0.0.1:{port}/peer")).send().await.expect("request");
            assert_eq!(response.status(), 200, "{scheme}");
            assert_eq!(response.text().await.expect("body"), "127.0.0.1", "{scheme}");
            stop.send(()).expect("server running");
            server.await.expect("server task").expect("serve");
        }
    }
}
