//! Read-only reports over the conversations: the per-department numbers a manager asks for.
//! Everything is computed in Postgres, for one dealer group and one time range; nothing here
//! writes.
//!
//! A conversation counts in the range when it was *created* in `[from, to)`, and in the
//! department and with the agent it has now (after any transfer). Times are seconds. A lead
//! counts for a department when one of its sources (`lead_sources.conversation_id`) is such a
//! conversation of the department; distinct leads, so a lead merged from two chats counts once.
//! A satisfaction rating (`chat_ratings`) counts with its conversation.

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
    /// Mean satisfaction rating (1 to 5) of those conversations that were rated.
    pub csat_avg: Option<f64>,
    /// How many of them were rated.
    pub csat_count: i64,
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
    /// Mean satisfaction rating (1 to 5) of those conversations that were rated.
    pub csat_avg: Option<f64>,
    /// How many of them were rated.
    pub csat_count: i64,
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

/// Every department's and every rooftop's numbers in one pass over the range's conversations
/// (`GROUPING SETS`: per department, and per rooftop over all its departments, so medians and
/// distinct leads are the rooftop's own, not sums). Departments and rooftops without chats get
/// a row too. A rooftop's row has no department.
const NUMBERS: &str = "\
WITH c AS ( \
    SELECT c.id, c.department_id, d.rooftop_id, c.state, c.created_at, c.assigned_at \
    FROM conversations c \
    JOIN departments d ON d.id = c.department_id AND d.group_id = c.group_id \
    WHERE c.group_id = $1 AND c.created_at >= $2 AND c.created_at < $3 \
), timed AS ( \
    SELECT c.department_id, c.rooftop_id, c.state, c.assigned_at, \
        extract(epoch FROM c.assigned_at - c.created_at)::float8 AS pickup, \
        extract(epoch FROM fr.first_at - c.created_at)::float8 AS first_response \
    FROM c \
    LEFT JOIN LATERAL ( \
        SELECT min(m.created_at) AS first_at FROM messages m \
        WHERE m.conversation_id = c.id AND m.group_id = $1 AND m.author_kind = 'agent' \
    ) fr ON true \
), per AS ( \
    SELECT rooftop_id, department_id, \
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
    FROM timed GROUP BY GROUPING SETS ((rooftop_id, department_id), (rooftop_id)) \
), lead_counts AS ( \
    SELECT c.rooftop_id, c.department_id, count(DISTINCT l.id) AS leads \
    FROM c \
    JOIN lead_sources ls ON ls.conversation_id = c.id \
    JOIN leads l ON l.id = ls.lead_id AND l.group_id = $1 \
    GROUP BY GROUPING SETS ((c.rooftop_id, c.department_id), (c.rooftop_id)) \
), ratings AS ( \
    SELECT c.rooftop_id, c.department_id, avg(r.score)::float8 AS csat_avg, \
        count(*) AS csat_count \
    FROM c JOIN chat_ratings r ON r.conversation_id = c.id AND r.group_id = $1 \
    GROUP BY GROUPING SETS ((c.rooftop_id, c.department_id), (c.rooftop_id)) \
), scopes AS ( \
    SELECT r.id AS rooftop_id, r.name AS rooftop_name, d.id AS department_id, \
        d.label AS department_label, d.position \
    FROM rooftops r JOIN departments d ON d.rooftop_id = r.id AND d.group_id = r.group_id \
    WHERE r.group_id = $1 \
    UNION ALL \
    SELECT r.id, r.name, NULL, NULL, NULL FROM rooftops r WHERE r.group_id = $1 \
) \
SELECT s.rooftop_id, s.rooftop_name, s.department_id, s.department_label, \
    COALESCE(p.chats, 0) AS chats, COALESCE(p.answered, 0) AS answered, \
    COALESCE(p.missed, 0) AS missed, COALESCE(p.offline, 0) AS offline, \
    COALESCE(p.timed_out, 0) AS timed_out, COALESCE(p.ended, 0) AS ended, \
    p.missed::float8 / NULLIF(p.chats - p.offline, 0) AS missed_rate, \
    p.pickup_p50, p.pickup_avg, p.first_response_p50, p.first_response_avg, \
    COALESCE(ld.leads, 0) AS leads, \
    COALESCE(ld.leads, 0)::float8 / NULLIF(p.chats, 0) AS chat_to_lead_rate, \
    rt.csat_avg, COALESCE(rt.csat_count, 0) AS csat_count \
