//! Writes that set up a dealer group: used by the demo seed, by tests, and (later) by the
//! admin API.

use super::*;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// Creates a dealer group.
pub async fn group(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO dealer_groups (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(name)
        .execute(db)
        .await?;
    Ok(id)
}

/// Creates a rooftop (dealership) in an IANA time zone.
pub async fn rooftop(
    db: impl PgExecutor<'_>,
    group: Uuid,
    name: &str,
    time_zone: &str,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO rooftops (id, group_id, name, time_zone) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(group)
        .bind(name)
        .bind(time_zone)
        .execute(db)
        .await?;
    Ok(id)
}

/// Creates a department of a rooftop.
pub async fn department(
    db: impl PgExecutor<'_>,
    group: Uuid,
    rooftop: Uuid,
    label: &str,
    board_section: Option<&str>,
    position: i32,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO departments (id, group_id, rooftop_id, label, board_section, position) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(group)
    .bind(rooftop)
    .bind(label)
    .bind(board_section)
    .bind(position)
    .execute(db)
    .await?;
    Ok(id)
}

/// Creates a website with its widget key and allowed origins.
pub async fn website(
    db: impl PgExecutor<'_>,
    group: Uuid,
    rooftop: Uuid,
    name: &str,
    widget_key: &str,
    allowed_origins: &[String],
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO websites (id, group_id, rooftop_id, name, widget_key, allowed_origins) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(group)
    .bind(rooftop)
    .bind(name)
    .bind(widget_key)
    .bind(allowed_origins)
    .execute(db)
    .await?;
    Ok(id)
}

/// What a new agent needs.
pub struct NewAgent<'a> {
    /// Login e-mail.
    pub email: &'a str,
    /// Password (hashed here, never stored).
    pub password: &'a str,
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// `agent`, `manager` or `admin`.
    pub role: &'a str,
    /// Departments covered (of any rooftops of the group).
    pub departments: &'a [Uuid],
}

/// Creates an agent with memberships.
pub async fn agent(pool: &PgPool, group: Uuid, a: NewAgent<'_>) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let password = a.password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await?
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO agents (id, group_id, email, password_hash, first_name, last_name, role) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(group)
    .bind(a.email)
    .bind(hash)
    .bind(a.first_name)
    .bind(a.last_name)
    .bind(a.role)
    .execute(&mut *tx)
    .await?;
    for d in a.departments {
        sqlx::query(
            "INSERT INTO agent_memberships (agent_id, department_id, group_id) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(d)
        .bind(group)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}
