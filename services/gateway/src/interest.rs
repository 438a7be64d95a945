//! Fan-out by interest: this gateway receives the messages and typing of only the conversations
//! its sockets watch.
//!
//! Every stored message, typing signal, read mark (`seen.rs`), whisper and change of who is
//! watching (`whisper.rs`) is also published, by the gateway that has it, as a live copy on
//! `showroom.v1.<g>.live.<conversation>.<kind>` (`v1::live`, core NATS, in no stream), through
//! [`LiveCopies`]. That gateway hands the copy to its own sockets in process and publishes it on
//! a NATS connection of its own that the server never echoes to (`no_echo`), on which this task
//! also subscribes: a message reaches the sockets of the gateway it was sent on without a round
//! trip through NATS and a decode, and the other gateways' through their subscriptions. The hub
//! tells this task when a conversation gets its first watcher here
//! ([`Interest::Watch`]) or loses its last ([`Interest::Unwatch`]); the task then subscribes to
//! that conversation's live subjects (`v1::live_of`) or drops the subscription, so NATS sends
//! each gateway only what its sockets show. Before this, every gateway decoded every message of
//! every dealer group (`loadtest fanout` measures the share each one receives). Every
//! [`FORGET_EVERY`] it also has the hub let go of chats that closed [`crate::hub::CLOSED_GRACE`]
//! ago ([`Hub::forget_closed`]), so a console open for a whole shift does not keep a
//! subscription for every chat it ever had.
//!
//! Core NATS delivers at most once, so three things are caught up from Postgres, the source of
//! truth, through the socket's writer ([`Hub::catch_up`], `ws::order`'s `Mark::Tail`):
//! - a new subscription: once the server has it (`Bus::round_trip`), every watcher reads what
//!   follows its position, so a message published just before is not missed;
//! - a reconnection to NATS, or a subscription that fell behind and dropped frames
//!   (`Bus::losses`): every watcher of every conversation catches up;
//! - a frame that overtook another (two writers) is held and its gap read, as before.
//!
//! The durable record stays the MESSAGES stream (`message.created`), which the bot, the
//! notification service and integrators read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use showroom_bus::{Bus, BusError};
use showroom_proto::Envelope;
use showroom_proto::message::{Message, Seen, Watching, Whisper};
use showroom_proto::typing::Typing;
use showroom_proto::v1::{self, Live};
use showroom_telemetry::metrics::names;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::hub::{Hub, Interest, shrink};

/// The most changes applied before the new subscriptions are confirmed together.
const BATCH: usize = 1024;

/// How long to wait before trying again when the server did not confirm new subscriptions.
const RETRY: Duration = Duration::from_millis(500);

/// How often the consoles of chats closed [`crate::hub::CLOSED_GRACE`] ago stop following them.
const FORGET_EVERY: Duration = Duration::from_secs(2);

/// Follows the hub's changes of interest until shutdown: subscribes, unsubscribes, has the
/// watchers catch up (module docs), and has the hub let go of closed chats
/// ([`Hub::forget_closed`]).
pub fn follow(
    bus: Bus,
    hub: Arc<Hub>,
    mut changes: mpsc::UnboundedReceiver<Interest>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    let forwards = tracker.clone();
    tracker.spawn(async move {
        let mut subscribed: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
        let mut losses = bus.losses();
        let mut losses_open = true;
        let mut batch = Vec::with_capacity(64);
        let mut forget = tokio::time::interval(FORGET_EVERY);
        forget.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        metrics::gauge!(names::LIVE_CONVERSATIONS).set(0.0);
        for kind in [Live::Message, Live::Typing, Live::Seen] {
            metrics::counter!(names::LIVE_EVENTS, "kind" => kind.as_str()).absolute(0);
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                n = changes.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    let mut fresh = Vec::new();
                    for change in batch.drain(..) {
                        match change {
                            Interest::Watch { group, conversation } => {
                                if subscribed.contains_key(&conversation) {
                                    continue;
                                }
                                match bus.client.subscribe(v1::live_of(group, conversation)).await {
                                    Ok(sub) => {
                                        let task = forwards.spawn(forward(
                                            sub,
                                            group,
                                            hub.clone(),
                                            shutdown.clone(),
                                        ));
                                        subscribed.insert(conversation, task);
                                        fresh.push(conversation);
                                    }
                                    Err(e) => tracing::warn!(error = %e, "cannot subscribe to a conversation's live events"),
                                }
                            }
                            Interest::Unwatch(conversation) => {
                                // Dropping the subscription (the aborted task holds it)
                                // unsubscribes.
                                if let Some(task) = subscribed.remove(&conversation) {
                                    task.abort();
                                }
                            }
                        }
                    }
                    metrics::gauge!(names::LIVE_CONVERSATIONS).set(subscribed.len() as f64);
                    shrink(&mut subscribed);
                    if !fresh.is_empty() {
                        confirm(&bus, &shutdown).await;
                        for c in fresh {
                            hub.catch_up(c);
                        }
                    }
                }
                _ = forget.tick() => hub.forget_closed(std::time::Instant::now()),
                r = losses.changed(), if losses_open => match r {
                    Ok(()) => {
                        tracing::info!("live events may have been lost; watchers catch up");
                        hub.catch_up_all();
                    }
                    // A bus connected elsewhere reports no losses.
                    Err(_) => losses_open = false,
                },
            }
        }
        for (_, task) in subscribed {
            task.abort();
        }
    });
}

