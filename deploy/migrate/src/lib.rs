//! `showroom-migrate`: applies the pending migrations to `SHOWROOM_DATABASE_URL`, then exits.
//!
//! Run by the Kubernetes Job `migrate` before a rollout (`k8s/base/migrate.yaml`), connected
//! straight to Postgres (not through PgBouncer: sqlx serialises migrations with a session
//! advisory lock), with a user that may change the schema; the services then run with
//! `SHOWROOM_RUN_MIGRATIONS=false` and a user that needs no DDL. A database that already has
//! migrations this binary does not know (a newer release ran) is left as it is and said so: the
//! older binary works against it (migrations expand, then contract; `docs/architecture.md`).
//!
//! # Layout
//! - [`run`] connects, migrates and reports.
//! - [`Config`] is what it reads (`SHOWROOM_DATABASE_URL`).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use showroom_config::Secret;

/// What it reads from the environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// Postgres, straight (not through a transaction-mode pooler).
    pub database_url: Secret,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: Secret::new("postgres://postgres@127.0.0.1:5432/showroom"),
        }
    }
}

/// Applies what is pending; answers what it did.
pub async fn run() -> anyhow::Result<String> {
    let config: Config = showroom_config::load().context("reading SHOWROOM_DATABASE_URL")?;
    let url = config.database_url.expose();
    let pool = showroom_store::connect(url, 1).await.with_context(|| {
        format!(
            "connecting to Postgres at {}",
            showroom_store::server_of(url)
        )
    })?;
    let report = showroom_store::migrate_reporting(&pool)
        .await
        .context("applying the migrations")?;
    Ok(report.to_string())
}
