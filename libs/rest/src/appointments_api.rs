//! REST for appointments (`appointments.rs` owns the tables and the rules): a department's
//! settings and free slots, booking in a chat (its agent or a manager; or the shopper in the
//! widget, with the visitor token, for their own chat), a rooftop's list, cancelling and
//! rescheduling. After each change the shopper's confirmation (notification) and the lead
//! (lead-capture) are told, once the change has committed.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use showroom_proto::appointment::{
    Appointment, AppointmentChange, AppointmentChanged, AppointmentKind,
};
use showroom_proto::conversation::Conversation;
use showroom_proto::lead::LeadCommand;
use showroom_proto::notification::NotificationCommand;
use showroom_proto::v1;
use showroom_store::read;
use uuid::Uuid;

use crate::Rest;
use crate::appointments::{self as appt, AppointmentSettings, Calendar, NewAppointment};
use crate::auth::{Session, scoped_managers};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, ApiQuery, Id, parse_id};
use crate::validate::{self, Problems};

/// The days to show slots of.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotsQuery {
    /// First local day (`YYYY-MM-DD`, the rooftop's calendar); default today.
    pub from: Option<NaiveDate>,
    /// Last local day, at most 31 days after `from`; default `from` plus 6.
    pub to: Option<NaiveDate>,
}

/// A bookable slot.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Slot {
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC).
    pub ends_at: DateTime<Utc>,
    /// Seats left (0: full).
    pub remaining: i16,
}

/// A department's slots for some days.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Slots {
    /// The department.
    pub department_id: Uuid,
    /// Its label.
    pub department: String,
    /// The rooftop's IANA zone: the days are its days.
    pub time_zone: String,
    /// The kinds it books.
    pub kinds: Vec<AppointmentKind>,
    /// Slot length.
    pub slot_minutes: i16,
    /// Seats per slot.
    pub capacity: i16,
    /// Future slots of the days asked, in order, full ones included (`remaining` 0).
    pub slots: Vec<Slot>,
}

/// A booking.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BookBody {
    /// What for (one the department offers).
    pub kind: AppointmentKind,
    /// A slot's start, as `slots` answered it.
    pub starts_at: DateTime<Utc>,
    /// The department (default: the chat's).
    #[serde(default)]
    pub department_id: Option<Uuid>,
    /// The shopper's name (default: the chat's).
    #[serde(default)]
    pub name: Option<String>,
    /// Where the confirmation goes (default: the e-mail the shopper gave in the chat).
    #[serde(default)]
    pub email: Option<String>,
    /// The shopper's phone (default: the chat's).
    #[serde(default)]
    pub phone: Option<String>,
    /// A note for the store, up to 500 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// A shopper's booking in the widget.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WidgetBookBody {
    /// What for (one the chat's department offers).
    pub kind: AppointmentKind,
    /// A slot's start, as `slots` answered it.
    pub starts_at: DateTime<Utc>,
    /// Where the confirmation goes (default: the e-mail given in the chat).
    #[serde(default)]
    pub email: Option<String>,
}

/// A move to another slot of the same department.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RescheduleBody {
    /// The new slot's start.
    pub starts_at: DateTime<Utc>,
}

/// A rooftop's appointments.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The rooftop.
    pub rooftop_id: Uuid,
    /// From this instant (default: now minus a day).
    pub from: Option<DateTime<Utc>>,
    /// Before this instant (default: `from` plus 31 days; at most 92 days after `from`).
    pub to: Option<DateTime<Utc>>,
}

/// Appointments, soonest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppointmentList {
    /// Soonest first (at most 2000).
    pub appointments: Vec<Appointment>,
}

