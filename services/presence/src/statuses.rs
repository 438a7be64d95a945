//! Chosen statuses, durable in Postgres (`agent_statuses`, owned by this service).

use showroom_proto::presence::{AgentStatus, SetStatus};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::fault::db_error;
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

/// Chosen statuses of those of `agents` that are in the group.
pub async fn many(
    pool: &PgPool,
    group: Uuid,
    agents: &[Uuid],
) -> Result<Vec<(Uuid, AgentStatus)>, CommandError> {
    let rows: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "SELECT a.id, s.status FROM agents a LEFT JOIN agent_statuses s ON s.agent_id = a.id \
         WHERE a.id = ANY($1) AND a.group_id = $2",
    )
    .bind(agents)
    .bind(group)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, s)| {
            (
                id,
                s.as_deref()
                    .and_then(AgentStatus::parse)
                    .unwrap_or_default(),
            )
        })
        .collect())
}

/// Records a chosen status and who chose it, with its history, in one transaction.
pub async fn set(pool: &PgPool, group: Uuid, cmd: &SetStatus) -> Result<(), CommandError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let done = sqlx::query(
        "INSERT INTO agent_statuses (agent_id, group_id, status, changed_by, changed_at) \
         SELECT a.id, a.group_id, $3, $4, now() FROM agents a WHERE a.id = $1 AND a.group_id = $2 \
         ON CONFLICT (agent_id) DO UPDATE SET status = EXCLUDED.status, changed_by = EXCLUDED.changed_by, \
         changed_at = EXCLUDED.changed_at",
    )
    .bind(cmd.agent_id)
    .bind(group)
    .bind(cmd.status.as_str())
    .bind(cmd.changed_by)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(CommandError::new(
            ErrorCode::NotFound,
            "no such agent in this dealer group",
        ));
    }
    sqlx::query("INSERT INTO agent_status_changes (agent_id, group_id, status, changed_by) VALUES ($1, $2, $3, $4)")
        .bind(cmd.agent_id)
        .bind(group)
        .bind(cmd.status.as_str())
        .bind(cmd.changed_by)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)
}
