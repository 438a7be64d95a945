//! Routing settings: read for every decision, written through the `routing.*` commands.

use chrono::Utc;
use showroom_proto::routing::{
    Closure, DepartmentRouting, DepartmentRoutingView, Hours, OfferMode, OpenInterval, PutTeam,
    RoutingRule, Team, WebsiteRouting,
};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::sqlx::{self, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::hours::{self, Interval, Schedule};
use showroom_store::fault::db_error;

/// A department's settings as the router uses them.
#[derive(Debug, Clone)]
pub(crate) struct Department {
    pub id: Uuid,
    pub group_id: Uuid,
    pub rooftop_id: Uuid,
    pub time_zone: String,
    pub settings: DepartmentRouting,
    /// `None`: always open.
    pub schedule: Option<Schedule>,
}

impl Department {
    pub(crate) fn is_open_now(&self) -> bool {
        self.schedule.as_ref().is_none_or(|s| s.is_open(Utc::now()))
    }
}

type DeptRow = (
    Uuid,
    Uuid,
    String,
    Option<String>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<Uuid>,
    Option<i32>,
    Option<bool>,
);

/// A department of `group` with its settings (defaults when never configured), read on `db`
/// (a caller inside a transaction passes it, so it never waits for a second connection).
pub(crate) async fn department(
    db: &mut PgConnection,
    group: Uuid,
    id: Uuid,
) -> Result<Option<Department>, sqlx::Error> {
    let row: Option<DeptRow> = sqlx::query_as(
        "SELECT d.id, d.rooftop_id, r.time_zone, dr.mode, dr.ring_secs, dr.max_chats_per_agent, \
                dr.incoming_timeout_secs, dr.wait_secs, dr.inactivity_secs, dr.transfer_secs, \
                dr.overflow_team_id, dr.overflow_after_secs, dr.hours_enabled \
         FROM departments d JOIN rooftops r ON r.id = d.rooftop_id \
         LEFT JOIN department_routing dr ON dr.department_id = d.id \
         WHERE d.id = $1 AND d.group_id = $2",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(&mut *db)
    .await?;
    let Some((
        id,
        rooftop_id,
        time_zone,
        mode,
        ring,
        cap,
        incoming,
        wait,
        inactivity,
        transfer,
        team,
        after,
        hours_on,
    )) = row
    else {
        return Ok(None);
    };
    let d = DepartmentRouting::default();
    let mut settings = DepartmentRouting {
        mode: mode.as_deref().and_then(OfferMode::parse).unwrap_or(d.mode),
        ring_secs: ring.map_or(d.ring_secs, |v| v as u32),
        max_chats_per_agent: cap.map(|v| v as u32),
        incoming_timeout_secs: incoming.map_or(d.incoming_timeout_secs, |v| v as u32),
        wait_secs: wait.map(|v| v as u32),
        inactivity_secs: inactivity.map_or(d.inactivity_secs, |v| v as u32),
        transfer_secs: transfer.map_or(d.transfer_secs, |v| v as u32),
        overflow_team_id: team,
        overflow_after_secs: after.map(|v| v as u32),
        hours: None,
    };
    let mut schedule = None;
    if hours_on == Some(true) {
        let intervals: Vec<(i16, i16, i16)> = sqlx::query_as(
            "SELECT weekday, opens_min, closes_min FROM department_hours WHERE department_id = $1 \
             ORDER BY weekday, opens_min",
        )
        .bind(id)
        .fetch_all(&mut *db)
        .await?;
        let closures: Vec<(chrono::NaiveDate, String)> = sqlx::query_as(
            "SELECT day, label FROM department_closures WHERE department_id = $1 ORDER BY day",
        )
        .bind(id)
        .fetch_all(&mut *db)
        .await?;
        let intervals: Vec<Interval> = intervals
            .into_iter()
            .map(|(w, o, c)| Interval {
                weekday: w as u8,
                opens_min: o as u16,
                closes_min: c as u16,
            })
            .collect();
        settings.hours = Some(Hours {
            intervals: intervals
                .iter()
                .map(|i| OpenInterval {
                    weekday: i.weekday,
                    opens: hours::format_minute(i.opens_min),
                    closes: hours::format_minute(i.closes_min),
                })
                .collect(),
            closures: closures
                .iter()
                .map(|(date, label)| Closure {
                    date: *date,
                    label: label.clone(),
                })
                .collect(),
        });
        // An unknown zone cannot be stored (the directory checks it); read it as UTC if so.
        let tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
        schedule = Some(Schedule {
            tz,
            intervals,
            closures: closures.into_iter().map(|(d, _)| d).collect(),
        });
    }
    Ok(Some(Department {
        id,
        group_id: group,
        rooftop_id,
        time_zone,
        settings,
        schedule,
    }))
}

/// The view the REST API answers with.
pub(crate) fn view(d: &Department) -> DepartmentRoutingView {
    let now = Utc::now();
    let open_now = d.schedule.as_ref().is_none_or(|s| s.is_open(now));
    DepartmentRoutingView {
        department_id: d.id,
        time_zone: d.time_zone.clone(),
        settings: d.settings.clone(),
        open_now,
        next_open: if open_now {
            None
        } else {
            d.schedule.as_ref().and_then(|s| s.next_open(now))
        },
    }
}

fn bad(message: impl Into<String>) -> CommandError {
    CommandError::new(ErrorCode::BadRequest, message)
}

fn range(field: &str, v: u32, lo: u32, hi: u32) -> Result<(), CommandError> {
    if v < lo || v > hi {
        return Err(bad(format!("{field} must be between {lo} and {hi}")));
    }
    Ok(())
}

/// Replaces a department's settings after checking each field.
pub(crate) async fn put_department(
    pool: &PgPool,
    group: Uuid,
    id: Uuid,
    s: &DepartmentRouting,
) -> Result<Department, CommandError> {
    range("ring_secs", s.ring_secs, 1, 3600)?;
    range("incoming_timeout_secs", s.incoming_timeout_secs, 1, 86_400)?;
    range("inactivity_secs", s.inactivity_secs, 1, 604_800)?;
    range("transfer_secs", s.transfer_secs, 1, 3600)?;
    if let Some(v) = s.wait_secs {
        range("wait_secs", v, 1, 86_400)?;
    }
    if let Some(v) = s.max_chats_per_agent {
        range("max_chats_per_agent", v, 1, 100)?;
    }
    if let Some(v) = s.overflow_after_secs {
        range("overflow_after_secs", v, 0, 86_400)?;
    }
    if s.overflow_after_secs.is_some() != s.overflow_team_id.is_some() {
        return Err(bad(
            "overflow_team_id and overflow_after_secs go together: set both or neither",
        ));
    }
    let intervals = match &s.hours {
        Some(h) => Some(hours::intervals(h).map_err(bad)?),
        None => None,
    };
    let mut conn = pool.acquire().await.map_err(db_error)?;
    if department(&mut conn, group, id)
        .await
        .map_err(db_error)?
        .is_none()
    {
        return Err(CommandError::new(ErrorCode::NotFound, "no such department"));
    }
    if let Some(team) = s.overflow_team_id
        && !team_exists(pool, group, team).await?
    {
        return Err(bad("overflow_team_id: no such team in this group"));
    }
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query(
        "INSERT INTO department_routing (department_id, group_id, mode, ring_secs, max_chats_per_agent, \
            incoming_timeout_secs, wait_secs, inactivity_secs, transfer_secs, overflow_team_id, \
            overflow_after_secs, hours_enabled, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now()) \
         ON CONFLICT (department_id) DO UPDATE SET mode = EXCLUDED.mode, ring_secs = EXCLUDED.ring_secs, \
            max_chats_per_agent = EXCLUDED.max_chats_per_agent, incoming_timeout_secs = EXCLUDED.incoming_timeout_secs, \
            wait_secs = EXCLUDED.wait_secs, inactivity_secs = EXCLUDED.inactivity_secs, \
            transfer_secs = EXCLUDED.transfer_secs, overflow_team_id = EXCLUDED.overflow_team_id, \
            overflow_after_secs = EXCLUDED.overflow_after_secs, hours_enabled = EXCLUDED.hours_enabled, \
            updated_at = now()",
    )
    .bind(id)
    .bind(group)
    .bind(s.mode.as_str())
    .bind(s.ring_secs as i32)
    .bind(s.max_chats_per_agent.map(|v| v as i32))
    .bind(s.incoming_timeout_secs as i32)
    .bind(s.wait_secs.map(|v| v as i32))
    .bind(s.inactivity_secs as i32)
    .bind(s.transfer_secs as i32)
    .bind(s.overflow_team_id)
    .bind(s.overflow_after_secs.map(|v| v as i32))
    .bind(intervals.is_some())
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query("DELETE FROM department_hours WHERE department_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    sqlx::query("DELETE FROM department_closures WHERE department_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    if let (Some(intervals), Some(h)) = (intervals, &s.hours) {
        for i in intervals {
            sqlx::query(
                "INSERT INTO department_hours (department_id, weekday, opens_min, closes_min) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(i.weekday as i16)
            .bind(i.opens_min as i16)
            .bind(i.closes_min as i16)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        for c in &h.closures {
            sqlx::query(
                "INSERT INTO department_closures (department_id, day, label) VALUES ($1, $2, $3) \
                 ON CONFLICT (department_id, day) DO UPDATE SET label = EXCLUDED.label",
            )
            .bind(id)
            .bind(c.date)
            .bind(&c.label)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
    }
    tx.commit().await.map_err(db_error)?;
    department(&mut conn, group, id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such department"))
}

async fn team_exists(pool: &PgPool, group: Uuid, team: Uuid) -> Result<bool, CommandError> {
    let found: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM teams WHERE id = $1 AND group_id = $2")
            .bind(team)
            .bind(group)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
    Ok(found.is_some())
}

/// The website of `group`: its rooftop and routing settings.
pub(crate) async fn website(
    db: impl PgExecutor<'_> + Copy,
    group: Uuid,
    id: Uuid,
) -> Result<Option<(Uuid, WebsiteRouting)>, CommandError> {
    Ok(website_with_gate(db, group, id)
        .await?
        .map(|w| (w.rooftop, w.routing)))
}

/// A website as a start needs it: its rooftop, whether the bot's Lead Gate is on (the bot's
/// `bot_settings`, on when the website has no row), and its routing settings.
#[derive(Debug, Clone)]
pub(crate) struct Website {
    pub(crate) rooftop: Uuid,
    pub(crate) lead_gate: bool,
    pub(crate) routing: WebsiteRouting,
}

/// Reads a [`Website`] of `group`.
pub(crate) async fn website_with_gate(
    db: impl PgExecutor<'_> + Copy,
    group: Uuid,
    id: Uuid,
) -> Result<Option<Website>, CommandError> {
    let row: Option<(Uuid, Option<i32>, bool)> = sqlx::query_as(
        "SELECT w.rooftop_id, wr.max_sessions, COALESCE(bs.lead_gate, true) FROM websites w \
         LEFT JOIN website_routing wr ON wr.website_id = w.id \
         LEFT JOIN bot_settings bs ON bs.website_id = w.id WHERE w.id = $1 AND w.group_id = $2",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(db)
    .await
    .map_err(db_error)?;
    let Some((rooftop, max_sessions, lead_gate)) = row else {
        return Ok(None);
    };
    let rules: Vec<(String, String, Option<Uuid>, Option<Uuid>)> = sqlx::query_as(
        "SELECT variable, value, department_id, team_id FROM routing_rules WHERE website_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(Some(Website {
        rooftop,
        lead_gate,
        routing: WebsiteRouting {
            max_sessions: max_sessions.map(|v| v as u32),
            rules: rules
                .into_iter()
                .map(|(variable, value, department_id, team_id)| RoutingRule {
                    variable,
                    value,
                    department_id,
                    team_id,
                })
                .collect(),
        },
    }))
}

/// Replaces a website's routing settings after checking them.
pub(crate) async fn put_website(
    pool: &PgPool,
    group: Uuid,
    id: Uuid,
    s: &WebsiteRouting,
) -> Result<WebsiteRouting, CommandError> {
    if let Some(v) = s.max_sessions {
        range("max_sessions", v, 1, 100_000)?;
    }
    if s.rules.len() > 50 {
        return Err(bad("rules: at most 50"));
    }
    let Some((rooftop, _)) = website(pool, group, id).await? else {
        return Err(CommandError::new(ErrorCode::NotFound, "no such website"));
    };
    for (n, r) in s.rules.iter().enumerate() {
        let field = format!("rules[{n}]");
        if r.variable.is_empty() || r.variable.len() > 64 {
            return Err(bad(format!("{field}.variable must be 1 to 64 characters")));
        }
        if r.value.len() > 256 {
            return Err(bad(format!("{field}.value must be at most 256 characters")));
        }
        match (r.department_id, r.team_id) {
            (Some(d), None) => {
                let found: Option<(Uuid,)> = sqlx::query_as(
                    "SELECT id FROM departments WHERE id = $1 AND rooftop_id = $2 AND group_id = $3",
                )
                .bind(d)
                .bind(rooftop)
                .bind(group)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
                if found.is_none() {
                    return Err(bad(format!(
                        "{field}.department_id: no such department at this website's rooftop"
                    )));
                }
            }
            (None, Some(t)) => {
                if !team_exists(pool, group, t).await? {
                    return Err(bad(format!("{field}.team_id: no such team in this group")));
                }
            }
            _ => {
                return Err(bad(format!(
                    "{field}: give exactly one of department_id and team_id"
                )));
            }
        }
    }
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query(
        "INSERT INTO website_routing (website_id, group_id, max_sessions, updated_at) VALUES ($1, $2, $3, now()) \
         ON CONFLICT (website_id) DO UPDATE SET max_sessions = EXCLUDED.max_sessions, updated_at = now()",
    )
    .bind(id)
    .bind(group)
    .bind(s.max_sessions.map(|v| v as i32))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query("DELETE FROM routing_rules WHERE website_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    for (n, r) in s.rules.iter().enumerate() {
        sqlx::query(
            "INSERT INTO routing_rules (website_id, position, variable, value, department_id, team_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(n as i32)
        .bind(&r.variable)
        .bind(&r.value)
        .bind(r.department_id)
        .bind(r.team_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(website(pool, group, id)
        .await?
        .map(|(_, w)| w)
        .unwrap_or_default())
}

/// The group's teams with their members.
pub(crate) async fn teams(pool: &PgPool, group: Uuid) -> Result<Vec<Team>, CommandError> {
    let rows: Vec<(Uuid, String, Vec<Uuid>)> = sqlx::query_as(
        "SELECT t.id, t.name, COALESCE(array_agg(m.agent_id ORDER BY m.agent_id) FILTER (WHERE m.agent_id IS NOT NULL), '{}') \
         FROM teams t LEFT JOIN team_members m ON m.team_id = t.id \
         WHERE t.group_id = $1 GROUP BY t.id, t.name ORDER BY t.name",
    )
    .bind(group)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, members)| Team { id, name, members })
        .collect())
}

/// Creates or replaces a team.
pub(crate) async fn put_team(
    pool: &PgPool,
    group: Uuid,
    t: &PutTeam,
) -> Result<Team, CommandError> {
    let name = t.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(bad("name must be 1 to 100 characters"));
    }
    let known: Vec<(Uuid,)> =
        sqlx::query_as("SELECT id FROM agents WHERE group_id = $1 AND id = ANY($2)")
            .bind(group)
            .bind(&t.members)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
    if let Some(stranger) = t.members.iter().find(|m| !known.iter().any(|(k,)| k == *m)) {
        return Err(bad(format!(
            "members: {stranger} is not an agent of this group"
        )));
    }
    let other: Option<(Uuid,)> = sqlx::query_as("SELECT group_id FROM teams WHERE id = $1")
        .bind(t.id)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    if other.is_some_and(|(g,)| g != group) {
        return Err(CommandError::new(ErrorCode::NotFound, "no such team"));
    }
    let mut tx = pool.begin().await.map_err(db_error)?;
    let inserted = sqlx::query(
        "INSERT INTO teams (id, group_id, name) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name WHERE teams.group_id = EXCLUDED.group_id",
    )
    .bind(t.id)
    .bind(group)
    .bind(name)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(bad("name: another team of this group has this name"));
        }
        Err(e) => return Err(db_error(e)),
        Ok(_) => {}
    }
    sqlx::query("DELETE FROM team_members WHERE team_id = $1")
        .bind(t.id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    sqlx::query(
        "INSERT INTO team_members (team_id, agent_id, group_id) SELECT $1, m, $2 FROM unnest($3::uuid[]) m \
         ON CONFLICT DO NOTHING",
    )
    .bind(t.id)
    .bind(group)
    .bind(&t.members)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    let mut members = t.members.clone();
    members.sort();
    members.dedup();
    Ok(Team {
        id: t.id,
        name: name.to_owned(),
        members,
    })
}
