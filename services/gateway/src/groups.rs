//! Fan-out by dealer group: this gateway receives the conversation, internal chat and presence
//! events, and the desktop notices, of only the dealer groups whose sockets it holds.
//!
//! A socket joins its group before it is registered with the hub ([`Groups::join`], from
//! `ws::open`). The group's first socket here subscribes to the group's [`Feed`]s (core NATS:
//! the same messages the streams store, as they are published) and waits until the server has
//! the subscriptions (`Bus::round_trip`), so nothing published after the socket's first read
//! is missed. The [`Hold`] it gets back lets the group go when the socket ends; a group with no
//! socket for [`LINGER`] is dropped with its subscriptions, so sockets that come and go do not
//! subscribe and unsubscribe each time.
//!
//! A group's feeds are one task. `conversation.*` and `internal.*` are one subscription each,
//! so a group's events reach the hub in the order NATS has them; the requests on those subjects
//! are skipped. Core NATS delivers at most once, so when messages may have been lost
//! (`Bus::losses`: a reconnection, e.g. when a NATS node dies, or a subscription that fell
//! behind), each group first reads what its streams stored since shortly before the loss
//! (`Bus::replay`), then goes on. A stream read whole (CONVERSATIONS and INTERNAL, which
//! cannot be filtered by group) is read once per loss for all the groups that lost events then:
//! the first group to ask reads it, the others take its answer ([`SHARED_FOR`]), so a gateway
//! with many groups does not read the same window once per group right after a fault. The
//! envelope ids of the last [`RECENT`] events keep an event that came both ways from being
//! handed out twice. Desktop notices are in no stream and are not read again.
//!
//! Before this, every gateway followed the whole of each stream and decoded every group's
//! events (`loadtest fanout` measures the share each one receives).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use showroom_bus::async_nats::{self, HeaderMap, Subscriber, jetstream};
use showroom_bus::{Bus, BusError, Loss};
use showroom_proto::conversation::{ConversationEvent, ConversationEventKind};
use showroom_proto::internal::{InternalEvent, InternalEventKind, InternalMessage};
use showroom_proto::notification::DesktopNotices;
use showroom_proto::presence::PresenceChanged;
use showroom_proto::v1::{self, Live};
use showroom_telemetry::metrics::names;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::hub::{Hub, shrink};

/// How long a group with no socket here keeps its subscriptions.
pub const LINGER: Duration = Duration::from_secs(60);

/// How often groups past their linger are dropped.
const SWEEP: Duration = Duration::from_secs(15);

/// How many events' ids are remembered, so one read again after a loss is handed out once.
pub const RECENT: usize = 8192;

/// How far before a loss a group reads its streams again (clocks differ, and a subscription
/// falls behind before the client notices).
const MARGIN: TimeDelta = TimeDelta::seconds(10);

/// How long a whole stream's window read after a loss is kept for the other groups that lost
/// events at the same moment.
pub const SHARED_FOR: Duration = Duration::from_secs(30);

/// How long a join waits for NATS to take a group's subscriptions before the socket goes on
/// (the group's task keeps trying, and then reads what it missed).
const CONFIRM: Duration = Duration::from_secs(3);

/// What a gateway subscribes to for each dealer group it holds sockets of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// Conversation events (stream CONVERSATIONS).
    Conversations,
    /// Internal chat events (stream INTERNAL).
    Internal,
    /// Internal chat messages (stream MESSAGES, `message.internal`).
    InternalMessages,
    /// Agents' presence (stream PRESENCE).
    Presence,
    /// Desktop notices (in no stream).
    Notices,
}

impl Feed {
    const ALL: [Feed; 5] = [
        Feed::Conversations,
        Feed::Internal,
        Feed::InternalMessages,
        Feed::Presence,
        Feed::Notices,
    ];

    /// The subject subscribed to for group `g`.
    fn subject(self, g: Uuid) -> String {
        match self {
            Feed::Conversations => v1::conversation_any(g),
            Feed::Internal => v1::internal_any(g),
            Feed::InternalMessages => v1::internal_message(g),
            Feed::Presence => v1::presence_changed(g),
            Feed::Notices => v1::notification_desktop(g),
        }
    }

    /// The metric label: the stream's name (`notices` for the notices).
    fn label(self) -> &'static str {
        static LABELS: LazyLock<[&'static str; 5]> = LazyLock::new(|| Feed::ALL.map(Feed::name));
        LABELS[self as usize]
    }

