//! Version 1 of the subject space: `showroom.v1.<group>.<domain>.<event>`.
//!
//! Every subject in the system comes from a function here; nothing formats one inline.
//! Events are past tense (`conversation.created`), requests imperative (`conversation.accept`),
//! so the JetStream streams, which capture only event subjects, never swallow a request.
//! `<group>` is the dealer group's UUID, the tenant boundary; a `*` in its place subscribes to
//! every group (services) and is never handed to integrators.

use std::time::Duration;
use uuid::Uuid;

use crate::bot::BotCommand;
use crate::conversation::ConversationEventKind as K;
use crate::conversation::{ConversationCommand, ConversationEventKind};
use crate::delivery::CrmCommand;
use crate::internal::{InternalCommand, InternalEventKind};
use crate::lead::LeadCommand;
use crate::notification::NotificationCommand;
use crate::retention::{PrivacyCommand, PrivacyOwner};
use crate::routing::RoutingCommand;

/// The first two tokens of every subject.
pub const ROOT: &str = "showroom.v1";

/// The group token: one dealer group, or every group (`*`) for a service's subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// One dealer group.
    One(Uuid),
    /// Every dealer group: for services that serve all tenants.
    Any,
}

impl From<Uuid> for Group {
    fn from(id: Uuid) -> Self {
        Group::One(id)
    }
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Group::One(id) => write!(f, "{id}"),
            Group::Any => f.write_str("*"),
        }
    }
}

fn subject(group: impl Into<Group>, domain: &str, name: &str) -> String {
    format!("{ROOT}.{}.{domain}.{name}", group.into())
}

/// A conversation event, e.g. `showroom.v1.<g>.conversation.assigned` (stream CONVERSATIONS).
pub fn conversation_event(group: impl Into<Group>, kind: ConversationEventKind) -> String {
    subject(group, "conversation", kind.as_str())
}

/// Every conversation subject of a group, events and requests alike:
/// `showroom.v1.<g>.conversation.*`. A gateway holds one subscription to it per dealer group
/// whose sockets it holds, so the group's events reach it in the order NATS has them; it skips
/// the requests.
pub fn conversation_any(group: impl Into<Group>) -> String {
    subject(group, "conversation", "*")
}

/// A request to the router, e.g. `showroom.v1.<g>.conversation.accept`.
pub fn conversation_command(group: impl Into<Group>, cmd: ConversationCommand) -> String {
    subject(group, "conversation", cmd.as_str())
}

/// An internal chat event, e.g. `showroom.v1.<g>.internal.joined` (stream INTERNAL).
pub fn internal_event(group: impl Into<Group>, kind: InternalEventKind) -> String {
    subject(group, "internal", kind.as_str())
}

/// Every internal chat subject of a group, events and requests alike:
/// `showroom.v1.<g>.internal.*` (a gateway's subscription, as [`conversation_any`]).
pub fn internal_any(group: impl Into<Group>) -> String {
    subject(group, "internal", "*")
}

/// A request to the router about an internal chat, e.g. `showroom.v1.<g>.internal.open`.
pub fn internal_command(group: impl Into<Group>, cmd: InternalCommand) -> String {
    subject(group, "internal", cmd.as_str())
}

/// A message in an internal chat: `showroom.v1.<g>.message.internal` (stream MESSAGES).
pub fn internal_message(group: impl Into<Group>) -> String {
    subject(group, "message", "internal")
}

/// A request to the router about routing settings, e.g. `showroom.v1.<g>.routing.put_department`.
pub fn routing_command(group: impl Into<Group>, cmd: RoutingCommand) -> String {
    subject(group, "routing", cmd.as_str())
}

/// A request to the bot, e.g. `showroom.v1.<g>.bot.leave_message`.
pub fn bot_command(group: impl Into<Group>, cmd: BotCommand) -> String {
    subject(group, "bot", cmd.as_str())
}

/// A shopper left a message: `showroom.v1.<g>.bot.message_left` (stream BOT).
pub fn message_left(group: impl Into<Group>) -> String {
    subject(group, "bot", "message_left")
}

/// A request to lead-capture, e.g. `showroom.v1.<g>.leads.create`. Requests live under
/// `leads`, apart from the `lead.*` events, so an integrator's `lead.*` sees events only.
pub fn lead_command(group: impl Into<Group>, cmd: LeadCommand) -> String {
    subject(group, "leads", cmd.as_str())
}

