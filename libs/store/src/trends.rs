//! Read-only trends over the conversations: the dashboard's numbers per hour or per day of a
//! range, in a time zone the caller names, for one dealer group, optionally one rooftop or one
//! department (and, for a rooftop manager, only their rooftops).
//!
//! A conversation counts in the bucket where it was *created* (as in `report`), in the
//! department it has now; an appointment in the bucket where it was booked, while it stands. Every bucket of the range has a row, with zero counts and no times
//! when it had no chat; one more row, with no `at`, holds the whole range's totals (medians and
//! distinct leads over the range, not sums of the buckets'). Buckets are cut in the named
//! zone's local time, so a day is the dealer's day across a change of daylight saving time.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// How long one point of a trend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl Bucket {
    /// Its name in `date_trunc` and in an interval.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// Which conversations of the group count.
#[derive(Debug, Clone, Default)]
pub struct TrendScope {
    /// Only these rooftops (a rooftop manager's); `None`: every rooftop of the group.
    pub rooftops: Option<Vec<Uuid>>,
    /// Only this rooftop.
    pub rooftop: Option<Uuid>,
    /// Only this department.
    pub department: Option<Uuid>,
}

/// One bucket's numbers (or, with no `at`, the range's).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TrendRow {
    /// Start of the bucket; `None` on the totals row.
    pub at: Option<DateTime<Utc>>,
    /// Conversations created in the bucket.
    pub chats: i64,
    /// Of those, the ones an agent picked up.
    pub answered: i64,
    /// … now `missed`.
    pub missed: i64,
    /// … now `offline`.
    pub offline: i64,
    /// `missed / (chats - offline)`; `None` when no chat reached an agent's queue.
    pub missed_rate: Option<f64>,
    /// Median seconds to pick up over the answered chats.
    pub pickup_p50: Option<f64>,
    /// Distinct leads made from those conversations.
    pub leads: i64,
    /// Mean satisfaction rating (1 to 5) of those conversations that were rated.
    pub csat_avg: Option<f64>,
    /// How many of them were rated.
    pub csat_count: i64,
    /// Appointments booked in the bucket (when they were made, not when they are for) that
    /// still stand (not cancelled).
    pub appointments: i64,
}

/// The buckets of `[from, to)` in local time of zone `$5`, then the totals row (`local` NULL);
/// each conversation joined to its bucket by the local time it was created.
const TRENDS: &str = "\
WITH c AS ( \
    SELECT c.id, c.state, c.created_at, c.assigned_at, \
        date_trunc($4, c.created_at AT TIME ZONE $5) AS local \
    FROM conversations c \
    JOIN departments d ON d.id = c.department_id AND d.group_id = c.group_id \
    WHERE c.group_id = $1 AND c.created_at >= $2 AND c.created_at < $3 \
        AND ($6::uuid[] IS NULL OR d.rooftop_id = ANY($6)) \
        AND ($7::uuid IS NULL OR d.rooftop_id = $7) \
        AND ($8::uuid IS NULL OR c.department_id = $8) \
), per AS ( \
    SELECT local, count(*) AS chats, \
        count(*) FILTER (WHERE assigned_at IS NOT NULL) AS answered, \
        count(*) FILTER (WHERE state = 'missed') AS missed, \
        count(*) FILTER (WHERE state = 'offline') AS offline, \
        percentile_cont(0.5) WITHIN GROUP ( \
            ORDER BY extract(epoch FROM assigned_at - created_at)::float8) AS pickup_p50 \
    FROM c GROUP BY GROUPING SETS ((local), ()) \
), lead_counts AS ( \
    SELECT c.local, count(DISTINCT l.id) AS leads \
    FROM c \
    JOIN lead_sources ls ON ls.conversation_id = c.id \
    JOIN leads l ON l.id = ls.lead_id AND l.group_id = $1 \
    GROUP BY GROUPING SETS ((c.local), ()) \
), ratings AS ( \
    SELECT c.local, avg(r.score)::float8 AS csat_avg, count(*) AS csat_count \
    FROM c JOIN chat_ratings r ON r.conversation_id = c.id AND r.group_id = $1 \
    GROUP BY GROUPING SETS ((c.local), ()) \
), booked AS ( \
    SELECT local, count(*) AS appointments FROM ( \
        SELECT date_trunc($4, a.created_at AT TIME ZONE $5) AS local FROM appointments a \
        WHERE a.group_id = $1 AND a.created_at >= $2 AND a.created_at < $3 \
            AND a.state = 'booked' \
            AND ($6::uuid[] IS NULL OR a.rooftop_id = ANY($6)) \
            AND ($7::uuid IS NULL OR a.rooftop_id = $7) \
            AND ($8::uuid IS NULL OR a.department_id = $8) \
    ) x GROUP BY GROUPING SETS ((local), ()) \
), buckets AS ( \
    SELECT generate_series(date_trunc($4, $2 AT TIME ZONE $5), \
        ($3 AT TIME ZONE $5) - interval '1 microsecond', ('1 ' || $4)::interval) AS local \
    UNION ALL SELECT NULL \
) \
SELECT b.local AT TIME ZONE $5 AS at, \
    COALESCE(p.chats, 0) AS chats, COALESCE(p.answered, 0) AS answered, \
    COALESCE(p.missed, 0) AS missed, COALESCE(p.offline, 0) AS offline, \
    p.missed::float8 / NULLIF(p.chats - p.offline, 0) AS missed_rate, \
    p.pickup_p50, COALESCE(ld.leads, 0) AS leads, \
    r.csat_avg, COALESCE(r.csat_count, 0) AS csat_count, \
    COALESCE(ap.appointments, 0) AS appointments \
FROM buckets b \
LEFT JOIN per p ON p.local IS NOT DISTINCT FROM b.local \
LEFT JOIN lead_counts ld ON ld.local IS NOT DISTINCT FROM b.local \
LEFT JOIN ratings r ON r.local IS NOT DISTINCT FROM b.local \
LEFT JOIN booked ap ON ap.local IS NOT DISTINCT FROM b.local \
ORDER BY b.local NULLS LAST";

/// A trend: one row per bucket, in order, and the range's totals.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// One row per bucket of the range, oldest first.
    pub points: Vec<TrendRow>,
    /// The whole range.
    pub totals: TrendRow,
}

/// The numbers of `group`'s conversations created in `[from, to)`, per `bucket` in time zone
/// `tz` (an IANA name the caller has checked), within `scope`.
pub async fn trends(
    pool: &PgPool,
    group: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    bucket: Bucket,
    tz: &str,
    scope: &TrendScope,
) -> Result<Trend, sqlx::Error> {
    // Planned for these values each time (an unnamed statement): a cached generic plan cannot
    // see which of the optional filters are empty, and took 7× as long for a whole group.
    let mut rows: Vec<TrendRow> = sqlx::query_as(TRENDS)
        .persistent(false)
        .bind(group)
        .bind(from)
        .bind(to)
        .bind(bucket.unit())
        .bind(tz)
        .bind(scope.rooftops.as_deref())
        .bind(scope.rooftop)
        .bind(scope.department)
        .fetch_all(pool)
        .await?;
    // The totals row sorts last and always exists (`UNION ALL SELECT NULL`).
    let totals = rows.pop().filter(|r| r.at.is_none()).unwrap_or(TrendRow {
        at: None,
        chats: 0,
        answered: 0,
        missed: 0,
        offline: 0,
        missed_rate: None,
        pickup_p50: None,
        leads: 0,
        csat_avg: None,
        csat_count: 0,
        appointments: 0,
    });
    Ok(Trend {
        points: rows,
        totals,
    })
}
