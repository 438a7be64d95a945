//! Conversations: their states, the events the router publishes, and its commands.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::contact::{Contact, Language};

/// Where a conversation is in its life (see the brief's "Conversation life").
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// Talking to the bot (Lead Gate, forms) before an agent is sought.
    Bot,
    /// Offered to eligible agents, waiting for one to respond.
    Incoming,
    /// One agent has it.
    Active,
    /// Closed by the shopper, an agent or the system.
    Ended,
    /// Nobody took it in time.
    Missed,
    /// Went to the offline flow (out of hours, nobody available, max sessions).
    Offline,
    /// Closed because nobody wrote for too long.
    TimedOut,
}

impl ConversationState {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Incoming => "incoming",
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Missed => "missed",
            Self::Offline => "offline",
            Self::TimedOut => "timed_out",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "bot" => Self::Bot,
            "incoming" => Self::Incoming,
            "active" => Self::Active,
            "ended" => Self::Ended,
            "missed" => Self::Missed,
            "offline" => Self::Offline,
            "timed_out" => Self::TimedOut,
            _ => return None,
        })
    }

    /// A closed conversation is never reopened or written to again.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Self::Ended | Self::Missed | Self::Offline | Self::TimedOut
        )
    }
}

/// Who closed a conversation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The shopper closed the chat.
    Shopper,
    /// The agent ended the chat.
    Agent,
    /// A rule of the system (time-out, missed) closed it.
    System,
}

impl EndedBy {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shopper => "shopper",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "shopper" => Self::Shopper,
            "agent" => Self::Agent,
            "system" => Self::System,
            _ => return None,
        })
    }
}

/// An id with a display name, for rooftops and agents in snapshots.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Named {
    /// The entity's id.
    pub id: Uuid,
    /// Its name as shown to people.
    pub name: String,
}

/// A department as shown in a conversation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DepartmentRef {
    /// The department's id.
    pub id: Uuid,
    /// Its configurable label ("Sales", "Service", …).
    pub label: String,
}

/// The shopper of a conversation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShopperRef {
    /// The visitor id held in the signed visitor token.
    pub visitor_id: Uuid,
    /// The name the shopper gave, if any.
    pub name: Option<String>,
}

/// A snapshot of a conversation, carried by every event so consumers need no lookup.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Conversation {
    /// The conversation's id.
    pub id: Uuid,
    /// The dealer group (tenant).
    pub group_id: Uuid,
    /// The website the chat came from.
    pub website_id: Uuid,
    /// The dealership.
    pub rooftop: Named,
    /// The department chosen.
    pub department: DepartmentRef,
    /// Who is chatting.
    pub shopper: ShopperRef,
    /// The agent who has it, once assigned.
    pub agent: Option<Named>,
    /// Where it is in its life.
    pub state: ConversationState,
    /// Highest message sequence number written so far (0 when none).
    pub last_seq: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was closed.
    pub ended_at: Option<DateTime<Utc>>,
    /// Who closed it.
    pub ended_by: Option<EndedBy>,
    /// When an agent took it.
    #[serde(default)]
    pub assigned_at: Option<DateTime<Utc>>,
    /// The group team (BDC) it is also offered to, once routed or overflowed there.
    #[serde(default)]
    pub team: Option<Named>,
    /// Why it went to the offline flow (only in state `offline`).
    #[serde(default)]
    pub offline_reason: Option<OfflineReason>,
    /// The same shopper's previous conversation on this website, for their history.
    #[serde(default)]
    pub previous_id: Option<Uuid>,
    /// The vehicle the shopper was looking at when they started the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<Vehicle>,
    /// The language the shopper chats in.
    #[serde(default)]
    pub language: Language,
    /// What the Lead Gate collected: names, e-mail or phone, consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    /// In state `bot`: the shopper has not chosen a department yet (the bot asks; `department`
    /// is the website's first one meanwhile).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub department_pending: bool,
    /// The page the chat started on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    /// The answers of the pre-chat form the shopper filled, if the website has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<crate::forms::Answer>,
}

