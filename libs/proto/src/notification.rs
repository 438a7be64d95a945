//! Notices to people: desktop notifications pushed to agents' consoles, each agent's choices,
//! and each website's e-mail settings (transcripts to shoppers, messages left forwarded).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an agent is notified.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A new chat in Incoming the agent could take.
    Incoming,
    /// A new message from the shopper in a chat of the agent's.
    Message,
    /// A chat was assigned to the agent (a manager's reassignment).
    Assigned,
    /// A colleague offers the agent a transfer.
    Transfer,
}

/// A desktop notification for one agent's consoles (core NATS `notification.desktop`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DesktopNotice {
    /// Who.
    pub agent_id: Uuid,
    /// Why.
    pub kind: NoticeKind,
    /// The chat it is about.
    pub conversation_id: Uuid,
    /// The notification's title ("New chat · Sales").
    pub title: String,
    /// Its body (plain text).
    pub body: String,
    /// Play the sound (the agent's choice).
    pub sound: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// The desktop notices of one dealer group that one pass of the notification service gave (an
/// offer to many agents, a batch of messages), in one bus message on core NATS
/// `notification.desktop`: every gateway holding the group's sockets hands each to its agent's
/// consoles. At most [`DesktopNotices::MOST`] in one message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum DesktopNotices {
    /// What the notification service publishes.
    Many(Vec<DesktopNotice>),
    /// One notice alone: what a notification service before 2026-12-06 published, still taken
    /// while replicas of both run.
    One(DesktopNotice),
}

impl DesktopNotices {
    /// The most notices one bus message carries (a few hundred bytes each, far under NATS's
    /// 1 MB payload).
    pub const MOST: usize = 200;

    /// The notices, in order.
    pub fn iter(&self) -> impl Iterator<Item = &DesktopNotice> {
        match self {
            DesktopNotices::Many(v) => v.iter(),
            DesktopNotices::One(n) => std::slice::from_ref(n).iter(),
        }
    }
}

/// What an agent wants to be told, and how.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NotificationPrefs {
    /// Desktop notifications in the console.
    #[serde(default = "yes")]
    pub desktop: bool,
    /// E-mails (missed chats, for managers).
    #[serde(default = "yes")]
    pub email: bool,
    /// A sound with each desktop notification.
    #[serde(default = "yes")]
    pub sound: bool,
}

fn yes() -> bool {
    true
}

impl Default for NotificationPrefs {
    fn default() -> Self {
        Self {
            desktop: true,
            email: true,
            sound: true,
        }
    }
}

/// A website's e-mail settings.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebsiteNotifications {
    /// E-mail the transcript to the shopper after the chat has been quiet for the inactivity
    /// time (30 minutes), when their e-mail is known. On by default.
    #[serde(default = "yes")]
    pub transcript_email: bool,
    /// Addresses every message left on this website is forwarded to (at most 10).
    #[serde(default)]
    pub forward_messages_to: Vec<String>,
}

impl Default for WebsiteNotifications {
    fn default() -> Self {
        Self {
            transcript_email: true,
            forward_messages_to: Vec::new(),
        }
    }
}

/// The notification service's request subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationCommand {
    /// An agent's [`NotificationPrefs`] ([`AgentRef`]).
    GetPrefs,
    /// Replaces them ([`PutPrefs`]).
    PutPrefs,
    /// A website's [`WebsiteNotifications`] ([`crate::bot::WebsiteRef`]).
    GetWebsite,
    /// Replaces them ([`PutWebsiteNotifications`]).
    PutWebsite,
    /// A shopper asks for their chat's transcript by e-mail now ([`EmailTranscript`], answered
    /// with [`TranscriptRequested`]).
    EmailTranscript,
    /// An appointment was booked, moved or cancelled: the shopper's confirmation with its
    /// calendar entry ([`crate::appointment::AppointmentChanged`], answered with `{"sent": bool}`).
    AppointmentMail,
}

impl NotificationCommand {
    /// Every command.
    pub const ALL: [Self; 6] = [
        Self::GetPrefs,
        Self::PutPrefs,
        Self::GetWebsite,
        Self::PutWebsite,
        Self::EmailTranscript,
        Self::AppointmentMail,
    ];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GetPrefs => "get_prefs",
            Self::PutPrefs => "put_prefs",
            Self::GetWebsite => "get_website",
            Self::PutWebsite => "put_website",
            Self::EmailTranscript => "email_transcript",
            Self::AppointmentMail => "appointment_mail",
        }
    }
}

/// Names an agent of the group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentRef {
    /// The agent.
    pub agent_id: Uuid,
}

/// An agent replaces their notification choices.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PutPrefs {
    /// The agent.
    pub agent_id: Uuid,
    /// The choices.
    pub prefs: NotificationPrefs,
}

/// A manager replaces a website's e-mail settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PutWebsiteNotifications {
    /// The website.
    pub website_id: Uuid,
    /// The settings.
    pub settings: WebsiteNotifications,
}

/// Most transcripts a shopper may ask for by e-mail per conversation in an hour: enough for a
/// typo and a second address, too few to turn the widget into a mail cannon.
pub const TRANSCRIPT_REQUESTS_PER_HOUR: i64 = 3;

/// A shopper asks, from the widget, for their chat's transcript by e-mail now (the gateway has
/// already checked that the chat is theirs and the address looks like one).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmailTranscript {
    /// The shopper's conversation.
    pub conversation_id: Uuid,
    /// Where to send it.
    pub email: String,
    /// The transcript goes up to this message (the conversation's `last_seq` when the shopper
    /// asked). It is part of the e-mail's key, so a retried request sends nothing twice while
    /// a request after new messages sends the longer transcript.
    pub upto_seq: i64,
}

/// What became of an [`EmailTranscript`] request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TranscriptRequested {
    /// The SMTP server took the e-mail.
    Sent {
        /// The address it went to (as normalised).
        email: String,
    },
    /// This very transcript already went to this address (a retried request): nothing sent.
    AlreadySent {
        /// The address it went to.
        email: String,
    },
    /// The conversation already had [`TRANSCRIPT_REQUESTS_PER_HOUR`] transcripts mailed in the
    /// last hour; nothing sent.
    RateLimited {
        /// When the next request may succeed, in seconds.
        retry_after_secs: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gateway reads the notices of one message, and a lone notice as older notification
    /// services send it.
    #[test]
    fn desktop_notices_read_both_shapes() {
        let one = serde_json::json!({
            "agent_id": Uuid::nil(), "kind": "incoming", "conversation_id": Uuid::nil(),
            "title": "New chat · Sales", "body": "Maria", "sound": true,
            "at": "2026-12-06T10:00:00Z"
        });
        let lone: DesktopNotices = serde_json::from_value(one.clone()).unwrap();
        assert!(matches!(lone, DesktopNotices::One(_)));
        assert_eq!(lone.iter().count(), 1);
        let many: DesktopNotices =
            serde_json::from_value(serde_json::json!([one.clone(), one])).unwrap();
        assert_eq!(many.iter().count(), 2);
        assert_eq!(
            serde_json::to_value(&many)
                .unwrap()
                .as_array()
                .map(Vec::len),
            Some(2),
            "sent as a plain list"
        );
    }
}
