//! A local PostgreSQL server, throwaway (tests) or persistent (dev launcher).
//!
//! Throwaway servers start from a cached, already initialised cluster (the
//! *template*) instead of running `initdb` each time: the first throwaway
//! start on a machine builds it in `<scratch>/showroom-pg-template-v1-<version>-<uid>`
//! (under a lock, in a staging dir renamed into place atomically, so
//! concurrent test processes never see half a template), later ones `cp -a`
//! it. The template already contains the `showroom` database. `<scratch>` is
//! RAM-backed `/dev/shm` when it has room (creating a cluster's ~1,300 files
//! on disk is what makes a start slow), else the temp dir;
//! `SHOWROOM_LOCALINFRA_TMPDIR` overrides it.
//!
//! PostgreSQL refuses to run as root. When we are root, `initdb` and
//! `postgres` run as the `postgres` user: the child switches uid/gid itself
//! right before `exec` (the same thing `runuser -u postgres --` does, minus
//! the extra process in between), so the postmaster is our direct child and
//! signals, reaping and the parent-death signal reach it.

use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::{Mutex, OnceCell};

use crate::binaries;
use crate::error::{InfraError, Result};
use crate::pg_wire;
use crate::process::{self, RunAs, ServerProcess, Shutdown, Spec};
use crate::tls::TlsFiles;

const WHAT: &str = "PostgreSQL";
/// Generous: several test processes may initdb/start at once on a small box.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The database every service uses.
const DATABASE: &str = "showroom";

/// Extra server settings (`name=value`, `;`-separated) for every Postgres started, passed as
/// `-c` after the ones chosen here: for diagnosis, such as `auto_explain`'s plans in the log.
const SETTINGS_ENV: &str = "SHOWROOM_PG_SETTINGS";

/// How to start a [`Postgres`]. `Default` is [`PostgresOptions::throwaway`].
#[derive(Debug, Clone, Default)]
pub struct PostgresOptions {
    /// Where the cluster lives. `Some`: kept across runs (the dev launcher);
    /// initialised on first use, reused afterwards. `None`: a copy of the
    /// cached template in a temp dir that is removed on drop (tests).
    pub data_dir: Option<PathBuf>,
    /// `false` turns off `fsync`, `synchronous_commit` and `full_page_writes`:
    /// much faster, and fine for data a test throws away. Use `true` for the
    /// dev stack and for benchmarks that should resemble production.
    pub durable: bool,
    /// Serve TLS with this certificate (`ssl=on`); clients choose with `sslmode`.
    pub tls: Option<TlsFiles>,
    /// Load `pg_stat_statements` (`shared_preload_libraries`, counting planning too) when the
    /// installation has it, so a load test can say which statements cost the most (`CREATE
    /// EXTENSION pg_stat_statements` to read them).
    pub statements: bool,
}

impl PostgresOptions {
    /// For tests: throwaway data, not durable.
    pub fn throwaway() -> Self {
        PostgresOptions {
            data_dir: None,
            durable: false,
            tls: None,
            statements: false,
        }
    }

    /// For the dev launcher: data kept in `data_dir`, durable.
    pub fn persistent(data_dir: impl Into<PathBuf>) -> Self {
        PostgresOptions {
            data_dir: Some(data_dir.into()),
            durable: true,
            tls: None,
            statements: false,
        }
    }
}

/// A real PostgreSQL server on a free loopback port, with trust auth for
/// user `postgres` and a `showroom` database.
///
/// The store and every service that persists anything need a real
/// PostgreSQL; migrations and queries are only trustworthy against one.
/// Dropping it shuts the server down immediately (SIGQUIT; a persistent one
/// gets a fast shutdown first) and removes throwaway data.
#[derive(Debug)]
pub struct Postgres {
    /// `postgres://postgres@127.0.0.1:PORT/showroom`.
    pub url: String,
    /// The server's port.
    pub port: u16,
    process: ServerProcess,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    /// Holds the log, the Unix socket and throwaway data. Dropped last.
    _run_dir: tempfile::TempDir,
}

