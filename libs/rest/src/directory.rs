//! The directory: dealer groups, rooftops, departments, websites and agents (tables owned by
//! the gateway), and agents' headshots (`agent_photos`). Reads for the sockets and the API, the
//! writes used to set a group up (tests, the demo), and the admin API's writes
//! (`crate::admin_api`, `crate::profile_api`), each scoped to one dealer group.

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use showroom_proto::appearance::Appearance;
use showroom_proto::frames::DepartmentChoice;

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
           w.appearance \
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
        }
    }
}

/// The widget snippet of a website: `base` is the gateway's public origin (no trailing
/// slash), `key` a widget key (only `[A-Za-z0-9_-]`, so nothing needs escaping).
pub fn snippet(base: &str, key: &str) -> String {
    format!(r#"<script src="{base}/widget.js" data-key="{key}" async></script>"#)
}

/// The websites of a dealer group, by dealership and name; snippets point at `base`.
pub async fn websites_of(pool: &PgPool, group: Uuid, base: &str) -> sqlx::Result<Vec<WebsiteView>> {
    let rows: Vec<WebsiteRow> = sqlx::query_as(
        "SELECT w.id, w.name, w.rooftop_id, r.name AS rooftop_name, w.widget_key, w.allowed_origins, w.appearance \
         FROM websites w JOIN rooftops r ON r.id = w.rooftop_id WHERE w.group_id = $1 ORDER BY r.name, w.name, w.id",
    )
    .bind(group)
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
        "SELECT w.id, w.name, w.rooftop_id, r.name AS rooftop_name, w.widget_key, w.allowed_origins, w.appearance \
         FROM websites w JOIN rooftops r ON r.id = w.rooftop_id WHERE w.id = $1 AND w.group_id = $2",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| r.view(base)))
}

/// The departments of a website's dealership, in their configured order.
pub async fn departments_of(
    pool: &PgPool,
    website: &Website,
) -> sqlx::Result<Vec<DepartmentChoice>> {
    let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT d.id, d.label, r.name AS rooftop FROM departments d JOIN rooftops r ON r.id = d.rooftop_id \
         WHERE d.rooftop_id = $1 ORDER BY d.position, d.label",
    )
    .bind(website.rooftop_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, label, rooftop)| DepartmentChoice { id, label, rooftop })
        .collect())
}

/// An agent as the console and the API show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Agent {
    /// Its id.
    pub id: Uuid,
    /// Its dealer group.
    pub group_id: Uuid,
    /// Login e-mail.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// `agent`, `manager` or `admin`.
    pub role: String,
    /// Away automatically after this many idle seconds in the console (none: never).
    pub auto_away_secs: Option<i32>,
}

/// What an agent may do in their dealer group (stored and sent as `agent`, `manager`, `admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Chats.
    Agent,
    /// Chats, and manages the group: routing, teams, the directory, others' chats.
    Manager,
    /// A manager who may also make and edit admins and issue integrator credentials.
    Admin,
}

impl Role {
    /// Reads the stored or requested name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "agent" => Self::Agent,
            "manager" => Self::Manager,
            "admin" => Self::Admin,
            _ => return None,
        })
    }

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }

    /// Whether it manages the group (a manager or an admin).
    pub fn can_manage(self) -> bool {
        matches!(self, Self::Manager | Self::Admin)
    }
}

impl Agent {
    /// The agent's role (an unknown stored name counts as the least: `agent`).
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Agent)
    }

    /// The name shown to shoppers and colleagues.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

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

/// How many of these (distinct) agents belong to `group`.
pub async fn agents_in_group(
    db: impl PgExecutor<'_>,
    group: Uuid,
    ids: &[Uuid],
) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM agents WHERE group_id = $1 AND id = ANY($2)")
        .bind(group)
        .bind(ids)
        .fetch_one(db)
        .await
}

