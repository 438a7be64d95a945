//! A local `nats-server` with JetStream.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::binaries;
use crate::error::{InfraError, Result};
use crate::http;
use crate::port::{self, PROBE_TIMEOUT};
use crate::process::{self, LaunchError, ServerProcess, Shutdown, Spec};

const WHAT: &str = "NATS";
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Graceful: lets JetStream flush its store.
const STOP: Shutdown = &[(Signal::SIGTERM, Duration::from_secs(10))];
/// A store that outlives us deserves a clean shutdown; a throwaway one does
/// not need to cost the test any time (straight SIGKILL).
const DROP_PERSISTENT: Shutdown = &[(Signal::SIGTERM, Duration::from_secs(5))];

/// A real `nats-server -js` on free loopback ports.
///
/// The bus and every service talk to NATS; tests and the dev launcher need a
/// real one (JetStream semantics are not worth faking). Dropping it kills the
/// server; a throwaway store dir is deleted with it.
#[derive(Debug)]
pub struct Nats {
    /// Client URL, `nats://127.0.0.1:PORT`.
    pub url: String,
    /// Client port.
    pub port: u16,
    /// Monitoring URL, `http://127.0.0.1:MONITOR_PORT` (`/healthz`, `/jsz`, `/varz`).
    pub monitor_url: String,
    /// Monitoring port.
    pub monitor_port: u16,
    process: ServerProcess,
    store_dir: PathBuf,
    /// Holds the log and, for throwaway servers, the store. Dropped last.
    _run_dir: tempfile::TempDir,
}

impl Nats {
    /// Starts `nats-server -js` with its JetStream store in `store_dir`
    /// (created if missing and kept), or in a temp dir removed on drop when
    /// `None`. Returns once the server sends its `INFO` line and
    /// `/healthz?js-enabled-only=true` answers 200.
    pub async fn start(store_dir: Option<PathBuf>) -> Result<Nats> {
        Self::start_with(store_dir, None).await
    }

    /// Like [`Nats::start`], with `config` (nats-server configuration text, e.g. the operator
    /// and resolver blocks of decentralised auth, or TLS) read before the command-line flags.
    pub async fn start_with(store_dir: Option<PathBuf>, config: Option<&str>) -> Result<Nats> {
        let program = binaries::require(
            "nats-server",
            "run deploy/install.sh (apt-get install nats-server)",
        )?;
        let run_dir = process::run_dir("showroom-nats-")?;
        let persistent = store_dir.is_some();
        let store_dir = match store_dir {
            Some(dir) => dir,
            None => run_dir.path().join("jetstream"),
        };
        std::fs::create_dir_all(&store_dir)
            .map_err(|e| InfraError::io(format!("creating {}", store_dir.display()), e))?;
        let log_path = run_dir.path().join("nats-server.log");
        let config_path = match config {
            Some(text) => {
                let path = run_dir.path().join("nats-server.conf");
                std::fs::write(&path, text)
                    .map_err(|e| InfraError::io(format!("writing {}", path.display()), e))?;
                Some(path)
            }
            None => None,
        };

        let (process, port, monitor_port) = process::with_free_port(|port| {
            let program = program.clone();
            let store_dir = store_dir.clone();
            let log_path = log_path.clone();
            let config_path = config_path.clone();
            async move {
                let monitor_port = other_free_port(port)?;
                let spec = spec(
                    program,
                    port,
                    monitor_port,
                    &store_dir,
                    log_path,
                    persistent,
                    config_path.as_deref(),
                );
                let process =
                    ServerProcess::launch(spec, START_TIMEOUT, || probe(port, monitor_port))
                        .await?;
                Ok::<_, LaunchError>((process, port, monitor_port))
            }
        })
        .await?;

        Ok(Nats {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            monitor_url: format!("http://127.0.0.1:{monitor_port}"),
            monitor_port,
            process,
            store_dir,
            _run_dir: run_dir,
        })
    }

    /// Stops the server gracefully (SIGTERM, then SIGKILL after 10 s).
    /// Clients see the connection drop; [`Nats::restart`] brings it back.
    pub async fn stop(&mut self) {
        self.process.stop().await;
    }

    /// Kills the server with SIGKILL, as a crash would: no flush, no goodbye to clients or
    /// cluster peers. [`Nats::restart`] brings it back with its store.
    pub async fn kill(&mut self) {
        self.process.kill().await;
    }

    /// Starts `nodes` servers as one JetStream cluster (`cluster` name `showroom`, each routed to
    /// the others on loopback), each with `config(i)` (e.g. its own auth resolver dir) before
    /// the cluster block. Returns once every node answers; a stream with replicas can be made
    /// only after the nodes have found each other (the caller waits for that).
    pub async fn start_cluster(
        nodes: usize,
        config: impl Fn(usize) -> String,
    ) -> Result<Vec<Nats>> {
        let route_ports = (0..nodes)
            .map(|_| port::free_port())
            .collect::<Result<Vec<u16>>>()?;
        let routes = route_ports
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(", ");
        let configs: Vec<String> = (0..nodes)
            .map(|i| {
                format!(
                    "{}\nserver_name: n{i}\ncluster {{\n  name: showroom\n  listen: 127.0.0.1:{}\n  \
                     routes: [{routes}]\n}}\n",
                    config(i),
                    route_ports[i]
                )
            })
            .collect();
        let mut started = Vec::with_capacity(nodes);
        for c in &configs {
            started.push(Nats::start_with(None, Some(c)).await?);
        }
        Ok(started)
    }

    /// Restarts the server on the same ports with the same store, so tests
    /// can check that clients reconnect and JetStream data survives.
    pub async fn restart(&mut self) -> Result<()> {
        let (port, monitor_port) = (self.port, self.monitor_port);
        self.process
            .respawn(START_TIMEOUT, || probe(port, monitor_port))
            .await
    }

    /// Where JetStream keeps its data.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
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
    monitor_port: u16,
    store_dir: &Path,
    log_path: PathBuf,
    persistent: bool,
    config: Option<&Path>,
) -> Spec {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(c) = config {
        args.extend(["-c".into(), c.as_os_str().to_owned()]);
    }
    args.extend::<[OsString; 9]>([
        "-js".into(),
        "-a".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string().into(),
        "-m".into(),
        monitor_port.to_string().into(),
        "-sd".into(),
        store_dir.as_os_str().to_owned(),
    ]);
    Spec {
        what: WHAT,
        program,
        args,
        log_path,
        run_as: None,
        death_signal: Signal::SIGKILL,
        stop: STOP,
        drop: if persistent { DROP_PERSISTENT } else { &[] },
    }
}

/// A free port other than `taken`.
fn other_free_port(taken: u16) -> Result<u16> {
    loop {
        let port = port::free_port()?;
        if port != taken {
            return Ok(port);
        }
    }
}

/// Ready when the client port greets with `INFO` and JetStream reports healthy.
async fn probe(port: u16, monitor_port: u16) -> Result<(), String> {
    let line = port::first_line(port, None)
        .await
        .map_err(|e| format!("client port: {e}"))?;
    if !line.starts_with("INFO ") {
        return Err(format!("client port said {line:?}"));
    }
    let health = http::request(
        "GET",
        monitor_port,
        "/healthz?js-enabled-only=true",
        PROBE_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())?;
    if health.status == 200 {
        Ok(())
    } else {
        Err(format!(
            "/healthz answered {}: {}",
            health.status,
            String::from_utf8_lossy(&health.body)
        ))
    }
}
