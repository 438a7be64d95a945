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

/// SQL: withdraws the waiting chats of group `$2` offered to agent `$1` that also
/// meet `$cond` (`""` for all of them), returning each chat's id and routing mode.
macro_rules! withdraw {
    ($cond:expr) => {
        concat!(
            "WITH ",
            me!(),
            ", gone AS ( \
                SELECT c.id, dr.mode FROM conversations c CROSS JOIN me \
                LEFT JOIN department_routing dr ON dr.department_id = c.department_id \
                WHERE c.group_id = $2 AND c.state = 'incoming' AND c.offered_to @> ARRAY[$1::uuid]",
            $cond,
            " ORDER BY c.id FOR UPDATE OF c) \
             UPDATE conversations c SET offered_to = array_remove(c.offered_to, $1) \
             FROM gone WHERE c.id = gone.id RETURNING c.id, gone.mode"
        )
    };
}

/// SQL: the agents of group `$1` who are among `$members` (a query of agent ids), each with
/// their maximum, active chats and last assignment.
macro_rules! members {
    ($members:literal) => {
        concat!(
            "WITH members AS (",
            $members,
            ") SELECT a.id, a.max_chats, \
                (SELECT count(*) FROM conversations x WHERE x.agent_id = a.id AND x.state = 'active'), \
                (SELECT max(x.assigned_at) FROM conversations x WHERE x.agent_id = a.id) \
             FROM agents a JOIN members m ON m.agent_id = a.id WHERE a.group_id = $1"
        )
    };
}

/// Withdraws from `agent` the waiting chats of `group` offered to them: all of them when the
/// agent no longer `takes` chats, else those of departments where they have no room left.
/// Returns each chat withdrawn with its routing mode.
///
/// Two statements, not one with `NOT $3 OR …`: a plan made knowing `$3` drops a branch, so
/// Postgres planned that statement afresh at most calls (0.6 of them in the soak, 1 ms a plan;
/// see [`members`]). The statement of an agent who takes chats, the common case, now runs its
/// generic plan. The other is still planned at each call: a plan that knows the agent
/// estimates `offered_to @> ARRAY[$1]` from the array's element statistics, and so looks
/// cheaper than the generic plan's default guess.
async fn withdraw(
    db: &mut PgConnection,
    group: Uuid,
    agent: Uuid,
    takes: bool,
) -> Result<Vec<(Uuid, Option<String>)>, sqlx::Error> {
    if takes {
        sqlx::query_as(withdraw!(concat!(" AND NOT (", room!(), ")")))
    } else {
        sqlx::query_as(withdraw!(""))
    }
    .bind(agent)
    .bind(group)
    .fetch_all(db)
    .await
}

/// State, department, team, offered to, rang out.
type WaitingRow = (String, Uuid, Option<Uuid>, Vec<Uuid>, Vec<Uuid>);

/// An agent who may be offered a chat: id, maximum of chats, active chats, last assigned.
type MemberRow = (Uuid, i32, i64, Option<DateTime<Utc>>);

/// The agents of `group` in `department` (and in `team`, when given), each once.
///
/// A statement without a team and one with, not one whose team may be null: a plan made
/// knowing the team is null drops the team's half, so it always cost less than the generic
/// plan and Postgres planned that statement afresh at every call (0.5 ms of planning for 0.2
/// of execution in the soak; `loadtest/README.md`, "Statements planned at every call"). The
/// agent a transfer leaves out is left out by the caller for the same reason.
async fn members<'c>(
    db: impl sqlx::PgExecutor<'c>,
    group: Uuid,
    department: Uuid,
    team: Option<Uuid>,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    match team {
        None => {
            sqlx::query_as(members!(
                "SELECT agent_id FROM agent_memberships WHERE department_id = $2"
            ))
            .bind(group)
            .bind(department)
            .fetch_all(db)
            .await
        }
        Some(team) => {
            sqlx::query_as(members!(
                "SELECT agent_id FROM agent_memberships WHERE department_id = $2 \
                 UNION SELECT agent_id FROM team_members WHERE team_id = $3"
            ))
            .bind(group)
            .bind(department)
            .bind(team)
            .fetch_all(db)
            .await
        }
    }
}