/// A request to crm-export, e.g. `showroom.v1.<g>.crm.put_destination`.
pub fn crm_command(group: impl Into<Group>, cmd: CrmCommand) -> String {
    subject(group, "crm", cmd.as_str())
}

/// A desktop notice for an agent's consoles (core NATS; every gateway delivers it to the
/// consoles it holds): `showroom.v1.<g>.notification.desktop`.
pub fn notification_desktop(group: impl Into<Group>) -> String {
    subject(group, "notification", "desktop")
}

/// A request to the notification service, e.g. `showroom.v1.<g>.notifications.put_prefs`.
pub fn notification_command(group: impl Into<Group>, cmd: NotificationCommand) -> String {
    subject(group, "notifications", cmd.as_str())
}

/// A shopper asks for their chat's transcript by e-mail now (the widget's "Email me this
/// chat"): `showroom.v1.<g>.notifications.email_transcript`, served by the notification service,
/// which renders and mails it. Named here so the gateway and the service cannot disagree.
pub fn notification_email_transcript(group: impl Into<Group>) -> String {
    notification_command(group, NotificationCommand::EmailTranscript)
}

/// A new transcript message: `showroom.v1.<g>.message.created` (stream MESSAGES).
pub fn message_created(group: impl Into<Group>) -> String {
    subject(group, "message", "created")
}

/// A request to the gateway to append a message written by a service (bot, system).
pub fn message_post(group: impl Into<Group>) -> String {
    subject(group, "message", "post")
}

/// A console device is alive (core NATS, fire and forget).
pub fn presence_heartbeat(group: impl Into<Group>) -> String {
    subject(group, "presence", "heartbeat")
}

/// A request to presence recording a console device that just connected: answered once the
/// device counts, so the console's status and the router's next question agree.
pub fn presence_connect(group: impl Into<Group>) -> String {
    subject(group, "presence", "connect")
}

/// A console device closed its socket (core NATS, fire and forget).
pub fn presence_device_closed(group: impl Into<Group>) -> String {
    subject(group, "presence", "device_closed")
}

/// A console device became idle or active again (core NATS, fire and forget).
pub fn presence_device_idle(group: impl Into<Group>) -> String {
    subject(group, "presence", "device_idle")
}

/// A request to presence to set an agent's chosen status.
pub fn presence_set_status(group: impl Into<Group>) -> String {
    subject(group, "presence", "set_status")
}

/// A request to presence for an agent's chosen and effective status.
pub fn presence_get_status(group: impl Into<Group>) -> String {
    subject(group, "presence", "get_status")
}

/// A request to presence for the Live Agent Status board.
pub fn presence_board(group: impl Into<Group>) -> String {
    subject(group, "presence", "board")
}

/// A request to presence: which of these agents can take a chat now.
pub fn presence_find_available(group: impl Into<Group>) -> String {
    subject(group, "presence", "find_available")
}

/// An agent's presence changed: `showroom.v1.<g>.presence.changed` (stream PRESENCE).
pub fn presence_changed(group: impl Into<Group>) -> String {
    subject(group, "presence", "changed")
}

/// What a live copy of a conversation's event is (the last token of its [`live`] subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// A message of the transcript (the same envelope as its `message.created` event).
    Message,
    /// Someone started or stopped typing (best-effort, only ever live).
    Typing,
    /// A read mark was stored (`message::Seen`).
    Seen,
    /// A whisper was stored (`message::Whisper`): for agents' consoles only.
    Whisper,
    /// Someone started or stopped watching the chat (`message::Watching`).
    Watching,
    /// Nothing: nobody subscribes to it. A gateway's request to one is answered "no
    /// responders" once the server has read everything the gateway sent before (its new
    /// subscriptions), which is how it knows they are in place (`Bus::round_trip`).
    Sync,
}

impl Live {
    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Live::Message => "message",
            Live::Typing => "typing",
            Live::Seen => "seen",
            Live::Whisper => "whisper",
            Live::Watching => "watching",
            Live::Sync => "sync",
        }
    }
}

/// The live copy of one conversation's event for the sockets watching it, on whichever gateway
/// holds them: `showroom.v1.<g>.live.<conversation>.<kind>` (core NATS, in no stream). A gateway
/// subscribes to [`live_of`] a conversation only while it holds a socket watching it, so NATS
/// sends each gateway only the conversations it has sockets for.
pub fn live(group: Uuid, conversation: Uuid, kind: Live) -> String {
    format!("{ROOT}.{group}.live.{conversation}.{}", kind.as_str())
}

