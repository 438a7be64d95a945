//! Who a chat is offered to: the eligible agents (members of the department or covering team,
//! status allows it, under their maximum of chats), all of them (broadcast) or one at a time
//! (ring). Offers are reconsidered when a ring runs out, when a department overflows to its
//! team, and when an agent's presence changes.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use showroom_proto::conversation::ConversationEventKind;
use showroom_proto::presence::{FindAvailable, PresenceChanged, Purpose};
use showroom_proto::routing::OfferMode;
use showroom_proto::{CommandError, Envelope, ErrorCode, v1};
use showroom_runtime::Base;
use showroom_store::read;
use showroom_store::sqlx::{self, PgConnection};
use uuid::Uuid;

use crate::machine::Machine;
use crate::outbox::Staged;
use crate::plan::{Candidate, PRESENCE_PATIENCE, Pool, RECHECK_SECS, Trigger, plan};
/// SQL: the agent `$1` once (`me`: their maximum and chats now), so the room test of each
/// waiting chat is a comparison, not a count.
macro_rules! me {
    () => {
        "me AS (SELECT a.id, a.max_chats, \
            (SELECT count(*) FROM conversations x WHERE x.agent_id = a.id AND x.state = 'active') AS active \
            FROM agents a WHERE a.id = $1 AND a.group_id = $2)"
    };
}

/// SQL: `me` has room for a chat of the department whose settings are `dr`: their own
/// maximum, capped by the department's.
macro_rules! room {
    () => {
        "me.active < LEAST(me.max_chats, COALESCE(dr.max_chats_per_agent, me.max_chats))"
    };
}

/// State, department, team, offered to, rang out.
type WaitingRow = (String, Uuid, Option<Uuid>, Vec<Uuid>, Vec<Uuid>);

