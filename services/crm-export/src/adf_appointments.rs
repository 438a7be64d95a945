//! A lead's appointments in its ADF (issue 20, item 1): the next booked one as the customer's
//! `<timeframe>` (description, earliest and latest date: the slot, in the rooftop's zone), a
//! booked test drive as the vehicle's `interest="test-drive"`, and every appointment as a line
//! of the customer comments. All DTD-valid (`adf-1.0.dtd`: `customer (contact, id*,
//! timeframe?, comments?)`).

use chrono_tz::Tz;
use showroom_proto::appointment::{AppointmentKind, AppointmentState, LeadAppointment};
use showroom_proto::lead::Lead;

/// The customer's `<timeframe>`.
pub struct Timeframe {
    /// "Test drive appointment, Sales".
    pub description: String,
    /// The slot's start, ISO 8601 with the rooftop's offset.
    pub earliest: String,
    /// The slot's end.
    pub latest: String,
}

fn kind_text(k: AppointmentKind) -> &'static str {
    match k {
        AppointmentKind::TestDrive => "Test drive",
        AppointmentKind::SalesVisit => "Sales visit",
        AppointmentKind::Service => "Service",
        AppointmentKind::Other => "Appointment",
    }
}

fn local(a: &LeadAppointment, t: chrono::DateTime<chrono::Utc>, fmt: &str) -> String {
    let tz: Tz = a.time_zone.parse().unwrap_or(chrono_tz::UTC);
    t.with_timezone(&tz).format(fmt).to_string()
}

fn booked(lead: &Lead) -> impl Iterator<Item = &LeadAppointment> {
    lead.appointments
        .iter()
        .filter(|a| a.state == AppointmentState::Booked)
}

/// Whether a test drive is booked.
pub fn test_drive(lead: &Lead) -> bool {
    booked(lead).any(|a| a.kind == AppointmentKind::TestDrive)
}

/// The soonest booked appointment as a timeframe.
pub fn timeframe(lead: &Lead) -> Option<Timeframe> {
    let a = booked(lead).min_by_key(|a| a.starts_at)?;
    const ISO: &str = "%Y-%m-%dT%H:%M:%S%:z";
    Some(Timeframe {
        description: format!("{} appointment, {}", kind_text(a.kind), a.department),
        earliest: local(a, a.starts_at, ISO),
        latest: local(a, a.ends_at, ISO),
    })
}

/// One comment line per appointment: "Appointment: Test drive, Sales, Mon 2026-12-07 10:00 to
/// 11:00 (America/Chicago)", with "CANCELLED" and the note when there are.
pub fn comment_lines(lead: &Lead) -> Vec<String> {
    lead.appointments
        .iter()
        .map(|a| {
            let mut line = format!(
                "Appointment: {}, {}, {} to {} ({})",
                kind_text(a.kind),
                a.department,
                local(a, a.starts_at, "%a %Y-%m-%d %H:%M"),
                local(a, a.ends_at, "%H:%M"),
                a.time_zone
            );
            if a.state == AppointmentState::Cancelled {
                line.push_str(", CANCELLED");
            }
            if let Some(n) = a.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                line.push_str(&format!(". Note: {n}"));
            }
            line
        })
        .collect()
}
