//! A chat's trade-in (`trade_ins`, owned here): checked again (the VIN's check digit among the
//! rest), stored once per chat, and carried by the chat's leads, each of which is published as
//! `lead.updated` in the same transaction (its history says `trade_in`). The shopper's answers
//! to the bot never replace what an agent saved.

use chrono::Datelike;
use showroom_bus::StoredEvent;
use showroom_proto::lead::LEAD_UPDATED;
use showroom_proto::trade_in::{SetTradeIn, TradeIn, TradeInSource};
use showroom_proto::{CommandError, ErrorCode};
use showroom_runtime::outbox::Outbox;
use showroom_store::read;
use showroom_store::sqlx;
use uuid::Uuid;

use crate::leads::{Leads, db_error};

impl Leads {
    /// Stores a chat's trade-in and updates the leads it made; answers what is stored (an
    /// agent's, when the shopper's came after it).
    pub async fn set_trade_in(
        &self,
        group: Uuid,
        _request: Uuid,
        cmd: SetTradeIn,
    ) -> Result<TradeIn, CommandError> {
        let trade_in = cmd
            .trade_in
            .checked(chrono::Utc::now().year())
            .map_err(CommandError::invalid_fields)?;
        let source = if cmd.agent_id.is_some() {
            TradeInSource::Agent
        } else {
            TradeInSource::Shopper
        };
        let pool = &self.pool;
        read::conversation(pool, group, cmd.conversation_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such conversation"))?;
        let mut tx = pool.begin().await.map_err(db_error)?;
        let result: Result<Vec<StoredEvent>, sqlx::Error> = async {
            let changed: Option<(Uuid,)> = sqlx::query_as(
                "INSERT INTO trade_ins (conversation_id, group_id, trade_in, source, agent_id) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (conversation_id) DO UPDATE SET trade_in = EXCLUDED.trade_in, \
                   source = EXCLUDED.source, agent_id = EXCLUDED.agent_id, updated_at = now() \
                 WHERE trade_ins.trade_in IS DISTINCT FROM EXCLUDED.trade_in \
                   AND (trade_ins.source = 'shopper' OR EXCLUDED.source = 'agent') \
                 RETURNING conversation_id",
            )
            .bind(cmd.conversation_id)
            .bind(group)
            .bind(sqlx::types::Json(&trade_in))
            .bind(match source {
                TradeInSource::Agent => "agent",
                TradeInSource::Shopper => "shopper",
            })
            .bind(cmd.agent_id)
            .fetch_optional(&mut *tx)
            .await?;
            if changed.is_none() {
                return Ok(Vec::new());
            }
            let leads: Vec<(Uuid,)> = sqlx::query_as(
                "UPDATE leads SET updated_at = now(), version = version + 1 \
                 WHERE group_id = $1 AND conversation_id = $2 RETURNING id",
            )
            .bind(group)
            .bind(cmd.conversation_id)
            .fetch_all(&mut *tx)
            .await?;
            let mut events = Vec::with_capacity(leads.len());
            for (lead,) in leads {
                sqlx::query(
                    "INSERT INTO lead_changes (lead_id, group_id, agent_id, what) VALUES ($1, $2, $3, 'trade_in')",
                )
                .bind(lead)
                .bind(group)
                .bind(cmd.agent_id)
                .execute(&mut *tx)
                .await?;
                events.push(self.stage(&mut tx, group, lead, LEAD_UPDATED).await?);
            }
            Ok(events)
        }
        .await;
        let events = result.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        if !events.is_empty() {
            Outbox::Leads.publish(&self.bus, pool, &events).await;
        }
        let (stored,): (sqlx::types::Json<TradeIn>,) =
            sqlx::query_as("SELECT trade_in FROM trade_ins WHERE conversation_id = $1")
                .bind(cmd.conversation_id)
                .fetch_one(pool)
                .await
                .map_err(db_error)?;
        Ok(stored.0)
    }
}
