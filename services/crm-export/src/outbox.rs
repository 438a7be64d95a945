//! `delivery.*` events through a transactional outbox: each is written to `crm_outbox` in the
//! transaction of the outcome it reports (the events of a batch of outcomes in one statement),
//! published right after the commit and deleted; a relay publishes what a replica that died in
//! between left. The row id is the `Nats-Msg-Id`, so
//! JetStream keeps one copy of an event published twice.

use showroom_bus::{Bus, StoredEvent};
use showroom_proto::delivery::{DeliveryEvent, DeliveryEventKind};
use showroom_proto::{Envelope, v1};
use showroom_runtime::outbox::Outbox;
use showroom_store::sqlx::{self, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Events staged in one transaction, published once it commits.
#[derive(Default)]
pub(crate) struct Staged(Vec<StoredEvent>);

impl Staged {
    /// Adds an event; [`Staged::write`] writes them all into the outbox.
    pub(crate) fn add(
        &mut self,
        group: Uuid,
        kind: DeliveryEventKind,
        event: DeliveryEvent,
    ) -> Result<(), sqlx::Error> {
        let env = Envelope::new(group, event);
        let stored = StoredEvent::new(v1::delivery_event(group, kind.as_str()), &env)
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        self.0.push(stored);
        Ok(())
    }

    /// Writes every event added into the outbox within `tx`, in one statement.
    pub(crate) async fn write(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(), sqlx::Error> {
        Outbox::Crm.write(tx, &self.0).await
    }

    /// Publishes what was staged (call after the commit) and deletes the rows; a failure
    /// leaves them to the relay ([`Outbox::relay`], started with the service).
    pub(crate) async fn flush(self, bus: &Bus, pool: &PgPool) {
        Outbox::Crm.publish(bus, pool, &self.0).await;
    }
}