/// Every live copy of one conversation's events: a gateway's subscription while it holds a
/// socket watching the conversation.
pub fn live_of(group: Uuid, conversation: Uuid) -> String {
    format!("{ROOT}.{group}.live.{conversation}.*")
}

/// Every live subject of every conversation (for permissions).
pub fn live_any(group: impl Into<Group>) -> String {
    format!("{ROOT}.{}.live.>", group.into())
}

/// The group, conversation and kind of a [`live`] subject.
pub fn live_parts(subject: &str) -> Option<(Uuid, Uuid, Live)> {
    let rest = subject.strip_prefix(ROOT)?.strip_prefix('.')?;
    let mut tokens = rest.split('.');
    let group = Uuid::parse_str(tokens.next()?).ok()?;
    if tokens.next()? != "live" {
        return None;
    }
    let conversation = Uuid::parse_str(tokens.next()?).ok()?;
    let kind = match tokens.next()? {
        "message" => Live::Message,
        "typing" => Live::Typing,
        "seen" => Live::Seen,
        "whisper" => Live::Whisper,
        "watching" => Live::Watching,
        "sync" => Live::Sync,
        _ => return None,
    };
    tokens
        .next()
        .is_none()
        .then_some((group, conversation, kind))
}

/// A lead was created: `showroom.v1.<g>.lead.created` (stream LEADS).
pub fn lead_created(group: impl Into<Group>) -> String {
    subject(group, "lead", "created")
}

/// A lead was updated: `showroom.v1.<g>.lead.updated` (stream LEADS).
pub fn lead_updated(group: impl Into<Group>) -> String {
    subject(group, "lead", "updated")
}

/// A delivery to a CRM destination changed state (stream DELIVERIES).
pub fn delivery_event(group: impl Into<Group>, event: &'static str) -> String {
    subject(group, "delivery", event)
}

/// A request to one owner of shopper data to erase or export a shopper's rows, e.g.
/// `showroom.v1.<g>.privacy.erase_lead_capture` (sent by the gateway, served by that owner).
pub fn privacy_command(
    group: impl Into<Group>,
    owner: PrivacyOwner,
    cmd: PrivacyCommand,
) -> String {
    subject(
        group,
        "privacy",
        &format!("{}_{}", cmd.as_str(), owner.as_str()),
    )
}

/// Reads the dealer group back out of a subject built here.
pub fn group_of(subject: &str) -> Option<Uuid> {
    let rest = subject.strip_prefix(ROOT)?.strip_prefix('.')?;
    let token = rest.split('.').next()?;
    Uuid::parse_str(token).ok()
}

/// A JetStream stream, its subjects, and the one service that creates and updates it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Stream name.
    pub name: &'static str,
    /// The service that owns (creates and updates) the stream.
    pub owner: &'static str,
    /// The event subjects it captures, for every group.
    pub subjects: Vec<String>,
    /// How long facts are kept on the bus (Postgres keeps them for good).
    pub max_age: Duration,
    /// Most bytes kept (see `docs/architecture.md`, "Stream sizing").
    pub max_bytes: i64,
    /// When full: refuse new events (`true`: their publishers' outboxes and retries hold them
    /// until room is made) rather than drop the oldest (`false`: for signals that are rebuilt).
    pub discard_new: bool,
}

const DAY: Duration = Duration::from_secs(24 * 3600);
const MIB: i64 = 1 << 20;
const GIB: i64 = 1 << 30;

/// Conversation events, owned by the router.
pub fn conversations_stream() -> StreamSpec {
    StreamSpec {
        name: "CONVERSATIONS",
        owner: "router",
        subjects: ConversationEventKind::ALL
            .iter()
            .map(|k| conversation_event(Group::Any, *k))
            .collect(),
        max_age: 7 * DAY,
        max_bytes: 256 * MIB,
        discard_new: true,
    }
}

/// Transcript messages, owned by the gateway (which writes the transcript).
pub fn messages_stream() -> StreamSpec {
    StreamSpec {
        name: "MESSAGES",
        owner: "gateway",
        subjects: vec![message_created(Group::Any), internal_message(Group::Any)],
        max_age: 7 * DAY,
        max_bytes: GIB,
        discard_new: true,
    }
}

