//! Each website's bot settings (`bot_settings`, owned here): read by the router (is the Lead
//! Gate on?) and the gateway (the widget's texts), written only through this service.

use showroom_proto::bot::{BotSettings, PutBotSettings, TextKey, WebsiteRef};
use showroom_proto::contact::Language;
use showroom_proto::{CommandError, ErrorCode};
pub(crate) use showroom_store::fault::db_error;
use showroom_store::read;
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

async fn in_group(pool: &PgPool, group: Uuid, website: Uuid) -> Result<(), CommandError> {
    let found: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM websites WHERE id = $1 AND group_id = $2")
            .bind(website)
            .bind(group)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
    found
        .map(|_| ())
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such website"))
}

/// A website's settings (the defaults when nobody set any).
pub async fn get(pool: &PgPool, group: Uuid, q: WebsiteRef) -> Result<BotSettings, CommandError> {
    in_group(pool, group, q.website_id).await?;
    read::bot_settings(pool, q.website_id)
        .await
        .map_err(db_error)
}

/// Replaces a website's settings after checking them. The consent version goes up whenever
/// the consent text a shopper would see changes in any language, so every consent stored
/// names the text that was shown.
pub async fn put(
    pool: &PgPool,
    group: Uuid,
    cmd: PutBotSettings,
) -> Result<BotSettings, CommandError> {
    let mut new = cmd.settings;
    new.check().map_err(|(field, problem)| {
        CommandError::invalid_fields([(field, problem)].into_iter().collect())
    })?;
    in_group(pool, group, cmd.website_id).await?;
    let mut tx = pool.begin().await.map_err(db_error)?;
    // One change at a time per website, so two editors cannot skip a consent version.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 11))")
        .bind(cmd.website_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let old = read::bot_settings(&mut *tx, cmd.website_id)
        .await
        .map_err(db_error)?;
    let consent_changed = Language::ALL
        .iter()
        .any(|l| old.text(TextKey::Consent, *l) != new.text(TextKey::Consent, *l));
    new.consent_version = old.consent_version + i32::from(consent_changed);
    store(&mut *tx, group, cmd.website_id, &new)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(new)
}

/// Writes a website's settings as they are (the test kit and the demo seed use it too).
pub async fn store<'e>(
    db: impl sqlx::PgExecutor<'e>,
    group: Uuid,
    website: Uuid,
    s: &BotSettings,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bot_settings (website_id, group_id, lead_gate, leave_message_form, bot_name, avatar_url, texts, consent_version, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) \
         ON CONFLICT (website_id) DO UPDATE SET lead_gate = EXCLUDED.lead_gate, \
           leave_message_form = EXCLUDED.leave_message_form, bot_name = EXCLUDED.bot_name, \
           avatar_url = EXCLUDED.avatar_url, texts = EXCLUDED.texts, \
           consent_version = EXCLUDED.consent_version, updated_at = now()",
    )
    .bind(website)
    .bind(group)
    .bind(s.lead_gate)
    .bind(s.leave_message_form)
    .bind(&s.bot_name)
    .bind(&s.avatar_url)
    .bind(sqlx::types::Json(&s.texts))
    .bind(s.consent_version)
    .execute(db)
    .await?;
    Ok(())
}
