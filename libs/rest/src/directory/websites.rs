//! Websites: the one a widget key names, the admin pages' list and writes, widget keys and the snippet.

use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use showroom_proto::appearance::Appearance;

/// A website the widget runs on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Website {
    /// Its id.
    pub id: Uuid,
    /// Its dealer group.
    pub group_id: Uuid,
    /// Its dealership.
    pub rooftop_id: Uuid,
    /// Its name.
    pub name: String,
    /// The dealership's name.
    pub rooftop_name: String,
    /// Origins the widget may connect from.
    pub allowed_origins: Vec<String>,
    /// The widget's look (`websites.appearance`, read with
    /// [`showroom_proto::appearance::Appearance::from_stored`]).
    pub appearance: serde_json::Value,
    /// Its own limit on conversations started per client address per hour (`None`: the
    /// gateway's default; see `crate::limits`).
    pub conversations_per_ip_per_hour: Option<i32>,
    /// Its own limit on conversations started per minute (`None`: the gateway's default).
    pub conversations_per_minute: Option<i32>,
}

impl Website {
    /// Whether a browser `Origin` header value is on the allow-list (exact, case-insensitive
    /// match of scheme, host and port).
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// The website with this widget key.
pub async fn website_by_key(pool: &PgPool, key: &str) -> sqlx::Result<Option<Website>> {
    sqlx::query_as(
        "SELECT w.id, w.group_id, w.rooftop_id, w.name, r.name AS rooftop_name, w.allowed_origins, \
           w.appearance, w.conversations_per_ip_per_hour, w.conversations_per_minute \
         FROM websites w JOIN rooftops r ON r.id = w.rooftop_id WHERE w.widget_key = $1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// A website as its group's managers see it (the list, `GET`/`POST`/`PUT` of the admin API).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebsiteView {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its dealership.
    pub rooftop_id: Uuid,
    /// The dealership's name.
    pub rooftop_name: String,
    /// The key of its widget snippet (`data-key`).
    pub widget_key: String,
    /// Origins the widget may connect from.
    pub allowed_origins: Vec<String>,
    /// How the widget looks on it (`{}` stored means every default).
    pub appearance: Appearance,
    /// The HTML to paste into the dealer's pages.
    pub snippet: String,
    /// Its own limits on the conversations started on it (`null` each: the gateway's default).
    pub limits: WebsiteLimits,
}

/// A website's own limits on the conversations started on it; `null` is the gateway's default
/// (20 per client address per hour, 300 per minute). Above them the widget's `start` is
/// answered `rate_limited` and a dealer form's message 429.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct WebsiteLimits {
    /// Conversations one client address may start on this website per hour (1 to 100000), all
    /// at once if it likes; `null`: the default (20). Raise it for a site whose shoppers share
    /// few addresses (a showroom's own Wi-Fi kiosk).
    #[serde(default)]
    pub conversations_per_ip_per_hour: Option<i32>,
    /// Conversations this website may start per minute from all addresses together (1 to
    /// 100000); `null`: the default (300).
    #[serde(default)]
    pub conversations_per_minute: Option<i32>,
}

#[derive(sqlx::FromRow)]
struct WebsiteRow {
    id: Uuid,
    name: String,
    rooftop_id: Uuid,
    rooftop_name: String,
    widget_key: String,
    allowed_origins: Vec<String>,
    appearance: serde_json::Value,
    conversations_per_ip_per_hour: Option<i32>,
    conversations_per_minute: Option<i32>,
}

impl WebsiteRow {
    fn view(self, base: &str) -> WebsiteView {
        WebsiteView {
            snippet: snippet(base, &self.widget_key),
            appearance: Appearance::from_stored(&self.appearance),
            id: self.id,
            name: self.name,
            rooftop_id: self.rooftop_id,
            rooftop_name: self.rooftop_name,
            widget_key: self.widget_key,
            allowed_origins: self.allowed_origins,
            limits: WebsiteLimits {
                conversations_per_ip_per_hour: self.conversations_per_ip_per_hour,
                conversations_per_minute: self.conversations_per_minute,
            },
        }
    }
}

/// The widget snippet of a website: `base` is the gateway's public origin (no trailing
/// slash), `key` a widget key (only `[A-Za-z0-9_-]`, so nothing needs escaping).
pub fn snippet(base: &str, key: &str) -> String {
    format!(r#"<script src="{base}/widget.js" data-key="{key}" async></script>"#)
}

/// A website's rooftop, when the website is `group`'s.
pub async fn website_rooftop(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT rooftop_id FROM websites WHERE id = $1 AND group_id = $2")
        .bind(id)
        .bind(group)
        .fetch_optional(db)
        .await
}

/// The websites of a dealer group (of only `rooftops` when given), by dealership and name;
/// snippets point at `base`.
pub async fn websites_of(
    pool: &PgPool,
    group: Uuid,
    rooftops: Option<&[Uuid]>,
    base: &str,
) -> sqlx::Result<Vec<WebsiteView>> {
    let rows: Vec<WebsiteRow> = sqlx::query_as(
        "SELECT w.id, w.name, w.rooftop_id, r.name AS rooftop_name, w.widget_key, w.allowed_origins, w.appearance, \
           w.conversations_per_ip_per_hour, w.conversations_per_minute \
         FROM websites w JOIN rooftops r ON r.id = w.rooftop_id \
         WHERE w.group_id = $1 AND ($2::uuid[] IS NULL OR w.rooftop_id = ANY($2)) ORDER BY r.name, w.name, w.id",
    )
    .bind(group)
    .bind(rooftops)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| r.view(base)).collect())
}

