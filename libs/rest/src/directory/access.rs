//! Who may log in: password hashes (argon2id), deactivating an agent who left and bringing them back.

use super::refused::DirectoryError;
use crate::audit;
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// An argon2id hash of a password, in PHC format.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// What deactivating an agent found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deactivation {
    /// Done (or already done): no login, no sessions, no departments.
    Done,
    /// Refused: the agent still holds this many active chats (a manager reassigns them first).
    HoldsChats(i64),
    /// No such agent in the group.
    Missing,
}

/// Deactivates an agent who left: in one transaction, marks them, ends every session they have
/// and removes them from every department (so no chat is offered to them), unless they still
/// hold active chats. Their name stays on the chats and leads they handled.
pub async fn deactivate_agent(
    pool: &PgPool,
    group: Uuid,
    agent: Uuid,
    audit: &audit::Event,
) -> Result<Deactivation, DirectoryError> {
    let mut tx = pool.begin().await?;
    let found: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM agents WHERE id = $1 AND group_id = $2 FOR UPDATE")
            .bind(agent)
            .bind(group)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Ok(Deactivation::Missing);
    }
    let active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM conversations WHERE agent_id = $1 AND state = 'active'",
    )
    .bind(agent)
    .fetch_one(&mut *tx)
    .await?;
    if active > 0 {
        return Ok(Deactivation::HoldsChats(active));
    }
    sqlx::query("UPDATE agents SET deactivated_at = COALESCE(deactivated_at, now()) WHERE id = $1")
        .bind(agent)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM agent_memberships WHERE agent_id = $1")
        .bind(agent)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM agent_sessions WHERE agent_id = $1")
        .bind(agent)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, audit)
        .await
        .map_err(DirectoryError::Audit)?;
    tx.commit().await?;
    Ok(Deactivation::Done)
}

/// Lets a deactivated agent log in again (they cover no department until a manager adds
/// them), with its audit row in the same transaction. False when there is no such agent in the
/// group.
pub async fn reactivate_agent(
    pool: &PgPool,
    group: Uuid,
    agent: Uuid,
    audit: &audit::Event,
) -> Result<bool, DirectoryError> {
    let mut tx = pool.begin().await?;
    let done =
        sqlx::query("UPDATE agents SET deactivated_at = NULL WHERE id = $1 AND group_id = $2")
            .bind(agent)
            .bind(group)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    audit::record(&mut tx, audit)
        .await
        .map_err(DirectoryError::Audit)?;
    tx.commit().await?;
    Ok(true)
}

/// The agent's password hash, to check their current password before a change.
pub async fn password_hash(db: impl PgExecutor<'_>, agent: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT password_hash FROM agents WHERE id = $1")
        .bind(agent)
        .fetch_optional(db)
        .await
}

/// Sets a new password hash and ends every other session of the agent (all but the one whose
/// token hash is `keep`), in one transaction with its audit row: a changed password logs out
/// other devices.
pub async fn set_password(
    pool: &PgPool,
    agent: Uuid,
    hash: &str,
    keep: &[u8],
    audit: &audit::Event,
) -> Result<(), DirectoryError> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE agents SET password_hash = $2 WHERE id = $1")
        .bind(agent)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM agent_sessions WHERE agent_id = $1 AND token_hash <> $2")
        .bind(agent)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, audit)
        .await
        .map_err(DirectoryError::Audit)?;
    Ok(tx.commit().await?)
}