/// Internal chat events (who is in which chat), owned by the router.
pub fn internal_stream() -> StreamSpec {
    StreamSpec {
        name: "INTERNAL",
        owner: "router",
        subjects: InternalEventKind::ALL
            .iter()
            .map(|k| internal_event(Group::Any, *k))
            .collect(),
        max_age: 7 * DAY,
        max_bytes: 128 * MIB,
        discard_new: true,
    }
}

/// Messages left (the leave-a-message form and its REST call), owned by the bot.
pub fn bot_stream() -> StreamSpec {
    StreamSpec {
        name: "BOT",
        owner: "bot",
        subjects: vec![message_left(Group::Any)],
        max_age: 30 * DAY,
        max_bytes: 128 * MIB,
        discard_new: true,
    }
}

/// Presence changes, owned by presence.
pub fn presence_stream() -> StreamSpec {
    StreamSpec {
        name: "PRESENCE",
        owner: "presence",
        subjects: vec![presence_changed(Group::Any)],
        max_age: DAY,
        max_bytes: 64 * MIB,
        discard_new: false,
    }
}

/// Lead events for integrators, owned by lead-capture.
pub fn leads_stream() -> StreamSpec {
    StreamSpec {
        name: "LEADS",
        owner: "lead-capture",
        // Every `lead.*` event (created, updated): one subject, so an integrator's consumer can
        // filter its own group's `showroom.v1.<g>.lead.*` (NATS 2.9 takes one filter, which must
        // be a subset of one stream subject).
        subjects: vec![subject(Group::Any, "lead", "*")],
        max_age: 30 * DAY,
        max_bytes: 512 * MIB,
        discard_new: true,
    }
}

/// Delivery outcomes, owned by crm-export.
pub fn deliveries_stream() -> StreamSpec {
    StreamSpec {
        name: "DELIVERIES",
        owner: "crm-export",
        subjects: vec![delivery_event(Group::Any, "*")],
        max_age: 30 * DAY,
        max_bytes: 256 * MIB,
        discard_new: true,
    }
}

/// Whether `subject` matches `pattern` as NATS matches them: `*` is one token, a final `>` one or
/// more.
pub fn matches(pattern: &str, subject: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    for (i, tok) in p.iter().enumerate() {
        match *tok {
            ">" => return s.len() > i,
            "*" if i < s.len() => {}
            t if s.get(i) == Some(&t) => {}
            _ => return false,
        }
    }
    p.len() == s.len()
}

/// Whether some subject matches both `a` and `b`, two NATS patterns (`*` one token, a final
/// `>` one or more).
pub fn overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (Some(x), Some(y)) if x == y || *x == "*" || *y == "*" => {}
            _ => return false,
        }
    }
    true
}

/// A durable JetStream consumer: the stream it reads and its name, shared by the replicas of the
/// service that follows it (and named in that service's NATS permissions, [`crate::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    /// The stream.
    pub stream: &'static str,
    /// The consumer's name.
    pub name: &'static str,
}

impl Durable {
    /// The consumer `name` on `stream`.
    pub const fn on(stream: &'static str, name: &'static str) -> Self {
        Self { stream, name }
    }
}

/// Durable consumers of one stream, each filtered to one subject, that together replace one
/// consumer of the whole stream which an earlier release used ([`ByKind::filtered`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// The earlier release's consumer: a consumer of these made when missing starts where it
    /// left off, if it exists.
    pub replaces: Durable,
    /// Each consumer and the one subject it reads.
    pub each: Vec<(Durable, String)>,
}

/// A service's durable consumers of `CONVERSATIONS`: one per kind of event it reads, named
/// `<replaces>-<kind>`, so no event it ignores is delivered to it and acknowledged. nats-server
/// 2.9 filters a consumer on one subject only, hence one each. They replace the one consumer of
/// the whole stream the service used before (`docs/architecture.md`, "Durable consumers").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByKind {
    /// The consumer of the whole stream it replaces.
    pub replaces: Durable,
    /// The kinds read, each with its consumer's name.
    pub kinds: &'static [(ConversationEventKind, &'static str)],
}

impl ByKind {
    /// Its consumers, each with the subject of its kind in every group.
    pub fn filtered(&self) -> Filtered {
        Filtered {
            replaces: self.replaces,
            each: self
                .durables()
                .zip(self.kinds)
                .map(|(d, (kind, _))| (d, conversation_event(Group::Any, *kind)))
                .collect(),
        }
    }

    /// Its consumers.
    pub fn durables(&self) -> impl Iterator<Item = Durable> + '_ {
        self.kinds
            .iter()
            .map(|(_, name)| Durable::on(self.replaces.stream, name))
    }
}

