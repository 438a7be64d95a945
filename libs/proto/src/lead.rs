//! Leads: what a dealer pays for. The lead as integrators receive it (inside a CloudEvents 1.0
//! envelope), its classification, and the requests agents make about leads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::contact::{Consent, Language};
use crate::conversation::{DepartmentRef, Named, Vehicle};
use crate::forms::Answer;

/// Where a lead came from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LeadOrigin {
    /// A chat nobody took in time, whose shopper gave contact details.
    MissedChat,
    /// The leave-a-message form or the REST call.
    MessageLeft,
    /// A chat that went to the offline flow after the Lead Gate.
    Offline,
    /// An agent's "create lead" on a chat.
    Agent,
}

impl LeadOrigin {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissedChat => "missed_chat",
            Self::MessageLeft => "message_left",
            Self::Offline => "offline",
            Self::Agent => "agent",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "missed_chat" => Self::MissedChat,
            "message_left" => Self::MessageLeft,
            "offline" => Self::Offline,
            "agent" => Self::Agent,
            _ => return None,
        })
    }
}

/// The person a lead is about, as matched or created among the group's contacts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeadContact {
    /// The contact's id (the same person across leads).
    pub id: Uuid,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Mobile phone in E.164.
    pub phone: Option<String>,
    /// The consent shown with the phone number.
    pub consent: Option<Consent>,
    /// The language they use with the dealership.
    pub language: Language,
}

/// How agents judged a lead.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    /// Qualified (true), not qualified (false), or not judged yet.
    #[serde(default)]
    pub qualified: Option<bool>,
    /// Free tags ("trade-in", "finance"), each 1 to 40 characters, at most 20.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The deal's value in cents of the rooftop's currency.
    #[serde(default)]
    pub value_cents: Option<i64>,
    /// Notes (up to 4000 characters).
    #[serde(default)]
    pub notes: String,
}

impl Classification {
    /// Checks what an agent sends; the error names the field.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.tags.len() > 20
            || self
                .tags
                .iter()
                .any(|t| t.trim().is_empty() || t.chars().count() > 40)
        {
            return Err((
                "tags".into(),
                "at most 20 tags of 1 to 40 characters".into(),
            ));
        }
        if self
            .value_cents
            .is_some_and(|v| !(0..=10_000_000_000).contains(&v))
        {
            return Err((
                "value_cents".into(),
                "between 0 and 10 000 000 000 cents".into(),
            ));
        }
        if self.notes.chars().count() > 4000 {
            return Err(("notes".into(), "at most 4000 characters".into()));
        }
        Ok(())
    }
}

/// A lead, as integrators get it in `data` of the CloudEvent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Lead {
    /// The lead's id (the same on every event about it).
    pub id: Uuid,
    /// The dealer group.
    pub group_id: Uuid,
    /// The dealership.
    pub rooftop: Named,
    /// The department it is for, when known.
    pub department: Option<DepartmentRef>,
    /// Where it came from (the first time).
    pub origin: LeadOrigin,
    /// Who it is about.
    pub contact: LeadContact,
    /// The vehicle they were looking at.
    pub vehicle: Option<Vehicle>,
    /// The message they left (messages left; merged leads append theirs).
    pub message: Option<String>,
    /// The chat it came from.
    pub conversation_id: Option<Uuid>,
    /// Where an agent of the group reads the chat's transcript.
    pub transcript_url: Option<String>,
    /// Answers to a website's own form, when one was used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<Answer>,
    /// The files sent in the chat (by the shopper or the agent), in order, each with a link an
    /// agent of the group opens with their console login.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<LeadFile>,
    /// The last payment estimate the shopper saw in the chat (their own in the widget, or an
    /// agent's card), when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::payment::PaymentEstimate>,
    /// The vehicle the shopper would trade in, when the chat has one (see [`crate::trade_in`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_in: Option<crate::trade_in::TradeIn>,
    /// The appointments booked in its chat, soonest first, cancelled ones included (issue 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub appointments: Vec<crate::appointment::LeadAppointment>,
    /// How agents judged it.
    pub classification: Classification,
    /// Every chat and message merged into it (a new lead for the same contact and rooftop
    /// within the dedupe window updates this one).
    pub sources: Vec<LeadSource>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Raised on every change.
    pub version: i32,
}

