//! Who may do what on the bus: the NATS permissions of each service, of an integrator and of the
//! operator's own user, built from the [`v1`] subjects. nats-server enforces them: every
//! connection authenticates with a user JWT that carries its permissions (`showroom-natsauth`
//! signs them; `docs/security.md` explains the model).
//!
//! A service may publish what it emits and the requests it sends, subscribe to what it serves
//! and to its own inbox, answer the requests it receives (by publishing to the inboxes of the
//! users that may send them), and use JetStream only on its own streams (create, update) and its
//! own durable consumers (by name). Nothing here is a wildcard over the whole subject space
//! except the operator's user.
//!
//! No user carries NATS's response permission (`allow_responses`). nats-server 2.9 keeps, for a
//! connection with one, an entry for every message delivered to it with a reply subject,
//! JetStream deliveries included (their reply is the ack subject), for two minutes, and scans
//! all of them on each delivery once there are 4 096: under load a service's NATS node spent
//! half its CPU there and the gateways fell a minute behind (`loadtest/README.md`, "The stall
//! found"). A publish right on the askers' inboxes answers the same requests at no cost.

use uuid::Uuid;

use crate::bot::BotCommand;
use crate::conversation::ConversationCommand;
use crate::delivery::CrmCommand;
use crate::internal::InternalCommand;
use crate::lead::LeadCommand;
use crate::notification::NotificationCommand;
use crate::retention::{PrivacyCommand, PrivacyOwner};
use crate::routing::RoutingCommand;
use crate::v1::{self, ByKind, Durable, Group, StreamSpec};

/// The seven services, by the name each registers and connects with.
pub const SERVICES: [&str; 7] = [
    "gateway",
    "presence",
    "router",
    "bot",
    "lead-capture",
    "notification",
    "crm-export",
];

/// What a NATS user may publish and subscribe to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects it may publish to (wildcards allowed).
    pub publish: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
    /// The subjects among `subscribe` whose requests it answers: it may publish to the inbox
    /// of every user that may send them (those inboxes are in `publish`).
    pub serves: Vec<String>,
    /// The prefix of its inboxes (`<prefix>.<id>`): replies can reach only it, so its client
    /// must be set to use it (async-nats `custom_inbox_prefix`, nats.py `inbox_prefix`).
    pub inbox: String,
}

/// The inbox prefix of a user named `name`: one token, `_INBOX_<name>`.
pub fn inbox_prefix(name: &str) -> String {
    format!("_INBOX_{name}")
}

impl Permissions {
    fn named(name: &str) -> Self {
        let inbox = inbox_prefix(name);
        Self {
            publish: Vec::new(),
            subscribe: vec![format!("{inbox}.>")],
            serves: Vec::new(),
            inbox,
        }
    }

    fn publish(mut self, subjects: impl IntoIterator<Item = String>) -> Self {
        self.publish.extend(subjects);
        self
    }

    fn subscribe(mut self, subjects: impl IntoIterator<Item = String>) -> Self {
        self.subscribe.extend(subjects);
        self
    }

    /// Serves requests on these subjects: subscribes and answers.
    fn serve(mut self, subjects: impl IntoIterator<Item = String>) -> Self {
        let subjects: Vec<String> = subjects.into_iter().collect();
        self.serves.extend(subjects.iter().cloned());
        self.subscribe(subjects)
    }

    /// Registers with the NATS service API (`$SRV.PING|INFO|STATS[.<name>[.<id>]]`).
    fn service_api(self, name: &str) -> Self {
        let verbs = ["PING", "INFO", "STATS"];
        let subjects = verbs.iter().flat_map(|v| {
            [
                format!("$SRV.{v}"),
                format!("$SRV.{v}.{name}"),
                format!("$SRV.{v}.{name}.*"),
            ]
        });
        self.serve(subjects.collect::<Vec<_>>())
    }

    /// Owns a stream: creates and updates it, and publishes its events.
    fn owns(self, spec: &StreamSpec) -> Self {
        let s = spec.name;
        self.publish([
            format!("$JS.API.STREAM.CREATE.{s}"),
            format!("$JS.API.STREAM.UPDATE.{s}"),
            format!("$JS.API.STREAM.INFO.{s}"),
        ])
        .publish(spec.subjects.clone())
    }

