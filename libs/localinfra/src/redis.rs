//! A local, non-persistent `redis-server`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::binaries;
use crate::error::Result;
use crate::port;
use crate::process::{self, ServerProcess, Shutdown, Spec};
use crate::tls::TlsFiles;

const WHAT: &str = "Redis";
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Nothing to save (persistence is off), so this is quick.
const STOP: Shutdown = &[(Signal::SIGTERM, Duration::from_secs(5))];

/// A real `redis-server` on a free loopback port, with persistence off.
///
/// Presence and rate limits live in Redis; tests and the dev launcher get a
/// real one. Its data is never written to disk, so a restart starts empty.
/// Dropping it kills the server.
#[derive(Debug)]
pub struct Redis {
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    /// The server's port.
    pub port: u16,
    /// With TLS: `rediss://127.0.0.1:TLS_PORT`.
    pub tls_url: Option<String>,
    /// With TLS: the port that serves it.
    pub tls_port: Option<u16>,
    process: ServerProcess,
    /// Holds the log (and is redis' working dir). Dropped last.
    _run_dir: tempfile::TempDir,
}

impl Redis {
    /// Starts `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no`
    /// and returns once it answers `PING` with `+PONG`.
    pub async fn start() -> Result<Redis> {
        Self::start_with(None).await
    }

    /// Like [`Redis::start`], also serving TLS with `tls` on a second port ([`Redis::tls_url`];
    /// clients are not asked for certificates). The plain port stays for the readiness probe.
    pub async fn start_with(tls: Option<&TlsFiles>) -> Result<Redis> {
        let program = binaries::require(
            "redis-server",
            "run deploy/install.sh (apt-get install redis-server)",
        )?;
        let run_dir = process::run_dir("showroom-redis-")?;
        let work_dir = run_dir.path().to_path_buf();
        let log_path = run_dir.path().join("redis-server.log");

        let tls_port = match tls {
            Some(_) => Some(port::free_port()?),
            None => None,
        };
        let tls_args = tls.zip(tls_port);
        let (process, port) = process::with_free_port(|port| {
            let spec = spec(program.clone(), port, &work_dir, log_path.clone(), tls_args);
            async move {
                let process = ServerProcess::launch(spec, START_TIMEOUT, || probe(port)).await?;
                Ok((process, port))
            }
        })
        .await?;

        Ok(Redis {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            tls_url: tls_port.map(|p| format!("rediss://127.0.0.1:{p}")),
            tls_port,
            process,
            _run_dir: run_dir,
        })
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s).
    pub async fn stop(&mut self) {
        self.process.stop().await;
    }

    /// Restarts the server on the same port. Its data is gone afterwards,
    /// which is what "Redis was restarted" means for our services.
    pub async fn restart(&mut self) -> Result<()> {
        let port = self.port;
        self.process.respawn(START_TIMEOUT, || probe(port)).await
    }

    /// The server's stdout/stderr, appended across restarts.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// The log's contents, for printing when a test fails.
    pub fn log(&self) -> String {
        process::read_log(self.process.log_path())
    }

    /// The server's process id while running (tests use it to check cleanup).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }
}

fn spec(
    program: PathBuf,
    port: u16,
    work_dir: &Path,
    log_path: PathBuf,
    tls: Option<(&TlsFiles, u16)>,
) -> Spec {
    let mut args: Vec<OsString> = vec![
        "--port".into(),
        port.to_string().into(),
        "--bind".into(),
        "127.0.0.1".into(),
        // An empty argument, not the two characters '': no RDB snapshots.
        "--save".into(),
        "".into(),
        "--appendonly".into(),
        "no".into(),
        "--daemonize".into(),
        "no".into(),
        "--dir".into(),
        work_dir.as_os_str().to_owned(),
    ];
    if let Some((files, tls_port)) = tls {
        args.extend::<[OsString; 10]>([
            "--tls-port".into(),
            tls_port.to_string().into(),
            "--tls-cert-file".into(),
            files.cert.as_os_str().to_owned(),
            "--tls-key-file".into(),
            files.key.as_os_str().to_owned(),
            "--tls-ca-cert-file".into(),
            files.ca.as_os_str().to_owned(),
            "--tls-auth-clients".into(),
            "no".into(),
        ]);
    }
    Spec {
        what: WHAT,
        program,
        args,
        log_path,
        run_as: None,
        death_signal: Signal::SIGKILL,
        stop: STOP,
        drop: &[],
    }
}

/// Ready when `PING` gets `+PONG` (not `-LOADING`).
async fn probe(port: u16) -> Result<(), String> {
    let line = port::first_line(port, Some(b"PING\r\n"))
        .await
        .map_err(|e| e.to_string())?;
    if line == "+PONG" {
        Ok(())
    } else {
        Err(format!("PING answered {line:?}"))
    }
}
