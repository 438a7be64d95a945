//! Agents: who an agent is (with their [`Role`]), the admin pages' list and writes, memberships in departments.

use super::access::hash_password;
use super::refused::{DirectoryError, taken_or};
use crate::audit;
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

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
    /// `agent`, `rooftop_manager`, `manager` or `admin`.
    pub role: String,
    /// Away automatically after this many idle seconds in the console (none: never).
    pub auto_away_secs: Option<i32>,
}

/// What an agent may do in their dealer group (stored and sent as `agent`, `manager`, `admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Chats.
    Agent,
    /// Chats, and manages the rooftops listed for them (`agent_rooftops`,
    /// [`super::scope`]) and nothing else of the group. [`Role::can_manage`] is false for
    /// it: a path a rooftop manager may use checks their rooftops explicitly.
    RooftopManager,
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
            "rooftop_manager" => Self::RooftopManager,
            "manager" => Self::Manager,
            "admin" => Self::Admin,
            _ => return None,
        })
    }

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::RooftopManager => "rooftop_manager",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }

    /// Whether it manages the whole group (a manager or an admin; not a rooftop manager).
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

/// Most accounts one e-mail may log into (one per dealer group that uses the address): a
/// login verifies the password against each, so this bounds its work.
pub const MAX_LOGIN_ACCOUNTS: i64 = 5;

/// The active agents with this e-mail (one per group at most), oldest first, with their
/// password hashes.
pub async fn agents_for_login(pool: &PgPool, email: &str) -> sqlx::Result<Vec<(Agent, String)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        agent: Agent,
        password_hash: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, group_id, email, first_name, last_name, role, auto_away_secs, password_hash FROM agents \
         WHERE lower(email) = lower($1) AND deactivated_at IS NULL ORDER BY created_at, id LIMIT $2",
    )
    .bind(email.trim())
    .bind(MAX_LOGIN_ACCOUNTS)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.agent, r.password_hash))
        .collect())
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
    /// `agent`, `rooftop_manager`, `manager` or `admin`.
    pub role: String,
    /// The rooftops a `rooftop_manager` manages (sorted; `[]` for every other role).
    pub rooftop_ids: Vec<Uuid>,
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
    rooftop_ids: Vec<Uuid>,
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
    agents_within(db, group, only, None).await
}

/// [`agents_of`] as a rooftop manager of `rooftops` sees them (`None`: the whole group): only
/// the agents who cover a department of those rooftops, with only those departments and
/// rooftops in `department_ids` and `rooftop_ids`.
pub async fn agents_within(
    db: impl PgExecutor<'_>,
    group: Uuid,
    only: Option<Uuid>,
    rooftops: Option<&[Uuid]>,
) -> sqlx::Result<Vec<AgentView>> {
    let rows: Vec<AgentViewRow> = sqlx::query_as(
        "SELECT a.id, a.email, a.first_name, a.last_name, a.role, a.max_chats, a.locale, a.time_zone, \
           COALESCE((SELECT array_agg(m.department_id ORDER BY m.department_id) \
                     FROM agent_memberships m JOIN departments d ON d.id = m.department_id \
                     WHERE m.agent_id = a.id AND ($3::uuid[] IS NULL OR d.rooftop_id = ANY($3))), '{}') \
             AS department_ids, \
           COALESCE((SELECT array_agg(r.rooftop_id ORDER BY r.rooftop_id) FROM agent_rooftops r \
                     WHERE r.agent_id = a.id AND ($3::uuid[] IS NULL OR r.rooftop_id = ANY($3))), '{}') \
             AS rooftop_ids, \
           p.version AS photo_version, a.deactivated_at \
         FROM agents a LEFT JOIN agent_photos p ON p.agent_id = a.id \
         WHERE a.group_id = $1 AND ($2::uuid IS NULL OR a.id = $2) \
           AND ($3::uuid[] IS NULL OR EXISTS (SELECT 1 FROM agent_memberships m \
                JOIN departments d ON d.id = m.department_id \
                WHERE m.agent_id = a.id AND d.rooftop_id = ANY($3))) \
         ORDER BY a.last_name, a.first_name, a.id",
    )
    .bind(group)
    .bind(only)
    .bind(rooftops)
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
            rooftop_ids: r.rooftop_ids,
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
    /// The rooftops of the group a `rooftop_manager` manages (`[]` for other roles).
    pub rooftop_ids: &'a [Uuid],
}

/// Creates an agent with its memberships and its audit row (`audit`, about `agent:<new id>`)
/// in one transaction (the password hashed with argon2id off the async threads);
/// [`DirectoryError::Taken`] (`email`) when another agent of the group has this e-mail
/// (another group's agents do not count, and are never revealed).
pub async fn create_agent(
    pool: &PgPool,
    limits: &crate::limits::Limits,
    group: Uuid,
    a: AgentInput<'_>,
    audit: audit::Event,
) -> Result<Uuid, DirectoryError> {
    let password = a.password.to_string();
    // Within the gateway's password-hash permits (`crate::limits`).
    let hash = limits
        .hashing(move || hash_password(&password))
        .await?
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
    super::scope::set_rooftops_managed(&mut tx, group, id, a.rooftop_ids).await?;
    audit::record(&mut tx, &audit.about(format!("agent:{id}")))
        .await
        .map_err(DirectoryError::Audit)?;
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
/// replacements never interleave) with its audit row (`audit`, given `before` and `after`);
/// false when `group` has no such agent. With `within` (a rooftop manager's rooftops) only the
/// memberships in those rooftops are replaced and the others kept. The router and presence
/// read memberships from Postgres at each decision: the next offer sees the new set.
pub async fn replace_memberships(
    pool: &PgPool,
    group: Uuid,
    agent: Uuid,
    departments: &[Uuid],
    within: Option<&[Uuid]>,
    audit: audit::Event,
) -> Result<bool, DirectoryError> {
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
    let before: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM agent_memberships m WHERE m.agent_id = $1 AND m.group_id = $2 \
         AND ($3::uuid[] IS NULL OR m.department_id IN \
              (SELECT id FROM departments WHERE group_id = $2 AND rooftop_id = ANY($3))) \
         RETURNING m.department_id",
    )
    .bind(agent)
    .bind(group)
    .bind(within)
    .fetch_all(&mut *tx)
    .await?;
    insert_memberships(&mut tx, group, agent, departments).await?;
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v.dedup();
        v
    };
    let mut audit = audit;
    audit.detail["before"] = serde_json::json!({ "department_ids": sorted(before) });
    audit.detail["after"] = serde_json::json!({ "department_ids": sorted(departments.to_vec()) });
    audit::record(&mut tx, &audit)
        .await
        .map_err(DirectoryError::Audit)?;
    tx.commit().await?;
    Ok(true)
}
