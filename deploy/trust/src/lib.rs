//! `showroom-trust <dir> [--resolver-dir <path>]`: the NATS side of a production install.
//!
//! The first run makes the installation's keys and keeps them in `<dir>/trust.json` (mode 0600;
//! store it like a root key, offline). Every run, with the same keys, writes:
//! - `<service>.creds` for each of the seven services (a Secret `showroom-nats-<service>` each);
//! - `operator.creds`, a user with every right, for the `nats` CLI (keep it with the keys);
//! - `issuer.json` and `system.creds`, for crm-export to issue and revoke integrators'
//!   credentials (the Secret `showroom-nats-issuer`);
//! - `nats-auth.conf`, to include in nats-server's configuration: the operator, the system
//!   account and the account resolver (its store in `--resolver-dir`, default `/data/jwt`).
//!
//! Running it again re-issues the credentials (the old ones keep working until revoked).
//!
//! # Layout
//! - [`run`]: the command.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use showroom_natsauth::Trust;

/// Where nats-server keeps account JWTs unless told otherwise.
pub const DEFAULT_RESOLVER_DIR: &str = "/data/jwt";

/// Runs the command with its arguments; returns what to print.
pub fn run(args: &[String]) -> anyhow::Result<String> {
    let mut dir = None;
    let mut resolver_dir = PathBuf::from(DEFAULT_RESOLVER_DIR);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--resolver-dir" => {
                resolver_dir = it.next().context("--resolver-dir needs a path")?.into();
            }
            "-h" | "--help" => return Ok(usage()),
            other if other.starts_with('-') => bail!("unknown option {other}\n{}", usage()),
            other if dir.is_none() => dir = Some(PathBuf::from(other)),
            other => bail!("one directory only (got {other} too)\n{}", usage()),
        }
    }
    let dir = dir.with_context(usage)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (trust, made) = load_or_make(&dir.join("trust.json"))?;
    trust.write_local(&dir)?;
    private(
        &dir.join("nats-auth.conf"),
        &trust.server_config(&resolver_dir)?,
    )?;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|e| e == "creds" || e == "json")
        {
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        }
    }
    let mut out = String::new();
    let d = dir.display();
    let _ = writeln!(
        out,
        "{} NATS keys in {d}/trust.json (keep it offline; it signs every credential)",
        if made { "made" } else { "kept the" }
    );
    let _ = writeln!(
        out,
        "wrote {d}/<service>.creds, {d}/operator.creds, {d}/nats-auth.conf\n"
    );
    let _ = writeln!(out, "next:");
    let _ = writeln!(
        out,
        "  1. nats-server: `include nats-auth.conf` in its configuration (JetStream on, a persistent {})",
        resolver_dir.display()
    );
    let _ = writeln!(out, "  2. one Secret per service:");
    let _ = writeln!(
        out,
        "     for s in gateway presence router bot lead-capture notification crm-export; do\n       kubectl -n showroom create secret generic showroom-nats-$s --from-file=creds={d}/$s.creds\n     done"
    );
    let _ = writeln!(
        out,
        "  3. crm-export issues integrators' credentials with:\n     kubectl -n showroom create secret generic showroom-nats-issuer --from-file=issuer.json={d}/issuer.json --from-file=system.creds={d}/system.creds"
    );
    Ok(out)
}

fn usage() -> String {
    format!(
        "usage: showroom-trust <dir> [--resolver-dir <path on the NATS server, default {DEFAULT_RESOLVER_DIR}>]\n"
    )
}

/// The keys saved in `path`, or new ones saved there; `true` when new.
fn load_or_make(path: &Path) -> anyhow::Result<(Trust, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((
            Trust::from_json(&text).with_context(|| format!("reading {}", path.display()))?,
            false,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let trust = Trust::generate();
            private(path, &trust.to_json()?)?;
            Ok((trust, true))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `text` readable by its owner only.
fn private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn keys_are_made_once_and_credentials_follow_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_string_lossy().to_string();
        let first = run(std::slice::from_ref(&d)).unwrap();
        assert!(first.starts_with("made"), "{first}");
        let keys = std::fs::read_to_string(dir.path().join("trust.json")).unwrap();
        for f in [
            "trust.json",
            "gateway.creds",
            "crm-export.creds",
            "operator.creds",
            "nats-auth.conf",
        ] {
            let meta = std::fs::metadata(dir.path().join(f)).unwrap();
            assert_eq!(meta.mode() & 0o777, 0o600, "{f}");
        }
        let conf = std::fs::read_to_string(dir.path().join("nats-auth.conf")).unwrap();
        assert!(conf.contains("dir: \"/data/jwt\""), "{conf}");
        let again = run(&[d.clone(), "--resolver-dir".into(), "/srv/jwt".into()]).unwrap();
        assert!(again.starts_with("kept"), "{again}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("trust.json")).unwrap(),
            keys
        );
        let conf = std::fs::read_to_string(dir.path().join("nats-auth.conf")).unwrap();
        assert!(conf.contains("dir: \"/srv/jwt\""), "{conf}");
        assert!(run(&[]).is_err());
        assert!(run(&[d, "--nope".into()]).is_err());
    }
}
