//! Rooftop scopes: the rooftops a `rooftop_manager` manages (`agent_rooftops`). A manager or an
//! admin manages the whole group and has no rows here.

use sqlx::PgExecutor;
use uuid::Uuid;

/// The rooftops `agent` (of `group`) manages, sorted.
pub async fn rooftops_managed_by(
    db: impl PgExecutor<'_>,
    group: Uuid,
    agent: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT rooftop_id FROM agent_rooftops WHERE agent_id = $1 AND group_id = $2 \
         ORDER BY rooftop_id",
    )
    .bind(agent)
    .bind(group)
    .fetch_all(db)
    .await
}

/// Replaces the rooftops `agent` manages with `rooftops` (ids of `group`'s rooftops; another
/// group's are refused by the foreign keys), returning the ones before. Run it in the
/// transaction that changes the agent, with its audit row.
pub async fn set_rooftops_managed(
    tx: &mut sqlx::PgConnection,
    group: Uuid,
    agent: Uuid,
    rooftops: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    let mut before: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM agent_rooftops WHERE agent_id = $1 AND group_id = $2 RETURNING rooftop_id",
    )
    .bind(agent)
    .bind(group)
    .fetch_all(&mut *tx)
    .await?;
    before.sort();
    sqlx::query(
        "INSERT INTO agent_rooftops (agent_id, rooftop_id, group_id) \
         SELECT $1, r, $2 FROM unnest($3::uuid[]) r ON CONFLICT DO NOTHING",
    )
    .bind(agent)
    .bind(group)
    .bind(rooftops)
    .execute(&mut *tx)
    .await?;
    Ok(before)
}
