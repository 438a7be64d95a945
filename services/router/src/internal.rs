//! Internal chats between agents: who is in which chat, under the status rules.
//!
//! A colleague can be brought into a chat while Available or Away (and connected), never while
//! Do Not Disturb or Offline, the same rule as transfers. Two colleagues share one chat
//! (`pair`): opening it again returns it. Each change is one transaction that writes its
//! `internal.*` event to the outbox, like every conversation change.

use std::collections::HashMap;

use showroom_bus::StoredEvent;
use showroom_proto::internal::{
    InternalChat, InternalEvent, InternalEventKind, InviteInternal, LeaveInternal, MAX_MEMBERS,
    MAX_TOPIC_CHARS, OpenInternal,
};
use showroom_proto::presence::Purpose;
use showroom_proto::{CommandError, Envelope, ErrorCode, v1};
use showroom_store::read;
use showroom_store::sqlx::{self, PgConnection};
use uuid::Uuid;

use crate::machine::Machine;
use crate::outbox::Staged;
use showroom_store::fault::db_error;

fn bad(msg: impl Into<String>) -> CommandError {
    CommandError::new(ErrorCode::BadRequest, msg)
}

fn not_allowed(msg: impl Into<String>) -> CommandError {
    CommandError::new(ErrorCode::NotAllowed, msg)
}

fn not_a_member() -> CommandError {
    CommandError::new(ErrorCode::NotFound, "no such internal chat")
}

/// Stages an `internal.<kind>` event about `chat`.
fn stage(
    staged: &mut Staged,
    kind: InternalEventKind,
    chat: &InternalChat,
    agent_id: Uuid,
    by: Uuid,
) -> Result<(), CommandError> {
    let env = Envelope::new(
        chat.group_id,
        InternalEvent {
            kind,
            chat: chat.clone(),
            agent_id,
            by,
        },
    );
    let e = StoredEvent::new(v1::internal_event(chat.group_id, kind), &env).map_err(|e| {
        tracing::error!(error = %e, "cannot encode an internal event");
        CommandError::new(ErrorCode::Internal, "could not record the change")
    })?;
    staged.push(e);
    Ok(())
}

/// Reads the chat inside the transaction (for the events and the reply).
async fn snapshot(
    tx: &mut PgConnection,
    group: Uuid,
    id: Uuid,
) -> Result<InternalChat, CommandError> {
    read::internal_chat(&mut *tx, group, id)
        .await
        .map_err(db_error)?
        .ok_or_else(not_a_member)
}