/// A file sent in a lead's chat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeadFile {
    /// Its name.
    pub name: String,
    /// Its real type.
    #[serde(rename = "type")]
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// Where an agent of the group downloads it (signed in to the console).
    pub url: String,
}

/// One thing that made or updated a lead.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeadSource {
    /// What it was.
    pub origin: LeadOrigin,
    /// The chat, if any.
    pub conversation_id: Option<Uuid>,
    /// The message left, if any.
    pub message_id: Option<Uuid>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A CloudEvents 1.0 event in its JSON format, as integrators receive it on the bus and in
/// webhooks.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CloudEvent<T> {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per event (also its `Nats-Msg-Id`).
    pub id: Uuid,
    /// Who emitted it: `/showroom/groups/<group>/rooftops/<rooftop>`.
    pub source: String,
    /// `showroom.lead.created` or `showroom.lead.updated`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The lead's id.
    pub subject: String,
    /// When the change happened.
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The lead.
    pub data: T,
}

/// The two lead event types.
pub const LEAD_CREATED: &str = "showroom.lead.created";
/// A lead changed (merged source, classification).
pub const LEAD_UPDATED: &str = "showroom.lead.updated";

impl CloudEvent<Lead> {
    /// The event announcing `lead` (`kind` is [`LEAD_CREATED`] or [`LEAD_UPDATED`]).
    pub fn lead(id: Uuid, kind: &str, lead: Lead) -> Self {
        Self {
            specversion: "1.0".into(),
            id,
            source: format!(
                "/showroom/groups/{}/rooftops/{}",
                lead.group_id, lead.rooftop.id
            ),
            kind: kind.into(),
            subject: lead.id.to_string(),
            time: lead.updated_at,
            datacontenttype: "application/json".into(),
            data: lead,
        }
    }
}

/// The lead-capture service's request subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadCommand {
    /// [`CreateLead`], replied with the [`Lead`].
    Create,
    /// [`ClassifyLead`], replied with the [`Lead`].
    Classify,
    /// [`GetLead`], replied with the [`Lead`] and its history.
    Get,
    /// [`LeadsOf`], replied with the leads of a chat.
    OfConversation,
    /// [`crate::trade_in::SetTradeIn`], replied with the stored trade-in.
    TradeIn,
    /// An appointment of a chat changed ([`crate::appointment::AppointmentChanged`]): its
    /// leads carry it, with a `lead.updated`; replied with the leads changed.
    Appointment,
}

impl LeadCommand {
    /// Every command.
    pub const ALL: [Self; 6] = [
        Self::Create,
        Self::Classify,
        Self::Get,
        Self::OfConversation,
        Self::TradeIn,
        Self::Appointment,
    ];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Classify => "classify",
            Self::Get => "get",
            Self::OfConversation => "of_conversation",
            Self::TradeIn => "trade_in",
            Self::Appointment => "appointment",
        }
    }
}

/// An agent makes a lead from a chat (open or closed). Names, e-mail and phone default to the
/// chat's contact.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CreateLead {
    /// The chat.
    #[serde(default)]
    pub conversation_id: Uuid,
    /// The agent (the gateway sets it).
    #[serde(default)]
    pub agent_id: Uuid,
    /// First name, if the chat has none or it is wrong.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Mobile phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// A first classification.
    #[serde(default)]
    pub classification: Option<Classification>,
}

/// An agent classifies a lead of the group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassifyLead {
    /// The lead.
    pub lead_id: Uuid,
    /// The agent.
    pub agent_id: Uuid,
    /// The new classification (whole).
    pub classification: Classification,
}

/// Reads a lead of the group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GetLead {
    /// The lead.
    pub lead_id: Uuid,
}

/// The leads a chat produced ("results created").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeadsOf {
    /// The chat.
    pub conversation_id: Uuid,
}

/// One change of a lead, for its history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeadChange {
    /// When.
    pub at: DateTime<Utc>,
    /// The agent, or none for the system.
    pub agent: Option<Named>,
    /// What changed: `created`, `merged`, `classified`, `trade_in`.
    pub what: String,
    /// The classification before (for `classified`).
    pub before: Option<Classification>,
    /// The classification after (for `classified`).
    pub after: Option<Classification>,
}

/// A lead with who changed what.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeadWithHistory {
    /// The lead.
    pub lead: Lead,
    /// Its changes, oldest first.
    pub history: Vec<LeadChange>,
}