    /// Reads a stream through its own durable consumer.
    fn follows(self, d: Durable) -> Self {
        let (s, c) = (d.stream, d.name);
        self.publish([
            format!("$JS.API.STREAM.INFO.{s}"),
            format!("$JS.API.CONSUMER.INFO.{s}.{c}"),
            format!("$JS.API.CONSUMER.CREATE.{s}.{c}"),
            format!("$JS.API.CONSUMER.CREATE.{s}.{c}.>"),
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{s}.{c}"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{s}.{c}"),
            format!("$JS.ACK.{s}.{c}.>"),
        ])
    }

    /// Reads some kinds of conversation events through its own consumers, one per kind, and
    /// reads the position of the one consumer of the whole stream they replace (made by an
    /// earlier release), to start where it left off.
    fn follows_kinds(self, reader: ByKind) -> Self {
        let (s, c) = (reader.replaces.stream, reader.replaces.name);
        reader
            .durables()
            .fold(self, Self::follows)
            .publish([format!("$JS.API.CONSUMER.INFO.{s}.{c}")])
    }

    /// Creates and deletes integrators' durable consumers on LEADS (their names hold a
    /// credential id, so they cannot be listed one by one; see [`integrator_durable`]).
    fn manages_integrations(self) -> Self {
        let s = v1::leads_stream().name;
        self.publish([
            format!("$JS.API.CONSUMER.CREATE.{s}.*"),
            format!("$JS.API.CONSUMER.CREATE.{s}.*.>"),
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{s}.*"),
            format!("$JS.API.CONSUMER.INFO.{s}.*"),
            format!("$JS.API.CONSUMER.DELETE.{s}.*"),
        ])
    }

    /// Reads a whole stream from "now" with ordered consumers (ephemeral, named by the client).
    fn reads_ordered(self, spec: &StreamSpec) -> Self {
        let s = spec.name;
        self.publish([
            format!("$JS.API.STREAM.INFO.{s}"),
            format!("$JS.API.CONSUMER.CREATE.{s}"),
            format!("$JS.API.CONSUMER.CREATE.{s}.>"),
            format!("$JS.API.CONSUMER.INFO.{s}.*"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{s}.*"),
        ])
    }
}

fn all<C: Copy>(commands: &[C], subject: fn(Group, C) -> String) -> Vec<String> {
    commands.iter().map(|c| subject(Group::Any, *c)).collect()
}

fn conversation_commands() -> Vec<String> {
    all(&ConversationCommand::ALL, v1::conversation_command)
}
fn routing_commands() -> Vec<String> {
    all(&RoutingCommand::ALL, v1::routing_command)
}
fn internal_commands() -> Vec<String> {
    all(&InternalCommand::ALL, v1::internal_command)
}
fn bot_commands() -> Vec<String> {
    all(&BotCommand::ALL, v1::bot_command)
}
fn lead_commands() -> Vec<String> {
    all(&LeadCommand::ALL, v1::lead_command)
}
fn notification_commands() -> Vec<String> {
    all(&NotificationCommand::ALL, v1::notification_command)
}
fn crm_commands() -> Vec<String> {
    all(&CrmCommand::ALL, v1::crm_command)
}
/// The erase and export requests one owner of shopper data serves (every owner's, for `None`:
/// the gateway sends them all).
fn privacy_commands(owner: Option<PrivacyOwner>) -> Vec<String> {
    PrivacyOwner::ALL
        .iter()
        .filter(|o| owner.is_none_or(|x| x == **o))
        .flat_map(|o| {
            PrivacyCommand::ALL
                .iter()
                .map(|c| v1::privacy_command(Group::Any, *o, *c))
        })
        .collect()
}

/// The permissions of service `name`, or `None` for a name that is not one of [`SERVICES`]:
/// what it does ([`duties`]), and a publish right on the inbox of each user that may send it a
/// request (every service whose publish rights overlap what it serves, and the operator).
pub fn service(name: &str) -> Option<Permissions> {
    let mut p = duties(name)?;
    if p.serves.is_empty() {
        return Some(p);
    }
    let askers = SERVICES.iter().filter_map(|asker| duties(asker));
    let mut inboxes = vec![operator_user().inbox];
    for asker in askers {
        let asks = asker
            .publish
            .iter()
            .any(|sent| p.serves.iter().any(|served| v1::overlap(sent, served)));
        if asks && !inboxes.contains(&asker.inbox) {
            inboxes.push(asker.inbox);
        }
    }
    p.publish
        .extend(inboxes.into_iter().map(|i| format!("{i}.>")));
    Some(p)
}