/// The agent with this id.
pub async fn agent(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Agent>> {
    sqlx::query_as(
        "SELECT id, group_id, email, first_name, last_name, role, auto_away_secs FROM agents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The agent with this e-mail and its password hash.
pub async fn agent_for_login(pool: &PgPool, email: &str) -> sqlx::Result<Option<(Agent, String)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        agent: Agent,
        password_hash: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, group_id, email, first_name, last_name, role, auto_away_secs, password_hash FROM agents \
         WHERE lower(email) = lower($1) AND deactivated_at IS NULL",
    )
    .bind(email.trim())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.agent, r.password_hash)))
}

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

/// Writes that set up a dealer group: used by the demo seed, by tests, and (later) by the
/// admin API.
pub mod setup {
    use super::*;

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
            sqlx::query("INSERT INTO agent_memberships (agent_id, department_id, group_id) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(d)
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }
}

/// Why a directory write was refused (the admin API answers each with a 4xx naming the
/// field), or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// A unique value (a department's label in its rooftop, an agent's e-mail) is used already.
    #[error("{field} is already taken")]
    Taken {
        /// The field of the request holding it.
        field: &'static str,
    },
    /// The department is referenced by history that must stay intact (and would cascade).
    #[error("the department is in use: {0}")]
    InUse(String),
    /// The password could not be hashed.
    #[error("hashing the password: {0}")]
    Hash(String),
    /// Postgres failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn taken_or(e: sqlx::Error, field: &'static str) -> DirectoryError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DirectoryError::Taken { field },
        other => DirectoryError::Db(other),
    }
}

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
}

/// The rooftops of a group (by name), or the one rooftop `only`, with their departments and
/// websites. Read in one snapshot so the three lists agree.
pub async fn rooftops_of(
    pool: &PgPool,
    group: Uuid,
    only: Option<Uuid>,
) -> sqlx::Result<Vec<RooftopView>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let rooftops: Vec<RooftopRow> = sqlx::query_as(
        "SELECT id, name, time_zone, country FROM rooftops \
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
        })
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
}

/// Creates a rooftop of `group`.
pub async fn create_rooftop(
    db: impl PgExecutor<'_>,
    group: Uuid,
    r: RooftopInput<'_>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO rooftops (id, group_id, name, time_zone, country) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(group)
    .bind(r.name)
    .bind(r.time_zone)
    .bind(r.country)
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
        "UPDATE rooftops SET name = $3, time_zone = $4, country = $5 WHERE id = $1 AND group_id = $2",
    )
    .bind(id)
    .bind(group)
    .bind(r.name)
    .bind(r.time_zone)
    .bind(r.country)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
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

/// Creates a department at the end of its rooftop's list. `None` when the rooftop is not
/// `group`'s; [`DirectoryError::Taken`] (`label`) when the rooftop has a department with this
/// label in any case. The rooftop's row is locked, so two creations cannot both pass the check.
pub async fn create_department(
    pool: &PgPool,
    group: Uuid,
    rooftop: Uuid,
    label: &str,
    board_section: Option<&str>,
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

/// Changes a department's label, board section and (when given) position; false when `group`
/// has no such department.
pub async fn update_department(
    pool: &PgPool,
    group: Uuid,
    id: Uuid,
    label: &str,
    board_section: Option<&str>,
    position: Option<i32>,
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
    let Some(rooftop) = rooftop else {
        return Ok(false);
    };
    label_free(&mut tx, rooftop, label, Some(id)).await?;
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

/// Deletes a department with no history; false when `group` has no such department;
/// [`DirectoryError::InUse`] when a conversation is or was in it, a lead names it or a CRM
/// destination is for it (deleting would cascade into, or orphan, that history). The department's row is locked first, so a chat started meanwhile is either seen
/// here or fails to start in it.
pub async fn delete_department(
    pool: &PgPool,
    group: Uuid,
    id: Uuid,
) -> Result<bool, DirectoryError> {
    let mut tx = pool.begin().await?;
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM departments WHERE id = $1 AND group_id = $2 FOR UPDATE")
            .bind(id)
            .bind(group)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Ok(false);
    }
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
    tx.commit().await?;
    Ok(true)
}

/// The URL of an agent's headshot, relative to the gateway; `version` makes a new upload a new
/// URL, so caches never show an old face.
pub fn photo_url(agent: Uuid, version: i64) -> String {
    format!("/api/v1/agents/{agent}/photo?v={version}")
}

/// An agent as the admin pages show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    /// Its id.
    pub id: Uuid,
    /// Login e-mail.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// `agent`, `manager` or `admin`.
    pub role: String,
    /// Chats they can hold at once.
    pub max_chats: i32,
    /// The console's language (`en`, `es`).
    pub locale: String,
    /// Their own IANA time zone, if set.
    pub time_zone: Option<String>,
    /// The departments they cover (any rooftops of the group).
    pub department_ids: Vec<Uuid>,
    /// Their headshot (relative URL), if any.
    pub photo_url: Option<String>,
    /// When they were deactivated (left the dealership); none while they can work.
    pub deactivated_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(sqlx::FromRow)]