    fn name(self) -> &'static str {
        match self {
            Feed::Conversations => v1::conversations_stream().name,
            Feed::Internal => v1::internal_stream().name,
            Feed::InternalMessages => v1::messages_stream().name,
            Feed::Presence => v1::presence_stream().name,
            Feed::Notices => "notices",
        }
    }

    /// Where group `g`'s events of this feed are read again after a loss: the stream and its
    /// filter, `None` for the notices. JetStream 2.9 takes no filter wider than one of a
    /// stream's subjects, so a stream with a subject per event kind is read whole and other
    /// groups' events are skipped (only the moments around a loss are read).
    fn stored(self, g: Uuid) -> Option<(&'static str, String)> {
        let filter = match self {
            Feed::Conversations | Feed::Internal => String::new(),
            Feed::InternalMessages | Feed::Presence => self.subject(g),
            Feed::Notices => return None,
        };
        Some((self.label(), filter))
    }
}

/// The ids of the last [`RECENT`] events handed out.
#[derive(Default)]
struct Recent {
    ids: HashSet<Uuid>,
    order: VecDeque<Uuid>,
}

impl Recent {
    /// Whether `id` was not handed out (lately); remembers it.
    fn first_time(&mut self, id: Uuid) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > RECENT
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

/// A message of one of a group's feeds, live or read again.
#[derive(Clone, Copy)]
struct Arrival<'a> {
    group: Uuid,
    feed: Feed,
    subject: &'a str,
    payload: &'a [u8],
    headers: Option<&'a HeaderMap>,
}

struct Held {
    /// This gateway's sockets of the group.
    sockets: usize,
    /// Since when it has none.
    idle_since: Option<Instant>,
    /// The group's feeds.
    task: JoinHandle<()>,
}

struct Shared {
    bus: Bus,
    hub: Arc<Hub>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    held: Mutex<HashMap<Uuid, Held>>,
    /// One group's first join at a time (two sockets of a new group subscribe once).
    joining: tokio::sync::Mutex<()>,
    recent: Mutex<Recent>,
    /// Whole streams' windows read after a loss, by stream and start, shared by the groups.
    read_whole: Mutex<HashMap<WindowOf, (Instant, WholeRead)>>,
}

/// A stream and where a read of it starts.
type WindowOf = (&'static str, DateTime<Utc>);

/// One whole stream's window, read once by whichever group asks first.
type WholeRead = Arc<tokio::sync::OnceCell<Arc<Vec<jetstream::Message>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The dealer groups this gateway follows (module docs).
#[derive(Clone)]
pub struct Groups(Arc<Shared>);

/// A socket's hold on its group's feeds; dropping it lets the group go.
pub struct Hold {
    shared: Arc<Shared>,
    group: Uuid,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut held = lock(&self.shared.held);
        if let Some(h) = held.get_mut(&self.group) {
            h.sockets = h.sockets.saturating_sub(1);
            if h.sockets == 0 {
                h.idle_since = Some(Instant::now());
            }
        }
    }
}

impl Groups {
    /// Follows no group yet; drops groups past their linger until shutdown.
    pub fn start(
        bus: Bus,
        hub: Arc<Hub>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let shared = Arc::new(Shared {
            bus,
            hub,
            tracker: tracker.clone(),
            shutdown,
            held: Mutex::default(),
            joining: tokio::sync::Mutex::new(()),
            recent: Mutex::default(),
            read_whole: Mutex::default(),
        });
        metrics::gauge!(names::FOLLOWED_GROUPS).set(0.0);
        for feed in Feed::ALL {
            metrics::counter!(names::FOLLOWED_EVENTS, "stream" => feed.label()).absolute(0);
            if feed.stored(Uuid::nil()).is_some() {
                metrics::counter!(names::FOLLOWED_READS, "stream" => feed.label()).absolute(0);
            }
        }
        let s = shared.clone();
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP);
            loop {
                tokio::select! {
                    _ = s.shutdown.cancelled() => break,
                    _ = tick.tick() => s.sweep(LINGER),
                }
            }
            for (_, h) in lock(&s.held).drain() {
                h.task.abort();
            }
        });
        Self(shared)
    }

    /// Joins `group` for one socket: once this returns, the group's events published from now
    /// on reach the hub (module docs).
    pub async fn join(&self, group: Uuid) -> Hold {
        let s = &self.0;
        // Made only once the socket counts, so a join dropped while it waits takes nothing.
        let hold = || Hold {
            shared: s.clone(),
            group,
        };
        if s.enter(group) {
            return hold();
        }
        let _one = s.joining.lock().await;
        if s.enter(group) {
            return hold();
        }
        let joined = Utc::now();
        // Losses from here on are this group's to read again.
        let mut losses = s.bus.losses();
        losses.borrow_and_update();
        let subs = match tokio::time::timeout(CONFIRM, s.subscribe(group)).await {
            Ok(Ok(subs)) => Some(subs),
            Ok(Err(e)) => {
                tracing::warn!(%group, error = %e, "cannot follow the group yet; trying again");
                None
            }
            Err(_) => {
                tracing::warn!(%group, "NATS did not take the group's subscriptions in time; trying again");
                None
            }
        };
        let task = s
            .tracker
            .spawn(follow(s.clone(), group, subs, losses, joined));
        let mut held = lock(&s.held);
        held.insert(
            group,
            Held {
                sockets: 1,
                idle_since: None,
                task,
            },
        );
        metrics::gauge!(names::FOLLOWED_GROUPS).set(held.len() as f64);
        hold()
    }
}