/// A conversation as the shopper's widget sees it. Its fields are listed one by one, so a field
/// added to [`Conversation`] reaches shoppers only when it is added here too: never the dealer
/// group's ids and routing (`group_id`, `website_id`, `team`), never the consent record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShopperConversation {
    /// The conversation's id.
    pub id: Uuid,
    /// The dealership.
    pub rooftop: Named,
    /// The department chosen.
    pub department: DepartmentRef,
    /// The shopper themself.
    pub shopper: ShopperRef,
    /// The agent who has it, once assigned.
    pub agent: Option<Named>,
    /// Where it is in its life.
    pub state: ConversationState,
    /// Highest message sequence number written so far.
    pub last_seq: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was closed.
    pub ended_at: Option<DateTime<Utc>>,
    /// Who closed it.
    pub ended_by: Option<EndedBy>,
    /// When the current agent took it.
    #[serde(default)]
    pub assigned_at: Option<DateTime<Utc>>,
    /// Why it went to the offline flow.
    #[serde(default)]
    pub offline_reason: Option<OfflineReason>,
    /// The shopper's previous conversation on this website.
    #[serde(default)]
    pub previous_id: Option<Uuid>,
    /// The vehicle they were looking at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<Vehicle>,
    /// The language they chat in.
    #[serde(default)]
    pub language: Language,
    /// What they gave the Lead Gate, without the consent record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ShopperContact>,
    /// The bot still asks for the department.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub department_pending: bool,
    /// The page the chat started on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    /// Their answers to the pre-chat form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<crate::forms::Answer>,
}

/// The shopper's own contact details as their widget shows them (no consent record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShopperContact {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Mobile phone number in E.164, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl From<&Conversation> for ShopperConversation {
    fn from(c: &Conversation) -> Self {
        Self {
            id: c.id,
            rooftop: c.rooftop.clone(),
            department: c.department.clone(),
            shopper: c.shopper.clone(),
            agent: c.agent.clone(),
            state: c.state,
            last_seq: c.last_seq,
            created_at: c.created_at,
            ended_at: c.ended_at,
            ended_by: c.ended_by,
            assigned_at: c.assigned_at,
            offline_reason: c.offline_reason,
            previous_id: c.previous_id,
            vehicle: c.vehicle.clone(),
            language: c.language,
            contact: c.contact.as_ref().map(|k| ShopperContact {
                first_name: k.first_name.clone(),
                last_name: k.last_name.clone(),
                email: k.email.clone(),
                phone: k.phone.clone(),
            }),
            department_pending: c.department_pending,
            page_url: c.page_url.clone(),
            form: c.form.clone(),
        }
    }
}

/// Why a chat went to the offline flow instead of waiting for an agent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OfflineReason {
    /// Outside the department's business hours, or a holiday.
    AfterHours,
    /// Nobody who could take it was online.
    NobodyAvailable,
    /// The website's maximum of concurrent sessions was reached.
    MaxSessions,
    /// The shopper waited the department's whole wait time.
    WaitExpired,
}

impl OfflineReason {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AfterHours => "after_hours",
            Self::NobodyAvailable => "nobody_available",
            Self::MaxSessions => "max_sessions",
            Self::WaitExpired => "wait_expired",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "after_hours" => Self::AfterHours,
            "nobody_available" => Self::NobodyAvailable,
            "max_sessions" => Self::MaxSessions,
            "wait_expired" => Self::WaitExpired,
            _ => return None,
        })
    }
}

/// The kinds of conversation event, each its own subject.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConversationEventKind {
    /// A shopper started a conversation.
    Created,
    /// It is waiting in a department's queue.
    Queued,
    /// It was offered to agents (`offered_to`).
    Offered,
    /// An agent took it.
    Assigned,
    /// It moved to another agent or department.
    Transferred,
    /// It was closed by a person.
    Ended,
    /// Nobody took it in time.
    Missed,
    /// Closed for inactivity.
    TimedOut,
    /// Sent to the offline flow.
    Offline,
}