struct AgentViewRow {
    id: Uuid,
    email: String,
    first_name: String,
    last_name: String,
    role: String,
    max_chats: i32,
    locale: String,
    time_zone: Option<String>,
    department_ids: Vec<Uuid>,
    photo_version: Option<i64>,
    deactivated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The agents of a group (by name), or the one agent `only`.
pub async fn agents_of(
    db: impl PgExecutor<'_>,
    group: Uuid,
    only: Option<Uuid>,
) -> sqlx::Result<Vec<AgentView>> {
    let rows: Vec<AgentViewRow> = sqlx::query_as(
        "SELECT a.id, a.email, a.first_name, a.last_name, a.role, a.max_chats, a.locale, a.time_zone, \
           COALESCE((SELECT array_agg(m.department_id ORDER BY m.department_id) FROM agent_memberships m \
                     WHERE m.agent_id = a.id), '{}') AS department_ids, \
           p.version AS photo_version, a.deactivated_at \
         FROM agents a LEFT JOIN agent_photos p ON p.agent_id = a.id \
         WHERE a.group_id = $1 AND ($2::uuid IS NULL OR a.id = $2) \
         ORDER BY a.last_name, a.first_name, a.id",
    )
    .bind(group)
    .bind(only)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AgentView {
            photo_url: r.photo_version.map(|v| photo_url(r.id, v)),
            id: r.id,
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
            role: r.role,
            max_chats: r.max_chats,
            locale: r.locale,
            time_zone: r.time_zone,
            department_ids: r.department_ids,
            deactivated_at: r.deactivated_at,
        })
        .collect())
}

/// The first of `ids` that is not a department of `group`, if any.
pub async fn foreign_department(
    db: impl PgExecutor<'_>,
    group: Uuid,
    ids: &[Uuid],
) -> sqlx::Result<Option<Uuid>> {
    let ours: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM departments WHERE group_id = $1 AND id = ANY($2)")
            .bind(group)
            .bind(ids)
            .fetch_all(db)
            .await?;
    Ok(ids.iter().find(|id| !ours.contains(id)).copied())
}

/// A new agent, already checked by the caller.
#[derive(Debug, Clone, Copy)]
pub struct AgentInput<'a> {
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
    /// Chats they can hold at once.
    pub max_chats: i32,
    /// Departments of the group they cover.
    pub department_ids: &'a [Uuid],
}

/// Creates an agent with its memberships in one transaction (the password hashed with
/// argon2id off the async threads); [`DirectoryError::Taken`] (`email`) when any agent of any
/// group logs in with this e-mail.
pub async fn create_agent(
    pool: &PgPool,
    group: Uuid,
    a: AgentInput<'_>,
) -> Result<Uuid, DirectoryError> {
    let password = a.password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| DirectoryError::Hash(e.to_string()))?
        .map_err(|e| DirectoryError::Hash(e.to_string()))?;
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO agents (id, group_id, email, password_hash, first_name, last_name, role, max_chats) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(group)
    .bind(a.email)
    .bind(hash)
    .bind(a.first_name)
    .bind(a.last_name)
    .bind(a.role)
    .bind(a.max_chats)
    .execute(&mut *tx)
    .await
    .map_err(|e| taken_or(e, "email"))?;
    insert_memberships(&mut tx, group, id, a.department_ids).await?;
    tx.commit().await?;
    Ok(id)
}