impl Machine {
    /// Members of the department (and of `team`, when the chat is routed or overflowed to
    /// one), with what presence says about them for `purpose`; `exclude` left out.
    pub(crate) async fn pool<'c>(
        &self,
        db: impl sqlx::PgExecutor<'c>,
        group: Uuid,
        department: Uuid,
        team: Option<Uuid>,
        exclude: Option<Uuid>,
        purpose: Purpose,
    ) -> Result<Pool, sqlx::Error> {
        let mut rows = members(db, group, department, team).await?;
        rows.retain(|r| Some(r.0) != exclude);
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
            .pool(&mut *tx, group, department_id, team, None, Purpose::NewChat)
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
        let withdrawn = withdraw(&mut tx, group, agent, takes).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The members' query finds each member once, the team's with the department's when a
    /// team is given, and is not planned afresh at every call: with the team a parameter that
    /// may be null (the statement before), all ten calls below were planned (`custom` 10).
    #[tokio::test]
    async fn members_are_found_once_and_planned_once() -> anyhow::Result<()> {
        let d = crate::fixture::dealer("Members").await?;
        let (pool, group, department) = (&d.pool, d.group, d.department);
        let [team, a, b, c] = [(); 4].map(|_| Uuid::now_v7());
        for statement in [
            "INSERT INTO teams (id, group_id, name) VALUES ($2, $1, 'Evenings')",
            "INSERT INTO agents (id, group_id, email, password_hash, first_name, last_name, role) \
             SELECT x, $1, x::text || '@example.com', 'x', 'A', 'B', 'agent' \
             FROM unnest(ARRAY[$3, $4, $5]::uuid[]) x",
            // a and b cover the department, b and c are in the team.
            "INSERT INTO agent_memberships (agent_id, department_id, group_id) \
             VALUES ($3, $6, $1), ($4, $6, $1)",
            "INSERT INTO team_members (team_id, agent_id, group_id) VALUES ($2, $4, $1), ($2, $5, $1)",
        ] {
            sqlx::query(statement)
                .bind(group)
                .bind(team)
                .bind(a)
                .bind(b)
                .bind(c)
                .bind(department)
                .execute(pool)
                .await?;
        }
        let ids = |rows: Vec<MemberRow>| {
            let mut ids: Vec<Uuid> = rows.into_iter().map(|r| r.0).collect();
            ids.sort();
            ids
        };
        for _ in 0..10 {
            let found = members(pool, group, department, None).await?;
            assert_eq!(ids(found), [a, b]);
        }
        let found = members(pool, group, department, Some(team)).await?;
        assert_eq!(ids(found), [a, b, c], "the team's members, each once");
        assert!(
            members(pool, Uuid::now_v7(), department, Some(team))
                .await?
                .is_empty(),
            "another group's agents are not members"
        );

        let (generic, custom) = showroom_store::plan::plans_of(
            &mut *pool.acquire().await?,
            "WITH members AS (SELECT agent_id FROM agent_memberships WHERE department_id = $2)",
        )
        .await?;
        assert_eq!(
            generic + custom,
            10,
            "calls of the statement without a team"
        );
        assert!(
            custom <= 5,
            "planned afresh at {custom} of 10 calls (Postgres plans the first five)"
        );
        Ok(())
    }

    /// An agent who no longer takes chats loses every offer; one who does loses only the offers
    /// of departments where they are full. Each case is its own statement; the one that runs at
    /// most presence changes (an agent who takes chats) runs on its generic plan: with
    /// `NOT $3 OR …` (the statement before), every one of the 22 calls below was planned.
    #[tokio::test]
    async fn offers_are_withdrawn_without_planning_each_call() -> anyhow::Result<()> {
        let d = crate::fixture::dealer("Withdraw").await?;
        let [full, free, held, waiting_a, waiting_b, waiting_c] = [(); 6].map(|_| Uuid::now_v7());
        for statement in [
            // `full` may have one chat and has it; `free` may have three.
            "INSERT INTO agents (id, group_id, email, password_hash, first_name, last_name, role, max_chats) \
             VALUES ($5, $1, 'full@example.com', 'x', 'A', 'B', 'agent', 1), \
                    ($6, $1, 'free@example.com', 'x', 'C', 'D', 'agent', 3)",
            "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
               state, agent_id, assigned_at) VALUES ($7, $1, $4, $2, $3, gen_random_uuid(), 'active', $5, now())",
            // Two waiting chats offered to both, one to `free` alone.
            "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
               state, offered_to) SELECT x, $1, $4, $2, $3, gen_random_uuid(), 'incoming', \
               CASE WHEN x = $10 THEN ARRAY[$6] ELSE ARRAY[$5, $6] END \
             FROM unnest(ARRAY[$8, $9, $10]::uuid[]) x",
            // A day's chats around them, and statistics of it (the plans follow the data).
            "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
               state, ended_at, offered_to) SELECT gen_random_uuid(), $1, $4, $2, $3, gen_random_uuid(), \
               CASE WHEN n % 10 = 0 THEN 'incoming' ELSE 'ended' END, \
               CASE WHEN n % 10 = 0 THEN NULL ELSE now() END, ARRAY[gen_random_uuid()] \
             FROM generate_series(1, 5000) n",
            "ANALYZE conversations",
        ] {
            sqlx::query(statement)
                .bind(d.group)
                .bind(d.rooftop)
                .bind(d.department)
                .bind(d.website)
                .bind(full)
                .bind(free)
                .bind(held)
                .bind(waiting_a)
                .bind(waiting_b)
                .bind(waiting_c)
                .execute(&d.pool)
                .await?;
        }
        let group = d.group;
        let mut db = d.pool.acquire().await?;
        let sorted = |mut ids: Vec<Uuid>| {
            ids.sort();
            ids
        };
        let ids =
            |rows: Vec<(Uuid, Option<String>)>| sorted(rows.into_iter().map(|r| r.0).collect());
        // Calls that change nothing, for the plan counts: `free` has room, another group's
        // agent has no offers.
        for _ in 0..10 {
            assert!(withdraw(&mut db, group, free, true).await?.is_empty());
            assert!(
                withdraw(&mut db, Uuid::now_v7(), free, false)
                    .await?
                    .is_empty()
            );
        }
        assert_eq!(
            ids(withdraw(&mut db, group, full, true).await?),
            sorted(vec![waiting_a, waiting_b]),
            "a full agent loses the offers they have no room for"
        );
        assert_eq!(
            ids(withdraw(&mut db, group, free, false).await?),
            sorted(vec![waiting_a, waiting_b, waiting_c]),
            "an agent who takes no chats loses every offer"
        );
        let left: Vec<(Vec<Uuid>,)> =
            sqlx::query_as("SELECT offered_to FROM conversations WHERE id = ANY($1)")
                .bind([waiting_a, waiting_b, waiting_c])
                .fetch_all(&mut *db)
                .await?;
        assert_eq!(left.len(), 3);
        assert!(left.iter().all(|(o,)| o.is_empty()), "{left:?}");

        // The statement of an agent who takes chats runs its generic plan after Postgres's
        // first five. The other one is still planned at each call: a plan knowing the agent
        // estimates `offered_to @> ARRAY[$1]` from the array's element statistics, which makes
        // it look cheaper than the generic plan's default guess (`docs/architecture.md`).
        let (generic, custom): (i64, i64) = sqlx::query_as(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
             WHERE starts_with(statement, 'WITH me AS') AND strpos(statement, 'NOT (me.active') > 0",
        )
        .fetch_one(&mut *db)
        .await?;
        assert_eq!(generic + custom, 11, "calls of an agent who takes chats");
        assert!(
            custom <= 5,
            "planned afresh at {custom} of 11 calls (Postgres plans the first five)"
        );
        Ok(())
    }
}
