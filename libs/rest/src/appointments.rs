//! Appointments (issue 20, item 1), written once: a department's appointment settings, its
//! bookable slots (from the router's hours and holidays, in the rooftop's time zone), and every
//! read and write of `appointment_settings`, `appointment_slots` and `appointments` (owned by
//! the gateway). The REST handlers are in `appointments_api.rs`.
//!
//! **The guarantee against double booking** is [`take_seat`]: one `INSERT … ON CONFLICT DO
//! UPDATE … WHERE booked < capacity` on the slot's counter row. Postgres locks the row for the
//! upsert, so concurrent bookings of one slot queue on it, and the `WHERE` is evaluated on the
//! newest version of the row after the lock: of N bookings of the last seat exactly one adds 1,
//! the others update nothing and are refused `slot_full`. The table's `CHECK (booked BETWEEN 0
//! AND capacity)` holds it whatever the code does. One statement, no retry loop (a serializable
//! transaction would need one) and no lock held beyond the booking's transaction.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use showroom_proto::appointment::{Appointment, AppointmentKind, AppointmentState};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::error::ApiError;
use axum::http::StatusCode;

/// How far ahead slots are offered and booked.
pub const MAX_DAYS_AHEAD: i64 = 120;
/// The longest range one slots query covers.
pub const MAX_RANGE_DAYS: i64 = 31;

/// What a department offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppointmentSettings {
    /// The kinds it books (default: all four).
    pub kinds: Vec<AppointmentKind>,
    /// Slot length in minutes, 10 to 240 (default 30).
    pub slot_minutes: i16,
    /// Appointments per slot, 1 to 100 (default 1).
    pub capacity: i16,
}

impl Default for AppointmentSettings {
    fn default() -> Self {
        Self {
            kinds: AppointmentKind::ALL.to_vec(),
            slot_minutes: 30,
            capacity: 1,
        }
    }
}

impl AppointmentSettings {
    /// 400 naming each wrong field.
    pub fn check(&self) -> Result<(), ApiError> {
        let mut p = crate::validate::Problems::default();
        if self.kinds.is_empty() {
            p.add("kinds", "offer at least one kind");
        }
        if !(10..=240).contains(&self.slot_minutes) {
            p.add("slot_minutes", "must be 10 to 240 minutes");
        }
        if !(1..=100).contains(&self.capacity) {
            p.add("capacity", "must be 1 to 100");
        }
        p.finish()
    }
}

/// A department's settings (the defaults when it has none).
pub async fn settings(
    db: impl PgExecutor<'_>,
    group: Uuid,
    department: Uuid,
) -> sqlx::Result<AppointmentSettings> {
    let row: Option<(Vec<String>, i16, i16)> = sqlx::query_as(
        "SELECT kinds, slot_minutes, capacity FROM appointment_settings \
         WHERE department_id = $1 AND group_id = $2",
    )
    .bind(department)
    .bind(group)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => AppointmentSettings::default(),
        Some((kinds, slot_minutes, capacity)) => AppointmentSettings {
            kinds: kinds
                .iter()
                .filter_map(|k| AppointmentKind::parse(k))
                .collect(),
            slot_minutes,
            capacity,
        },
    })
}

/// Replaces a department's settings (checked first).
pub async fn put_settings(
    db: impl PgExecutor<'_>,
    group: Uuid,
    department: Uuid,
    s: &AppointmentSettings,
) -> sqlx::Result<()> {
    let mut kinds: Vec<&str> = Vec::new();
    for k in AppointmentKind::ALL {
        if s.kinds.contains(&k) {
            kinds.push(k.as_str());
        }
    }
    sqlx::query(
        "INSERT INTO appointment_settings (department_id, group_id, kinds, slot_minutes, capacity) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (department_id) DO UPDATE \
         SET kinds = EXCLUDED.kinds, slot_minutes = EXCLUDED.slot_minutes, \
             capacity = EXCLUDED.capacity, updated_at = now()",
    )
    .bind(department)
    .bind(group)
    .bind(&kinds)
    .bind(s.slot_minutes)
    .bind(s.capacity)
    .execute(db)
    .await?;
    Ok(())
}