/// presence: assignments and endings, for active-chat counts.
pub const PRESENCE_CHATS: ByKind = ByKind {
    replaces: Durable::on("CONVERSATIONS", "presence-chats"),
    kinds: &[
        (K::Assigned, "presence-chats-assigned"),
        (K::Transferred, "presence-chats-transferred"),
        (K::Ended, "presence-chats-ended"),
        (K::Missed, "presence-chats-missed"),
        (K::TimedOut, "presence-chats-timed_out"),
        (K::Offline, "presence-chats-offline"),
    ],
};
/// router: presence changes, to reconsider offers.
pub const ROUTER_PRESENCE: Durable = Durable::on("PRESENCE", "router-presence");
/// bot: chats created (greeted when in state `bot`), and agents who join (announced).
pub const BOT_CONVERSATIONS: ByKind = ByKind {
    replaces: Durable::on("CONVERSATIONS", "bot-conversations"),
    kinds: &[
        (K::Created, "bot-conversations-created"),
        (K::Assigned, "bot-conversations-assigned"),
        (K::Transferred, "bot-conversations-transferred"),
    ],
};
/// bot: shoppers' answers to the Lead Gate.
pub const BOT_MESSAGES: Durable = Durable::on("MESSAGES", "bot-messages");
/// lead-capture: missed and offline chats.
pub const LEAD_CAPTURE_CONVERSATIONS: ByKind = ByKind {
    replaces: Durable::on("CONVERSATIONS", "lead-capture-conversations"),
    kinds: &[
        (K::Missed, "lead-capture-conversations-missed"),
        (K::Offline, "lead-capture-conversations-offline"),
    ],
};
/// lead-capture: messages left.
pub const LEAD_CAPTURE_MESSAGES_LEFT: Durable = Durable::on("BOT", "lead-capture-messages");
/// notification: offers, missed chats, transfers.
pub const NOTIFICATION_CONVERSATIONS: ByKind = ByKind {
    replaces: Durable::on("CONVERSATIONS", "notification-conversations"),
    kinds: &[
        (K::Offered, "notification-conversations-offered"),
        (K::Transferred, "notification-conversations-transferred"),
        (K::Missed, "notification-conversations-missed"),
    ],
};
/// notification: shoppers' messages (notices, transcript timers).
pub const NOTIFICATION_MESSAGES: Durable = Durable::on("MESSAGES", "notification-messages");
/// notification: messages left, forwarded by e-mail.
pub const NOTIFICATION_MESSAGES_LEFT: Durable = Durable::on("BOT", "notification-messages-left");
/// crm-export: new leads to deliver.
pub const CRM_EXPORT_LEADS: Durable = Durable::on("LEADS", "crm-export-leads");

/// Every service's consumers of `CONVERSATIONS` by kind.
pub const CONVERSATION_READERS: [ByKind; 4] = [
    PRESENCE_CHATS,
    BOT_CONVERSATIONS,
    LEAD_CAPTURE_CONVERSATIONS,
    NOTIFICATION_CONVERSATIONS,
];

