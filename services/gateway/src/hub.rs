//! The hub: which socket of this gateway wants which events, and their delivery.
//!
//! Every gateway replica follows the CONVERSATIONS, MESSAGES and PRESENCE streams (ordered
//! consumers from "now") and the typing signals, and hands each event to its own sockets:
//! the sockets watching a conversation (the shopper's tabs, the agent's consoles), and the
//! console sockets of the agents an offer concerns. A socket that cannot keep up is closed;
//! its client reconnects and resumes from its last sequence number, so nothing is lost.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use showroom_proto::conversation::{ConversationEvent, ConversationEventKind};
use showroom_proto::message::{AuthorKind, Message};
use showroom_proto::presence::PresenceChanged;
use showroom_proto::typing::Typing;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How many frames may wait for a slow socket before it is closed.
pub const SOCKET_QUEUE: usize = 1024;

/// One frame for a socket. Message frames carry their position so the socket's writer can
/// drop what the client already has.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The serialized frame.
    pub frame: Arc<str>,
    /// For a `message` frame: its conversation and seq (dropped if not newer).
    pub seq: Option<(Uuid, i64)>,
    /// Positions this frame brings the client up to (`welcome`, `history`).
    pub marks: Vec<(Uuid, i64)>,
}

impl Outbound {
    /// A frame with no position.
    pub fn frame(value: &serde_json::Value) -> Self {
        Self {
            frame: value.to_string().into(),
            seq: None,
            marks: Vec::new(),
        }
    }

    /// A frame that brings the client up to the given positions.
    pub fn marked(value: &serde_json::Value, marks: Vec<(Uuid, i64)>) -> Self {
        Self {
            frame: value.to_string().into(),
            seq: None,
            marks,
        }
    }

    /// A `message` frame.
    pub fn message(m: &Message) -> Self {
        let v = json!({"type": "message", "message": m});
        Self {
            frame: v.to_string().into(),
            seq: Some((m.conversation_id, m.seq)),
            marks: Vec::new(),
        }
    }
}

/// Which side a socket is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A shopper's widget.
    Shopper,
    /// An agent's console.
    Agent,
}

struct Entry {
    tx: mpsc::Sender<Outbound>,
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
}

/// The registry of this gateway's sockets.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    next: AtomicU64,
}

impl Hub {
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
        cancel: CancellationToken,
    ) -> (u64, mpsc::Receiver<Outbound>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        let mut inner = self.lock();
        if let Some(a) = agent {
            inner.by_agent.entry(a).or_default().insert(id);
        }
        inner.sockets.insert(
            id,
            Entry {
                tx,
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
        }
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
        if let Some(e) = inner.sockets.get_mut(&id) {
            e.watching.insert(conversation);
            inner
                .by_conversation
                .entry(conversation)
                .or_default()
                .insert(id);
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

    /// Routes a conversation event.
    pub fn on_conversation(&self, ev: &ConversationEvent) {
        let c = &ev.conversation;
        let changed = Outbound::frame(&json!({"type": "conversation", "conversation": c}));
        let mut inner = self.lock();
        match ev.kind {
            ConversationEventKind::Offered => {
                let offer = Outbound::frame(&json!({"type": "offer", "conversation": c}));
                for a in &ev.offered_to {
                    let ids = Self::agent_sockets(&inner, *a);
                    Self::send_to(&inner, ids, &offer);
                }
            }
            ConversationEventKind::Assigned | ConversationEventKind::Transferred => {
                let assignee = c.agent.as_ref().map(|a| a.id);
                let withdrawn = Outbound::frame(
                    &json!({"type": "offer_withdrawn", "conversation_id": c.id, "reason": "taken"}),
                );
                for a in ev.offered_to.iter().filter(|a| Some(**a) != assignee) {
                    let ids = Self::agent_sockets(&inner, *a);
                    Self::send_to(&inner, ids, &withdrawn);
                }
                // Every console of the assignee follows the chat from now on.
                if let Some(a) = assignee {
                    for id in Self::agent_sockets(&inner, a) {
                        if let Some(e) = inner.sockets.get_mut(&id) {
                            e.watching.insert(c.id);
                        }
                        inner.by_conversation.entry(c.id).or_default().insert(id);
                    }
                }
                let ids = Self::watchers(&inner, c.id);
                Self::send_to(&inner, ids, &changed);
            }
            ConversationEventKind::Created | ConversationEventKind::Queued => {}
            ConversationEventKind::Ended
            | ConversationEventKind::Missed
            | ConversationEventKind::TimedOut
            | ConversationEventKind::Offline => {
                let withdrawn = Outbound::frame(
                    &json!({"type": "offer_withdrawn", "conversation_id": c.id, "reason": "ended"}),
                );
                for a in &ev.offered_to {
                    let ids: Vec<u64> = Self::agent_sockets(&inner, *a)
                        .into_iter()
                        .filter(|id| {
                            !inner
                                .sockets
                                .get(id)
                                .is_some_and(|e| e.watching.contains(&c.id))
                        })
                        .collect();
                    Self::send_to(&inner, ids, &withdrawn);
                }
                let ids = Self::watchers(&inner, c.id);
                Self::send_to(&inner, ids, &changed);
            }
        }
    }

    /// Routes a new transcript message to the conversation's watchers.
    pub fn on_message(&self, m: &Message) {
        let out = Outbound::message(m);
        let inner = self.lock();
        let ids = Self::watchers(&inner, m.conversation_id);
        Self::send_to(&inner, ids, &out);
    }

    /// Routes a typing signal to the other side's watchers.
    pub fn on_typing(&self, t: &Typing) {
        let from = match t.author.kind {
            AuthorKind::Shopper => Side::Shopper,
            _ => Side::Agent,
        };
        let mut frame = json!({"type": "typing", "author": {"kind": t.author.kind, "name": t.author.name}, "typing": t.typing});
        frame["conversation_id"] = json!(t.conversation_id);
        let out = Outbound::frame(&frame);
        let inner = self.lock();
        let ids: Vec<u64> = Self::watchers(&inner, t.conversation_id)
            .into_iter()
            .filter(|id| inner.sockets.get(id).is_some_and(|e| e.side != from))
            .collect();
        Self::send_to(&inner, ids, &out);
    }

    /// Tells every console of the agent its chosen status, and every board of the group the
    /// agent's presence.
    pub fn on_presence(&self, group: Uuid, p: &PresenceChanged) {
        let status = Outbound::frame(&json!({"type": "status", "status": p.status}));
        let row = Outbound::frame(&json!({"type": "agent_presence", "agent": p}));
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
