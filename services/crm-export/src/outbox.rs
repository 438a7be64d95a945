//! `delivery.*` events through a transactional outbox: each is written to `crm_outbox` in the
//! transaction of the outcome it reports, published right after the commit and deleted; a relay
//! publishes what a replica that died in between left. The row id is the `Nats-Msg-Id`, so
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
        Outbox::Crm.write(tx, std::slice::from_ref(&stored)).await?;
        self.0.push(stored);
        Ok(())
    }

    /// Publishes what was staged (call after the commit) and deletes the rows; a failure
    /// leaves them to the relay ([`Outbox::relay`], started with the service).
    pub(crate) async fn flush(self, bus: &Bus, pool: &PgPool) {
        Outbox::Crm.publish(bus, pool, &self.0).await;
    }
}
