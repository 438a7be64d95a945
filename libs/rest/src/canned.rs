//! Canned responses (`canned_responses`, owned by the gateway): texts an agent inserts into the
//! composer by their shortcut. Each belongs to one owner of a dealer group: the group, a
//! rooftop, or one agent (personal). Written once here: what a response's fields must be
//! ([`checked`]: the shortcut, the title, the texts and their placeholders), filling the
//! placeholders for a conversation ([`fill`], [`Values`]), and the table's reads and writes,
//! each scoped to one group. The REST handlers are in `canned_api.rs`.

use serde::{Deserialize, Serialize};
use showroom_proto::contact::Language;
use showroom_proto::conversation::Conversation;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::error::ApiError;
use crate::validate::{Problems, text};

/// Every placeholder a text may hold, as written between braces.
pub const PLACEHOLDERS: [&str; 7] = [
    "shopper.first_name",
    "agent.first_name",
    "rooftop.name",
    "rooftop.phone",
    "vehicle.year",
    "vehicle.make",
    "vehicle.model",
];

/// Longest shortcut, in characters.
const MAX_SHORTCUT: usize = 32;
/// Longest title, in characters.
const MAX_TITLE: usize = 80;
/// Longest text, in characters.
const MAX_TEXT: usize = 2000;
/// Longest thing between braces read as a placeholder (a longer one is plain text).
const MAX_PLACEHOLDER: usize = 40;

/// Whose a response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CannedScope {
    /// The whole dealer group's (managers and admins manage it).
    Group,
    /// One rooftop's (its managers manage it).
    Rooftop,
    /// One agent's own.
    Personal,
}

/// A canned response as it is stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CannedResponse {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub scope: CannedScope,
    /// Its rooftop (`rooftop` scope only).
    pub rooftop_id: Option<Uuid>,
    /// What the agent types after `/`: lowercase letters, digits, `-` and `_`, 1 to 32;
    /// unique per owner.
    pub shortcut: String,
    /// What the picker shows, 1 to 80 characters.
    pub title: String,
    /// The text in English, with placeholders such as `{shopper.first_name}`.
    pub text_en: String,
    /// The text in Spanish; `null`: the English one is used.
    pub text_es: Option<String>,
    /// When it was last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A canned response filled for one conversation, in its language.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FilledResponse {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub scope: CannedScope,
    /// Its rooftop (`rooftop` scope only).
    pub rooftop_id: Option<Uuid>,
    /// Its shortcut.
    pub shortcut: String,
    /// Its title.
    pub title: String,
    /// The text in the chat's language (English when it has no Spanish one), placeholders
    /// filled; one without a value is left out.
    pub text: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    rooftop_id: Option<Uuid>,
    agent_id: Option<Uuid>,
    shortcut: String,
    title: String,
    text_en: String,
    text_es: Option<String>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Row> for CannedResponse {
    fn from(r: Row) -> Self {
        let scope = match (r.rooftop_id, r.agent_id) {
            (_, Some(_)) => CannedScope::Personal,
            (Some(_), None) => CannedScope::Rooftop,
            (None, None) => CannedScope::Group,
        };
        Self {
            id: r.id,
            scope,
            rooftop_id: r.rooftop_id,
            shortcut: r.shortcut,
            title: r.title,
            text_en: r.text_en,
            text_es: r.text_es,
            updated_at: r.updated_at,
        }
    }
}

/// A response's fields as a request sends them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CannedFields {
    /// Lowercase letters, digits, `-` and `_`, 1 to 32 (trimmed); unique per owner (409
    /// `already_taken` naming `shortcut`).
    #[serde(default)]
    pub shortcut: String,
    /// 1 to 80 characters on one line (trimmed).
    #[serde(default)]
    pub title: String,
    /// The English text, 1 to 2000 characters; placeholders: `{shopper.first_name}`,
    /// `{agent.first_name}`, `{rooftop.name}`, `{rooftop.phone}`, `{vehicle.year}`,
    /// `{vehicle.make}`, `{vehicle.model}` (any other is a 400 naming it).
    #[serde(default)]
    pub text_en: String,
    /// The Spanish text (blank or absent: none, the English one is used).
    pub text_es: Option<String>,
}

/// A response's fields once checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// The shortcut.
    pub shortcut: String,
    /// The title.
    pub title: String,
    /// The English text.
    pub text_en: String,
    /// The Spanish text.
    pub text_es: Option<String>,
}