impl Shared {
    /// One more socket of a group already followed; `false` when it is not.
    fn enter(&self, group: Uuid) -> bool {
        match lock(&self.held).get_mut(&group) {
            Some(h) => {
                h.sockets += 1;
                h.idle_since = None;
                true
            }
            None => false,
        }
    }

    /// Drops the groups without a socket for `linger`.
    fn sweep(&self, linger: Duration) {
        let mut held = lock(&self.held);
        held.retain(|_, h| {
            let keep = h.idle_since.is_none_or(|t| t.elapsed() < linger);
            if !keep {
                // Its subscriptions are dropped with the task.
                h.task.abort();
            }
            keep
        });
        shrink(&mut held);
        metrics::gauge!(names::FOLLOWED_GROUPS).set(held.len() as f64);
        drop(held);
        let mut whole = lock(&self.read_whole);
        whole.retain(|_, (at, _)| at.elapsed() < SHARED_FOR);
        shrink(&mut whole);
    }

    /// Subscribes to group `g`'s feeds and waits until the server has them.
    async fn subscribe(&self, g: Uuid) -> anyhow::Result<Vec<(Feed, Subscriber)>> {
        let mut subs = Vec::with_capacity(Feed::ALL.len());
        for feed in Feed::ALL {
            subs.push((feed, self.bus.client.subscribe(feed.subject(g)).await?));
        }
        self.bus
            .round_trip(v1::live(Uuid::nil(), Uuid::new_v4(), Live::Sync))
            .await?;
        Ok(subs)
    }

    /// Hands group `g`'s events stored since `since` to the hub (those not handed out yet),
    /// trying again while the streams do not answer (a NATS node is being replaced).
    async fn replay(&self, g: Uuid, since: DateTime<Utc>) {
        for feed in Feed::ALL {
            let Some((stream, filter)) = feed.stored(g) else {
                continue;
            };
            let mut pause = Duration::from_millis(100);
            let events = loop {
                let read = match filter.is_empty() {
                    true => self.read_whole(stream, since).await,
                    false => self.read(stream, &filter, since).await.map(Arc::new),
                };
                match read {
                    Ok(events) => break events,
                    Err(e) => {
                        tracing::warn!(%g, stream, error = %e, "cannot read the group's events again yet");
                    }
                }
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(2));
            };
            for m in events.iter() {
                self.deliver(&Arrival {
                    group: g,
                    feed,
                    subject: &m.subject,
                    payload: &m.payload,
                    headers: m.headers.as_ref(),
                });
            }
        }
    }

    /// Stream `stream` from `since` to its end, whole: read once, by the first to ask, for
    /// every group that asks until the sweep after [`SHARED_FOR`] drops it (they lost events at
    /// the same moment).
    async fn read_whole(
        &self,
        stream: &'static str,
        since: DateTime<Utc>,
    ) -> Result<Arc<Vec<jetstream::Message>>, BusError> {
        // Windows older than SHARED_FOR go with the sweep.
        let cell = lock(&self.read_whole)
            .entry((stream, since))
            .or_insert_with(|| (Instant::now(), WholeRead::default()))
            .1
            .clone();
        cell.get_or_try_init(|| async { self.read(stream, "", since).await.map(Arc::new) })
            .await
            .cloned()
    }

    /// Stream `stream` from `since` to its end, only the subject `filter` (all for `""`).
    async fn read(
        &self,
        stream: &'static str,
        filter: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<jetstream::Message>, BusError> {
        metrics::counter!(names::FOLLOWED_READS, "stream" => stream).increment(1);
        self.bus.replay(stream, filter.to_string(), since).await
    }

    /// Hands one message of a group's feed to the hub, if it is an event not handed out yet.
    fn deliver(&self, a: &Arrival<'_>) {
        if v1::group_of(a.subject) != Some(a.group) {
            return;
        }
        let last = a.subject.rsplit('.').next().unwrap_or_default();
        match a.feed {
            Feed::Conversations => {
                if ConversationEventKind::ALL
                    .iter()
                    .any(|k| k.as_str() == last)
                {
                    self.hand(a, |h, _, e: ConversationEvent| h.on_conversation(&e));
                }
            }
            Feed::Internal => {
                if InternalEventKind::ALL.iter().any(|k| k.as_str() == last) {
                    self.hand(a, |h, _, e: InternalEvent| h.on_internal(&e));
                }
            }
            Feed::InternalMessages => {
                self.hand(a, |h, _, m: InternalMessage| h.on_internal_message(&m))
            }
            Feed::Presence => self.hand(a, |h, g, p: PresenceChanged| h.on_presence(g, &p)),
            Feed::Notices => self.hand(a, |h, _, n: DesktopNotices| {
                n.iter().for_each(|n| h.on_notice(n))
            }),
        }
    }

    fn hand<T: DeserializeOwned>(&self, a: &Arrival<'_>, deliver: impl FnOnce(&Hub, Uuid, T)) {
        let Arrival {
            group: g,
            feed,
            subject,
            payload,
            headers,
        } = *a;
        let stream = feed.label();
        match showroom_bus::decode::<T>(payload) {
            Ok(env) if env.tenant == g => {
                if !lock(&self.recent).first_time(env.id) {
                    return;
                }
                let age = (Utc::now() - env.time).as_seconds_f64().max(0.0);
                metrics::gauge!(names::FOLLOWED_EVENT_AGE, "stream" => stream).set(age);
                // The fan-out continues the publisher's trace; a socket's write of a message
                // frame is a child of this span (`ws::writer`).
                let span = tracing::info_span!(
                    "nats.fanout",
                    messaging.system = "nats",
                    stream,
                    subject = %subject,
                );
                showroom_bus::trace::follow(&span, headers);
                span.in_scope(|| deliver(&self.hub, g, env.data));
            }
            Ok(_) => tracing::warn!(subject, "event of another group dropped"),
            Err(e) => tracing::warn!(stream, error = %e, "undecodable event skipped"),
        }
    }
}

