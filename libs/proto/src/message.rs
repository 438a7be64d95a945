//! Transcript messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who wrote a message.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    /// The shopper on the website.
    Shopper,
    /// A dealership agent.
    Agent,
    /// The bot (Lead Gate, flows).
    Bot,
    /// The system ("Ann joined the chat").
    System,
}

impl AuthorKind {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shopper => "shopper",
            Self::Agent => "agent",
            Self::Bot => "bot",
            Self::System => "system",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "shopper" => Self::Shopper,
            "agent" => Self::Agent,
            "bot" => Self::Bot,
            "system" => Self::System,
            _ => return None,
        })
    }
}

/// The author of a message as shown to the other side.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Author {
    /// Shopper, agent, bot or system.
    pub kind: AuthorKind,
    /// The agent's or visitor's id (none for bot and system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The name to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One message of a transcript; `seq` is gapless and increasing per conversation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// The conversation it belongs to.
    pub conversation_id: Uuid,
    /// Its position in the conversation, from 1, without gaps.
    pub seq: i64,
    /// Its own id.
    pub id: Uuid,
    /// Who wrote it.
    pub author: Author,
    /// Plain text, never markup (may be empty for a file message).
    pub text: String,
    /// A file message's file (an image, a PDF or a text file), absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<MessageFile>,
    /// The sender's own id for the message, which makes retries idempotent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// A payment estimate card (an agent's, computed by the server; the text says the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Box<crate::payment::PaymentEstimate>>,
    /// When it was stored.
    pub at: DateTime<Utc>,
}

impl Message {
    /// The message as plain text for a transcript read as text (the download, the e-mail) or a
    /// notice: its text, and a file message's file named after it (`[file: quote.pdf]`).
    pub fn plain_text(&self) -> String {
        plain_text(&self.text, self.file.as_ref().map(|f| f.name.as_str()))
    }
}

/// [`Message::plain_text`] from a stored message's text and file name.
pub fn plain_text(text: &str, file_name: Option<&str>) -> String {
    match file_name {
        None => text.to_string(),
        Some(name) if text.is_empty() => format!("[file: {name}]"),
        Some(name) => format!("{text} [file: {name}]"),
    }
}

/// The file of a file message: downloaded by its id (agents of the group
/// `GET /api/v1/attachments/{id}`, the chat's shopper `GET /api/v1/widget/{key}/files/{id}`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageFile {
    /// The attachment's id.
    pub id: Uuid,
    /// Its name, as uploaded (cleaned).
    pub name: String,
    /// Its real type, read from its bytes (`image/png`, `application/pdf`, `text/plain`, ...).
    #[serde(rename = "type")]
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
}

/// The types a file in the chat may have (read from its bytes): images, PDF and plain text.
pub const CHAT_FILE_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/heif",
    "application/pdf",
    "text/plain",
];

/// A service (bot, router) asks the gateway to append a message. Replied with the [`Message`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostMessage {
    /// Where to append it.
    pub conversation_id: Uuid,
    /// Who writes it (bot or system).
    pub author: Author,
    /// The text.
    pub text: String,
    /// Idempotency key: posting twice with the same key appends once.
    pub client_msg_id: String,
}

/// A side of a customer chat, for read marks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ReadSide {
    /// The shopper's widget.
    Shopper,
    /// The agent's console.
    Agent,
}

impl ReadSide {
    /// The wire name (`shopper`, `agent`), also the `read_marks.side` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadSide::Shopper => "shopper",
            ReadSide::Agent => "agent",
        }
    }
}

/// A read mark: `side` has seen the conversation's messages up to `seq` (the `seen` frame, and
/// its live copy between gateways).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Seen {
    /// The conversation.
    pub conversation_id: Uuid,
    /// Who saw.
    pub side: ReadSide,
    /// Every message up to this seq.
    pub seq: i64,
    /// When it was stored.
    pub at: DateTime<Utc>,
}

/// A whisper: a manager's note to the agent in a live chat, for agents' eyes only (never in the
/// shopper's transcript, socket, e-mail or ADF).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Whisper {
    /// Its id.
    pub id: Uuid,
    /// The chat.
    pub conversation_id: Uuid,
    /// Who whispered (kind `agent`, with id and name).
    pub author: Author,
    /// What.
    pub text: String,
    /// The sender's id for it (a resend is the same whisper).
    pub client_msg_id: String,
    /// When it was stored.
    pub at: DateTime<Utc>,
}

/// Someone other than the chat's agent started or stopped watching it (a manager monitoring).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Watching {
    /// The chat.
    pub conversation_id: Uuid,
    /// Who watches.
    pub agent_id: Uuid,
    /// Their name.
    pub name: String,
    /// Started (`true`) or stopped.
    pub watching: bool,
}

/// A shopper's rating of a chat that ended (CSAT): once per chat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rating {
    /// The chat.
    pub conversation_id: Uuid,
    /// 1 (poor) to 5 (excellent).
    pub score: i16,
    /// What the shopper added, if anything.
    pub comment: Option<String>,
    /// When it was given.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_message_as_text_names_its_file() {
        assert_eq!(plain_text("hello", None), "hello");
        assert_eq!(plain_text("", Some("quote.pdf")), "[file: quote.pdf]");
        assert_eq!(
            plain_text("Your quote", Some("quote.pdf")),
            "Your quote [file: quote.pdf]"
        );
        let json = serde_json::to_value(MessageFile {
            id: Uuid::nil(),
            name: "a.png".into(),
            content_type: "image/png".into(),
            size: 3,
        })
        .unwrap_or_default();
        assert_eq!(json["type"], "image/png", "the wire name is `type`");
    }
}