/// One website of a dealer group (none when it is another group's).
pub async fn website_view(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
    base: &str,
) -> sqlx::Result<Option<WebsiteView>> {
    let row: Option<WebsiteRow> = sqlx::query_as(
        "SELECT w.id, w.name, w.rooftop_id, r.name AS rooftop_name, w.widget_key, w.allowed_origins, w.appearance, \
           w.conversations_per_ip_per_hour, w.conversations_per_minute \
         FROM websites w JOIN rooftops r ON r.id = w.rooftop_id WHERE w.id = $1 AND w.group_id = $2",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| r.view(base)))
}

/// A website's settings as its audit rows keep them (the widget key is public, in the
/// snippet; nothing secret).
pub fn website_audited(v: &WebsiteView) -> serde_json::Value {
    serde_json::json!({
        "name": v.name, "rooftop_id": v.rooftop_id, "allowed_origins": v.allowed_origins,
        "appearance": v.appearance, "limits": v.limits,
    })
}

/// Locks a website of `group` for a change in `tx`, answering its rooftop; none when `group`
/// has no such website.
pub async fn lock_website(
    tx: &mut sqlx::PgConnection,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT rooftop_id FROM websites WHERE id = $1 AND group_id = $2 FOR UPDATE")
        .bind(id)
        .bind(group)
        .fetch_optional(tx)
        .await
}

/// Creates a website with a fresh widget key (retried on the unlikely clash of two random
/// keys) and its audit row (`audit`, about `website:<id>`, with `after`); `appearance` is the
/// validated JSON object, `limits` checked.
#[allow(clippy::too_many_arguments)]
pub async fn create_website(
    pool: &PgPool,
    group: Uuid,
    rooftop: Uuid,
    name: &str,
    allowed_origins: &[String],
    appearance: &serde_json::Value,
    limits: WebsiteLimits,
    audit: crate::audit::Event,
) -> Result<Uuid, super::DirectoryError> {
    let id = Uuid::now_v7();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let key = widget_key();
        let mut tx = pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO websites (id, group_id, rooftop_id, name, widget_key, allowed_origins, appearance, \
               conversations_per_ip_per_hour, conversations_per_minute) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(group)
        .bind(rooftop)
        .bind(name)
        .bind(&key)
        .bind(allowed_origins)
        .bind(appearance)
        .bind(limits.conversations_per_ip_per_hour)
        .bind(limits.conversations_per_minute)
        .execute(&mut *tx)
        .await;
        match done {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempt < 3 => continue,
            Err(e) => return Err(e.into()),
        }
        // The snippet's origin does not matter to the audit row.
        let after = website_view(&mut *tx, group, id, "")
            .await?
            .map(|v| website_audited(&v));
        let mut event = audit.about(format!("website:{id}"));
        event.detail["action"] = serde_json::json!("created");
        event.detail["before"] = serde_json::Value::Null;
        event.detail["after"] = serde_json::json!(after);
        crate::audit::record(&mut tx, &event)
            .await
            .map_err(super::DirectoryError::Audit)?;
        tx.commit().await?;
        return Ok(id);
    }
}

/// How long a widget key is.
pub const WIDGET_KEY_LEN: usize = 16;

/// A random widget key: 16 characters of `[A-Za-z0-9_-]` (96 bits), public in the snippet but
/// not guessable from another website's.
pub fn widget_key() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    (0..WIDGET_KEY_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Changes a website's name, allowed origins and (when given) appearance and limits; false
/// when `group` has no such website.
pub async fn update_website(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
    name: &str,
    allowed_origins: &[String],
    appearance: Option<&serde_json::Value>,
    limits: Option<WebsiteLimits>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE websites SET name = $3, allowed_origins = $4, appearance = COALESCE($5, appearance), \
           conversations_per_ip_per_hour = CASE WHEN $6 THEN $7 ELSE conversations_per_ip_per_hour END, \
           conversations_per_minute = CASE WHEN $6 THEN $8 ELSE conversations_per_minute END \
         WHERE id = $1 AND group_id = $2",
    )
    .bind(id)
    .bind(group)
    .bind(name)
    .bind(allowed_origins)
    .bind(appearance)
    .bind(limits.is_some())
    .bind(limits.and_then(|l| l.conversations_per_ip_per_hour))
    .bind(limits.and_then(|l| l.conversations_per_minute))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::photo_url;

    #[test]
    fn widget_keys_are_sixteen_safe_characters_and_differ() {
        let a = widget_key();
        assert_eq!(a.len(), WIDGET_KEY_LEN);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        assert_ne!(a, widget_key());
        assert_eq!(
            snippet("https://chat.example", "abc"),
            r#"<script src="https://chat.example/widget.js" data-key="abc" async></script>"#
        );
        assert_eq!(
            photo_url(Uuid::nil(), 7),
            "/api/v1/agents/00000000-0000-0000-0000-000000000000/photo?v=7"
        );
    }
}
