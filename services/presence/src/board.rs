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

/// The agents of `group` (or the one agent `only`), with what Postgres knows of them. The
/// board leaves out agents who were deactivated; asked for one by id, they are still found.
async fn rows(pool: &PgPool, group: Uuid, only: Option<Uuid>) -> Result<Vec<Row>, CommandError> {
    sqlx::query_as(
        "SELECT a.id, a.first_name || ' ' || a.last_name AS name, s.status, \
           (SELECT count(*) FROM conversations c WHERE c.agent_id = a.id AND c.state = 'active')::int AS active_chats, \
           COALESCE(array_agg(DISTINCT m.department_id) FILTER (WHERE m.department_id IS NOT NULL), '{}') AS departments, \
           COALESCE(array_agg(DISTINCT d.rooftop_id) FILTER (WHERE d.rooftop_id IS NOT NULL), '{}') AS rooftops \
         FROM agents a \
         LEFT JOIN agent_statuses s ON s.agent_id = a.id \
         LEFT JOIN agent_memberships m ON m.agent_id = a.id \
         LEFT JOIN departments d ON d.id = m.department_id \
         WHERE a.group_id = $1 AND ($2::uuid IS NULL OR a.id = $2) \
           AND ($2::uuid IS NOT NULL OR a.deactivated_at IS NULL) \
         GROUP BY a.id, s.status ORDER BY name",
    )
    .bind(group)
    .bind(only)
    .fetch_all(pool)
    .await
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
