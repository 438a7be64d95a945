//! Every frame the gateway sends on a socket, to the shopper's widget and to the agent's
//! console, as `docs/protocol.md` lists them ("Gateway → widget", "Gateway → console").
//!
//! A frame is a [`ServerFrame`] variant, serialized with its `type` as the tag; a reply adds the
//! client's `ref` ([`ServerFrame::json`]). Nothing is hand-built: what a client receives is what
//! these types say, and the shopper's widget gets conversations only as
//! [`ShopperConversation`], whose fields are listed one by one. A unit test holds the variants
//! and the protocol document to the same list of frame types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::appearance::Appearance;
use crate::bot::BotView;
use crate::contact::Language;
use crate::conversation::{Conversation, ShopperConversation, Transfer};
use crate::forms::Form;
use crate::internal::{InternalChat, InternalEventKind};
use crate::message::{AuthorKind, Message, Rating, Seen, Watching, Whisper};
use crate::notification::DesktopNotice;
use crate::presence::{AgentPresence, AgentStatus, Board};

/// One frame from the gateway, tagged by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The answer to `hello`, of the widget or of the console.
    Welcome(Welcome),
    /// Widget: the leave-a-message form is stored.
    MessageLeft {
        /// The stored message's id.
        id: Uuid,
    },
    /// Widget: the transcript was e-mailed.
    TranscriptSent {
        /// Where it went (trimmed, domain lower-cased).
        email: String,
    },
    /// Widget: the answer to `start`.
    Started {
        /// The new conversation.
        conversation: ShopperConversation,
        /// What is already written in it (the bot's greeting).
        messages: Vec<Message>,
    },
    /// The answer to the widget's `history` and the console's `open`.
    History {
        /// The conversation (the shopper's view on a widget).
        conversation: ConversationView,
        /// Its messages after the asked `seq`.
        messages: Vec<Message>,
        /// Console: the chat's whispers, oldest first (never on a widget).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        whispers: Vec<Whisper>,
        /// Console: the shopper's rating of the chat, once given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rating: Option<Rating>,
    },
    /// A message is durable.
    Ack(Ack),
    /// A new message in a conversation the socket follows.
    Message {
        /// The message.
        message: Message,
    },
    /// A conversation the socket follows changed.
    Conversation {
        /// The conversation now (the shopper's view on a widget).
        conversation: ConversationView,
    },
    /// Someone on the other side is typing (best-effort).
    Typing {
        /// The conversation.
        conversation_id: Uuid,
        /// Who.
        author: TypingAuthor,
        /// Started or stopped.
        typing: bool,
    },
    /// The other side (or another tab of this side) has seen the conversation up to `seq`;
    /// also sent after `welcome` and `history` with the marks stored.
    Seen(Seen),
    /// Widget: the shopper's rating of their chat is stored (the answer to `rate`, and after
    /// `welcome` when the chat shown was rated).
    Rated(Rating),
    /// Console: a whisper in a chat this console follows (also the answer to `whisper`).
    Whisper {
        /// The whisper.
        whisper: Whisper,
    },
    /// Console: someone started or stopped watching a chat this console follows.
    Watching(Watching),
    /// The answer to `ping`.
    Pong,
    /// Something was refused or failed.
    Error(ErrorFrame),
    /// Console: the agent's chosen status (an answer, or pushed when it changes).
    Status {
        /// The status.
        status: AgentStatus,
    },
    /// Console: a new chat is offered to this agent.
    Offer {
        /// The chat.
        conversation: Conversation,
    },
    /// Console: an offer ended.
    OfferWithdrawn {
        /// The chat.
        conversation_id: Uuid,
        /// Why.
        reason: WithdrawReason,
    },
    /// Console: a colleague transfers a chat to this agent or one of their departments.
    TransferOffer {
        /// The transfer (state `requested`).
        transfer: Transfer,
        /// The chat.
        conversation: Conversation,
    },
    /// Console: a transfer this console is part of changed (also the answer to `transfer`
    /// and `transfer_reply`).
    Transfer {
        /// The transfer now.
        transfer: Transfer,
    },
    /// Console: the answer to `accept`.
    Accepted {
        /// The chat, now this agent's.
        conversation: Conversation,
    },
    /// Console: the Live Agent Status board.
    Board {
        /// The board.
        board: Board,
    },
    /// Console: an agent of the group changed (after `board`).
    AgentPresence {
        /// The agent's presence.
        agent: AgentPresence,
    },
    /// Console: an internal chat (an answer, or pushed when it changes).
    Internal(InternalFrame),
    /// Console: the answer to `internal_history`.
    InternalHistory {
        /// The chat.
        chat: InternalChat,
        /// Its messages after the asked `seq`.
        messages: Vec<Message>,
    },
    /// Console: a new message in an internal chat the agent is in.
    InternalMessage {
        /// The message (`conversation_id` is the chat's id).
        message: Message,
    },
    /// Console: a desktop notification.
    Notify {
        /// What to show.
        notice: DesktopNotice,
    },
}