impl ConversationEventKind {
    /// Every kind, in life order.
    pub const ALL: [Self; 9] = [
        Self::Created,
        Self::Queued,
        Self::Offered,
        Self::Assigned,
        Self::Transferred,
        Self::Ended,
        Self::Missed,
        Self::TimedOut,
        Self::Offline,
    ];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Queued => "queued",
            Self::Offered => "offered",
            Self::Assigned => "assigned",
            Self::Transferred => "transferred",
            Self::Ended => "ended",
            Self::Missed => "missed",
            Self::TimedOut => "timed_out",
            Self::Offline => "offline",
        }
    }
}

/// The payload of every conversation event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConversationEvent {
    /// Which step this is (also the last subject token).
    pub kind: ConversationEventKind,
    /// The conversation after the step.
    pub conversation: Conversation,
    /// For `offered`: the agents it was offered to. For `assigned`: the agents it had been
    /// offered to, so their consoles can drop it from Incoming. For `transferred`: the agents
    /// the transfer is offered to.
    #[serde(default)]
    pub offered_to: Vec<Uuid>,
    /// Agents whose offer ends with this step (ring moved on, status no longer allows it).
    #[serde(default)]
    pub withdrawn_from: Vec<Uuid>,
    /// For `transferred`: the transfer and where it stands.
    #[serde(default)]
    pub transfer: Option<Transfer>,
}

/// Where a transfer stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// Offered to its target; the chat stays with its agent meanwhile.
    Requested,
    /// The target took the chat.
    Accepted,
    /// The target said no: the chat stays where it was.
    Declined,
    /// Nobody answered in time: the chat stays where it was.
    Expired,
    /// The chat closed before anyone answered.
    Cancelled,
    /// A manager moved the chat directly (no answer needed).
    Reassigned,
}

impl TransferState {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Reassigned => "reassigned",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "requested" => Self::Requested,
            "accepted" => Self::Accepted,
            "declined" => Self::Declined,
            "expired" => Self::Expired,
            "cancelled" => Self::Cancelled,
            "reassigned" => Self::Reassigned,
            _ => return None,
        })
    }
}

/// A chat handed from one agent to another agent or to a department.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transfer {
    /// The transfer's id (answer it with `transfer_reply`).
    pub id: Uuid,
    /// The chat.
    pub conversation_id: Uuid,
    /// Who handed it over (a manager for a reassignment).
    pub from_agent: Named,
    /// The agent it is for, when it is for one agent.
    pub to_agent: Option<Named>,
    /// The department it is for, when it is for a department.
    pub to_department: Option<DepartmentRef>,
    /// A note from the sender.
    pub note: String,
    /// Where it stands.
    pub state: TransferState,
    /// Until when the target may answer.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The router's request subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationCommand {
    /// [`StartConversation`].
    Start,
    /// [`AcceptConversation`].
    Accept,
    /// [`EndConversation`].
    End,
    /// [`TransferConversation`].
    Transfer,
    /// [`ReplyTransfer`].
    TransferReply,
    /// [`ReassignConversation`].
    Reassign,
    /// [`RouteConversation`].
    Route,
}

impl ConversationCommand {
    /// Every command.
    pub const ALL: [Self; 7] = [
        Self::Start,
        Self::Accept,
        Self::End,
        Self::Transfer,
        Self::TransferReply,
        Self::Reassign,
        Self::Route,
    ];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Accept => "accept",
            Self::End => "end",
            Self::Transfer => "transfer",
            Self::TransferReply => "transfer_reply",
            Self::Reassign => "reassign",
            Self::Route => "route",
        }
    }
}

