//! Departments: the admin pages' writes (a label unique in its rooftop, any case; a department with history is never deleted). The ones a shopper can choose are read with the widget's `welcome` (`showroom_store::read::widget_site`).

use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::refused::{DirectoryError, taken_or};
use crate::audit;

/// A department as the admin pages show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DepartmentView {
    /// Its id.
    pub id: Uuid,
    /// Its rooftop (the view nests departments in their rooftop, so not repeated).
    #[serde(skip)]
    pub rooftop_id: Uuid,
    /// What shoppers and agents see ("Sales").
    pub label: String,
    /// Section of the Live Agent Status board ("Front End"), if any.
    pub board_section: Option<String>,
    /// Order among the rooftop's departments (smallest first).
    pub position: i32,
}

/// A department's rooftop, when the department is in `group`.
pub async fn department_rooftop(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT rooftop_id FROM departments WHERE id = $1 AND group_id = $2")
        .bind(id)
        .bind(group)
        .fetch_optional(db)
        .await
}

/// A department's fields as its audit rows keep them (`before`, `after`).
#[derive(Debug, Serialize, sqlx::FromRow)]
struct Audited {
    rooftop_id: Uuid,
    label: String,
    board_section: Option<String>,
    position: i32,
}

/// Records `event` (about `department:<id>`, `action`) with `before` and `after`.
async fn record_change(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    event: audit::Event,
    id: Uuid,
    action: &str,
    before: Option<&Audited>,
    after: Option<&Audited>,
) -> Result<(), DirectoryError> {
    let mut event = event.about(format!("department:{id}"));
    event.detail["action"] = serde_json::json!(action);
    event.detail["before"] = serde_json::json!(before);
    event.detail["after"] = serde_json::json!(after);
    audit::record(tx, &event)
        .await
        .map_err(DirectoryError::Audit)?;
    Ok(())
}

async fn audited(tx: &mut sqlx::PgConnection, id: Uuid) -> sqlx::Result<Audited> {
    sqlx::query_as(
        "SELECT rooftop_id, label, board_section, position FROM departments WHERE id = $1",
    )
    .bind(id)
    .fetch_one(tx)
    .await
}

/// The rooftop of a conversation's department, when the conversation is `group`'s.
pub async fn conversation_rooftop(
    db: impl PgExecutor<'_>,
    group: Uuid,
    conversation: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT d.rooftop_id FROM conversations c JOIN departments d ON d.id = c.department_id \
         WHERE c.id = $1 AND c.group_id = $2",
    )
    .bind(conversation)
    .bind(group)
    .fetch_optional(db)
    .await
}

/// Creates a department at the end of its rooftop's list, with its audit row (`audit`).
/// `None` when the rooftop is not `group`'s; [`DirectoryError::Taken`] (`label`) when the
/// rooftop has a department with this label in any case. The rooftop's row is locked, so two
/// creations cannot both pass the check.
pub async fn create_department(
    pool: &PgPool,
    group: Uuid,
    rooftop: Uuid,
    label: &str,
    board_section: Option<&str>,
    audit: audit::Event,
) -> Result<Option<Uuid>, DirectoryError> {
    let mut tx = pool.begin().await?;
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM rooftops WHERE id = $1 AND group_id = $2 FOR UPDATE")
            .bind(rooftop)
            .bind(group)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Ok(None);
    }
    label_free(&mut tx, rooftop, label, None).await?;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO departments (id, group_id, rooftop_id, label, board_section, position) \
         SELECT $1, $2, $3, $4, $5, COALESCE(max(position) + 1, 0) FROM departments WHERE rooftop_id = $3",
    )
    .bind(id)
    .bind(group)
    .bind(rooftop)
    .bind(label)
    .bind(board_section)
    .execute(&mut *tx)
    .await
    .map_err(|e| taken_or(e, "label"))?;
    let after = audited(&mut tx, id).await?;
    record_change(&mut tx, audit, id, "created", None, Some(&after)).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// [`DirectoryError::Taken`] when another department of the rooftop has this label (any case).
async fn label_free(
    tx: &mut sqlx::PgConnection,
    rooftop: Uuid,
    label: &str,
    except: Option<Uuid>,
) -> Result<(), DirectoryError> {
    let clash: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM departments WHERE rooftop_id = $1 AND lower(label) = lower($2) \
         AND ($3::uuid IS NULL OR id <> $3))",
    )
    .bind(rooftop)
    .bind(label)
    .bind(except)
    .fetch_one(&mut *tx)
    .await?;
    if clash {
        Err(DirectoryError::Taken { field: "label" })
    } else {
        Ok(())
    }
}

