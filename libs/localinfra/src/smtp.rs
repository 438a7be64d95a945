//! A local SMTP catcher (maildev) with a REST API to read what was sent.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::binaries;
use crate::error::{InfraError, Result};
use crate::http;
use crate::port::{self, PROBE_TIMEOUT};
use crate::process::{self, LaunchError, ServerProcess, Shutdown, Spec};

const WHAT: &str = "maildev";
/// Node starts slowly on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// maildev has nothing to save.
const STOP: Shutdown = &[(Signal::SIGTERM, Duration::from_secs(5))];
const API_TIMEOUT: Duration = Duration::from_secs(10);

/// A real SMTP server that keeps every e-mail instead of delivering it.
///
/// The notification service sends lead e-mails over SMTP; tests and the dev
/// stack point it here and read the caught mails back through maildev's REST
/// API (`GET /email`) or its web UI at [`SmtpCatcher::web_url`].
/// Dropping it kills maildev.
#[derive(Debug)]
pub struct SmtpCatcher {
    /// SMTP port on 127.0.0.1 (no TLS, no auth).
    pub smtp_port: u16,
    /// Web UI and REST API port.
    pub web_port: u16,
    /// `http://127.0.0.1:WEB_PORT`.
    pub web_url: String,
    process: ServerProcess,
    /// Holds the log and the caught mails. Dropped last.
    _run_dir: tempfile::TempDir,
}

impl SmtpCatcher {
    /// Runs `node <install_dir>/node_modules/maildev/bin/maildev` on two free
    /// ports and returns once its web API and SMTP greeting answer.
    /// `install_dir` is where `npm ci` installed maildev (`deploy/` in this repo).
    pub async fn start(install_dir: &Path) -> Result<SmtpCatcher> {
        let script = maildev_script(install_dir);
        if !script.is_file() {
            return Err(InfraError::MaildevMissing {
                dir: install_dir.to_path_buf(),
            });
        }
        let node = binaries::require("node", "run deploy/install.sh (apt-get install nodejs npm)")?;
        let run_dir = process::run_dir("showroom-maildev-")?;
        let mail_dir = run_dir.path().join("mail");
        let log_path = run_dir.path().join("maildev.log");

        let (process, smtp_port, web_port) = process::with_free_port(|smtp_port| {
            let node = node.clone();
            let script = script.clone();
            let mail_dir = mail_dir.clone();
            let log_path = log_path.clone();
            async move {
                let web_port = loop {
                    let candidate = port::free_port()?;
                    if candidate != smtp_port {
                        break candidate;
                    }
                };
                let args: Vec<OsString> = vec![
                    script.into_os_string(),
                    "--smtp".into(),
                    smtp_port.to_string().into(),
                    "--web".into(),
                    web_port.to_string().into(),
                    "--ip".into(),
                    "127.0.0.1".into(),
                    "--mail-directory".into(),
                    mail_dir.into_os_string(),
                ];
                let spec = Spec {
                    what: WHAT,
                    program: node,
                    args,
                    log_path,
                    run_as: None,
                    death_signal: Signal::SIGKILL,
                    stop: STOP,
                    drop: &[],
                };
                let process =
                    ServerProcess::launch(spec, START_TIMEOUT, || probe(smtp_port, web_port))
                        .await?;
                Ok::<_, LaunchError>((process, smtp_port, web_port))
            }
        })
        .await?;

        Ok(SmtpCatcher {
            smtp_port,
            web_port,
            web_url: format!("http://127.0.0.1:{web_port}"),
            process,
            _run_dir: run_dir,
        })
    }

    /// Whether maildev is installed in `install_dir`, so tests can say why
    /// they skip instead of failing.
    pub fn is_installed(install_dir: &Path) -> bool {
        maildev_script(install_dir).is_file() && binaries::find_on_path("node").is_some()
    }

    /// Every caught e-mail, oldest first, as maildev's JSON (`subject`,
    /// `from`, `to`, `text`, `html`, `headers`, ...).
    pub async fn messages(&self) -> Result<Vec<serde_json::Value>> {
        let response = http::request("GET", self.web_port, "/email", API_TIMEOUT).await?;
        let fail = |reason: String| InfraError::Http {
            method: "GET",
            url: format!("{}/email", self.web_url),
            reason,
        };
        if response.status != 200 {
            return Err(fail(format!("status {}", response.status)));
        }
        serde_json::from_slice(&response.body).map_err(|e| fail(format!("not a JSON array: {e}")))
    }

    /// Polls until at least `count` e-mails were caught, then returns them all.
    pub async fn wait_for_messages(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<serde_json::Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages().await?;
            if messages.len() >= count {
                return Ok(messages);
            }
            if Instant::now() >= deadline {
                return Err(InfraError::Timeout {
                    what: format!("{count} e-mail(s), have {}", messages.len()),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Deletes every caught e-mail (between test steps).
    pub async fn clear(&self) -> Result<()> {
        let response = http::request("DELETE", self.web_port, "/email/all", API_TIMEOUT).await?;
        if response.status == 200 {
            Ok(())
        } else {
            Err(InfraError::Http {
                method: "DELETE",
                url: format!("{}/email/all", self.web_url),
                reason: format!("status {}", response.status),
            })
        }
    }

    /// Stops maildev (SIGTERM, then SIGKILL after 5 s).
    pub async fn stop(&mut self) {
        self.process.stop().await;
    }

    /// maildev's stdout/stderr.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// The log's contents, for printing when a test fails.
    pub fn log(&self) -> String {
        process::read_log(self.process.log_path())
    }

    /// maildev's (node's) process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }
}

fn maildev_script(install_dir: &Path) -> PathBuf {
    install_dir.join("node_modules/maildev/bin/maildev")
}

/// Ready when the REST API lists mails and SMTP greets with 220.
async fn probe(smtp_port: u16, web_port: u16) -> Result<(), String> {
    let response = http::request("GET", web_port, "/email", PROBE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!("GET /email answered {}", response.status));
    }
    let greeting = port::first_line(smtp_port, None)
        .await
        .map_err(|e| format!("SMTP port: {e}"))?;
    if greeting.starts_with("220") {
        Ok(())
    } else {
        Err(format!("SMTP greeting was {greeting:?}"))
    }
}
