//! `rampart all --tls-self-signed-development`: HTTPS without a PKI, for
//! trying Rampart out and for development only.
//!
//! At every start a new self-signed certificate (for `localhost`,
//! `127.0.0.1`, `::1` and the listen address) and its key are written to
//! `DATA_DIR/development-tls/` (`cert.pem`, `key.pem`, the key readable by
//! its owner only); clients trust `cert.pem` (`curl --cacert`, Prometheus's
//! `tls_config.ca_file`). A WARN says at start that this is not for
//! production: nobody vouches for the certificate, and anyone who can read
//! the data directory holds its key.

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use rcgen::{CertificateParams, DnType, KeyPair};

use crate::config::tls::ServerTlsConfig;

/// Directory under the data directory that holds the certificate and key.
pub const DIRECTORY: &str = "development-tls";

/// The subject common name, so that the certificate says what it is.
const COMMON_NAME: &str = "Rampart development certificate - not for production";

/// Generates the certificate and key under `data_dir` and returns `config`
/// serving them (its client certificate settings kept). Refuses when
/// `config` names certificate files of its own.
pub fn self_signed(config: &ServerTlsConfig, data_dir: &Path, listen: SocketAddr) -> anyhow::Result<ServerTlsConfig> {
    if config.cert_file.is_some() || config.key_file.is_some() {
        anyhow::bail!(
            "--tls-self-signed-development replaces tls.cert_file and tls.key_file: remove them from the config \
             file, or drop the flag"
        );
    }
    let dir = data_dir.join(DIRECTORY);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let ip = listen.ip().to_string();
    if !listen.ip().is_unspecified() && !names.contains(&ip) {
        names.push(ip);
    }
    let key = KeyPair::generate().context("generating the development key")?;
    let mut params = CertificateParams::new(names).context("development certificate names")?;
    params.distinguished_name.push(DnType::CommonName, COMMON_NAME);
    let cert = params.self_signed(&key).context("signing the development certificate")?;
    let cert_file = dir.join("cert.pem");
    let key_file = dir.join("key.pem");
    write(&key_file, key.serialize_pem().as_bytes(), 0o600)?;
    write(&cert_file, cert.pem().as_bytes(), 0o644)?;
    tracing::warn!(
        cert_file = %cert_file.display(),
        "TLS: serving a self-signed DEVELOPMENT certificate generated at start; do not use it in production \
         (nobody vouches for it and anyone who can read the data directory holds its key): configure \
         tls.cert_file and tls.key_file instead"
    );
    Ok(ServerTlsConfig { cert_file: Some(cert_file), key_file: Some(key_file), ..config.clone() })
}

/// Replaces `path` with `bytes`, created with permissions `mode`.
fn write(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let context = || format!("writing {}", path.display());
    // Removed first so that `mode` applies to the new file.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).with_context(context),
        _ => {}
    }
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).with_context(context)?;
    file.write_all(bytes).with_context(context)
}
