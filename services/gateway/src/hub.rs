//! The hub: which socket of this gateway wants which events, and their delivery.
//!
//! Every gateway replica follows the conversation, internal chat and presence events and the
//! desktop notices of the dealer groups whose sockets it holds (`groups.rs`), and the live copies of the messages and typing of only the
//! conversations its sockets watch (`interest.rs`, told by the hub through [`Interest`] when a
//! conversation gets its first watcher here or loses its last). It hands each event to its own
//! sockets: the sockets watching a conversation (the shopper's tabs, the agent's consoles), and
//! the console sockets of the agents an offer concerns. A socket that cannot keep up is closed;
//! its client reconnects and resumes from its last sequence number, so nothing is lost.
//!
//! A console follows a chat while it is live. Once the chat closes (or when a console opens a
//! closed one), its consoles go on following it for [`CLOSED_GRACE`], so the frames of its last
//! moments still reach them, then stop ([`Hub::forget_closed`], run by `interest.rs`): a
//! console open for a whole shift holds its live chats, not every chat it ever had.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use showroom_proto::conversation::{ConversationEvent, ConversationEventKind, TransferState};
use showroom_proto::frames::{
    ConversationView, ErrorFrame, InternalFrame, ServerFrame, TypingAuthor, WithdrawReason,
};
use showroom_proto::internal::{InternalEvent, InternalEventKind, InternalMessage};
use showroom_proto::message::{AuthorKind, Message, Seen, Watching, Whisper};
use showroom_proto::notification::DesktopNotice;
use showroom_proto::presence::PresenceChanged;
use showroom_proto::typing::Typing;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How many frames may wait for a slow socket before it is closed.
pub const SOCKET_QUEUE: usize = 1024;

/// How long consoles go on following a chat after it closed: the read marks and the
/// messages published around its close still reach them; then they stop (module docs).
pub const CLOSED_GRACE: Duration = Duration::from_secs(10);

/// A numbered stream of messages a socket may follow: a customer conversation's transcript or an
/// internal chat's. Each has its own gapless `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// A customer conversation (`message` frames).
    Conversation(Uuid),
    /// An internal chat between agents (`internal_message` frames).
    Internal(Uuid),
}

/// Where a frame puts its socket in a stream (see `ws::order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The frame carries every message of the stream up to this seq (`welcome`, `started`,
    /// `history`): the socket stands at least there.
    Upto(Stream, i64),
    /// Live frames continue after this seq, unless the socket already stands somewhere in the
    /// stream: the client reads the messages up to it with `open` or `internal_history`.
    From(Stream, i64),
    /// Live frames of the stream may have been lost (core NATS is at most once: the gateway
    /// had just subscribed, or reconnected): the writer reads what follows the socket's position
    /// from Postgres.
    Tail(Stream),
    /// The socket no longer follows the stream (a closed chat, `Hub::forget_closed`): its
    /// position and anything held back for it are dropped.
    Forget(Stream),
}

/// One frame for a socket. Message frames carry their position so the socket's writer sends
/// them in order, once each.
///
/// Behind an `Arc`: a queued frame is one pointer wide, so a socket's two queues (`flume`
/// channels, which allocate their slots as frames come, unlike tokio's, which take about 800
/// bytes each when made) stay small; and a frame fanned out to many sockets is shared, not
/// copied for each.
#[derive(Debug, Clone)]
pub struct Outbound(Arc<Framed>);

/// What an [`Outbound`] holds.
#[derive(Debug, Clone)]
pub struct Framed {
    /// The serialized frame.
    pub frame: Arc<str>,
    /// For a `message` or `internal_message` frame: its stream and seq.
    pub seq: Option<(Stream, i64)>,
    /// Where this frame puts the socket in streams.
    pub marks: Vec<Mark>,
    /// For a live message frame: the span of the event it came from, so the socket's write
    /// joins the trace of the `send` that caused it.
    pub span: Option<tracing::Span>,
}

impl From<Framed> for Outbound {
    fn from(f: Framed) -> Self {
        Self(Arc::new(f))
    }
}

impl std::ops::Deref for Outbound {
    type Target = Framed;
    fn deref(&self) -> &Framed {
        &self.0
    }
}

impl Outbound {
    /// A frame with no position.
    pub fn frame(frame: &ServerFrame) -> Self {
        Self::marked(frame, None, Vec::new())
    }

