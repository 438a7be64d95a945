//! The envelope around every bus message, and the shape of request replies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Wraps every event and command on the bus.
///
/// `id` lets consumers drop duplicates (it is also sent as `Nats-Msg-Id` to JetStream);
/// `tenant` is the dealer group, checked against the subject's group token; `time` is when the
/// fact happened. Trace context is not here: it rides the NATS headers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope<T> {
    /// Unique id of this message, for dedupe.
    pub id: Uuid,
    /// The dealer group the message belongs to.
    pub tenant: Uuid,
    /// When the fact happened (or the command was issued).
    pub time: DateTime<Utc>,
    /// The event or command itself.
    pub data: T,
}

impl<T> Envelope<T> {
    /// Wraps `data` for `tenant` with a fresh time-ordered id and the current time.
    pub fn new(tenant: Uuid, data: T) -> Self {
        Self {
            id: Uuid::now_v7(),
            tenant,
            time: Utc::now(),
            data,
        }
    }
}

/// Machine-readable reason a command was refused; shared by the bus and the socket protocol.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request itself is malformed.
    BadRequest,
    /// The thing named does not exist in this tenant.
    NotFound,
    /// Another agent took the chat first.
    AlreadyTaken,
    /// The conversation has ended and can never be written to again.
    ConversationClosed,
    /// The action is not allowed in this state or for this actor.
    NotAllowed,
    /// A text or frame is longer than allowed.
    TooLarge,
    /// A dependency did not answer; the same request may be retried.
    Unavailable,
    /// A failure on our side; details are only in the logs.
    Internal,
}

impl ErrorCode {
    /// The wire name of the code (as in `docs/protocol.md`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::NotFound => "not_found",
            Self::AlreadyTaken => "already_taken",
            Self::ConversationClosed => "conversation_closed",
            Self::NotAllowed => "not_allowed",
            Self::TooLarge => "too_large",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// Why a command was refused, as sent back to the requester.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct CommandError {
    /// What kind of refusal this is.
    pub code: ErrorCode,
    /// A human-readable explanation that is safe to show to the user.
    pub message: String,
    /// For a form: each wrong field, by name, with what is wrong with it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub fields: std::collections::BTreeMap<String, String>,
}

impl CommandError {
    /// Builds a refusal with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: Default::default(),
        }
    }

    /// A refusal about one field of the request (`already_taken`: its value is used; `not_found`:
    /// what it refers to is not there).
    pub fn about_field(code: ErrorCode, field: &str, message: &str) -> Self {
        Self {
            code,
            message: format!("{field}: {message}"),
            fields: std::collections::BTreeMap::from([(field.to_string(), message.to_string())]),
        }
    }

    /// A `bad_request` naming each wrong field of a form.
    pub fn invalid_fields(fields: std::collections::BTreeMap<String, String>) -> Self {
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        Self {
            code: ErrorCode::BadRequest,
            message: format!("these fields are wrong: {}", names.join(", ")),
            fields,
        }
    }
}

/// The body of every reply to a bus request: either the answer or a refusal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    /// The command succeeded.
    Ok(T),
    /// The command was refused.
    Error(CommandError),
}

impl<T> From<Result<T, CommandError>> for Reply<T> {
    fn from(r: Result<T, CommandError>) -> Self {
        match r {
            Ok(v) => Reply::Ok(v),
            Err(e) => Reply::Error(e),
        }
    }
}

impl<T> From<Reply<T>> for Result<T, CommandError> {
    fn from(r: Reply<T>) -> Self {
        match r {
            Reply::Ok(v) => Ok(v),
            Reply::Error(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_round_trips_as_tagged_json() {
        let ok: Reply<u32> = Reply::Ok(7);
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"ok":7}"#);
        let err: Reply<u32> = Reply::Error(CommandError::new(ErrorCode::AlreadyTaken, "taken"));
        let json = serde_json::to_string(&err).unwrap();
        assert_eq!(
            json,
            r#"{"error":{"code":"already_taken","message":"taken"}}"#
        );
        assert_eq!(serde_json::from_str::<Reply<u32>>(&json).unwrap(), err);
    }

    #[test]
    fn envelope_ids_are_unique_and_ordered() {
        let t = Uuid::new_v4();
        let a = Envelope::new(t, ());
        let b = Envelope::new(t, ());
        assert_ne!(a.id, b.id);
        assert!(a.id < b.id, "v7 ids sort by creation time");
    }
}
