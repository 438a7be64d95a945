//! Read-only reports over the conversations: the per-department numbers a manager asks for.
//! Everything is computed in Postgres, for one dealer group and one time range; nothing here
//! writes.
//!
//! A conversation counts in the range when it was *created* in `[from, to)`, and in the
//! department and with the agent it has now (after any transfer). Times are seconds. A lead
//! counts for a department when one of its sources (`lead_sources.conversation_id`) is such a
//! conversation of the department; distinct leads, so a lead merged from two chats counts once.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// One department's numbers over the range, with its rooftop.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DepartmentRow {
    /// The department.
    pub department_id: Uuid,
    /// Its label ("Sales").
    pub department_label: String,
    /// Its rooftop.
    pub rooftop_id: Uuid,
    /// The rooftop's name.
    pub rooftop_name: String,
    /// Conversations created in the range.
    pub chats: i64,
    /// Of those, the ones an agent picked up (`assigned_at` set).
    pub answered: i64,
    /// Of those, the ones now `missed`.
    pub missed: i64,
    /// … `offline`.
    pub offline: i64,
    /// … `timed_out`.
    pub timed_out: i64,
    /// … `ended`.
    pub ended: i64,
    /// `missed / (chats - offline)`; `None` when no chat reached an agent's queue.
    pub missed_rate: Option<f64>,
    /// Median of `assigned_at - created_at` over the answered chats.
    pub pickup_p50: Option<f64>,
    /// Mean of the same.
    pub pickup_avg: Option<f64>,
    /// Median of the first agent message's time minus `created_at`.
    pub first_response_p50: Option<f64>,
    /// Mean of the same.
    pub first_response_avg: Option<f64>,
    /// Distinct leads made from those conversations.
    pub leads: i64,
    /// `leads / chats`; `None` when there were no chats.
    pub chat_to_lead_rate: Option<f64>,
}

/// One rooftop's numbers over the range: its departments' conversations together (medians and
/// distinct leads computed over the whole rooftop, not summed).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RooftopRow {
    /// The rooftop.
    pub rooftop_id: Uuid,
    /// Its name.
    pub rooftop_name: String,
    /// Conversations created in the range in its departments.
    pub chats: i64,
    /// Of those, the ones an agent picked up.
    pub answered: i64,
    /// … now `missed`.
    pub missed: i64,
    /// … `offline`.
    pub offline: i64,
    /// … `timed_out`.
    pub timed_out: i64,
    /// … `ended`.
    pub ended: i64,
    /// `missed / (chats - offline)`; `None` when no chat reached an agent's queue.
    pub missed_rate: Option<f64>,
    /// Median time to pick up over the answered chats.
    pub pickup_p50: Option<f64>,
    /// Mean of the same.
    pub pickup_avg: Option<f64>,
    /// Median time to the first agent message.
    pub first_response_p50: Option<f64>,
    /// Mean of the same.
    pub first_response_avg: Option<f64>,
    /// Distinct leads made from those conversations.
    pub leads: i64,
    /// `leads / chats`; `None` when there were no chats.
    pub chat_to_lead_rate: Option<f64>,
}

/// How many of a department's conversations in the range an agent has.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AgentChatsRow {
    /// The department.
    pub department_id: Uuid,
    /// The agent.
    pub agent_id: Uuid,
    /// First and last name.
    pub agent_name: String,
    /// Conversations of the range with this agent.
    pub chats: i64,
}

/// Every department of a group with its numbers, and the chats per agent.
#[derive(Debug, Clone, PartialEq)]
pub struct DepartmentsReport {
    /// Every department of the group, by rooftop name, then position and label; those without
    /// chats have zero counts and no times.
    pub departments: Vec<DepartmentRow>,
    /// Chats per agent and department: by department, most chats first, then by name.
    pub agents: Vec<AgentChatsRow>,
    /// Every rooftop of the group, by name, with its departments' numbers rolled up.
    pub rooftops: Vec<RooftopRow>,
}

const DEPARTMENTS: &str = "\
WITH c AS ( \
    SELECT c.id, c.department_id, c.state, c.created_at, c.assigned_at \
    FROM conversations c \
    WHERE c.group_id = $1 AND c.created_at >= $2 AND c.created_at < $3 \
), timed AS ( \
    SELECT c.department_id, c.state, c.assigned_at, \
        extract(epoch FROM c.assigned_at - c.created_at)::float8 AS pickup, \
        extract(epoch FROM fr.first_at - c.created_at)::float8 AS first_response \
    FROM c \
    LEFT JOIN LATERAL ( \
        SELECT min(m.created_at) AS first_at FROM messages m \
        WHERE m.conversation_id = c.id AND m.group_id = $1 AND m.author_kind = 'agent' \
    ) fr ON true \
), per AS ( \
    SELECT department_id, \
        count(*) AS chats, \
        count(*) FILTER (WHERE assigned_at IS NOT NULL) AS answered, \
        count(*) FILTER (WHERE state = 'missed') AS missed, \
        count(*) FILTER (WHERE state = 'offline') AS offline, \
        count(*) FILTER (WHERE state = 'timed_out') AS timed_out, \
        count(*) FILTER (WHERE state = 'ended') AS ended, \
        percentile_cont(0.5) WITHIN GROUP (ORDER BY pickup) AS pickup_p50, \
        avg(pickup) AS pickup_avg, \
        percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response) AS first_response_p50, \
        avg(first_response) AS first_response_avg \
    FROM timed GROUP BY department_id \
), lead_counts AS ( \
    SELECT c.department_id, count(DISTINCT l.id) AS leads \
    FROM c \
    JOIN lead_sources ls ON ls.conversation_id = c.id \
    JOIN leads l ON l.id = ls.lead_id AND l.group_id = $1 \
    GROUP BY c.department_id \
) \
SELECT d.id AS department_id, d.label AS department_label, r.id AS rooftop_id, \
    r.name AS rooftop_name, \
    COALESCE(p.chats, 0) AS chats, COALESCE(p.answered, 0) AS answered, \
    COALESCE(p.missed, 0) AS missed, COALESCE(p.offline, 0) AS offline, \
    COALESCE(p.timed_out, 0) AS timed_out, COALESCE(p.ended, 0) AS ended, \
    p.missed::float8 / NULLIF(p.chats - p.offline, 0) AS missed_rate, \
    p.pickup_p50, p.pickup_avg, p.first_response_p50, p.first_response_avg, \
    COALESCE(ld.leads, 0) AS leads, \
    COALESCE(ld.leads, 0)::float8 / NULLIF(p.chats, 0) AS chat_to_lead_rate \
FROM departments d \
JOIN rooftops r ON r.id = d.rooftop_id AND r.group_id = d.group_id \
LEFT JOIN per p ON p.department_id = d.id \
LEFT JOIN lead_counts ld ON ld.department_id = d.id \
WHERE d.group_id = $1 \
ORDER BY r.name, r.id, d.position, d.label, d.id";