impl ServerFrame {
    /// The frame's JSON text, with the client's `ref` when it is an answer to one.
    pub fn json(&self, r#ref: Option<&str>) -> String {
        #[derive(Serialize)]
        struct Answer<'a> {
            #[serde(flatten)]
            frame: &'a ServerFrame,
            #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
            r#ref: Option<&'a str>,
        }
        serde_json::to_string(&Answer { frame: self, r#ref }).unwrap_or_else(|e| {
            // Only a map with non-string keys fails; none of these types has one.
            format!(r#"{{"type":"error","code":"internal","message":"{e}"}}"#)
        })
    }

    /// An error frame with a code and a message.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self::Error(ErrorFrame {
            code: code.to_string(),
            message: message.into(),
            fields: None,
            retry_after_secs: None,
        })
    }

    /// The `type` of every frame, as serde names the variants.
    pub fn types() -> Vec<String> {
        // Serde's error for an unknown tag lists every variant it knows.
        let err = serde_json::from_str::<Self>(r#"{"type":"?"}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let list = err.split_once("expected one of ").map(|(_, l)| l);
        // "`welcome`, `message_left`, … at line 1 column 10": every other piece between
        // backticks is a name.
        list.unwrap_or_default()
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }
}

/// A conversation on a socket: the whole snapshot for consoles, the shopper's view for widgets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ConversationView {
    /// For agents.
    Full(Box<Conversation>),
    /// For the shopper.
    Shopper(Box<ShopperConversation>),
}

impl ConversationView {
    /// The shopper's view of `c`.
    pub fn shopper(c: &Conversation) -> Self {
        Self::Shopper(Box::new(c.into()))
    }

    /// The agents' view of `c`.
    pub fn full(c: &Conversation) -> Self {
        Self::Full(Box::new(c.clone()))
    }
}

/// The answer to `hello`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Welcome {
    /// An agent's console.
    Console(Box<ConsoleWelcome>),
    /// A shopper's widget.
    Widget(Box<WidgetWelcome>),
}

/// The widget's `welcome`: the website, its departments, bot, forms and look, and the
/// shopper's conversation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WidgetWelcome {
    /// The protocol version.
    pub v: u32,
    /// The visitor's signed token, to send in the next `hello`.
    pub visitor_token: String,
    /// The website and its dealership.
    pub website: WebsiteView,
    /// The departments a shopper can choose.
    pub departments: Vec<DepartmentChoice>,
    /// The conversation's language, else the website's, else the browser's.
    pub language: Language,
    /// The bot.
    pub bot: BotView,
    /// The website's forms.
    pub forms: WebsiteForms,
    /// The widget's look.
    pub appearance: Appearance,
    /// The open or most recent conversation.
    pub conversation: Option<ShopperConversation>,
    /// Its messages after `hello.last_seq`.
    pub messages: Vec<Message>,
    /// The socket's route: the website's dealer group's id. The widget sends it back as the
    /// `route` query parameter of its next socket, so that a proxy in front of several gateways
    /// can put a dealer group's sockets on one of them (`docs/architecture.md`, "Sockets routed
    /// by dealer group").
    pub route: Uuid,
}

/// A website as its widget names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebsiteView {
    /// The website's name.
    pub name: String,
    /// Its dealership's name.
    pub rooftop: String,
}

/// A department a shopper can choose.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DepartmentChoice {
    /// Its id.
    pub id: Uuid,
    /// Its label.
    pub label: String,
    /// Its dealership's name.
    pub rooftop: String,
}

/// The website's pre-chat and offline forms, when it has them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebsiteForms {
    /// Asked before a chat.
    pub pre_chat: Option<Form>,
    /// Asked instead of a chat when none can go live.
    pub offline: Option<Form>,
}

/// The console's `welcome`: the agent and their chats.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConsoleWelcome {
    /// The protocol version.
    pub v: u32,
    /// Who is signed in.
    pub agent: WelcomeAgent,
    /// Chats offered to the agent, still waiting.
    pub incoming: Vec<Conversation>,
    /// Chats the agent has.
    pub active: Vec<Conversation>,
    /// The agent's last closed chats.
    pub recent: Vec<Conversation>,
    /// Transfers waiting for the agent's answer, oldest first.
    pub transfers: Vec<Transfer>,
    /// Internal chats the agent is in, most recently active first.
    pub internal: Vec<InternalChat>,
}

/// The signed-in agent, in the console's `welcome`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WelcomeAgent {
    /// The agent's id.
    pub id: Uuid,
    /// "First Last".
    pub name: String,
    /// Sign-in e-mail.
    pub email: String,
    /// `agent`, `manager` or `admin`.
    pub role: String,
    /// The chosen status.
    pub status: AgentStatus,
    /// Seconds without activity before the console counts as idle (none: never).
    pub auto_away_secs: Option<i32>,
}

