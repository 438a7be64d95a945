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

use crate::auth::{Session, scoped_managers};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::{Rest, audit, export};

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
    pub(crate) from: Option<String>,
    /// End of the range, exclusive (RFC 3339). Default: now. At most 366 days after `from`.
    pub(crate) to: Option<String>,
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
    /// Mean satisfaction rating (1 to 5) of those chats that were rated; `null` when none was.
    pub csat_avg: Option<f64>,
    /// How many of those chats were rated.
    pub csat_count: i64,
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
    /// Mean satisfaction rating (1 to 5) of those chats that were rated; `null` when none was.
    pub csat_avg: Option<f64>,
    /// How many of those chats were rated.
    pub csat_count: i64,
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
pub(crate) fn range(
    q: &RangeQuery,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
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
        csat_avg: d.csat_avg,
        csat_count: d.csat_count,
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
        csat_avg: r.csat_avg,
        csat_count: r.csat_count,
    }
}

/// The report of the session's group (its scope's rooftops alone) for the range asked.
async fn load(
    state: &Rest,
    session: &Session,
    q: &RangeQuery,
) -> Result<DepartmentsReport, ApiError> {
    let (from, to) = range(q, Utc::now())?;
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
    Ok(DepartmentsReport {
        from,
        to,
        departments,
        rooftops,
    })
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
    Ok(Json(load(&state, &session, &q).await?))
}

/// The columns of `reports.csv`, in order.
const CSV_HEADER: [&str; 18] = [
    "rooftop",
    "department",
    "from",
    "to",
    "chats",
    "answered",
    "missed",
    "offline",
    "timed_out",
    "ended",
    "missed_rate",
    "pickup_p50_secs",
    "pickup_avg_secs",
    "first_response_p50_secs",
    "leads",
    "chat_to_lead_rate",
    "csat_avg",
    "csat_count",
];

/// The same numbers as [`departments`] as a CSV file: a row per department, then each
/// rooftop's row (department empty) after its departments. Recorded in the audit trail first
/// (`report_exported`); 503 `audit_unavailable` when it cannot be.
#[utoipa::path(get, path = "/api/v1/reports/departments.csv", tag = "reports", params(RangeQuery),
    responses((status = 200, description = "The report as CSV (UTF-8 with a byte-order mark)", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "`audit_unavailable`: the export could not be recorded, so it was refused", body = ErrorBody)))]
pub async fn departments_csv(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<axum::response::Response, ApiError> {
    scoped_managers(&session, "export reports")?;
    let report = load(&state, &session, &q).await?;
    let mut event = audit::Event::by(&session, audit::kind::REPORT_EXPORTED);
    event.detail = serde_json::json!({
        "report": "departments",
        "from": report.from,
        "to": report.to,
        "rows": report.departments.len() + report.rooftops.len(),
    });
    audit::record_read(&state.pool, &event).await?;
    let (from, to) = (report.from.to_rfc3339(), report.to.to_rfc3339());
    let number = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
    let row = |rooftop: &str, department: &str, n: Columns<'_>| {
        vec![
            rooftop.to_string(),
            department.to_string(),
            from.clone(),
            to.clone(),
            n.counts[0].to_string(),
            n.counts[1].to_string(),
            n.counts[2].to_string(),
            n.counts[3].to_string(),
            n.counts[4].to_string(),
            n.counts[5].to_string(),
            number(n.missed_rate),
            number(n.pickup.map(|d| d.p50)),
            number(n.pickup.map(|d| d.avg)),
            number(n.first_response.map(|d| d.p50)),
            n.counts[6].to_string(),
            number(n.chat_to_lead_rate),
            number(n.csat_avg),
            n.counts[7].to_string(),
        ]
    };
    let mut rows = Vec::new();
    for r in &report.rooftops {
        for d in report
            .departments
            .iter()
            .filter(|d| d.rooftop.id == r.rooftop.id)
        {
            rows.push(row(&r.rooftop.name, &d.department.label, d.into()));
        }
        rows.push(row(&r.rooftop.name, "", r.into()));
    }
    Ok(export::csv_download(
        "report.csv",
        export::csv(&CSV_HEADER, rows),
    ))
}

/// A row's numbers as the CSV writes them: chats, answered, missed, offline, timed out,
/// ended, leads and ratings, then the rates and times.
struct Columns<'a> {
    counts: [i64; 8],
    missed_rate: Option<f64>,
    pickup: Option<&'a Durations>,
    first_response: Option<&'a Durations>,
    chat_to_lead_rate: Option<f64>,
    csat_avg: Option<f64>,
}

impl<'a> From<&'a DepartmentNumbers> for Columns<'a> {
    fn from(d: &'a DepartmentNumbers) -> Self {
        Self {
            counts: [
                d.chats,
                d.answered,
                d.missed,
                d.offline,
                d.timed_out,
                d.ended,
                d.leads,
                d.csat_count,
            ],
            missed_rate: d.missed_rate,
            pickup: d.time_to_pickup_secs.as_ref(),
            first_response: d.time_to_first_response_secs.as_ref(),
            chat_to_lead_rate: d.chat_to_lead_rate,
            csat_avg: d.csat_avg,
        }
    }
}

impl<'a> From<&'a RooftopNumbers> for Columns<'a> {
    fn from(r: &'a RooftopNumbers) -> Self {
        Self {
            counts: [
                r.chats,
                r.answered,
                r.missed,
                r.offline,
                r.timed_out,
                r.ended,
                r.leads,
                r.csat_count,
            ],
            missed_rate: r.missed_rate,
            pickup: r.time_to_pickup_secs.as_ref(),
            first_response: r.time_to_first_response_secs.as_ref(),
            chat_to_lead_rate: r.chat_to_lead_rate,
            csat_avg: r.csat_avg,
        }
    }
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
