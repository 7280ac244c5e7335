//! TLS for every connection Rampart serves or opens, one implementation
//! each way:
//!
//! - [`server`]: HTTPS for the store and the relay (`tls:`), optional or
//!   required client certificates, certificate files re-read when they
//!   change, the verified client certificate handed to each request;
//! - [`client`]: the rustls configuration of outgoing HTTPS (Prometheus's
//!   `tls_config`), used by the relay towards the store and by the
//!   notifier towards Alertmanagers;
//! - [`development`]: the self-signed certificate of
//!   `rampart all --tls-self-signed-development`;
//! - `pem`: reading PEM certificates and keys.
//!
//! rustls with the ring provider everywhere; HTTP/1.1 only over TLS, as
//! over plain HTTP.

pub mod client;
pub mod development;
mod pem;
pub mod server;

use std::path::PathBuf;

pub use server::{serve, ClientCertificate, ServerTls};

/// TLS settings or files that cannot be used.
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
    /// A setting is missing (config validation names it first).
    #[error("{0}")]
    Incomplete(&'static str),
    /// rustls refused the certificates or the key, e.g. a key that does not
    /// belong to the certificate.
    #[error("{context}: {source}")]
    Rustls {
        /// What was being set up, naming the files.
        context: String,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// The client CA cannot verify certificates.
    #[error("client_ca_file {path}: {source}")]
    Verifier {
        /// The CA file.
        path: PathBuf,
        /// rustls's reason.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
}
