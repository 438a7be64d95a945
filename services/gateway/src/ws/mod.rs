//! The two WebSocket protocols (see `docs/protocol.md`): the shopper widget and the agent
//! console, and what they share: frame parsing, error frames, the writer.
//!
//! - [`widget`]: the shopper's socket.
//! - [`console`]: the agent's socket.
//! - [`order`]: each chat's messages in seq order, once, gaps read from the transcript.
//! - [`open`], [`writer`] and [`Backfill`]: a socket registered with the hub, the one task that
//!   writes to it, and its reads of gaps.
//! - [`Counted`]: a socket counted in `showroom_sockets_open` while it lives after `hello`.
//! - [`upgrade`]: the WebSocket handshake and the socket it gives, whose long frames go out as
//!   fragments so an idle socket keeps no large write buffer.

pub mod console;
pub mod order;
pub mod upgrade;
pub mod widget;

use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use showroom_proto::frames::{ErrorFrame, ServerFrame};
use showroom_proto::{CommandError, ErrorCode};
use showroom_telemetry::metrics::names;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::hub::{Outbound, Side, Stream};
use crate::{AppState, internal};
use order::{Gap, Sequencer, Step};
use upgrade::{Message as WsMessage, READ_LIMIT_BYTES, Socket};

/// The protocol version this gateway speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame a client may send.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

/// How long a client has to say `hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket error code for a refused command.
pub fn code_of(e: &CommandError) -> &'static str {
    match e.code {
        ErrorCode::BadRequest => "bad_frame",
        other => other.as_str(),
    }
}

