//! A server certificate for the local servers' TLS (made by the caller, e.g. with rcgen).

use std::path::PathBuf;

/// PEM files: a server's certificate (for `127.0.0.1`/`localhost`), its private key, and the CA
/// that signed it (what clients verify against).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server's certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA certificate.
    pub ca: PathBuf,
}
