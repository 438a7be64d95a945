//! Transfers (an agent hands an active chat to another agent or to a department, who accept
//! or decline; unanswered ones come back) and a manager's reassignment.

use showroom_proto::conversation::{
    Conversation, ConversationEventKind, ConversationState, ReassignConversation, ReplyTransfer,
    Transfer, TransferConversation, TransferTarget,
};
use showroom_proto::presence::Purpose;
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::read;
use showroom_store::sqlx::{self, PgConnection};
use uuid::Uuid;

use crate::machine::Machine;
use crate::outbox::Staged;
use showroom_store::fault::db_error;

/// Longest note a transfer may carry.
const MAX_NOTE: usize = 1000;

/// Conversation, offered to, to department, state, decided by, from agent.
type TransferRow = (Uuid, Vec<Uuid>, Option<Uuid>, String, Option<Uuid>, Uuid);

fn not_allowed(message: impl Into<String>) -> CommandError {
    CommandError::new(ErrorCode::NotAllowed, message)
}

impl Machine {
    async fn agent_name(
        &self,
        group: Uuid,
        id: Uuid,
    ) -> Result<Option<(String, String)>, CommandError> {
        sqlx::query_as("SELECT first_name || ' ' || last_name, role FROM agents WHERE id = $1 AND group_id = $2")
            .bind(id)
            .bind(group)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    /// Offers the chat to its target; it stays with its agent until someone accepts.
    pub async fn transfer(
        &self,
        group: Uuid,
        cmd: TransferConversation,
    ) -> Result<Transfer, CommandError> {
        if cmd.note.chars().count() > MAX_NOTE {
            return Err(CommandError::new(
                ErrorCode::TooLarge,
                format!("note: at most {MAX_NOTE} characters"),
            ));
        }
        let c = self.snapshot(group, cmd.conversation_id).await?;
        if c.state.is_closed() {
            return Err(CommandError::new(
                ErrorCode::ConversationClosed,
                "this chat has ended",
            ));
        }
        if c.state != ConversationState::Active
            || c.agent.as_ref().map(|a| a.id) != Some(cmd.agent_id)
        {
            return Err(not_allowed(
                "only the agent who has this chat can transfer it",
            ));
        }
        let (to_agent, to_department, targets) = match cmd.to {
            TransferTarget::Agent(a) => {
                if a == cmd.agent_id {
                    return Err(CommandError::new(
                        ErrorCode::BadRequest,
                        "you already have this chat",
                    ));
                }
                let Some((name, _)) = self.agent_name(group, a).await? else {
                    return Err(CommandError::new(ErrorCode::NotFound, "no such agent"));
                };
                if !self
                    .available(group, vec![a], Purpose::Transfer)
                    .await?
                    .contains(&a)
                {
                    return Err(not_allowed(format!(
                        "{name} cannot take a transfer now: only Available or Away agents who are connected can"
                    )));
                }
                (Some(a), None, vec![a])
            }
            TransferTarget::Department(d) => {
                // No connection is held while presence answers.
                let Some(dept) = self.department_pooled(group, d).await.map_err(db_error)? else {
                    return Err(CommandError::new(ErrorCode::NotFound, "no such department"));
                };
                let pool = self
                    .pool(
                        &self.pool,
                        group,
                        d,
                        None,
                        Some(cmd.agent_id),
                        Purpose::Transfer,
                    )
                    .await
                    .map_err(db_error)?;
                if pool.silent {
                    return Err(CommandError::new(
                        ErrorCode::Unavailable,
                        "presence did not answer; retry",
                    ));
                }
                let targets: Vec<Uuid> = pool
                    .eligible(dept.settings.max_chats_per_agent)
                    .iter()
                    .map(|c| c.id)
                    .collect();
                if targets.is_empty() {
                    return Err(not_allowed(
                        "nobody in that department can take a transfer now",
                    ));
                }
                (None, Some(d), targets)
            }
        };
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let secs = self
            .department_of(&mut tx, group, c.department.id)
            .await
            .map_err(db_error)?
            .settings
            .transfer_secs;
        let still: Option<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM conversations WHERE id = $1 AND group_id = $2 AND state = 'active' AND agent_id = $3 FOR UPDATE",
        )
        .bind(cmd.conversation_id)
        .bind(group)
        .bind(cmd.agent_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if still.is_none() {
            return Err(not_allowed(
                "only the agent who has this chat can transfer it",
            ));
        }
        let id = Uuid::now_v7();
        let inserted = sqlx::query(
            "INSERT INTO transfers (id, conversation_id, group_id, from_agent, to_agent, to_department, offered_to, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(cmd.conversation_id)
        .bind(group)
        .bind(cmd.agent_id)
        .bind(to_agent)
        .bind(to_department)
        .bind(&targets)
        .bind(cmd.note.trim())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(not_allowed(
                    "a transfer of this chat is already waiting for an answer",
                ));
            }
            Err(e) => return Err(db_error(e)),
            Ok(_) => {}
        }
        let result: Result<Option<Transfer>, sqlx::Error> = async {
            self.set_timer(&mut tx, cmd.conversation_id, group, "transfer", secs)
                .await?;
            let transfer = read::transfer(&mut *tx, group, id).await?;
            let now = read::conversation(&mut *tx, group, cmd.conversation_id)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            staged.event(
                ConversationEventKind::Transferred,
                &now,
                targets,
                Vec::new(),
                transfer.clone(),
            )?;
            Ok(transfer)
        }
        .await;
        let transfer = result.map_err(db_error)?;
        self.commit(tx, staged).await.map_err(db_error)?;
        transfer
            .ok_or_else(|| CommandError::new(ErrorCode::Unavailable, "transfer vanished; retry"))
    }