/// A shopper asks for a chat with a department. Replied with the new [`Conversation`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StartConversation {
    /// The website the widget runs on.
    pub website_id: Uuid,
    /// The visitor (from the signed token).
    pub visitor_id: Uuid,
    /// The department chosen; `None` lets the bot ask (with the Lead Gate on; otherwise the
    /// website's first department).
    #[serde(default)]
    pub department_id: Option<Uuid>,
    /// The shopper's name, if given.
    pub shopper_name: Option<String>,
    /// What the bot collected that may steer routing (e.g. `interest` = `trade-in`).
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
    /// The vehicle on the shopper's page, if the dealer's page gave one.
    #[serde(default)]
    pub vehicle: Option<Vehicle>,
    /// The shopper's language (from the browser, or their choice).
    #[serde(default)]
    pub language: Language,
    /// The page the chat starts on.
    #[serde(default)]
    pub page_url: Option<String>,
    /// The shopper's address, kept for the consent record only.
    #[serde(default)]
    pub client_ip: Option<String>,
    /// How `client_ip` was worked out.
    #[serde(default)]
    pub client_ip_source: Option<crate::contact::AddressSource>,
    /// The pre-chat form submission (checked and stored by the bot) this chat starts with.
    #[serde(default)]
    pub form_id: Option<Uuid>,
}

/// The bot is done with a chat in state `bot`: it names what the Lead Gate collected, and the
/// router routes the chat as a start would (offered, or to the offline flow). Replied with the
/// [`Conversation`]. A chat no longer in state `bot` is answered as it is (a retry is harmless).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteConversation {
    /// The chat.
    pub conversation_id: Uuid,
    /// The department the shopper chose in the gate, when they had not before.
    #[serde(default)]
    pub department_id: Option<Uuid>,
    /// Who the shopper is.
    pub contact: Contact,
    /// Routing variables the bot collected.
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
}

/// An agent responds to an incoming chat. Replied with the [`Conversation`], now theirs, or
/// `already_taken`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AcceptConversation {
    /// The chat to take.
    pub conversation_id: Uuid,
    /// The agent taking it.
    pub agent_id: Uuid,
}

/// A participant ends a chat. Replied with the closed [`Conversation`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndConversation {
    /// The chat to end.
    pub conversation_id: Uuid,
    /// Which side ends it.
    pub by: EndedBy,
    /// The visitor or agent who ends it; checked against the conversation.
    pub actor_id: Uuid,
}

/// Where a transfer goes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    /// One agent, who must be Available or Away.
    Agent(Uuid),
    /// A department of the group: its eligible members are offered the chat.
    Department(Uuid),
}

/// The agent who has a chat hands it over. Replied with the requested [`Transfer`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TransferConversation {
    /// The chat.
    pub conversation_id: Uuid,
    /// The agent who has it now.
    pub agent_id: Uuid,
    /// Where it goes.
    pub to: TransferTarget,
    /// A note for the target.
    #[serde(default)]
    pub note: String,
}

/// The target of a transfer accepts or declines it. Replied with the [`Transfer`] as it ends.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplyTransfer {
    /// The transfer.
    pub transfer_id: Uuid,
    /// The agent answering.
    pub agent_id: Uuid,
    /// Take the chat (true) or leave it with its agent (false).
    pub accept: bool,
}

/// A manager gives a chat of the group (waiting or active) to an agent at once. Replied with
/// the [`Conversation`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReassignConversation {
    /// The chat.
    pub conversation_id: Uuid,
    /// The agent who gets it (Available or Away).
    pub to_agent: Uuid,
    /// The manager doing it (the gateway checked the role).
    pub manager_id: Uuid,
}

/// Longest free-text vehicle field (make, model, trim), in characters.
pub const MAX_VEHICLE_TEXT: usize = 100;

