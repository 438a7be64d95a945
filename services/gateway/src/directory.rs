//! The directory: dealer groups, rooftops, departments, websites and agents (tables owned by
//! the gateway). Reads for the sockets and the API, and the writes used to set a group up.

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

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
        "SELECT w.id, w.group_id, w.rooftop_id, w.name, r.name AS rooftop_name, w.allowed_origins \
         FROM websites w JOIN rooftops r ON r.id = w.rooftop_id WHERE w.widget_key = $1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// A website as its group's managers see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
}

/// The websites of a dealer group, by dealership and name.
pub async fn websites_of(pool: &PgPool, group: Uuid) -> sqlx::Result<Vec<WebsiteView>> {
    sqlx::query_as(
        "SELECT w.id, w.name, w.rooftop_id, r.name AS rooftop_name, w.widget_key, w.allowed_origins \
         FROM websites w JOIN rooftops r ON r.id = w.rooftop_id WHERE w.group_id = $1 ORDER BY r.name, w.name",
    )
    .bind(group)
    .fetch_all(pool)
    .await
}

/// A department a shopper can choose.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DepartmentChoice {
    /// Its id.
    pub id: Uuid,
    /// Its label.
    pub label: String,
    /// Its dealership's name.
    pub rooftop: String,
}

/// The departments of a website's dealership, in their configured order.
pub async fn departments_of(
    pool: &PgPool,
    website: &Website,
) -> sqlx::Result<Vec<DepartmentChoice>> {
    sqlx::query_as(
        "SELECT d.id, d.label, r.name AS rooftop FROM departments d JOIN rooftops r ON r.id = d.rooftop_id \
         WHERE d.rooftop_id = $1 ORDER BY d.position, d.label",
    )
    .bind(website.rooftop_id)
    .fetch_all(pool)
    .await
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

impl Agent {
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
        "SELECT id, group_id, email, first_name, last_name, role, auto_away_secs, password_hash FROM agents WHERE lower(email) = lower($1)",
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
