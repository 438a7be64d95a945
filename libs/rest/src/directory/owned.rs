//! Whether a department or a website is a group's: the check every write of another service's
//! settings makes before it forwards them.

use sqlx::PgExecutor;
use uuid::Uuid;

/// Whether a department (or a website) with this id belongs to `group`.
pub async fn in_group(
    db: impl PgExecutor<'_>,
    kind: Owned,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<bool> {
    let sql = match kind {
        Owned::Department => {
            "SELECT EXISTS (SELECT 1 FROM departments WHERE id = $1 AND group_id = $2)"
        }
        Owned::Website => "SELECT EXISTS (SELECT 1 FROM websites WHERE id = $1 AND group_id = $2)",
    };
    sqlx::query_scalar(sql)
        .bind(id)
        .bind(group)
        .fetch_one(db)
        .await
}

/// Things of a group that [`in_group`] can check.
#[derive(Debug, Clone, Copy)]
pub enum Owned {
    /// A department.
    Department,
    /// A website.
    Website,
}