async fn insert_memberships(
    tx: &mut sqlx::PgConnection,
    group: Uuid,
    agent: Uuid,
    departments: &[Uuid],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO agent_memberships (agent_id, department_id, group_id) \
         SELECT $1, d, $2 FROM unnest($3::uuid[]) d ON CONFLICT DO NOTHING",
    )
    .bind(agent)
    .bind(group)
    .bind(departments)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Changes an agent's names, role and chat limit; false when `group` has no such agent.
pub async fn update_agent(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
    first_name: &str,
    last_name: &str,
    role: &str,
    max_chats: i32,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE agents SET first_name = $3, last_name = $4, role = $5, max_chats = $6 \
         WHERE id = $1 AND group_id = $2",
    )
    .bind(id)
    .bind(group)
    .bind(first_name)
    .bind(last_name)
    .bind(role)
    .bind(max_chats)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the departments an agent covers, in one transaction (the agent's row locked, so two
/// replacements never interleave); false when `group` has no such agent. The router and
/// presence read memberships from Postgres at each decision: the next offer sees the new set.
pub async fn replace_memberships(
    pool: &PgPool,
    group: Uuid,
    agent: Uuid,
    departments: &[Uuid],
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM agents WHERE id = $1 AND group_id = $2 FOR UPDATE")
            .bind(agent)
            .bind(group)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Ok(false);
    }
    sqlx::query("DELETE FROM agent_memberships WHERE agent_id = $1 AND group_id = $2")
        .bind(agent)
        .bind(group)
        .execute(&mut *tx)
        .await?;
    insert_memberships(&mut tx, group, agent, departments).await?;
    tx.commit().await?;
    Ok(true)
}

/// Creates a website with a fresh widget key (retried on the unlikely clash of two random
/// keys); `appearance` is the validated JSON object.
pub async fn create_website(
    pool: &PgPool,
    group: Uuid,
    rooftop: Uuid,
    name: &str,
    allowed_origins: &[String],
    appearance: &serde_json::Value,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let key = widget_key();
        let done = sqlx::query(
            "INSERT INTO websites (id, group_id, rooftop_id, name, widget_key, allowed_origins, appearance) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(group)
        .bind(rooftop)
        .bind(name)
        .bind(&key)
        .bind(allowed_origins)
        .bind(appearance)
        .execute(pool)
        .await;
        match done {
            Ok(_) => return Ok(id),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempt < 3 => continue,
            Err(e) => return Err(e),
        }
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

/// Changes a website's name, allowed origins and (when given) appearance; false when `group`
/// has no such website.
pub async fn update_website(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
    name: &str,
    allowed_origins: &[String],
    appearance: Option<&serde_json::Value>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE websites SET name = $3, allowed_origins = $4, appearance = COALESCE($5, appearance) \
         WHERE id = $1 AND group_id = $2",
    )
    .bind(id)
    .bind(group)
    .bind(name)
    .bind(allowed_origins)
    .bind(appearance)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
    tx.commit().await?;
    Ok(Deactivation::Done)
}

/// Lets a deactivated agent log in again (they cover no department until a manager adds
/// them). False when there is no such agent in the group.
pub async fn reactivate_agent(pool: &PgPool, group: Uuid, agent: Uuid) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE agents SET deactivated_at = NULL WHERE id = $1 AND group_id = $2")
            .bind(agent)
            .bind(group)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// The agent's password hash, to check their current password before a change.
pub async fn password_hash(db: impl PgExecutor<'_>, agent: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT password_hash FROM agents WHERE id = $1")
        .bind(agent)
        .fetch_optional(db)
        .await
}

/// Sets a new password hash and ends every other session of the agent (all but the one whose
/// token hash is `keep`), in one transaction: a changed password logs out other devices.
pub async fn set_password(pool: &PgPool, agent: Uuid, hash: &str, keep: &[u8]) -> sqlx::Result<()> {
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
    tx.commit().await
}
