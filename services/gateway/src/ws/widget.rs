//! The shopper widget socket: `GET /ws/widget?key=<website key>&route=<route>`. The `route`
//! is for the proxy in front of the gateways and is ignored here; the `welcome` names it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, header::ORIGIN};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use showroom_proto::appearance::{Appearance, LanguageChoice};
use showroom_proto::bot::{BotCommand, LeaveMessage, LeaveMessageForm, MessageReceipt};
use showroom_proto::contact::Language;
use showroom_proto::conversation::{
    Conversation, ConversationCommand, EndConversation, EndedBy, StartConversation, Vehicle,
};
use showroom_proto::forms::{Answers, CheckedForm, ContactField, FormKind, SubmitForm};
use showroom_proto::frames::{
    ConversationView, ErrorFrame, ServerFrame, WebsiteForms, WebsiteView, Welcome, WidgetWelcome,
};
use showroom_proto::message::{Author, AuthorKind, Rating, ReadSide};
use showroom_proto::notification::{EmailTranscript, TranscriptRequested};
use showroom_proto::{CommandError, ErrorCode, v1};
use showroom_store::read;
use tracing::Instrument;
use uuid::Uuid;

use super::order::reached;
use super::upgrade::{Socket, Upgrade};
use super::{HELLO_TIMEOUT, Incoming, PROTOCOL_VERSION, next_frame, refused};
use crate::hub::{Mark, Outbound, Side, Stream};
use crate::{AppState, rating, seen};
use showroom_proto::contact::ClientAddress;
use showroom_rest::directory::Website;
use showroom_rest::error::ApiError;
use showroom_rest::extract::{client_ip, website_for};
use showroom_rest::limits::{Limited, SocketLimits};

/// Query of the upgrade request.
#[derive(Deserialize)]
pub struct WidgetQuery {
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame {
    Hello {
        v: u32,
        #[serde(default)]
        visitor_token: Option<String>,
        #[serde(default)]
        last_seq: Option<i64>,
        /// The browser's language tag (`es-MX`): the bot's language until `start` says.
        #[serde(default)]
        locale: Option<String>,
    },
    Start {
        /// `None` lets the bot ask (Lead Gate on).
        #[serde(default)]
        department_id: Option<Uuid>,
        /// `en` or `es` (any tag: `es-MX` is Spanish, others English).
        #[serde(default)]
        language: Option<String>,
        /// The page the chat starts on.
        #[serde(default)]
        page_url: Option<String>,
        #[serde(default)]
        name: Option<String>,
        /// Routing variables (checked by [`variables`]).
        #[serde(default)]
        variables: Option<Value>,
        /// The vehicle on the shopper's page (checked by [`vehicle`]).
        #[serde(default)]
        vehicle: Option<Value>,
        /// The answers to the website's pre-chat form (field key → value), checked by the bot.
        #[serde(default)]
        form: Option<Answers>,
    },
    Send {
        client_msg_id: String,
        /// The text; with `file_id`, an optional caption.
        #[serde(default)]
        text: String,
        /// A file uploaded to `POST /api/v1/widget/{key}/attachments?form=chat`.
        #[serde(default)]
        file_id: Option<Uuid>,
    },
    Typing {
        typing: bool,
    },
    /// The shopper has seen the conversation's messages up to `seq` (a read mark).
    Seen {
        seq: i64,
    },
    /// The shopper rates their chat that ended (CSAT), once.
    Rate {
        score: i64,
        #[serde(default)]
        comment: Option<String>,
    },
    End,
    Ping,
    /// The messages of the shopper's conversation after `after_seq` (a client that saw a seq
    /// jump fetches the gap).
    History {
        #[serde(default)]
        after_seq: Option<i64>,
    },
    /// The leave-a-message form (its fields are the REST call's).
    LeaveMessage {
        #[serde(flatten)]
        form: Box<LeaveMessageForm>,
        /// Sending the same form again (same id) stores it once.
        #[serde(default)]
        form_id: Option<String>,
    },
    /// "Email me this chat": the transcript of the shopper's conversation, mailed now.
    EmailTranscript {
        /// Where to send it (checked by [`transcript_address`]).
        email: String,
    },
}

impl Frame {
    fn name(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "hello",
            Frame::Start { .. } => "start",
            Frame::Send { .. } => "send",
            Frame::Typing { .. } => "typing",
            Frame::Seen { .. } => "seen",
            Frame::Rate { .. } => "rate",
            Frame::End => "end",
            Frame::Ping => "ping",
            Frame::History { .. } => "history",
            Frame::LeaveMessage { .. } => "leave_message",
            Frame::EmailTranscript { .. } => "email_transcript",
        }
    }
}

