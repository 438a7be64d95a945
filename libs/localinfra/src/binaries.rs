//! Finding the server programs on this machine.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{InfraError, Result};

/// `name` as found on `PATH`, like `which`, or in `/usr/sbin` (where Debian puts
/// `nats-server`, and which is not on a normal user's `PATH`).
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// `name` from `PATH`, or [`InfraError::NotInstalled`] with `hint`.
pub(crate) fn require(name: &str, hint: &str) -> Result<PathBuf> {
    find_on_path(name).ok_or_else(|| InfraError::NotInstalled {
        program: name.to_owned(),
        hint: hint.to_owned(),
    })
}

/// Whether `path` is a regular file someone may execute.
pub(crate) fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The directory holding PostgreSQL's server programs (`initdb`, `postgres`).
///
/// Debian installs them in `/usr/lib/postgresql/<major>/bin` and puts only
/// client programs on `PATH`, so we look there too. When `initdb` is on `PATH`
/// as a symlink we follow it, so that `initdb`, `postgres` and `psql` all come
/// from the same installation.
pub(crate) fn pg_bin_dir() -> Result<PathBuf> {
    let has_server =
        |dir: &Path| is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres"));
    if let Some(initdb) = find_on_path("initdb") {
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent().filter(|dir| has_server(dir)) {
            return Ok(dir.to_path_buf());
        }
    }
    // Newest major version first.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    versions
        .into_iter()
        .map(|(_, dir)| dir)
        .find(|dir| has_server(dir))
        .ok_or_else(|| InfraError::NotInstalled {
            program: "initdb/postgres".to_owned(),
            hint: "PostgreSQL server programs are neither on PATH nor in \
                   /usr/lib/postgresql/*/bin: run deploy/install.sh (apt-get install postgresql)"
                .to_owned(),
        })
}
