//! An agent's own profile and headshot (`agent_photos`).

use super::agents::photo_url;
use super::refused::{DirectoryError, taken_or};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

/// What an agent sees and changes of themselves.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Profile {
    /// Their id.
    pub id: Uuid,
    /// Login e-mail.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// The console's language: `en` or `es`.
    pub locale: String,
    /// Their IANA time zone; none: the rooftop's.
    pub time_zone: Option<String>,
    /// Their headshot (relative URL), if any.
    pub photo_url: Option<String>,
}

/// An agent's profile (none when the agent is gone).
pub async fn profile(db: impl PgExecutor<'_>, agent: Uuid) -> sqlx::Result<Option<Profile>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        email: String,
        first_name: String,
        last_name: String,
        locale: String,
        time_zone: Option<String>,
        photo_version: Option<i64>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT a.id, a.email, a.first_name, a.last_name, a.locale, a.time_zone, p.version AS photo_version \
         FROM agents a LEFT JOIN agent_photos p ON p.agent_id = a.id WHERE a.id = $1",
    )
    .bind(agent)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Profile {
        photo_url: r.photo_version.map(|v| photo_url(r.id, v)),
        id: r.id,
        email: r.email,
        first_name: r.first_name,
        last_name: r.last_name,
        locale: r.locale,
        time_zone: r.time_zone,
    }))
}

/// A profile change, already checked by the caller.
#[derive(Debug, Clone, Copy)]
pub struct ProfileInput<'a> {
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// Login e-mail.
    pub email: &'a str,
    /// `en` or `es`.
    pub locale: &'a str,
    /// IANA time zone, or none.
    pub time_zone: Option<&'a str>,
}

/// Changes an agent's own profile; [`DirectoryError::Taken`] (`email`) when another agent logs
/// in with this e-mail.
pub async fn update_profile(
    db: impl PgExecutor<'_>,
    group: Uuid,
    agent: Uuid,
    p: ProfileInput<'_>,
) -> Result<(), DirectoryError> {
    sqlx::query(
        "UPDATE agents SET first_name = $3, last_name = $4, email = $5, locale = $6, time_zone = $7 \
         WHERE id = $1 AND group_id = $2",
    )
    .bind(agent)
    .bind(group)
    .bind(p.first_name)
    .bind(p.last_name)
    .bind(p.email)
    .bind(p.locale)
    .bind(p.time_zone)
    .execute(db)
    .await
    .map_err(|e| taken_or(e, "email"))?;
    Ok(())
}

/// Stores an agent's headshot, replacing any; answers its new version. The version moves on by
/// one per upload and never below the upload's time in milliseconds, so a photo uploaded after
/// a deletion never reuses an old version (and an old cached URL or ETag).
pub async fn put_photo(
    db: impl PgExecutor<'_>,
    group: Uuid,
    agent: Uuid,
    content_type: &str,
    bytes: &[u8],
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO agent_photos (agent_id, group_id, content_type, bytes, version, updated_at) \
         VALUES ($1, $2, $3, $4, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, now()) \
         ON CONFLICT (agent_id) DO UPDATE SET content_type = EXCLUDED.content_type, bytes = EXCLUDED.bytes, \
           version = GREATEST(agent_photos.version + 1, EXCLUDED.version), updated_at = now() \
         RETURNING version",
    )
    .bind(agent)
    .bind(group)
    .bind(content_type)
    .bind(bytes)
    .fetch_one(db)
    .await
}

/// Removes an agent's headshot (nothing when there is none).
pub async fn delete_photo(db: impl PgExecutor<'_>, group: Uuid, agent: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM agent_photos WHERE agent_id = $1 AND group_id = $2")
        .bind(agent)
        .bind(group)
        .execute(db)
        .await?;
    Ok(())
}

/// An agent's stored headshot.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Photo {
    /// `image/png` or `image/jpeg`.
    pub content_type: String,
    /// The file.
    pub bytes: Vec<u8>,
    /// Its version (the ETag).
    pub version: i64,
}

/// An agent's headshot, if any.
pub async fn photo(db: impl PgExecutor<'_>, agent: Uuid) -> sqlx::Result<Option<Photo>> {
    sqlx::query_as("SELECT content_type, bytes, version FROM agent_photos WHERE agent_id = $1")
        .bind(agent)
        .fetch_optional(db)
        .await
}