    /// The answer to a client's frame, with its `ref`.
    pub fn reply(frame: &ServerFrame, r#ref: Option<&str>) -> Self {
        Self::marked(frame, r#ref, Vec::new())
    }

    /// A frame (an answer when `ref` is given) that puts the socket at the given positions.
    pub fn marked(frame: &ServerFrame, r#ref: Option<&str>, marks: Vec<Mark>) -> Self {
        Framed {
            frame: frame.json(r#ref).into(),
            seq: None,
            marks,
            span: None,
        }
        .into()
    }

    /// Nothing to write: has the socket's writer read from Postgres what follows its position in
    /// `stream` ([`Mark::Tail`]).
    pub fn catch_up(stream: Stream) -> Self {
        Self::mark_only(Mark::Tail(stream))
    }

    /// Nothing to write: the socket no longer follows `stream`, and its writer forgets where it
    /// stood in it ([`Mark::Forget`]).
    pub fn forget(stream: Stream) -> Self {
        Self::mark_only(Mark::Forget(stream))
    }

    /// Nothing to write, only a mark for the socket's writer.
    fn mark_only(mark: Mark) -> Self {
        Framed {
            frame: "".into(),
            seq: None,
            marks: vec![mark],
            span: None,
        }
        .into()
    }

    /// An `error` frame answering the client's `ref`.
    pub fn error(code: &str, message: impl Into<String>, r#ref: Option<&str>) -> Self {
        Self::reply(&ServerFrame::error(code, message), r#ref)
    }

    /// A `rate_limited` error frame: a limit refused the client's frame (nothing of it was
    /// stored or forwarded); the same frame may be sent again after `retry_after_secs`.
    pub fn rate_limited(
        retry_after_secs: u64,
        message: impl Into<String>,
        r#ref: Option<&str>,
    ) -> Self {
        let frame = ServerFrame::Error(ErrorFrame {
            code: "rate_limited".into(),
            message: message.into(),
            fields: None,
            retry_after_secs: Some(retry_after_secs),
        });
        Self::reply(&frame, r#ref)
    }

    /// A `message` frame of a customer conversation.
    pub fn message(m: &Message) -> Self {
        let frame = ServerFrame::Message { message: m.clone() };
        Framed {
            frame: frame.json(None).into(),
            seq: Some((Stream::Conversation(m.conversation_id), m.seq)),
            marks: Vec::new(),
            span: traced(),
        }
        .into()
    }

    /// An `internal_message` frame of an internal chat (the chat id is the message's
    /// `conversation_id`).
    pub fn internal_message(m: &Message) -> Self {
        let frame = ServerFrame::InternalMessage { message: m.clone() };
        Framed {
            frame: frame.json(None).into(),
            seq: Some((Stream::Internal(m.conversation_id), m.seq)),
            marks: Vec::new(),
            span: traced(),
        }
        .into()
    }
}

/// The current span, when there is one (a live event being fanned out).
fn traced() -> Option<tracing::Span> {
    let span = tracing::Span::current();
    (!span.is_disabled()).then_some(span)
}

/// Which side a socket is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A shopper's widget.
    Shopper,
    /// An agent's console.
    Agent,
}

impl Side {
    /// The `kind` label of this side's metrics: `widget` or `agent`.
    pub fn kind(self) -> &'static str {
        match self {
            Side::Shopper => "widget",
            Side::Agent => "agent",
        }
    }
}

/// A change of the conversations this gateway holds watchers of, in the order the hub made
/// them (`interest.rs` subscribes and unsubscribes accordingly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// The conversation got its first watcher on this gateway.
    Watch {
        /// Its dealer group.
        group: Uuid,
        /// The conversation.
        conversation: Uuid,
    },
    /// The conversation's last watcher on this gateway left.
    Unwatch(Uuid),
}

struct Entry {
    tx: flume::Sender<Outbound>,
    group: Uuid,
    cancel: CancellationToken,
    side: Side,
    agent: Option<Uuid>,
    watching: HashSet<Uuid>,
    board_of: Option<Uuid>,
}

#[derive(Default)]
struct Inner {
    sockets: HashMap<u64, Entry>,
    by_conversation: HashMap<Uuid, HashSet<u64>>,
    by_agent: HashMap<Uuid, HashSet<u64>>,
    /// Console sockets showing their group's Live Agent Status board.
    boards: HashMap<Uuid, HashSet<u64>>,
    /// Closed chats that consoles follow, oldest first, with when they stop following them.
    closed: VecDeque<(Instant, Uuid)>,
}

/// Gives a map's room back once it is a quarter full (and past a small size).
pub(crate) fn shrink<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 64 && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

/// The registry of this gateway's sockets.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    next: AtomicU64,
    /// Where changes of interest go (none in unit tests).
    interest: Option<mpsc::UnboundedSender<Interest>>,
}

impl Hub {
    /// A hub that reports each change of its watched conversations to `interest`.
    pub fn new(interest: mpsc::UnboundedSender<Interest>) -> Self {
        Self {
            interest: Some(interest),
            ..Self::default()
        }
    }