/// The same numbers per rooftop: a conversation counts for the rooftop of the department it
/// is in now, like the department numbers.
const ROOFTOPS: &str = "\
WITH c AS ( \
    SELECT c.id, d.rooftop_id, c.state, c.created_at, c.assigned_at \
    FROM conversations c \
    JOIN departments d ON d.id = c.department_id AND d.group_id = c.group_id \
    WHERE c.group_id = $1 AND c.created_at >= $2 AND c.created_at < $3 \
), timed AS ( \
    SELECT c.rooftop_id, c.state, c.assigned_at, \
        extract(epoch FROM c.assigned_at - c.created_at)::float8 AS pickup, \
        extract(epoch FROM fr.first_at - c.created_at)::float8 AS first_response \
    FROM c \
    LEFT JOIN LATERAL ( \
        SELECT min(m.created_at) AS first_at FROM messages m \
        WHERE m.conversation_id = c.id AND m.group_id = $1 AND m.author_kind = 'agent' \
    ) fr ON true \
), per AS ( \
    SELECT rooftop_id, \
        count(*) AS chats, \
        count(*) FILTER (WHERE assigned_at IS NOT NULL) AS answered, \
        count(*) FILTER (WHERE state = 'missed') AS missed, \
        count(*) FILTER (WHERE state = 'offline') AS offline, \
        count(*) FILTER (WHERE state = 'timed_out') AS timed_out, \
        count(*) FILTER (WHERE state = 'ended') AS ended, \
        percentile_cont(0.5) WITHIN GROUP (ORDER BY pickup) AS pickup_p50, \
        avg(pickup) AS pickup_avg, \
        percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response) AS first_response_p50, \
        avg(first_response) AS first_response_avg \
    FROM timed GROUP BY rooftop_id \
), lead_counts AS ( \
    SELECT c.rooftop_id, count(DISTINCT l.id) AS leads \
    FROM c \
    JOIN lead_sources ls ON ls.conversation_id = c.id \
    JOIN leads l ON l.id = ls.lead_id AND l.group_id = $1 \
    GROUP BY c.rooftop_id \
) \
SELECT r.id AS rooftop_id, r.name AS rooftop_name, \
    COALESCE(p.chats, 0) AS chats, COALESCE(p.answered, 0) AS answered, \
    COALESCE(p.missed, 0) AS missed, COALESCE(p.offline, 0) AS offline, \
    COALESCE(p.timed_out, 0) AS timed_out, COALESCE(p.ended, 0) AS ended, \
    p.missed::float8 / NULLIF(p.chats - p.offline, 0) AS missed_rate, \
    p.pickup_p50, p.pickup_avg, p.first_response_p50, p.first_response_avg, \
    COALESCE(ld.leads, 0) AS leads, \
    COALESCE(ld.leads, 0)::float8 / NULLIF(p.chats, 0) AS chat_to_lead_rate \
FROM rooftops r \
LEFT JOIN per p ON p.rooftop_id = r.id \
LEFT JOIN lead_counts ld ON ld.rooftop_id = r.id \
WHERE r.group_id = $1 \
ORDER BY r.name, r.id";

const AGENTS: &str = "\
SELECT c.department_id, a.id AS agent_id, a.first_name || ' ' || a.last_name AS agent_name, \
    count(*) AS chats \
FROM conversations c \
JOIN agents a ON a.id = c.agent_id AND a.group_id = c.group_id \
WHERE c.group_id = $1 AND c.created_at >= $2 AND c.created_at < $3 \
GROUP BY c.department_id, a.id, a.first_name, a.last_name \
ORDER BY c.department_id, chats DESC, agent_name, a.id";

/// The numbers of every department and rooftop of `group` for conversations created in
/// `[from, to)`.
///
/// The queries read one snapshot (a read-only, repeatable-read transaction), so the chats per
/// agent and the rooftops' numbers never disagree with the departments'.
pub async fn departments(
    pool: &PgPool,
    group: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<DepartmentsReport, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let departments = sqlx::query_as(DEPARTMENTS)
        .bind(group)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let agents = sqlx::query_as(AGENTS)
        .bind(group)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let rooftops = sqlx::query_as(ROOFTOPS)
        .bind(group)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(DepartmentsReport {
        departments,
        agents,
        rooftops,
    })
}
