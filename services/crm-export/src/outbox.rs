//! `delivery.*` events through a transactional outbox: each is written to `crm_outbox` in the
//! transaction of the outcome it reports, published right after the commit and deleted; a relay
//! publishes what a replica that died in between left. The row id is the `Nats-Msg-Id`, so
//! JetStream keeps one copy of an event published twice.

use std::time::Duration;

use showroom_bus::{Bus, StoredEvent};
use showroom_proto::delivery::{DeliveryEvent, DeliveryEventKind};
use showroom_proto::{Envelope, v1};
use showroom_store::sqlx::{self, PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Rows older than this are taken to belong to a replica that died before publishing them.
const ORPHAN_AFTER_MS: f64 = 2000.0;

/// Events staged in one transaction, published once it commits.
#[derive(Default)]
pub(crate) struct Staged(Vec<StoredEvent>);

impl Staged {
    /// Writes the event into the outbox within `tx`.
    pub(crate) async fn add(
        &mut self,
        tx: &mut Transaction<'_, Postgres>,
        group: Uuid,
        kind: DeliveryEventKind,
        event: DeliveryEvent,
    ) -> Result<(), sqlx::Error> {
        let env = Envelope::new(group, event);
        let stored = StoredEvent::new(v1::delivery_event(group, kind.as_str()), &env)
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        sqlx::query(
            "INSERT INTO crm_outbox (id, subject, payload, traceparent) VALUES ($1, $2, $3, $4)",
        )
        .bind(stored.id)
        .bind(&stored.subject)
        .bind(&stored.payload)
        .bind(&stored.traceparent)
        .execute(&mut **tx)
        .await?;
        self.0.push(stored);
        Ok(())
    }

    /// Publishes what was staged (call after the commit) and deletes the rows; a failure
    /// leaves them to the relay.
    pub(crate) async fn flush(self, bus: &Bus, pool: &PgPool) {
        if self.0.is_empty() {
            return;
        }
        if let Err(e) = bus.publish_stored(&self.0).await {
            tracing::warn!(error = %e, "delivery events stay in the outbox for the relay");
            return;
        }
        let ids: Vec<Uuid> = self.0.iter().map(|e| e.id).collect();
        if let Err(e) = sqlx::query("DELETE FROM crm_outbox WHERE id = ANY($1)")
            .bind(&ids)
            .execute(pool)
            .await
        {
            tracing::warn!(error = %e, "cannot clear published outbox rows; the relay will");
        }
    }
}

/// Publishes rows a replica left behind, every `every`.
pub(crate) async fn relay(bus: Bus, pool: PgPool, every: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match relay_once(&bus, &pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "relayed delivery events left in the outbox"),
            Err(e) => tracing::warn!(error = %e, "delivery outbox relay failed; retrying"),
        }
    }
}

async fn relay_once(bus: &Bus, pool: &PgPool) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, String, Vec<u8>, Option<String>)> = sqlx::query_as(
        "SELECT id, subject, payload, traceparent FROM crm_outbox \
         WHERE created_at < now() - make_interval(secs => $1::float8 / 1000) \
         ORDER BY created_at LIMIT 500 FOR UPDATE SKIP LOCKED",
    )
    .bind(ORPHAN_AFTER_MS)
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
    sqlx::query("DELETE FROM crm_outbox WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(events.len())
}