/// A department's appointment settings (any agent of the group reads them).
#[utoipa::path(get, path = "/api/v1/departments/{id}/appointment-settings", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Department id (UUID)")),
    responses((status = 200, body = AppointmentSettings), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_appointment_settings(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Department>,
) -> Result<Json<AppointmentSettings>, ApiError> {
    session.department(&state, id).await?;
    Ok(Json(
        appt::settings(&state.pool, session.group(), id).await?,
    ))
}

/// Replaces a department's appointment settings (managers and admins; a rooftop manager their
/// rooftops'). 400 naming each wrong field. Audited as `appointment_settings_changed` (with
/// `before` and `after`) when something changed; 503 `audit_unavailable` when it cannot be.
#[utoipa::path(put, path = "/api/v1/departments/{id}/appointment-settings", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Department id (UUID)")),
    request_body = AppointmentSettings,
    responses((status = 200, body = AppointmentSettings), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn put_appointment_settings(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Department>,
    ApiJson(b): ApiJson<AppointmentSettings>,
) -> Result<Json<AppointmentSettings>, ApiError> {
    scoped_managers(&session, "change appointment settings")?;
    session.department(&state, id).await?;
    b.check()?;
    // The change and its audit row in one commit, the row only when something changed.
    let mut tx = state.pool.begin().await?;
    let before = appt::settings(&mut *tx, session.group(), id).await?;
    appt::put_settings(&mut *tx, session.group(), id, &b).await?;
    let after = appt::settings(&mut *tx, session.group(), id).await?;
    if after != before {
        let event =
            crate::audit::Event::by(&session, crate::audit::kind::APPOINTMENT_SETTINGS_CHANGED)
                .about(format!("department:{id}"))
                .detail(serde_json::json!({ "before": before, "after": after }));
        crate::audit::record(&mut tx, &event)
            .await
            .map_err(crate::audit::required)?;
    }
    tx.commit().await?;
    Ok(Json(after))
}

/// A department's slots for some local days, with the seats left (any agent of the group; 404
/// for another group's department).
#[utoipa::path(get, path = "/api/v1/departments/{id}/appointment-slots", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Department id (UUID)"), SlotsQuery),
    responses((status = 200, body = Slots), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn slots(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Department>,
    ApiQuery(q): ApiQuery<SlotsQuery>,
) -> Result<Json<Slots>, ApiError> {
    let cal = calendar(&state, session.group(), id).await?;
    Ok(Json(slots_of(&state, &cal, &q).await?))
}

/// A chat's appointments (agents of the group; 404 for another group's chat).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/appointments", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = AppointmentList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn appointments_of_conversation(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Conversation>,
) -> Result<Json<AppointmentList>, ApiError> {
    let c = conversation(&state, &session, id).await?;
    Ok(Json(AppointmentList {
        appointments: appt::of_conversation(&state.pool, session.group(), c.id).await?,
    }))
}

/// Books an appointment in a chat: its agent, or a manager (a rooftop manager of its rooftop).
/// 201 with the appointment; 400 `not_a_slot` (closed then, a holiday, off the slot grid),
/// `slot_too_far`, `kind_not_offered` or naming a wrong field; 409 `slot_in_past`, 409
/// `slot_full` when the last seat was just taken (exactly one of simultaneous bookings of a
/// last seat wins); 403 for another agent's chat; 404 for another group's.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/appointments", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    request_body = BookBody,
    responses((status = 201, body = Appointment), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn book(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Conversation>,
    ApiJson(b): ApiJson<BookBody>,
) -> Result<(StatusCode, Json<Appointment>), ApiError> {
    let c = conversation(&state, &session, id).await?;
    let own = c.agent.as_ref().is_some_and(|a| a.id == session.agent.id);
    if !own {
        scoped_managers(&session, "book appointments in another agent's chat")?;
    }
    let department = b.department_id.unwrap_or(c.department.id);
    if department != c.department.id {
        session.department(&state, department).await?;
    }
    let mut p = Problems::default();
    let name = optional(&mut p, "name", b.name.as_deref(), 200);
    let email = b
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .and_then(|e| p.check("email", validate::email(e)));
    let phone = optional(&mut p, "phone", b.phone.as_deref(), 40);
    let note = optional(&mut p, "note", b.note.as_deref(), 500);
    p.finish()?;
    let contact = c.contact.as_ref();
    let new = NewAppointment {
        id: Uuid::new_v4(),
        conversation_id: Some(c.id),
        kind: b.kind,
        starts_at: b.starts_at,
        ends_at: b.starts_at,
        name: name.or_else(|| shopper_name(&c)),
        email: email.or_else(|| contact.and_then(|k| k.email.clone())),
        phone: phone.or_else(|| contact.and_then(|k| k.phone.clone())),
        note,
        language: c.language.as_str(),
        booked_by: "agent",
        agent_id: Some(session.agent.id),
    };
    let a = book_in(&state, session.group(), department, new).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// The appointments of `q`'s rooftop and range, once the session may see the rooftop.
async fn of_rooftop(
    state: &Rest,
    session: &Session,
    q: &ListQuery,
) -> Result<Vec<Appointment>, ApiError> {
    session.rooftop_in_scope(q.rooftop_id)?;
    if !crate::directory::rooftop_in_group(&state.pool, session.group(), q.rooftop_id).await? {
        return Err(ApiError::not_found("rooftop"));
    }
    let from = q.from.unwrap_or_else(|| Utc::now() - Duration::days(1));
    let to = q.to.unwrap_or(from + Duration::days(31));
    if to <= from || to - from > Duration::days(92) {
        return Err(validate::invalid(
            "to",
            "must be after from, at most 92 days after it",
        ));
    }
    Ok(appt::of_rooftop(&state.pool, session.group(), q.rooftop_id, from, to).await?)
}

/// A rooftop's appointments in a time range, soonest first, cancelled ones included (agents of
/// the group; a rooftop manager only their rooftops; 404 for another group's rooftop).
#[utoipa::path(get, path = "/api/v1/appointments", tag = "appointments", params(ListQuery),
    responses((status = 200, body = AppointmentList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_appointments(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<AppointmentList>, ApiError> {
    Ok(Json(AppointmentList {
        appointments: of_rooftop(&state, &session, &q).await?,
    }))
}

/// The columns of `appointments.csv`, in order.
const CSV_HEADER: [&str; 16] = [
    "id",
    "department",
    "kind",
    "state",
    "starts_at",
    "ends_at",
    "local_start",
    "time_zone",
    "name",
    "email",
    "phone",
    "note",
    "booked_by",
    "conversation_id",
    "created_at",
    "sequence",
];

/// The same list as a CSV file for spreadsheets (managers and admins; a rooftop manager only
/// their rooftops): UTF-8 with a byte-order mark, formula-guarded. Recorded in the audit trail
/// first (`appointments_exported`, with the rooftop and the count); 503 `audit_unavailable`
/// when it cannot be.
#[utoipa::path(get, path = "/api/v1/appointments.csv", tag = "appointments", params(ListQuery),
    responses((status = 200, description = "The appointments as CSV (UTF-8 with a byte-order mark)", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "`audit_unavailable`: the export could not be recorded, so it was refused", body = ErrorBody)))]
pub async fn export_appointments_csv(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::response::Response, ApiError> {
    scoped_managers(&session, "export appointments")?;
    let list = of_rooftop(&state, &session, &q).await?;
    let mut event = crate::audit::Event::by(&session, crate::audit::kind::APPOINTMENTS_EXPORTED);
    event.detail = serde_json::json!({ "rooftop_id": q.rooftop_id, "count": list.len() });
    crate::audit::record_read(&state.pool, &event).await?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let rows = list.iter().map(|a| {
        let local = a
            .time_zone
            .parse::<chrono_tz::Tz>()
            .map(|tz| {
                a.starts_at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        [
            a.id.to_string(),
            a.department.clone(),
            a.kind.as_str().to_string(),
            a.state.as_str().to_string(),
            a.starts_at.to_rfc3339(),
            a.ends_at.to_rfc3339(),
            local,
            a.time_zone.clone(),
            text(&a.name),
            text(&a.email),
            text(&a.phone),
            text(&a.note),
            a.booked_by.clone(),
            a.conversation_id.map(|c| c.to_string()).unwrap_or_default(),
            a.created_at.to_rfc3339(),
            a.sequence.to_string(),
        ]
    });
    Ok(crate::export::csv_download(
        "appointments.csv",
        crate::export::csv(&CSV_HEADER, rows),
    ))
}

/// Cancels an appointment and frees its seat (the chat's agent, an agent of the department's
/// rooftop, or a manager: any agent of the group in scope). Cancelling one already cancelled
/// answers it unchanged. The shopper gets a cancellation (`METHOD:CANCEL`).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Appointment id (UUID)")),
    responses((status = 200, body = Appointment), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<Appointment>, ApiError> {
    let id = parse_id(&id, "appointment")?;
    in_scope(&state, &session, id).await?;
    let mut tx = state.pool.begin().await?;
    let changed = appt::cancel(&mut tx, session.group(), id).await?;
    tx.commit().await?;
    let a = appt::one(&state.pool, session.group(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("appointment"))?;
    if changed {
        tell(&state, session.group(), AppointmentChange::Cancelled, &a);
    }
    Ok(Json(a))
}

/// Moves an appointment to another slot of its department, atomically: the new seat is taken
/// before the old one is freed, so a full slot (409 `slot_full`) leaves it where it was. The
/// same refusals as booking; 409 `appointment_cancelled` for a cancelled one. The shopper gets
/// the updated calendar entry (its `SEQUENCE` raised).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/reschedule", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Appointment id (UUID)")),
    request_body = RescheduleBody,
    responses((status = 200, body = Appointment), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn reschedule(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RescheduleBody>,
) -> Result<Json<Appointment>, ApiError> {
    let id = parse_id(&id, "appointment")?;
    let department = in_scope(&state, &session, id).await?;
    let cal = calendar(&state, session.group(), department).await?;
    let end = cal.slot_at(b.starts_at, Utc::now())?;
    let mut tx = state.pool.begin().await?;
    appt::reschedule(&mut tx, session.group(), id, &cal, b.starts_at, end).await?;
    tx.commit().await?;
    let a = appt::one(&state.pool, session.group(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("appointment"))?;
    tell(&state, session.group(), AppointmentChange::Rescheduled, &a);
    Ok(Json(a))
}

/// The slots of the shopper's own chat's department (the widget, with its visitor token; 404
/// for a chat that is not the visitor's).
#[utoipa::path(get, path = "/api/v1/widget/{key}/conversations/{id}/appointment-slots", tag = "appointments",
    params(("key" = String, Path, description = "The website's widget key"),
        ("id" = uuid::Uuid, Path, description = "Conversation id (UUID)"),
        ("X-Visitor-Token" = String, Header, description = "The widget's visitor token"),
        SlotsQuery),
    responses((status = 200, body = Slots), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn widget_slots(
    State(state): State<Arc<Rest>>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SlotsQuery>,
) -> Result<Json<Slots>, ApiError> {
    let c = visitor_conversation(&state, &key, &id, &headers).await?;
    let cal = calendar(&state, c.group_id, c.department.id).await?;
    Ok(Json(slots_of(&state, &cal, &q).await?))
}

/// The shopper books a slot of their own chat's department in the widget (visitor token).
/// The same answers as the console's booking; the appointment is `booked_by` `shopper`.
#[utoipa::path(post, path = "/api/v1/widget/{key}/conversations/{id}/appointments", tag = "appointments",
    params(("key" = String, Path, description = "The website's widget key"),
        ("id" = uuid::Uuid, Path, description = "Conversation id (UUID)"),
        ("X-Visitor-Token" = String, Header, description = "The widget's visitor token")),
    request_body = WidgetBookBody,
    responses((status = 201, body = Appointment), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn widget_book(
    State(state): State<Arc<Rest>>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<WidgetBookBody>,
) -> Result<(StatusCode, Json<Appointment>), ApiError> {
    let c = visitor_conversation(&state, &key, &id, &headers).await?;
    let mut p = Problems::default();
    let email = b
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .and_then(|e| p.check("email", validate::email(e)));
    p.finish()?;
    let contact = c.contact.as_ref();
    let new = NewAppointment {
        id: Uuid::new_v4(),
        conversation_id: Some(c.id),
        kind: b.kind,
        starts_at: b.starts_at,
        ends_at: b.starts_at,
        name: shopper_name(&c),
        email: email.or_else(|| contact.and_then(|k| k.email.clone())),
        phone: contact.and_then(|k| k.phone.clone()),
        note: None,
        language: c.language.as_str(),
        booked_by: "shopper",
        agent_id: None,
    };
    let a = book_in(&state, c.group_id, c.department.id, new).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// Checks the slot and kind, books, commits, then tells notification and lead-capture.
async fn book_in(
    state: &Arc<Rest>,
    group: Uuid,
    department: Uuid,
    mut new: NewAppointment,
) -> Result<Appointment, ApiError> {
    let cal = calendar(state, group, department).await?;
    if !cal.settings.kinds.contains(&new.kind) {
        return Err(ApiError::bad_request(
            "kind_not_offered",
            format!(
                "{} does not book {} appointments",
                cal.department,
                new.kind.as_str()
            ),
        ));
    }
    new.ends_at = cal.slot_at(new.starts_at, Utc::now())?;
    let mut tx = state.pool.begin().await?;
    let a = appt::book(&mut tx, group, &cal, &new).await?;
    tx.commit().await?;
    tell(state, group, AppointmentChange::Booked, &a);
    Ok(a)
}

/// After a change committed: the shopper's e-mail (notification) and the lead (lead-capture),
/// from a task, so neither holds the answer. A failure is logged: the appointment stands.
fn tell(state: &Arc<Rest>, group: Uuid, change: AppointmentChange, a: &Appointment) {
    let state = state.clone();
    let msg = AppointmentChanged {
        change,
        appointment: a.clone(),
    };
    tokio::spawn(async move {
        if msg.appointment.email.is_some() {
            let r: Result<serde_json::Value, _> = state
                .command(
                    v1::notification_command(group, NotificationCommand::AppointmentMail),
                    msg.clone(),
                )
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e.message, appointment = %msg.appointment.id,
                    "the appointment's e-mail was not sent");
            }
        }
        let r: Result<serde_json::Value, _> = state
            .command(
                v1::lead_command(group, LeadCommand::Appointment),
                msg.clone(),
            )
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e.message, appointment = %msg.appointment.id,
                "the appointment did not reach the lead");
        }
    });
}

async fn slots_of(state: &Rest, cal: &Calendar, q: &SlotsQuery) -> Result<Slots, ApiError> {
    let now = Utc::now();
    let today = now.with_timezone(&cal.tz).date_naive();
    let from = q.from.unwrap_or(today).max(today);
    let to = q.to.unwrap_or(from + Duration::days(6));
    if to < from || (to - from).num_days() >= appt::MAX_RANGE_DAYS {
        return Err(validate::invalid(
            "to",
            "must be on or after from, and at most 31 days in all",
        ));
    }
    let last = now + Duration::days(appt::MAX_DAYS_AHEAD);
    let all: Vec<_> = cal
        .slots(from, to)
        .into_iter()
        .filter(|(s, _)| *s > now && *s <= last)
        .collect();
    let taken = match (all.first(), all.last()) {
        (Some((a, _)), Some((b, _))) => {
            appt::booked(
                &state.pool,
                cal.department_id,
                *a,
                *b + Duration::seconds(1),
            )
            .await?
        }
        _ => Vec::new(),
    };
    let slots = all
        .into_iter()
        .map(|(s, e)| {
            let used = taken.iter().find(|(t, _)| *t == s).map_or(0, |(_, n)| *n);
            Slot {
                starts_at: s,
                ends_at: e,
                remaining: (cal.settings.capacity - used).max(0),
            }
        })
        .collect();
    Ok(Slots {
        department_id: cal.department_id,
        department: cal.department.clone(),
        time_zone: cal.time_zone.clone(),
        kinds: cal.settings.kinds.clone(),
        slot_minutes: cal.settings.slot_minutes,
        capacity: cal.settings.capacity,
        slots,
    })
}

async fn calendar(state: &Rest, group: Uuid, department: Uuid) -> Result<Calendar, ApiError> {
    let mut db = state.pool.acquire().await?;
    appt::calendar(&mut db, group, department)
        .await?
        .ok_or_else(|| ApiError::not_found("department"))
}

/// The chat, when it is of the session's group and scope.
async fn conversation(state: &Rest, session: &Session, id: Uuid) -> Result<Conversation, ApiError> {
    read::conversation(&state.pool, session.group(), id)
        .await?
        .filter(|c| session.covers_rooftop(c.rooftop.id))
        .ok_or_else(|| ApiError::not_found("conversation"))
}

/// The appointment's department, when its rooftop is in the session's scope (404 otherwise).
async fn in_scope(state: &Rest, session: &Session, id: Uuid) -> Result<Uuid, ApiError> {
    match appt::department_of(&state.pool, session.group(), id).await? {
        Some((department, rooftop)) if session.covers_rooftop(rooftop) => Ok(department),
        _ => Err(ApiError::not_found("appointment")),
    }
}

/// The chat `id` of the widget's caller (`extract::widget_chat`).
async fn visitor_conversation(
    state: &Rest,
    key: &str,
    id: &str,
    headers: &HeaderMap,
) -> Result<Conversation, ApiError> {
    let id = parse_id(id, "conversation")?;
    extract::widget_chat(&state.pool, &state.visitor_keys, key, headers, id).await
}

fn shopper_name(c: &Conversation) -> Option<String> {
    c.contact
        .as_ref()
        .map(|k| k.full_name())
        .filter(|n| !n.is_empty())
        .or_else(|| c.shopper.name.clone())
}

fn optional(p: &mut Problems, field: &str, v: Option<&str>, max: usize) -> Option<String> {
    let v = v.map(str::trim).filter(|v| !v.is_empty())?;
    p.check(field, validate::text(v, max))
}