impl Postgres {
    /// Starts PostgreSQL as described by `opts` and returns once it accepts
    /// logins and the `showroom` database exists.
    pub async fn start(opts: PostgresOptions) -> Result<Postgres> {
        let install = install().await?;
        let run_as = run_as()?;
        let run_dir = process::run_dir_in("showroom-pg-run-", &process::scratch_dir())?;
        let log_path = run_dir.path().join("postgres.log");
        let socket_dir = run_dir.path().join("sock");
        create_dir(&socket_dir)?;
        if let Some(user) = run_as {
            chown(run_dir.path(), user)?;
            chown(&socket_dir, user)?;
        }

        let persistent = opts.data_dir.is_some();
        let data_dir = match &opts.data_dir {
            Some(dir) => {
                prepare_persistent(install, dir, run_as, &log_path).await?;
                dir.clone()
            }
            None => {
                let template = ensure_template(install, run_as, &log_path).await?;
                let data_dir = run_dir.path().join("data");
                copy_tree(&template, &data_dir, &log_path).await?;
                data_dir
            }
        };

        let tls = match &opts.tls {
            Some(files) => Some(server_tls(files, run_dir.path(), run_as)?),
            None => None,
        };
        let (process, port) = process::with_free_port(|port| {
            let spec = spec(
                install,
                port,
                &data_dir,
                &socket_dir,
                log_path.clone(),
                (opts.durable, opts.statements),
                tls.as_ref(),
                run_as,
                if persistent {
                    DROP_PERSISTENT
                } else {
                    DROP_THROWAWAY
                },
            );
            async move {
                let process =
                    ServerProcess::launch(spec, START_TIMEOUT, || pg_wire::probe(port)).await?;
                Ok((process, port))
            }
        })
        .await?;

        // The template already has it; a persistent cluster may not yet.
        if persistent {
            create_database(port, DATABASE).await?;
        }

        Ok(Postgres {
            url: url(port, DATABASE),
            port,
            process,
            data_dir,
            socket_dir,
            _run_dir: run_dir,
        })
    }

    /// Shuts the server down cleanly (fast shutdown: SIGINT; SIGQUIT after
    /// 30 s; SIGKILL last). [`Postgres::restart`] brings it back.
    pub async fn stop(&mut self) {
        self.process.stop().await;
    }

    /// Restarts the server on the same port with the same data, so tests can
    /// check that connection pools recover.
    pub async fn restart(&mut self) -> Result<()> {
        let port = self.port;
        self.process
            .respawn(START_TIMEOUT, || pg_wire::probe(port))
            .await
    }

    /// The URL of another database on this server.
    pub fn url_for(&self, database: &str) -> String {
        url(self.port, database)
    }

