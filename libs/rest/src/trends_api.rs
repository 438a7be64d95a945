//! REST for the dashboard's trends: chats, answered, missed-chat rate, median time to pickup,
//! leads, appointments and satisfaction per hour or per day of a range, for the group, one rooftop or one
//! department, each with the same numbers for the period just before (as long as the range)
//! to compare with. Managers and admins; a rooftop manager gets their rooftops' chats alone,
//! and 404 for another rooftop or its department. Computed in Postgres
//! (`showroom_store::trends`).

use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use showroom_store::trends::{self, Bucket, TrendRow, TrendScope};
use uuid::Uuid;

use crate::Rest;
use crate::auth::{Session, scoped_managers};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::reports::{RangeQuery, range};

/// The longest range an hourly trend covers (744 points).
const MAX_HOURLY_DAYS: i64 = 31;
/// Ranges up to this long default to hourly points.
const HOURLY_UP_TO_DAYS: i64 = 2;

/// What a trend covers.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendsQuery {
    /// Start of the range, inclusive (RFC 3339; percent-encode a `+` offset as `%2B`).
    /// Default: 7 days before `to`.
    from: Option<String>,
    /// End of the range, exclusive (RFC 3339). Default: now. At most 366 days after `from`.
    to: Option<String>,
    /// `hour` or `day`. Default: `hour` for a range of 2 days or less, else `day`. Hourly
    /// points cover at most 31 days.
    bucket: Option<String>,
    /// The IANA time zone whose hours and days cut the points (`America/Chicago`). Default:
    /// the agent's own time zone from their profile, else `UTC`.
    tz: Option<String>,
    /// Only this rooftop's chats.
    rooftop_id: Option<Uuid>,
    /// Only this department's chats.
    department_id: Option<Uuid>,
}

/// The numbers of one point (or of a whole period).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrendNumbers {
    /// Conversations created.
    pub chats: i64,
    /// Of those, the ones an agent picked up.
    pub answered: i64,
    /// … now `missed`.
    pub missed: i64,
    /// … now `offline`.
    pub offline: i64,
    /// `missed / (chats - offline)`; `null` when no chat reached an agent's queue.
    pub missed_rate: Option<f64>,
    /// Median seconds from the start of a chat to an agent picking it up; `null` when none
    /// was picked up.
    pub pickup_p50_secs: Option<f64>,
    /// Distinct leads made from those chats.
    pub leads: i64,
    /// Mean satisfaction rating (1 to 5) of those chats that were rated; `null` when none was.
    pub csat_avg: Option<f64>,
    /// How many were rated.
    pub csat_count: i64,
    /// Appointments booked (made in the bucket, whenever they are for) and not cancelled.
    pub appointments: i64,
}

/// One hour or day of a trend.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrendPoint {
    /// Start of the hour or day (local midnight of the time zone for a day).
    pub at: DateTime<Utc>,
    /// Its numbers.
    #[serde(flatten)]
    pub numbers: TrendNumbers,
}

/// A period's points and totals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrendPeriod {
    /// Start (inclusive).
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub to: DateTime<Utc>,
    /// Every hour or day of the period, oldest first, those without chats included.
    pub points: Vec<TrendPoint>,
    /// The whole period (medians and distinct leads over the period, not sums).
    pub totals: TrendNumbers,
}

/// The dashboard's trends.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrendsReport {
    /// `hour` or `day`.
    pub bucket: String,
    /// The time zone the points are cut in.
    pub tz: String,
    /// The rooftop asked for, if any.
    pub rooftop_id: Option<Uuid>,
    /// The department asked for, if any.
    pub department_id: Option<Uuid>,
    /// The range asked for.
    pub current: TrendPeriod,
    /// The period just before, as long as the range (its points align with `current`'s by
    /// position).
    pub previous: TrendPeriod,
}

fn numbers(r: TrendRow) -> TrendNumbers {
    TrendNumbers {
        chats: r.chats,
        answered: r.answered,
        missed: r.missed,
        offline: r.offline,
        missed_rate: r.missed_rate,
        pickup_p50_secs: r.pickup_p50,
        leads: r.leads,
        csat_avg: r.csat_avg,
        csat_count: r.csat_count,
        appointments: r.appointments,
    }
}