/// A shortcut: lowercase letters, digits, `-` and `_`, 1 to 32.
fn shortcut(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("is required".into());
    }
    if s.chars().count() > MAX_SHORTCUT {
        return Err(format!("must be at most {MAX_SHORTCUT} characters"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err("may hold only lowercase letters, digits, - and _".into());
    }
    Ok(s.to_string())
}

/// The placeholders of `text` in order (the names between braces), known or not: a `{`
/// followed by up to 40 characters without a space or a brace and then `}`.
fn placeholders(text: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(open) = text[i..].find('{').map(|o| o + i) {
        let rest = &text[open + 1..];
        let end = rest
            .char_indices()
            .take(MAX_PLACEHOLDER + 1)
            .find(|(_, c)| *c == '}' || *c == '{' || c.is_whitespace());
        match end {
            Some((n, '}')) if n > 0 => {
                found.push((open, open + 1 + n + 1, &rest[..n]));
                i = open + n + 2;
            }
            _ => i = open + 1,
        }
    }
    found
}

/// A text of a response: 1 to 2000 characters (trimmed), every placeholder known.
fn response_text(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 {
        return Err("is required".into());
    }
    if n > MAX_TEXT {
        return Err(format!("must be at most {MAX_TEXT} characters"));
    }
    if let Some((_, _, name)) = placeholders(t)
        .into_iter()
        .find(|(_, _, name)| !PLACEHOLDERS.contains(name))
    {
        return Err(format!(
            "unknown placeholder {{{name}}}; known: {}",
            PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
        ));
    }
    Ok(t.to_string())
}

/// The fields checked: 400 naming every wrong one (an unknown placeholder by its name).
pub fn checked(f: &CannedFields) -> Result<Checked, ApiError> {
    let mut p = Problems::default();
    let shortcut = p.check("shortcut", shortcut(&f.shortcut));
    let title = p.check("title", text(&f.title, MAX_TITLE));
    let text_en = p.check("text_en", response_text(&f.text_en));
    let text_es = match f.text_es.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(t) => p.check("text_es", response_text(t)).map(Some),
    };
    p.finish()?;
    match (shortcut, title, text_en, text_es) {
        (Some(shortcut), Some(title), Some(text_en), Some(text_es)) => Ok(Checked {
            shortcut,
            title,
            text_en,
            text_es,
        }),
        _ => Err(ApiError::internal("canned checks passed without values")),
    }
}

/// What the placeholders of one conversation are filled with (`None`: no value).
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// The shopper's first name (the Lead Gate's, else the first word of their name).
    pub shopper_first_name: Option<String>,
    /// The first name of the agent who inserts it.
    pub agent_first_name: Option<String>,
    /// The rooftop's name.
    pub rooftop_name: Option<String>,
    /// The rooftop's phone number.
    pub rooftop_phone: Option<String>,
    /// The vehicle's model year.
    pub vehicle_year: Option<String>,
    /// The vehicle's make.
    pub vehicle_make: Option<String>,
    /// The vehicle's model.
    pub vehicle_model: Option<String>,
}

impl Values {
    /// The values of conversation `c` for agent `agent_first_name`, with its rooftop's phone.
    pub fn of(c: &Conversation, agent_first_name: &str, rooftop_phone: Option<String>) -> Self {
        let shopper = c
            .contact
            .as_ref()
            .map(|ct| ct.first_name.trim().to_string())
            .filter(|n| !n.is_empty())
            .or_else(|| {
                c.shopper
                    .name
                    .as_deref()
                    .and_then(|n| n.split_whitespace().next())
                    .map(str::to_string)
            });
        let v = c.vehicle.as_ref();
        Self {
            shopper_first_name: shopper,
            agent_first_name: Some(agent_first_name.to_string()),
            rooftop_name: Some(c.rooftop.name.clone()),
            rooftop_phone,
            vehicle_year: v.and_then(|v| v.year).map(|y| y.to_string()),
            vehicle_make: v.and_then(|v| v.make.clone()),
            vehicle_model: v.and_then(|v| v.model.clone()),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "shopper.first_name" => self.shopper_first_name.as_deref(),
            "agent.first_name" => self.agent_first_name.as_deref(),
            "rooftop.name" => self.rooftop_name.as_deref(),
            "rooftop.phone" => self.rooftop_phone.as_deref(),
            "vehicle.year" => self.vehicle_year.as_deref(),
            "vehicle.make" => self.vehicle_make.as_deref(),
            "vehicle.model" => self.vehicle_model.as_deref(),
            _ => None,
        }
        .map(str::trim)
        .filter(|v| !v.is_empty())
    }
}