/// One weekly interval: ISO weekday, minutes since local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// Opening minute.
    pub opens_min: u16,
    /// Closing minute (up to 1440).
    pub closes_min: u16,
}

/// When a department books: its hours (or, when it has none set, Monday to Saturday 09:00 to
/// 18:00: a department that chats around the clock does not test-drive at 3 am), its holidays,
/// in its rooftop's zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// The department.
    pub department_id: Uuid,
    /// Its label.
    pub department: String,
    /// Its rooftop.
    pub rooftop_id: Uuid,
    /// The rooftop's zone name.
    pub time_zone: String,
    /// The zone.
    pub tz: Tz,
    /// The weekly intervals.
    pub intervals: Vec<Interval>,
    /// Closed local days.
    pub closures: Vec<NaiveDate>,
    /// The department's settings.
    pub settings: AppointmentSettings,
}

/// The hours used when a department has none set.
pub fn default_intervals() -> Vec<Interval> {
    (1..=6)
        .map(|weekday| Interval {
            weekday,
            opens_min: 9 * 60,
            closes_min: 18 * 60,
        })
        .collect()
}

/// A department's calendar, or `None` when it is not of the group.
pub async fn calendar(
    db: &mut PgConnection,
    group: Uuid,
    department: Uuid,
) -> sqlx::Result<Option<Calendar>> {
    let row: Option<(Uuid, String, String, Option<bool>)> = sqlx::query_as(
        "SELECT d.rooftop_id, d.label, r.time_zone, dr.hours_enabled FROM departments d \
         JOIN rooftops r ON r.id = d.rooftop_id \
         LEFT JOIN department_routing dr ON dr.department_id = d.id \
         WHERE d.id = $1 AND d.group_id = $2",
    )
    .bind(department)
    .bind(group)
    .fetch_optional(&mut *db)
    .await?;
    let Some((rooftop_id, label, time_zone, hours_on)) = row else {
        return Ok(None);
    };
    let intervals = if hours_on == Some(true) {
        let rows: Vec<(i16, i16, i16)> = sqlx::query_as(
            "SELECT weekday, opens_min, closes_min FROM department_hours \
             WHERE department_id = $1 ORDER BY weekday, opens_min",
        )
        .bind(department)
        .fetch_all(&mut *db)
        .await?;
        rows.into_iter()
            .map(|(w, o, c)| Interval {
                weekday: w as u8,
                opens_min: o as u16,
                closes_min: c as u16,
            })
            .collect()
    } else {
        default_intervals()
    };
    // Holidays close the store for appointments whether or not chat hours are on.
    let closures: Vec<NaiveDate> = sqlx::query_scalar(
        "SELECT day FROM department_closures WHERE department_id = $1 ORDER BY day",
    )
    .bind(department)
    .fetch_all(&mut *db)
    .await?;
    let settings = settings(&mut *db, group, department).await?;
    Ok(Some(Calendar {
        department_id: department,
        department: label,
        rooftop_id,
        tz: time_zone.parse().unwrap_or(chrono_tz::UTC),
        time_zone,
        intervals,
        closures,
        settings,
    }))
}

/// Why a start is not bookable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotASlot {
    /// It has begun or is over.
    Past,
    /// Beyond [`MAX_DAYS_AHEAD`].
    TooFar,
    /// Not a slot start of the department's hours (closed then, a holiday, or off the grid).
    OutsideHours,
}

impl From<NotASlot> for ApiError {
    fn from(e: NotASlot) -> Self {
        match e {
            NotASlot::Past => ApiError::new(
                StatusCode::CONFLICT,
                "slot_in_past",
                "this slot has already begun; pick a later one",
            ),
            NotASlot::TooFar => ApiError::bad_request(
                "slot_too_far",
                format!("appointments are booked at most {MAX_DAYS_AHEAD} days ahead"),
            ),
            NotASlot::OutsideHours => ApiError::bad_request(
                "not_a_slot",
                "starts_at is not a slot of the department: it is closed then (outside its \
                 hours or on a holiday), or the time is not a slot start",
            ),
        }
    }
}

