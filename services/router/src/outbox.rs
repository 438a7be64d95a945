//! The transactional outbox: every conversation (and internal chat) event is written in the transaction of the
//! change it describes, published right after the commit by the replica that made it, and by
//! any replica's relay if that one died first. JetStream drops the second copy of a row (same
//! `Nats-Msg-Id`), so consumers see each event once and never miss one.

use showroom_bus::{Bus, StoredEvent};
use showroom_proto::conversation::{
    Conversation, ConversationEvent, ConversationEventKind, Transfer,
};
use showroom_proto::{Envelope, v1};
use showroom_runtime::outbox::Outbox;
use showroom_store::sqlx::{self, PgPool};
use showroom_telemetry::metrics::names;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Events staged in one transaction, to publish once it commits, and the offers among them.
#[derive(Default)]
pub(crate) struct Staged(Vec<StoredEvent>, u64);

impl Staged {
    /// Adds a conversation event; [`Staged::commit`] writes it with the change.
    pub(crate) fn event(
        &mut self,
        kind: ConversationEventKind,
        conversation: &Conversation,
        offered_to: Vec<Uuid>,
        withdrawn_from: Vec<Uuid>,
        transfer: Option<Transfer>,
    ) -> Result<(), sqlx::Error> {
        let group = conversation.group_id;
        let env = Envelope::new(
            group,
            ConversationEvent {
                kind,
                conversation: conversation.clone(),
                offered_to,
                withdrawn_from,
                transfer,
            },
        );
        let stored = StoredEvent::new(v1::conversation_event(group, kind), &env)
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        if kind == ConversationEventKind::Offered {
            self.1 += env.data.offered_to.len() as u64;
        }
        self.0.push(stored);
        Ok(())
    }

    /// Adds the events of a chat just routed: `offline`, or `queued` and (when someone was)
    /// `offered`.
    pub(crate) fn routed(
        &mut self,
        now: &Conversation,
        offered_to: &[Uuid],
    ) -> Result<(), sqlx::Error> {
        if now.state.is_closed() {
            return self.event(
                ConversationEventKind::Offline,
                now,
                Vec::new(),
                Vec::new(),
                None,
            );
        }
        self.event(
            ConversationEventKind::Queued,
            now,
            Vec::new(),
            Vec::new(),
            None,
        )?;
        if !offered_to.is_empty() {
            self.event(
                ConversationEventKind::Offered,
                now,
                offered_to.to_vec(),
                Vec::new(),
                None,
            )?;
        }
        Ok(())
    }

    /// The agents offered a chat by these events (`showroom_offers_total` once committed).
    pub(crate) fn offers(&self) -> u64 {
        self.1
    }

    /// The subjects of the events staged so far, in order.
    #[cfg(test)]
    pub(crate) fn subjects(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.subject.as_str()).collect()
    }

    /// Adds an event built elsewhere (an internal chat's).
    pub(crate) fn push(&mut self, event: StoredEvent) {
        self.0.push(event);
    }

    /// Writes the staged events into the outbox (one statement) and commits the transaction:
    /// the change and its events are durable together.
    pub(crate) async fn commit(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    ) -> Result<(), sqlx::Error> {
        Outbox::Conversations.write(&mut tx, &self.0).await?;
        tx.commit().await
    }

    /// Commits the change with these events ([`Staged::commit`]), counts its offers
    /// (`showroom_offers_total`), then publishes them ([`Staged::flush`]).
    pub(crate) async fn commit_then_publish(
        self,
        tx: sqlx::Transaction<'_, sqlx::Postgres>,
        bus: &Bus,
        published: &mpsc::UnboundedSender<Uuid>,
    ) -> Result<(), sqlx::Error> {
        self.commit(tx).await?;
        metrics::counter!(names::OFFERS).increment(self.offers());
        self.flush(bus, published).await;
        Ok(())
    }

    /// Publishes what was staged (after the commit) and hands the ids to [`clear`]. A failure
    /// leaves the rows to the relay.
    pub(crate) async fn flush(self, bus: &Bus, published: &mpsc::UnboundedSender<Uuid>) {
        if self.0.is_empty() {
            return;
        }
        if let Err(e) = bus.publish_stored(&self.0).await {
            tracing::warn!(error = %e, "events stay in the outbox for the relay");
            return;
        }
        for e in &self.0 {
            // Closed only at shutdown; the relay republishes what is left (deduplicated).
            let _ = published.send(e.id);
        }
    }
}

/// Removes published events from the outbox, many per statement, until the machine is gone.
/// What a crash leaves behind, the relay republishes and JetStream drops as a duplicate.
pub(crate) async fn clear(pool: PgPool, mut published: mpsc::UnboundedReceiver<Uuid>) {
    let mut batch = Vec::with_capacity(1024);
    while published.recv_many(&mut batch, 1024).await > 0 {
        if let Err(e) = Outbox::Conversations.delete(&pool, &batch).await {
            tracing::warn!(error = %e, "cannot clear published outbox rows; the relay will");
        }
        batch.clear();
    }
}
