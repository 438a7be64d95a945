//! Certificates made for a test: a CA of its own and a server certificate it signed for
//! `127.0.0.1` and `localhost` (rcgen), for NATS, Postgres and Redis served over TLS.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use showroom_localinfra::TlsFiles;

fn ca(name: &str) -> anyhow::Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

/// Writes `ca.pem`, `server.pem` and `server.key` into `dir`: a new CA and a server
/// certificate for `127.0.0.1` and `localhost` that it signed.
pub fn server_files(dir: &Path) -> anyhow::Result<TlsFiles> {
    server_files_for(dir, &["127.0.0.1", "localhost"])
}

/// Like [`server_files`], for other names (a certificate that does not fit the address).
pub fn server_files_for(dir: &Path, names: &[&str]) -> anyhow::Result<TlsFiles> {
    std::fs::create_dir_all(dir)?;
    let ca = ca("Showroom test CA")?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    let common_name = names.first().copied().unwrap_or("localhost");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        ca: dir.join("ca.pem"),
    };
    std::fs::write(&files.ca, ca.pem())?;
    std::fs::write(&files.cert, cert.pem())?;
    std::fs::write(&files.key, key.serialize_pem())?;
    Ok(files)
}

/// Writes `<name>.pem`: a CA that signed nothing here (clients that trust only it must refuse
/// the servers).
pub fn stranger_ca(dir: &Path, name: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, ca("A stranger's CA")?.pem())?;
    Ok(path)
}