    /// The target answers. Accepting moves the chat (and its department, for a department
    /// transfer); declining by the last one offered sends it back.
    pub async fn reply_transfer(
        &self,
        group: Uuid,
        cmd: ReplyTransfer,
    ) -> Result<Transfer, CommandError> {
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let row: Option<TransferRow> = sqlx::query_as(
            "SELECT x.conversation_id, x.offered_to, x.to_department, x.state, x.decided_by, x.from_agent \
             FROM transfers x JOIN conversations c ON c.id = x.conversation_id \
             WHERE x.id = $1 AND x.group_id = $2 FOR UPDATE",
        )
        .bind(cmd.transfer_id)
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((conversation_id, offered_to, to_department, state, decided_by, from_agent)) = row
        else {
            return Err(CommandError::new(ErrorCode::NotFound, "no such transfer"));
        };
        if state != "requested" {
            drop(tx);
            let current = read::transfer(&self.pool, group, cmd.transfer_id)
                .await
                .map_err(db_error)?
                .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such transfer"))?;
            // A retried answer gets the same result.
            if decided_by == Some(cmd.agent_id) && (state == "accepted") == cmd.accept {
                return Ok(current);
            }
            return Err(not_allowed(format!(
                "this transfer is no longer waiting: it was {state}"
            )));
        }
        if !offered_to.contains(&cmd.agent_id) {
            return Err(not_allowed("this transfer is not offered to you"));
        }
        let result: Result<Option<Transfer>, sqlx::Error> = async {
            if cmd.accept {
                sqlx::query("UPDATE transfers SET state = 'accepted', decided_by = $2, decided_at = now() WHERE id = $1")
                    .bind(cmd.transfer_id)
                    .bind(cmd.agent_id)
                    .execute(&mut *tx)
                    .await?;
                let (department_id,): (Uuid,) = sqlx::query_as(
                    "UPDATE conversations SET agent_id = $2, department_id = COALESCE($3, department_id), \
                        team_id = CASE WHEN $3::uuid IS NULL THEN team_id END \
                     WHERE id = $1 RETURNING department_id",
                )
                .bind(conversation_id)
                .bind(cmd.agent_id)
                .bind(to_department)
                .fetch_one(&mut *tx)
                .await?;
                self.hand_over(&mut tx, conversation_id, Some(from_agent), cmd.agent_id).await?;
                self.cancel_timers(&mut tx, conversation_id, &["transfer"]).await?;
                let inactivity = self
                    .department_of(&mut tx, group, department_id)
                    .await?
                    .settings
                    .inactivity_secs;
                self.set_timer(&mut tx, conversation_id, group, "inactivity", inactivity).await?;
                self.stage_transfer(&mut tx, group, conversation_id, cmd.transfer_id, offered_to, Vec::new(), &mut staged)
                    .await
            } else {
                let remaining: Vec<Uuid> = offered_to.iter().filter(|a| **a != cmd.agent_id).copied().collect();
                if to_department.is_some() && !remaining.is_empty() {
                    sqlx::query("UPDATE transfers SET offered_to = $2 WHERE id = $1")
                        .bind(cmd.transfer_id)
                        .bind(&remaining)
                        .execute(&mut *tx)
                        .await?;
                    self.stage_transfer(&mut tx, group, conversation_id, cmd.transfer_id, Vec::new(), vec![cmd.agent_id], &mut staged)
                        .await
                } else {
                    sqlx::query("UPDATE transfers SET state = 'declined', decided_by = $2, decided_at = now() WHERE id = $1")
                        .bind(cmd.transfer_id)
                        .bind(cmd.agent_id)
                        .execute(&mut *tx)
                        .await?;
                    self.cancel_timers(&mut tx, conversation_id, &["transfer"]).await?;
                    self.stage_transfer(&mut tx, group, conversation_id, cmd.transfer_id, offered_to, Vec::new(), &mut staged)
                        .await
                }
            }
        }
        .await;
        let transfer = result.map_err(db_error)?;
        self.commit(tx, staged).await.map_err(db_error)?;
        transfer.ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such transfer"))
    }

