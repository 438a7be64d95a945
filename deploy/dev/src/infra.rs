//! The real servers the services need, from `showroom-localinfra`, on free loopback ports.

use std::path::{Path, PathBuf};

use anyhow::Context;
use showroom_localinfra::{Nats, Postgres, PostgresOptions, Redis, SmtpCatcher};
use showroom_natsauth::Trust;

use crate::layout::Layout;
use crate::secret;

/// The dev stack's NATS trust chain, kept in `dir/trust.json` (made once, mode 0600, so the
/// JetStream store in `.dev/nats` stays the same account's), with every credential written
/// next to it. Returns nats-server's configuration.
fn nats_auth(dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let saved = dir.join("trust.json");
    let trust = match std::fs::read_to_string(&saved) {
        Ok(text) => Trust::from_json(&text)
            .with_context(|| format!("reading {} (delete it to start afresh)", saved.display()))?,
        Err(_) => {
            let trust = Trust::generate();
            secret::write_private(&saved, &trust.to_json()?)?;
            trust
        }
    };
    let config = trust.write_local(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|e| e == "creds" || e == "json")
        {
            secret::restrict(&path)?;
        }
    }
    Ok(config)
}

/// NATS, Redis, PostgreSQL and maildev. Dropping it stops them all.
#[derive(Debug)]
pub struct Infra {
    /// NATS with JetStream, its store in `.dev/nats`, in operator mode: anonymous connections
    /// are refused and each service connects with its own credentials from `.dev/nats-auth`.
    pub nats: Nats,
    /// Where the credentials are: `<service>.creds`, and `operator.creds` for the `nats` CLI.
    pub auth_dir: PathBuf,
    /// Redis (nothing persisted).
    pub redis: Redis,
    /// PostgreSQL, its cluster in `.dev/pg`, durable.
    pub pg: Postgres,
    /// maildev, from `deploy/node_modules`.
    pub smtp: SmtpCatcher,
}

impl Infra {
    /// Starts all four at once; returns when each answers. If one fails, the others are
    /// stopped again (dropped).
    pub async fn start(layout: &Layout) -> anyhow::Result<Infra> {
        let nats_dir = layout.dev_dir.join("nats");
        let auth_dir = layout.dev_dir.join("nats-auth");
        let nats_config = nats_auth(&auth_dir)?;
        let pg_dir = layout.dev_dir.join("pg");
        let maildev_dir = layout.root.join("deploy");
        let (nats, redis, pg, smtp) = tokio::try_join!(
            async {
                Nats::start_with(Some(nats_dir), Some(&nats_config))
                    .await
                    .context("starting NATS (nats-server -js)")
            },
            async { Redis::start().await.context("starting Redis") },
            async {
                Postgres::start(PostgresOptions::persistent(pg_dir))
                    .await
                    .context("starting PostgreSQL")
            },
            async {
                SmtpCatcher::start(&maildev_dir)
                    .await
                    .context("starting the SMTP catcher (maildev)")
            },
        )?;
        Ok(Infra {
            nats,
            auth_dir,
            redis,
            pg,
            smtp,
        })
    }

    /// The credentials file of a service (or `operator`).
    pub fn creds(&self, user: &str) -> PathBuf {
        self.auth_dir.join(format!("{user}.creds"))
    }

    /// The SMTP URL of the catcher.
    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp.smtp_port)
    }

    /// The first server whose process is gone, with its log.
    pub fn dead(&self) -> Option<(&'static str, PathBuf)> {
        let servers: [(&'static str, Option<u32>, &Path); 4] = [
            ("NATS", self.nats.pid(), self.nats.log_path()),
            ("Redis", self.redis.pid(), self.redis.log_path()),
            ("PostgreSQL", self.pg.pid(), self.pg.log_path()),
            ("maildev", self.smtp.pid(), self.smtp.log_path()),
        ];
        servers
            .into_iter()
            .find(|(_, pid, _)| !pid.is_some_and(is_running))
            .map(|(what, _, log)| (what, log.to_path_buf()))
    }

    /// Stops every server gracefully (PostgreSQL with a fast shutdown, so the next start needs
    /// no recovery).
    pub async fn stop(mut self) {
        self.smtp.stop().await;
        self.redis.stop().await;
        self.nats.stop().await;
        self.pg.stop().await;
    }
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
fn is_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .is_some_and(|state| !matches!(state, 'Z' | 'X' | 'x'))
}