/// Changes a department's label, board section and (when given) position, with its audit row
/// (`audit`, when something changed); false when `group` has no such department or it is not
/// of `within` (a rooftop manager's rooftops).
#[allow(clippy::too_many_arguments)]
pub async fn update_department(
    pool: &PgPool,
    group: Uuid,
    within: Option<&[Uuid]>,
    id: Uuid,
    label: &str,
    board_section: Option<&str>,
    position: Option<i32>,
    audit: audit::Event,
) -> Result<bool, DirectoryError> {
    let mut tx = pool.begin().await?;
    let rooftop: Option<Uuid> = sqlx::query_scalar(
        "SELECT r.id FROM departments d JOIN rooftops r ON r.id = d.rooftop_id \
         WHERE d.id = $1 AND d.group_id = $2 FOR UPDATE OF r",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(rooftop) = rooftop.filter(|r| within.is_none_or(|w| w.contains(r))) else {
        return Ok(false);
    };
    label_free(&mut tx, rooftop, label, Some(id)).await?;
    let before = audited(&mut tx, id).await?;
    sqlx::query(
        "UPDATE departments SET label = $3, board_section = $4, position = COALESCE($5, position) \
         WHERE id = $1 AND group_id = $2",
    )
    .bind(id)
    .bind(group)
    .bind(label)
    .bind(board_section)
    .bind(position)
    .execute(&mut *tx)
    .await
    .map_err(|e| taken_or(e, "label"))?;
    let after = audited(&mut tx, id).await?;
    if serde_json::json!(before) != serde_json::json!(after) {
        record_change(&mut tx, audit, id, "changed", Some(&before), Some(&after)).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// One department of a group as the admin pages show it.
pub async fn department_view(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<DepartmentView>> {
    sqlx::query_as(
        "SELECT id, rooftop_id, label, board_section, position FROM departments WHERE id = $1 AND group_id = $2",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(db)
    .await
}

/// Deletes a department with no history, with its audit row (`audit`); false when `group`
/// has no such department or it is not of `within` (a rooftop manager's rooftops);
/// [`DirectoryError::InUse`] when a conversation is or was in it, a lead names it or a CRM
/// destination is for it (deleting would cascade into, or orphan, that history). The department's row is locked first, so a chat started meanwhile is either seen
/// here or fails to start in it.
pub async fn delete_department(
    pool: &PgPool,
    group: Uuid,
    within: Option<&[Uuid]>,
    id: Uuid,
    audit: audit::Event,
) -> Result<bool, DirectoryError> {
    let mut tx = pool.begin().await?;
    let found: Option<Uuid> = sqlx::query_scalar(
        "SELECT rooftop_id FROM departments WHERE id = $1 AND group_id = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(&mut *tx)
    .await?;
    if !found.is_some_and(|r| within.is_none_or(|w| w.contains(&r))) {
        return Ok(false);
    }
    let before = audited(&mut tx, id).await?;
    // Its own chats and chats once transferred to it (their transfer rows would cascade),
    // leads made in it, and CRM destinations for it (their delivery log would cascade).
    let (conversations, leads, destinations): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversations WHERE group_id = $2 AND department_id = $1) \
           + (SELECT count(DISTINCT conversation_id) FROM transfers WHERE group_id = $2 AND to_department = $1 \
              AND conversation_id NOT IN (SELECT id FROM conversations WHERE group_id = $2 AND department_id = $1)), \
           (SELECT count(*) FROM leads WHERE group_id = $2 AND department_id = $1), \
           (SELECT count(*) FROM crm_destinations WHERE group_id = $2 AND department_id = $1)",
    )
    .bind(id)
    .bind(group)
    .fetch_one(&mut *tx)
    .await?;
    let uses: Vec<String> = [
        (conversations, "conversation"),
        (leads, "lead"),
        (destinations, "CRM destination"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}{}", if n == 1 { "" } else { "s" }))
    .collect();
    if !uses.is_empty() {
        return Err(DirectoryError::InUse(uses.join(", ")));
    }
    sqlx::query("DELETE FROM departments WHERE id = $1 AND group_id = $2")
        .bind(id)
        .bind(group)
        .execute(&mut *tx)
        .await?;
    record_change(&mut tx, audit, id, "deleted", Some(&before), None).await?;
    tx.commit().await?;
    Ok(true)
}