    /// The former agent leaves the chat's participants; the new one joins.
    async fn hand_over(
        &self,
        tx: &mut PgConnection,
        conversation_id: Uuid,
        from: Option<Uuid>,
        to: Uuid,
    ) -> Result<(), sqlx::Error> {
        if let Some(from) = from {
            sqlx::query(
                "UPDATE participants SET left_at = now() WHERE conversation_id = $1 AND kind = 'agent' \
                 AND participant_id = $2 AND left_at IS NULL",
            )
            .bind(conversation_id)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO participants (conversation_id, kind, participant_id) VALUES ($1, 'agent', $2) \
             ON CONFLICT (conversation_id, kind, participant_id) DO UPDATE SET left_at = NULL",
        )
        .bind(conversation_id)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn stage_transfer(
        &self,
        tx: &mut PgConnection,
        group: Uuid,
        conversation_id: Uuid,
        transfer_id: Uuid,
        offered_to: Vec<Uuid>,
        withdrawn_from: Vec<Uuid>,
        staged: &mut Staged,
    ) -> Result<Option<Transfer>, sqlx::Error> {
        let transfer = read::transfer(&mut *tx, group, transfer_id).await?;
        let now = read::conversation(&mut *tx, group, conversation_id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        staged.event(
            ConversationEventKind::Transferred,
            &now,
            offered_to,
            withdrawn_from,
            transfer.clone(),
        )?;
        Ok(transfer)
    }

    /// A transfer nobody answered in time comes back (the chat never left its agent).
    pub(crate) async fn expire_transfer(
        &self,
        tx: &mut PgConnection,
        group: Uuid,
        conversation_id: Uuid,
        staged: &mut Staged,
    ) -> Result<(), sqlx::Error> {
        let expired: Option<(Uuid, Vec<Uuid>)> = sqlx::query_as(
            "UPDATE transfers SET state = 'expired', decided_at = now() \
             WHERE conversation_id = $1 AND state = 'requested' RETURNING id, offered_to",
        )
        .bind(conversation_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((id, offered_to)) = expired {
            self.stage_transfer(
                tx,
                group,
                conversation_id,
                id,
                offered_to,
                Vec::new(),
                staged,
            )
            .await?;
        }
        Ok(())
    }

    /// A manager gives a waiting or active chat to an agent at once.
    pub async fn reassign(
        &self,
        group: Uuid,
        cmd: ReassignConversation,
    ) -> Result<Conversation, CommandError> {
        match self.agent_name(group, cmd.manager_id).await? {
            Some((_, role)) if role == "manager" || role == "admin" => {}
            _ => return Err(not_allowed("only a manager can reassign chats")),
        }
        // Another group's chat is not there, whatever else is wrong with the request.
        let known: Option<bool> =
            sqlx::query_scalar("SELECT true FROM conversations WHERE id = $1 AND group_id = $2")
                .bind(cmd.conversation_id)
                .bind(group)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        if known.is_none() {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                "no such conversation",
            ));
        }
        let Some((name, _)) = self.agent_name(group, cmd.to_agent).await? else {
            return Err(CommandError::new(ErrorCode::NotFound, "no such agent"));
        };
        if !self
            .available(group, vec![cmd.to_agent], Purpose::Transfer)
            .await?
            .contains(&cmd.to_agent)
        {
            return Err(not_allowed(format!(
                "{name} cannot be given a chat now: only Available or Away agents who are connected can"
            )));
        }
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let row: Option<(String, Option<Uuid>, Vec<Uuid>, Uuid)> = sqlx::query_as(
            "SELECT state, agent_id, offered_to, department_id FROM conversations WHERE id = $1 AND group_id = $2 FOR UPDATE",
        )
        .bind(cmd.conversation_id)
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((state, agent, offered_to, department_id)) = row else {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                "no such conversation",
            ));
        };
        let state = ConversationState::parse(&state).unwrap_or(ConversationState::Ended);
        if state.is_closed() {
            return Err(CommandError::new(
                ErrorCode::ConversationClosed,
                "this chat has ended",
            ));
        }
        if state == ConversationState::Active && agent == Some(cmd.to_agent) {
            drop(tx);
            return self.snapshot(group, cmd.conversation_id).await;
        }
        let result: Result<Conversation, sqlx::Error> = async {
            let inactivity = self
                .department_of(&mut tx, group, department_id)
                .await?
                .settings
                .inactivity_secs;
            sqlx::query(
                "UPDATE conversations SET state = 'active', agent_id = $2, assigned_at = COALESCE(assigned_at, now()) WHERE id = $1",
            )
            .bind(cmd.conversation_id)
            .bind(cmd.to_agent)
            .execute(&mut *tx)
            .await?;
            self.hand_over(&mut tx, cmd.conversation_id, agent, cmd.to_agent).await?;
            // An open transfer is overtaken by the manager's decision.
            let cancelled: Option<(Uuid, Vec<Uuid>)> = sqlx::query_as(
                "UPDATE transfers SET state = 'cancelled', decided_by = $2, decided_at = now() \
                 WHERE conversation_id = $1 AND state = 'requested' RETURNING id, offered_to",
            )
            .bind(cmd.conversation_id)
            .bind(cmd.manager_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((id, targets)) = cancelled {
                self.stage_transfer(&mut tx, group, cmd.conversation_id, id, targets, Vec::new(), &mut staged)
                    .await?;
            }
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO transfers (id, conversation_id, group_id, from_agent, to_agent, offered_to, state, decided_by, decided_at) \
                 VALUES ($1, $2, $3, $4, $5, ARRAY[$5], 'reassigned', $4, now())",
            )
            .bind(id)
            .bind(cmd.conversation_id)
            .bind(group)
            .bind(cmd.manager_id)
            .bind(cmd.to_agent)
            .execute(&mut *tx)
            .await?;
            self.cancel_timers(&mut tx, cmd.conversation_id, &["ring", "overflow", "wait", "incoming", "transfer", "recheck"])
                .await?;
            self.set_timer(&mut tx, cmd.conversation_id, group, "inactivity", inactivity).await?;
            // Those the waiting chat was offered to drop it from Incoming; the agent who had it
            // (withdrawn) drops it from Active.
            let former: Vec<Uuid> = agent.into_iter().collect();
            self.stage_transfer(&mut tx, group, cmd.conversation_id, id, offered_to, former, &mut staged)
                .await?;
            read::conversation(&mut *tx, group, cmd.conversation_id)
                .await?
                .ok_or(sqlx::Error::RowNotFound)
        }
        .await;
        let now = result.map_err(db_error)?;
        self.commit(tx, staged).await.map_err(db_error)?;
        Ok(now)
    }
}