    fn tell(&self, change: Interest) {
        if let Some(tx) = &self.interest {
            // Gone only at shutdown.
            let _ = tx.send(change);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing all sockets would; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a socket; returns its id and the queue of live events for it.
    pub fn register(
        &self,
        side: Side,
        agent: Option<Uuid>,
        group: Uuid,
        cancel: CancellationToken,
    ) -> (u64, flume::Receiver<Outbound>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = flume::bounded(SOCKET_QUEUE);
        let mut inner = self.lock();
        if let Some(a) = agent {
            inner.by_agent.entry(a).or_default().insert(id);
        }
        inner.sockets.insert(
            id,
            Entry {
                tx,
                group,
                cancel,
                side,
                agent,
                watching: HashSet::new(),
                board_of: None,
            },
        );
        (id, rx)
    }

    /// Removes a socket and everything it watched.
    pub fn unregister(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(e) = inner.sockets.remove(&id) {
            for c in e.watching {
                if let Some(set) = inner.by_conversation.get_mut(&c) {
                    set.remove(&id);
                    if set.is_empty() {
                        inner.by_conversation.remove(&c);
                        self.tell(Interest::Unwatch(c));
                    }
                }
            }
            if let Some(a) = e.agent
                && let Some(set) = inner.by_agent.get_mut(&a)
            {
                set.remove(&id);
                if set.is_empty() {
                    inner.by_agent.remove(&a);
                }
            }
            if let Some(g) = e.board_of
                && let Some(set) = inner.boards.get_mut(&g)
            {
                set.remove(&id);
                if set.is_empty() {
                    inner.boards.remove(&g);
                }
            }
        }
        // After a peak (thousands of sockets gone at once) the maps give their room back
        // rather than keep it for good; halving when a quarter is used never thrashes.
        shrink(&mut inner.sockets);
        shrink(&mut inner.by_conversation);
        shrink(&mut inner.by_agent);
    }

    /// The socket now receives presence changes of the group's agents (the board).
    pub fn watch_board(&self, id: u64, group: Uuid) {
        let mut inner = self.lock();
        if let Some(e) = inner.sockets.get_mut(&id) {
            e.board_of = Some(group);
            inner.boards.entry(group).or_default().insert(id);
        }
    }

    /// The socket now receives the conversation's messages, state changes and typing.
    pub fn watch(&self, id: u64, conversation: Uuid) {
        let mut inner = self.lock();
        self.watch_locked(&mut inner, id, conversation);
    }

    /// `conversation` is closed: the consoles following it stop after [`CLOSED_GRACE`].
    pub fn closed(&self, conversation: Uuid) {
        let mut inner = self.lock();
        Self::closed_locked(&mut inner, conversation);
    }

    fn closed_locked(inner: &mut Inner, conversation: Uuid) {
        if inner.by_conversation.contains_key(&conversation) {
            inner
                .closed
                .push_back((Instant::now() + CLOSED_GRACE, conversation));
        }
    }

    /// The consoles following a chat that closed [`CLOSED_GRACE`] before `now` stop following
    /// it (widgets go on: a shopper's socket holds their own chats only), and their writers
    /// forget where they stood in it ([`Outbound::forget`]).
    pub fn forget_closed(&self, now: Instant) {
        let mut inner = self.lock();
        while let Some(&(due, c)) = inner.closed.front() {
            if due > now {
                break;
            }
            inner.closed.pop_front();
            let forget = Outbound::forget(Stream::Conversation(c));
            for id in Self::agent_watchers(&inner, c) {
                self.unwatch_locked(&mut inner, id, c);
                if let Some(e) = inner.sockets.get(&id) {
                    // Best effort: a full queue keeps the position, which costs only its room.
                    let _ = e.tx.try_send(forget.clone());
                }
            }
        }
        if inner.closed.is_empty() && inner.closed.capacity() > 1024 {
            inner.closed.shrink_to(64);
        }
        shrink(&mut inner.by_conversation);
    }

    /// Has every socket watching `conversation` read from Postgres what follows its position
    /// (its live frames may have been lost: `interest.rs` just subscribed to them).
    pub fn catch_up(&self, conversation: Uuid) {
        let out = Outbound::catch_up(Stream::Conversation(conversation));
        let inner = self.lock();
        let ids = Self::watchers(&inner, conversation);
        Self::send_to(&inner, ids, &out);
    }

    /// [`Hub::catch_up`] for every watched conversation (after NATS reconnected, or a
    /// subscription fell behind and lost frames).
    pub fn catch_up_all(&self) {
        let inner = self.lock();
        for (c, ids) in &inner.by_conversation {
            let out = Outbound::catch_up(Stream::Conversation(*c));
            Self::send_to(&inner, ids.iter().copied(), &out);
        }
    }

    fn send_to(inner: &Inner, ids: impl IntoIterator<Item = u64>, out: &Outbound) {
        for id in ids {
            if let Some(e) = inner.sockets.get(&id)
                && e.tx.try_send(out.clone()).is_err()
            {
                // Full or gone: close it; the client resumes from its last seq.
                e.cancel.cancel();
            }
        }
    }

    fn watchers(inner: &Inner, conversation: Uuid) -> Vec<u64> {
        inner
            .by_conversation
            .get(&conversation)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    fn agent_sockets(inner: &Inner, agent: Uuid) -> Vec<u64> {
        inner
            .by_agent
            .get(&agent)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Whether the socket receives the conversation's messages (its own chats, opened ones).
    pub fn is_watching(&self, id: u64, conversation: Uuid) -> bool {
        self.lock()
            .sockets
            .get(&id)
            .is_some_and(|e| e.watching.contains(&conversation))
    }

    fn watch_locked(&self, inner: &mut Inner, id: u64, conversation: Uuid) {
        if let Some(e) = inner.sockets.get_mut(&id) {
            e.watching.insert(conversation);
            let group = e.group;
            let set = inner.by_conversation.entry(conversation).or_default();
            if set.is_empty() {
                self.tell(Interest::Watch {
                    group,
                    conversation,
                });
            }
            set.insert(id);
        }
    }

    fn unwatch_locked(&self, inner: &mut Inner, id: u64, conversation: Uuid) {
        if let Some(e) = inner.sockets.get_mut(&id) {
            e.watching.remove(&conversation);
        }
        if let Some(set) = inner.by_conversation.get_mut(&conversation) {
            set.remove(&id);
            if set.is_empty() {
                inner.by_conversation.remove(&conversation);
                self.tell(Interest::Unwatch(conversation));
            }
        }
    }

    /// The console sockets of these agents, each once.
    fn sockets_of<'a>(inner: &Inner, agents: impl IntoIterator<Item = &'a Uuid>) -> Vec<u64> {
        let mut ids: Vec<u64> = agents
            .into_iter()
            .flat_map(|a| Self::agent_sockets(inner, *a))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn side_of(inner: &Inner, id: u64) -> Option<Side> {
        inner.sockets.get(&id).map(|e| e.side)
    }

    /// The `conversation` frame to each watcher: the whole snapshot for consoles, the shopper's
    /// view for widgets.
    fn send_changed(inner: &Inner, ids: &[u64], agent: &Outbound, shopper: &Outbound) {
        for &id in ids {
            let out = match Self::side_of(inner, id) {
                Some(Side::Shopper) => shopper,
                _ => agent,
            };
            Self::send_to(inner, [id], out);
        }
    }

    /// `offer_withdrawn` to these agents' consoles, except those following the chat (they get
    /// the `conversation` frame instead).
    fn withdraw<'a>(
        inner: &Inner,
        conversation: Uuid,
        agents: impl IntoIterator<Item = &'a Uuid>,
        reason: WithdrawReason,
        skip_watchers: bool,
    ) {
        let out = Outbound::frame(&ServerFrame::OfferWithdrawn {
            conversation_id: conversation,
            reason,
        });
        let ids: Vec<u64> = Self::sockets_of(inner, agents)
            .into_iter()
            .filter(|id| {
                !skip_watchers
                    || !inner
                        .sockets
                        .get(id)
                        .is_some_and(|e| e.watching.contains(&conversation))
            })
            .collect();
        Self::send_to(inner, ids, &out);
    }

    /// Routes a conversation event.
    ///
    /// - `offered`: `offer` to the agents offered it; `offer_withdrawn` (`moved_on`) to those in
    ///   `withdrawn_from` (a ring moved on, their status changed).
    /// - `assigned`: the assignee's consoles follow the chat; `offer_withdrawn` (`taken`) to the
    ///   other agents it was offered to; `conversation` to its watchers.
    /// - `transferred`, by the transfer's state: `requested` sends `transfer_offer` to the
    ///   agents offered it and `transfer` to the consoles following the chat (the sender);
    ///   `accepted` and `reassigned` work like `assigned`, and every other console stops
    ///   following the chat after its `conversation` and `transfer` frames; `declined`,
    ///   `expired` and `cancelled` send `transfer` to the agents it was offered to and to the
    ///   consoles following the chat.
    /// - `missed`: `conversation` (state `missed`) to the agents it was offered to and to its
    ///   watchers: it moves from their Incoming to Recent.
    /// - other closing events: `offer_withdrawn` (`ended`) to agents still offered it;
    ///   `conversation` to its watchers.
    pub fn on_conversation(&self, ev: &ConversationEvent) {
        let c = &ev.conversation;
        // A console that starts following the chat here (the assignee's) gets its later
        // messages live; those up to `last_seq` come with its `open`.
        let changed = Outbound::marked(
            &ServerFrame::Conversation {
                conversation: ConversationView::full(c),
            },
            None,
            vec![Mark::From(Stream::Conversation(c.id), c.last_seq)],
        );
        let shopper_changed = Outbound::frame(&ServerFrame::Conversation {
            conversation: ConversationView::shopper(c),
        });
        let mut inner = self.lock();
        let not_offered = |a: &&Uuid| !ev.offered_to.contains(a);
        match ev.kind {
            ConversationEventKind::Created | ConversationEventKind::Queued => {
                Self::withdraw(
                    &inner,
                    c.id,
                    &ev.withdrawn_from,
                    WithdrawReason::MovedOn,
                    false,
                );
                // Queued after the Lead Gate (the only step that sets the contact before an
                // agent is sought): the shopper's widget learns the chat left the bot.
                if ev.kind == ConversationEventKind::Queued && c.contact.is_some() {
                    let ids: Vec<u64> = inner
                        .by_conversation
                        .get(&c.id)
                        .map(|s| s.iter().copied().collect())
                        .unwrap_or_default();
                    Self::send_changed(&inner, &ids, &changed, &shopper_changed);
                }
            }
            ConversationEventKind::Offered => {
                let offer = Outbound::frame(&ServerFrame::Offer {
                    conversation: c.clone(),
                });
                let ids = Self::sockets_of(&inner, &ev.offered_to);
                Self::send_to(&inner, ids, &offer);
                let gone = ev.withdrawn_from.iter().filter(not_offered);
                Self::withdraw(&inner, c.id, gone, WithdrawReason::MovedOn, false);
            }
            ConversationEventKind::Assigned => {
                self.assign(&mut inner, ev, &changed, &shopper_changed, None);
            }
            ConversationEventKind::Transferred => match &ev.transfer {
                None => self.assign(&mut inner, ev, &changed, &shopper_changed, None),
                Some(t) => {
                    let frame = Outbound::frame(&ServerFrame::Transfer {
                        transfer: t.clone(),
                    });
                    match t.state {
                        TransferState::Requested => {
                            let offer = Outbound::frame(&ServerFrame::TransferOffer {
                                transfer: t.clone(),
                                conversation: c.clone(),
                            });
                            let ids = Self::sockets_of(&inner, &ev.offered_to);
                            Self::send_to(&inner, ids, &offer);
                            let gone = ev.withdrawn_from.iter().filter(not_offered);
                            Self::withdraw(&inner, c.id, gone, WithdrawReason::MovedOn, false);
                            let ids = Self::agent_watchers(&inner, c.id);
                            Self::send_to(&inner, ids, &frame);
                        }
                        TransferState::Accepted | TransferState::Reassigned => {
                            self.assign(&mut inner, ev, &changed, &shopper_changed, Some(&frame));
                        }
                        TransferState::Declined
                        | TransferState::Expired
                        | TransferState::Cancelled => {
                            let mut ids = Self::sockets_of(
                                &inner,
                                ev.offered_to.iter().chain(&ev.withdrawn_from),
                            );
                            ids.extend(Self::agent_watchers(&inner, c.id));
                            ids.sort_unstable();
                            ids.dedup();
                            Self::send_to(&inner, ids, &frame);
                        }
                    }
                }
            },
            ConversationEventKind::Missed => {
                // Nobody took it: the agents it was offered to see it move to Recent as missed
                // (the `conversation` frame in state `missed`), so they can follow it up.
                let mut ids =
                    Self::sockets_of(&inner, ev.offered_to.iter().chain(&ev.withdrawn_from));
                ids.extend(Self::watchers(&inner, c.id));
                ids.sort_unstable();
                ids.dedup();
                Self::send_changed(&inner, &ids, &changed, &shopper_changed);
            }
            ConversationEventKind::Ended
            | ConversationEventKind::TimedOut
            | ConversationEventKind::Offline => {
                let offered = ev.offered_to.iter().chain(&ev.withdrawn_from);
                Self::withdraw(&inner, c.id, offered, WithdrawReason::Ended, true);
                let ids = Self::watchers(&inner, c.id);
                Self::send_changed(&inner, &ids, &changed, &shopper_changed);
            }
        }
        if c.state.is_closed() {
            Self::closed_locked(&mut inner, c.id);
        }
    }

    /// An agent has the chat now (`assigned`, or a transfer `accepted` or `reassigned`, whose
    /// `transfer` frame is given).
    fn assign(
        &self,
        inner: &mut Inner,
        ev: &ConversationEvent,
        changed: &Outbound,
        shopper_changed: &Outbound,
        transfer: Option<&Outbound>,
    ) {
        let c = &ev.conversation;
        let assignee = c.agent.as_ref().map(|a| a.id);
        let others = ev
            .offered_to
            .iter()
            .chain(&ev.withdrawn_from)
            .filter(|a| Some(**a) != assignee);
        Self::withdraw(inner, c.id, others, WithdrawReason::Taken, false);
        // Every console of the assignee follows the chat from now on.
        let mine = assignee
            .map(|a| Self::agent_sockets(inner, a))
            .unwrap_or_default();
        for &id in &mine {
            self.watch_locked(inner, id, c.id);
        }
        let watchers = Self::watchers(inner, c.id);
        Self::send_changed(inner, &watchers, changed, shopper_changed);
        let Some(transfer) = transfer else {
            return;
        };
        // The chat moved: the agents it was offered to learn their offer is over, every console
        // following it learns where it went, and the consoles of anyone but the new agent (the
        // former agent above all) stop getting its messages.
        let mut told: Vec<u64> = watchers
            .iter()
            .copied()
            .filter(|id| Self::side_of(inner, *id) == Some(Side::Agent))
            .collect();
        told.extend(Self::sockets_of(inner, &ev.offered_to));
        told.sort_unstable();
        told.dedup();
        Self::send_to(inner, told, transfer);
        for id in watchers {
            if Self::side_of(inner, id) == Some(Side::Agent) && !mine.contains(&id) {
                self.unwatch_locked(inner, id, c.id);
            }
        }
    }

    fn agent_watchers(inner: &Inner, conversation: Uuid) -> Vec<u64> {
        Self::watchers(inner, conversation)
            .into_iter()
            .filter(|id| Self::side_of(inner, *id) == Some(Side::Agent))
            .collect()
    }

    /// Routes an internal chat change (`internal` frame) to the consoles of everyone in the
    /// chat, and of the colleague who left it.
    pub fn on_internal(&self, ev: &InternalEvent) {
        // A console new to the chat gets its later messages live, the rest with history.
        let out = Outbound::marked(
            &ServerFrame::Internal(InternalFrame {
                chat: ev.chat.clone(),
                kind: Some(ev.kind),
                agent_id: Some(ev.agent_id),
                by: Some(ev.by),
            }),
            None,
            vec![Mark::From(Stream::Internal(ev.chat.id), ev.chat.last_seq)],
        );
        let mut agents = ev.chat.current();
        if ev.kind == InternalEventKind::Left {
            agents.push(ev.agent_id);
        }
        let inner = self.lock();
        let ids = Self::sockets_of(&inner, &agents);
        Self::send_to(&inner, ids, &out);
    }

    /// Routes a message of an internal chat (`internal_message`) to its members' consoles,
    /// each once per socket by seq like a customer chat's.
    pub fn on_internal_message(&self, m: &InternalMessage) {
        let out = Outbound::internal_message(&m.message);
        let inner = self.lock();
        let ids = Self::sockets_of(&inner, &m.members);
        Self::send_to(&inner, ids, &out);
    }

    /// Routes a new transcript message to the conversation's watchers.
    pub fn on_message(&self, m: &Message) {
        let out = Outbound::message(m);
        let inner = self.lock();
        let ids = Self::watchers(&inner, m.conversation_id);
        Self::send_to(&inner, ids, &out);
    }

    /// A stored read mark to every socket watching the chat (both sides: the other side shows
    /// "Seen", the same side's other tabs and consoles learn it too).
    pub fn on_seen(&self, seen: &Seen) {
        let out = Outbound::frame(&ServerFrame::Seen(seen.clone()));
        let inner = self.lock();
        let ids = Self::watchers(&inner, seen.conversation_id);
        Self::send_to(&inner, ids, &out);
    }

    /// A frame for the agent sockets watching a chat only (whispers, who is watching): never
    /// a shopper's.
    fn to_agents_watching(&self, conversation: Uuid, out: &Outbound) {
        let inner = self.lock();
        let ids = Self::agent_watchers(&inner, conversation);
        Self::send_to(&inner, ids, out);
    }

    /// A whisper to the consoles following the chat (never to the shopper's widget).
    pub fn on_whisper(&self, w: &Whisper) {
        let out = Outbound::frame(&ServerFrame::Whisper { whisper: w.clone() });
        self.to_agents_watching(w.conversation_id, &out);
    }

    /// Who started or stopped watching a chat, to the consoles following it.
    pub fn on_watching(&self, w: &Watching) {
        let out = Outbound::frame(&ServerFrame::Watching(w.clone()));
        self.to_agents_watching(w.conversation_id, &out);
    }

    /// Routes a typing signal to the other side's watchers.
    pub fn on_typing(&self, t: &Typing) {
        let from = match t.author.kind {
            AuthorKind::Shopper => Side::Shopper,
            _ => Side::Agent,
        };
        let out = Outbound::frame(&ServerFrame::Typing {
            conversation_id: t.conversation_id,
            author: TypingAuthor {
                kind: t.author.kind,
                name: t.author.name.clone(),
            },
            typing: t.typing,
        });
        let inner = self.lock();
        let ids: Vec<u64> = Self::watchers(&inner, t.conversation_id)
            .into_iter()
            .filter(|id| inner.sockets.get(id).is_some_and(|e| e.side != from))
            .collect();
        Self::send_to(&inner, ids, &out);
    }

    /// A desktop notice to every console of its agent (the notification service decided who
    /// and coalesced bursts).
    pub fn on_notice(&self, n: &DesktopNotice) {
        let out = Outbound::frame(&ServerFrame::Notify { notice: n.clone() });
        let inner = self.lock();
        let ids = Self::agent_sockets(&inner, n.agent_id);
        Self::send_to(&inner, ids, &out);
    }

    /// Tells every console of the agent its chosen status, and every board of the group the
    /// agent's presence.
    pub fn on_presence(&self, group: Uuid, p: &PresenceChanged) {
        let status = Outbound::frame(&ServerFrame::Status { status: p.status });
        let row = Outbound::frame(&ServerFrame::AgentPresence { agent: p.clone() });
        let inner = self.lock();
        let ids = Self::agent_sockets(&inner, p.agent_id);
        Self::send_to(&inner, ids, &status);
        let boards: Vec<u64> = inner
            .boards
            .get(&group)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        Self::send_to(&inner, boards, &row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::Value;
    use serde_json::json;
    use showroom_proto::conversation::{
        Conversation, ConversationState, DepartmentRef, Named, ShopperRef, Transfer,
    };

    fn conversation(state: ConversationState, agent: Option<Uuid>) -> Conversation {
        Conversation {
            id: Uuid::new_v4(),
            group_id: Uuid::new_v4(),
            website_id: Uuid::new_v4(),
            rooftop: Named {
                id: Uuid::new_v4(),
                name: "Showroom Honda".into(),
            },
            department: DepartmentRef {
                id: Uuid::new_v4(),
                label: "Sales".into(),
            },
            shopper: ShopperRef {
                visitor_id: Uuid::new_v4(),
                name: Some("Maria".into()),
            },
            agent: agent.map(|id| Named {
                id,
                name: "Agent".into(),
            }),
            state,
            last_seq: 0,
            created_at: Utc::now(),
            ended_at: None,
            ended_by: None,
            assigned_at: None,
            vehicle: None,
            language: Default::default(),
            contact: None,
            department_pending: false,
            page_url: None,
            form: Vec::new(),
            team: Some(Named {
                id: Uuid::new_v4(),
                name: "BDC".into(),
            }),
            offline_reason: None,
            previous_id: None,
        }
    }

    fn event(
        kind: ConversationEventKind,
        c: &Conversation,
        offered_to: Vec<Uuid>,
        withdrawn_from: Vec<Uuid>,
        transfer: Option<(Uuid, TransferState)>,
    ) -> ConversationEvent {
        ConversationEvent {
            kind,
            conversation: c.clone(),
            offered_to,
            withdrawn_from,
            transfer: transfer.map(|(from, state)| Transfer {
                id: Uuid::new_v4(),
                conversation_id: c.id,
                from_agent: Named {
                    id: from,
                    name: "From".into(),
                },
                to_agent: None,
                to_department: None,
                note: String::new(),
                state,
                expires_at: None,
            }),
        }
    }

    struct Sock {
        id: u64,
        rx: flume::Receiver<Outbound>,
    }

    impl Sock {
        fn new(hub: &Hub, side: Side, agent: Option<Uuid>) -> Self {
            let (id, rx) = hub.register(side, agent, Uuid::nil(), CancellationToken::new());
            Self { id, rx }
        }

        fn frames(&mut self) -> Vec<Value> {
            let mut out = Vec::new();
            while let Ok(o) = self.rx.try_recv() {
                out.push(serde_json::from_str(&o.frame).unwrap());
            }
            out
        }

        fn types(&mut self) -> Vec<String> {
            self.frames()
                .iter()
                .map(|f| f["type"].as_str().unwrap().to_string())
                .collect()
        }
    }

    #[test]
    fn closed_sockets_leave_nothing_behind() {
        let hub = Hub::default();
        let (agent, group) = (Uuid::new_v4(), Uuid::new_v4());
        let c = conversation(ConversationState::Active, Some(agent));
        let mut ids = Vec::new();
        let mut queues = Vec::new();
        for _ in 0..1000 {
            let (id, rx) = hub.register(
                Side::Agent,
                Some(agent),
                Uuid::nil(),
                CancellationToken::new(),
            );
            hub.watch(id, c.id);
            hub.watch_board(id, group);
            ids.push(id);
            queues.push(rx);
        }
        let peak = hub.lock().sockets.capacity();
        for id in ids {
            hub.unregister(id);
        }
        let inner = hub.lock();
        assert!(inner.sockets.is_empty() && inner.by_conversation.is_empty());
        assert!(inner.by_agent.is_empty());
        assert!(
            inner.boards.is_empty(),
            "a closed board socket stays listed"
        );
        assert!(
            inner.sockets.capacity() * 4 < peak,
            "the registry kept its peak room: {} of {peak}",
            inner.sockets.capacity()
        );
    }

    #[test]
    fn consoles_let_go_of_a_closed_chat_after_the_grace() {
        let (tx, mut changes) = mpsc::unbounded_channel();
        let hub = Hub::new(tx);
        let (agent, manager) = (Uuid::new_v4(), Uuid::new_v4());
        let mut console = Sock::new(&hub, Side::Agent, Some(agent));
        let mut boss = Sock::new(&hub, Side::Agent, Some(manager));
        let mut shopper = Sock::new(&hub, Side::Shopper, None);
        let (c, lone) = (
            conversation(ConversationState::Active, Some(agent)),
            conversation(ConversationState::Active, Some(agent)),
        );
        for s in [&console, &boss, &shopper] {
            hub.watch(s.id, c.id);
        }
        hub.watch(console.id, lone.id);
        let before = Instant::now();
        for chat in [&c, &lone] {
            let mut ended = chat.clone();
            ended.state = ConversationState::Ended;
            hub.on_conversation(&event(
                ConversationEventKind::Ended,
                &ended,
                vec![],
                vec![],
                None,
            ));
        }
        assert_eq!(console.types(), ["conversation", "conversation"]);
        assert_eq!(boss.types(), ["conversation"]);
        assert_eq!(shopper.types(), ["conversation"]);

        // Within the grace, the chat's last frames still reach its consoles.
        hub.forget_closed(before + CLOSED_GRACE / 2);
        assert!(hub.is_watching(console.id, c.id) && hub.is_watching(boss.id, c.id));
        hub.on_seen(&Seen {
            conversation_id: c.id,
            side: showroom_proto::message::ReadSide::Shopper,
            seq: 3,
            at: Utc::now(),
        });
        assert_eq!(console.types(), ["seen"]);

        // Then the consoles let go; the shopper's widget keeps its own chat.
        hub.forget_closed(Instant::now() + CLOSED_GRACE);
        for s in [&console, &boss] {
            assert!(!hub.is_watching(s.id, c.id) && !hub.is_watching(s.id, lone.id));
        }
        assert!(hub.is_watching(shopper.id, c.id));
        let forgets = |s: &mut Sock| {
            let mut v: Vec<Mark> = std::iter::from_fn(|| s.rx.try_recv().ok())
                .flat_map(|o| o.marks.clone())
                .collect();
            v.sort_by_key(|m| format!("{m:?}"));
            v
        };
        let mut both = vec![
            Mark::Forget(Stream::Conversation(c.id)),
            Mark::Forget(Stream::Conversation(lone.id)),
        ];
        both.sort_by_key(|m| format!("{m:?}"));
        assert_eq!(forgets(&mut console), both);
        assert_eq!(
            forgets(&mut boss),
            [Mark::Forget(Stream::Conversation(c.id))]
        );
        assert!(forgets(&mut shopper).is_empty());
        // Nobody here follows the lone chat any more: its subscription goes; the other's stays.
        let mut told = Vec::new();
        while let Ok(change) = changes.try_recv() {
            told.push(change);
        }
        assert_eq!(told.last(), Some(&Interest::Unwatch(lone.id)), "{told:?}");
        assert!(!told.contains(&Interest::Unwatch(c.id)));
        assert!(hub.lock().closed.is_empty());
    }

    #[test]
    fn a_ring_offer_moves_on() {
        let hub = Hub::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (mut sa, mut sb) = (
            Sock::new(&hub, Side::Agent, Some(a)),
            Sock::new(&hub, Side::Agent, Some(b)),
        );
        let c = conversation(ConversationState::Incoming, None);
        hub.on_conversation(&event(
            ConversationEventKind::Offered,
            &c,
            vec![b],
            vec![a],
            None,
        ));
        let fa = sa.frames();
        assert_eq!(fa.len(), 1, "{fa:?}");
        assert_eq!(fa[0]["type"], "offer_withdrawn");
        assert_eq!(fa[0]["reason"], "moved_on");
        assert_eq!(sb.types(), ["offer"]);
    }

    #[test]
    fn a_transfer_is_offered_then_moves_the_chat() {
        let hub = Hub::default();
        let (from, to, manager) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut sender = Sock::new(&hub, Side::Agent, Some(from));
        let mut target = Sock::new(&hub, Side::Agent, Some(to));
        let mut boss = Sock::new(&hub, Side::Agent, Some(manager));
        let mut shopper = Sock::new(&hub, Side::Shopper, None);
        let c = conversation(ConversationState::Active, Some(from));
        for s in [&sender, &boss, &shopper] {
            hub.watch(s.id, c.id);
        }

        let requested = event(
            ConversationEventKind::Transferred,
            &c,
            vec![to],
            vec![],
            Some((from, TransferState::Requested)),
        );
        hub.on_conversation(&requested);
        let offer = target.frames();
        assert_eq!(offer.len(), 1);
        assert_eq!(offer[0]["type"], "transfer_offer");
        assert_eq!(offer[0]["conversation"]["id"], json!(c.id));
        assert_eq!(offer[0]["transfer"]["state"], "requested");
        assert_eq!(sender.types(), ["transfer"]);
        assert_eq!(boss.types(), ["transfer"]);
        assert!(shopper.frames().is_empty(), "the shopper sees no transfer");

        let mut moved = c.clone();
        moved.agent = Some(Named {
            id: to,
            name: "Target".into(),
        });
        let accepted = event(
            ConversationEventKind::Transferred,
            &moved,
            vec![to],
            vec![],
            Some((from, TransferState::Accepted)),
        );
        hub.on_conversation(&accepted);
        assert_eq!(sender.types(), ["conversation", "transfer"]);
        assert_eq!(boss.types(), ["conversation", "transfer"]);
        assert_eq!(target.types(), ["conversation", "transfer"]);
        let seen = shopper.frames();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["conversation"]["agent"]["name"], "Target");
        assert!(seen[0]["conversation"].get("team").is_none());
        assert!(seen[0]["conversation"].get("group_id").is_none());
        // Only the new agent's console and the shopper follow the chat now.
        assert!(!hub.is_watching(sender.id, c.id));
        assert!(!hub.is_watching(boss.id, c.id));
        assert!(hub.is_watching(target.id, c.id));
        assert!(hub.is_watching(shopper.id, c.id));
    }

    #[test]
    fn a_declined_transfer_tells_the_sender_and_the_targets() {
        let hub = Hub::default();
        let (from, to, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut sender = Sock::new(&hub, Side::Agent, Some(from));
        let mut target = Sock::new(&hub, Side::Agent, Some(to));
        let mut bystander = Sock::new(&hub, Side::Agent, Some(other));
        let mut shopper = Sock::new(&hub, Side::Shopper, None);
        let c = conversation(ConversationState::Active, Some(from));
        hub.watch(sender.id, c.id);
        hub.watch(shopper.id, c.id);
        hub.watch(target.id, c.id); // opened it to read before answering: told once
        for state in [
            TransferState::Declined,
            TransferState::Expired,
            TransferState::Cancelled,
        ] {
            hub.on_conversation(&event(
                ConversationEventKind::Transferred,
                &c,
                vec![to],
                vec![],
                Some((from, state)),
            ));
            let f = sender.frames();
            assert_eq!(f.len(), 1);
            assert_eq!(f[0]["transfer"]["state"], json!(state));
            assert_eq!(target.types(), ["transfer"]);
            assert!(bystander.frames().is_empty());
            assert!(shopper.frames().is_empty());
            assert!(hub.is_watching(sender.id, c.id));
        }
    }

    #[test]
    fn an_assignment_withdraws_from_offered_and_withdrawn_agents() {
        let hub = Hub::default();
        let (a, b, w) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut sa = Sock::new(&hub, Side::Agent, Some(a));
        let mut sb = Sock::new(&hub, Side::Agent, Some(b));
        let mut sw = Sock::new(&hub, Side::Agent, Some(w));
        let c = conversation(ConversationState::Active, Some(a));
        hub.on_conversation(&event(
            ConversationEventKind::Assigned,
            &c,
            vec![a, b],
            vec![w],
            None,
        ));
        assert_eq!(sa.types(), ["conversation"]);
        assert!(hub.is_watching(sa.id, c.id));
        for s in [&mut sb, &mut sw] {
            let f = s.frames();
            assert_eq!(f.len(), 1);
            assert_eq!(f[0]["type"], "offer_withdrawn");
            assert_eq!(f[0]["reason"], "taken");
        }
    }
}
