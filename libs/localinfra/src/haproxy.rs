//! A local HAProxy in front of several gateways, routing their sockets by dealer group with
//! consistent hashing *with bounded loads* (`hash-balance-factor`): the two socket paths hashed
//! on the `route` query parameter, but no gateway holds more than the factor times the mean of
//! the open connections; past it, a socket goes to the next gateway on the ring. Everything else
//! round-robin. Beside [`crate::Nginx`] (the production ingress's plain consistent hash), to
//! measure what the bound does to the balance (`loadtest fanout --proxy haproxy`).
//!
//! HAProxy is not installed by `deploy/install.sh` (no test needs it); `apt-get install haproxy`.

use std::ffi::OsString;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::binaries;
use crate::error::{InfraError, Result};
use crate::port;
use crate::process::{self, ServerProcess, Shutdown, Spec};

const WHAT: &str = "HAProxy";
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// SIGUSR1: soft stop; SIGTERM: hard stop.
const STOP: Shutdown = &[
    (Signal::SIGUSR1, Duration::from_secs(3)),
    (Signal::SIGTERM, Duration::from_secs(2)),
];

/// A real HAProxy on a free loopback port in front of gateways on loopback ports. Dropping it
/// kills the server.
#[derive(Debug)]
pub struct HaProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    process: ServerProcess,
    _run_dir: tempfile::TempDir,
}

impl HaProxy {
    /// Starts HAProxy in front of the gateways listening on `upstreams` (loopback ports), the
    /// sockets hashed by route with `hash-balance-factor` `balance_factor` (a percentage of the
    /// mean load, e.g. 125), and returns once it accepts connections.
    pub async fn start_for_gateways(upstreams: &[u16], balance_factor: u32) -> Result<HaProxy> {
        let program = binaries::require("haproxy", "apt-get install haproxy")?;
        let run_dir = process::run_dir("showroom-haproxy-")?;
        let log_path = run_dir.path().join("haproxy.log");
        let config_path = run_dir.path().join("haproxy.cfg");
        let (process, port) = process::with_free_port(|port| {
            let written = std::fs::write(&config_path, config(port, upstreams, balance_factor))
                .map_err(|e| InfraError::io(format!("writing {}", config_path.display()), e));
            let spec = Spec {
                what: WHAT,
                program: program.clone(),
                args: vec![
                    OsString::from("-db"),
                    OsString::from("-f"),
                    OsString::from(config_path.as_os_str()),
                ],
                log_path: log_path.clone(),
                run_as: None,
                death_signal: Signal::SIGKILL,
                stop: STOP,
                drop: &[],
            };
            async move {
                written?;
                let process = ServerProcess::launch(spec, START_TIMEOUT, || async move {
                    port::connect(port)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
                .await?;
                Ok((process, port))
            }
        })
        .await?;
        Ok(HaProxy {
            url: format!("http://127.0.0.1:{port}"),
            port,
            process,
            _run_dir: run_dir,
        })
    }

    /// Its log, for printing when something fails.
    pub fn log(&self) -> String {
        process::read_log(self.process.log_path())
    }
}

fn config(port: u16, upstreams: &[u16], balance_factor: u32) -> String {
    let servers: String = upstreams
        .iter()
        .enumerate()
        .map(|(i, p)| format!("  server g{i} 127.0.0.1:{p}\n"))
        .collect();
    format!(
        "global\n  maxconn 9000\n\
         defaults\n  mode http\n  timeout connect 5s\n  timeout client 3600s\n  \
           timeout server 3600s\n  timeout tunnel 3600s\n\
         frontend edge\n  bind 127.0.0.1:{port}\n  \
           acl sockets path /ws/widget /ws/console\n  \
           use_backend sockets if sockets\n  default_backend api\n\
         backend sockets\n  balance url_param route\n  hash-type consistent\n  \
           hash-balance-factor {balance_factor}\n{servers}\
         backend api\n  balance roundrobin\n{servers}"
    )
}