/// `text` with its placeholders filled from `values`: one without a value is left out, and the
/// two spaces around it become one (the space before it goes when punctuation follows: `Hi
/// {shopper.first_name},` without a name is `Hi,`); the result is trimmed.
pub fn fill(text: &str, values: &Values) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, name) in placeholders(text) {
        out.push_str(&text[at..start]);
        at = end;
        match values.get(name) {
            Some(v) => out.push_str(v),
            None => {
                let next = text[end..].chars().next();
                if out.ends_with(' ') && next == Some(' ') {
                    at += 1;
                } else if out.ends_with(' ')
                    && next.is_some_and(|c| matches!(c, ',' | '.' | '!' | '?' | ';' | ':'))
                {
                    out.pop();
                }
            }
        }
    }
    out.push_str(&text[at..]);
    out.trim().to_string()
}

/// A stored response filled for a conversation in `language`.
pub fn filled(r: CannedResponse, language: Language, values: &Values) -> FilledResponse {
    let source = match (language, &r.text_es) {
        (Language::Es, Some(es)) => es.as_str(),
        _ => r.text_en.as_str(),
    };
    FilledResponse {
        text: fill(source, values),
        id: r.id,
        scope: r.scope,
        rooftop_id: r.rooftop_id,
        shortcut: r.shortcut,
        title: r.title,
    }
}

/// The group's and the rooftops' responses of `group` (by shortcut), keeping to the rooftops
/// `within` when given (a rooftop manager's: no group ones then).
pub async fn managed(
    db: impl PgExecutor<'_>,
    group: Uuid,
    within: Option<&[Uuid]>,
) -> sqlx::Result<Vec<CannedResponse>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, rooftop_id, agent_id, shortcut, title, text_en, text_es, updated_at \
         FROM canned_responses WHERE group_id = $1 AND agent_id IS NULL \
           AND ($2::uuid[] IS NULL OR rooftop_id = ANY($2)) \
         ORDER BY shortcut, rooftop_id NULLS FIRST, id",
    )
    .bind(group)
    .bind(within)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// `agent`'s own responses (by shortcut).
pub async fn personal(
    db: impl PgExecutor<'_>,
    group: Uuid,
    agent: Uuid,
) -> sqlx::Result<Vec<CannedResponse>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, rooftop_id, agent_id, shortcut, title, text_en, text_es, updated_at \
         FROM canned_responses WHERE group_id = $1 AND agent_id = $2 ORDER BY shortcut, id",
    )
    .bind(group)
    .bind(agent)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The responses `agent` may use in a chat of `rooftop`: the group's, the rooftop's and their
/// own, by shortcut (personal first, then the rooftop's, then the group's).
pub async fn usable(
    db: impl PgExecutor<'_>,
    group: Uuid,
    rooftop: Uuid,
    agent: Uuid,
) -> sqlx::Result<Vec<CannedResponse>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, rooftop_id, agent_id, shortcut, title, text_en, text_es, updated_at \
         FROM canned_responses WHERE group_id = $1 \
           AND ((rooftop_id IS NULL AND agent_id IS NULL) OR rooftop_id = $2 OR agent_id = $3) \
         ORDER BY shortcut, agent_id NULLS LAST, rooftop_id NULLS LAST, id",
    )
    .bind(group)
    .bind(rooftop)
    .bind(agent)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The phone number of a rooftop of `group`, if it has one.
pub async fn rooftop_phone(
    db: impl PgExecutor<'_>,
    group: Uuid,
    rooftop: Uuid,
) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT phone FROM rooftops WHERE id = $1 AND group_id = $2",
    )
    .bind(rooftop)
    .bind(group)
    .fetch_optional(db)
    .await?
    .flatten())
}

/// One response of `group`, locked for a change in `tx`, with its owning agent (personal).
pub async fn lock(
    tx: &mut PgConnection,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<(CannedResponse, Option<Uuid>)>> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, rooftop_id, agent_id, shortcut, title, text_en, text_es, updated_at \
         FROM canned_responses WHERE id = $1 AND group_id = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|r| {
        let agent = r.agent_id;
        (r.into(), agent)
    }))
}

/// Who a new response belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    /// The group.
    Group,
    /// A rooftop of the group.
    Rooftop(Uuid),
    /// An agent of the group.
    Agent(Uuid),
}

