//! The seven services as child processes: spawning, readiness, stopping.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::layout::{self, Layout};

/// A service: its name (as registered on NATS, and `showroom-<name>` is its binary) and where
/// its `/healthz` and `/readyz` listen.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// e.g. `gateway`.
    pub name: &'static str,
    /// The service's default admin address (127.0.0.1:9100 to 9106).
    pub admin_addr: SocketAddr,
}

/// Every service in start order: presence, router and the gateway first (the gateway sends
/// their commands), then the others.
pub fn all() -> [Service; 7] {
    [
        Service {
            name: showroom_presence::NAME,
            admin_addr: showroom_presence::Config::default().common.admin_addr,
        },
        Service {
            name: showroom_router::NAME,
            admin_addr: showroom_router::Config::default().common.admin_addr,
        },
        Service {
            name: showroom_gateway::NAME,
            admin_addr: showroom_gateway::Config::default().common.admin_addr,
        },
        Service {
            name: showroom_bot::NAME,
            admin_addr: showroom_bot::Config::default().common.admin_addr,
        },
        Service {
            name: showroom_lead_capture::NAME,
            admin_addr: showroom_lead_capture::Config::default().common.admin_addr,
        },
        Service {
            name: showroom_notification::NAME,
            admin_addr: showroom_notification::Config::default().common.admin_addr,
        },
        Service {
            name: showroom_crm_export::NAME,
            admin_addr: showroom_crm_export::Config::default().common.admin_addr,
        },
    ]
}

/// How many services start one after the other, each waited for, before the rest start together.
pub const IN_ORDER: usize = 3;

/// How long a service may take to answer `/readyz` with 200.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a service may drain after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// Lines of a log shown when something fails.
pub const TAIL_LINES: usize = 40;

/// The environment of one service, on top of the launcher's own.
pub fn environment(service: &Service, shared: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = shared
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    env.push((
        "SHOWROOM_ADMIN_ADDR".to_owned(),
        service.admin_addr.to_string(),
    ));
    env
}

/// A running service process.
#[derive(Debug)]
pub struct Running {
    /// Which service.
    pub service: Service,
    /// Its log, `.dev/logs/<name>.log`.
    pub log: PathBuf,
    /// Length of the log before this start: failures show only what this run wrote.
    log_start: u64,
    child: Child,
    pid: u32,
    started: Instant,
}

impl Running {
    /// Starts `showroom-<name>` with `env`, its output appended to its log, in a process group
    /// of its own (so a Ctrl-C in the terminal reaches only the launcher, which then stops the
    /// services in order) and, where `setpriv` exists, killed by the kernel should the
    /// launcher die without stopping it.
    pub fn spawn(
        service: Service,
        layout: &Layout,
        env: &[(String, String)],
    ) -> anyhow::Result<Running> {
        let program = layout.binary(service.name);
        if !program.is_file() {
            bail!(
                "{} is missing: build the services first (`cargo build --bins`; deploy/dev.sh does)",
                program.display()
            );
        }
        let log = layout.log(service.name);
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        writeln!(
            out,
            "----- showroom-dev (pid {}) starts {} -----",
            std::process::id(),
            service.name
        )
        .with_context(|| format!("writing {}", log.display()))?;
        let log_start = out.metadata().map(|m| m.len()).unwrap_or(0);
        let err = out.try_clone().context("duplicating the log file")?;

        let mut cmd = match layout::find_program("setpriv") {
            Some(setpriv) => {
                let mut cmd = Command::new(setpriv);
                cmd.args(["--pdeathsig", "KILL", "--"]).arg(&program);
                cmd
            }
            None => Command::new(&program),
        };
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&layout.root)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("the new process has no pid")?;
        Ok(Running {
            service,
            log,
            log_start,
            child,
            pid,
            started: Instant::now(),
        })
    }

    /// Polls `GET /readyz` until it answers 200. Fails (with the log's tail) when the process
    /// exits or [`READY_TIMEOUT`] passes. Returns how long the start took.
    pub async fn wait_ready(&mut self) -> anyhow::Result<Duration> {
        let deadline = self.started + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                bail!(
                    "{} exited during startup ({status}); {}",
                    self.service.name,
                    self.log_tail()
                );
            }
            let last = match readyz(self.service.admin_addr).await {
                Ok(200) => return Ok(self.started.elapsed()),
                Ok(status) => format!("/readyz answered {status}"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                bail!(
                    "{} did not become ready within {} s (GET http://{}/readyz: {last}); {}",
                    self.service.name,
                    READY_TIMEOUT.as_secs(),
                    self.service.admin_addr,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How the process exited, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// "its log X ends with: ..." for error messages.
    pub fn log_tail(&self) -> String {
        format!(
            "its log {} ends with:\n{}",
            self.log.display(),
            layout::tail(&self.log, self.log_start, TAIL_LINES)
        )
    }

    /// Sends SIGTERM (the service drains and exits).
    pub async fn terminate(&mut self) {
        if self.exited().is_none() {
            signal(self.pid, "TERM").await;
        }
    }

    /// Waits for the process to exit, at most `grace`; true when it did.
    pub async fn wait_exit(&mut self, grace: Duration) -> bool {
        tokio::time::timeout(grace, self.child.wait()).await.is_ok()
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Sends `signal` (a name `kill -s` knows) to `pid`. There is no signal call in std, and the
/// workspace has no libc/nix dependency for this crate, so this runs `kill(1)`.
async fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// The status code of `GET /readyz` on `addr`.
async fn readyz(addr: SocketAddr) -> Result<u16, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut status_line = String::new();
        BufReader::new(stream).read_line(&mut status_line).await?;
        Ok::<_, std::io::Error>(status_line)
    };
    let status_line = match tokio::time::timeout(Duration::from_secs(2), exchange).await {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("no answer within 2 s".to_owned()),
    };
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", status_line.trim_end()))
}

/// Fails with a clear message when `addr` is taken, before anything starts.
pub fn ensure_free(addr: SocketAddr, what: &str, fix: &str) -> anyhow::Result<()> {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "port {} ({addr}, {what}) is already in use, by another Showroom dev stack or \
             another program (`ss -ltnp 'sport = :{}'` tells which). {fix}",
            addr.port(),
            addr.port()
        ),
        Err(e) => bail!("cannot listen on {addr} ({what}): {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_admin_ports_are_distinct() {
        let services = all();
        for (i, a) in services.iter().enumerate() {
            for b in &services[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.admin_addr.port(), b.admin_addr.port());
            }
        }
        assert_eq!(services[IN_ORDER - 1].name, "gateway");
    }

    #[test]
    fn a_taken_port_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let err = ensure_free(addr, "test", "Use another.").unwrap_err();
        assert!(
            err.to_string().contains(&format!("port {} ", addr.port())),
            "{err}"
        );
    }
}
