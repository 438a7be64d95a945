//! Appointments booked in a chat (issue 20, item 1): what the REST API answers, what a lead
//! carries (`Lead::appointments`), and the requests that tell notification (the shopper's
//! confirmation) and lead-capture (the lead) about a booking, a reschedule or a cancellation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the appointment is for. A department offers some of them (its settings).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentKind {
    /// A test drive.
    TestDrive,
    /// A visit to the showroom with a salesperson.
    SalesVisit,
    /// A service appointment.
    Service,
    /// Anything else.
    Other,
}

impl AppointmentKind {
    /// Every kind, in the order shown.
    pub const ALL: [Self; 4] = [
        Self::TestDrive,
        Self::SalesVisit,
        Self::Service,
        Self::Other,
    ];

    /// As stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TestDrive => "test_drive",
            Self::SalesVisit => "sales_visit",
            Self::Service => "service",
            Self::Other => "other",
        }
    }

    /// From its stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Booked, or cancelled (a cancelled appointment is kept, with its seat freed).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentState {
    /// The seat is taken.
    Booked,
    /// Cancelled by an agent.
    Cancelled,
}

impl AppointmentState {
    /// As stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Cancelled => "cancelled",
        }
    }

    /// From its stored name (anything but `cancelled` is booked).
    pub fn parse(s: &str) -> Self {
        if s == "cancelled" {
            Self::Cancelled
        } else {
            Self::Booked
        }
    }
}

/// An appointment as the console, the widget, the lead and the CRM see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Appointment {
    /// Its id (also the calendar entry's UID, `<id>@showroom`).
    pub id: Uuid,
    /// The rooftop.
    pub rooftop_id: Uuid,
    /// The department whose slot it takes.
    pub department_id: Uuid,
    /// The department's label.
    pub department: String,
    /// The chat it was booked in (gone once the chat was swept).
    #[serde(default)]
    pub conversation_id: Option<Uuid>,
    /// What for.
    pub kind: AppointmentKind,
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC): the start plus the department's slot length.
    pub ends_at: DateTime<Utc>,
    /// The rooftop's IANA time zone, in which the slot was offered.
    pub time_zone: String,
    /// Booked or cancelled.
    pub state: AppointmentState,
    /// The calendar SEQUENCE: 0 when booked, raised by each reschedule and the cancellation.
    pub sequence: i32,
    /// The shopper's name, when known.
    #[serde(default)]
    pub name: Option<String>,
    /// The shopper's e-mail (the confirmation goes there), when known.
    #[serde(default)]
    pub email: Option<String>,
    /// The shopper's phone, when known.
    #[serde(default)]
    pub phone: Option<String>,
    /// A note for the store ("2019 Civic, oil change").
    #[serde(default)]
    pub note: Option<String>,
    /// `agent` (booked from the console) or `shopper` (from the widget).
    pub booked_by: String,
    /// The agent who booked it.
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    /// When it was booked.
    pub created_at: DateTime<Utc>,
}

/// What happened to an appointment, for the e-mail and the lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentChange {
    /// Booked.
    Booked,
    /// Moved to another slot.
    Rescheduled,
    /// Cancelled.
    Cancelled,
}

/// `notifications.appointment_mail` and `leads.appointment`: an appointment changed (the
/// gateway sends it after the change committed). Both are idempotent: the mail's key is the
/// appointment and its sequence, the lead keeps one entry per appointment id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentChanged {
    /// What happened.
    pub change: AppointmentChange,
    /// The appointment as it is now.
    pub appointment: Appointment,
}

/// An appointment as a lead carries it (`Lead::appointments`, the `lead.*` CloudEvents, the
/// ADF): no contact details (the lead has them).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadAppointment {
    /// The appointment's id.
    pub id: Uuid,
    /// What for.
    pub kind: AppointmentKind,
    /// Booked or cancelled.
    pub state: AppointmentState,
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC).
    pub ends_at: DateTime<Utc>,
    /// The rooftop's IANA time zone.
    pub time_zone: String,
    /// The department's label.
    pub department: String,
    /// The note for the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