impl Machine {
    /// Names of the group's agents among `ids` (an id missing from the answer is not one).
    async fn colleagues(
        &self,
        group: Uuid,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, String>, CommandError> {
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT id, first_name || ' ' || last_name FROM agents WHERE group_id = $1 AND id = ANY($2)",
        )
        .bind(group)
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().collect())
    }

    /// Refuses unless every one of `agents` may be brought into an internal chat now.
    async fn check_reachable(
        &self,
        group: Uuid,
        agents: &[Uuid],
        names: &HashMap<Uuid, String>,
    ) -> Result<(), CommandError> {
        if agents.is_empty() {
            return Ok(());
        }
        let ok = self
            .available(group, agents.to_vec(), Purpose::Internal)
            .await?;
        let refused: Vec<&str> = agents
            .iter()
            .filter(|a| !ok.contains(a))
            .map(|a| names.get(a).map(String::as_str).unwrap_or("a colleague"))
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(not_allowed(format!(
                "{} cannot be reached now: only colleagues who are Available or Away and connected can be brought into a chat",
                refused.join(", ")
            )))
        }
    }

    /// Opens a chat with colleagues (or returns the one two colleagues already share).
    pub async fn open_internal(
        &self,
        group: Uuid,
        cmd: OpenInternal,
    ) -> Result<InternalChat, CommandError> {
        let topic = cmd.topic.as_deref().unwrap_or("").trim().to_string();
        if topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(bad(format!(
                "the topic is longer than {MAX_TOPIC_CHARS} characters"
            )));
        }
        let mut with: Vec<Uuid> = cmd.with.iter().copied().filter(|a| *a != cmd.by).collect();
        with.sort();
        with.dedup();
        if with.is_empty() {
            return Err(bad("choose at least one colleague to chat with"));
        }
        if with.len() >= MAX_MEMBERS {
            return Err(bad(format!(
                "a chat holds at most {MAX_MEMBERS} colleagues"
            )));
        }
        let mut everyone = with.clone();
        everyone.push(cmd.by);
        let names = self.colleagues(group, &everyone).await?;
        if !names.contains_key(&cmd.by) {
            return Err(not_allowed(
                "only agents of this dealer group can open its chats",
            ));
        }
        if let Some(missing) = with.iter().find(|a| !names.contains_key(a)) {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                format!("no colleague {missing} in this dealer group"),
            ));
        }
        let pair = (with.len() == 1 && topic.is_empty()).then(|| {
            let mut p = vec![cmd.by, with[0]];
            p.sort();
            p
        });

        // Two colleagues who already share a chat: those still in it need no status check
        // (their history is theirs); anyone coming back does.
        let existing: Option<(Uuid, Vec<Uuid>)> = match &pair {
            Some(p) => sqlx::query_as(
                "SELECT c.id, COALESCE(array_agg(m.agent_id) FILTER (WHERE m.left_at IS NULL), '{}') \
                 FROM internal_chats c LEFT JOIN internal_members m ON m.chat_id = c.id \
                 WHERE c.group_id = $1 AND c.pair = $2 GROUP BY c.id",
            )
            .bind(group)
            .bind(p)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?,
            None => None,
        };
        let joining: Vec<Uuid> = match &existing {
            Some((_, current)) => with
                .iter()
                .copied()
                .filter(|a| !current.contains(a))
                .collect(),
            None => with.clone(),
        };
        self.check_reachable(group, &joining, &names).await?;

        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let created: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO internal_chats (id, group_id, topic, created_by, pair) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (group_id, pair) WHERE pair IS NOT NULL DO NOTHING RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(group)
        .bind(&topic)
        .bind(cmd.by)
        .bind(&pair)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let id = match created {
            Some((id,)) => id,
            None => {
                let (id,): (Uuid,) = sqlx::query_as(
                    "SELECT id FROM internal_chats WHERE group_id = $1 AND pair = $2 FOR UPDATE",
                )
                .bind(group)
                .bind(&pair)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                id
            }
        };
        // Everyone in (the opener too): new members, and those who had left come back.
        let joined: Vec<(Uuid,)> = sqlx::query_as(
            "INSERT INTO internal_members (chat_id, agent_id, added_by) SELECT $1, a, $2 FROM unnest($3::uuid[]) a \
             ON CONFLICT (chat_id, agent_id) DO UPDATE SET left_at = NULL, joined_at = now(), added_by = $2 \
               WHERE internal_members.left_at IS NOT NULL \
             RETURNING agent_id",
        )
        .bind(id)
        .bind(cmd.by)
        .bind(&everyone)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let chat = snapshot(&mut tx, group, id).await?;
        if created.is_some() {
            stage(
                &mut staged,
                InternalEventKind::Created,
                &chat,
                cmd.by,
                cmd.by,
            )?;
        } else {
            for (agent,) in joined {
                stage(&mut staged, InternalEventKind::Joined, &chat, agent, cmd.by)?;
            }
        }
        self.commit(tx, staged).await.map_err(db_error)?;
        Ok(chat)
    }

    /// Brings a colleague into a chat the sender is in.
    pub async fn invite_internal(
        &self,
        group: Uuid,
        cmd: InviteInternal,
    ) -> Result<InternalChat, CommandError> {
        let names = self.colleagues(group, &[cmd.agent_id]).await?;
        if !names.contains_key(&cmd.agent_id) {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                "no such colleague in this dealer group",
            ));
        }
        let chat = read::internal_chat(&self.pool, group, cmd.chat_id)
            .await
            .map_err(db_error)?
            .filter(|c| c.has(cmd.by))
            .ok_or_else(not_a_member)?;
        if chat.has(cmd.agent_id) {
            return Ok(chat);
        }
        if chat.current().len() >= MAX_MEMBERS {
            return Err(bad(format!(
                "a chat holds at most {MAX_MEMBERS} colleagues"
            )));
        }
        self.check_reachable(group, &[cmd.agent_id], &names).await?;
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // The sender must still be in it when the colleague joins.
        let joined: Option<(Uuid,)> = sqlx::query_as(
            "WITH me AS (SELECT 1 FROM internal_members WHERE chat_id = $1 AND agent_id = $2 AND left_at IS NULL FOR SHARE) \
             INSERT INTO internal_members (chat_id, agent_id, added_by) SELECT $1, $3, $2 FROM me \
             ON CONFLICT (chat_id, agent_id) DO UPDATE SET left_at = NULL, joined_at = now(), added_by = $2 \
               WHERE internal_members.left_at IS NOT NULL \
             RETURNING agent_id",
        )
        .bind(cmd.chat_id)
        .bind(cmd.by)
        .bind(cmd.agent_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let chat = snapshot(&mut tx, group, cmd.chat_id).await?;
        if !chat.has(cmd.by) {
            return Err(not_a_member());
        }
        // A pair chat with a third colleague is a group chat from now on.
        if joined.is_some() {
            sqlx::query("UPDATE internal_chats SET pair = NULL WHERE id = $1 AND pair IS NOT NULL")
                .bind(cmd.chat_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            stage(
                &mut staged,
                InternalEventKind::Joined,
                &chat,
                cmd.agent_id,
                cmd.by,
            )?;
        }
        self.commit(tx, staged).await.map_err(db_error)?;
        Ok(chat)
    }

    /// Leaves a chat: nothing new reaches the agent from it.
    pub async fn leave_internal(
        &self,
        group: Uuid,
        cmd: LeaveInternal,
    ) -> Result<InternalChat, CommandError> {
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let left: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE internal_members m SET left_at = now() FROM internal_chats c \
             WHERE m.chat_id = $1 AND m.agent_id = $2 AND m.left_at IS NULL AND c.id = m.chat_id AND c.group_id = $3 \
             RETURNING m.agent_id",
        )
        .bind(cmd.chat_id)
        .bind(cmd.agent_id)
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if left.is_none() {
            return Err(not_a_member());
        }
        let chat = snapshot(&mut tx, group, cmd.chat_id).await?;
        stage(
            &mut staged,
            InternalEventKind::Left,
            &chat,
            cmd.agent_id,
            cmd.agent_id,
        )?;
        self.commit(tx, staged).await.map_err(db_error)?;
        Ok(chat)
    }
}
