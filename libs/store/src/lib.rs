//! Postgres access shared by the services: the pool and the project's migrations.
//!
//! The schema lives in `migrations/` at the repository root and is embedded here, so every
//! binary carries the migrations it expects. Each table has exactly one owning service (the
//! only one that writes it); the owners are listed in `docs/architecture.md`. Queries live in
//! the owning service, not here.
//!
//! # Layout
//! - [`connect`]: a pool with sane limits and time-outs.
//! - [`migrate`]: applies pending migrations (safe to call from many processes at once:
//!   sqlx serialises them with an advisory lock).
//! - [`read`]: read models shared by services (the conversation snapshot).
//! - [`report`]: read-only reports (per-department numbers over a time range).
//! - [`StoreError`]: what went wrong.

pub mod read;
pub mod report;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

pub use sqlx;

/// The project's migrations, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// A database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached.
    #[error("cannot connect to Postgres: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed to apply.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens a pool of at most `max_connections` to `url`.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(StoreError::Connect)
}

/// Where a database URL points, for messages: `host:port/database`, never the password.
pub fn server_of(url: &str) -> String {
    match url.parse::<sqlx::postgres::PgConnectOptions>() {
        Ok(o) => format!(
            "{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("")
        ),
        Err(_) => "(an unreadable URL)".to_string(),
    }
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether the database answers a trivial query (for `/readyz`).
pub async fn ping(pool: &PgPool) -> Result<(), String> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
