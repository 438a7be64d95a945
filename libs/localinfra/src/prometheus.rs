//! A local Prometheus (Debian's `prometheus` package) scraping given targets.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::binaries;
use crate::error::{InfraError, Result};
use crate::http;
use crate::process::{self, ServerProcess, Shutdown, Spec};

const WHAT: &str = "Prometheus";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP: Shutdown = &[(Signal::SIGTERM, Duration::from_secs(10))];
const API_TIMEOUT: Duration = Duration::from_secs(10);

/// A real `prometheus` on a free loopback port, scraping every target each second, with its
/// data in a temp dir. Dropping it kills the server.
#[derive(Debug)]
pub struct Prometheus {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's port.
    pub port: u16,
    process: ServerProcess,
    /// The configuration and the TSDB. Dropped last.
    _run_dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (a job name and a `host:port` each, at
    /// `/metrics`), and returns once it answers `/-/ready`.
    pub async fn start(targets: &[(String, String)]) -> Result<Prometheus> {
        let program = binaries::require(
            "prometheus",
            "run deploy/install.sh (apt-get install prometheus)",
        )?;
        let run_dir = process::run_dir("showroom-prometheus-")?;
        let config = run_dir.path().join("prometheus.yml");
        std::fs::write(&config, config_text(targets)).map_err(|e| InfraError::Io {
            context: format!("writing {}", config.display()),
            source: e,
        })?;
        let data = run_dir.path().join("data");
        let log_path = run_dir.path().join("prometheus.log");
        let (process, port) = process::with_free_port(|port| {
            let spec = spec(program.clone(), port, &config, &data, log_path.clone());
            async move {
                let process = ServerProcess::launch(spec, START_TIMEOUT, || probe(port)).await?;
                Ok((process, port))
            }
        })
        .await?;
        Ok(Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            port,
            process,
            _run_dir: run_dir,
        })
    }

    /// Runs an instant query (`/api/v1/query`) and returns its `data.result` array.
    pub async fn query(&self, promql: &str) -> Result<Vec<serde_json::Value>> {
        let query =
            percent_encoding::utf8_percent_encode(promql, percent_encoding::NON_ALPHANUMERIC);
        let path = format!("/api/v1/query?query={query}");
        let body = self.get_json(&path).await?;
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Every metric name Prometheus holds (`/api/v1/label/__name__/values`).
    pub async fn metric_names(&self) -> Result<Vec<String>> {
        let body = self.get_json("/api/v1/label/__name__/values").await?;
        Ok(body["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The scrape targets and their health (`/api/v1/targets`), `data.activeTargets`.
    pub async fn targets(&self) -> Result<Vec<serde_json::Value>> {
        let body = self.get_json("/api/v1/targets").await?;
        Ok(body["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        let response = http::request("GET", self.port, path, API_TIMEOUT).await?;
        let fail = |reason: String| InfraError::Http {
            method: "GET",
            url: format!("{}{path}", self.url),
            reason,
        };
        if response.status != 200 {
            return Err(fail(format!(
                "status {}: {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )));
        }
        serde_json::from_slice(&response.body).map_err(|e| fail(format!("not JSON: {e}")))
    }

    /// The log's contents, for printing when a test fails.
    pub fn log(&self) -> String {
        process::read_log(self.process.log_path())
    }
}

fn config_text(targets: &[(String, String)]) -> String {
    let mut text = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for (job, target) in targets {
        text.push_str(&format!(
            "  - job_name: {job:?}\n    metrics_path: /metrics\n    honor_labels: true\n    static_configs:\n      - targets: [{target:?}]\n"
        ));
    }
    text
}

fn spec(program: PathBuf, port: u16, config: &Path, data: &Path, log_path: PathBuf) -> Spec {
    let args: Vec<OsString> = vec![
        format!("--config.file={}", config.display()).into(),
        format!("--storage.tsdb.path={}", data.display()).into(),
        format!("--web.listen-address=127.0.0.1:{port}").into(),
        "--storage.tsdb.retention.time=1h".into(),
        "--log.level=warn".into(),
    ];
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

/// Ready when `/-/ready` answers 200.
async fn probe(port: u16) -> Result<(), String> {
    match http::request("GET", port, "/-/ready", Duration::from_secs(2)).await {
        Ok(r) if r.status == 200 => Ok(()),
        Ok(r) => Err(format!("/-/ready answered {}", r.status)),
        Err(e) => Err(e.to_string()),
    }
}