/// Every stream, for documentation and for checking that subjects never overlap.
pub fn all_streams() -> Vec<StreamSpec> {
    vec![
        conversations_stream(),
        messages_stream(),
        internal_stream(),
        bot_stream(),
        presence_stream(),
        leads_stream(),
        deliveries_stream(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_v1_shape() {
        let g = Uuid::nil();
        assert_eq!(
            conversation_event(g, ConversationEventKind::TimedOut),
            "showroom.v1.00000000-0000-0000-0000-000000000000.conversation.timed_out"
        );
        assert_eq!(
            conversation_command(Group::Any, ConversationCommand::Accept),
            "showroom.v1.*.conversation.accept"
        );
        assert_eq!(group_of(&message_created(g)), Some(g));
        assert_eq!(
            notification_email_transcript(Group::Any),
            "showroom.v1.*.notifications.email_transcript"
        );
        assert_eq!(group_of("showroom.v1.*.message.created"), None);
        assert_eq!(group_of("other.v1.x"), None);
    }

    #[test]
    fn patterns_overlap_when_one_subject_matches_both() {
        assert!(overlap("a.*.c", "a.b.c"));
        assert!(overlap("a.*.c", "a.b.*"));
        assert!(overlap("a.>", "a.b.c"));
        assert!(overlap("a.b.c", "*.>"));
        assert!(!overlap("a.>", "a"));
        assert!(!overlap("a.*.c", "a.b.d"));
        assert!(!overlap("a.b", "a.b.c"));
        assert!(!overlap("$SRV.INFO", "$SRV.PING"));
        assert!(overlap("$SRV.INFO", "$SRV.INFO"));
    }

    /// A request subject captured by a stream would be answered by JetStream's PubAck instead
    /// of by the service; this guards against that mistake.
    #[test]
    fn every_durable_reads_a_stream_that_exists() {
        let streams: Vec<&str> = all_streams().iter().map(|s| s.name).collect();
        let by_kind = CONVERSATION_READERS.iter().flat_map(|r| r.durables());
        for d in [
            ROUTER_PRESENCE,
            BOT_MESSAGES,
            LEAD_CAPTURE_MESSAGES_LEFT,
            NOTIFICATION_MESSAGES,
            NOTIFICATION_MESSAGES_LEFT,
            CRM_EXPORT_LEADS,
        ]
        .into_iter()
        .chain(by_kind)
        {
            assert!(streams.contains(&d.stream), "{d:?}");
        }
    }

    /// A consumer by kind is named after the consumer it replaces and its kind, reads exactly
    /// its kind's events, and no two share a name.
    #[test]
    fn consumers_by_kind_are_named_after_what_they_replace_and_read() {
        let g = Uuid::new_v4();
        let mut names = std::collections::HashSet::new();
        for reader in CONVERSATION_READERS {
            assert_eq!(reader.replaces.stream, conversations_stream().name);
            let filtered = reader.filtered();
            assert_eq!(filtered.each.len(), reader.kinds.len());
            for ((kind, name), (durable, filter)) in reader.kinds.iter().zip(&filtered.each) {
                assert_eq!(*name, format!("{}-{}", reader.replaces.name, kind.as_str()));
                assert_eq!(durable.name, *name);
                assert!(names.insert(*name), "{name} twice");
                for other in ConversationEventKind::ALL {
                    let reads = matches(filter, &conversation_event(g, other));
                    assert_eq!(reads, other == *kind, "{name} and {other:?}");
                }
            }
        }
    }

    #[test]
    fn live_subjects_read_back_and_match_their_subscriptions() {
        let (g, c) = (Uuid::new_v4(), Uuid::new_v4());
        for kind in [
            Live::Message,
            Live::Typing,
            Live::Seen,
            Live::Whisper,
            Live::Watching,
            Live::Sync,
        ] {
            let s = live(g, c, kind);
            assert_eq!(live_parts(&s), Some((g, c, kind)));
            assert_eq!(group_of(&s), Some(g));
            assert!(matches(&live_of(g, c), &s));
            assert!(!matches(&live_of(g, Uuid::new_v4()), &s));
            assert!(!matches(&live_of(Uuid::new_v4(), c), &s));
            assert!(matches(&live_any(Group::Any), &s));
        }
        assert_eq!(live_parts(&message_created(g)), None);
        assert_eq!(live_parts(&format!("{}.x", live(g, c, Live::Typing))), None);
    }

    #[test]
    fn no_stream_captures_a_request_subject() {
        let g = Uuid::new_v4();
        let requests: Vec<String> = ConversationCommand::ALL
            .iter()
            .map(|c| conversation_command(g, *c))
            .chain(RoutingCommand::ALL.iter().map(|c| routing_command(g, *c)))
            .chain(InternalCommand::ALL.iter().map(|c| internal_command(g, *c)))
            .chain(BotCommand::ALL.iter().map(|c| bot_command(g, *c)))
            .chain(LeadCommand::ALL.iter().map(|c| lead_command(g, *c)))
            .chain(
                NotificationCommand::ALL
                    .iter()
                    .map(|c| notification_command(g, *c)),
            )
            .chain([notification_desktop(g)])
            .chain(CrmCommand::ALL.iter().map(|c| crm_command(g, *c)))
            .chain([
                message_post(g),
                presence_set_status(g),
                presence_get_status(g),
                presence_find_available(g),
                presence_board(g),
                presence_heartbeat(g),
                presence_connect(g),
                presence_device_closed(g),
                presence_device_idle(g),
            ])
            .chain([Live::Message, Live::Typing].map(|k| live(g, Uuid::new_v4(), k)))
            .collect();
        for stream in all_streams() {
            for pattern in &stream.subjects {
                for req in &requests {
                    assert!(!matches(pattern, req), "{} captures {req}", stream.name);
                }
            }
        }
    }
}
