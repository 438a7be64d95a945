//! A local PgBouncer in transaction mode in front of a [`Postgres`].
//!
//! Production pools Postgres connections with PgBouncer in transaction mode (see
//! `docs/architecture.md`, "Postgres connections"); tests run the whole chat through a real one
//! to show that nothing in the runtime path needs session state.
//!
//! It needs PgBouncer 1.21 or newer: sqlx prepares named statements on the extended protocol,
//! and only from 1.21 does PgBouncer track those per client (`max_prepared_statements`).
//! Debian 12 ships 1.18, so `deploy/install.sh` builds Debian 13's PgBouncer source when the
//! installed one is older.
//!
//! PgBouncer refuses to run as root; as root it runs as the `postgres` user, like PostgreSQL.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::binaries;
use crate::error::{InfraError, Result};
use crate::pg_wire;
use crate::postgres::{self, Postgres};
use crate::process::{self, ServerProcess, Shutdown, Spec};

const WHAT: &str = "PgBouncer";
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// SIGINT: "safe shutdown", waits for clients to finish their transactions.
const STOP: Shutdown = &[
    (Signal::SIGINT, Duration::from_secs(5)),
    (Signal::SIGTERM, Duration::from_secs(2)),
];
/// The oldest PgBouncer that tracks protocol-level prepared statements.
const MIN_VERSION: (u32, u32) = (1, 21);
const HINT: &str = "run deploy/install.sh (it builds PgBouncer 1.24 from Debian's source when the \
                    installed one is older than 1.21)";

/// How big the pool towards Postgres is.
#[derive(Debug, Clone, Copy)]
pub struct PgBouncerOptions {
    /// Server connections per database and user (`default_pool_size`): the most Postgres sees,
    /// however many clients connect.
    pub pool_size: u32,
    /// Client connections PgBouncer accepts (`max_client_conn`).
    pub max_clients: u32,
}

impl Default for PgBouncerOptions {
    fn default() -> Self {
        Self {
            pool_size: 10,
            max_clients: 1000,
        }
    }
}

/// A real PgBouncer on a free loopback port, pooling in transaction mode towards one
/// [`Postgres`]. Any database name maps to the same-named database there, as user `postgres`;
/// clients need no password (`auth_type = any`: it is loopback and throwaway).
/// Dropping it kills the server.
#[derive(Debug)]
pub struct PgBouncer {
    /// `postgres://postgres@127.0.0.1:PORT/showroom`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// What `pgbouncer --version` said, e.g. `1.24.1`.
    pub version: String,
    process: ServerProcess,
    _run_dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts PgBouncer in front of `pg` and returns once a login through it works.
    pub async fn start(pg: &Postgres, opts: PgBouncerOptions) -> Result<PgBouncer> {
        let program = binaries::require("pgbouncer", HINT)?;
        let version = version(&program).await?;
        let run_as = postgres::run_as()?;
        let run_dir = process::run_dir("showroom-pgbouncer-")?;
        if let Some(user) = run_as {
            postgres::chown(run_dir.path(), user)?;
        }
        let log_path = run_dir.path().join("pgbouncer.log");
        let config_path = run_dir.path().join("pgbouncer.ini");
        let (process, port) = process::with_free_port(|port| {
            let written = std::fs::write(&config_path, config(pg.port, port, opts))
                .map_err(|e| InfraError::io(format!("writing {}", config_path.display()), e));
            let spec = Spec {
                what: WHAT,
                program: program.clone(),
                args: vec![OsString::from(config_path.as_os_str())],
                log_path: log_path.clone(),
                run_as,
                death_signal: Signal::SIGKILL,
                stop: STOP,
                drop: &[],
            };
            async move {
                written?;
                let process =
                    ServerProcess::launch(spec, START_TIMEOUT, || pg_wire::probe(port)).await?;
                Ok((process, port))
            }
        })
        .await?;
        Ok(PgBouncer {
            url: format!("postgres://postgres@127.0.0.1:{port}/showroom"),
            port,
            version,
            process,
            _run_dir: run_dir,
        })
    }

    /// Its log, for printing when a test fails.
    pub fn log(&self) -> String {
        process::read_log(self.process.log_path())
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }
}

fn config(pg_port: u16, port: u16, opts: PgBouncerOptions) -> String {
    format!(
        "[databases]\n\
         * = host=127.0.0.1 port={pg_port} user=postgres\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = any\n\
         pool_mode = transaction\n\
         max_prepared_statements = 200\n\
         default_pool_size = {pool}\n\
         max_client_conn = {clients}\n\
         ignore_startup_parameters = extra_float_digits,options\n\
         server_login_retry = 1\n\
         query_wait_timeout = 30\n",
        pool = opts.pool_size,
        clients = opts.max_clients,
    )
}

/// `pgbouncer --version` ("PgBouncer 1.24.1\n..."): the version, or an error when it is too
/// old for sqlx in transaction mode.
async fn version(program: &Path) -> Result<String> {
    let out = process::run(program, &["--version".into()], None, None).await?;
    let version = out
        .split_whitespace()
        .nth(1)
        .unwrap_or("unknown")
        .to_owned();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if found < MIN_VERSION {
        return Err(InfraError::NotInstalled {
            program: format!(
                "pgbouncer >= 1.21 (found {version} at {})",
                program.display()
            ),
            hint: HINT.to_owned(),
        });
    }
    Ok(version)
}
