//! Reading agents for presence: who they are, what they cover, how many chats they have. Read
//! from the tables of the directory (gateway) and the conversations (router); never written.

use chrono::{DateTime, TimeZone, Utc};
use showroom_proto::conversation::Named;
use showroom_proto::presence::{
    AgentPresence, AgentStatus, Board, BoardAgent, BoardDepartment, GetBoard,
};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

use crate::devices::Devices;
use showroom_store::fault::db_error;

fn redis_down(e: redis::RedisError) -> CommandError {
    tracing::warn!(error = %e, "redis failed");
    CommandError::new(ErrorCode::Unavailable, "presence store unavailable")
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    status: Option<String>,
    active_chats: i32,
    departments: Vec<Uuid>,
    rooftops: Vec<Uuid>,
}

/// SQL: the agents' rows, with what Postgres knows of them, for the `WHERE` clause given.
///
/// One statement for the board and one for an agent, not one with an optional agent
/// (`$2 IS NULL OR a.id = $2`): a plan made knowing whether `$2` is null always costs less than
/// one made without, so Postgres never used the generic plan of that statement and planned it
/// afresh at every call, 0.7 ms of planning for 0.14 of execution in the soak, at every
/// accept and end (`loadtest/README.md`, "Statements planned at every call").
macro_rules! agent_rows {
    ($where:literal) => {
        concat!(
            "SELECT a.id, a.first_name || ' ' || a.last_name AS name, s.status, \
               (SELECT count(*) FROM conversations c WHERE c.agent_id = a.id AND c.state = 'active')::int AS active_chats, \
               COALESCE(array_agg(DISTINCT m.department_id) FILTER (WHERE m.department_id IS NOT NULL), '{}') AS departments, \
               COALESCE(array_agg(DISTINCT d.rooftop_id) FILTER (WHERE d.rooftop_id IS NOT NULL), '{}') AS rooftops \
             FROM agents a \
             LEFT JOIN agent_statuses s ON s.agent_id = a.id \
             LEFT JOIN agent_memberships m ON m.agent_id = a.id \
             LEFT JOIN departments d ON d.id = m.department_id \
             WHERE ",
            $where,
            " GROUP BY a.id, s.status ORDER BY name"
        )
    };
}

/// The agents of `group` (or the one agent `only`), with what Postgres knows of them. The
/// board leaves out agents who were deactivated; asked for one by id, they are still found.
async fn rows(pool: &PgPool, group: Uuid, only: Option<Uuid>) -> Result<Vec<Row>, CommandError> {
    match only {
        Some(agent) => {
            sqlx::query_as(agent_rows!("a.group_id = $1 AND a.id = $2"))
                .bind(group)
                .bind(agent)
                .fetch_all(pool)
                .await
        }
        None => {
            sqlx::query_as(agent_rows!("a.group_id = $1 AND a.deactivated_at IS NULL"))
                .bind(group)
                .fetch_all(pool)
                .await
        }
    }
    .map_err(db_error)
}

fn ms_to_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

/// Presence of agents from their rows plus Redis (devices, last seen), in one round trip.
async fn with_devices(
    devices: &Devices,
    rows: Vec<Row>,
) -> Result<Vec<(String, AgentPresence)>, CommandError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let (counts, seen) = devices
        .counts_and_last_seen(&ids)
        .await
        .map_err(redis_down)?;
    Ok(rows
        .into_iter()
        .zip(counts.into_iter().zip(seen))
        .map(|(r, ((n, idle), seen))| {
            let status = r
                .status
                .as_deref()
                .and_then(AgentStatus::parse)
                .unwrap_or_default();
            let presence = AgentPresence {
                agent_id: r.id,
                status,
                effective: status.effective(n, idle),
                devices: n,
                idle_devices: idle.min(n),
                active_chats: r.active_chats.max(0) as u32,
                last_seen: ms_to_time(seen),
                departments: r.departments,
                rooftops: r.rooftops,
            };
            (r.name, presence)
        })
        .collect())
}

/// One agent's presence; `NotFound` when the agent is not in the group.
pub async fn presence(
    pool: &PgPool,
    devices: &Devices,
    group: Uuid,
    agent: Uuid,
) -> Result<AgentPresence, CommandError> {
    let rows = rows(pool, group, Some(agent)).await?;
    with_devices(devices, rows)
        .await?
        .pop()
        .map(|(_, p)| p)
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such agent in this dealer group"))
}

