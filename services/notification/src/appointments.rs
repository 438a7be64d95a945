//! The shopper's appointment confirmation (issue 20, item 1): an e-mail in the chat's language
//! with the calendar entry attached (RFC 5545, written with the `icalendar` crate): `METHOD:
//! REQUEST` for a booking and a reschedule, `METHOD:CANCEL` for a cancellation; the UID is the
//! appointment's (`<id>@showroom`), so a calendar updates the one entry; `SEQUENCE` is the
//! appointment's, raised by each change; DTSTART/DTEND in UTC. Sent once per appointment and
//! sequence (`appointment:<id>:<sequence>` in `sent_mails`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, Component, EventLike, EventStatus, Property};
use serde_json::{Value, json};
use showroom_proto::appointment::{
    Appointment, AppointmentChange, AppointmentChanged, AppointmentKind,
};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::sqlx;
use uuid::Uuid;

use crate::mail::CalendarPart;
use crate::notices::Notices;

/// The calendar entry's UID for an appointment.
pub fn uid(id: Uuid) -> String {
    format!("{id}@showroom")
}

/// The `.ics` of an appointment after `change`, organised by `organizer` (an address).
pub fn ics(a: &Appointment, change: AppointmentChange, rooftop: &str, organizer: &str) -> String {
    let cancel = change == AppointmentChange::Cancelled;
    let mut event = icalendar::Event::new();
    event
        .uid(&uid(a.id))
        .sequence(a.sequence.max(0) as u32)
        .timestamp(Utc::now())
        .starts(a.starts_at)
        .ends(a.ends_at)
        .summary(&format!("{} – {rooftop}", kind_text(a.kind, "en")))
        .location(rooftop)
        .status(if cancel {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        })
        .append_property(Property::new("ORGANIZER", format!("mailto:{organizer}")));
    if let Some(email) = &a.email {
        event.append_property(Property::new("ATTENDEE", format!("mailto:{email}")));
    }
    if let Some(note) = &a.note {
        event.description(note);
    }
    let mut cal = Calendar::new();
    cal.append_property(Property::new("METHOD", method(change)));
    cal.push(event.done());
    cal.done().to_string()
}

fn method(change: AppointmentChange) -> &'static str {
    if change == AppointmentChange::Cancelled {
        "CANCEL"
    } else {
        "REQUEST"
    }
}

fn kind_text(k: AppointmentKind, lang: &str) -> &'static str {
    match (k, lang == "es") {
        (AppointmentKind::TestDrive, false) => "Test drive",
        (AppointmentKind::TestDrive, true) => "Prueba de manejo",
        (AppointmentKind::SalesVisit, false) => "Visit with sales",
        (AppointmentKind::SalesVisit, true) => "Visita con ventas",
        (AppointmentKind::Service, false) => "Service appointment",
        (AppointmentKind::Service, true) => "Cita de servicio",
        (AppointmentKind::Other, false) => "Appointment",
        (AppointmentKind::Other, true) => "Cita",
    }
}

fn when(a: &Appointment, at: DateTime<Utc>) -> String {
    let tz: Tz = a.time_zone.parse().unwrap_or(chrono_tz::UTC);
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// The subject and body in the chat's language.
fn text(a: &Appointment, change: AppointmentChange, lang: &str, rooftop: &str) -> (String, String) {
    let kind = kind_text(a.kind, lang);
    let at = format!("{} ({})", when(a, a.starts_at), a.time_zone);
    let es = lang == "es";
    let (subject, lead) = match (change, es) {
        (AppointmentChange::Booked, false) => ("Your appointment at", "is booked for"),
        (AppointmentChange::Booked, true) => ("Su cita en", "está reservada para el"),
        (AppointmentChange::Rescheduled, false) => ("Your appointment has moved:", "is now on"),
        (AppointmentChange::Rescheduled, true) => ("Su cita cambió:", "es ahora el"),
        (AppointmentChange::Cancelled, false) => ("Cancelled: your appointment at", "on"),
        (AppointmentChange::Cancelled, true) => ("Cancelada: su cita en", "del"),
    };
    let subject = format!("{subject} {rooftop}");
    let mut body = match (change, es) {
        (AppointmentChange::Cancelled, false) => {
            format!("Your {kind} {lead} {at} at {rooftop} is cancelled.")
        }
        (AppointmentChange::Cancelled, true) => {
            format!("Su {kind} {lead} {at} en {rooftop} está cancelada.")
        }
        (_, false) => format!("Your {kind} at {rooftop} ({}) {lead} {at}.", a.department),
        (_, true) => format!("Su {kind} en {rooftop} ({}) {lead} {at}.", a.department),
    };
    body.push_str(if es {
        "\n\nEl archivo adjunto agrega la cita a su calendario.\n"
    } else {
        "\n\nThe attached file adds it to your calendar.\n"
    });
    (subject, body)
}

impl Notices {
    /// Mails the shopper the appointment's confirmation, reschedule or cancellation, once per
    /// appointment and sequence. Answers `{"sent": true}` (or false: sent before, or no
    /// e-mail).
    pub async fn appointment_mail(
        &self,
        group: Uuid,
        cmd: AppointmentChanged,
    ) -> Result<Value, CommandError> {
        let a = &cmd.appointment;
        let Some(email) = a.email.as_deref() else {
            return Ok(json!({"sent": false}));
        };
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT r.name, COALESCE(ap.language, 'en') FROM rooftops r \
             LEFT JOIN appointments ap ON ap.id = $3 AND ap.group_id = $2 \
             WHERE r.id = $1 AND r.group_id = $2",
        )
        .bind(a.rooftop_id)
        .bind(group)
        .bind(a.id)
        .fetch_optional(&self.pool)
        .await
        .map_err(showroom_store::fault::db_error)?;
        let (rooftop, lang) =
            row.ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such rooftop"))?;
        let (subject, body) = text(a, cmd.change, &lang, &rooftop);
        let part = CalendarPart {
            method: method(cmd.change),
            filename: "appointment.ics".into(),
            ics: ics(a, cmd.change, &rooftop, &self.mailer.from_address()),
        };
        let key = format!("appointment:{}:{}", a.id, a.sequence);
        let sent = self
            .mailer
            .send_once_with(&key, email, &subject, body, Some(&part))
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, appointment = %a.id, "appointment e-mail not sent");
                CommandError::new(
                    ErrorCode::Unavailable,
                    "the e-mail could not be sent just now",
                )
            })?;
        Ok(json!({"sent": sent}))
    }
}
