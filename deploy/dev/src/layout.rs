//! Where things are: the repository, `.dev/`, the service binaries.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The directories the launcher reads and writes.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The repository root (holds `Cargo.toml` and `deploy/`).
    pub root: PathBuf,
    /// `.dev/` under the root: persistent data, logs, the visitor secret (gitignored).
    pub dev_dir: PathBuf,
    /// `.dev/logs/`: one log per service.
    pub logs_dir: PathBuf,
    /// Where the `showroom-<name>` binaries are.
    pub bin_dir: PathBuf,
}

impl Layout {
    /// Finds the repository (two levels above this crate, else the current directory) and the
    /// service binaries (next to this executable, else `target/debug`), and creates `.dev/`.
    pub fn discover() -> anyhow::Result<Layout> {
        let from_manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cwd = std::env::current_dir().context("reading the current directory")?;
        let root = if is_repo_root(&from_manifest) {
            from_manifest
        } else if is_repo_root(&cwd) {
            cwd
        } else {
            bail!(
                "cannot find the Showroom repository: neither {} nor the current directory {} \
                 holds Cargo.toml and deploy/; run deploy/dev.sh, or run this from the repository root",
                from_manifest.display(),
                cwd.display()
            );
        };
        let root = root
            .canonicalize()
            .with_context(|| format!("resolving {}", root.display()))?;

        let next_to_us = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .filter(|dir| dir.join(binary_name("gateway")).is_file());
        let bin_dir = next_to_us.unwrap_or_else(|| root.join("target/debug"));

        let dev_dir = root.join(".dev");
        let logs_dir = dev_dir.join("logs");
        std::fs::create_dir_all(&logs_dir)
            .with_context(|| format!("creating {}", logs_dir.display()))?;
        Ok(Layout {
            root,
            dev_dir,
            logs_dir,
            bin_dir,
        })
    }

    /// The binary of service `name`, e.g. `target/debug/showroom-gateway`.
    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(binary_name(name))
    }

    /// The log of service `name`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.logs_dir.join(format!("{name}.log"))
    }

    /// `path` relative to the repository root when it is inside it (for shorter messages).
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string())
    }
}

fn binary_name(service: &str) -> String {
    format!("showroom-{service}")
}

fn is_repo_root(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("deploy").is_dir()
}

/// The last `lines` lines of a text file (lossy) from byte `from` on, or a note why there are
/// none.
pub fn tail(path: &Path, from: u64, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let start = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
            let text = String::from_utf8_lossy(&bytes[start..]);
            // With RUST_BACKTRACE set, an error or panic is followed by a long backtrace that
            // would push the message itself out of the tail: stop at the first one.
            let (text, cut) = match text.to_ascii_lowercase().find("stack backtrace:") {
                Some(at) => (&text[..at], true),
                None => (&text[..], false),
            };
            let mut all: Vec<&str> = text.lines().collect();
            if cut {
                all.push("(a backtrace follows in the log)");
            }
            if all.is_empty() {
                return "(nothing)".to_owned();
            }
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// `name` on `PATH` (or in `/usr/sbin` and `/usr/bin`), like `which`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
