//! New chats written in shared commits. A start, once decided, is queued as a [`NewChat`];
//! writer tasks take what is queued (waiting only when nothing is), write each chat with its
//! shopper and time-outs (one statement each), the events of them all into the outbox (one
//! statement), commit once, publish, and answer each start. So concurrent starts share the
//! commit's round trips and its wait for the disk, as messages do in the gateway's transcript
//! writer. A batch that fails is written again chat by chat, each in a commit of its own, so a
//! chat's failure stays its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use showroom_bus::Bus;
use showroom_proto::contact::{AddressSource, Language};
use showroom_proto::conversation::{
    Conversation, ConversationEventKind, ConversationState, OfflineReason, Vehicle,
};
use showroom_proto::{CommandError, ErrorCode};
use showroom_runtime::shared_commit::next_batch;
use showroom_store::fault::db_error;
use showroom_store::read;
use showroom_store::sqlx::{self, PgConnection, PgPool};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::outbox::Staged;

/// Most starts written in one commit.
const BATCH_CAP: usize = 64;

/// Starts waiting for a writer, at most.
const QUEUE: usize = 1024;

/// A chat to write, its route decided.
pub(crate) struct NewChat {
    pub id: Uuid,
    pub group: Uuid,
    pub website_id: Uuid,
    pub rooftop_id: Uuid,
    pub department_id: Uuid,
    pub visitor_id: Uuid,
    pub shopper_name: Option<String>,
    pub state: ConversationState,
    pub offline_reason: Option<OfflineReason>,
    pub team_id: Option<Uuid>,
    pub offered_to: Vec<Uuid>,
    pub variables: BTreeMap<String, String>,
    /// Its time-outs: kinds, and seconds from now.
    pub timers: (Vec<&'static str>, Vec<f64>),
    pub vehicle: Option<Vehicle>,
    pub language: Language,
    pub department_pending: bool,
    pub page_url: Option<String>,
    pub client_ip: Option<String>,
    pub client_ip_source: Option<AddressSource>,
    pub form_id: Option<Uuid>,
}

impl NewChat {
    /// Writes the chat, its shopper and its time-outs in one statement that also reads the
    /// chat as written, and stages its events: `created`, then `offline`, or `queued` and
    /// (when someone was) `offered`; only `created` for a chat with the bot. `None` when it
    /// conflicts: a retried start (its id is the request's) or the visitor's open chat.
    pub(crate) async fn write(
        &self,
        db: &mut PgConnection,
        staged: &mut Staged,
    ) -> Result<Option<Conversation>, sqlx::Error> {
        let closed = self.state.is_closed();
        let written: Option<read::ConversationRow> = sqlx::query_as(concat!(
            "WITH c AS ( \
                INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
                    shopper_name, state, offline_reason, team_id, offered_to, variables, vehicle, previous_id, ended_at, ended_by, \
                    language, department_pending, page_url, client_ip, form_id, client_ip_source) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $16, \
                    (SELECT p.id FROM conversations p WHERE p.website_id = $3 AND p.visitor_id = $6 ORDER BY p.created_at DESC LIMIT 1), \
                    CASE WHEN $13 THEN now() END, CASE WHEN $13 THEN 'system' END, $17, $18, $19, $20, $21, $22) \
                ON CONFLICT DO NOTHING RETURNING *), \
             p AS (INSERT INTO participants (conversation_id, kind, participant_id, left_at) \
                SELECT id, 'shopper', $6, CASE WHEN $13 THEN now() END FROM c), \
             t AS (INSERT INTO conversation_timers (conversation_id, kind, group_id, due_at) \
                SELECT c.id, k.kind, $2, now() + make_interval(secs => k.secs) \
                FROM c, unnest($14::text[], $15::float8[]) AS k(kind, secs)) ",
            showroom_store::conversation_snapshot!("c")
        ))
        .bind(self.id)
        .bind(self.group)
        .bind(self.website_id)
        .bind(self.rooftop_id)
        .bind(self.department_id)
        .bind(self.visitor_id)
        .bind(&self.shopper_name)
        .bind(self.state.as_str())
        .bind(self.offline_reason.map(|r| r.as_str()))
        .bind(self.team_id)
        .bind(&self.offered_to)
        .bind(sqlx::types::Json(&self.variables))
        .bind(closed)
        .bind(&self.timers.0)
        .bind(&self.timers.1)
        .bind(self.vehicle.as_ref().map(sqlx::types::Json))
        .bind(self.language.as_str())
        .bind(self.department_pending)
        .bind(&self.page_url)
        .bind(&self.client_ip)
        .bind(self.form_id)
        .bind(self.client_ip_source.map(|s| s.as_str()))
        .fetch_optional(&mut *db)
        .await?;
        let Some(now) = written.map(Conversation::from) else {
            return Ok(None);
        };
        staged.event(
            ConversationEventKind::Created,
            &now,
            Vec::new(),
            Vec::new(),
            None,
        )?;
        if self.state != ConversationState::Bot {
            staged.routed(&now, &self.offered_to)?;
        }
        Ok(Some(now))
    }
}

