//! Files only their owner may read: the gateway's visitor token key, made once and kept in
//! `.dev/visitor-secret` (so shoppers' tokens and their open chats survive a restart of the dev
//! stack), and the NATS trust chain and credentials (`infra`).

use std::fs::{OpenOptions, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Bytes of randomness in a new key (written as hex).
const KEY_BYTES: usize = 32;

/// The key stored in `path`, made (random, mode 0600) when missing or too short.
pub fn visitor_secret(path: &Path) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let key = text.trim();
        if key.len() >= KEY_BYTES {
            restrict(path)?;
            return Ok(key.to_owned());
        }
    }
    let mut bytes = [0u8; KEY_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(path, &format!("{key}\n"))?;
    Ok(key)
}

/// Writes `text` to `path`, readable and writable by its owner only.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    restrict(path)?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Owner read/write only (`mode` applies only when a file is created).
pub fn restrict(path: &Path) -> anyhow::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn made_once_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("showroom-dev-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("visitor-secret");
        let first = visitor_secret(&path).unwrap();
        assert_eq!(first.len(), 2 * KEY_BYTES);
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        assert_eq!(visitor_secret(&path).unwrap(), first);
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
