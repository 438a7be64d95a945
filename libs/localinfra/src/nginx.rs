//! A local nginx in front of several gateways, routing their sockets by dealer group as the
//! production overlay's ingress does (`k8s/overlays/production/ingress-sockets.yaml`): the two
//! socket paths hashed, consistently, on the `route` query parameter; everything else spread
//! round-robin. ingress-nginx balances with its own Lua consistent hash, not nginx's `hash …
//! consistent` (ketama), so the groups land on other gateways there, but just as unevenly.
//!
//! nginx is not installed by `deploy/install.sh` (no test needs it); `apt-get install nginx`
//! for the benchmark that uses it (`loadtest fanout --proxy`).

use std::ffi::OsString;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::binaries;
use crate::error::{InfraError, Result};
use crate::port;
use crate::process::{self, ServerProcess, Shutdown, Spec};

const WHAT: &str = "nginx";
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// SIGQUIT: graceful; SIGTERM: fast.
const STOP: Shutdown = &[
    (Signal::SIGQUIT, Duration::from_secs(5)),
    (Signal::SIGTERM, Duration::from_secs(2)),
];

/// A real nginx on a free loopback port in front of gateways on loopback ports. Dropping it
/// kills the server.
#[derive(Debug)]
pub struct Nginx {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    process: ServerProcess,
    _run_dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx in front of the gateways listening on `upstreams` (loopback ports) and
    /// returns once it accepts connections.
    pub async fn start_for_gateways(upstreams: &[u16]) -> Result<Nginx> {
        let program = binaries::require("nginx", "apt-get install nginx")?;
        let run_dir = process::run_dir("showroom-nginx-")?;
        let dir = run_dir.path().to_path_buf();
        let log_path = dir.join("nginx.log");
        let config_path = dir.join("nginx.conf");
        let (process, port) = process::with_free_port(|port| {
            let written = std::fs::write(&config_path, config(&dir, port, upstreams))
                .map_err(|e| InfraError::io(format!("writing {}", config_path.display()), e));
            let spec = Spec {
                what: WHAT,
                program: program.clone(),
                args: vec![
                    OsString::from("-e"),
                    OsString::from("stderr"),
                    OsString::from("-c"),
                    OsString::from(config_path.as_os_str()),
                    OsString::from("-p"),
                    OsString::from(dir.as_os_str()),
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
        Ok(Nginx {
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
fn config(dir: &std::path::Path, port: u16, upstreams: &[u16]) -> String {
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
