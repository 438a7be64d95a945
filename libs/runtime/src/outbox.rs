//! The transactional outbox the services share: an event is written to its service's outbox
//! table in the transaction of the change it describes, published right after the commit and
//! deleted; a relay on every replica publishes the rows a replica that died in between left.
//! The row id is the `Nats-Msg-Id`, so JetStream keeps one copy of an event published twice.
//!
//! Every outbox table has the same shape: `id uuid, subject text, payload bytea,
//! traceparent text, created_at timestamptz`.

use std::time::Duration;

use showroom_bus::{Bus, StoredEvent};
use showroom_store::sqlx::{self, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Rows older than this are taken to belong to a replica that died before publishing them.
pub const ORPHAN_AFTER: Duration = Duration::from_secs(2);

/// The outbox tables, each owned by one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    /// The router's `conversation_outbox` (conversation and internal chat events).
    Conversations,
    /// crm-export's `crm_outbox` (delivery outcomes).
    Crm,
    /// lead-capture's `lead_outbox` (lead CloudEvents).
    Leads,
}

/// The statements of one table (sqlx wants them static).
struct Sql {
    name: &'static str,
    backlog: &'static str,
    insert: &'static str,
    orphans: &'static str,
    delete: &'static str,
}

macro_rules! sql_for {
    ($table:literal) => {
        Sql {
            name: $table,
            backlog: concat!(
                "SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM ",
                $table
            ),
            insert: concat!(
                "INSERT INTO ",
                $table,
                " (id, subject, payload, traceparent) \
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[])"
            ),
            orphans: concat!(
                "SELECT id, subject, payload, traceparent FROM ",
                $table,
                " WHERE created_at < now() - make_interval(secs => $1) \
                 ORDER BY created_at LIMIT 500 FOR UPDATE SKIP LOCKED"
            ),
            delete: concat!("DELETE FROM ", $table, " WHERE id = ANY($1)"),
        }
    };
}

impl Outbox {
    fn sql(self) -> Sql {
        match self {
            Self::Conversations => sql_for!("conversation_outbox"),
            Self::Crm => sql_for!("crm_outbox"),
            Self::Leads => sql_for!("lead_outbox"),
        }
    }

    /// Writes `events` in one statement on `db` (the change's transaction).
    pub async fn write(
        self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), sqlx::Error> {
        if events.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let subjects: Vec<&str> = events.iter().map(|e| e.subject.as_str()).collect();
        let payloads: Vec<&[u8]> = events.iter().map(|e| e.payload.as_slice()).collect();
        let traces: Vec<Option<&str>> = events.iter().map(|e| e.traceparent.as_deref()).collect();
        sqlx::query(self.sql().insert)
            .bind(&ids)
            .bind(&subjects)
            .bind(&payloads)
            .bind(&traces)
            .execute(db)
            .await?;
        Ok(())
    }

    /// Sets the gauges of the rows waiting in this outbox and the age of the oldest
    /// (`/metrics`); a failed read leaves them as they were.
    pub async fn record_backlog(self, pool: &PgPool) {
        use showroom_telemetry::metrics::names;
        let sql = self.sql();
        match sqlx::query_as::<_, (i64, Option<f64>)>(sql.backlog)
            .fetch_one(pool)
            .await
        {
            Ok((rows, oldest)) => {
                metrics::gauge!(names::OUTBOX_PENDING, "outbox" => sql.name).set(rows as f64);
                metrics::gauge!(names::OUTBOX_OLDEST_AGE, "outbox" => sql.name)
                    .set(oldest.unwrap_or(0.0).max(0.0));
            }
            Err(e) => tracing::debug!(error = %e, outbox = sql.name, "cannot read the backlog"),
        }
    }

    /// Deletes published rows.
    pub async fn delete(self, pool: &PgPool, ids: &[Uuid]) -> Result<(), sqlx::Error> {
        sqlx::query(self.sql().delete)
            .bind(ids)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Publishes committed events and deletes their rows; a failure leaves them to the relay.
    pub async fn publish(self, bus: &Bus, pool: &PgPool, events: &[StoredEvent]) {
        if events.is_empty() {
            return;
        }
        if let Err(e) = bus.publish_stored(events).await {
            tracing::warn!(error = %e, outbox = ?self, "events stay in the outbox for the relay");
            return;
        }
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        if let Err(e) = self.delete(pool, &ids).await {
            tracing::warn!(error = %e, outbox = ?self, "cannot clear published outbox rows; the relay will");
        }
    }

    /// Publishes, every `every`, the rows a replica left behind, until `shutdown`.
    pub async fn relay(self, bus: Bus, pool: PgPool, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match self.relay_once(&bus, &pool).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(events = n, outbox = ?self, "relayed events left in the outbox")
                }
                Err(e) => {
                    tracing::warn!(error = %e, outbox = ?self, "outbox relay failed; retrying")
                }
            }
        }
    }

    /// One pass of the relay: locks the orphans (another replica's relay skips them),
    /// publishes, deletes, commits.
    pub async fn relay_once(self, bus: &Bus, pool: &PgPool) -> anyhow::Result<usize> {
        let sql = self.sql();
        let mut tx = pool.begin().await?;
        let rows: Vec<(Uuid, String, Vec<u8>, Option<String>)> = sqlx::query_as(sql.orphans)
            .bind(ORPHAN_AFTER.as_secs_f64())
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let events: Vec<StoredEvent> = rows
            .into_iter()
            .map(|(id, subject, payload, traceparent)| StoredEvent {
                id,
                subject,
                payload,
                traceparent,
            })
            .collect();
        bus.publish_stored(&events).await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        sqlx::query(sql.delete).bind(&ids).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(events.len())
    }
}