/// The vehicle the shopper was looking at, from the dealer's page (data attributes on the
/// widget's snippet, or its JS call). It rides the conversation to the agent and the lead.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Vehicle {
    /// Vehicle identification number: 17 characters, no I, O or Q.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vin: Option<String>,
    /// The dealer's stock number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_number: Option<String>,
    /// Model year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<u16>,
    /// Make, e.g. "Honda".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub make: Option<String>,
    /// Model, e.g. "CR-V".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Trim, e.g. "EX-L".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim: Option<String>,
    /// Listed price in whole units of the rooftop's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<u32>,
    /// The page the shopper was on (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Vehicle {
    /// The vehicle trimmed and checked, empty fields dropped; `None` when nothing is left. The
    /// error names the field and what is wrong with it.
    pub fn checked(self, this_year: i32) -> Result<Option<Vehicle>, String> {
        fn text(v: Option<String>, field: &str, max: usize) -> Result<Option<String>, String> {
            let Some(v) = v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else {
                return Ok(None);
            };
            if v.chars().count() > max {
                return Err(format!("vehicle.{field} is longer than {max} characters"));
            }
            if v.chars().any(char::is_control) {
                return Err(format!("vehicle.{field} holds control characters"));
            }
            Ok(Some(v))
        }
        let vin = text(self.vin, "vin", 17)?.map(|v| v.to_ascii_uppercase());
        if let Some(v) = &vin
            && (v.len() != 17
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() && !matches!(c, 'I' | 'O' | 'Q')))
        {
            return Err("vehicle.vin must be 17 letters and digits (never I, O or Q)".to_string());
        }
        if let Some(y) = self.year
            && (i32::from(y) < 1900 || i32::from(y) > this_year + 2)
        {
            return Err(format!(
                "vehicle.year must be between 1900 and {}",
                this_year + 2
            ));
        }
        let url = text(self.url, "url", 2000)?;
        if let Some(u) = &url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err("vehicle.url must be an http or https address".to_string());
        }
        let v = Vehicle {
            vin,
            stock_number: text(self.stock_number, "stock_number", 40)?,
            year: self.year,
            make: text(self.make, "make", MAX_VEHICLE_TEXT)?,
            model: text(self.model, "model", MAX_VEHICLE_TEXT)?,
            trim: text(self.trim, "trim", MAX_VEHICLE_TEXT)?,
            price: self.price,
            url,
        };
        Ok((v != Vehicle::default()).then_some(v))
    }
}

#[cfg(test)]
mod vehicle_tests {
    use super::Vehicle;

    #[test]
    fn a_vehicle_is_trimmed_and_checked() {
        let v = Vehicle {
            vin: Some(" 5j6rw2h85nl001234 ".into()),
            make: Some(" Honda ".into()),
            model: Some("".into()),
            year: Some(2025),
            ..Default::default()
        };
        let v = v.checked(2026).unwrap().unwrap();
        assert_eq!(v.vin.as_deref(), Some("5J6RW2H85NL001234"));
        assert_eq!(v.make.as_deref(), Some("Honda"));
        assert_eq!(v.model, None);
        assert_eq!(Vehicle::default().checked(2026), Ok(None));
    }

    #[test]
    fn each_bad_field_is_named() {
        let bad = [
            (
                Vehicle {
                    vin: Some("5J6RW2H85NL00123".into()),
                    ..Default::default()
                },
                "vin",
            ),
            (
                Vehicle {
                    vin: Some("5J6RW2H85NLO01234".into()),
                    ..Default::default()
                },
                "vin",
            ),
            (
                Vehicle {
                    year: Some(1800),
                    ..Default::default()
                },
                "year",
            ),
            (
                Vehicle {
                    year: Some(2031),
                    ..Default::default()
                },
                "year",
            ),
            (
                Vehicle {
                    url: Some("javascript:alert(1)".into()),
                    ..Default::default()
                },
                "url",
            ),
            (
                Vehicle {
                    make: Some("x".repeat(101)),
                    ..Default::default()
                },
                "make",
            ),
        ];
        for (v, field) in bad {
            let e = v.clone().checked(2026).unwrap_err();
            assert!(e.contains(&format!("vehicle.{field}")), "{v:?}: {e}");
        }
    }
}
