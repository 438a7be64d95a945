//! Rooftops (dealerships) with their departments and websites, and the admin pages' writes.

use super::departments::DepartmentView;
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// A website in its rooftop's summary.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WebsiteRef {
    /// Its id.
    pub id: Uuid,
    /// Its rooftop (implied by the nesting).
    #[serde(skip)]
    pub rooftop_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its widget key.
    pub widget_key: String,
}

/// A rooftop (dealership) with its departments and websites.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RooftopView {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// IANA time zone its business hours are read in.
    pub time_zone: String,
    /// ISO 3166-1 alpha-2 country (phone numbers are read in it).
    pub country: String,
    /// Its phone number as shoppers are told it (canned responses' `{rooftop.phone}`), or none.
    pub phone: Option<String>,
    /// Its departments, by position then label.
    pub departments: Vec<DepartmentView>,
    /// Its websites, by name.
    pub websites: Vec<WebsiteRef>,
}

#[derive(sqlx::FromRow)]
struct RooftopRow {
    id: Uuid,
    name: String,
    time_zone: String,
    country: String,
    phone: Option<String>,
}

/// The rooftops of a group (by name), or the one rooftop `only`, with their departments and
/// websites. Read in one snapshot so the three lists agree.
pub async fn rooftops_of(
    pool: &PgPool,
    group: Uuid,
    only: Option<Uuid>,
) -> sqlx::Result<Vec<RooftopView>> {
    rooftops_within(pool, group, only, None).await
}

/// Whether `group` has the rooftop `id`.
pub async fn rooftop_in_group(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rooftops WHERE id = $1 AND group_id = $2)")
        .bind(id)
        .bind(group)
        .fetch_one(db)
        .await
}

/// [`rooftops_of`], keeping to `rooftops` when given (a rooftop manager's).
pub async fn rooftops_within(
    pool: &PgPool,
    group: Uuid,
    only: Option<Uuid>,
    within: Option<&[Uuid]>,
) -> sqlx::Result<Vec<RooftopView>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let rooftops: Vec<RooftopRow> = sqlx::query_as(
        "SELECT id, name, time_zone, country, phone FROM rooftops \
         WHERE group_id = $1 AND ($2::uuid IS NULL OR id = $2) ORDER BY name, id",
    )
    .bind(group)
    .bind(only)
    .fetch_all(&mut *tx)
    .await?;
    let departments: Vec<DepartmentView> = sqlx::query_as(
        "SELECT id, rooftop_id, label, board_section, position FROM departments \
         WHERE group_id = $1 AND ($2::uuid IS NULL OR rooftop_id = $2) ORDER BY position, label, id",
    )
    .bind(group)
    .bind(only)
    .fetch_all(&mut *tx)
    .await?;
    let websites: Vec<WebsiteRef> = sqlx::query_as(
        "SELECT id, rooftop_id, name, widget_key FROM websites \
         WHERE group_id = $1 AND ($2::uuid IS NULL OR rooftop_id = $2) ORDER BY name, id",
    )
    .bind(group)
    .bind(only)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rooftops
        .into_iter()
        .map(|r| RooftopView {
            departments: departments
                .iter()
                .filter(|d| d.rooftop_id == r.id)
                .cloned()
                .collect(),
            websites: websites
                .iter()
                .filter(|w| w.rooftop_id == r.id)
                .cloned()
                .collect(),
            id: r.id,
            name: r.name,
            time_zone: r.time_zone,
            country: r.country,
            phone: r.phone,
        })
        .filter(|r| within.is_none_or(|w| w.contains(&r.id)))
        .collect())
}

/// A rooftop's settings, already checked by the caller.
#[derive(Debug, Clone, Copy)]
pub struct RooftopInput<'a> {
    /// Its name, trimmed.
    pub name: &'a str,
    /// A canonical IANA time zone name.
    pub time_zone: &'a str,
    /// ISO 3166-1 alpha-2.
    pub country: &'a str,
    /// Its phone number: `Some(None)` none, `None` unchanged (none for a new rooftop).
    pub phone: Option<Option<&'a str>>,
}

/// Creates a rooftop of `group`.
pub async fn create_rooftop(
    db: impl PgExecutor<'_>,
    group: Uuid,
    r: RooftopInput<'_>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO rooftops (id, group_id, name, time_zone, country, phone) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(group)
    .bind(r.name)
    .bind(r.time_zone)
    .bind(r.country)
    .bind(r.phone.flatten())
    .execute(db)
    .await?;
    Ok(id)
}

/// Changes a rooftop of `group`; false when it has none with this id.
pub async fn update_rooftop(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
    r: RooftopInput<'_>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE rooftops SET name = $3, time_zone = $4, country = $5, \
           phone = CASE WHEN $6 THEN $7 ELSE phone END WHERE id = $1 AND group_id = $2",
    )
    .bind(id)
    .bind(group)
    .bind(r.name)
    .bind(r.time_zone)
    .bind(r.country)
    .bind(r.phone.is_some())
    .bind(r.phone.flatten())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A rooftop's settings as its audit rows keep them (`name`, `time_zone`, `country`, `phone`), the row
/// locked for a change in `tx`; none when `group` has no such rooftop.
pub async fn lock_rooftop(
    tx: &mut sqlx::PgConnection,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<serde_json::Value>> {
    let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT name, time_zone, country, phone FROM rooftops WHERE id = $1 AND group_id = $2 \
         FOR UPDATE",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|(name, time_zone, country, phone)| {
        serde_json::json!({ "name": name, "time_zone": time_zone, "country": country, "phone": phone })
    }))
}
