//! A local proxy in front of several gateways, routing their sockets by dealer group: the two
//! socket paths hashed, consistently, on the `route` query parameter; everything else spread
//! round-robin. Two kinds ([`ProxyKind`]):
//! - nginx, with the production overlay's rule (`k8s/overlays/production/ingress-sockets.yaml`).
//!   ingress-nginx balances with its own Lua consistent hash, not nginx's `hash … consistent`
//!   (ketama), so the groups land on other gateways there, but just as unevenly;
//! - HAProxy, the same hash *with bounded loads* (`hash-balance-factor`): no gateway holds more
//!   than the factor times the mean of the open connections; past it, a socket goes to the next
//!   gateway on the ring. To measure what the bound does to the balance.
//!
//! Neither is installed by `deploy/install.sh` (no test needs them): `apt-get install nginx
//! haproxy` for the benchmark that uses them (`loadtest fanout --proxy`).

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::binaries;
use crate::error::{InfraError, Result};
use crate::port;
use crate::process::{self, ServerProcess, Shutdown, Spec};

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Which proxy, and how it balances the sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// nginx, `hash $arg_route consistent` (the production ingress's rule).
    Nginx,
    /// HAProxy, `balance url_param route`, consistent, with this `hash-balance-factor` (a
    /// percentage of the mean load, e.g. 125).
    HaProxy {
        /// No gateway past this percentage of the mean load.
        balance_factor: u32,
    },
}

impl ProxyKind {
    fn what(self) -> &'static str {
        match self {
            ProxyKind::Nginx => "nginx",
            ProxyKind::HaProxy { .. } => "HAProxy",
        }
    }

    fn program(self) -> &'static str {
        match self {
            ProxyKind::Nginx => "nginx",
            ProxyKind::HaProxy { .. } => "haproxy",
        }
    }

    /// nginx: SIGQUIT (graceful), then SIGTERM; HAProxy: SIGUSR1 (soft stop), then SIGTERM.
    fn stop(self) -> Shutdown {
        const NGINX: Shutdown = &[
            (Signal::SIGQUIT, Duration::from_secs(5)),
            (Signal::SIGTERM, Duration::from_secs(2)),
        ];
        const HAPROXY: Shutdown = &[
            (Signal::SIGUSR1, Duration::from_secs(3)),
            (Signal::SIGTERM, Duration::from_secs(2)),
        ];
        match self {
            ProxyKind::Nginx => NGINX,
            ProxyKind::HaProxy { .. } => HAPROXY,
        }
    }

    /// The command line, in the foreground, with the configuration at `config` and its files in
    /// `dir`.
    fn args(self, config: &Path, dir: &Path) -> Vec<OsString> {
        match self {
            ProxyKind::Nginx => {
                let flags = ["-e", "stderr", "-p"].map(OsString::from);
                flags
                    .into_iter()
                    .chain([dir.into(), "-c".into(), config.into()])
                    .collect()
            }
            ProxyKind::HaProxy { .. } => vec!["-db".into(), "-f".into(), config.into()],
        }
    }

    fn config(self, dir: &Path, port: u16, upstreams: &[u16]) -> String {
        match self {
            ProxyKind::Nginx => nginx_config(dir, port, upstreams),
            ProxyKind::HaProxy { balance_factor } => {
                haproxy_config(port, upstreams, balance_factor)
            }
        }
    }
}

/// A real proxy on a free loopback port in front of gateways on loopback ports. Dropping it
/// kills the server.
#[derive(Debug)]
pub struct GatewayProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    process: ServerProcess,
    _run_dir: tempfile::TempDir,
}

impl GatewayProxy {
    /// Starts the proxy in front of the gateways listening on `upstreams` (loopback ports) and
    /// returns once it accepts connections.
    pub async fn start(kind: ProxyKind, upstreams: &[u16]) -> Result<GatewayProxy> {
        let hint = format!("apt-get install {}", kind.program());
        let program = binaries::require(kind.program(), &hint)?;
        let run_dir = process::run_dir(&format!("showroom-{}-", kind.program()))?;
        let dir = run_dir.path().to_path_buf();
        let log_path = dir.join("proxy.log");
        let config_path = dir.join("proxy.conf");
        let (process, port) = process::with_free_port(|port| {
            let written = std::fs::write(&config_path, kind.config(&dir, port, upstreams))
                .map_err(|e| InfraError::io(format!("writing {}", config_path.display()), e));
            let spec = Spec {
                what: kind.what(),
                program: program.clone(),
                args: kind.args(&config_path, &dir),
                log_path: log_path.clone(),
                run_as: None,
                death_signal: Signal::SIGKILL,
                stop: kind.stop(),
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
        Ok(GatewayProxy {
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

/// One worker in the foreground, its files in `dir`, logging to stderr (the process log).
fn nginx_config(dir: &Path, port: u16, upstreams: &[u16]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p};\n"))
        .collect();
    let dir = dir.display();
    let proxied = "proxy_http_version 1.1;\n      \
                   proxy_set_header Upgrade $http_upgrade;\n      \
                   proxy_set_header Connection $connection_upgrade;\n      \
                   proxy_set_header Host $host;\n      \
                   proxy_read_timeout 3600s;\n      \
                   proxy_send_timeout 3600s;\n      \
                   proxy_buffering off;";
    format!(
        "daemon off;\n\
         master_process on;\n\
         worker_processes 1;\n\
         worker_rlimit_nofile 20000;\n\
         pid {dir}/nginx.pid;\n\
         error_log stderr warn;\n\
         events {{ worker_connections 16000; }}\n\
         http {{\n  \
           access_log off;\n  \
           client_body_temp_path {dir}/body;\n  \
           proxy_temp_path {dir}/proxy;\n  \
           fastcgi_temp_path {dir}/fastcgi;\n  \
           uwsgi_temp_path {dir}/uwsgi;\n  \
           scgi_temp_path {dir}/scgi;\n  \
           map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n  \
           upstream sockets {{\n    hash $arg_route consistent;\n{servers}  }}\n  \
           upstream api {{\n{servers}  }}\n  \
           server {{\n    \
             listen 127.0.0.1:{port};\n    \
             location = /ws/widget {{ proxy_pass http://sockets; {proxied} }}\n    \
             location = /ws/console {{ proxy_pass http://sockets; {proxied} }}\n    \
             location / {{ proxy_pass http://api; {proxied} }}\n  \
           }}\n\
         }}\n"
    )
}

/// HTTP mode with WebSocket tunnels kept an hour; at most 9 000 connections (HAProxy wants two
/// descriptors each, within the 20 000 a process may open here).
fn haproxy_config(port: u16, upstreams: &[u16], balance_factor: u32) -> String {
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
