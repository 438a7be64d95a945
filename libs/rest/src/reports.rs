//! REST for reports: the per-department numbers a manager asks for (chats, answered, missed,
//! offline; the missed rate; time to pick up and to the first agent reply; chats per agent;
//! leads made from the chats and the chat-to-lead rate), and the same rolled up per rooftop.
//! Managers and admins of the session's group only, and rooftop managers, who get the rows of
//! their rooftops alone (`auth::Scope`); the numbers are computed in Postgres
//! (`showroom_store::report`) over the session's group alone.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use showroom_proto::conversation::{DepartmentRef, Named};
use showroom_store::report::{self, AgentChatsRow, DepartmentRow, RooftopRow};
use uuid::Uuid;

use crate::Rest;
use crate::auth::{Session, scoped_managers};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;

/// The range when `from` is not given: this long before `to`.
const DEFAULT_DAYS: i64 = 7;
/// The longest range one report covers.
const MAX_DAYS: i64 = 366;

/// The range of a report.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Start of the range, inclusive (RFC 3339; percent-encode a `+` offset as `%2B`). Default:
    /// 7 days before `to`.
    from: Option<String>,
    /// End of the range, exclusive (RFC 3339). Default: now. At most 366 days after `from`.
    to: Option<String>,
}

/// Per-department numbers over a range of time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentsReport {
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// Every department of the group, grouped by rooftop (by rooftop name, then the
    /// department's position and label), including those without chats.
    pub departments: Vec<DepartmentNumbers>,
    /// Every rooftop of the group (by name) with its departments' chats together; the times
    /// and the leads are computed over the rooftop's chats (not summed: a lead made from two
    /// chats of the rooftop counts once).
    pub rooftops: Vec<RooftopNumbers>,
}

/// One rooftop's numbers: its departments' conversations together.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RooftopNumbers {
    /// The rooftop.
    pub rooftop: Named,
    /// Conversations created in the range in its departments.
    pub chats: i64,
    /// Of those, the ones an agent picked up.
    pub answered: i64,
    /// … `missed`.
    pub missed: i64,
    /// … `offline`.
    pub offline: i64,
    /// … `timed_out`.
    pub timed_out: i64,
    /// … `ended`.
    pub ended: i64,
    /// `missed / (chats - offline)`; `null` when every chat went offline or there were none.
    pub missed_rate: Option<f64>,
    /// Seconds to pick up, over the answered chats; `null` when none was.
    pub time_to_pickup_secs: Option<Durations>,
    /// Seconds to the first agent message; `null` when no chat has one.
    pub time_to_first_response_secs: Option<Durations>,
    /// Distinct leads made from those chats.
    pub leads: i64,
    /// `leads / chats`, `null` when there were no chats (may pass 1.0 when chats made several
    /// leads).
    pub chat_to_lead_rate: Option<f64>,
}

/// One department's numbers. A conversation counts when it was created in the range, in the
/// department and with the agent it has now (after any transfer).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentNumbers {
    /// The department.
    pub department: DepartmentRef,
    /// Its rooftop.
    pub rooftop: Named,
    /// Conversations created in the range (every state, open ones too).
    pub chats: i64,
    /// Of those, the ones an agent picked up.
    pub answered: i64,
    /// Of those, the ones nobody picked up in time (`missed`).
    pub missed: i64,
    /// Of those, the ones that went to the offline flow (`offline`).
    pub offline: i64,
    /// Of those, the ones closed for inactivity (`timed_out`).
    pub timed_out: i64,
    /// Of those, the ones ended by the shopper or the agent (`ended`).
    pub ended: i64,
    /// `missed / (chats - offline)`, 0.0 to 1.0; `null` when every chat went offline or there
    /// were none.
    pub missed_rate: Option<f64>,
    /// Seconds from the start of the chat to an agent picking it up, over the answered chats;
    /// `null` when none was.
    pub time_to_pickup_secs: Option<Durations>,
    /// Seconds from the start of the chat to the first message an agent wrote, over the chats
    /// with one; `null` when none has.
    pub time_to_first_response_secs: Option<Durations>,
    /// How many of the department's chats of the range each agent has, most first.
    pub chats_per_agent: Vec<AgentChats>,
    /// Distinct leads made from those chats (a lead source names the conversation).
    pub leads: i64,
    /// `leads / chats`, `null` when there were no chats (may pass 1.0 when chats made several
    /// leads).
    pub chat_to_lead_rate: Option<f64>,
}

/// The median and mean of a duration, in seconds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Durations {
    /// Median (continuous: the mean of the two middle values for an even count).
    pub p50: f64,
    /// Mean.
    pub avg: f64,
}

/// An agent's chats in a department.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentChats {
    /// The agent.
    pub agent: Named,
    /// Conversations of the range they have.
    pub chats: i64,
}

fn agent(a: AgentChatsRow) -> AgentChats {
    AgentChats {
        agent: Named {
            id: a.agent_id,
            name: a.agent_name,
        },
        chats: a.chats,
    }
}

fn durations(p50: Option<f64>, avg: Option<f64>) -> Option<Durations> {
    p50.zip(avg).map(|(p50, avg)| Durations { p50, avg })
}