    /// Creates `database` if it does not exist and returns its URL, so tests
    /// can isolate themselves in a database of their own on a shared server.
    pub async fn create_database(&self, database: &str) -> Result<String> {
        create_database(self.port, database).await?;
        Ok(self.url_for(database))
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory holding the server's Unix socket (`psql -h <dir>`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server's stdout/stderr (plus initdb output), appended across restarts.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// The log's contents, for printing when a test fails.
    pub fn log(&self) -> String {
        process::read_log(self.process.log_path())
    }

    /// The postmaster's process id while running (tests use it to check cleanup).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }
}

fn url(port: u16, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{database}")
}

async fn create_database(port: u16, database: &str) -> Result<()> {
    pg_wire::create_database(port, database, QUERY_TIMEOUT)
        .await
        .map_err(|e| InfraError::Postgres {
            port,
            message: format!("creating database {database}: {e}"),
        })
}

/// Fast shutdown (rolls back open transactions, checkpoints), then immediate.
const STOP: Shutdown = &[
    (Signal::SIGINT, Duration::from_secs(30)),
    (Signal::SIGQUIT, Duration::from_secs(5)),
];
/// Throwaway: immediate shutdown, nothing to preserve.
const DROP_THROWAWAY: Shutdown = &[(Signal::SIGQUIT, Duration::from_secs(5))];
/// Persistent: a clean shutdown spares the next start a crash recovery.
const DROP_PERSISTENT: Shutdown = &[
    (Signal::SIGINT, Duration::from_secs(10)),
    (Signal::SIGQUIT, Duration::from_secs(5)),
];

#[allow(clippy::too_many_arguments)]
fn spec(
    install: &PgInstall,
    port: u16,
    data_dir: &Path,
    socket_dir: &Path,
    log_path: PathBuf,
    (durable, statements): (bool, bool),
    tls: Option<&(PathBuf, PathBuf)>,
    run_as: Option<RunAs>,
    drop: Shutdown,
) -> Spec {
    let mut args: Vec<OsString> = vec![
        "-D".into(),
        data_dir.as_os_str().to_owned(),
        "-p".into(),
        port.to_string().into(),
        "-k".into(),
        socket_dir.as_os_str().to_owned(),
        "-c".into(),
        "listen_addresses=127.0.0.1".into(),
        "-c".into(),
        "max_connections=200".into(),
    ];
    if let Some((cert, key)) = tls {
        for setting in [
            "ssl=on".to_string(),
            format!("ssl_cert_file={}", cert.display()),
            format!("ssl_key_file={}", key.display()),
        ] {
            args.push("-c".into());
            args.push(setting.into());
        }
    }
    // Beside the binaries' `bin`: `lib/pg_stat_statements.so` (Debian's postgresql-15 has it).
    let library = install
        .postgres
        .parent()
        .and_then(Path::parent)
        .map(|root| root.join("lib/pg_stat_statements.so"));
    if statements && library.is_some_and(|l| l.exists()) {
        // Planning counted too: a statement planned at every execution shows.
        for setting in [
            "shared_preload_libraries=pg_stat_statements",
            "pg_stat_statements.track_planning=on",
        ] {
            args.push("-c".into());
            args.push(setting.into());
        }
    }
    // A diagnosis aid: `SHOWROOM_PG_SETTINGS="shared_preload_libraries=auto_explain;…"`.
    if let Ok(extra) = std::env::var(SETTINGS_ENV) {
        for setting in extra.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            args.push("-c".into());
            args.push(setting.to_string().into());
        }
    }
    if !durable {
        for setting in [
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ] {
            args.push("-c".into());
            args.push(setting.into());
        }
    }
    Spec {
        what: WHAT,
        program: install.postgres.clone(),
        args,
        log_path,
        run_as,
        // SIGQUIT makes the postmaster take its backends down with it.
        death_signal: Signal::SIGQUIT,
        stop: STOP,
        drop,
    }
}

/// The PostgreSQL installation we use.
#[derive(Debug)]
struct PgInstall {
    initdb: PathBuf,
    postgres: PathBuf,
    /// Full version, e.g. `15.18`: the template cache key.
    version: String,
    /// Major version, e.g. `15`: what `PG_VERSION` in a data dir says.
    major: String,
}

async fn install() -> Result<&'static PgInstall> {
    static INSTALL: OnceCell<PgInstall> = OnceCell::const_new();
    INSTALL.get_or_try_init(detect).await
}

async fn detect() -> Result<PgInstall> {
    let bin_dir = binaries::pg_bin_dir()?;
    let postgres = bin_dir.join("postgres");
    let initdb = bin_dir.join("initdb");
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    let output = process::run(&postgres, &["--version".into()], None, None).await?;
    let version = output
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("unknown")
        .to_owned();
    let major = version.split('.').next().unwrap_or("unknown").to_owned();
    Ok(PgInstall {
        initdb,
        postgres,
        version,
        major,
    })
}

/// Who runs PostgreSQL: us, or the `postgres` user when we are root.
pub(crate) fn run_as() -> Result<Option<RunAs>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some(RunAs {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })),
        _ => Err(InfraError::NoPostgresUser),
    }
}

