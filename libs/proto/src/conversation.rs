//! Conversations: their states, the events the router publishes, and its commands.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    /// offered to, so their consoles can drop it from Incoming.
    #[serde(default)]
    pub offered_to: Vec<Uuid>,
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
}

impl ConversationCommand {
    /// Every command.
    pub const ALL: [Self; 3] = [Self::Start, Self::Accept, Self::End];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Accept => "accept",
            Self::End => "end",
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
    /// The department chosen.
    pub department_id: Uuid,
    /// The shopper's name, if given.
    pub shopper_name: Option<String>,
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