/// The bucket asked for (or the default for a range this long), checked against the range.
fn bucket(asked: Option<&str>, days: Duration) -> Result<Bucket, ApiError> {
    let b = match asked.map(str::trim) {
        None | Some("") if days <= Duration::days(HOURLY_UP_TO_DAYS) => Bucket::Hour,
        None | Some("") | Some("day") => Bucket::Day,
        Some("hour") => Bucket::Hour,
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad_bucket",
                "`bucket` must be `hour` or `day`",
            ));
        }
    };
    if b == Bucket::Hour && days > Duration::days(MAX_HOURLY_DAYS) {
        return Err(ApiError::bad_request(
            "bad_bucket",
            "hourly points cover at most 31 days; ask for `day`",
        ));
    }
    Ok(b)
}

/// Trends of the group's chats for a range (managers and admins; a rooftop manager gets their
/// rooftops' chats alone).
#[utoipa::path(get, path = "/api/v1/reports/trends", tag = "reports", params(TrendsQuery),
    responses((status = 200, body = TrendsReport),
        (status = 400, description = "`bad_from`, `bad_to`, `bad_range`, `bad_bucket` or `bad_tz`", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "The rooftop or department is not in the session's group and scope", body = ErrorBody)))]
pub async fn trends(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<TrendsQuery>,
) -> Result<Json<TrendsReport>, ApiError> {
    scoped_managers(&session, "read reports")?;
    let asked = RangeQuery {
        from: q.from.clone(),
        to: q.to.clone(),
    };
    let (from, to) = range(&asked, Utc::now())?;
    let bucket = bucket(q.bucket.as_deref(), to - from)?;
    let tz = match q.tz.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => t.to_string(),
        None => crate::directory::profile(&state.pool, session.agent.id)
            .await?
            .and_then(|p| p.time_zone)
            .unwrap_or_else(|| "UTC".to_string()),
    };
    let tz = chrono_tz::Tz::from_str(&tz)
        .map_err(|_| {
            ApiError::bad_request(
                "bad_tz",
                "`tz` must be an IANA time zone such as America/Chicago",
            )
        })?
        .name()
        .to_string();
    if let Some(r) = q.rooftop_id {
        let known = crate::directory::rooftop_in_group(&state.pool, session.group(), r).await?;
        if !known || !session.covers_rooftop(r) {
            return Err(ApiError::not_found("rooftop"));
        }
    }
    if let Some(d) = q.department_id {
        let rooftop = session.department(&state, d).await?;
        if q.rooftop_id.is_some_and(|r| r != rooftop) {
            return Err(ApiError::not_found("department"));
        }
    }
    let scope = TrendScope {
        rooftops: session.scope.rooftops().map(<[Uuid]>::to_vec),
        rooftop: q.rooftop_id,
        department: q.department_id,
    };
    let (pool, group) = (&state.pool, session.group());
    let (scope_ref, tz_ref) = (&scope, tz.as_str());
    let period = |from, to| {
        let (scope, tz) = (scope_ref, tz_ref);
        async move {
            let t = trends::trends(pool, group, (from, to), bucket, tz, scope).await?;
            Ok::<_, ApiError>(TrendPeriod {
                from,
                to,
                points: t
                    .points
                    .into_iter()
                    .filter_map(|r| Some((r.at?, r)))
                    .map(|(at, r)| TrendPoint {
                        at,
                        numbers: numbers(r),
                    })
                    .collect(),
                totals: numbers(t.totals),
            })
        }
    };
    let current = period(from, to).await?;
    let previous = period(from - (to - from), from).await?;
    Ok(Json(TrendsReport {
        bucket: bucket.unit().to_string(),
        tz,
        rooftop_id: q.rooftop_id,
        department_id: q.department_id,
        current,
        previous,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_defaults_by_length_and_hours_are_bounded() {
        assert_eq!(bucket(None, Duration::days(1)).unwrap(), Bucket::Hour);
        assert_eq!(bucket(None, Duration::days(7)).unwrap(), Bucket::Day);
        assert_eq!(
            bucket(Some("day"), Duration::hours(3)).unwrap(),
            Bucket::Day
        );
        assert_eq!(
            bucket(Some("hour"), Duration::days(31)).unwrap(),
            Bucket::Hour
        );
        for (asked, days) in [(Some("hour"), 32), (Some("week"), 7), (Some("HOUR"), 1)] {
            let e = format!("{:?}", bucket(asked, Duration::days(days)).unwrap_err());
            assert!(e.contains("bad_bucket"), "{asked:?} {days}: {e}");
        }
    }
}