/// Makes `dir` a usable cluster: initdb when empty or missing, reuse when it
/// already is one of our major version.
async fn prepare_persistent(
    install: &PgInstall,
    dir: &Path,
    run_as: Option<RunAs>,
    log_path: &Path,
) -> Result<()> {
    let version_file = dir.join("PG_VERSION");
    if version_file.is_file() {
        let found = std::fs::read_to_string(&version_file)
            .map_err(|e| InfraError::io(format!("reading {}", version_file.display()), e))?
            .trim()
            .to_owned();
        if found != install.major {
            return Err(InfraError::PgVersionMismatch {
                dir: dir.to_path_buf(),
                found,
                installed: install.major.clone(),
            });
        }
        if let Some(user) = run_as {
            let owner = std::fs::metadata(dir)
                .map_err(|e| InfraError::io(format!("inspecting {}", dir.display()), e))?
                .uid();
            if owner != user.uid {
                chown_tree(dir, user)?;
            }
        }
        return Ok(());
    }
    let non_empty = std::fs::read_dir(dir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if non_empty {
        return Err(InfraError::NotADataDir {
            dir: dir.to_path_buf(),
        });
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| InfraError::io(format!("creating {}", dir.display()), e))?;
    if let Some(user) = run_as {
        chown(dir, user)?;
    }
    initdb(install, dir, run_as, log_path, false).await
}

/// Runs initdb: trust auth for `postgres`, UTF-8, C.UTF-8 locale (plain C
/// where that locale is missing).
async fn initdb(
    install: &PgInstall,
    data_dir: &Path,
    run_as: Option<RunAs>,
    log_path: &Path,
    for_template: bool,
) -> Result<()> {
    let args = |locale: &str| {
        let mut args: Vec<OsString> = vec![
            "-D".into(),
            data_dir.as_os_str().to_owned(),
            "-U".into(),
            "postgres".into(),
            "--auth=trust".into(),
            "-E".into(),
            "UTF8".into(),
            locale.into(),
        ];
        if for_template {
            // Throwaway template: skip fsync, and use 1 MiB WAL segments
            // instead of 16 MiB so that every copy is 15 MiB smaller.
            args.push("--no-sync".into());
            args.push("--wal-segsize=1".into());
        }
        args
    };
    match process::run(
        &install.initdb,
        &args("--locale=C.UTF-8"),
        run_as,
        Some(log_path),
    )
    .await
    {
        Err(InfraError::CommandFailed { output, .. }) if output.contains("locale") => {
            // initdb cleans up after itself on failure; try plain C.
            process::run(
                &install.initdb,
                &args("--no-locale"),
                run_as,
                Some(log_path),
            )
            .await
            .map(drop)
        }
        other => other.map(drop),
    }
}

/// Part of the template's cache key: bump it when what `ensure_template`
/// builds changes, so machines do not keep copying an outdated template.
const TEMPLATE_FORMAT: &str = "v1";

/// Serialises template builds within this process (tests run in parallel threads).
static TEMPLATE_LOCK: Mutex<()> = Mutex::const_new(());

/// Returns the data dir of the cached template cluster, building it first
/// if needed.
async fn ensure_template(
    install: &'static PgInstall,
    run_as: Option<RunAs>,
    log_path: &Path,
) -> Result<PathBuf> {
    let tmp = process::scratch_dir();
    let uid = nix::unistd::geteuid().as_raw();
    let root = tmp.join(format!(
        "showroom-pg-template-{TEMPLATE_FORMAT}-{}-{uid}",
        install.version
    ));
    let ready =
        |root: &Path| root.join("READY").is_file() && root.join("data/PG_VERSION").is_file();
    if ready(&root) {
        return Ok(root.join("data"));
    }

    let _in_process = TEMPLATE_LOCK.lock().await;
    // Across processes (parallel test binaries, nextest): an flock.
    let lock_path = tmp.join(format!(
        "showroom-pg-template-{TEMPLATE_FORMAT}-{}-{uid}.lock",
        install.version
    ));
    let _across_processes = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| InfraError::io(format!("opening {}", lock_path.display()), e))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| {
            InfraError::io(
                format!("locking {}", lock_path.display()),
                std::io::Error::from(errno),
            )
        })
    })
    .await
    .map_err(|e| InfraError::io("waiting for the template lock", std::io::Error::other(e)))??;
    if ready(&root) {
        return Ok(root.join("data"));
    }

    let staging = process::run_dir_in("showroom-pg-template-build-", &tmp)?;
    let data_dir = staging.path().join("data");
    let socket_dir = staging.path().join("sock");
    create_dir(&data_dir)?;
    create_dir(&socket_dir)?;
    if let Some(user) = run_as {
        chown(staging.path(), user)?;
        chown(&data_dir, user)?;
        chown(&socket_dir, user)?;
    }
    initdb(install, &data_dir, run_as, log_path, true).await?;

    // Start it once to create the database, then shut down cleanly so that
    // copies start without crash recovery.
    let mut server = process::with_free_port(|port| {
        let spec = spec(
            install,
            port,
            &data_dir,
            &socket_dir,
            log_path.to_path_buf(),
            (false, false),
            None,
            run_as,
            DROP_THROWAWAY,
        );
        async move {
            let process =
                ServerProcess::launch(spec, START_TIMEOUT, || pg_wire::probe(port)).await?;
            Ok((process, port))
        }
    })
    .await?;
    create_database(server.1, DATABASE).await?;
    server.0.stop().await;
    if data_dir.join("postmaster.pid").exists() {
        return Err(InfraError::Postgres {
            port: server.1,
            message: format!(
                "template server did not shut down cleanly; see {}",
                log_path.display()
            ),
        });
    }
    let _ = std::fs::remove_dir_all(&socket_dir);
    // The template belongs to nobody: it must never be swept as stale.
    std::fs::remove_file(staging.path().join(process::OWNER_FILE))
        .map_err(|e| InfraError::io("disowning the template", e))?;
    std::fs::write(staging.path().join("READY"), install.version.as_bytes())
        .map_err(|e| InfraError::io("marking the template ready", e))?;

    if root.exists() {
        // Incomplete leftovers (we hold the lock and it is not ready).
        let _ = std::fs::remove_dir_all(&root);
    }
    match std::fs::rename(staging.path(), &root) {
        Ok(()) => {
            // Now lives at `root`; do not delete it.
            let _ = staging.keep();
            Ok(root.join("data"))
        }
        Err(_) if ready(&root) => Ok(root.join("data")),
        Err(e) => Err(InfraError::io(
            format!("moving the template to {}", root.display()),
            e,
        )),
    }
}