/// The Live Agent Status board of the group, filtered.
pub async fn board(
    pool: &PgPool,
    devices: &Devices,
    group: Uuid,
    filter: &GetBoard,
) -> Result<Board, CommandError> {
    let generated_at = Utc::now();
    let rooftops: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM rooftops WHERE group_id = $1 ORDER BY name")
            .bind(group)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
    let departments: Vec<(Uuid, String, String, Uuid)> = sqlx::query_as(
        "SELECT d.id, d.label, COALESCE(d.board_section, d.label), d.rooftop_id FROM departments d \
         JOIN rooftops r ON r.id = d.rooftop_id WHERE d.group_id = $1 ORDER BY r.name, d.position, d.label",
    )
    .bind(group)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let agents = with_devices(devices, rows(pool, group, None).await?)
        .await?
        .into_iter()
        .filter(|(_, p)| filter.status.is_none_or(|s| p.effective == s))
        .filter(|(_, p)| filter.rooftop_id.is_none_or(|r| p.rooftops.contains(&r)))
        .filter(|(_, p)| {
            filter
                .department_id
                .is_none_or(|d| p.departments.contains(&d))
        })
        .map(|(name, presence)| BoardAgent { name, presence })
        .collect();
    Ok(Board {
        generated_at,
        rooftops: rooftops
            .into_iter()
            .map(|(id, name)| Named { id, name })
            .collect(),
        departments: departments
            .into_iter()
            .map(|(id, label, section, rooftop_id)| BoardDepartment {
                id,
                label,
                section,
                rooftop_id,
            })
            .collect(),
        agents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An agent's row and the board's rows, each from a statement Postgres does not plan
    /// afresh at every call: with one statement for both (the agent a parameter that may be
    /// null), each of the ten reads of one agent below was planned (`custom` 10).
    #[tokio::test]
    async fn an_agent_and_the_board_are_read_without_planning_each_call() -> anyhow::Result<()> {
        let pg = showroom_localinfra::Postgres::start(Default::default()).await?;
        // One connection: the plan counts below are its session's.
        let pool = showroom_store::connect(&pg.url, 1).await?;
        showroom_store::migrate(&pool).await?;
        let [group, rooftop, department, ann, bob] = [(); 5].map(|_| Uuid::now_v7());
        for statement in [
            "INSERT INTO dealer_groups (id, name) VALUES ($1, 'Board')",
            "INSERT INTO rooftops (id, group_id, name, time_zone) \
             VALUES ($2, $1, 'Board Honda', 'America/Chicago')",
            "INSERT INTO departments (id, group_id, rooftop_id, label) VALUES ($3, $1, $2, 'Sales')",
            "INSERT INTO agents (id, group_id, email, password_hash, first_name, last_name, role) \
             VALUES ($4, $1, 'ann@example.com', 'x', 'Ann', 'Lee', 'agent'), \
                    ($5, $1, 'bob@example.com', 'x', 'Bob', 'Ray', 'agent')",
            "INSERT INTO agent_memberships (agent_id, department_id, group_id) VALUES ($4, $3, $1)",
            // Bob left: off the board, still found by id.
            "UPDATE agents SET deactivated_at = now() WHERE id = $5",
        ] {
            sqlx::query(statement)
                .bind(group)
                .bind(rooftop)
                .bind(department)
                .bind(ann)
                .bind(bob)
                .execute(&pool)
                .await?;
        }
        for _ in 0..10 {
            let found = rows(&pool, group, Some(ann)).await?;
            let [one] = found.as_slice() else {
                panic!("{} rows for one agent", found.len());
            };
            assert_eq!(
                (one.id, one.name.as_str(), &one.departments, &one.rooftops),
                (ann, "Ann Lee", &vec![department], &vec![rooftop])
            );
        }
        let gone = rows(&pool, group, Some(bob)).await?;
        assert_eq!(gone.iter().map(|r| r.id).collect::<Vec<_>>(), [bob]);
        assert!(rows(&pool, Uuid::now_v7(), Some(ann)).await?.is_empty());
        let board = rows(&pool, group, None).await?;
        assert_eq!(board.iter().map(|r| r.id).collect::<Vec<_>>(), [ann]);

        let mut db = pool.acquire().await?;
        let (generic, custom) = showroom_store::plan::plans_of(
            &mut db,
            "SELECT a.id, a.first_name || ' ' || a.last_name AS name",
        )
        .await?;
        assert_eq!(generic + custom, 13, "calls of the agents' statements");
        assert!(
            custom <= 7,
            "planned afresh at {custom} of 13 calls (Postgres plans a statement's first five)"
        );
        Ok(())
    }
}
