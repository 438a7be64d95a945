//! Agents' notification choices and websites' e-mail settings (owned here), read and replaced
//! through the service's requests.

use std::collections::HashMap;

use showroom_proto::bot::WebsiteRef;
use showroom_proto::notification::{
    AgentRef, NotificationPrefs, PutPrefs, PutWebsiteNotifications, WebsiteNotifications,
};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::fault::db_error;
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

/// An agent's choices (everything on when they set nothing).
pub async fn prefs(pool: &PgPool, agent: Uuid) -> Result<NotificationPrefs, sqlx::Error> {
    Ok(prefs_of(pool, &[agent])
        .await?
        .remove(&agent)
        .unwrap_or_default())
}

/// The choices of the agents who set any, in one read (the others have everything on).
pub async fn prefs_of(
    pool: &PgPool,
    agents: &[Uuid],
) -> Result<HashMap<Uuid, NotificationPrefs>, sqlx::Error> {
    let rows: Vec<(Uuid, bool, bool, bool)> = sqlx::query_as(
        "SELECT agent_id, desktop, email, sound FROM notification_prefs WHERE agent_id = ANY($1)",
    )
    .bind(agents)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(agent, desktop, email, sound)| {
            let prefs = NotificationPrefs {
                desktop,
                email,
                sound,
            };
            (agent, prefs)
        })
        .collect())
}

/// A website's e-mail settings (transcripts on, no forwarding, when nobody set them).
pub async fn website(pool: &PgPool, website: Uuid) -> Result<WebsiteNotifications, sqlx::Error> {
    let row: Option<(bool, Vec<String>)> = sqlx::query_as(
        "SELECT transcript_email, forward_messages_to FROM notification_settings WHERE website_id = $1",
    )
    .bind(website)
    .fetch_optional(pool)
    .await?;
    Ok(row
        .map(
            |(transcript_email, forward_messages_to)| WebsiteNotifications {
                transcript_email,
                forward_messages_to,
            },
        )
        .unwrap_or_default())
}

/// What a request names, which must be of the caller's group.
#[derive(Clone, Copy)]
enum Owned {
    Agent,
    Website,
}

/// `not_found` unless the agent or website is of `group`.
async fn in_group(pool: &PgPool, group: Uuid, what: Owned, id: Uuid) -> Result<(), CommandError> {
    let (sql, missing) = match what {
        Owned::Agent => (
            "SELECT id FROM agents WHERE id = $1 AND group_id = $2",
            "no such agent",
        ),
        Owned::Website => (
            "SELECT id FROM websites WHERE id = $1 AND group_id = $2",
            "no such website",
        ),
    };
    let found: Option<(Uuid,)> = sqlx::query_as(sql)
        .bind(id)
        .bind(group)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    found
        .map(|_| ())
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, missing))
}

/// `get_prefs`.
pub async fn get_prefs(
    pool: &PgPool,
    group: Uuid,
    q: AgentRef,
) -> Result<NotificationPrefs, CommandError> {
    in_group(pool, group, Owned::Agent, q.agent_id).await?;
    prefs(pool, q.agent_id).await.map_err(db_error)
}

/// `put_prefs`.
pub async fn put_prefs(
    pool: &PgPool,
    group: Uuid,
    cmd: PutPrefs,
) -> Result<NotificationPrefs, CommandError> {
    in_group(pool, group, Owned::Agent, cmd.agent_id).await?;
    sqlx::query(
        "INSERT INTO notification_prefs (agent_id, group_id, desktop, email, sound) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (agent_id) DO UPDATE SET desktop = EXCLUDED.desktop, email = EXCLUDED.email, \
           sound = EXCLUDED.sound, updated_at = now()",
    )
    .bind(cmd.agent_id)
    .bind(group)
    .bind(cmd.prefs.desktop)
    .bind(cmd.prefs.email)
    .bind(cmd.prefs.sound)
    .execute(pool)
    .await
    .map_err(db_error)?;
    Ok(cmd.prefs)
}

/// `get_website`.
pub async fn get_website(
    pool: &PgPool,
    group: Uuid,
    q: WebsiteRef,
) -> Result<WebsiteNotifications, CommandError> {
    in_group(pool, group, Owned::Website, q.website_id).await?;
    website(pool, q.website_id).await.map_err(db_error)
}

/// `put_website`: at most 10 forwarding addresses, each an e-mail address.
pub async fn put_website(
    pool: &PgPool,
    group: Uuid,
    cmd: PutWebsiteNotifications,
) -> Result<WebsiteNotifications, CommandError> {
    let s = cmd.settings;
    let bad = s.forward_messages_to.len() > 10
        || s.forward_messages_to
            .iter()
            .any(|a| a.parse::<lettre::Address>().is_err() || a.len() > 254 || !a.contains('.'));
    if bad {
        return Err(CommandError::invalid_fields(
            [(
                "forward_messages_to".to_string(),
                "at most 10 e-mail addresses".to_string(),
            )]
            .into_iter()
            .collect(),
        ));
    }
    in_group(pool, group, Owned::Website, cmd.website_id).await?;
    sqlx::query(
        "INSERT INTO notification_settings (website_id, group_id, transcript_email, forward_messages_to) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (website_id) DO UPDATE SET \
           transcript_email = EXCLUDED.transcript_email, forward_messages_to = EXCLUDED.forward_messages_to, \
           updated_at = now()",
    )
    .bind(cmd.website_id)
    .bind(group)
    .bind(s.transcript_email)
    .bind(&s.forward_messages_to)
    .execute(pool)
    .await
    .map_err(db_error)?;
    Ok(s)
}