/// An error frame for a refused command.
pub fn refused(e: &CommandError, r#ref: Option<&str>) -> Outbound {
    if e.fields.is_empty() {
        return Outbound::error(code_of(e), &e.message, r#ref);
    }
    // A form's refusal names each wrong field.
    let frame = ServerFrame::Error(ErrorFrame {
        code: "bad_request".into(),
        message: e.message.clone(),
        fields: Some(e.fields.clone()),
        retry_after_secs: None,
    });
    Outbound::reply(&frame, r#ref)
}

/// What reading the next client frame gave.
pub enum Incoming<T> {
    /// A well-formed frame and its `ref`.
    Frame(T, Option<String>),
    /// A frame that was refused; the error frame to send back.
    Bad(Outbound),
    /// The client closed the socket (or it broke).
    Closed,
}

/// A socket of one side, counted in `showroom_sockets_open` until dropped.
pub struct Counted(Side);

impl Counted {
    /// Counts a socket that has said `hello`.
    pub fn new(side: Side) -> Self {
        metrics::gauge!(names::SOCKETS_OPEN, "kind" => side.kind()).increment(1.0);
        Self(side)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!(names::SOCKETS_OPEN, "kind" => self.0.kind()).decrement(1.0);
    }
}

/// Reads the next frame of a `side` socket and parses it as `T` (an enum tagged by `type`).
pub async fn next_frame<T: DeserializeOwned>(
    stream: &mut SplitStream<Socket>,
    side: Side,
) -> Incoming<T> {
    loop {
        let text = match stream.next().await {
            Some(Err(e)) if too_large(&e) => {
                // The library stops reading this socket; the answer still goes out before it
                // closes.
                return Incoming::Bad(Outbound::error(
                    "too_large",
                    format!(
                        "a frame over {READ_LIMIT_BYTES} bytes cannot be read; the socket closes \
                         (frames are limited to {MAX_FRAME_BYTES} bytes)"
                    ),
                    None,
                ));
            }
            None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return Incoming::Closed,
            Some(Ok(WsMessage::Text(t))) => {
                frame_counted(side, "in");
                t
            }
            Some(Ok(WsMessage::Binary(_))) => {
                frame_counted(side, "in");
                return Incoming::Bad(Outbound::error(
                    "bad_frame",
                    "binary frames are not supported; send JSON text",
                    None,
                ));
            }
            Some(Ok(_)) => continue, // ping/pong are answered by the library; frames come whole
        };
        return parse(text.as_str());
    }
}

/// Whether a read failed on a frame over [`READ_LIMIT_BYTES`] (rather than a broken socket).
fn too_large(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Capacity(_))
}

fn frame_counted(side: Side, direction: &'static str) {
    metrics::counter!(names::FRAMES, "kind" => side.kind(), "direction" => direction).increment(1);
}

/// Parses one text frame.
pub fn parse<T: DeserializeOwned>(text: &str) -> Incoming<T> {
    if text.len() > MAX_FRAME_BYTES {
        return Incoming::Bad(Outbound::error(
            "too_large",
            format!("frames are limited to {MAX_FRAME_BYTES} bytes"),
            None,
        ));
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Incoming::Bad(Outbound::error(
                "bad_json",
                format!("not valid JSON: {e}"),
                None,
            ));
        }
    };
    let r#ref = match value.get("ref") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 64 => Some(s.clone()),
        Some(_) => {
            return Incoming::Bad(Outbound::error(
                "bad_frame",
                "`ref` must be a string of at most 64 characters",
                None,
            ));
        }
    };
    if !value.is_object() {
        return Incoming::Bad(Outbound::error(
            "bad_frame",
            "a frame is a JSON object",
            r#ref.as_deref(),
        ));
    }
    // Every string of every frame, before any command sees it (a NUL would reach Postgres).
    // A refusal, not `unavailable`: clients do not resend it.
    if let Some(field) = showroom_proto::text::refused_field(&value) {
        let e = CommandError::about_field(
            ErrorCode::BadRequest,
            &field,
            showroom_proto::text::CONTROL_REFUSED,
        );
        return Incoming::Bad(refused(&e, r#ref.as_deref()));
    }
    if !value.get("type").is_some_and(Value::is_string) {
        return Incoming::Bad(Outbound::error(
            "bad_frame",
            "field `type` is missing or not a string",
            r#ref.as_deref(),
        ));
    }
    match serde_json::from_value::<T>(value) {
        Ok(f) => Incoming::Frame(f, r#ref),
        Err(e) => Incoming::Bad(Outbound::error(
            "bad_frame",
            e.to_string(),
            r#ref.as_deref(),
        )),
    }
}

/// How long the writer waits for Postgres when it reads a gap.
const READ_WITHIN: Duration = Duration::from_secs(2);

/// Reads the messages of a gap from the transcript, as the frames live fan-out sends: the same
/// messages any watcher of the stream gets, of the socket's own dealer group only.
pub struct Backfill {
    /// Postgres.
    pub pool: PgPool,
    /// The socket's dealer group.
    pub group: Uuid,
}

impl Backfill {
    async fn read(&self, gap: Gap) -> sqlx::Result<Vec<Outbound>> {
        let limit = gap
            .before
            .saturating_sub(gap.after)
            .saturating_sub(1)
            .clamp(1, 1000);
        Ok(match gap.stream {
            Stream::Conversation(id) => {
                showroom_store::read::messages_after(&self.pool, self.group, id, gap.after, limit)
                    .await?
                    .iter()
                    .map(Outbound::message)
                    .collect()
            }
            Stream::Internal(id) => internal::after(&self.pool, self.group, id, gap.after, limit)
                .await?
                .iter()
                .map(Outbound::internal_message)
                .collect(),
        })
    }

    /// Reads every gap that is due; what it releases joins `step`.
    async fn fill(&self, order: &mut Sequencer, step: &mut Step) {
        for gap in order.due(Instant::now(), step) {
            match tokio::time::timeout(READ_WITHIN, self.read(gap)).await {
                Ok(Ok(frames)) => step.send.extend(order.filled(gap.stream, frames)),
                Ok(Err(e)) => tracing::warn!(error = %e, ?gap, "cannot read a gap; retrying"),
                Err(_) => tracing::warn!(?gap, "reading a gap timed out; retrying"),
            }
        }
    }
}

/// A socket registered with the hub, its writer running.
pub struct Opened {
    /// What the client sends.
    pub stream: SplitStream<Socket>,
    /// Replies to the client, written in order by the writer.
    pub replies: flume::Sender<Outbound>,
    /// The socket's id in the hub.
    pub socket_id: u64,
    /// Cancelled to close the socket (and at shutdown).
    pub cancel: CancellationToken,
    /// The writer task; awaited after the socket is unregistered.
    pub writer: JoinHandle<()>,
    /// The socket's hold on its group's events (`groups.rs`), kept while it runs.
    pub hold: crate::groups::Hold,
}

/// Registers an upgraded socket of `side` (of dealer group `group`) with the hub, once its
/// group's events are followed here, and starts its writer. Its future is large (a group's
/// first socket subscribes to its feeds and waits for NATS), so callers box it: awaited in
/// place, it would keep its room in the socket's task for the socket's whole life.
pub async fn open(
    state: &AppState,
    socket: Socket,
    side: Side,
    agent: Option<Uuid>,
    group: Uuid,
) -> Opened {
    let hold = state.groups.join(group).await;
    let cancel = state.shutdown.child_token();
    let (sink, stream) = socket.split();
    let (replies, replies_rx) = flume::bounded(256);
    let (socket_id, live) = state.hub.register(side, agent, group, cancel.clone());
    let backfill = Backfill {
        pool: state.pool.clone(),
        group,
    };
    let writer = tokio::spawn(writer(
        sink,
        side,
        replies_rx,
        live,
        cancel.clone(),
        backfill,
    ));
    Opened {
        stream,
        replies,
        socket_id,
        cancel,
        writer,
        hold,
    }
}

/// The only task that writes to a socket. It sends replies first-come, and live events only
/// once the first reply (the `welcome`) is out. Message frames go through the socket's
/// [`Sequencer`]: in seq order per conversation, each once, gaps read from Postgres (see
/// [`order`]).
pub async fn writer(
    mut sink: SplitSink<Socket, WsMessage>,
    side: Side,
    replies: flume::Receiver<Outbound>,
    live: flume::Receiver<Outbound>,
    cancel: CancellationToken,
    backfill: Backfill,
) {
    let mut order = Sequencer::default();
    let mut welcomed = false;
    'run: loop {
        let deadline = order.deadline();
        let due = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let step = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = replies.recv_async() => match r {
                Ok(o) => { welcomed = true; order.push(o, Instant::now()) }
                Err(_) => break,
            },
            l = live.recv_async(), if welcomed => match l {
                Ok(o) => order.push(o, Instant::now()),
                Err(_) => break,
            },
            _ = due => {
                let mut step = Step::default();
                // Boxed: the reads' futures are large, and the writer idles most of its life.
                Box::pin(backfill.fill(&mut order, &mut step)).await;
                step
            }
        };
        for out in step.send {
            if write(&mut sink, side, out).await.is_err() {
                break 'run;
            }
        }
        if step.close {
            // Too much held back, or a gap Postgres would not fill: the client reconnects and
            // resumes from its last seq.
            tracing::warn!("closing a socket whose messages could not be put in order");
            cancel.cancel();
            break;
        }
    }
    // Flush what is already queued in replies (e.g. a final error) before closing.
    while let Ok(out) = replies.try_recv() {
        if write(&mut sink, side, out).await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

/// Writes one frame, counted; a live message's write is a span of the trace that carried it.
async fn write(
    sink: &mut SplitSink<Socket, WsMessage>,
    side: Side,
    out: Outbound,
) -> Result<(), tungstenite::Error> {
    frame_counted(side, "out");
    let sent = upgrade::send(sink, out.frame.clone());
    match &out.span {
        Some(parent) => {
            let span = tracing::info_span!(parent: parent, "ws.write", kind = side.kind());
            sent.instrument(span).await
        }
        None => sent.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum F {
        Send { text: String },
        Ping,
    }

    fn code(i: Incoming<F>) -> String {
        match i {
            Incoming::Bad(o) => serde_json::from_str::<Value>(&o.frame).unwrap()["code"]
                .as_str()
                .unwrap()
                .to_string(),
            Incoming::Frame(..) => "ok".into(),
            Incoming::Closed => "closed".into(),
        }
    }

    #[test]
    fn frames_are_checked_with_specific_errors() {
        assert_eq!(code(parse("{not json")), "bad_json");
        assert_eq!(code(parse("[1,2]")), "bad_frame");
        assert_eq!(code(parse(r#"{"text":"x"}"#)), "bad_frame");
        assert_eq!(code(parse(r#"{"type":"nope"}"#)), "bad_frame");
        assert_eq!(code(parse(r#"{"type":"send"}"#)), "bad_frame");
        assert_eq!(code(parse(r#"{"type":"ping","ref":5}"#)), "bad_frame");
        assert_eq!(
            code(parse(&format!(
                r#"{{"type":"send","text":"{}"}}"#,
                "a".repeat(MAX_FRAME_BYTES)
            ))),
            "too_large"
        );
        assert_eq!(
            code(parse(r#"{"type":"ping","ref":"r1","extra":true}"#)),
            "ok"
        );
        match parse::<F>(r#"{"type":"send","text":"hi","ref":"r"}"#) {
            Incoming::Frame(F::Send { text }, Some(r)) => {
                assert_eq!((text.as_str(), r.as_str()), ("hi", "r"))
            }
            _ => panic!("expected a send frame"),
        }
        match parse::<F>(r#"{"type":"send"}"#) {
            Incoming::Bad(o) => assert!(
                o.frame.contains("text"),
                "names the missing field: {}",
                o.frame
            ),
            _ => panic!("expected an error"),
        }
    }
}
