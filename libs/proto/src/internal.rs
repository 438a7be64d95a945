//! Internal chats: agents of one dealer group talking to each other.
//!
//! The router owns who is in a chat (the status rules decide who may be brought in: Available
//! and Away yes, Do Not Disturb and Offline no); the gateway owns its messages, which reuse the
//! transcript's [`Message`] with the chat's id in `conversation_id`, so sequence numbers,
//! acknowledgements and resuming work as in a customer chat.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::message::Message;

/// Longest topic of a group chat, in characters.
pub const MAX_TOPIC_CHARS: usize = 120;

/// Most colleagues one chat can hold.
pub const MAX_MEMBERS: usize = 50;

/// One colleague in an internal chat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InternalMember {
    /// The agent.
    pub agent_id: Uuid,
    /// Their name as colleagues see it.
    pub name: String,
    /// When they were brought in.
    pub joined_at: DateTime<Utc>,
    /// When they left (they keep the history up to then; nothing new reaches them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at: Option<DateTime<Utc>>,
}

/// An internal chat and who is in it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InternalChat {
    /// Its id (also the `conversation_id` of its messages).
    pub id: Uuid,
    /// The dealer group.
    pub group_id: Uuid,
    /// Shown above a group chat; empty between two colleagues.
    pub topic: String,
    /// Who opened it.
    pub created_by: Uuid,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Everyone ever in it, in the order they joined.
    pub members: Vec<InternalMember>,
    /// Sequence number of its latest message (0 while empty), for unread marks.
    #[serde(default)]
    pub last_seq: i64,
}

impl InternalChat {
    /// Agents in it now.
    pub fn current(&self) -> Vec<Uuid> {
        self.members
            .iter()
            .filter(|m| m.left_at.is_none())
            .map(|m| m.agent_id)
            .collect()
    }

    /// Whether `agent` is in it now.
    pub fn has(&self, agent: Uuid) -> bool {
        self.members
            .iter()
            .any(|m| m.agent_id == agent && m.left_at.is_none())
    }
}

/// What happened to an internal chat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InternalEventKind {
    /// Opened, with its first members.
    Created,
    /// A colleague was brought in.
    Joined,
    /// A colleague left.
    Left,
}

impl InternalEventKind {
    /// Every kind, for the stream's subjects.
    pub const ALL: [Self; 3] = [Self::Created, Self::Joined, Self::Left];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Joined => "joined",
            Self::Left => "left",
        }
    }
}

/// An internal chat changed: `showroom.v1.<g>.internal.<kind>` (stream INTERNAL).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InternalEvent {
    /// What happened.
    pub kind: InternalEventKind,
    /// The chat after it.
    pub chat: InternalChat,
    /// Who joined or left (the opener for `created`).
    pub agent_id: Uuid,
    /// Who did it.
    pub by: Uuid,
}

/// A message in an internal chat: `showroom.v1.<g>.message.internal` (stream MESSAGES).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InternalMessage {
    /// Who is in the chat, so each gateway reaches their consoles without a lookup.
    pub members: Vec<Uuid>,
    /// The message (`conversation_id` is the chat's id).
    pub message: Message,
}

/// The router's internal-chat requests: `showroom.v1.<g>.internal.<command>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalCommand {
    /// [`OpenInternal`].
    Open,
    /// [`InviteInternal`].
    Invite,
    /// [`LeaveInternal`].
    Leave,
}

impl InternalCommand {
    /// Every command.
    pub const ALL: [Self; 3] = [Self::Open, Self::Invite, Self::Leave];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Invite => "invite",
            Self::Leave => "leave",
        }
    }
}

/// Opens a chat with colleagues. With one colleague and no topic, the two share one chat:
/// opening it again returns it (and brings back whoever had left). Replied with the
/// [`InternalChat`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenInternal {
    /// The agent opening it.
    pub by: Uuid,
    /// The colleagues to bring in (each Available or Away).
    pub with: Vec<Uuid>,
    /// A topic, for a group chat.
    #[serde(default)]
    pub topic: Option<String>,
}

/// Brings a colleague into a chat the sender is in. Replied with the [`InternalChat`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InviteInternal {
    /// The chat.
    pub chat_id: Uuid,
    /// A member of it.
    pub by: Uuid,
    /// The colleague (Available or Away).
    pub agent_id: Uuid,
}

/// Leaves a chat. Replied with the [`InternalChat`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaveInternal {
    /// The chat.
    pub chat_id: Uuid,
    /// The member leaving.
    pub agent_id: Uuid,
}
