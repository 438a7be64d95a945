//! The floor of a message through a socket (`messages`' "socket floor" row): what a shopper's
//! `ack` promises, behind a bare WebSocket server, with nothing of the product around it.
//!
//! Each shopper socket's `send` frame is parsed and queued; writer tasks share the queue as the
//! gateway's transcript writer does ([`shared_commits::writers`]: each takes what is queued, up
//! to the gateway's cap, and stores it in one `INSERT … unnest` and one commit), then publish
//! each message of the batch to JetStream and await every ack, as the raw floor does. The socket's task then writes back the two frames
//! every message needs: the `ack` and the shopper's own copy; and the copy goes to the one
//! agent socket. No session, no limits, no chat state, no consumers, no tracing. So the gap
//! between this row and the gateway's is what the product does beyond the promise, and the gap
//! between this row and the raw floor (the same commits and publishes with no socket) is what
//! the socket hops cost on this machine.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::serve::ListenerExt;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use showroom_bus::async_nats::jetstream;
use showroom_store::sqlx::{self, PgPool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::shared_commits;

/// One message waiting for a writer.
struct Job {
    conversation: Uuid,
    seq: i64,
    client_msg_id: String,
    text: String,
    reply: oneshot::Sender<Stored>,
}

/// A message stored and published: its id and its `message` frame.
struct Stored {
    id: Uuid,
    message: String,
}

/// A shopper's `send` frame (the fields this server reads).
#[derive(Deserialize)]
struct Send {
    r#ref: String,
    client_msg_id: String,
    text: String,
}

struct Shared {
    queue: mpsc::UnboundedSender<Job>,
    /// The agent socket's outgoing frames, once it connected.
    agent: std::sync::Mutex<Option<mpsc::UnboundedSender<String>>>,
}

/// The server: `ws://…/shopper` and `ws://…/agent`. Stops with the runtime.
pub struct Floor {
    /// `ws://127.0.0.1:<port>`.
    pub base: String,
}

impl Floor {
    /// Binds a free loopback port and serves, storing into `bench_messages` through `pool` and
    /// publishing to `bench.<conversation>` through `js`.
    pub async fn start(pool: PgPool, js: jetstream::Context) -> anyhow::Result<Self> {
        let writers = pool.clone();
        let queue = shared_commits::writers(&writers, move |batch| {
            write(pool.clone(), js.clone(), batch)
        });
        let shared = Arc::new(Shared {
            queue,
            agent: std::sync::Mutex::new(None),
        });
        let app = axum::Router::new()
            .route(
                "/shopper",
                axum::routing::get(
                    |ws: WebSocketUpgrade, State(s): State<Arc<Shared>>| async move {
                        ws.on_upgrade(move |socket| shopper(socket, s))
                    },
                ),
            )
            .route(
                "/agent",
                axum::routing::get(
                    |ws: WebSocketUpgrade, State(s): State<Arc<Shared>>| async move {
                        ws.on_upgrade(move |socket| agent(socket, s))
                    },
                ),
            )
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("ws://{}", listener.local_addr()?);
        // As the gateway: small frames leave at once.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { base })
    }
}

/// A writer's batch: stored in one statement and one commit, each message published and every
/// publish's ack awaited (the raw floor's steps), then each sender answered with its message.
async fn write(pool: PgPool, js: jetstream::Context, batch: Vec<Job>) {
    let ids: Vec<Uuid> = batch.iter().map(|_| Uuid::now_v7()).collect();
    let outcome = store_and_publish(&pool, &js, &batch, &ids).await;
    for ((job, id), message) in batch
        .into_iter()
        .zip(ids)
        .zip(outcome.into_iter().flatten())
    {
        let _ = job.reply.send(Stored { id, message });
    }
}

/// Stores a batch in one commit, then publishes each message and awaits all the acks; answers
/// the messages (a shopper's `message` frames), or nothing on any failure.
async fn store_and_publish(
    pool: &PgPool,
    js: &jetstream::Context,
    batch: &[Job],
    ids: &[Uuid],
) -> Option<Vec<String>> {
    let convs: Vec<Uuid> = batch.iter().map(|j| j.conversation).collect();
    let seqs: Vec<i64> = batch.iter().map(|j| j.seq).collect();
    let texts: Vec<&str> = batch.iter().map(|j| j.text.as_str()).collect();
    sqlx::query(
        "INSERT INTO bench_messages (id, conversation_id, seq, body) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[])",
    )
    .bind(ids)
    .bind(&convs)
    .bind(&seqs)
    .bind(&texts)
    .execute(pool)
    .await
    .ok()?;
    let messages: Vec<String> = batch
        .iter()
        .zip(ids)
        .map(|(job, id)| {
            json!({
                "type": "message", "conversation_id": job.conversation, "id": id, "seq": job.seq,
                "client_msg_id": job.client_msg_id, "author": {"kind": "shopper"}, "text": job.text,
            })
            .to_string()
        })
        .collect();
    let published = batch
        .iter()
        .zip(&messages)
        .map(|(job, m)| (format!("bench.{}", job.conversation), m.clone().into()))
        .collect();
    shared_commits::publish_acked(js, published).await.ok()?;
    Some(messages)
}

/// A shopper socket: one conversation; each `send` queued for a writer, then answered with its
/// `ack` and the message, which is copied to the agent.
async fn shopper(socket: WebSocket, shared: Arc<Shared>) {
    let conversation = Uuid::new_v4();
    let (mut tx, mut rx) = socket.split();
    let mut seq = 0;
    while let Some(Ok(frame)) = rx.next().await {
        let Message::Text(text) = frame else { continue };
        let Ok(send) = serde_json::from_str::<Send>(text.as_str()) else {
            return;
        };
        seq += 1;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            conversation,
            seq,
            client_msg_id: send.client_msg_id,
            text: send.text,
            reply,
        };
        if shared.queue.send(job).is_err() {
            return;
        }
        // A batch that failed drops its senders: the socket closes.
        let Ok(Stored { id, message }) = answer.await else {
            return;
        };
        let ack = json!({"type": "ack", "ref": send.r#ref, "id": id, "seq": seq}).to_string();
        if tx.feed(Message::Text(ack.into())).await.is_err()
            || tx
                .feed(Message::Text(message.clone().into()))
                .await
                .is_err()
            || tx.flush().await.is_err()
        {
            return;
        }
        let agent = shared.agent.lock().map(|a| a.clone()).ok().flatten();
        if let Some(agent) = agent {
            let _ = agent.send(message);
        }
    }
}

/// The agent socket: every shopper's messages, in the order they were stored.
async fn agent(socket: WebSocket, shared: Arc<Shared>) {
    let (copies, mut queued) = mpsc::unbounded_channel::<String>();
    if let Ok(mut slot) = shared.agent.lock() {
        *slot = Some(copies);
    }
    let (mut tx, mut rx) = socket.split();
    tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    // Whatever is queued goes out in one write.
    let mut frames = Vec::new();
    while queued.recv_many(&mut frames, 256).await > 0 {
        for frame in frames.drain(..) {
            if tx.feed(Message::Text(frame.into())).await.is_err() {
                return;
            }
        }
        if tx.flush().await.is_err() {
            return;
        }
    }
}