/// Checks a `start` frame's `vehicle`: an object of the [`Vehicle`] fields, each valid; the
/// error names the field.
pub fn vehicle(raw: Option<Value>) -> Result<Option<Vehicle>, String> {
    let v: Vehicle = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(v @ Value::Object(_)) => {
            serde_json::from_value(v).map_err(|e| format!("`vehicle` is not valid: {e}"))?
        }
        Some(_) => return Err("`vehicle` must be an object".into()),
    };
    v.checked(chrono::Datelike::year(&chrono::Utc::now()))
}

/// Most routing variables a `start` may carry.
pub const MAX_VARIABLES: usize = 20;
/// Longest variable name, in characters.
pub const MAX_VARIABLE_NAME: usize = 64;
/// Longest variable value, in characters.
pub const MAX_VARIABLE_VALUE: usize = 256;

/// Checks a `start` frame's `variables`: an object of at most 20 string values, names of 1 to
/// 64 characters of `A-Z a-z 0-9 _ -`, values of at most 256 characters. The error names the
/// problem.
pub fn variables(raw: Option<Value>) -> Result<BTreeMap<String, String>, String> {
    let map = match raw {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err("`variables` must be an object of strings".into()),
    };
    if map.len() > MAX_VARIABLES {
        return Err(format!(
            "`variables` has {} entries; at most {MAX_VARIABLES} are allowed",
            map.len()
        ));
    }
    let mut out = BTreeMap::new();
    for (name, value) in map {
        let len = name.chars().count();
        if len == 0 || len > MAX_VARIABLE_NAME {
            return Err(format!(
                "variable names must be 1 to {MAX_VARIABLE_NAME} characters"
            ));
        }
        if !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        {
            return Err(format!(
                "variable name `{name}` may only hold letters, digits, `_` and `-`"
            ));
        }
        let Value::String(value) = value else {
            return Err(format!("variable `{name}` must be a string"));
        };
        if value.chars().count() > MAX_VARIABLE_VALUE {
            return Err(format!(
                "variable `{name}` is longer than {MAX_VARIABLE_VALUE} characters"
            ));
        }
        out.insert(name, value);
    }
    Ok(out)
}

/// An address a shopper typed for their transcript, checked before anything is asked of the
/// notification service so a typo gets its own answer (`bad_email`) at once: e-mail syntax
/// (the `email_address` crate), at most 254 characters, no display name, a dotted domain.
/// Returned trimmed, the domain lower-cased.
pub fn transcript_address(raw: &str) -> Option<String> {
    let e = raw.trim();
    if e.is_empty() || e.len() > 254 || e.contains(|c: char| c.is_whitespace() || c == '<') {
        return None;
    }
    let parsed: email_address::EmailAddress = e.parse().ok()?;
    let domain = parsed.domain();
    if domain.starts_with('[')
        || domain.split('.').count() < 2
        || domain.split('.').any(str::is_empty)
    {
        return None;
    }
    Some(format!(
        "{}@{}",
        parsed.local_part(),
        domain.to_ascii_lowercase()
    ))
}

/// Checks the website key and the browser's origin, then upgrades.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    Query(q): Query<WidgetQuery>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ws: Upgrade,
) -> Result<Response, ApiError> {
    let ip = client_ip(
        &headers,
        peer.map(|p| p.0.0),
        &state.settings.trusted_proxies,
    );
    let key = q.key.filter(|k| !k.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "missing_key",
            "the `key` query parameter (website key) is required",
        )
    })?;
    // A socket needs a page: no `Origin` is refused like a wrong one.
    let origin = headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let website = website_for(&state.pool, &key, Some(origin)).await?;
    Ok(ws.on_upgrade(move |socket| {
        run(
            state,
            Box::new(Accepted {
                website,
                ip,
                socket,
            }),
        )
    }))
}

struct Shopper {
    state: Arc<AppState>,
    website: Website,
    /// Where the socket comes from, for consent records.
    ip: Option<ClientAddress>,
    /// The browser's language until a conversation says otherwise.
    language: Language,
    visitor: Uuid,
    socket: u64,
    /// Boxed: most sockets never chat, and an idle socket keeps only a pointer.
    conversation: Option<Box<Conversation>>,
    /// The last `start` was refused `unavailable` (busy): a form left now says so.
    turned_away: bool,
    replies: flume::Sender<Outbound>,
    /// This socket's own limits (messages, pings).
    limits: SocketLimits,
}

