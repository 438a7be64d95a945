//! Time-outs that survive a restart: each is a row of `conversation_timers`, fired by whichever
//! replica locks it first (`FOR UPDATE SKIP LOCKED`, together with its conversation's row) and
//! deleted in the same transaction as the change it makes, so each fires exactly once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use showroom_proto::conversation::{ConversationState, EndedBy, OfflineReason};
use showroom_store::sqlx::{self, PgConnection};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::machine::Machine;
use crate::outbox::Staged;
use crate::plan::Trigger;

/// Timers taken per transaction.
const BATCH: i64 = 64;

/// Fires due time-outs every `tick` until `shutdown`.
pub(crate) async fn run(machine: Arc<Machine>, tick: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        loop {
            match machine.fire_due().await {
                Ok(n) if n < BATCH as usize => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "firing time-outs failed; retrying");
                    break;
                }
            }
        }
    }
}

impl Machine {
    /// Fires one batch of due time-outs; answers how many it took.
    async fn fire_due(&self) -> Result<usize, sqlx::Error> {
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await?;
        // Locks each due timer and its conversation, skipping any another replica or a command
        // holds: the command finishes first, and the timer sees its outcome next tick.
        let due: Vec<(Uuid, String, Uuid)> = sqlx::query_as(
            "SELECT t.conversation_id, t.kind, t.group_id FROM conversation_timers t \
             JOIN conversations c ON c.id = t.conversation_id \
             WHERE t.due_at <= now() ORDER BY t.due_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let n = due.len();
        for (id, kind, group) in due {
            let span = tracing::info_span!("timeout", conversation = %id, kind = %kind);
            self.fire(&mut tx, group, id, &kind, &mut staged)
                .instrument(span)
                .await?;
            // A handler that moved its timer to the future keeps it.
            sqlx::query(
                "DELETE FROM conversation_timers WHERE conversation_id = $1 AND kind = $2 AND due_at <= now()",
            )
            .bind(id)
            .bind(&kind)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx, staged).await?;
        Ok(n)
    }

    async fn fire(
        &self,
        tx: &mut PgConnection,
        group: Uuid,
        id: Uuid,
        kind: &str,
        staged: &mut Staged,
    ) -> Result<(), sqlx::Error> {
        let state: Option<(String,)> =
            sqlx::query_as("SELECT state FROM conversations WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((state,)) = state else {
            return Ok(());
        };
        match (kind, state.as_str()) {
            ("incoming", "incoming") => {
                self.close(
                    tx,
                    group,
                    id,
                    ConversationState::Missed,
                    EndedBy::System,
                    None,
                    None,
                    staged,
                )
                .await?;
            }
            ("wait", "incoming") => {
                self.close(
                    tx,
                    group,
                    id,
                    ConversationState::Offline,
                    EndedBy::System,
                    Some(OfflineReason::WaitExpired),
                    None,
                    staged,
                )
                .await?;
            }
            ("ring", "incoming") => {
                self.reconsider(tx, group, id, Trigger::RingTimeout, staged)
                    .await?;
            }
            ("overflow", "incoming") => {
                self.reconsider(tx, group, id, Trigger::Overflow, staged)
                    .await?;
            }
            // Presence was silent when the chat was offered: ask again.
            ("recheck", "incoming") => {
                self.reconsider(tx, group, id, Trigger::Presence, staged)
                    .await?;
            }
            // A shopper who walked away from the bot's questions times out the same way.
            ("inactivity", "active" | "bot") => self.inactivity(tx, group, id, staged).await?,
            ("transfer", "active") => self.expire_transfer(tx, group, id, staged).await?,
            // The chat moved on since the timer was set; nothing to do.
            _ => {}
        }
        Ok(())
    }

    /// Closes an active chat nobody wrote in for the department's inactivity time, or moves
    /// the timer to that time after the last message.
    async fn inactivity(
        &self,
        tx: &mut PgConnection,
        group: Uuid,
        id: Uuid,
        staged: &mut Staged,
    ) -> Result<(), sqlx::Error> {
        let (department_id, assigned_at): (Uuid, Option<DateTime<Utc>>) =
            sqlx::query_as("SELECT department_id, COALESCE(assigned_at, created_at) FROM conversations WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let last_message: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "SELECT created_at FROM messages WHERE conversation_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let (open_transfer,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM transfers WHERE conversation_id = $1 AND state = 'requested')",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let secs = self
            .department_of(tx, group, department_id)
            .await?
            .settings
            .inactivity_secs;
        let last = last_message
            .map(|m| m.0)
            .max(assigned_at)
            .unwrap_or_else(Utc::now);
        let deadline = last + chrono::Duration::seconds(secs as i64);
        let now = Utc::now();
        if deadline > now || open_transfer {
            // Someone wrote since (or a transfer is being answered): wait from the last word.
            let wait = if open_transfer {
                secs
            } else {
                ((deadline - now).num_milliseconds().max(1000) as u64).div_ceil(1000) as u32
            };
            self.set_timer(tx, id, group, "inactivity", wait).await?;
            return Ok(());
        }
        self.close(
            tx,
            group,
            id,
            ConversationState::TimedOut,
            EndedBy::System,
            None,
            None,
            staged,
        )
        .await?;
        Ok(())
    }
}