/// `cp -a from to` (keeps ownership and permissions).
async fn copy_tree(from: &Path, to: &Path, log_path: &Path) -> Result<()> {
    let cp = binaries::require("cp", "install coreutils")?;
    process::run(
        &cp,
        &[
            "-a".into(),
            from.as_os_str().to_owned(),
            to.as_os_str().to_owned(),
        ],
        None,
        Some(log_path),
    )
    .await
    .map(drop)
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| InfraError::io(format!("creating {}", dir.display()), e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| InfraError::io(format!("chmod {}", dir.display()), e))
}

/// The certificate and key copied where the server's user can read them and nobody else the
/// key (PostgreSQL refuses a key others may read).
fn server_tls(
    files: &TlsFiles,
    run_dir: &Path,
    run_as: Option<RunAs>,
) -> Result<(PathBuf, PathBuf)> {
    let dir = run_dir.join("tls");
    create_dir(&dir)?;
    let copy = |from: &Path, name: &str| -> Result<PathBuf> {
        let to = dir.join(name);
        std::fs::copy(from, &to)
            .map_err(|e| InfraError::io(format!("copying {}", from.display()), e))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| InfraError::io(format!("chmod {}", to.display()), e))?;
        if let Some(user) = run_as {
            chown(&to, user)?;
        }
        Ok(to)
    };
    let pair = (
        copy(&files.cert, "server.crt")?,
        copy(&files.key, "server.key")?,
    );
    if let Some(user) = run_as {
        chown(&dir, user)?;
    }
    Ok(pair)
}

pub(crate) fn chown(path: &Path, user: RunAs) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))
        .map_err(|e| InfraError::io(format!("chown {} to the postgres user", path.display()), e))
}

fn chown_tree(path: &Path, user: RunAs) -> Result<()> {
    chown(path, user)?;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| InfraError::io(format!("inspecting {}", path.display()), e))?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| InfraError::io(format!("listing {}", path.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| InfraError::io(format!("listing {}", path.display()), e))?;
            chown_tree(&entry.path(), user)?;
        }
    }
    Ok(())
}