fn time(value: Option<&str>, name: &'static str) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    DateTime::parse_from_rfc3339(v.trim())
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            ApiError::bad_request(
                if name == "from" { "bad_from" } else { "bad_to" },
                format!(
                    "`{name}` must be an RFC 3339 time such as 2026-11-22T00:00:00Z \
                     (percent-encode a `+` offset as %2B)"
                ),
            )
        })
}

/// The range asked for: defaults filled in, checked.
fn range(q: &RangeQuery, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = time(q.to.as_deref(), "to")?.unwrap_or(now);
    let from = time(q.from.as_deref(), "from")?.unwrap_or(to - Duration::days(DEFAULT_DAYS));
    if from >= to {
        return Err(ApiError::bad_request(
            "bad_range",
            "`from` must be before `to`",
        ));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(ApiError::bad_request(
            "bad_range",
            "`from` and `to` must be at most 366 days apart",
        ));
    }
    Ok((from, to))
}

fn numbers(d: DepartmentRow, agents: &mut HashMap<Uuid, Vec<AgentChats>>) -> DepartmentNumbers {
    let chats_per_agent = agents.remove(&d.department_id).unwrap_or_default();
    DepartmentNumbers {
        department: DepartmentRef {
            id: d.department_id,
            label: d.department_label,
        },
        rooftop: Named {
            id: d.rooftop_id,
            name: d.rooftop_name,
        },
        chats: d.chats,
        answered: d.answered,
        missed: d.missed,
        offline: d.offline,
        timed_out: d.timed_out,
        ended: d.ended,
        missed_rate: d.missed_rate,
        time_to_pickup_secs: durations(d.pickup_p50, d.pickup_avg),
        time_to_first_response_secs: durations(d.first_response_p50, d.first_response_avg),
        chats_per_agent,
        leads: d.leads,
        chat_to_lead_rate: d.chat_to_lead_rate,
    }
}

fn rooftop_numbers(r: RooftopRow) -> RooftopNumbers {
    RooftopNumbers {
        rooftop: Named {
            id: r.rooftop_id,
            name: r.rooftop_name,
        },
        chats: r.chats,
        answered: r.answered,
        missed: r.missed,
        offline: r.offline,
        timed_out: r.timed_out,
        ended: r.ended,
        missed_rate: r.missed_rate,
        time_to_pickup_secs: durations(r.pickup_p50, r.pickup_avg),
        time_to_first_response_secs: durations(r.first_response_p50, r.first_response_avg),
        leads: r.leads,
        chat_to_lead_rate: r.chat_to_lead_rate,
    }
}

/// Per-department numbers of the group for the chats created in `[from, to)` (managers and
/// admins; a rooftop manager gets their rooftops' rows only).
#[utoipa::path(get, path = "/api/v1/reports/departments", tag = "reports", params(RangeQuery),
    responses((status = 200, body = DepartmentsReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn departments(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<DepartmentsReport>, ApiError> {
    scoped_managers(&session, "read reports")?;
    let (from, to) = range(&q, Utc::now())?;
    let mut report = report::departments(&state.pool, session.group(), from, to).await?;
    report
        .departments
        .retain(|d| session.covers_rooftop(d.rooftop_id));
    report
        .rooftops
        .retain(|r| session.covers_rooftop(r.rooftop_id));
    let kept: Vec<Uuid> = report.departments.iter().map(|d| d.department_id).collect();
    report.agents.retain(|a| kept.contains(&a.department_id));
    // Already in order: by department, most chats first.
    let mut agents: HashMap<Uuid, Vec<AgentChats>> = HashMap::new();
    for a in report.agents {
        agents.entry(a.department_id).or_default().push(agent(a));
    }
    let departments = report
        .departments
        .into_iter()
        .map(|d| numbers(d, &mut agents))
        .collect();
    let rooftops = report.rooftops.into_iter().map(rooftop_numbers).collect();
    Ok(Json(DepartmentsReport {
        from,
        to,
        departments,
        rooftops,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: Option<&str>, to: Option<&str>) -> RangeQuery {
        RangeQuery {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn defaults_to_the_last_seven_days() {
        let (from, to) = range(&q(None, None), now()).unwrap();
        assert_eq!(to, now());
        assert_eq!(to - from, Duration::days(7));
        let (from, _) = range(&q(None, Some("2026-01-10T00:00:00+01:00")), now()).unwrap();
        assert_eq!(
            from,
            "2026-01-02T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn refuses_bad_times_and_ranges() {
        for (from, to, code) in [
            (Some("yesterday"), None, "bad_from"),
            (None, Some("2026-13-01T00:00:00Z"), "bad_to"),
            (Some("2026-11-22T12:00:00Z"), None, "bad_range"),
            (
                Some("2026-11-23T00:00:00Z"),
                Some("2026-11-22T00:00:00Z"),
                "bad_range",
            ),
            (
                Some("2025-01-01T00:00:00Z"),
                Some("2026-01-03T00:00:00Z"),
                "bad_range",
            ),
        ] {
            let e = format!("{:?}", range(&q(from, to), now()).unwrap_err());
            assert!(
                e.contains("400") && e.contains(code),
                "{from:?} {to:?}: {e}"
            );
        }
        // 366 days exactly is allowed.
        assert!(
            range(
                &q(Some("2025-01-01T00:00:00Z"), Some("2026-01-02T00:00:00Z")),
                now()
            )
            .is_ok()
        );
    }
}