/// What a writer answers a start: the chat as written, or `None` when it conflicted.
type Written = Result<Option<Conversation>, CommandError>;

struct Job {
    chat: NewChat,
    /// The start's span: its chat's statement and events belong to its trace.
    span: tracing::Span,
    reply: oneshot::Sender<Written>,
}

/// What a writer commits with: the router's pool, and where its events go once committed.
#[derive(Clone)]
pub(crate) struct Committer {
    pub pool: PgPool,
    pub bus: Bus,
    /// Ids of published events, for `outbox::clear`.
    pub published: mpsc::UnboundedSender<Uuid>,
}

/// The queue of starts to write.
pub(crate) struct Starts {
    queue: mpsc::Sender<Job>,
}

/// The writers' end of the queue.
#[derive(Clone)]
pub(crate) struct Queued(Arc<Mutex<mpsc::Receiver<Job>>>);

impl Starts {
    /// A queue, and its end for [`write`].
    pub(crate) fn new() -> (Self, Queued) {
        let (queue, rx) = mpsc::channel(QUEUE);
        (Self { queue }, Queued(Arc::new(Mutex::new(rx))))
    }

    /// Writes `chat` in a commit shared with the starts queued with it.
    pub(crate) async fn write(&self, chat: NewChat) -> Written {
        let gone = || CommandError::new(ErrorCode::Unavailable, "the router is stopping; retry");
        let (reply, answer) = oneshot::channel();
        let span = tracing::Span::current();
        self.queue
            .send(Job { chat, span, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// How many writers for a pool of `connections`: half of it, from one to four (the rest is
/// for the decisions' reads and every other command).
pub(crate) fn writers_for(connections: u32) -> usize {
    (connections as usize / 2).clamp(1, 4)
}

/// One writer: takes what is queued now (waiting only when nothing is), writes it in one
/// commit, answers each start. While it commits, the queue is another writer's. After
/// `shutdown` it writes what is queued and stops.
pub(crate) async fn write(committer: Committer, queued: Queued, shutdown: CancellationToken) {
    loop {
        let Some(batch) = next_batch(&queued.0, BATCH_CAP, &shutdown).await else {
            return;
        };
        let (chats, replies): (Vec<(NewChat, tracing::Span)>, Vec<_>) = batch
            .into_iter()
            .map(|j| ((j.chat, j.span), j.reply))
            .unzip();
        let written = match together(&committer, &chats).await {
            Ok(written) => written.into_iter().map(Ok).collect(),
            Err(e) => {
                if chats.len() > 1 {
                    tracing::warn!(error = %e, chats = chats.len(), "a shared commit failed; writing each chat alone");
                }
                let mut each = Vec::with_capacity(chats.len());
                for (chat, span) in &chats {
                    each.push(alone(&committer, chat).instrument(span.clone()).await);
                }
                each
            }
        };
        for (reply, written) in replies.into_iter().zip(written) {
            // A start that went away (its request timed out) is not waiting.
            let _ = reply.send(written);
        }
    }
}

/// Every chat of the batch in one commit.
async fn together(
    committer: &Committer,
    chats: &[(NewChat, tracing::Span)],
) -> Result<Vec<Option<Conversation>>, sqlx::Error> {
    let mut staged = Staged::default();
    let mut tx = committer.pool.begin().await?;
    let mut written = Vec::with_capacity(chats.len());
    for (chat, span) in chats {
        let chat = chat.write(&mut tx, &mut staged).instrument(span.clone());
        written.push(chat.await?);
    }
    staged
        .commit_then_publish(tx, &committer.bus, &committer.published)
        .await?;
    Ok(written)
}

/// One chat in a commit of its own.
async fn alone(committer: &Committer, chat: &NewChat) -> Written {
    let mut staged = Staged::default();
    let mut tx = committer.pool.begin().await.map_err(db_error)?;
    let written = chat.write(&mut tx, &mut staged).await.map_err(db_error)?;
    staged
        .commit_then_publish(tx, &committer.bus, &committer.published)
        .await
        .map_err(db_error)?;
    Ok(written)
}
