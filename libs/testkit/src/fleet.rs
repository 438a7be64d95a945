//! Showroom as it runs in production, on one machine: a three-node NATS cluster (JetStream,
//! streams with three replicas), Postgres, Redis, the SMTP catcher, and every service as
//! processes of its own, several replicas each. Any node or replica can be killed and started
//! again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use showroom_bus::Login;
use showroom_localinfra::{Nats, Postgres, PostgresOptions, Redis, SmtpCatcher, free_port};
use showroom_natsauth::Trust;
use showroom_store::sqlx::PgPool;
use tokio::process::Child;

use crate::stack::{Service, VISITOR_SECRET, maildev_dir};

/// NATS nodes in the cluster.
pub const NATS_NODES: usize = 3;

/// Where a service process finds the servers.
pub(crate) struct Endpoints {
    /// One URL or a comma-separated list.
    pub(crate) nats_url: String,
    /// Holds `<service>.creds`, `issuer.json`, `system.creds`.
    pub(crate) auth_dir: PathBuf,
    pub(crate) database_url: String,
    pub(crate) redis_url: String,
    pub(crate) smtp_port: u16,
    pub(crate) stream_replicas: usize,
    pub(crate) heartbeat_secs: u64,
}

/// The environment a service process runs with (what its Kubernetes Deployment sets), with the
/// test stacks' short timings.
pub(crate) fn service_env(
    service: Service,
    e: &Endpoints,
    admin_port: u16,
    http_port: Option<u16>,
) -> Vec<(String, String)> {
    let name = service.name();
    let mut env: Vec<(&str, String)> = vec![
        ("SHOWROOM_NATS_URL", e.nats_url.clone()),
        (
            "SHOWROOM_NATS_CREDS",
            e.auth_dir
                .join(format!("{name}.creds"))
                .display()
                .to_string(),
        ),
        ("SHOWROOM_DATABASE_URL", e.database_url.clone()),
        ("SHOWROOM_ADMIN_ADDR", format!("127.0.0.1:{admin_port}")),
        ("SHOWROOM_RUN_MIGRATIONS", "false".into()),
        ("SHOWROOM_MAX_DB_CONNECTIONS", "5".into()),
        ("SHOWROOM_STREAM_REPLICAS", e.stream_replicas.to_string()),
        ("RUST_LOG", "warn".into()),
    ];
    let smtp = format!("smtp://127.0.0.1:{}", e.smtp_port);
    let console = "http://127.0.0.1/console".to_string();
    match service {
        Service::Gateway => env.extend([
            (
                "SHOWROOM_HTTP_ADDR",
                format!("127.0.0.1:{}", http_port.unwrap_or(0)),
            ),
            ("SHOWROOM_VISITOR_TOKEN_SECRET", VISITOR_SECRET.into()),
            (
                "SHOWROOM_HEARTBEAT_INTERVAL_SECS",
                e.heartbeat_secs.to_string(),
            ),
        ]),
        Service::Presence => env.push(("SHOWROOM_REDIS_URL", e.redis_url.clone())),
        Service::Router => env.push(("SHOWROOM_TIMER_TICK_MS", "100".into())),
        Service::Bot => env.push(("SHOWROOM_SWEEP_MS", "500".into())),
        Service::LeadCapture => env.push(("SHOWROOM_CONSOLE_URL", console)),
        Service::Notification => env.extend([
            ("SHOWROOM_SMTP_URL", smtp),
            ("SHOWROOM_COALESCE_SECS", "2".into()),
            ("SHOWROOM_TRANSCRIPT_AFTER_SECS", "3".into()),
            ("SHOWROOM_SWEEP_MS", "200".into()),
            ("SHOWROOM_CONSOLE_URL", console),
        ]),
        Service::CrmExport => env.extend([
            ("SHOWROOM_SMTP_URL", smtp),
            (
                "SHOWROOM_NATS_ISSUER",
                e.auth_dir.join("issuer.json").display().to_string(),
            ),
            (
                "SHOWROOM_NATS_SYSTEM_CREDS",
                e.auth_dir.join("system.creds").display().to_string(),
            ),
            // Retries that outlast a fault: nothing dead-letters while a node is down.
            ("SHOWROOM_RETRY_SCHEDULE", "1s 2s 4s 8s 16s 30s".into()),
            ("SHOWROOM_WEBHOOK_TIMEOUT_MS", "2000".into()),
            ("SHOWROOM_SMTP_TIMEOUT_MS", "2000".into()),
            ("SHOWROOM_CLAIM_LEASE_MS", "3000".into()),
            ("SHOWROOM_POLL_MS", "50".into()),
            ("SHOWROOM_OUTBOX_RELAY_MS", "200".into()),
            ("SHOWROOM_WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ]),
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Spawns `binary` (with `args`) in `env` only, its output appended to `log`, killed when the
/// child is dropped; waits until its admin port says ready.
pub(crate) async fn spawn_ready(
    binary: &Path,
    args: &[&str],
    env: &[(String, String)],
    admin_port: u16,
    log: Option<&Path>,
) -> anyhow::Result<Child> {
    let (out, err) = match log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            (Stdio::from(file.try_clone()?), Stdio::from(file))
        }
        // Warnings and errors show in the test's output.
        None => (Stdio::null(), Stdio::inherit()),
    };
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let ready = format!("http://127.0.0.1:{admin_port}/readyz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(&ready).send().await
            && r.status().is_success()
        {
            return Ok(child);
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "{} {args:?} exited at start ({status}){}",
                binary.display(),
                log.map(|l| format!(": {}", tail(l))).unwrap_or_default()
            );
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{} {args:?} was not ready within 60 s",
            binary.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// One process of one service.
struct Replica {
    service: Service,
    index: usize,
    admin_port: u16,
    http_port: Option<u16>,
    child: Option<Child>,
}

/// See the module documentation.
pub struct Fleet {
    /// The NATS cluster's nodes.
    pub nats: Vec<Nats>,
    /// The keys NATS trusts.
    pub trust: Trust,
    auth_dir: tempfile::TempDir,
    /// Redis.
    pub redis: Redis,
    /// Postgres.
    pub pg: Postgres,
    /// The SMTP catcher.
    pub smtp: SmtpCatcher,
    /// A pool on the database, for seeding and checking.
    pub pool: PgPool,
    binary: PathBuf,
    replicas: Vec<Replica>,
    /// Set for every replica besides [`service_env`] (e.g. where traces go).
    extra_env: Vec<(String, String)>,
}

impl Fleet {
    /// Starts the servers and `replicas` processes of every service, from `binary`
    /// (`showroom-service`, which runs any service by name).
    pub async fn start(binary: &Path, replicas: usize) -> anyhow::Result<Fleet> {
        Self::start_with_env(binary, replicas, Vec::new()).await
    }

    /// [`Fleet::start`] with more environment for every replica (e.g.
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub async fn start_with_env(
        binary: &Path,
        replicas: usize,
        extra_env: Vec<(String, String)>,
    ) -> anyhow::Result<Fleet> {
        showroom_telemetry::init_for_tests();
        let trust = Trust::generate();
        let auth_dir = tempfile::Builder::new()
            .prefix("showroom-fleet-")
            .tempdir()?;
        trust.write_local(auth_dir.path())?;
        let mut configs = Vec::new();
        for i in 0..NATS_NODES {
            configs.push(trust.server_config(&auth_dir.path().join(format!("accounts-{i}")))?);
        }
        let nats = Nats::start_cluster(NATS_NODES, |i| configs[i].clone()).await?;
        let maildev = maildev_dir();
        let (redis, pg, smtp) = tokio::try_join!(
            Redis::start(),
            Postgres::start(PostgresOptions::throwaway()),
            SmtpCatcher::start(&maildev),
        )?;
        let pool = showroom_store::connect(&pg.url, 5).await?;
        showroom_store::migrate(&pool).await?;
        let mut fleet = Fleet {
            nats,
            trust,
            auth_dir,
            redis,
            pg,
            smtp,
            pool,
            binary: binary.to_path_buf(),
            replicas: Vec::new(),
            extra_env,
        };
        fleet.wait_for_peers().await?;
        for service in Service::ALL {
            for index in 0..replicas {
                let http_port = match service {
                    Service::Gateway => Some(free_port()?),
                    _ => None,
                };
                fleet.replicas.push(Replica {
                    service,
                    index,
                    admin_port: free_port()?,
                    http_port,
                    child: None,
                });
                fleet.start_replica(service, index).await?;
            }
        }
        Ok(fleet)
    }

    /// Waits until a stream with a replica on every node can be made: a meta leader alone is
    /// not enough, every peer must have joined (services make their streams as they start).
    async fn wait_for_peers(&self) -> anyhow::Result<()> {
        let js = async_nats::jetstream::new(self.nats_client().await?);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let made = js
                .create_stream(async_nats::jetstream::stream::Config {
                    name: "FLEET_PROBE".into(),
                    subjects: vec!["fleet.probe".into()],
                    num_replicas: NATS_NODES,
                    ..Default::default()
                })
                .await;
            match made {
                Ok(_) => {
                    js.delete_stream("FLEET_PROBE").await?;
                    return Ok(());
                }
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => anyhow::bail!("no stream with {NATS_NODES} replicas within 30 s: {e}"),
            }
        }
    }

    /// Every NATS node's client URL, comma-separated (what the services are given).
    pub fn nats_urls(&self) -> String {
        self.nats
            .iter()
            .map(|n| n.url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn endpoints(&self) -> Endpoints {
        Endpoints {
            nats_url: self.nats_urls(),
            auth_dir: self.auth_dir.path().to_path_buf(),
            database_url: self.pg.url.clone(),
            redis_url: self.redis.url.clone(),
            smtp_port: self.smtp.smtp_port,
            stream_replicas: NATS_NODES,
            heartbeat_secs: 60,
        }
    }

    /// Where replica `index` of `service` logs.
    pub fn log_path(&self, service: Service, index: usize) -> PathBuf {
        self.auth_dir
            .path()
            .join(format!("{}-{index}.log", service.name()))
    }

    /// The last lines of every replica's log, for a failing test to print.
    pub fn logs(&self) -> String {
        self.replicas
            .iter()
            .map(|r| {
                format!(
                    "--- {}-{}\n{}",
                    r.service.name(),
                    r.index,
                    tail(&self.log_path(r.service, r.index))
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn replica(&mut self, service: Service, index: usize) -> anyhow::Result<&mut Replica> {
        self.replicas
            .iter_mut()
            .find(|r| r.service == service && r.index == index)
            .with_context(|| format!("no replica {index} of {}", service.name()))
    }

    /// Starts replica `index` of `service` (again, on the same ports) and waits until it is
    /// ready.
    pub async fn start_replica(&mut self, service: Service, index: usize) -> anyhow::Result<()> {
        let endpoints = self.endpoints();
        let log = self.log_path(service, index);
        let binary = self.binary.clone();
        let r = self.replica(service, index)?;
        let mut env = service_env(service, &endpoints, r.admin_port, r.http_port);
        env.extend(self.extra_env.iter().cloned());
        let r = self.replica(service, index)?;
        let child = spawn_ready(&binary, &[service.name()], &env, r.admin_port, Some(&log)).await?;
        r.child = Some(child);
        Ok(())
    }

    /// Kills replica `index` of `service` with SIGKILL (no shutdown at all) and reaps it.
    pub async fn kill_replica(&mut self, service: Service, index: usize) -> anyhow::Result<()> {
        let r = self.replica(service, index)?;
        if let Some(mut child) = r.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Every replica's admin address (`127.0.0.1:PORT`: `/healthz`, `/readyz`, `/metrics`).
    pub fn admin_addrs(&self) -> Vec<(Service, usize, String)> {
        self.replicas
            .iter()
            .map(|r| (r.service, r.index, format!("127.0.0.1:{}", r.admin_port)))
            .collect()
    }

    /// The gateways' base URLs (`http://127.0.0.1:PORT`), replica by replica.
    pub fn gateway_urls(&self) -> Vec<String> {
        self.replicas
            .iter()
            .filter_map(|r| r.http_port)
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect()
    }

    /// A NATS client for the test itself, as the operator's user, on every node.
    pub async fn nats_client(&self) -> anyhow::Result<async_nats::Client> {
        let creds = std::fs::read_to_string(self.auth_dir.path().join("operator.creds"))?;
        let login = Login {
            name: "test",
            creds: Some(&creds),
            ca: None,
        };
        Ok(showroom_bus::client(&self.nats_urls(), login).await?)
    }

    /// Stops every replica (SIGTERM, as Kubernetes does, then waits), then the servers.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for r in self.replicas.iter_mut().rev() {
            if let Some(mut child) = r.child.take() {
                if let Some(pid) = child.id() {
                    let _ = nix_kill_term(pid);
                }
                let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
            }
        }
        Ok(())
    }
}

/// SIGTERM to `pid`.
fn nix_kill_term(pid: u32) -> std::io::Result<()> {
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("kill -TERM {pid}: {status}")))
    }
}
