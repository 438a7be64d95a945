//! The retention sweep every service that owns shoppers' data runs on its own tables
//! (`docs/architecture.md`, "Retention and shoppers' rights").
//!
//! A service lists its tables as [`Sweep`]s: one `DELETE` each, which removes at most `$2` rows
//! whose last use is older than the group's period (`retention_settings`, owned by the gateway;
//! no row: [`DEFAULT_DAYS`]) before `$1`, the sweep's "now". Each statement claims its rows with
//! `FOR UPDATE … SKIP LOCKED` and is its own transaction, so replicas sweeping at the same time
//! share the rows instead of waiting on each other, and each deleted row is counted once, by the
//! replica whose `DELETE` removed it. [`run`] repeats a statement until a batch comes back short;
//! [`spawn`] runs every [`Schedule::retention_sweep_minutes`].
//!
//! [`serve`] also answers the gateway's erase and export requests for the owner's tables
//! (`privacy.erase_<owner>`, `privacy.export_<owner>`) with the owner's [`Step`]s.
//!
//! "Now" is a parameter so that a test (or an operator checking what a shorter period would
//! remove, on a copy) can sweep as of another time through the same code path.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use showroom_proto::Envelope;
use showroom_proto::retention::{Erased, Exported, PrivacyCommand, PrivacyOwner, ShopperRefs};
use showroom_proto::v1::{self, Group};
use showroom_store::fault::db_error;
use showroom_store::privacy::{self, Step};
use showroom_store::sqlx::{self, PgPool};
use showroom_telemetry::metrics::names;

use crate::Base;

/// The law's default when a group chose nothing: two years after the last use.
pub const DEFAULT_DAYS: i32 = 730;

/// One table's sweep: a `DELETE` of at most `$2` rows whose last use is before the group's
/// cut-off as of `$1` (`retention_cutoff(x.group_id, kind, $1)`, or `conversation_expired(c, $1)`
/// for a conversation's rows), claimed `FOR UPDATE … SKIP LOCKED`. The per-row condition comes
/// with an indexable bound of the same kind, `x.<last use> < retention_horizon(kind, $1)` (for
/// conversations `c.ended_at`), the latest cut-off of any group, so that an index range finds
/// the candidates instead of a read of the whole table
/// (`migrations/20261203000043_retention_horizon.sql`).
#[derive(Debug, Clone, Copy)]
pub struct Sweep {
    /// The table (the `table` label of [`names::RETENTION_DELETED`]).
    pub table: &'static str,
    /// The statement: `$1` the sweep's now (timestamptz), `$2` the batch size (bigint).
    pub delete: &'static str,
}

/// When and how much the sweep deletes (`SHOWROOM_RETENTION_SWEEP_MINUTES`,
/// `SHOWROOM_RETENTION_BATCH`): the same two settings for every service.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Schedule {
    /// Minutes between two sweeps of a replica (0: never; the first runs a minute after start).
    pub retention_sweep_minutes: u64,
    /// Rows deleted per transaction.
    pub retention_batch: i64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            retention_sweep_minutes: 60,
            retention_batch: 500,
        }
    }
}

impl Schedule {
    /// The defaults, overridden by the environment.
    pub fn from_env() -> Result<Self, showroom_config::ConfigError> {
        showroom_config::load()
    }
}

/// Rows deleted, by table.
pub type Swept = BTreeMap<&'static str, u64>;

/// Applies `sweeps` in order as of `now`, `batch` rows per transaction, until each has nothing
/// left; counts every row deleted in [`names::RETENTION_DELETED`] and answers the counts.
pub async fn run(
    pool: &PgPool,
    sweeps: &[Sweep],
    now: sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc>,
    batch: i64,
) -> Result<Swept, sqlx::Error> {
    let batch = batch.max(1);
    let mut swept = Swept::new();
    for s in sweeps {
        let total = swept.entry(s.table).or_default();
        loop {
            let n = sqlx::query(s.delete)
                .bind(now)
                .bind(batch)
                .execute(pool)
                .await?
                .rows_affected();
            metrics::counter!(names::RETENTION_DELETED, "table" => s.table).increment(n);
            *total += n;
            if n < batch as u64 {
                break;
            }
        }
    }
    Ok(swept)
}

/// Runs `sweeps` every `schedule.retention_sweep_minutes` until shutdown (a failed sweep is
/// logged and tried again at the next turn). Counters start at zero, so a dashboard sees each
/// table before its first deletion.
pub fn spawn(base: &Base, sweeps: &'static [Sweep], schedule: Schedule) {
    for s in sweeps {
        metrics::counter!(names::RETENTION_DELETED, "table" => s.table).increment(0);
    }
    if schedule.retention_sweep_minutes == 0 {
        return;
    }
    let every = Duration::from_secs(schedule.retention_sweep_minutes.saturating_mul(60));
    let (pool, shutdown, name) = (base.pool.clone(), base.shutdown.clone(), base.name);
    base.tracker.spawn(async move {
        let mut next = tokio::time::Instant::now() + Duration::from_secs(60).min(every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
            }
            next = tokio::time::Instant::now() + every;
            let now = sqlx::types::chrono::Utc::now();
            match run(&pool, sweeps, now, schedule.retention_batch).await {
                Ok(swept) => {
                    let deleted: u64 = swept.values().sum();
                    if deleted > 0 {
                        tracing::info!(service = name, ?swept, "retention sweep deleted rows");
                    }
                }
                Err(e) => tracing::warn!(service = name, error = %e, "retention sweep failed"),
            }
        }
    });
}

/// One owner's part of retention and shoppers' rights: its sweeps, and the statements that
/// erase and export one shopper's rows of its tables.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    /// Which owner (the subjects it serves).
    pub owner: PrivacyOwner,
    /// Its retention sweeps, in order.
    pub sweeps: &'static [Sweep],
    /// Its erasure, in order, in one transaction.
    pub erase: &'static [Step],
    /// Its export.
    pub export: &'static [Step],
}

/// Serves `owner`'s erase and export requests and starts its sweep on `schedule`
/// (from [`Schedule::from_env`]).
pub async fn serve(base: &Base, owner: &'static Owner, schedule: Schedule) -> anyhow::Result<()> {
    let pool = base.pool.clone();
    base.host
        .serve(
            &format!("erase_{}", owner.owner.as_str()),
            v1::privacy_command(Group::Any, owner.owner, PrivacyCommand::Erase),
            move |group, env: Envelope<ShopperRefs>| {
                let pool = pool.clone();
                async move {
                    let erased: Erased = privacy::erase(&pool, group, &env.data, owner.erase)
                        .await
                        .map_err(db_error)?;
                    Ok(erased)
                }
            },
        )
        .await?;
    let pool = base.pool.clone();
    base.host
        .serve(
            &format!("export_{}", owner.owner.as_str()),
            v1::privacy_command(Group::Any, owner.owner, PrivacyCommand::Export),
            move |group, env: Envelope<ShopperRefs>| {
                let pool = pool.clone();
                async move {
                    let exported: Exported = privacy::export(&pool, group, &env.data, owner.export)
                        .await
                        .map_err(db_error)?;
                    Ok(exported)
                }
            },
        )
        .await?;
    spawn(base, owner.sweeps, schedule);
    Ok(())
}
