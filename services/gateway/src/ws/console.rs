//! The agent console socket: `GET /ws/console?route=<group id>`, authenticated by the session
//! (the `route` is for the proxy in front of the gateways and is ignored here).
//!
//! The socket is also the agent's presence device: the gateway heartbeats it to presence at
//! connect and every refresh interval, and reports its close at once.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use showroom_proto::conversation::{
    AcceptConversation, Conversation, ConversationCommand, EndConversation, EndedBy, TransferState,
};
use showroom_proto::frames::{
    Ack, ConsoleWelcome, ConversationView, InternalFrame, ServerFrame, Welcome, WelcomeAgent,
};
use showroom_proto::message::{Author, AuthorKind, ReadSide};
use showroom_proto::presence::{
    AgentPresence, AgentStatus, Board, DeviceClosed, DeviceIdle, GetBoard, GetStatus, SetStatus,
};
use showroom_proto::{CommandError, Envelope, ErrorCode, v1};
use showroom_store::read::{self, Filter};
use tracing::Instrument;
use uuid::Uuid;

use super::order::reached;
use super::upgrade::{Socket, Upgrade};
use super::{HELLO_TIMEOUT, Incoming, PROTOCOL_VERSION, next_frame, refused};
use crate::hub::{Mark, Outbound, Side, Stream};
use crate::{AppState, internal, seen, whisper};
use showroom_rest::auth::{self, Session};
use showroom_rest::error::ApiError;
use showroom_rest::handover;
use showroom_rest::limits::{Limited, SocketLimits};

/// The reply to an internal chat command: the chat as it is now.
fn internal_frame(chat: &showroom_proto::internal::InternalChat, r#ref: Option<&str>) -> Outbound {
    let frame = ServerFrame::Internal(InternalFrame {
        chat: chat.clone(),
        kind: None,
        agent_id: None,
        by: None,
    });
    Outbound::reply(&frame, r#ref)
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame {
    Hello {
        v: u32,
    },
    SetStatus {
        status: String,
    },
    Accept {
        conversation_id: Uuid,
    },
    Open {
        conversation_id: Uuid,
        #[serde(default)]
        after_seq: Option<i64>,
    },
    Send {
        conversation_id: Uuid,
        client_msg_id: String,
        /// The text; with `file_id`, an optional caption.
        #[serde(default)]
        text: String,
        /// A file uploaded to `POST /api/v1/conversations/{id}/files`.
        #[serde(default)]
        file_id: Option<Uuid>,
        /// An estimate from `POST /api/v1/conversations/{id}/payment-estimate`: sent as its card.
        #[serde(default)]
        estimate_id: Option<Uuid>,
    },
    Typing {
        conversation_id: Uuid,
        typing: bool,
    },
    /// The agent has seen the chat's messages up to `seq` (a read mark).
    Seen {
        conversation_id: Uuid,
        seq: i64,
    },
    /// A manager's note to the chat's agent, never shown to the shopper.
    Whisper {
        conversation_id: Uuid,
        client_msg_id: String,
        text: String,
    },
    End {
        conversation_id: Uuid,
    },
    Board,
    Idle {
        idle: bool,
    },
    Transfer {
        conversation_id: Uuid,
        #[serde(default)]
        to_agent: Option<Uuid>,
        #[serde(default)]
        to_department: Option<Uuid>,
        #[serde(default)]
        note: Option<String>,
    },
    TransferReply {
        transfer_id: Uuid,
        accept: bool,
    },
    Reassign {
        conversation_id: Uuid,
        agent_id: Uuid,
    },
    InternalOpen {
        with: Vec<Uuid>,
        #[serde(default)]
        topic: Option<String>,
    },
    InternalInvite {
        chat_id: Uuid,
        agent_id: Uuid,
    },
    InternalLeave {
        chat_id: Uuid,
    },
    InternalHistory {
        chat_id: Uuid,
        #[serde(default)]
        after_seq: Option<i64>,
    },
    InternalSend {
        chat_id: Uuid,
        client_msg_id: String,
        text: String,
    },
    Ping,
}

impl Frame {
    fn name(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "hello",
            Frame::SetStatus { .. } => "set_status",
            Frame::Accept { .. } => "accept",
            Frame::Open { .. } => "open",
            Frame::Send { .. } => "send",
            Frame::Typing { .. } => "typing",
            Frame::Seen { .. } => "seen",
            Frame::Whisper { .. } => "whisper",
            Frame::End { .. } => "end",
            Frame::Board => "board",
            Frame::Idle { .. } => "idle",
            Frame::Transfer { .. } => "transfer",
            Frame::TransferReply { .. } => "transfer_reply",
            Frame::Reassign { .. } => "reassign",
            Frame::InternalOpen { .. } => "internal_open",
            Frame::InternalInvite { .. } => "internal_invite",
            Frame::InternalLeave { .. } => "internal_leave",
            Frame::InternalHistory { .. } => "internal_history",
            Frame::InternalSend { .. } => "internal_send",
            Frame::Ping => "ping",
        }
    }
}

/// Whether the `Origin` (if any) is this gateway itself: the console is served from here.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let bare = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    bare.eq_ignore_ascii_case(host)
}

