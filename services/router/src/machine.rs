//! The conversation commands and the events they publish.

use showroom_bus::Bus;
use showroom_proto::conversation::{
    AcceptConversation, Conversation, ConversationEvent, ConversationEventKind, ConversationState,
    EndConversation, EndedBy, StartConversation,
};
use showroom_proto::{CommandError, Envelope, ErrorCode, v1};
use showroom_store::read;
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

pub(crate) fn db_error(e: sqlx::Error) -> CommandError {
    tracing::error!(error = %e, "postgres failed");
    CommandError::new(ErrorCode::Unavailable, "conversation store unavailable")
}

/// Runs the commands; shared by every endpoint of a replica.
pub struct Machine {
    pub(crate) bus: Bus,
    pub(crate) pool: PgPool,
}

impl Machine {
    pub fn new(bus: Bus, pool: PgPool) -> Self {
        Self { bus, pool }
    }

    pub(crate) async fn snapshot(
        &self,
        group: Uuid,
        id: Uuid,
    ) -> Result<Conversation, CommandError> {
        read::conversation(&self.pool, group, id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such conversation"))
    }

    pub(crate) async fn publish(
        &self,
        kind: ConversationEventKind,
        conversation: Conversation,
        offered_to: Vec<Uuid>,
    ) {
        let group = conversation.group_id;
        let env = Envelope::new(
            group,
            ConversationEvent {
                kind,
                conversation,
                offered_to,
            },
        );
        if let Err(e) = self
            .bus
            .publish_event(v1::conversation_event(group, kind), &env)
            .await
        {
            tracing::error!(error = %e, kind = kind.as_str(), "cannot publish conversation event");
        }
    }

    /// Creates the conversation (or returns the visitor's open one: a retried start is
    /// harmless) and offers it.
    pub async fn start(
        &self,
        group: Uuid,
        cmd: StartConversation,
    ) -> Result<Conversation, CommandError> {
        let rooftop: Option<(Uuid,)> = sqlx::query_as(
            "SELECT w.rooftop_id FROM websites w JOIN departments d ON d.rooftop_id = w.rooftop_id \
             WHERE w.id = $1 AND w.group_id = $2 AND d.id = $3",
        )
        .bind(cmd.website_id)
        .bind(group)
        .bind(cmd.department_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some((rooftop_id,)) = rooftop else {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                "no such department on this website",
            ));
        };
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let inserted: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, shopper_name, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'incoming') \
             ON CONFLICT (website_id, visitor_id) WHERE state IN ('bot', 'incoming', 'active') DO NOTHING RETURNING id",
        )
        .bind(id)
        .bind(group)
        .bind(cmd.website_id)
        .bind(rooftop_id)
        .bind(cmd.department_id)
        .bind(cmd.visitor_id)
        .bind(&cmd.shopper_name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if inserted.is_none() {
            drop(tx);
            let open = read::conversations(
                &self.pool,
                group,
                read::Filter::Visitor {
                    website_id: cmd.website_id,
                    visitor_id: cmd.visitor_id,
                },
                1,
            )
            .await
            .map_err(db_error)?;
            return open
                .into_iter()
                .find(|c| !c.state.is_closed())
                .ok_or_else(|| {
                    CommandError::new(
                        ErrorCode::Unavailable,
                        "conversation changed meanwhile; retry",
                    )
                });
        }
        sqlx::query("INSERT INTO participants (conversation_id, kind, participant_id) VALUES ($1, 'shopper', $2)")
            .bind(id)
            .bind(cmd.visitor_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let created = self.snapshot(group, id).await?;
        self.publish(ConversationEventKind::Created, created.clone(), Vec::new())
            .await;
        self.offer_to_department(&created).await;
        self.snapshot(group, id).await
    }

    /// Gives the chat to the agent if nobody took it first.
    pub async fn accept(
        &self,
        group: Uuid,
        cmd: AcceptConversation,
    ) -> Result<Conversation, CommandError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let won: Option<(Vec<Uuid>,)> = sqlx::query_as(
            "UPDATE conversations SET state = 'active', agent_id = $2, assigned_at = now() \
             WHERE id = $1 AND group_id = $3 AND state = 'incoming' \
               AND ($2 = ANY(offered_to) OR EXISTS (SELECT 1 FROM agent_memberships m \
                    WHERE m.agent_id = $2 AND m.department_id = conversations.department_id)) \
             RETURNING offered_to",
        )
        .bind(cmd.conversation_id)
        .bind(cmd.agent_id)
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((offered_to,)) = won else {
            drop(tx);
            let current = self.snapshot(group, cmd.conversation_id).await?;
            return match current.state {
                ConversationState::Active
                    if current.agent.as_ref().is_some_and(|a| a.id == cmd.agent_id) =>
                {
                    Ok(current)
                }
                ConversationState::Active => Err(CommandError::new(
                    ErrorCode::AlreadyTaken,
                    "another agent took this chat first",
                )),
                s if s.is_closed() => Err(CommandError::new(
                    ErrorCode::ConversationClosed,
                    "this chat has ended",
                )),
                _ => Err(CommandError::new(
                    ErrorCode::NotAllowed,
                    "you do not cover this chat's department",
                )),
            };
        };
        sqlx::query(
            "INSERT INTO participants (conversation_id, kind, participant_id) VALUES ($1, 'agent', $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(cmd.conversation_id)
        .bind(cmd.agent_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let assigned = self.snapshot(group, cmd.conversation_id).await?;
        self.publish(
            ConversationEventKind::Assigned,
            assigned.clone(),
            offered_to,
        )
        .await;
        Ok(assigned)
    }

    /// Closes the chat for good. Ending an already closed chat answers with it unchanged.
    pub async fn end(
        &self,
        group: Uuid,
        cmd: EndConversation,
    ) -> Result<Conversation, CommandError> {
        let ended: Option<(Vec<Uuid>,)> = sqlx::query_as(
            "UPDATE conversations SET state = 'ended', ended_at = now(), ended_by = $3 \
             WHERE id = $1 AND group_id = $2 AND state IN ('bot', 'incoming', 'active') \
               AND (($3 = 'shopper' AND visitor_id = $4) OR ($3 = 'agent' AND agent_id = $4) OR $3 = 'system') \
             RETURNING offered_to",
        )
        .bind(cmd.conversation_id)
        .bind(group)
        .bind(cmd.by.as_str())
        .bind(cmd.actor_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let current = self.snapshot(group, cmd.conversation_id).await?;
        match ended {
            Some((offered_to,)) => {
                sqlx::query("UPDATE participants SET left_at = now() WHERE conversation_id = $1 AND left_at IS NULL")
                    .bind(cmd.conversation_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                self.publish(ConversationEventKind::Ended, current.clone(), offered_to)
                    .await;
                Ok(current)
            }
            None if current.state.is_closed() => Ok(current),
            None => Err(CommandError::new(
                ErrorCode::NotAllowed,
                match cmd.by {
                    EndedBy::Agent => "only the agent who has this chat can end it",
                    _ => "this is not your conversation",
                },
            )),
        }
    }
}