FROM scopes s \
LEFT JOIN per p ON p.rooftop_id = s.rooftop_id \
    AND p.department_id IS NOT DISTINCT FROM s.department_id \
LEFT JOIN lead_counts ld ON ld.rooftop_id = s.rooftop_id \
    AND ld.department_id IS NOT DISTINCT FROM s.department_id \
LEFT JOIN ratings rt ON rt.rooftop_id = s.rooftop_id \
    AND rt.department_id IS NOT DISTINCT FROM s.department_id \
ORDER BY s.rooftop_name, s.rooftop_id, s.position NULLS FIRST, s.department_label, \
    s.department_id";

/// One row of [`NUMBERS`]: a department's numbers, or its rooftop's when it has none.
#[derive(sqlx::FromRow)]
struct NumbersRow {
    rooftop_id: Uuid,
    rooftop_name: String,
    department_id: Option<Uuid>,
    department_label: Option<String>,
    chats: i64,
    answered: i64,
    missed: i64,
    offline: i64,
    timed_out: i64,
    ended: i64,
    missed_rate: Option<f64>,
    pickup_p50: Option<f64>,
    pickup_avg: Option<f64>,
    first_response_p50: Option<f64>,
    first_response_avg: Option<f64>,
    leads: i64,
    chat_to_lead_rate: Option<f64>,
    csat_avg: Option<f64>,
    csat_count: i64,
}

impl NumbersRow {
    fn into_rooftop(self) -> RooftopRow {
        RooftopRow {
            rooftop_id: self.rooftop_id,
            rooftop_name: self.rooftop_name,
            chats: self.chats,
            answered: self.answered,
            missed: self.missed,
            offline: self.offline,
            timed_out: self.timed_out,
            ended: self.ended,
            missed_rate: self.missed_rate,
            pickup_p50: self.pickup_p50,
            pickup_avg: self.pickup_avg,
            first_response_p50: self.first_response_p50,
            first_response_avg: self.first_response_avg,
            leads: self.leads,
            chat_to_lead_rate: self.chat_to_lead_rate,
            csat_avg: self.csat_avg,
            csat_count: self.csat_count,
        }
    }
}

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
/// The two queries read one snapshot (a read-only, repeatable-read transaction), so the chats
/// per agent never disagree with the departments' numbers.
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
    let numbers: Vec<NumbersRow> = sqlx::query_as(NUMBERS)
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
    tx.commit().await?;
    let (mut departments, mut rooftops) = (Vec::new(), Vec::new());
    for row in numbers {
        match (row.department_id, row.department_label.clone()) {
            (Some(department_id), Some(department_label)) => {
                let r = row.into_rooftop();
                departments.push(DepartmentRow {
                    department_id,
                    department_label,
                    rooftop_id: r.rooftop_id,
                    rooftop_name: r.rooftop_name,
                    chats: r.chats,
                    answered: r.answered,
                    missed: r.missed,
                    offline: r.offline,
                    timed_out: r.timed_out,
                    ended: r.ended,
                    missed_rate: r.missed_rate,
                    pickup_p50: r.pickup_p50,
                    pickup_avg: r.pickup_avg,
                    first_response_p50: r.first_response_p50,
                    first_response_avg: r.first_response_avg,
                    leads: r.leads,
                    chat_to_lead_rate: r.chat_to_lead_rate,
                    csat_avg: r.csat_avg,
                    csat_count: r.csat_count,
                });
            }
            _ => rooftops.push(row.into_rooftop()),
        }
    }
    Ok(DepartmentsReport {
        departments,
        agents,
        rooftops,
    })
}