/// Adds a response of `group` owned by `owner`; 409 `already_taken` (`shortcut`) through the
/// named constraint when the owner has the shortcut.
pub async fn insert(
    tx: &mut PgConnection,
    group: Uuid,
    owner: Owner,
    f: &Checked,
) -> sqlx::Result<CannedResponse> {
    let (rooftop, agent) = match owner {
        Owner::Group => (None, None),
        Owner::Rooftop(r) => (Some(r), None),
        Owner::Agent(a) => (None, Some(a)),
    };
    let row: Row = sqlx::query_as(
        "INSERT INTO canned_responses (id, group_id, rooftop_id, agent_id, shortcut, title, \
           text_en, text_es) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING id, rooftop_id, agent_id, shortcut, title, text_en, text_es, updated_at",
    )
    .bind(Uuid::now_v7())
    .bind(group)
    .bind(rooftop)
    .bind(agent)
    .bind(&f.shortcut)
    .bind(&f.title)
    .bind(&f.text_en)
    .bind(&f.text_es)
    .fetch_one(tx)
    .await?;
    Ok(row.into())
}

/// Replaces the fields of a response of `group`.
pub async fn update(
    tx: &mut PgConnection,
    group: Uuid,
    id: Uuid,
    f: &Checked,
) -> sqlx::Result<CannedResponse> {
    let row: Row = sqlx::query_as(
        "UPDATE canned_responses SET shortcut = $3, title = $4, text_en = $5, text_es = $6, \
           updated_at = now() WHERE id = $1 AND group_id = $2 \
         RETURNING id, rooftop_id, agent_id, shortcut, title, text_en, text_es, updated_at",
    )
    .bind(id)
    .bind(group)
    .bind(&f.shortcut)
    .bind(&f.title)
    .bind(&f.text_en)
    .bind(&f.text_es)
    .fetch_one(tx)
    .await?;
    Ok(row.into())
}

/// Deletes a response of `group`.
pub async fn delete(tx: &mut PgConnection, group: Uuid, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM canned_responses WHERE id = $1 AND group_id = $2")
        .bind(id)
        .bind(group)
        .execute(tx)
        .await?;
    Ok(())
}

/// The fields of a stored response, as its audit rows show them.
pub fn fields_of(r: &CannedResponse) -> Checked {
    Checked {
        shortcut: r.shortcut.clone(),
        title: r.title.clone(),
        text_en: r.text_en.clone(),
        text_es: r.text_es.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text_en: &str) -> CannedFields {
        CannedFields {
            shortcut: "hours".into(),
            title: "Hours".into(),
            text_en: text_en.into(),
            text_es: None,
        }
    }

    #[test]
    fn an_unknown_placeholder_is_refused_by_its_name() {
        assert!(checked(&fields("Hi {shopper.first_name}, call {rooftop.phone}")).is_ok());
        let e = format!("{:?}", checked(&fields("Hi {shopper.name}!")).unwrap_err());
        assert!(e.contains("{shopper.name}") && e.contains("text_en"), "{e}");
        // Braces that are not a placeholder are text.
        assert!(checked(&fields("a { b } and {} and {")).is_ok());
    }

    #[test]
    fn shortcuts_are_lowercase_letters_digits_dash_and_underscore() {
        assert_eq!(shortcut(" hours-2_a "), Ok("hours-2_a".into()));
        assert!(shortcut("Hours").is_err());
        assert!(shortcut("a b").is_err());
        assert!(shortcut("").is_err());
        assert!(shortcut(&"a".repeat(33)).is_err());
    }

    #[test]
    fn placeholders_without_a_value_leave_one_space() {
        let v = Values {
            shopper_first_name: Some("Ana".into()),
            rooftop_name: Some("Metro Honda".into()),
            vehicle_year: Some("2024".into()),
            ..Values::default()
        };
        assert_eq!(
            fill(
                "Hi {shopper.first_name}, the {vehicle.year} {vehicle.make} {vehicle.model} at {rooftop.name}.",
                &v
            ),
            "Hi Ana, the 2024 at Metro Honda."
        );
        assert_eq!(fill("{agent.first_name} here", &v), "here");
        assert_eq!(
            fill("Hi {agent.first_name}, call {rooftop.phone}.", &v),
            "Hi, call."
        );
        // Two placeholders without a value in a row leave one space.
        assert_eq!(fill("a {vehicle.make} {vehicle.model} b", &v), "a b");
    }

    #[test]
    fn spanish_is_used_for_a_spanish_chat_when_there_is_one() {
        let r = CannedResponse {
            id: Uuid::nil(),
            scope: CannedScope::Group,
            rooftop_id: None,
            shortcut: "hi".into(),
            title: "Hi".into(),
            text_en: "Hello".into(),
            text_es: Some("Hola".into()),
            updated_at: chrono::Utc::now(),
        };
        let v = Values::default();
        assert_eq!(filled(r.clone(), Language::Es, &v).text, "Hola");
        assert_eq!(filled(r.clone(), Language::En, &v).text, "Hello");
        let en_only = CannedResponse { text_es: None, ..r };
        assert_eq!(filled(en_only, Language::Es, &v).text, "Hello");
    }
}
