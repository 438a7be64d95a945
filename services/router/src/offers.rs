//! Who a chat is offered to, and re-offers when an agent becomes available.

use std::sync::Arc;

use showroom_proto::conversation::{Conversation, ConversationEventKind, ConversationState};
use showroom_proto::presence::{FindAvailable, PresenceChanged, Purpose};
use showroom_proto::{Envelope, v1};
use showroom_runtime::Base;
use showroom_store::read;
use showroom_store::sqlx;
use uuid::Uuid;

use crate::machine::Machine;

impl Machine {
    /// Offers a waiting chat to every eligible agent of its department who has not had it yet.
    pub(crate) async fn offer_to_department(&self, c: &Conversation) {
        // Members of the department who are under their maximum of concurrent chats.
        let members: Result<Vec<(Uuid,)>, _> = sqlx::query_as(
            "SELECT a.id FROM agents a JOIN agent_memberships m ON m.agent_id = a.id \
             WHERE m.department_id = $1 AND a.group_id = $2 \
               AND (SELECT count(*) FROM conversations x WHERE x.agent_id = a.id AND x.state = 'active') < a.max_chats",
        )
        .bind(c.department.id)
        .bind(c.group_id)
        .fetch_all(&self.pool)
        .await;
        let members: Vec<Uuid> = match members {
            Ok(rows) => rows.into_iter().map(|(id,)| id).collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read department members");
                return;
            }
        };
        if members.is_empty() {
            return;
        }
        let query = Envelope::new(
            c.group_id,
            FindAvailable {
                agent_ids: members,
                purpose: Purpose::NewChat,
            },
        );
        let available: Vec<Uuid> = match self
            .bus
            .request(v1::presence_find_available(c.group_id), &query)
            .await
        {
            Ok(Ok(ids)) => ids,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "presence refused the availability query");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "presence did not answer; the chat waits for the next available agent");
                return;
            }
        };
        self.offer(c, &available).await;
    }

    /// Adds `agents` to the chat's offers (if it still waits) and announces the new ones.
    async fn offer(&self, c: &Conversation, agents: &[Uuid]) {
        if agents.is_empty() {
            return;
        }
        let fresh: Result<Option<(Vec<Uuid>,)>, _> = sqlx::query_as(
            "WITH before AS (SELECT offered_to FROM conversations WHERE id = $1 AND state = 'incoming' FOR UPDATE) \
             UPDATE conversations c SET offered_to = (SELECT array_agg(DISTINCT x) FROM unnest(c.offered_to || $2::uuid[]) x) \
             FROM before WHERE c.id = $1 \
             RETURNING ARRAY(SELECT unnest($2::uuid[]) EXCEPT SELECT unnest(before.offered_to))",
        )
        .bind(c.id)
        .bind(agents)
        .fetch_optional(&self.pool)
        .await;
        match fresh {
            Ok(Some((new_agents,))) if !new_agents.is_empty() => {
                match read::conversation(&self.pool, c.group_id, c.id).await {
                    Ok(Some(now)) => {
                        self.publish(ConversationEventKind::Offered, now, new_agents)
                            .await
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read conversation after offering it")
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot record offers"),
        }
    }

    /// An agent became able to take new chats: offer them what waits in their departments.
    async fn agent_available(&self, group: Uuid, agent: Uuid) {
        let waiting: Result<Vec<(Uuid,)>, _> = sqlx::query_as(
            "SELECT c.id FROM conversations c JOIN agent_memberships m ON m.department_id = c.department_id \
             JOIN agents a ON a.id = m.agent_id \
             WHERE m.agent_id = $1 AND c.group_id = $2 AND c.state = 'incoming' AND NOT ($1 = ANY(c.offered_to)) \
               AND (SELECT count(*) FROM conversations x WHERE x.agent_id = a.id AND x.state = 'active') < a.max_chats \
             ORDER BY c.created_at LIMIT 100",
        )
        .bind(agent)
        .bind(group)
        .fetch_all(&self.pool)
        .await;
        let waiting = match waiting {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read waiting chats");
                return;
            }
        };
        for (id,) in waiting {
            if let Ok(Some(c)) = read::conversation(&self.pool, group, id).await
                && c.state == ConversationState::Incoming
            {
                self.offer(&c, &[agent]).await;
            }
        }
    }
}

/// Follows presence changes with one durable consumer shared by all replicas.
pub(crate) fn follow_presence(base: &Base, machine: Arc<Machine>) {
    base.bus.follow_durable(
        v1::presence_stream().name,
        "router-presence",
        chrono::Utc::now(),
        &base.tracker,
        base.shutdown.clone(),
        move |env: Envelope<PresenceChanged>| {
            let machine = machine.clone();
            async move {
                if env.data.effective.receives(Purpose::NewChat) {
                    machine.agent_available(env.tenant, env.data.agent_id).await;
                }
            }
        },
    );
}