impl Calendar {
    /// The slots (start, end) of the local days `from..=to`, in order; past ones included.
    pub fn slots(&self, from: NaiveDate, to: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let len = self.settings.slot_minutes.max(1) as u16;
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            if !self.closures.contains(&day) {
                let weekday = day.weekday().number_from_monday() as u8;
                for i in self.intervals.iter().filter(|i| i.weekday == weekday) {
                    let mut m = i.opens_min;
                    while m + len <= i.closes_min {
                        // The end is the start plus the slot's length in real time: a
                        // slot across a daylight-saving jump lasts what it says.
                        if let Some(s) = self.instant(day, m) {
                            out.push((s, s + Duration::minutes(len as i64)));
                        }
                        m += len;
                    }
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        out.sort();
        out.dedup();
        out
    }

    /// The end of the slot that starts at `start`, or why it is not one.
    pub fn slot_at(
        &self,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, NotASlot> {
        if start <= now {
            return Err(NotASlot::Past);
        }
        if start > now + Duration::days(MAX_DAYS_AHEAD) {
            return Err(NotASlot::TooFar);
        }
        let day = start.with_timezone(&self.tz).date_naive();
        self.slots(day, day)
            .into_iter()
            .find(|(s, _)| *s == start)
            .map(|(_, e)| e)
            .ok_or(NotASlot::OutsideHours)
    }

    /// The UTC instant of a local day and minute; a local time that a daylight-saving jump
    /// skips is no slot, one it repeats is its first.
    fn instant(&self, day: NaiveDate, minute: u16) -> Option<DateTime<Utc>> {
        let time = NaiveTime::from_hms_opt(minute as u32 / 60, minute as u32 % 60, 0)?;
        self.tz
            .from_local_datetime(&day.and_time(time))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Seats taken per slot start of a department within `[from, to)`.
pub async fn booked(
    db: impl PgExecutor<'_>,
    department: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<(DateTime<Utc>, i16)>> {
    sqlx::query_as(
        "SELECT starts_at, booked FROM appointment_slots \
         WHERE department_id = $1 AND starts_at >= $2 AND starts_at < $3",
    )
    .bind(department)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
}

/// Takes one seat of a slot: true when taken, false when the slot is full. The one statement
/// that guarantees a full slot is never booked again (see the module's documentation).
pub async fn take_seat(
    tx: &mut PgConnection,
    group: Uuid,
    department: Uuid,
    start: DateTime<Utc>,
    capacity: i16,
) -> sqlx::Result<bool> {
    let taken: Option<i16> = sqlx::query_scalar(
        "INSERT INTO appointment_slots (department_id, starts_at, group_id, booked, capacity) \
         VALUES ($1, $2, $3, 1, $4) \
         ON CONFLICT (department_id, starts_at) DO UPDATE \
         SET booked = appointment_slots.booked + 1, \
             capacity = GREATEST(EXCLUDED.capacity, appointment_slots.booked + 1) \
         WHERE appointment_slots.booked < EXCLUDED.capacity \
         RETURNING booked",
    )
    .bind(department)
    .bind(start)
    .bind(group)
    .bind(capacity)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(taken.is_some())
}

/// Frees one seat of a slot.
pub async fn free_seat(
    tx: &mut PgConnection,
    department: Uuid,
    start: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE appointment_slots SET booked = booked - 1 \
         WHERE department_id = $1 AND starts_at = $2 AND booked > 0",
    )
    .bind(department)
    .bind(start)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Erases a shopper's appointments (`$1` the group, `$2` their `ShopperRefs`: the ones booked
/// in their chats), freeing the seats of booked ones; a `privacy::Step` of the gateway's erasure.
pub const ERASE: &str = "WITH gone AS ( \
        DELETE FROM appointments WHERE group_id = $1 AND conversation_id = ANY( \
          ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid)) \
        RETURNING department_id, starts_at, state), \
      freed AS ( \
        UPDATE appointment_slots s SET booked = GREATEST(s.booked - g.n, 0) \
        FROM (SELECT department_id, starts_at, count(*)::smallint AS n FROM gone \
              WHERE state = 'booked' GROUP BY 1, 2) g \
        WHERE s.department_id = g.department_id AND s.starts_at = g.starts_at) \
      SELECT 1 FROM gone";

/// 409 `slot_full`.
pub fn slot_full() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "slot_full",
        "this slot was just taken; pick another",
    )
}

/// A new appointment's fields, checked.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    /// Its id.
    pub id: Uuid,
    /// The chat.
    pub conversation_id: Option<Uuid>,
    /// What for.
    pub kind: AppointmentKind,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Shopper's name.
    pub name: Option<String>,
    /// Shopper's e-mail.
    pub email: Option<String>,
    /// Shopper's phone.
    pub phone: Option<String>,
    /// A note.
    pub note: Option<String>,
    /// The chat's language (`en`, `es`).
    pub language: &'static str,
    /// `agent` or `shopper`.
    pub booked_by: &'static str,
    /// The agent who booked it.
    pub agent_id: Option<Uuid>,
}

/// The appointment statement with its joins, and the rest of it (literals only: the
/// statements stay `&'static str`).
macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT a.id, a.rooftop_id, a.department_id, d.label, a.conversation_id, \
             a.kind, a.starts_at, a.ends_at, r.time_zone, a.state, a.sequence, a.name, a.email, \
             a.phone, a.note, a.booked_by, a.agent_id, a.created_at \
             FROM appointments a JOIN departments d ON d.id = a.department_id \
             JOIN rooftops r ON r.id = a.rooftop_id ",
            $tail
        )
    };
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    rooftop_id: Uuid,
    department_id: Uuid,
    label: String,
    conversation_id: Option<Uuid>,
    kind: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    time_zone: String,
    state: String,
    sequence: i32,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    note: Option<String>,
    booked_by: String,
    agent_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<Row> for Appointment {
    fn from(r: Row) -> Self {
        Appointment {
            id: r.id,
            rooftop_id: r.rooftop_id,
            department_id: r.department_id,
            department: r.label,
            conversation_id: r.conversation_id,
            kind: AppointmentKind::parse(&r.kind).unwrap_or(AppointmentKind::Other),
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            time_zone: r.time_zone,
            state: AppointmentState::parse(&r.state),
            sequence: r.sequence,
            name: r.name,
            email: r.email,
            phone: r.phone,
            note: r.note,
            booked_by: r.booked_by,
            agent_id: r.agent_id,
            created_at: r.created_at,
        }
    }
}

/// Books: takes the seat, then writes the appointment, in the caller's transaction. 409
/// `slot_full` when the slot is full.
pub async fn book(
    tx: &mut PgConnection,
    group: Uuid,
    cal: &Calendar,
    a: &NewAppointment,
) -> Result<Appointment, ApiError> {
    if !take_seat(
        tx,
        group,
        cal.department_id,
        a.starts_at,
        cal.settings.capacity,
    )
    .await?
    {
        return Err(slot_full());
    }
    sqlx::query(
        "INSERT INTO appointments (id, group_id, rooftop_id, department_id, conversation_id, \
           kind, starts_at, ends_at, name, email, phone, note, language, booked_by, agent_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(a.id)
    .bind(group)
    .bind(cal.rooftop_id)
    .bind(cal.department_id)
    .bind(a.conversation_id)
    .bind(a.kind.as_str())
    .bind(a.starts_at)
    .bind(a.ends_at)
    .bind(&a.name)
    .bind(&a.email)
    .bind(&a.phone)
    .bind(&a.note)
    .bind(a.language)
    .bind(a.booked_by)
    .bind(a.agent_id)
    .execute(&mut *tx)
    .await?;
    one(&mut *tx, group, a.id)
        .await?
        .ok_or_else(|| ApiError::internal("appointment gone after insert"))
}

/// One appointment of the group.
pub async fn one(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<Appointment>> {
    const Q: &str = select!("WHERE a.id = $1 AND a.group_id = $2");
    Ok(sqlx::query_as::<_, Row>(Q)
        .bind(id)
        .bind(group)
        .fetch_optional(db)
        .await?
        .map(Into::into))
}

/// One appointment of the group, locked for a change (its row only).
pub async fn lock(
    tx: &mut PgConnection,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<(Uuid, DateTime<Utc>, String, Uuid)>> {
    sqlx::query_as(
        "SELECT department_id, starts_at, state, rooftop_id FROM appointments \
         WHERE id = $1 AND group_id = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(&mut *tx)
    .await
}

/// A chat's appointments, soonest first.
pub async fn of_conversation(
    db: impl PgExecutor<'_>,
    group: Uuid,
    conversation: Uuid,
) -> sqlx::Result<Vec<Appointment>> {
    const Q: &str =
        select!("WHERE a.conversation_id = $1 AND a.group_id = $2 ORDER BY a.starts_at, a.id");
    Ok(sqlx::query_as::<_, Row>(Q)
        .bind(conversation)
        .bind(group)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// A rooftop's appointments starting in `[from, to)`, soonest first.
pub async fn of_rooftop(
    db: impl PgExecutor<'_>,
    group: Uuid,
    rooftop: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<Appointment>> {
    const Q: &str = select!(
        "WHERE a.rooftop_id = $1 AND a.group_id = $2 AND a.starts_at >= $3 AND a.starts_at < $4 \
         ORDER BY a.starts_at, a.id LIMIT 2000"
    );
    Ok(sqlx::query_as::<_, Row>(Q)
        .bind(rooftop)
        .bind(group)
        .bind(from)
        .bind(to)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Cancels a booked appointment and frees its seat, in the caller's transaction: false when it
/// was already cancelled (nothing changes).
pub async fn cancel(tx: &mut PgConnection, group: Uuid, id: Uuid) -> Result<bool, ApiError> {
    let (department, start, state, _) = lock(tx, group, id)
        .await?
        .ok_or_else(|| ApiError::not_found("appointment"))?;
    if state == "cancelled" {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE appointments SET state = 'cancelled', sequence = sequence + 1, updated_at = now() \
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    free_seat(tx, department, start).await?;
    Ok(true)
}

/// Moves a booked appointment to another slot of its department: the new seat is taken
/// before the old one is freed, in the caller's transaction, so a full new slot leaves the
/// appointment where it was (409 `slot_full`).
pub async fn reschedule(
    tx: &mut PgConnection,
    group: Uuid,
    id: Uuid,
    cal: &Calendar,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), ApiError> {
    let (department, old, state, _) = lock(tx, group, id)
        .await?
        .ok_or_else(|| ApiError::not_found("appointment"))?;
    if state == "cancelled" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "appointment_cancelled",
            "a cancelled appointment cannot be moved; book a new one",
        ));
    }
    if old == start {
        return Ok(());
    }
    if !take_seat(tx, group, department, start, cal.settings.capacity).await? {
        return Err(slot_full());
    }
    free_seat(tx, department, old).await?;
    sqlx::query(
        "UPDATE appointments SET starts_at = $2, ends_at = $3, sequence = sequence + 1, \
         updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(start)
    .bind(end)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The department an appointment is of (for the calendar of a reschedule).
pub async fn department_of(
    db: impl PgExecutor<'_>,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<(Uuid, Uuid)>> {
    sqlx::query_as(
        "SELECT department_id, rooftop_id FROM appointments WHERE id = $1 AND group_id = $2",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chicago(intervals: Vec<Interval>, closures: Vec<NaiveDate>, minutes: i16) -> Calendar {
        Calendar {
            department_id: Uuid::nil(),
            department: "Sales".into(),
            rooftop_id: Uuid::nil(),
            time_zone: "America/Chicago".into(),
            tz: chrono_tz::America::Chicago,
            intervals,
            closures,
            settings: AppointmentSettings {
                slot_minutes: minutes,
                ..AppointmentSettings::default()
            },
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn slots_are_cut_from_the_hours_in_the_rooftops_zone() {
        // Monday 2026-12-07, 09:00 to 10:45 in Chicago (UTC-6): 45-minute slots, the last
        // one that ends by the close.
        let c = chicago(
            vec![Interval {
                weekday: 1,
                opens_min: 540,
                closes_min: 645,
            }],
            vec![],
            45,
        );
        let s = c.slots(day("2026-12-07"), day("2026-12-07"));
        assert_eq!(
            s,
            vec![
                (utc("2026-12-07T15:00:00Z"), utc("2026-12-07T15:45:00Z")),
                (utc("2026-12-07T15:45:00Z"), utc("2026-12-07T16:30:00Z")),
            ]
        );
        // Not a Monday, or a holiday: none.
        assert!(c.slots(day("2026-12-08"), day("2026-12-13")).is_empty());
        let closed = chicago(c.intervals.clone(), vec![day("2026-12-07")], 45);
        assert!(
            closed
                .slots(day("2026-12-07"), day("2026-12-07"))
                .is_empty()
        );
    }

    #[test]
    fn a_slot_must_be_on_the_grid_in_the_future_and_not_too_far() {
        let c = chicago(default_intervals(), vec![], 30);
        let now = utc("2026-12-05T12:00:00Z");
        assert_eq!(
            c.slot_at(utc("2026-12-07T15:30:00Z"), now),
            Ok(utc("2026-12-07T16:00:00Z"))
        );
        assert_eq!(
            c.slot_at(utc("2026-12-07T15:10:00Z"), now),
            Err(NotASlot::OutsideHours)
        );
        // Sunday is closed by the default hours.
        assert_eq!(
            c.slot_at(utc("2026-12-06T15:00:00Z"), now),
            Err(NotASlot::OutsideHours)
        );
        assert_eq!(
            c.slot_at(utc("2026-12-04T15:00:00Z"), now),
            Err(NotASlot::Past)
        );
        assert_eq!(
            c.slot_at(utc("2027-06-07T15:00:00Z"), now),
            Err(NotASlot::TooFar)
        );
    }

    #[test]
    fn daylight_saving_moves_the_utc_instants_not_the_hours() {
        // Sunday 2026-03-08, 01:00 to 04:00 local: 02:00 to 03:00 does not exist in Chicago.
        let c = chicago(
            vec![Interval {
                weekday: 7,
                opens_min: 60,
                closes_min: 240,
            }],
            vec![],
            60,
        );
        let s = c.slots(day("2026-03-08"), day("2026-03-08"));
        // 01:00 CST (07:00Z) and 03:00 CDT (08:00Z); the skipped 02:00 is no slot, and the
        // 01:00 slot lasts its hour: it ends at 03:00 CDT.
        assert_eq!(
            s.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            vec![utc("2026-03-08T07:00:00Z"), utc("2026-03-08T08:00:00Z")]
        );
        assert_eq!(s[0].1, utc("2026-03-08T08:00:00Z"));
        // In summer 09:00 is 14:00Z, in winter 15:00Z.
        let w = chicago(default_intervals(), vec![], 30);
        assert_eq!(
            w.slots(day("2026-07-06"), day("2026-07-06"))[0].0,
            utc("2026-07-06T14:00:00Z")
        );
        assert_eq!(
            w.slots(day("2026-12-07"), day("2026-12-07"))[0].0,
            utc("2026-12-07T15:00:00Z")
        );
    }
}