/// Waits until NATS has the new subscriptions (retrying while it does not answer, e.g. during
/// a reconnection, after which every watcher catches up anyway).
async fn confirm(bus: &Bus, shutdown: &CancellationToken) {
    for _ in 0..10 {
        let nobody = v1::live(Uuid::nil(), Uuid::new_v4(), Live::Sync);
        match bus.round_trip(nobody).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "new subscriptions not confirmed yet"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Hands one conversation's live events from other gateways to the hub, in the order NATS
/// delivers them.
async fn forward(
    mut sub: async_nats::Subscriber,
    group: Uuid,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = sub.next() => match m { Some(m) => m, None => break },
        };
        let Some((g, _, kind)) = v1::live_parts(&msg.subject) else {
            continue;
        };
        if g != group {
            continue;
        }
        metrics::counter!(names::LIVE_EVENTS, "kind" => kind.as_str()).increment(1);
        match kind {
            Live::Message => {
                // The fan-out continues the publisher's trace; a socket's write of the message
                // frame is a child of this span (`ws::writer`).
                let span = tracing::info_span!(
                    "nats.fanout",
                    messaging.system = "nats",
                    live = "message",
                    subject = %msg.subject,
                );
                showroom_bus::trace::follow(&span, msg.headers.as_ref());
                span.in_scope(|| hand::<Message>(&hub, group, &msg));
            }
            Live::Typing => hand::<Typing>(&hub, group, &msg),
            Live::Seen => hand::<Seen>(&hub, group, &msg),
            Live::Whisper => hand::<Whisper>(&hub, group, &msg),
            Live::Watching => hand::<Watching>(&hub, group, &msg),
            Live::Sync => {}
        }
    }
}

/// Decodes one live copy of group `group` and hands it to the hub; another group's, or one that
/// does not decode, is dropped.
fn hand<E: LiveEvent + DeserializeOwned>(hub: &Hub, group: Uuid, msg: &async_nats::Message) {
    match showroom_bus::decode::<E>(&msg.payload) {
        Ok(env) if env.tenant == group => env.data.hand(hub),
        Ok(_) => tracing::warn!(subject = %msg.subject, "live copy of another group dropped"),
        Err(e) => {
            tracing::warn!(error = %e, subject = %msg.subject, "undecodable live copy skipped")
        }
    }
}

/// An event a conversation's watchers get live ([`LiveCopies::publish`]).
pub trait LiveEvent: Serialize {
    /// Its kind, the last token of its subject.
    const KIND: Live;
    /// The conversation whose watchers get it.
    fn conversation(&self) -> Uuid;
    /// Gives it to this gateway's sockets that watch the conversation.
    fn hand(&self, hub: &Hub);
}

/// `LiveEvent` for `$event`, of kind `$kind`, handed to the hub's `$on`.
macro_rules! live_event {
    ($event:ty, $kind:expr, $on:ident) => {
        impl LiveEvent for $event {
            const KIND: Live = $kind;
            fn conversation(&self) -> Uuid {
                self.conversation_id
            }
            fn hand(&self, hub: &Hub) {
                hub.$on(self);
            }
        }
    };
}

live_event!(Message, Live::Message, on_message);
live_event!(Typing, Live::Typing, on_typing);
live_event!(Seen, Live::Seen, on_seen);
live_event!(Whisper, Live::Whisper, on_whisper);
live_event!(Watching, Live::Watching, on_watching);

/// Publishes live copies: to this gateway's own sockets in process, and to the other gateways
/// through NATS on the live connection, which never sends this gateway what it published
/// itself (`no_echo`; the module's description).
#[derive(Clone)]
pub struct LiveCopies {
    bus: Bus,
    hub: Arc<Hub>,
}

impl LiveCopies {
    /// Over `bus`, the live connection (connected without echo, [`Bus::connect_without_echo`]),
    /// which [`follow`] subscribes on.
    pub fn new(bus: Bus, hub: Arc<Hub>) -> Self {
        Self { bus, hub }
    }

    /// Gives `env`'s event to this gateway's watchers of its conversation, then publishes it
    /// for the other gateways' (best-effort: core NATS; a watcher that misses one catches up
    /// from Postgres where it matters, module docs).
    pub async fn publish<E: LiveEvent>(&self, env: &Envelope<E>) -> Result<(), BusError> {
        env.data.hand(&self.hub);
        let subject = v1::live(env.tenant, env.data.conversation(), E::KIND);
        self.bus.publish_signal(subject, env).await
    }
}