/// Group `g`'s feeds until the group is dropped or shutdown: `subs` as the join made them, or
/// made here (then what was published since the join is read from the streams).
async fn follow(
    s: Arc<Shared>,
    g: Uuid,
    subs: Option<Vec<(Feed, Subscriber)>>,
    mut losses: tokio::sync::watch::Receiver<Loss>,
    joined: DateTime<Utc>,
) {
    let subs = match subs {
        Some(subs) => subs,
        None => {
            let mut pause = Duration::from_millis(100);
            loop {
                tokio::select! {
                    _ = s.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                match s.subscribe(g).await {
                    Ok(subs) => {
                        s.replay(g, joined - MARGIN).await;
                        break subs;
                    }
                    Err(e) => tracing::warn!(%g, error = %e, "cannot follow the group yet"),
                }
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    };
    let mut merged = futures::stream::select_all(
        subs.into_iter()
            .map(|(feed, sub)| sub.map(move |m: async_nats::Message| (feed, m))),
    );
    let mut losses_open = true;
    loop {
        tokio::select! {
            _ = s.shutdown.cancelled() => break,
            r = losses.changed(), if losses_open => match r {
                Ok(()) => {
                    let since = losses.borrow_and_update().since.unwrap_or_else(Utc::now);
                    tracing::info!(%g, %since, "the group's events may have been lost; reading them again");
                    s.replay(g, since - MARGIN).await;
                }
                // A bus connected elsewhere reports no losses.
                Err(_) => losses_open = false,
            },
            m = merged.next() => match m {
                Some((feed, m)) => {
                    metrics::counter!(names::FOLLOWED_EVENTS, "stream" => feed.label()).increment(1);
                    s.deliver(&Arrival {
                        group: g,
                        feed,
                        subject: &m.subject,
                        payload: &m.payload,
                        headers: m.headers.as_ref(),
                    });
                }
                None => break,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_handed_out_once_while_remembered() {
        let mut r = Recent::default();
        let first = Uuid::new_v4();
        assert!(r.first_time(first));
        assert!(!r.first_time(first));
        for _ in 0..RECENT {
            assert!(r.first_time(Uuid::new_v4()));
        }
        // Forgotten after RECENT others; the set does not grow past it.
        assert!(r.first_time(first));
        assert_eq!(r.ids.len(), RECENT);
        assert_eq!(r.order.len(), RECENT);
    }

    #[test]
    fn each_feed_subscribes_to_its_group_only() {
        let g = Uuid::new_v4();
        for feed in Feed::ALL {
            assert_eq!(v1::group_of(&feed.subject(g)), Some(g), "{feed:?}");
        }
    }
}
