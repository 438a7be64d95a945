//! An appointment booked, moved or cancelled in a chat (issue 20, item 1): the chat's leads
//! carry it (`Lead::appointments`, read from the gateway's `appointments` with the lead), so
//! each gets a change in its history and a `lead.updated`.

use serde_json::json;
use showroom_bus::StoredEvent;
use showroom_proto::CommandError;
use showroom_proto::appointment::AppointmentChanged;
use showroom_proto::lead::LEAD_UPDATED;
use showroom_store::read::{self, LeadFilter};
use showroom_store::sqlx;
use uuid::Uuid;

use super::{Leads, db_error};
use showroom_runtime::outbox::Outbox;

impl Leads {
    /// Tells the leads of the appointment's chat: each gets an `appointment` change (once per
    /// appointment and sequence, so a retried request changes nothing) and a `lead.updated`.
    /// Answers the leads changed (none when the chat has no lead yet: a lead made later reads
    /// the chat's appointments when it is made).
    pub async fn appointment(
        &self,
        group: Uuid,
        _request: Uuid,
        cmd: AppointmentChanged,
    ) -> Result<Vec<Uuid>, CommandError> {
        let Some(conversation) = cmd.appointment.conversation_id else {
            return Ok(Vec::new());
        };
        let leads = read::leads(
            &self.pool,
            group,
            LeadFilter::Conversation(conversation),
            100,
            &self.console_url,
        )
        .await
        .map_err(db_error)?;
        let after = json!({
            "appointment_id": cmd.appointment.id,
            "change": cmd.change,
            "sequence": cmd.appointment.sequence,
        });
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let mut events: Vec<StoredEvent> = Vec::new();
        let mut changed = Vec::new();
        let result: Result<(), sqlx::Error> = async {
            for lead in &leads {
                let fresh = sqlx::query(
                    "UPDATE leads SET updated_at = now(), version = version + 1 \
                     WHERE id = $1 AND group_id = $2 AND NOT EXISTS ( \
                       SELECT 1 FROM lead_changes WHERE lead_id = $1 AND what = 'appointment' \
                       AND after = $3)",
                )
                .bind(lead.id)
                .bind(group)
                .bind(sqlx::types::Json(&after))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if fresh == 0 {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO lead_changes (lead_id, group_id, agent_id, what, before, after) \
                     VALUES ($1, $2, $3, 'appointment', NULL, $4)",
                )
                .bind(lead.id)
                .bind(group)
                .bind(cmd.appointment.agent_id)
                .bind(sqlx::types::Json(&after))
                .execute(&mut *tx)
                .await?;
                events.push(self.stage(&mut tx, group, lead.id, LEAD_UPDATED).await?);
                changed.push(lead.id);
            }
            Ok(())
        }
        .await;
        result.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        if !events.is_empty() {
            Outbox::Leads.publish(&self.bus, &self.pool, &events).await;
        }
        Ok(changed)
    }
}