/// What a socket's task starts from, boxed: a task keeps its arguments' room for its whole
/// life, even once they are moved out (a `Socket` alone is a few hundred bytes).
struct Accepted {
    website: Website,
    ip: Option<ClientAddress>,
    socket: Socket,
}

async fn run(state: Arc<AppState>, accepted: Box<Accepted>) {
    let Accepted {
        website,
        ip,
        socket,
    } = *accepted;
    // Boxed: see `ws::open`.
    let opened = Box::pin(super::open(
        &state,
        socket,
        Side::Shopper,
        None,
        website.group_id,
    ))
    .await;
    let (mut stream, replies, socket_id) = (opened.stream, opened.replies, opened.socket_id);
    let (cancel, writer, _hold) = (opened.cancel, opened.writer, opened.hold);

    let hello = tokio::select! {
        _ = cancel.cancelled() => Incoming::Closed,
        f = tokio::time::timeout(HELLO_TIMEOUT, next_frame::<Frame>(&mut stream, Side::Shopper)) => f.unwrap_or(Incoming::Closed),
    };
    // The shopper is made in place: a task keeps room for every value it holds across an
    // await, so a `Shopper` made apart for the `welcome` and then moved here took that room
    // twice, in every socket, for the socket's whole life.
    let mut shopper: Option<Shopper> = None;
    match hello {
        Incoming::Frame(
            Frame::Hello {
                v,
                visitor_token,
                last_seq,
                locale,
            },
            r#ref,
        ) => {
            if v != PROTOCOL_VERSION {
                let _ = replies
                    .send_async(Outbound::error(
                        "unsupported_version",
                        "this gateway speaks protocol version 1",
                        r#ref.as_deref(),
                    ))
                    .await;
            } else {
                let known = visitor_token
                    .as_deref()
                    .and_then(|t| state.visitor_keys.verify(website.id, t));
                let s = shopper.insert(Shopper {
                    state: state.clone(),
                    website,
                    ip,
                    language: Language::from_tag(locale.as_deref().unwrap_or("")),
                    visitor: known.unwrap_or_else(Uuid::new_v4),
                    socket: socket_id,
                    conversation: None,
                    turned_away: false,
                    replies: replies.clone(),
                    limits: state.limits.socket(),
                });
                // Boxed, like each frame's handling below: an idle socket's task keeps only
                // what it holds between frames, not the largest future it ever awaits.
                let welcome = s.welcome(
                    known.is_some(),
                    last_seq.unwrap_or(0).max(0),
                    r#ref.as_deref(),
                );
                if let Err(e) = Box::pin(welcome).await {
                    shopper = None;
                    let _ = replies.send_async(refused(&e, r#ref.as_deref())).await;
                }
            }
        }
        Incoming::Frame(_, r#ref) => {
            let _ = replies
                .send_async(Outbound::error(
                    "hello_required",
                    "the first frame must be `hello`",
                    r#ref.as_deref(),
                ))
                .await;
        }
        Incoming::Bad(out) => {
            let _ = replies.send_async(out).await;
        }
        Incoming::Closed => {}
    }

    let _counted = shopper
        .is_some()
        .then(|| super::Counted::new(Side::Shopper));
    if let Some(s) = shopper.as_mut() {
        loop {
            let frame = tokio::select! {
                _ = cancel.cancelled() => break,
                f = next_frame::<Frame>(&mut stream, Side::Shopper) => f,
            };
            let reply = match frame {
                Incoming::Closed => break,
                Incoming::Bad(out) => Some(out),
                Incoming::Frame(f, r#ref) => {
                    // One span per frame: its trace context rides every bus message it causes.
                    let span = tracing::info_span!("widget_frame", frame = f.name());
                    Box::pin(s.handle(f, r#ref.as_deref()).instrument(span)).await
                }
            };
            if let Some(reply) = reply
                && replies.send_async(reply).await.is_err()
            {
                break;
            }
        }
    }
    state.hub.unregister(socket_id);
    drop(replies);
    cancel.cancel();
    let _ = writer.await;
}

impl Shopper {
    fn group(&self) -> Uuid {
        self.website.group_id
    }

    /// The shopper's address as the consent record keeps it.
    fn ip_text(&self) -> Option<String> {
        self.ip.as_ref().map(|a| a.ip.to_string())
    }

    fn open(&self) -> Option<&Conversation> {
        self.conversation
            .as_deref()
            .filter(|c| !c.state.is_closed())
    }

    /// Answers `hello`: the website (departments, bot, forms, look in one read) and, for a
    /// `returning` visitor (one whose token checked out), their latest chat with what they
    /// missed of it. A new visitor's id was just made, so no chat of theirs is looked for.
    async fn welcome(
        &mut self,
        returning: bool,
        last_seq: i64,
        r#ref: Option<&str>,
    ) -> Result<(), CommandError> {
        let state = self.state.clone();
        let pool = &state.pool;
        let db = |e: sqlx::Error| {
            tracing::error!(error = %e, "welcome failed");
            CommandError::new(
                ErrorCode::Unavailable,
                "could not load your conversation; reconnect",
            )
        };
        self.conversation = None;
        if returning {
            let filter = read::Filter::Visitor {
                website_id: self.website.id,
                visitor_id: self.visitor,
            };
            let recent = read::conversations(pool, self.group(), filter, 1)
                .await
                .map_err(db)?;
            if let Some(c) = recent.into_iter().next() {
                self.follow(c).await;
            }
        }
        let mut messages = Vec::new();
        let mut marks = Vec::new();
        if let Some(c) = &self.conversation {
            messages =
                showroom_store::read::messages_after(pool, self.group(), c.id, last_seq, 1000)
                    .await
                    .map_err(db)?;
            let upto = reached(&messages, last_seq, c.last_seq);
            marks.push(Mark::Upto(Stream::Conversation(c.id), upto));
        }
        let read::WidgetSite {
            departments,
            bot,
            pre_chat,
            offline,
        } = read::widget_site(pool, self.website.id, self.website.rooftop_id)
            .await
            .map_err(db)?;
        // Only the welcome reads the look: the socket does not keep it.
        let appearance = Appearance::from_stored(&std::mem::take(&mut self.website.appearance));
        // A website that fixes the widget's language speaks it until the shopper chooses.
        match appearance.language {
            LanguageChoice::Auto => {}
            LanguageChoice::En => self.language = Language::En,
            LanguageChoice::Es => self.language = Language::Es,
        }
        let language = self
            .conversation
            .as_ref()
            .map(|c| c.language)
            .unwrap_or(self.language);
        let frame = ServerFrame::Welcome(Welcome::Widget(Box::new(WidgetWelcome {
            v: PROTOCOL_VERSION,
            visitor_token: self.state.visitor_keys.issue(self.website.id, self.visitor),
            website: WebsiteView {
                name: self.website.name.clone(),
                rooftop: self.website.rooftop_name.clone(),
            },
            departments,
            language,
            bot: bot.view(language),
            forms: WebsiteForms { pre_chat, offline },
            appearance,
            conversation: self.conversation.as_deref().map(Into::into),
            messages,
            route: self.group(),
        })));
        let _ = self
            .replies
            .send_async(Outbound::marked(&frame, r#ref, marks))
            .await;
        // Then how far each side has seen the chat (best-effort: a failed read shows no "Seen"),
        // and the shopper's rating of it, once given.
        if let Some(c) = &self.conversation {
            if let Ok(Some(r)) = read::rating_of(pool, self.group(), c.id).await {
                let _ = self
                    .replies
                    .send_async(Outbound::frame(&ServerFrame::Rated(r)))
                    .await;
            }
            for mark in seen::of(pool, self.group(), c.id).await.unwrap_or_default() {
                let _ = self
                    .replies
                    .send_async(Outbound::frame(&ServerFrame::Seen(mark)))
                    .await;
            }
        }
        Ok(())
    }

    /// The socket's limits on a frame: a `ping` or a `send` past them is answered
    /// `rate_limited` and goes no further (nothing stored, nothing forwarded, no bot answer).
    fn limited(&self, frame: &Frame) -> Option<Limited> {
        match frame {
            Frame::Ping => self.limits.ping().err(),
            Frame::Send { .. } => self
                .state
                .limits
                .message(&self.limits, self.open().map(|c| c.id))
                .err(),
            // `start` and `leave_message` count against the conversations' limits too.
            _ => self.limits.frame().err(),
        }
    }

    /// A conversation about to start (`start`, `leave_message`): refused past the website's
    /// limits on conversations from this address and in all.
    async fn conversation_allowed(&self) -> Result<(), Limited> {
        self.state
            .limits
            .conversation_started(&self.website, self.ip_text().as_deref())
            .await
    }

    /// Handles one frame; the reply to send, if the frame has one.
    async fn handle(&mut self, frame: Frame, r#ref: Option<&str>) -> Option<Outbound> {
        if let Some(l) = self.limited(&frame) {
            return Some(Outbound::rate_limited(l.retry_after_secs, l.message, r#ref));
        }
        if let Frame::Typing { typing } = frame {
            if let Some(c) = self.open() {
                let author = Author {
                    kind: AuthorKind::Shopper,
                    id: None,
                    name: c.shopper.name.clone(),
                };
                self.state.typing(self.group(), c.id, author, typing).await;
            }
            return None;
        }
        if let Frame::EmailTranscript { email } = frame {
            return self.email_transcript(&email, r#ref).await;
        }
        if let Frame::Seen { seq } = frame {
            return self.seen(seq, r#ref);
        }
        if let Frame::Rate { score, comment } = frame {
            return Some(match self.rate(score, comment.as_deref()).await {
                Ok(r) => Outbound::reply(&ServerFrame::Rated(r), r#ref),
                Err(e) => refused(&e, r#ref),
            });
        }
        let start = matches!(frame, Frame::Start { .. });
        let out = self.dispatch(frame, r#ref).await;
        if start {
            // Busy (this gateway's admission, or the router's): a form left next says so.
            self.turned_away = out
                .as_ref()
                .is_err_and(|e| e.code == ErrorCode::Unavailable);
        }
        Some(match out {
            Ok(out) => out,
            Err(e) => refused(&e, r#ref),
        })
    }

    async fn dispatch(
        &mut self,
        frame: Frame,
        r#ref: Option<&str>,
    ) -> Result<Outbound, CommandError> {
        match frame {
            Frame::Hello { .. } => Err(CommandError::new(
                ErrorCode::NotAllowed,
                "`hello` was already received",
            )),
            Frame::Ping => Ok(Outbound::reply(&ServerFrame::Pong, r#ref)),
            Frame::Start {
                department_id,
                language,
                page_url,
                name,
                variables: vars,
                vehicle: car,
                form,
            } => {
                let variables = match variables(vars) {
                    Ok(v) => v,
                    Err(problem) => return Ok(Outbound::error("bad_request", &problem, r#ref)),
                };
                let vehicle = match vehicle(car) {
                    Ok(v) => v,
                    Err(problem) => return Ok(Outbound::error("bad_request", &problem, r#ref)),
                };
                // The agent may have ended the chat since this socket last looked.
                self.refresh().await;
                if self.open().is_some() {
                    return Err(CommandError::new(
                        ErrorCode::NotAllowed,
                        "you already have an open conversation",
                    ));
                }
                // Before the limit counts it: a start refused here is sent again.
                self.state.admission.start()?;
                if let Err(l) = self.conversation_allowed().await {
                    return Ok(Outbound::rate_limited(l.retry_after_secs, l.message, r#ref));
                }
                let mut name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
                let mut variables = variables;
                let language = language
                    .as_deref()
                    .map(Language::from_tag)
                    .unwrap_or(self.language);
                let page_url = page_url.filter(|u| u.len() <= 2000);
                // The pre-chat form: checked and stored by the bot before anything starts.
                let mut form_id = None;
                if let Some(answers) = form {
                    let checked: CheckedForm = self
                        .state
                        .command(
                            v1::bot_command(self.group(), BotCommand::SubmitForm),
                            SubmitForm {
                                website_id: self.website.id,
                                kind: FormKind::PreChat,
                                visitor_id: self.visitor,
                                answers,
                                language,
                                page_url: page_url.clone(),
                                ip: self.ip_text(),
                                ip_source: self.ip.as_ref().map(|a| a.source),
                            },
                        )
                        .await?;
                    variables.extend(checked.variables.clone());
                    let names: Vec<&str> = [ContactField::FirstName, ContactField::LastName]
                        .iter()
                        .filter_map(|f| checked.contact.get(f).map(String::as_str))
                        .collect();
                    if !names.is_empty() {
                        name = Some(names.join(" "));
                    }
                    form_id = Some(checked.id);
                }
                if name.as_ref().is_some_and(|n| n.chars().count() > 100) {
                    return Err(CommandError::new(
                        ErrorCode::TooLarge,
                        "the name is longer than 100 characters",
                    ));
                }
                let cmd = StartConversation {
                    website_id: self.website.id,
                    visitor_id: self.visitor,
                    department_id,
                    shopper_name: name,
                    variables,
                    vehicle,
                    language,
                    page_url,
                    client_ip: self.ip_text(),
                    client_ip_source: self.ip.as_ref().map(|a| a.source),
                    form_id,
                };
                let c: Conversation = self
                    .state
                    .command(
                        v1::conversation_command(self.group(), ConversationCommand::Start),
                        cmd,
                    )
                    .await?;
                // The router's answer may be older than an event the hub routed before this
                // socket watched the chat (an agent who accepted at once, a retried start).
                self.follow(c.clone()).await;
                let now = self.conversation.as_deref().unwrap_or(&c).clone();
                // The bot may have written before this socket watched the chat (its greeting
                // follows the `created` event): whatever is stored now rides the answer, and
                // the writer drops a live copy of any of it.
                let messages = showroom_store::read::messages_after(
                    &self.state.pool,
                    self.group(),
                    c.id,
                    c.last_seq,
                    100,
                )
                .await
                .unwrap_or_default();
                let upto = reached(&messages, c.last_seq, c.last_seq);
                let frame = ServerFrame::Started {
                    conversation: (&now).into(),
                    messages,
                };
                Ok(Outbound::marked(
                    &frame,
                    r#ref,
                    vec![Mark::Upto(Stream::Conversation(c.id), upto)],
                ))
            }
            Frame::History { after_seq } => {
                self.refresh().await;
                let c = self.conversation.as_ref().ok_or_else(|| {
                    CommandError::new(ErrorCode::NotFound, "no conversation yet: start one first")
                })?;
                let after = after_seq.unwrap_or(0).max(0);
                let messages = showroom_store::read::messages_after(
                    &self.state.pool,
                    self.group(),
                    c.id,
                    after,
                    1000,
                )
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "widget history failed");
                    CommandError::new(
                        ErrorCode::Unavailable,
                        "could not load your messages; retry",
                    )
                })?;
                let upto = reached(&messages, after, c.last_seq);
                let frame = ServerFrame::History {
                    conversation: ConversationView::shopper(c),
                    messages,
                    // Whispers and ratings are for agents only.
                    whispers: Vec::new(),
                    rating: None,
                };
                Ok(Outbound::marked(
                    &frame,
                    r#ref,
                    vec![Mark::Upto(Stream::Conversation(c.id), upto)],
                ))
            }
            Frame::Send {
                client_msg_id,
                text,
                file_id,
            } => {
                let arrived = std::time::Instant::now();
                let c = self.open().ok_or_else(|| {
                    CommandError::new(ErrorCode::NotFound, "no open conversation: start one first")
                })?;
                let author = Author {
                    kind: AuthorKind::Shopper,
                    id: Some(self.visitor),
                    name: c.shopper.name.clone(),
                };
                let conversation_id = c.id;
                let appended = self
                    .state
                    .transcript
                    .send(
                        self.group(),
                        conversation_id,
                        &author,
                        &text,
                        &client_msg_id,
                        file_id,
                    )
                    .await;
                let appended = match appended {
                    Err(e) if e.code == ErrorCode::ConversationClosed => {
                        self.refresh().await;
                        return Err(e);
                    }
                    other => other?,
                };
                Ok(self
                    .state
                    .acknowledge(
                        self.group(),
                        appended.message(),
                        r#ref,
                        Side::Shopper,
                        arrived,
                    )
                    .await)
            }
            Frame::Typing { .. }
            | Frame::EmailTranscript { .. }
            | Frame::Seen { .. }
            | Frame::Rate { .. } => Err(CommandError::new(
                ErrorCode::Internal,
                "handled before dispatch",
            )),
            Frame::LeaveMessage { mut form, form_id } => {
                // A message left counts as a conversation started.
                if let Err(l) = self.conversation_allowed().await {
                    return Ok(Outbound::rate_limited(l.retry_after_secs, l.message, r#ref));
                }
                // The conversation it follows, if it could not go live; none when the last
                // start was turned away busy (an earlier chat of this socket is not its cause).
                self.refresh().await;
                let conversation_id = (!self.turned_away)
                    .then(|| self.conversation.as_ref().map(|c| c.id))
                    .flatten();
                if form.language.is_none() {
                    form.language = Some(
                        self.conversation
                            .as_ref()
                            .map(|c| c.language)
                            .unwrap_or(self.language)
                            .as_str()
                            .to_string(),
                    );
                }
                let cmd = LeaveMessage {
                    website_id: self.website.id,
                    form: *form,
                    conversation_id,
                    visitor_id: Some(self.visitor),
                    ip: self.ip_text(),
                    ip_source: self.ip.as_ref().map(|a| a.source),
                    idempotency_key: form_id.map(|id| format!("widget:{}:{id}", self.visitor)),
                    busy: self.turned_away,
                };
                let receipt: MessageReceipt = self
                    .state
                    .command(v1::bot_command(self.group(), BotCommand::LeaveMessage), cmd)
                    .await?;
                Ok(Outbound::reply(
                    &ServerFrame::MessageLeft { id: receipt.id },
                    r#ref,
                ))
            }
            Frame::End => {
                let c = self.conversation.as_ref().ok_or_else(|| {
                    CommandError::new(ErrorCode::NotFound, "no conversation to end")
                })?;
                let cmd = EndConversation {
                    conversation_id: c.id,
                    by: EndedBy::Shopper,
                    actor_id: self.visitor,
                };
                let ended: Conversation = self
                    .state
                    .command(
                        v1::conversation_command(self.group(), ConversationCommand::End),
                        cmd,
                    )
                    .await?;
                self.conversation = Some(Box::new(ended.clone()));
                Ok(Outbound::reply(
                    &ServerFrame::Conversation {
                        conversation: ConversationView::shopper(&ended),
                    },
                    r#ref,
                ))
            }
        }
    }

    /// "Email me this chat": checks the address and that there is a transcript, then asks the
    /// notification service to mail it. The answer (`transcript_sent` or an `error`) comes
    /// from a task, because the SMTP hand-off may take seconds and the shopper keeps chatting
    /// meanwhile; the immediate refusals are returned here.
    async fn email_transcript(&mut self, email: &str, r#ref: Option<&str>) -> Option<Outbound> {
        let Some(email) = transcript_address(email) else {
            return Some(Outbound::error(
                "bad_email",
                "that is not a complete e-mail address (like jane@example.com)",
                r#ref,
            ));
        };
        // Only the shopper's own conversation, as it stands now (its last message).
        self.refresh().await;
        let Some(c) = self.conversation.as_ref() else {
            return Some(Outbound::error(
                "not_found",
                "there is no chat to send",
                r#ref,
            ));
        };
        if c.last_seq == 0 {
            return Some(Outbound::error(
                "not_allowed",
                "this chat has no messages to send yet",
                r#ref,
            ));
        }
        let req = EmailTranscript {
            conversation_id: c.id,
            email,
            upto_seq: c.last_seq,
        };
        let state = self.state.clone();
        let group = self.group();
        let replies = self.replies.clone();
        let r#ref = r#ref.map(str::to_string);
        let span = tracing::Span::current();
        tokio::spawn(
            async move {
                let answer: Result<TranscriptRequested, CommandError> = state
                    .command(v1::notification_email_transcript(group), req)
                    .await;
                let _ = replies
                    .send_async(transcript_answer(answer, r#ref.as_deref()))
                    .await;
            }
            .instrument(span),
        );
        None
    }

    /// A read mark of the shopper's conversation (the open or most recent one): stored and
    /// fanned out, coalesced (`seen.rs`); no answer unless it is refused.
    fn seen(&self, seq: i64, r#ref: Option<&str>) -> Option<Outbound> {
        if seq < 1 {
            return Some(Outbound::error(
                "bad_frame",
                "`seq` must be 1 or more",
                r#ref,
            ));
        }
        let Some(c) = self.conversation.as_deref() else {
            return Some(Outbound::error(
                "not_found",
                "there is no conversation to mark as seen",
                r#ref,
            ));
        };
        self.state
            .marks
            .mark(self.group(), c.id, ReadSide::Shopper, seq);
        None
    }

    /// The shopper's rating of their chat (the most recent one), once it ended with an agent.
    async fn rate(&mut self, score: i64, comment: Option<&str>) -> Result<Rating, CommandError> {
        let (score, comment) = rating::check(score, comment)?;
        self.refresh().await;
        let c = self
            .conversation
            .as_deref()
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "there is no chat to rate"))?;
        if !c.state.is_closed() || c.agent.is_none() {
            return Err(CommandError::new(
                ErrorCode::NotAllowed,
                "a chat is rated once it has ended with an agent",
            ));
        }
        rating::rate(&self.state.pool, self.group(), c.id, score, comment).await
    }

    /// Re-reads the current conversation (it was closed under us).
    /// Makes `c` this socket's conversation and watches it, then reads its state again: a
    /// change routed before the socket watched it is in the read, every later one reaches the
    /// socket.
    async fn follow(&mut self, c: Conversation) {
        self.state.hub.watch(self.socket, c.id);
        self.conversation = Some(Box::new(c));
        self.refresh().await;
    }

    async fn refresh(&mut self) {
        if let Some(c) = &self.conversation
            && let Ok(Some(now)) = read::conversation(&self.state.pool, self.group(), c.id).await
        {
            self.conversation = Some(Box::new(now));
        }
    }
}

/// The widget's answer to `email_transcript`: `transcript_sent` (also for a retry of one
/// already sent, so a client that lost the first answer gets the same one), or an error frame
/// with a code of its own for a wrong address and for the hourly limit.
fn transcript_answer(
    answer: Result<TranscriptRequested, CommandError>,
    r#ref: Option<&str>,
) -> Outbound {
    match answer {
        Ok(TranscriptRequested::Sent { email } | TranscriptRequested::AlreadySent { email }) => {
            Outbound::reply(&ServerFrame::TranscriptSent { email }, r#ref)
        }
        Ok(TranscriptRequested::RateLimited { retry_after_secs }) => {
            let minutes = retry_after_secs.div_ceil(60);
            let frame = ServerFrame::Error(ErrorFrame {
                code: "rate_limited".into(),
                message: format!(
                    "this chat's transcript was e-mailed {} times in the last hour; try again in {minutes} min",
                    showroom_proto::notification::TRANSCRIPT_REQUESTS_PER_HOUR
                ),
                fields: None,
                retry_after_secs: Some(retry_after_secs),
            });
            Outbound::reply(&frame, r#ref)
        }
        Err(e) if e.fields.contains_key("email") => Outbound::error(
            "bad_email",
            "that is not a complete e-mail address (like jane@example.com)",
            r#ref,
        ),
        Err(e) => refused(&e, r#ref),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use showroom_proto::conversation::ShopperConversation;

    #[test]
    fn transcript_addresses_are_checked() {
        assert_eq!(
            transcript_address(" Jane.Doe@Example.COM ").as_deref(),
            Some("Jane.Doe@example.com")
        );
        for bad in [
            "",
            "jane",
            "jane@example",
            "jane@.com",
            "jane@example..com",
            "jane doe@example.com",
            "Jane <jane@example.com>",
            "<jane@example.com>",
            "jane@[127.0.0.1]",
        ] {
            assert_eq!(transcript_address(bad), None, "{bad}");
        }
        assert_eq!(
            transcript_address(&format!("{}@example.com", "a".repeat(250))),
            None
        );
    }

    #[test]
    fn the_shopper_view_keeps_the_agent_id_and_drops_internals() {
        let c: Conversation = serde_json::from_value(json!({
            "id": Uuid::nil(), "group_id": Uuid::nil(), "website_id": Uuid::nil(),
            "rooftop": {"id": Uuid::nil(), "name": "Honda"},
            "department": {"id": Uuid::nil(), "label": "Sales"},
            "shopper": {"visitor_id": Uuid::nil(), "name": "Maria"},
            "agent": {"id": "00000000-0000-0000-0000-000000000007", "name": "Ann Larson"},
            "state": "active", "last_seq": 3, "created_at": "2026-11-22T10:00:00Z",
            "ended_at": null, "ended_by": null,
            "team": {"id": Uuid::nil(), "name": "BDC"},
        }))
        .expect("a conversation");
        let v = serde_json::to_value(ShopperConversation::from(&c)).expect("a view");
        assert_eq!(v["agent"]["id"], "00000000-0000-0000-0000-000000000007");
        assert_eq!(v["agent"]["name"], "Ann Larson");
        for internal in ["group_id", "website_id", "team"] {
            assert!(v.get(internal).is_none(), "{internal} leaked");
        }
    }

    fn problem(v: Value) -> String {
        variables(Some(v)).unwrap_err()
    }

    #[test]
    fn variables_are_checked_and_name_the_problem() {
        assert!(variables(None).unwrap().is_empty());
        assert!(variables(Some(Value::Null)).unwrap().is_empty());
        let ok = variables(Some(json!({"interest": "trade-in", "Stock_No-2": ""}))).unwrap();
        assert_eq!(ok["interest"], "trade-in");
        assert!(problem(json!(["a"])).contains("object"));
        assert!(problem(json!({"interest": 3})).contains("`interest`"));
        assert!(problem(json!({"a b": "x"})).contains("`a b`"));
        assert!(problem(json!({"": "x"})).contains("1 to 64"));
        assert!(problem(json!({"k".repeat(65): "x"})).contains("1 to 64"));
        assert!(problem(json!({"note": "x".repeat(257)})).contains("256"));
        assert!(variables(Some(json!({"note": "é".repeat(256)}))).is_ok());
        let many: serde_json::Map<String, Value> =
            (0..21).map(|i| (format!("v{i}"), json!("x"))).collect();
        assert!(problem(Value::Object(many)).contains("at most 20"));
    }

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, F: std::future::Future>(_: fn(A, B) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// A socket's task keeps room for every value it holds across an await, and for its
    /// arguments, for the socket's whole life; 15 000 idle sockets keep 15 000 of them. The
    /// group's join awaited in place, a `Shopper` made twice, and the socket passed by value
    /// took it from 1.6 KB to 4.6 KB (`loadtest/README.md`, "A page view's `hello` in two
    /// reads").
    #[test]
    fn an_idle_widget_sockets_task_stays_small() {
        let run = future_size(run as fn(_, _) -> _);
        assert!(run <= 2048, "a widget socket's task takes {run} bytes");
    }
}
