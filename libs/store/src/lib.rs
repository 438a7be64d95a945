//! Postgres access shared by the services: the pool and the project's migrations.
//!
//! The schema lives in `migrations/` at the repository root and is embedded here, so every
//! binary carries the migrations it expects. Each table has exactly one owning service (the
//! only one that writes it); the owners are listed in `docs/architecture.md`. Queries live in
//! the owning service, not here.
//!
//! # Layout
//! - [`connect`]: a pool with sane limits and time-outs.
//! - [`migrate`], [`migrate_reporting`], [`migrator`]: applies pending migrations (safe to
//!   call from many processes at once: sqlx serialises them with an advisory lock), leaving
//!   newer ones a newer release applied.
//! - [`server_of`]: where a database URL points, for messages (no password).
//! - [`begin_by_index`]: a transaction whose statements reach rows through indexes, whatever
//!   the statistics say.
//! - [`begin_generic`]: a transaction whose prepared statements run their generic plan (for
//!   statements over arrays of rows, which Postgres would otherwise plan at every execution).
//! - [`fault`]: what a Postgres failure means to the caller (conflict, missing, retry, bad
//!   value, bug), one mapping for REST and the bus.
//! - [`plan`]: what one statement's plan costs, run for real (for tests that keep hot
//!   statements on their indexes), and how often a session planned a prepared statement.
//! - [`privacy`]: runs an owner's statements that erase or export one shopper's rows.
//! - [`read`]: read models shared by services (the conversation snapshot).
//! - [`report`]: read-only reports (per-department numbers over a time range).
//! - [`trends`]: read-only trends (the dashboard's numbers per hour or day of a range).
//! - [`StoreError`]: what went wrong.

pub mod fault;
pub mod plan;
pub mod privacy;
pub mod read;
pub mod report;
pub mod trends;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

pub use sqlx;

/// The project's migrations, embedded at build time. Migrations the database has and this
/// binary does not know (a newer release applied them) are allowed: a rolled-back binary starts
/// against the newer schema, which migrations keep compatible (expand, then contract; see
/// `docs/architecture.md`).
pub fn migrator() -> Migrator {
    let mut m = sqlx::migrate!("../../migrations");
    m.set_ignore_missing(true);
    m
}

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

/// A pool of at most `max_connections`, waiting at most 5 s for one.
fn pool(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
}

/// Opens a pool of at most `max_connections` to `url`.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    pool(max_connections)
        .connect(url)
        .await
        .map_err(StoreError::Connect)
}

/// [`connect`] for a service: its connections carry `application_name` = `name` (unless the
/// URL sets one), so `pg_stat_activity` and the server's log say which service runs what.
pub async fn connect_as(url: &str, max_connections: u32, name: &str) -> Result<PgPool, StoreError> {
    let mut options: sqlx::postgres::PgConnectOptions = url.parse().map_err(StoreError::Connect)?;
    if options.get_application_name().is_none() {
        options = options.application_name(name);
    }
    pool(max_connections)
        .connect_with(options)
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
    migrator().run(pool).await?;
    Ok(())
}

/// What [`migrate_reporting`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied now.
    pub applied: Vec<i64>,
    /// The newest version this binary knows.
    pub known: i64,
    /// Versions the database has that this binary does not know (a newer release applied them).
    pub unknown: Vec<i64>,
}

impl std::fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.applied.as_slice() {
            [] => write!(
                f,
                "the schema was up to date (newest known migration {})",
                self.known
            )?,
            a => write!(f, "applied {} migration(s): {a:?}", a.len())?,
        }
        if !self.unknown.is_empty() {
            write!(
                f,
                "; the database also has {:?}, newer than this binary: left as they are",
                self.unknown
            )?;
        }
        Ok(())
    }
}

/// [`migrate`], saying which migrations it applied and which newer ones it found.
pub async fn migrate_reporting(pool: &PgPool) -> Result<MigrationReport, StoreError> {
    let applied = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            let exists: bool =
                sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(&pool)
                    .await
                    .map_err(StoreError::Connect)?;
            if !exists {
                return Ok::<Vec<i64>, StoreError>(Vec::new());
            }
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&pool)
            .await
            .map_err(StoreError::Connect)
        }
    };
    let before = applied(pool).await?;
    migrate(pool).await?;
    let after = applied(pool).await?;
    let m = migrator();
    let known: Vec<i64> = m.iter().map(|x| x.version).collect();
    Ok(MigrationReport {
        applied: after
            .iter()
            .filter(|v| !before.contains(v))
            .copied()
            .collect(),
        known: known.iter().copied().max().unwrap_or(0),
        unknown: after.into_iter().filter(|v| !known.contains(v)).collect(),
    })
}

/// Whether the database answers a trivial query (for `/readyz`).
pub async fn ping(pool: &PgPool) -> Result<(), String> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Begins a transaction on `pool` whose prepared statements run their generic plan (`SET LOCAL
/// plan_cache_mode`, sent with the `BEGIN` in one round trip; it ends with the transaction).
///
/// For statements over arrays of rows (`unnest`): Postgres plans such a statement afresh for
/// every execution when the generic plan's estimate (ten rows an array) costs more than the
/// plans made for the arrays given, which it does for a statement of many steps, and the
/// planning then costs more than the execution (about 3 ms against 0.4 for the router's
/// statement that writes a batch of chats; `loadtest/README.md`, "One statement for a batch
/// of starts").
pub async fn begin_generic(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin_with("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan")
        .await
}

/// Begins a transaction on `pool` whose statements reach rows through their indexes, by nested
/// loops, whatever the planner's statistics say (`SET LOCAL`, sent with the `BEGIN` in one
/// round trip; it ends with the transaction).
///
/// For statements that touch a few rows by key (over arrays, `unnest`): right after a burst of
/// inserts, before autovacuum has analysed the table again, the statistics (and plans cached
/// from them) can still call a table of thousands of rows a few pages, and the planner then
/// reads it whole and hashes it, once per statement. Measured in crm-export's claims and
/// recorder under a burst of leads (`loadtest/README.md`, "Plans that hold with stale
/// statistics").
pub async fn begin_by_index(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin_with(
        "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; \
         SET LOCAL enable_mergejoin = off",
    )
    .await
}