impl Machine {
    /// Members of the department (and of `team`, when the chat is routed or overflowed to
    /// one), with what presence says about them for `purpose`.
    pub(crate) async fn pool<'c>(
        &self,
        db: impl sqlx::PgExecutor<'c>,
        group: Uuid,
        department: Option<Uuid>,
        team: Option<Uuid>,
        exclude: Option<Uuid>,
        purpose: Purpose,
    ) -> Result<Pool, sqlx::Error> {
        let rows: Vec<(Uuid, i32, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
            "WITH members AS ( \
                SELECT agent_id FROM agent_memberships WHERE department_id = $1 \
                UNION SELECT agent_id FROM team_members WHERE team_id = $2) \
             SELECT a.id, a.max_chats, \
                (SELECT count(*) FROM conversations x WHERE x.agent_id = a.id AND x.state = 'active'), \
                (SELECT max(x.assigned_at) FROM conversations x WHERE x.agent_id = a.id) \
             FROM agents a JOIN members m ON m.agent_id = a.id \
             WHERE a.group_id = $3 AND a.id IS DISTINCT FROM $4",
        )
        .bind(department)
        .bind(team)
        .bind(group)
        .bind(exclude)
        .fetch_all(db)
        .await?;
        if rows.is_empty() {
            return Ok(Pool::default());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        let Ok(available) = self.available(group, ids, purpose).await else {
            return Ok(Pool {
                online: Vec::new(),
                silent: true,
            });
        };
        Ok(Pool {
            silent: false,
            online: rows
                .into_iter()
                .filter(|r| available.contains(&r.0))
                .map(|(id, max_chats, active, last_assigned)| Candidate {
                    id,
                    active,
                    max_chats,
                    last_assigned,
                })
                .collect(),
        })
    }

    /// Which of `agents` can take a chat of this kind now: what presence last said of them
    /// ([`crate::availability`]), and presence asked about the rest. Presence silent:
    /// `unavailable`, never "nobody", so no chat goes offline and no offer is withdrawn for
    /// lack of an answer.
    pub(crate) async fn available(
        &self,
        group: Uuid,
        agents: Vec<Uuid>,
        purpose: Purpose,
    ) -> Result<Vec<Uuid>, CommandError> {
        let found = self.availability.known(group, &agents, purpose).await;
        if found.unknown.is_empty() {
            return Ok(found.yes);
        }
        let mut yes = found.yes;
        let asked = self
            .ask_presence(group, found.unknown.clone(), purpose)
            .await?;
        self.availability
            .answered(group, purpose, &found.unknown, &asked, found.taken);
        yes.extend(asked);
        Ok(yes)
    }

    /// Which of `agents` presence says can take a chat of this kind now, asking again for
    /// [`PRESENCE_PATIENCE`] while it does not answer (a restart).
    async fn ask_presence(
        &self,
        group: Uuid,
        agents: Vec<Uuid>,
        purpose: Purpose,
    ) -> Result<Vec<Uuid>, CommandError> {
        let query = Envelope::new(
            group,
            FindAvailable {
                agent_ids: agents,
                purpose,
            },
        );
        match self
            .bus
            .request_retrying(
                v1::presence_find_available(group),
                &query,
                PRESENCE_PATIENCE,
            )
            .await
        {
            Ok(Ok(ids)) => Ok(ids),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "presence refused the availability query");
                Err(e)
            }
            Err(e) => {
                tracing::warn!(error = %e, "presence did not answer the availability query");
                Err(CommandError::new(
                    ErrorCode::Unavailable,
                    "presence did not answer; retry",
                ))
            }
        }
    }

    /// Reconsiders the offers of a waiting chat whose row `tx` has locked. Stages an `offered`
    /// event when anyone is added or withdrawn.
    pub(crate) async fn reconsider(
        &self,
        tx: &mut PgConnection,
        group: Uuid,
        id: Uuid,
        trigger: Trigger,
        staged: &mut Staged,
    ) -> Result<(), sqlx::Error> {
        let row: Option<WaitingRow> = sqlx::query_as(
            "SELECT state, department_id, team_id, offered_to, rang_out FROM conversations \
             WHERE id = $1 AND group_id = $2 FOR UPDATE",
        )
        .bind(id)
        .bind(group)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((state, department_id, mut team, current, rang_out)) = row else {
            return Ok(());
        };
        if state != "incoming" {
            return Ok(());
        }
        let dept = self.department_of(tx, group, department_id).await?;
        if trigger == Trigger::Overflow {
            let Some(overflow) = dept.settings.overflow_team_id else {
                return Ok(());
            };
            if team != Some(overflow) {
                team = Some(overflow);
                sqlx::query("UPDATE conversations SET team_id = $2 WHERE id = $1")
                    .bind(id)
                    .bind(overflow)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let pool = self
            .pool(
                &mut *tx,
                group,
                Some(department_id),
                team,
                None,
                Purpose::NewChat,
            )
            .await?;
        if pool.silent {
            // Nothing is known: the offers stay as they are; look again soon.
            return self.set_timer(tx, id, group, "recheck", RECHECK_SECS).await;
        }
        let eligible = pool.eligible(dept.settings.max_chats_per_agent);
        let plan = plan(dept.settings.mode, &eligible, &current, &rang_out, trigger);
        let fresh: Vec<Uuid> = plan
            .offered_to
            .iter()
            .filter(|a| !current.contains(a))
            .copied()
            .collect();
        let withdrawn: Vec<Uuid> = current
            .iter()
            .filter(|a| !plan.offered_to.contains(a))
            .copied()
            .collect();
        if fresh.is_empty()
            && withdrawn.is_empty()
            && plan.rang_out == rang_out
            && trigger != Trigger::Overflow
        {
            return Ok(());
        }
        sqlx::query("UPDATE conversations SET offered_to = $2, rang_out = $3 WHERE id = $1")
            .bind(id)
            .bind(&plan.offered_to)
            .bind(&plan.rang_out)
            .execute(&mut *tx)
            .await?;
        if dept.settings.mode == OfferMode::Ring {
            if plan.offered_to.is_empty() {
                self.cancel_timers(tx, id, &["ring"]).await?;
            } else if !fresh.is_empty() || trigger == Trigger::RingTimeout {
                self.set_timer(tx, id, group, "ring", dept.settings.ring_secs)
                    .await?;
            }
        }
        if (!fresh.is_empty() || !withdrawn.is_empty() || trigger == Trigger::Overflow)
            && let Some(now) = read::conversation(&mut *tx, group, id).await?
        {
            staged.event(ConversationEventKind::Offered, &now, fresh, withdrawn, None)?;
        }
        Ok(())
    }

    /// An agent's presence changed (status, devices, active chats). Presence is asked for the
    /// truth (events of one agent may be handled out of order by two replicas), and its answer
    /// kept for the next decisions ([`crate::availability`]); then, in set
    /// statements rather than chat by chat: broadcast chats the agent can no longer take (status,
    /// or full for that department) are withdrawn from them, and waiting broadcast chats of
    /// their departments and teams they can now take are offered to them. Ring chats that lose
    /// their ringing agent, or wait with nobody ringing, are reconsidered one by one.
    async fn presence_changed(&self, group: Uuid, agent: Uuid) {
        let taken = self.availability.taken().await;
        let Ok(available) = self
            .ask_presence(group, vec![agent], Purpose::NewChat)
            .await
        else {
            // Presence silent: nothing changes on a guess (the next change or recheck follows).
            return;
        };
        self.availability
            .answered(group, Purpose::NewChat, &[agent], &available, taken);
        let takes = available.contains(&agent);
        if let Err(e) = self.withdraw_and_offer(group, agent, takes).await {
            tracing::warn!(error = %e, agent = %agent, "cannot follow a presence change");
        }
    }

    async fn withdraw_and_offer(
        &self,
        group: Uuid,
        agent: Uuid,
        takes: bool,
    ) -> Result<(), sqlx::Error> {
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await?;
        let withdrawn: Vec<(Uuid, Option<String>)> = sqlx::query_as(concat!(
            "WITH ",
            me!(),
            ", gone AS ( \
                SELECT c.id, dr.mode FROM conversations c CROSS JOIN me \
                LEFT JOIN department_routing dr ON dr.department_id = c.department_id \
                WHERE c.group_id = $2 AND c.state = 'incoming' AND c.offered_to @> ARRAY[$1::uuid] \
                  AND (NOT $3 OR NOT (",
            room!(),
            ")) \
                ORDER BY c.id FOR UPDATE OF c) \
             UPDATE conversations c SET offered_to = array_remove(c.offered_to, $1) \
             FROM gone WHERE c.id = gone.id RETURNING c.id, gone.mode"
        ))
        .bind(agent)
        .bind(group)
        .bind(takes)
        .fetch_all(&mut *tx)
        .await?;
        let offered: Vec<(Uuid,)> = if takes {
            sqlx::query_as(concat!(
                "WITH ", me!(), ", fresh AS ( \
                    SELECT c.id FROM conversations c CROSS JOIN me \
                    LEFT JOIN department_routing dr ON dr.department_id = c.department_id \
                    WHERE c.group_id = $2 AND c.state = 'incoming' AND NOT ($1 = ANY(c.offered_to)) \
                      AND COALESCE(dr.mode, 'broadcast') = 'broadcast' \
                      AND (c.department_id IN (SELECT department_id FROM agent_memberships WHERE agent_id = $1) \
                           OR c.team_id IN (SELECT team_id FROM team_members WHERE agent_id = $1)) \
                      AND ", room!(), " \
                    ORDER BY c.id LIMIT 500 FOR UPDATE OF c) \
                 UPDATE conversations c SET offered_to = c.offered_to || $1::uuid \
                 FROM fresh WHERE c.id = fresh.id RETURNING c.id"
            ))
            .bind(agent)
            .bind(group)
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        for (id, _) in &withdrawn {
            if let Some(now) = read::conversation(&mut *tx, group, *id).await? {
                staged.event(
                    ConversationEventKind::Offered,
                    &now,
                    Vec::new(),
                    vec![agent],
                    None,
                )?;
            }
        }
        for (id,) in &offered {
            if let Some(now) = read::conversation(&mut *tx, group, *id).await? {
                staged.event(
                    ConversationEventKind::Offered,
                    &now,
                    vec![agent],
                    Vec::new(),
                    None,
                )?;
            }
        }
        self.commit(tx, staged).await?;

        // Ring chats: the one that lost its ringing agent rings the next; those ringing
        // nobody may ring this agent now.
        let mut ring: Vec<Uuid> = withdrawn
            .iter()
            .filter(|(_, mode)| mode.as_deref() == Some("ring"))
            .map(|(id, _)| *id)
            .collect();
        if takes {
            let idle: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT c.id FROM conversations c JOIN department_routing dr ON dr.department_id = c.department_id \
                 WHERE c.group_id = $2 AND c.state = 'incoming' AND dr.mode = 'ring' AND cardinality(c.offered_to) = 0 \
                   AND (c.department_id IN (SELECT department_id FROM agent_memberships WHERE agent_id = $1) \
                        OR c.team_id IN (SELECT team_id FROM team_members WHERE agent_id = $1)) \
                 ORDER BY c.created_at LIMIT 200",
            )
            .bind(agent)
            .bind(group)
            .fetch_all(&self.pool)
            .await?;
            ring.extend(idle.into_iter().map(|(id,)| id));
        }
        for id in ring {
            self.reconsider_now(group, id, Trigger::Presence).await?;
        }
        Ok(())
    }

    /// [`Machine::reconsider`] in a transaction of its own.
    pub(crate) async fn reconsider_now(
        &self,
        group: Uuid,
        id: Uuid,
        trigger: Trigger,
    ) -> Result<(), sqlx::Error> {
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await?;
        self.reconsider(&mut tx, group, id, trigger, &mut staged)
            .await?;
        self.commit(tx, staged).await?;
        Ok(())
    }
}

/// Follows presence changes with one durable consumer shared by all replicas.
pub(crate) fn follow_presence(base: &Base, machine: Arc<Machine>) {
    base.bus.follow_durable(
        v1::ROUTER_PRESENCE,
        chrono::Utc::now(),
        &base.tracker,
        base.shutdown.clone(),
        move |env: Envelope<PresenceChanged>| {
            let machine = machine.clone();
            async move {
                machine
                    .presence_changed(env.tenant, env.data.agent_id)
                    .await
            }
        },
    );
}
