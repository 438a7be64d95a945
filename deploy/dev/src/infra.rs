//! The real servers the services need, from `showroom-localinfra`, on free loopback ports.

use std::path::{Path, PathBuf};

use anyhow::Context;
use showroom_localinfra::{Nats, Postgres, PostgresOptions, Redis, SmtpCatcher};

use crate::layout::Layout;

/// NATS, Redis, PostgreSQL and maildev. Dropping it stops them all.
#[derive(Debug)]
pub struct Infra {
    /// NATS with JetStream, its store in `.dev/nats`.
    pub nats: Nats,
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
        let pg_dir = layout.dev_dir.join("pg");
        let maildev_dir = layout.root.join("deploy");
        let (nats, redis, pg, smtp) = tokio::try_join!(
            async {
                Nats::start(Some(nats_dir))
                    .await
                    .context("starting NATS (nats-server -js)")
            },
            async { Redis::start().await.context("starting Redis") },
            async {
                Postgres::start(PostgresOptions {
                    data_dir: Some(pg_dir),
                    durable: true,
                })
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
            redis,
            pg,
            smtp,
        })
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
