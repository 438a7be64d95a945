//! Showroom as it runs in production, on one machine: a three-node NATS cluster (JetStream,
//! streams with three replicas), Postgres, Redis, the SMTP catcher, and every service as
//! processes of its own, several replicas each. Any node or replica can be killed and started
//! again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use showroom_bus::Login;
use showroom_localinfra::{Nats, Postgres, PostgresOptions, Redis, SmtpCatcher, free_port};
use showroom_natsauth::Trust;
use showroom_store::sqlx::PgPool;
use tokio::process::Child;

use crate::process::{Endpoints, Service, maildev_dir, service_env, spawn_ready, tail};

/// NATS nodes in the cluster.
pub const NATS_NODES: usize = 3;

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
            // Which statements cost the most, for the load tests (`loadtest soak`).
            Postgres::start(PostgresOptions {
                statements: true,
                ..PostgresOptions::throwaway()
            }),
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

    /// Every running replica's process id, as (service, replica index, pid), e.g. to read its
    /// memory from `/proc/<pid>/status`. A killed replica is left out until it is started again.
    pub fn pids(&self) -> Vec<(Service, usize, u32)> {
        self.replicas
            .iter()
            .filter_map(|r| Some((r.service, r.index, r.child.as_ref()?.id()?)))
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