/// Checks the session and the origin, then upgrades.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: Upgrade,
) -> Result<Response, ApiError> {
    let token = auth::token_from(&headers).ok_or_else(ApiError::unauthorized)?;
    let session = auth::session_for(&state, &token)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if !same_origin(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "the console connects only from this gateway's own pages",
        ));
    }
    Ok(ws.on_upgrade(move |socket| run(state, session, token, socket)))
}

struct Console {
    state: Arc<AppState>,
    session: Session,
    socket: u64,
    replies: flume::Sender<Outbound>,
    /// This socket as a presence device.
    device: Uuid,
    /// This socket's own limits (messages, pings).
    limits: SocketLimits,
    /// Chats this console opened that are another agent's: the agent is told it watches, and
    /// told when it stops (`whisper::watching`).
    watching: Vec<Uuid>,
}

async fn run(state: Arc<AppState>, session: Session, token: String, socket: Socket) {
    let agent_id = session.agent.id;
    let group = session.group();
    // Boxed: see `ws::open`.
    let opened = Box::pin(super::open(
        &state,
        socket,
        Side::Agent,
        Some(agent_id),
        group,
    ))
    .await;
    let (mut stream, replies, socket_id) = (opened.stream, opened.replies, opened.socket_id);
    let (cancel, writer, _hold) = (opened.cancel, opened.writer, opened.hold);
    let device = Uuid::new_v4();

    let hello = tokio::select! {
        _ = cancel.cancelled() => Incoming::Closed,
        f = tokio::time::timeout(HELLO_TIMEOUT, next_frame::<Frame>(&mut stream, Side::Agent)) => f.unwrap_or(Incoming::Closed),
    };
    let mut console = Console {
        state: state.clone(),
        session,
        socket: socket_id,
        replies: replies.clone(),
        device,
        limits: state.limits.socket(),
        watching: Vec::new(),
    };
    let ready = match hello {
        Incoming::Frame(Frame::Hello { v }, r#ref) if v == PROTOCOL_VERSION => {
            // The device is present from now on: heartbeat before reading the status.
            state.connected(group, agent_id, device).await;
            // Boxed, as each frame's handling below: an idle socket's task stays small.
            match Box::pin(console.welcome(r#ref.as_deref())).await {
                Ok(()) => true,
                Err(e) => {
                    let _ = replies.send_async(refused(&e, r#ref.as_deref())).await;
                    false
                }
            }
        }
        Incoming::Frame(Frame::Hello { .. }, r#ref) => {
            let _ = replies
                .send_async(Outbound::error(
                    "unsupported_version",
                    "this gateway speaks protocol version 1",
                    r#ref.as_deref(),
                ))
                .await;
            false
        }
        Incoming::Frame(_, r#ref) => {
            let _ = replies
                .send_async(Outbound::error(
                    "hello_required",
                    "the first frame must be `hello`",
                    r#ref.as_deref(),
                ))
                .await;
            false
        }
        Incoming::Bad(out) => {
            let _ = replies.send_async(out).await;
            false
        }
        Incoming::Closed => false,
    };

    let _counted = ready.then(|| super::Counted::new(Side::Agent));
    if ready {
        let mut beat = tokio::time::interval(Duration::from_secs(
            state.config.heartbeat_interval_secs.max(1),
        ));
        beat.tick().await; // the first tick is immediate; the device just heartbeated
        loop {
            let frame = tokio::select! {
                _ = cancel.cancelled() => break,
                _ = beat.tick() => {
                    // The session is checked again at each heartbeat: a logout elsewhere, a
                    // changed password or a deactivated agent closes this console, on whichever
                    // replica it is, within one interval (a failed check keeps it open).
                    if let Ok(None) = auth::session_for(&state, &token).await {
                        let _ = replies
                            .send_async(Outbound::error(
                                "session_ended",
                                "your session has ended; log in again",
                                None,
                            ))
                            .await;
                        break;
                    }
                    state.heartbeat(group, agent_id, device).await;
                    // Still watching: said again, for an agent's console that opened since. A
                    // chat that closed is no longer followed (`Hub::forget_closed`).
                    console.watching.retain(|c| state.hub.is_watching(socket_id, *c));
                    for c in console.watching.clone() {
                        whisper::watching(&state, &console.session, c, true).await;
                    }
                    continue;
                }
                f = next_frame::<Frame>(&mut stream, Side::Agent) => f,
            };
            let reply = match frame {
                Incoming::Closed => break,
                Incoming::Bad(out) => Some(out),
                Incoming::Frame(f, r#ref) => {
                    // One span per frame: its trace context rides every bus message it causes.
                    let span = tracing::info_span!("console_frame", frame = f.name());
                    Box::pin(console.handle(f, r#ref.as_deref()).instrument(span)).await
                }
            };
            if let Some(reply) = reply
                && replies.send_async(reply).await.is_err()
            {
                break;
            }
        }
        let closed = Envelope::new(
            group,
            DeviceClosed {
                agent_id,
                device_id: device,
            },
        );
        if let Err(e) = state
            .bus
            .publish_signal(v1::presence_device_closed(group), &closed)
            .await
        {
            tracing::warn!(error = %e, "cannot report a closed console");
        }
        for c in std::mem::take(&mut console.watching) {
            whisper::watching(&state, &console.session, c, false).await;
        }
    }
    state.hub.unregister(socket_id);
    drop(replies);
    cancel.cancel();
    let _ = writer.await;
}

impl Console {
    fn group(&self) -> Uuid {
        self.session.group()
    }

    fn agent(&self) -> Uuid {
        self.session.agent.id
    }

    fn watch(&mut self, conversation: Uuid) {
        self.state.hub.watch(self.socket, conversation);
    }

    async fn welcome(&mut self, r#ref: Option<&str>) -> Result<(), CommandError> {
        let db = |e: sqlx::Error| {
            tracing::error!(error = %e, "console welcome failed");
            CommandError::new(
                ErrorCode::Unavailable,
                "could not load your chats; reconnect",
            )
        };
        let pool = &self.state.pool;
        let incoming =
            read::conversations(pool, self.group(), Filter::OfferedTo(self.agent()), 200)
                .await
                .map_err(db)?;
        let active = read::conversations(pool, self.group(), Filter::ActiveFor(self.agent()), 200)
            .await
            .map_err(db)?;
        let recent = read::conversations(pool, self.group(), Filter::RecentFor(self.agent()), 20)
            .await
            .map_err(db)?;
        let transfers = read::transfers_offered_to(pool, self.group(), self.agent())
            .await
            .map_err(db)?;
        let internal = read::internal_chats_of(pool, self.group(), self.agent(), 100)
            .await
            .map_err(db)?;
        for c in &active {
            self.watch(c.id);
        }
        let query = Envelope::new(
            self.group(),
            GetStatus {
                agent_id: self.agent(),
            },
        );
        let status = match self
            .state
            .bus
            .request::<_, AgentPresence>(v1::presence_get_status(self.group()), &query)
            .await
        {
            Ok(Ok(p)) => p.status,
            other => {
                tracing::warn!(result = ?other.err(), "presence did not tell the status; showing offline");
                AgentStatus::Offline
            }
        };
        // Live messages of these chats continue after what was read here; the console reads
        // the rest with `open` and `internal_history`.
        let marks = active
            .iter()
            .map(|c| Mark::From(Stream::Conversation(c.id), c.last_seq))
            .chain(
                internal
                    .iter()
                    .map(|c| Mark::From(Stream::Internal(c.id), c.last_seq)),
            )
            .collect();
        let a = &self.session.agent;
        let frame = ServerFrame::Welcome(Welcome::Console(Box::new(ConsoleWelcome {
            v: PROTOCOL_VERSION,
            agent: WelcomeAgent {
                id: a.id,
                name: a.display_name(),
                email: a.email.clone(),
                role: a.role.clone(),
                status,
                auto_away_secs: a.auto_away_secs,
            },
            incoming,
            active,
            recent,
            transfers,
            internal,
        })));
        let _ = self
            .replies
            .send_async(Outbound::marked(&frame, r#ref, marks))
            .await;
        Ok(())
    }

    /// The socket's limits on a frame: a `ping`, `send` or `internal_send` past them is
    /// answered `rate_limited` and goes no further (nothing stored, nothing forwarded).
    fn limited(&self, frame: &Frame) -> Option<Limited> {
        let limits = &self.state.limits;
        match frame {
            Frame::Ping => self.limits.ping().err(),
            Frame::Send {
                conversation_id, ..
            } => limits.message(&self.limits, Some(*conversation_id)).err(),
            Frame::InternalSend { chat_id, .. } => {
                limits.message(&self.limits, Some(*chat_id)).err()
            }
            _ => self.limits.frame().err(),
        }
    }

    async fn handle(&mut self, frame: Frame, r#ref: Option<&str>) -> Option<Outbound> {
        if let Some(l) = self.limited(&frame) {
            return Some(Outbound::rate_limited(l.retry_after_secs, l.message, r#ref));
        }
        if let Frame::Idle { idle } = frame {
            // Auto-away: this console has had no activity for the agent's idle time (or has
            // again). Best-effort like typing; presence decides what it means.
            let env = Envelope::new(
                self.group(),
                DeviceIdle {
                    agent_id: self.agent(),
                    device_id: self.device,
                    idle,
                },
            );
            if let Err(e) = self
                .state
                .bus
                .publish_signal(v1::presence_device_idle(self.group()), &env)
                .await
            {
                tracing::warn!(error = %e, "idle change not sent");
            }
            return None;
        }
        if let Frame::Typing {
            conversation_id,
            typing,
        } = frame
        {
            // Only in chats this socket follows (a transferred chat stops being followed).
            if self.state.hub.is_watching(self.socket, conversation_id) {
                let author = Author {
                    kind: AuthorKind::Agent,
                    id: Some(self.agent()),
                    name: Some(self.session.agent.display_name()),
                };
                self.state
                    .typing(self.group(), conversation_id, author, typing)
                    .await;
            }
            return None;
        }
        if let Frame::Seen {
            conversation_id,
            seq,
        } = frame
        {
            return self
                .seen(conversation_id, seq)
                .await
                .err()
                .map(|e| refused(&e, r#ref));
        }
        Some(match self.dispatch(frame, r#ref).await {
            Ok(out) => out,
            Err(e) => refused(&e, r#ref),
        })
    }

    /// A read mark of a chat this agent has (the chat's agent only: a manager reading along
    /// does not tell the shopper the agent saw it): stored and fanned out, coalesced
    /// (`seen.rs`).
    async fn seen(&self, conversation_id: Uuid, seq: i64) -> Result<(), CommandError> {
        if seq < 1 {
            return Err(CommandError::new(
                ErrorCode::BadRequest,
                "`seq` must be 1 or more",
            ));
        }
        let c = read::conversation(&self.state.pool, self.group(), conversation_id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "reading a chat to mark it seen failed");
                CommandError::new(ErrorCode::Unavailable, "could not mark it seen; retry")
            })?
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such conversation"))?;
        if c.agent.as_ref().map(|a| a.id) != Some(self.agent()) {
            return Err(CommandError::new(
                ErrorCode::NotAllowed,
                "only the chat's agent marks it seen",
            ));
        }
        self.state
            .marks
            .mark(self.group(), c.id, ReadSide::Agent, seq);
        Ok(())
    }

    async fn dispatch(
        &mut self,
        frame: Frame,
        r#ref: Option<&str>,
    ) -> Result<Outbound, CommandError> {
        let group = self.group();
        match frame {
            Frame::Hello { .. } => Err(CommandError::new(
                ErrorCode::NotAllowed,
                "`hello` was already received",
            )),
            Frame::Idle { .. } => Err(CommandError::new(
                ErrorCode::Internal,
                "idle is handled before dispatch",
            )),
            Frame::Typing { .. } | Frame::Seen { .. } => Err(CommandError::new(
                ErrorCode::Internal,
                "typing is handled before dispatch",
            )),
            Frame::Ping => Ok(Outbound::reply(&ServerFrame::Pong, r#ref)),
            Frame::Board => {
                // Follow changes first, so none falls between the read and the subscription.
                self.state.hub.watch_board(self.socket, group);
                let board: Board = self
                    .state
                    .command(v1::presence_board(group), GetBoard::default())
                    .await?;
                Ok(Outbound::reply(&ServerFrame::Board { board }, r#ref))
            }
            Frame::SetStatus { status } => {
                let status = AgentStatus::parse(&status).ok_or_else(|| {
                    CommandError::new(
                        ErrorCode::BadRequest,
                        "status must be one of available, away, dnd, offline",
                    )
                })?;
                let cmd = SetStatus {
                    agent_id: self.agent(),
                    status,
                    changed_by: self.agent(),
                };
                let p: AgentPresence = self
                    .state
                    .command(v1::presence_set_status(group), cmd)
                    .await?;
                Ok(Outbound::reply(
                    &ServerFrame::Status { status: p.status },
                    r#ref,
                ))
            }
            Frame::Accept { conversation_id } => {
                let cmd = AcceptConversation {
                    conversation_id,
                    agent_id: self.agent(),
                };
                let c: Conversation = self
                    .state
                    .command(
                        v1::conversation_command(group, ConversationCommand::Accept),
                        cmd,
                    )
                    .await?;
                self.watch(c.id);
                let last_seq = c.last_seq;
                let id = c.id;
                Ok(Outbound::marked(
                    &ServerFrame::Accepted { conversation: c },
                    r#ref,
                    vec![Mark::From(Stream::Conversation(id), last_seq)],
                ))
            }
            Frame::Open {
                conversation_id,
                after_seq,
            } => {
                let db = |e: sqlx::Error| {
                    tracing::error!(error = %e, "open failed");
                    CommandError::new(
                        ErrorCode::Unavailable,
                        "could not load the conversation; retry",
                    )
                };
                let c = read::conversation(&self.state.pool, group, conversation_id)
                    .await
                    .map_err(db)?
                    .ok_or_else(|| {
                        CommandError::new(ErrorCode::NotFound, "no such conversation")
                    })?;
                self.watch(c.id);
                if c.state.is_closed() {
                    // Its last moments' frames still come, then nothing more can.
                    self.state.hub.closed(c.id);
                }
                let after = after_seq.unwrap_or(0).max(0);
                let messages = showroom_store::read::messages_after(
                    &self.state.pool,
                    group,
                    c.id,
                    after,
                    1000,
                )
                .await
                .map_err(db)?;
                let upto = reached(&messages, after, c.last_seq);
                let id = c.id;
                let whispers = read::whispers_of(&self.state.pool, group, id)
                    .await
                    .map_err(db)?;
                let rating = read::rating_of(&self.state.pool, group, id)
                    .await
                    .map_err(db)?;
                // Someone else's live chat: its agent learns this console watches it.
                let theirs = c.agent.as_ref().is_some_and(|a| a.id != self.agent());
                if theirs && !c.state.is_closed() && !self.watching.contains(&id) {
                    self.watching.push(id);
                    whisper::watching(&self.state, &self.session, id, true).await;
                }
                // How far each side has seen it, just before the history (best-effort).
                for mark in seen::of(&self.state.pool, group, id)
                    .await
                    .unwrap_or_default()
                {
                    let _ = self
                        .replies
                        .send_async(Outbound::frame(&ServerFrame::Seen(mark)))
                        .await;
                }
                let frame = ServerFrame::History {
                    conversation: ConversationView::Full(Box::new(c)),
                    messages,
                    whispers,
                    rating,
                };
                Ok(Outbound::marked(
                    &frame,
                    r#ref,
                    vec![Mark::Upto(Stream::Conversation(id), upto)],
                ))
            }
            Frame::Send {
                conversation_id,
                client_msg_id,
                text,
                file_id,
                estimate_id,
            } => {
                let arrived = std::time::Instant::now();
                let me = self.agent();
                let author = Author {
                    kind: AuthorKind::Agent,
                    id: Some(me),
                    name: Some(self.session.agent.display_name()),
                };
                let writer = &self.state.transcript;
                let appended = match estimate_id {
                    Some(_) if file_id.is_some() => {
                        return Err(CommandError::new(
                            ErrorCode::BadRequest,
                            "send a `file_id` or an `estimate_id`, not both",
                        ));
                    }
                    Some(e) => {
                        writer
                            .send_estimate(
                                group,
                                conversation_id,
                                &author,
                                &text,
                                &client_msg_id,
                                e,
                            )
                            .await?
                    }
                    None => {
                        writer
                            .send(
                                group,
                                conversation_id,
                                &author,
                                &text,
                                &client_msg_id,
                                file_id,
                            )
                            .await?
                    }
                };
                self.watch(conversation_id);
                Ok(self
                    .state
                    .acknowledge(
                        self.group(),
                        appended.message(),
                        r#ref,
                        Side::Agent,
                        arrived,
                    )
                    .await)
            }
            Frame::Transfer {
                conversation_id,
                to_agent,
                to_department,
                note,
            } => {
                let cmd = handover::transfer_command(
                    conversation_id,
                    self.agent(),
                    to_agent,
                    to_department,
                    note,
                )?;
                let t = handover::transfer(&self.state, group, cmd).await?;
                Ok(Outbound::reply(
                    &ServerFrame::Transfer { transfer: t },
                    r#ref,
                ))
            }
            Frame::TransferReply {
                transfer_id,
                accept,
            } => {
                let t =
                    handover::reply(&self.state, group, transfer_id, self.agent(), accept).await?;
                if t.state == TransferState::Accepted {
                    // Like `accept`: this console follows its new chat at once.
                    self.watch(t.conversation_id);
                }
                Ok(Outbound::reply(
                    &ServerFrame::Transfer { transfer: t },
                    r#ref,
                ))
            }
            Frame::Whisper {
                conversation_id,
                client_msg_id,
                text,
            } => {
                let w = whisper::send(
                    &self.state,
                    &self.session,
                    conversation_id,
                    &text,
                    &client_msg_id,
                )
                .await?;
                Ok(Outbound::reply(&ServerFrame::Whisper { whisper: w }, r#ref))
            }
            Frame::Reassign {
                conversation_id,
                agent_id,
            } => {
                if !handover::may_reassign(&self.session) {
                    return Err(CommandError::new(
                        ErrorCode::NotAllowed,
                        handover::MANAGERS_ONLY,
                    ));
                }
                let c = handover::reassign(&self.state, &self.session, conversation_id, agent_id)
                    .await?;
                Ok(Outbound::reply(
                    &ServerFrame::Conversation {
                        conversation: ConversationView::Full(Box::new(c)),
                    },
                    r#ref,
                ))
            }
            Frame::InternalOpen { with, topic } => {
                let chat = internal::open(&self.state, group, self.agent(), with, topic).await?;
                Ok(internal_frame(&chat, r#ref))
            }
            Frame::InternalInvite { chat_id, agent_id } => {
                let chat =
                    internal::invite(&self.state, group, self.agent(), chat_id, agent_id).await?;
                Ok(internal_frame(&chat, r#ref))
            }
            Frame::InternalLeave { chat_id } => {
                let chat = internal::leave(&self.state, group, self.agent(), chat_id).await?;
                Ok(internal_frame(&chat, r#ref))
            }
            Frame::InternalHistory { chat_id, after_seq } => {
                let chat = internal::chat_of_member(&self.state.pool, group, chat_id, self.agent())
                    .await?;
                let after = after_seq.unwrap_or(0).max(0);
                let messages = internal::after(&self.state.pool, group, chat.id, after, 1000)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "internal history failed");
                        CommandError::new(ErrorCode::Unavailable, "could not load the chat; retry")
                    })?;
                let upto = reached(&messages, after, chat.last_seq);
                let id = chat.id;
                let frame = ServerFrame::InternalHistory { chat, messages };
                Ok(Outbound::marked(
                    &frame,
                    r#ref,
                    vec![Mark::Upto(Stream::Internal(id), upto)],
                ))
            }
            Frame::InternalSend {
                chat_id,
                client_msg_id,
                text,
            } => {
                let author = Author {
                    kind: AuthorKind::Agent,
                    id: Some(self.agent()),
                    name: Some(self.session.agent.display_name()),
                };
                let appended = internal::append(
                    &self.state.pool,
                    group,
                    chat_id,
                    &author,
                    &text,
                    &client_msg_id,
                )
                .await?;
                let m = appended.message();
                internal::publish(&self.state, group, m).await;
                Ok(Outbound::reply(&ServerFrame::Ack(Ack::internal(m)), r#ref))
            }
            Frame::End { conversation_id } => {
                let cmd = EndConversation {
                    conversation_id,
                    by: EndedBy::Agent,
                    actor_id: self.agent(),
                };
                let c: Conversation = self
                    .state
                    .command(
                        v1::conversation_command(group, ConversationCommand::End),
                        cmd,
                    )
                    .await?;
                Ok(Outbound::reply(
                    &ServerFrame::Conversation {
                        conversation: ConversationView::Full(Box::new(c)),
                    },
                    r#ref,
                ))
            }
        }
    }
}