/// What service `name` itself sends, serves and reads, before the replies to its askers.
fn duties(name: &str) -> Option<Permissions> {
    let any = Group::Any;
    let p = Permissions::named(name).service_api(name);
    Some(match name {
        "gateway" => p
            .owns(&v1::messages_stream())
            .reads_ordered(&v1::conversations_stream())
            .reads_ordered(&v1::messages_stream())
            .reads_ordered(&v1::presence_stream())
            .reads_ordered(&v1::internal_stream())
            .serve([v1::message_post(any)])
            .subscribe([
                v1::live_any(any),
                v1::notification_desktop(any),
                v1::conversation_any(any),
                v1::internal_any(any),
                v1::internal_message(any),
                v1::presence_changed(any),
            ])
            .publish([
                v1::live_any(any),
                v1::presence_heartbeat(any),
                v1::presence_device_closed(any),
                v1::presence_device_idle(any),
                v1::presence_connect(any),
                v1::presence_set_status(any),
                v1::presence_get_status(any),
                v1::presence_board(any),
                "$SRV.INFO".to_string(),
            ])
            .publish(conversation_commands())
            .publish(routing_commands())
            .publish(internal_commands())
            .publish(bot_commands())
            .publish(lead_commands())
            .publish(notification_commands())
            .publish(crm_commands())
            .publish(privacy_commands(None)),
        "presence" => p
            .owns(&v1::presence_stream())
            .follows_kinds(v1::PRESENCE_CHATS)
            .serve([
                v1::presence_connect(any),
                v1::presence_set_status(any),
                v1::presence_get_status(any),
                v1::presence_find_available(any),
                v1::presence_board(any),
            ])
            .subscribe([
                v1::presence_heartbeat(any),
                v1::presence_device_closed(any),
                v1::presence_device_idle(any),
            ]),
        "router" => p
            .owns(&v1::conversations_stream())
            .owns(&v1::internal_stream())
            .follows(v1::ROUTER_PRESENCE)
            .serve(conversation_commands())
            .serve(routing_commands())
            .serve(internal_commands())
            .serve(privacy_commands(Some(PrivacyOwner::Router)))
            // Every replica follows every change itself (`services/router/src/availability.rs`).
            .subscribe([v1::presence_changed(any)])
            .publish([v1::presence_find_available(any)]),
        "bot" => p
            .owns(&v1::bot_stream())
            .follows_kinds(v1::BOT_CONVERSATIONS)
            .follows(v1::BOT_MESSAGES)
            .serve(bot_commands())
            .serve(privacy_commands(Some(PrivacyOwner::Bot)))
            .publish([
                v1::conversation_command(any, ConversationCommand::Route),
                v1::message_post(any),
                v1::lead_command(any, LeadCommand::TradeIn),
            ]),
        "lead-capture" => p
            .owns(&v1::leads_stream())
            .follows_kinds(v1::LEAD_CAPTURE_CONVERSATIONS)
            .follows(v1::LEAD_CAPTURE_MESSAGES_LEFT)
            .serve(lead_commands())
            .serve(privacy_commands(Some(PrivacyOwner::LeadCapture))),
        "notification" => p
            .follows_kinds(v1::NOTIFICATION_CONVERSATIONS)
            .follows(v1::NOTIFICATION_MESSAGES)
            .follows(v1::NOTIFICATION_MESSAGES_LEFT)
            .serve(notification_commands())
            .serve(privacy_commands(Some(PrivacyOwner::Notification)))
            .publish([v1::notification_desktop(any)]),
        "crm-export" => p
            .owns(&v1::deliveries_stream())
            .follows(v1::CRM_EXPORT_LEADS)
            .serve(crm_commands())
            .serve(privacy_commands(Some(PrivacyOwner::CrmExport)))
            .manages_integrations(),
        _ => return None,
    })
}

/// The operator's own user (the `nats` CLI, tests): everything. Never handed to a service or
/// an integrator.
pub fn operator_user() -> Permissions {
    Permissions {
        publish: vec![">".into()],
        subscribe: vec![">".into()],
        serves: Vec::new(),
        inbox: "_INBOX".into(),
    }
}

/// The durable consumer of an integrator credential on `LEADS`: its group's lead events, kept
/// while the integrator is away.
pub fn integrator_durable(credential: Uuid) -> String {
    format!("integration-{}", credential.simple())
}