/// `ack`: a message is stored. A customer chat's carries `conversation_id`, an internal
/// chat's `chat_id`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ack {
    /// The sender's id for the message.
    pub client_msg_id: Option<String>,
    /// The customer conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Uuid>,
    /// The internal chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<Uuid>,
    /// Its position.
    pub seq: i64,
    /// Its id.
    pub id: Uuid,
    /// When it was stored.
    pub at: DateTime<Utc>,
}

impl Ack {
    /// The ack of a customer chat's message.
    pub fn message(m: &Message) -> Self {
        Self {
            client_msg_id: m.client_msg_id.clone(),
            conversation_id: Some(m.conversation_id),
            chat_id: None,
            seq: m.seq,
            id: m.id,
            at: m.at,
        }
    }

    /// The ack of an internal chat's message.
    pub fn internal(m: &Message) -> Self {
        Self {
            chat_id: Some(m.conversation_id),
            conversation_id: None,
            ..Self::message(m)
        }
    }
}

/// Who is typing: their kind and name only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TypingAuthor {
    /// Shopper or agent.
    pub kind: AuthorKind,
    /// Their name, when known.
    pub name: Option<String>,
}

/// The `error` frame.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorFrame {
    /// What went wrong (`bad_frame`, `not_found`, … as the protocol lists them).
    pub code: String,
    /// For people.
    pub message: String,
    /// A form's refusal: each wrong field and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
    /// `rate_limited`: when to try again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// Why an offer ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// Another agent took the chat.
    Taken,
    /// The chat ended.
    Ended,
    /// The offer went to someone else, or the agent's status no longer lets them take it.
    MovedOn,
}

/// `internal`: a chat as an answer; pushed changes also say what happened, to whom and by whom.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InternalFrame {
    /// The chat now.
    pub chat: InternalChat,
    /// Pushed: what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<InternalEventKind>,
    /// Pushed: who joined or left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Uuid>,
    /// Pushed: who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frame types of a "Gateway → …" table of `docs/protocol.md`.
    fn documented(doc: &str, heading: &str) -> Vec<String> {
        let start = doc.find(heading).expect("the heading is in protocol.md");
        doc[start..]
            .lines()
            .skip(1)
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let cell = l.split('|').nth(1)?.trim();
                let t = cell.strip_prefix('`')?.strip_suffix('`')?;
                Some(t.to_string())
            })
            .collect()
    }

    #[test]
    fn every_frame_the_protocol_lists_has_a_variant_and_every_variant_is_listed() {
        let doc = include_str!("../../../docs/protocol.md");
        let mut listed = documented(doc, "### Gateway → widget");
        listed.extend(documented(doc, "### Gateway → console"));
        listed.sort();
        listed.dedup();
        let mut types = ServerFrame::types();
        types.sort();
        assert!(types.len() > 20, "{types:?}");
        for t in &listed {
            assert!(
                types.contains(t),
                "`{t}` is in protocol.md but not a ServerFrame"
            );
        }
        for t in &types {
            assert!(
                listed.contains(t),
                "ServerFrame `{t}` is not in protocol.md"
            );
        }
    }

    #[test]
    fn a_reply_carries_its_ref_and_the_shopper_view_leaves_out_the_dealers_fields() {
        let pong = ServerFrame::Pong.json(Some("r1"));
        assert_eq!(pong, r#"{"type":"pong","ref":"r1"}"#);
        assert_eq!(ServerFrame::Pong.json(None), r#"{"type":"pong"}"#);
        let c: Conversation = serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "group_id": Uuid::nil(), "website_id": Uuid::nil(),
            "rooftop": {"id": Uuid::nil(), "name": "R"},
            "department": {"id": Uuid::nil(), "label": "Sales"},
            "shopper": {"visitor_id": Uuid::nil(), "name": null},
            "agent": null, "state": "bot", "last_seq": 0,
            "created_at": "2026-11-22T10:00:00Z", "ended_at": null, "ended_by": null,
            "team": {"id": Uuid::nil(), "name": "BDC"},
            "contact": {"first_name": "A", "last_name": "B", "phone": "+13125550134",
                "consent": {"text": "t", "version": "v1-en", "at": "2026-11-22T10:00:00Z"}},
        }))
        .unwrap();
        let frame = ServerFrame::Conversation {
            conversation: ConversationView::shopper(&c),
        };
        let v: serde_json::Value = serde_json::from_str(&frame.json(None)).unwrap();
        let shown = v["conversation"].as_object().unwrap();
        for hidden in ["group_id", "website_id", "team"] {
            assert!(!shown.contains_key(hidden), "{hidden} reached the shopper");
        }
        assert_eq!(v["conversation"]["contact"]["phone"], "+13125550134");
        assert!(v["conversation"]["contact"].get("consent").is_none());
        // A console gets the whole snapshot, and reads it back the same.
        let full = ServerFrame::Conversation {
            conversation: ConversationView::full(&c),
        };
        let back: ServerFrame = serde_json::from_str(&full.json(None)).unwrap();
        assert_eq!(back, full);
    }
}