/// An integrator of `group`, credential `credential`: its group's lead and delivery events live,
/// and its own durable consumer of the group's leads; nothing else (no other group, no
/// publishing but its consumer's pulls and acks, no requests to services).
pub fn integrator(group: Uuid, credential: Uuid) -> Permissions {
    let durable = integrator_durable(credential);
    let stream = v1::leads_stream().name;
    Permissions::named(&credential.simple().to_string())
        .subscribe([
            format!("{}.{group}.lead.>", v1::ROOT),
            format!("{}.{group}.delivery.>", v1::ROOT),
        ])
        .publish([
            format!("$JS.API.CONSUMER.INFO.{stream}.{durable}"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"),
            format!("$JS.ACK.{stream}.{durable}.>"),
        ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn may(subjects: &[String], subject: &str) -> bool {
        subjects.iter().any(|p| v1::matches(p, subject))
    }

    #[test]
    fn every_service_has_permissions_and_no_blanket_wildcard() {
        for name in SERVICES {
            let p = service(name).unwrap();
            for s in p.publish.iter().chain(&p.subscribe) {
                assert!(
                    !s.starts_with('>') && !s.starts_with("*.") && s != "$JS.API.>",
                    "{name}: {s}"
                );
            }
            assert!(may(&p.subscribe, &format!("_INBOX_{name}.abc")));
            assert!(
                !may(&p.subscribe, "_INBOX.abc"),
                "{name} reads others' replies"
            );
        }
        assert!(service("nobody").is_none());
    }

    #[test]
    fn services_reach_only_what_they_use() {
        let g = Uuid::new_v4();
        let notification = service("notification").unwrap();
        assert!(!may(
            &notification.publish,
            &v1::conversation_command(g, ConversationCommand::Accept)
        ));
        assert!(may(&notification.publish, &v1::notification_desktop(g)));
        let leads = service("lead-capture").unwrap();
        assert!(!may(&leads.subscribe, &v1::message_created(g)));
        assert!(may(&leads.publish, &v1::lead_created(g)));
        // A consumer of its own, not another service's.
        assert!(may(
            &leads.publish,
            "$JS.API.CONSUMER.MSG.NEXT.CONVERSATIONS.lead-capture-conversations-missed"
        ));
        assert!(!may(
            &leads.publish,
            "$JS.API.CONSUMER.MSG.NEXT.CONVERSATIONS.presence-chats-missed"
        ));
        // It may read where the consumer that its own replace left off, but not pull from it,
        // and not read another service's.
        assert!(may(
            &leads.publish,
            "$JS.API.CONSUMER.INFO.CONVERSATIONS.lead-capture-conversations"
        ));
        assert!(!may(
            &leads.publish,
            "$JS.API.CONSUMER.MSG.NEXT.CONVERSATIONS.lead-capture-conversations"
        ));
        assert!(!may(
            &leads.publish,
            "$JS.API.CONSUMER.INFO.CONVERSATIONS.presence-chats"
        ));
        assert!(!may(&leads.publish, "$JS.API.STREAM.DELETE.LEADS"));
        let router = service("router").unwrap();
        assert!(may(
            &router.subscribe,
            &v1::conversation_command(g, ConversationCommand::Accept)
        ));
        assert!(!may(&router.publish, &v1::lead_created(g)));
    }

    #[test]
    fn an_integrator_reads_its_group_only_and_publishes_nothing_else() {
        let (a, b, cred) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let p = integrator(a, cred);
        assert!(may(&p.subscribe, &v1::lead_created(a)));
        assert!(may(&p.subscribe, &v1::delivery_event(a, "delivered")));
        assert!(!may(&p.subscribe, &v1::lead_created(b)));
        assert!(!may(&p.subscribe, &v1::message_created(a)));
        assert!(!may(&p.subscribe, ">"));
        assert!(!may(&p.publish, &v1::lead_created(a)));
        assert!(!may(&p.publish, &v1::lead_command(a, LeadCommand::Create)));
        let durable = integrator_durable(cred);
        assert!(may(
            &p.publish,
            &format!("$JS.API.CONSUMER.MSG.NEXT.LEADS.{durable}")
        ));
        assert!(!may(
            &p.publish,
            &format!("$JS.API.CONSUMER.CREATE.LEADS.{durable}")
        ));
        assert!(p.serves.is_empty());
        assert!(!may(&p.publish, "_INBOX_gateway.abc"));
    }

    #[test]
    fn a_service_answers_the_inboxes_of_those_who_may_ask_it_only() {
        let router = service("router").unwrap();
        // The gateway and the bot send it commands; the operator may ask anything.
        assert!(may(&router.publish, "_INBOX_gateway.abc.1"));
        assert!(may(&router.publish, "_INBOX_bot.abc.1"));
        assert!(may(&router.publish, "_INBOX.abc.1"));
        // Nobody else asks the router, so it cannot reach their inboxes.
        assert!(!may(&router.publish, "_INBOX_crm-export.abc.1"));
        assert!(!may(&router.publish, "_INBOX_notification.abc.1"));
        // The presence service answers the router's `find_available`.
        assert!(may(
            &service("presence").unwrap().publish,
            "_INBOX_router.x"
        ));
        // The gateway answers the bot's `message.post`.
        assert!(may(&service("gateway").unwrap().publish, "_INBOX_bot.x"));
        for name in SERVICES {
            let p = service(name).unwrap();
            assert!(!p.serves.is_empty(), "{name} serves the service API");
            assert!(
                p.serves.iter().all(|s| p.subscribe.contains(s)),
                "{name} serves what it does not subscribe to"
            );
            assert!(!may(
                &p.publish,
                &format!("{}.x", integrator(Uuid::nil(), Uuid::nil()).inbox)
            ));
        }
    }
}
