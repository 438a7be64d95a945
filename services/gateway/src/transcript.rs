//! The transcript (tables `transcripts` and `messages`, owned by the gateway).
//!
//! A message gets the next gapless sequence number of its conversation in the same
//! transaction that stores it: the per-conversation counter row is locked, bumped and the
//! message inserted, or nothing happens. A resend with the same client message id finds the
//! stored message and returns it unchanged, so a retry never makes a duplicate.
//!
//! **Group commit.** The sockets and the `message.post` endpoint append through a [`Writer`]:
//! a few tasks (one connection each while they write) that share one queue. A writer takes
//! whatever is queued at that moment (up to [`BATCH_CAP`]; it never waits for more, so a message
//! alone costs no added latency) and stores it with ONE statement ([`commit`]) over arrays: it
//! checks each conversation's state and assignee, bumps each conversation's counter once by
//! the number of its new messages, inserts them with their seqs in submit order, and returns
//! the rows, so many conversations' messages share one commit. While one writer commits, the
//! next gathers what arrived meanwhile.

use showroom_proto::conversation::ConversationState;
use showroom_proto::message::{Author, AuthorKind, Message, MessageFile};
use showroom_proto::payment::PaymentEstimate;
use showroom_proto::privacy::mask_sensitive;
use showroom_proto::{CommandError, ErrorCode};
use showroom_runtime::shared_commit::next_batch;
use showroom_store::fault::db_error;
use showroom_store::read::MessageRow;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// Longest message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Longest client message id.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Checks a message text: trimmed, not empty, not too long. Returns the trimmed text.
pub fn clean_text(text: &str) -> Result<&str, CommandError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(CommandError::new(
            ErrorCode::BadRequest,
            "the message is empty: `text` is required",
        ));
    }
    if t.chars().count() > MAX_TEXT_CHARS {
        return Err(CommandError::new(
            ErrorCode::TooLarge,
            format!("the message is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(t)
}

/// Whether the message is newly stored, or a resend of a stored one.
#[derive(Debug, PartialEq)]
pub enum Appended {
    /// Stored now.
    New(Message),
    /// Stored before under the same client message id.
    Existing(Message),
}

impl Appended {
    /// The message either way.
    pub fn message(&self) -> &Message {
        match self {
            Appended::New(m) | Appended::Existing(m) => m,
        }
    }
}

/// The most messages one statement stores (one commit).
pub const BATCH_CAP: usize = 256;

/// How many times a batch is run again after a conflict with another transaction (a resend
/// committed by another writer or gateway meanwhile, a deadlock) before it is answered
/// `unavailable`.
const RETRIES: usize = 4;

/// Messages waiting for a writer, beyond which senders wait for room.
const QUEUE: usize = 4096;

/// One message to store: its text checked and masked, its id chosen.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The dealer group writing.
    pub group: Uuid,
    /// The conversation written to.
    pub conversation_id: Uuid,
    /// Who writes.
    pub author: Author,
    /// The text to store (trimmed, card and social security numbers masked).
    pub text: String,
    /// The client's id, unique per conversation and author.
    pub client_msg_id: String,
    /// The message's id, if it is stored now.
    pub id: Uuid,
    /// A file message's file (claimed for the conversation by [`claim_file`]).
    pub file: Option<MessageFile>,
    /// An estimate card (claimed for the conversation by `payment::claim_estimate`).
    pub estimate: Option<PaymentEstimate>,
}

impl Pending {
    /// Checks the client id and the text, and masks the text: nothing is queued for a frame
    /// that is refused anyway.
    pub fn new(
        group: Uuid,
        conversation_id: Uuid,
        author: &Author,
        text: &str,
        client_msg_id: &str,
    ) -> Result<Self, CommandError> {
        if client_msg_id.is_empty() || client_msg_id.chars().count() > MAX_CLIENT_ID_CHARS {
            return Err(CommandError::new(
                ErrorCode::BadRequest,
                "client_msg_id must be 1 to 64 characters",
            ));
        }
        // Card and social security numbers never reach the store, the bus or a screen.
        let text = mask_sensitive(clean_text(text)?).into_owned();
        Ok(Self {
            group,
            conversation_id,
            author: author.clone(),
            text,
            client_msg_id: client_msg_id.to_string(),
            id: Uuid::now_v7(),
            file: None,
            estimate: None,
        })
    }

    /// A file message: the file (already claimed, [`claim_file`]) with an optional caption
    /// (empty, or checked and masked as any text).
    pub fn with_file(
        group: Uuid,
        conversation_id: Uuid,
        author: &Author,
        text: &str,
        client_msg_id: &str,
        file: MessageFile,
    ) -> Result<Self, CommandError> {
        let mut p = if text.trim().is_empty() {
            let mut p = Self::new(group, conversation_id, author, "file", client_msg_id)?;
            p.text = String::new();
            p
        } else {
            Self::new(group, conversation_id, author, text, client_msg_id)?
        };
        p.file = Some(file);
        Ok(p)
    }
}

impl Pending {
    /// An estimate card: the estimate (computed by the server, [`claim_estimate`]) with the
    /// agent's text, or without one the estimate written out in the chat's language.
    pub fn with_estimate(
        group: Uuid,
        conversation_id: Uuid,
        author: &Author,
        text: &str,
        client_msg_id: &str,
        (estimate, spanish): (PaymentEstimate, bool),
    ) -> Result<Self, CommandError> {
        let text = if text.trim().is_empty() {
            estimate.text(spanish)
        } else {
            text.to_string()
        };
        let mut p = Self::new(group, conversation_id, author, &text, client_msg_id)?;
        p.estimate = Some(estimate);
        Ok(p)
    }

    /// The estimate as JSON text, for the batch statement.
    fn estimate_json(&self) -> Option<String> {
        self.estimate
            .as_ref()
            .and_then(|e| serde_json::to_string(e).ok())
    }
}

/// An estimate computed for `conversation_id` by this agent
/// (`POST /api/v1/conversations/{id}/payment-estimate`, table `payment_estimates`), with
/// whether the chat is in Spanish; `not_found` for any other, so no one sends figures the
/// server did not compute for this chat.
pub async fn claim_estimate(
    pool: &PgPool,
    group: Uuid,
    conversation_id: Uuid,
    author: &Author,
    estimate_id: Uuid,
) -> Result<(PaymentEstimate, bool), CommandError> {
    let row: Option<(sqlx::types::Json<PaymentEstimate>, String)> = sqlx::query_as(
        "SELECT e.estimate, c.language FROM payment_estimates e \
         JOIN conversations c ON c.id = e.conversation_id \
         WHERE e.id = $1 AND e.conversation_id = $2 AND e.group_id = $3 AND e.agent_id = $4",
    )
    .bind(estimate_id)
    .bind(conversation_id)
    .bind(group)
    .bind(author.id.filter(|_| author.kind == AuthorKind::Agent))
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    let (estimate, language) =
        row.ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such estimate"))?;
    Ok((estimate.0, language == "es"))
}

/// Marks an estimate sent in a message as shown to the shopper (the lead carries the last one
/// shown).
pub async fn estimate_shown(pool: &PgPool, estimate_id: Uuid) -> Result<(), CommandError> {
    sqlx::query("UPDATE payment_estimates SET shown_at = now() WHERE id = $1 AND shown_at IS NULL")
        .bind(estimate_id)
        .execute(pool)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Claims an uploaded chat file for a message in `conversation_id`: it must be a chat file of
/// `group` uploaded by this author (the shopper's own visitor, or this agent for this chat) and
/// not sent in another chat. Sending it again in the same chat is allowed (a resend). Anything
/// else is `not_found`, so no one learns of another's file.
pub async fn claim_file(
    pool: &PgPool,
    group: Uuid,
    conversation_id: Uuid,
    author: &Author,
    file_id: Uuid,
) -> Result<MessageFile, CommandError> {
    let row: Option<(Uuid, String, String, i64)> = sqlx::query_as(CLAIM_SQL)
        .bind(file_id)
        .bind(conversation_id)
        .bind(group)
        .bind(author.kind.as_str())
        .bind(author.id)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    let (id, name, content_type, size) =
        row.ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such file"))?;
    Ok(MessageFile {
        id,
        name,
        content_type,
        size,
    })
}

/// [`claim_file`]'s statement: `$1` the file, `$2` the chat, `$3` the group, `$4` the author's
/// kind, `$5` their id (the agent, or the shopper's visitor).
const CLAIM_SQL: &str = "UPDATE attachments a SET conversation_id = $2 \
    WHERE a.id = $1 AND a.group_id = $3 AND a.field = 'chat' \
      AND (a.conversation_id IS NULL OR a.conversation_id = $2) \
      AND CASE WHEN $4::text = 'agent' THEN a.agent_id = $5 AND a.conversation_id = $2 \
               ELSE a.agent_id IS NULL AND a.visitor_id = $5 END \
      AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = $2 AND c.group_id = $3 \
                  AND ($4::text = 'agent' OR c.visitor_id = $5)) \
    RETURNING a.id, a.filename, a.content_type, a.size";

/// What a batch made of one of its messages.
#[derive(Debug)]
pub enum Outcome {
    /// Stored now, or found stored under the same client message id.
    Stored(Appended),
    /// Not written: the conversation is not there, closed, or not the writer's
    /// ([`Outcome::settle`] says which).
    Refused,
    /// The statement failed.
    Failed(CommandError),
}

impl Outcome {
    /// The answer for the caller: a refusal is explained by a second query, as for one message.
    pub async fn settle(self, pool: &PgPool, p: &Pending) -> Result<Appended, CommandError> {
        match self {
            Outcome::Stored(a) => Ok(a),
            Outcome::Refused => Err(refusal(pool, p.group, p.conversation_id, &p.author).await),
            Outcome::Failed(e) => Err(e),
        }
    }
}

/// Appends a message to an open conversation of `group`, idempotently on `client_msg_id`, in
/// a commit of its own (a batch of one, [`commit`]). The gateway's sockets go through its
/// [`Writer`] instead, which shares commits.
///
/// Who may write: an agent only in a chat assigned to them and active; the shopper, the bot
/// and the system in any open chat.
pub async fn append(
    pool: &PgPool,
    group: Uuid,
    conversation_id: Uuid,
    author: &Author,
    text: &str,
    client_msg_id: &str,
) -> Result<Appended, CommandError> {
    let p = Pending::new(group, conversation_id, author, text, client_msg_id)?;
    let outcome = commit(pool, std::slice::from_ref(&p))
        .await
        .pop()
        .unwrap_or_else(|| Outcome::Failed(CommandError::new(ErrorCode::Internal, "no outcome")));
    outcome.settle(pool, &p).await
}

/// The batch statement (public for the test of its plan, `tests/group_commit.rs`). Over the
/// batch's arrays (`i`, in submit order):
/// - `c` locks the conversations named `FOR SHARE` (in id order), so an end cannot slip in
///   between; `ok` keeps the messages whose writer may write (group, open state, assignee).
///   `c` reaches them by primary key only: with the state filter in `c`, a plan made while the
///   table was small read every open chat (`conversations_one_open`) to find them;
/// - `firsts` keeps the first of the messages with the same conversation, author and client
///   id (a resend inside the batch); `prior` finds those stored before (a resend), by the
///   whole key of the unique index on them: `=` on the author where there is one, `IS NULL`
///   where there is none (`IS NOT DISTINCT FROM` reaches no index, and a plan made while the
///   table was small then read every message of the chat: its n-th message cost n);
/// - `fresh` is the rest, numbered per conversation in submit order; `t` bumps each
///   conversation's counter once by its count (in conversation order, so two batches never
///   wait on each other's counters in a cycle), and `ins` inserts them with
///   `last_seq - count + n`;
/// - the answer is the rows inserted and the rows found.
///
/// There is no `ON CONFLICT DO NOTHING` on `messages`: a message skipped after its counter was
/// bumped would leave a gap. Duplicates are taken out before the bump; a resend committed by
/// another transaction after this statement's snapshot makes it fail on the unique index,
/// rolling the bump back, and [`commit`] runs the batch again (which then finds it in `prior`).
pub const BATCH_SQL: &str = concat!(
    "WITH i AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], \
       $6::text[], $7::text[], $8::text[], $9::uuid[], $10::text[], $11::text[], $12::int8[], \
       $13::text[]) WITH ORDINALITY \
       AS i(conv, grp, mid, kind, author, author_name, body, cid, fid, fname, ftype, fsize, est, ord)), \
     c AS (SELECT id, group_id, state, agent_id FROM conversations WHERE id = ANY($1::uuid[]) \
       ORDER BY id FOR SHARE), \
     ok AS (SELECT i.* FROM i JOIN c ON c.id = i.conv AND c.group_id = i.grp \
       AND c.state IN ('bot', 'incoming', 'active') \
       AND (i.kind <> 'agent' OR (c.state = 'active' AND c.agent_id = i.author))), \
     firsts AS (SELECT DISTINCT ON (conv, kind, author, cid) * FROM ok \
       ORDER BY conv, kind, author, cid, ord), \
     prior AS (SELECT f.ord AS prior_ord, m.* FROM firsts f JOIN messages m \
       ON m.conversation_id = f.conv AND m.author_kind = f.kind \
       AND m.author_id = f.author AND m.client_msg_id = f.cid \
       UNION ALL SELECT f.ord, m.* FROM firsts f JOIN messages m \
       ON m.conversation_id = f.conv AND m.author_kind = f.kind \
       AND f.author IS NULL AND m.author_id IS NULL AND m.client_msg_id = f.cid), \
     fresh AS (SELECT f.*, row_number() OVER (PARTITION BY f.conv ORDER BY f.ord) AS n, \
       count(*) OVER (PARTITION BY f.conv) AS k FROM firsts f \
       WHERE NOT EXISTS (SELECT 1 FROM prior p WHERE p.prior_ord = f.ord)), \
     t AS (INSERT INTO transcripts AS t (conversation_id, group_id, last_seq) \
       SELECT conv, grp, count(*) FROM fresh GROUP BY conv, grp ORDER BY conv \
       ON CONFLICT (conversation_id) DO UPDATE SET last_seq = t.last_seq + excluded.last_seq \
       RETURNING conversation_id, last_seq), \
     ins AS (INSERT INTO messages (id, conversation_id, group_id, seq, author_kind, author_id, \
       author_name, body, client_msg_id, file_id, file_name, file_type, file_size, estimate) \
       SELECT f.mid, f.conv, f.grp, t.last_seq - f.k + f.n, f.kind, f.author, f.author_name, \
       f.body, f.cid, f.fid, f.fname, f.ftype, f.fsize, f.est::jsonb FROM fresh f JOIN t ON t.conversation_id = f.conv ORDER BY f.conv, f.n \
       RETURNING ",
    showroom_store::message_columns!(),
    ") SELECT ",
    showroom_store::message_columns!(),
    " FROM ins UNION ALL SELECT ",
    showroom_store::message_columns!(),
    " FROM prior"
);

/// Stores a batch of messages in one statement and one commit; one outcome per message, in
/// order. Messages of many conversations and writers may share it; each conversation's new
/// messages get its next seqs in batch order; a resend (stored before, or twice in the batch)
/// gets the stored message; a message that may not be written is [`Outcome::Refused`] without
/// failing the others. If the statement fails for a reason of its own (not a conflict), each
/// message is tried alone, so one bad message fails alone.
pub async fn commit(pool: &PgPool, batch: &[Pending]) -> Vec<Outcome> {
    match commit_once(pool, batch).await {
        Ok(outcomes) => outcomes,
        Err(e) if batch.len() > 1 && matches!(e, sqlx::Error::Database(_)) => {
            tracing::warn!(error = %e, size = batch.len(), "a batch of messages failed; storing them one by one");
            let mut out = Vec::with_capacity(batch.len());
            for p in batch {
                out.push(match commit_once(pool, std::slice::from_ref(p)).await {
                    Ok(mut o) => o.pop().unwrap_or(Outcome::Refused),
                    Err(e) => Outcome::Failed(failure(e)),
                });
            }
            out
        }
        Err(e) => {
            let e = failure(e);
            batch.iter().map(|_| Outcome::Failed(e.clone())).collect()
        }
    }
}

/// What a failed batch tells its senders.
fn failure(e: sqlx::Error) -> CommandError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            CommandError::new(ErrorCode::Unavailable, "message changed meanwhile; retry")
        }
        _ => db_error(e),
    }
}

/// A conflict with another transaction: running the batch again resolves it.
fn conflicted(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || matches!(d.code().as_deref(), Some("40P01" | "40001"))
        }
        _ => false,
    }
}

async fn commit_once(pool: &PgPool, batch: &[Pending]) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tries = 0;
    loop {
        let rows: Result<Vec<MessageRow>, sqlx::Error> = sqlx::query_as(BATCH_SQL)
            .bind(batch.iter().map(|p| p.conversation_id).collect::<Vec<_>>())
            .bind(batch.iter().map(|p| p.group).collect::<Vec<_>>())
            .bind(batch.iter().map(|p| p.id).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|p| p.author.kind.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(batch.iter().map(|p| p.author.id).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|p| p.author.name.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(batch.iter().map(|p| p.text.as_str()).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|p| p.client_msg_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|p| p.file.as_ref().map(|f| f.id))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|p| p.file.as_ref().map(|f| f.name.as_str()))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|p| p.file.as_ref().map(|f| f.content_type.as_str()))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|p| p.file.as_ref().map(|f| f.size))
                    .collect::<Vec<_>>(),
            )
            .bind(batch.iter().map(Pending::estimate_json).collect::<Vec<_>>())
            .fetch_all(pool)
            .await;
        match rows {
            Ok(rows) => return Ok(outcomes(batch, rows)),
            Err(e) if conflicted(&e) && tries < RETRIES => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Matches the rows back to the batch: a row with the message's own id was stored now, a row
/// under its conversation, author and client id otherwise is a resend; no row, a refusal.
fn outcomes(batch: &[Pending], rows: Vec<MessageRow>) -> Vec<Outcome> {
    type Key<'a> = (Uuid, &'a str, Option<Uuid>, &'a str);
    let messages: Vec<Message> = rows.into_iter().map(Message::from).collect();
    let found: std::collections::HashMap<Key<'_>, &Message> = messages
        .iter()
        .map(|m| {
            (
                (
                    m.conversation_id,
                    m.author.kind.as_str(),
                    m.author.id,
                    m.client_msg_id.as_deref().unwrap_or_default(),
                ),
                m,
            )
        })
        .collect();
    batch
        .iter()
        .map(|p| {
            let key = (
                p.conversation_id,
                p.author.kind.as_str(),
                p.author.id,
                p.client_msg_id.as_str(),
            );
            match found.get(&key) {
                Some(m) if m.id == p.id => Outcome::Stored(Appended::New((*m).clone())),
                Some(m) => Outcome::Stored(Appended::Existing((*m).clone())),
                None => Outcome::Refused,
            }
        })
        .collect()
}

/// Batch sizes so far (for tests and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Statements run.
    pub batches: u64,
    /// Messages in them.
    pub messages: u64,
    /// The largest batch.
    pub largest: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    messages: AtomicU64,
    largest: AtomicU64,
}

struct Job {
    pending: Pending,
    /// The outcome, with the message handed back (a refusal is explained from it).
    reply: oneshot::Sender<(Outcome, Pending)>,
}

/// The gateway's group-committing transcript writer: a handle on a queue that a few writer
/// tasks share. Cloning it is cheap.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    pool: PgPool,
    counters: Arc<Counters>,
}

impl Writer {
    /// How many writer tasks suit a pool: half its connections (the rest serve the sockets'
    /// reads), from 1 to 4.
    pub fn writers_for(pool: &PgPool) -> usize {
        (pool.options().get_max_connections() as usize / 2).clamp(1, 4)
    }

    /// Starts `writers` tasks on `tracker`. After `shutdown` each stores what is queued and
    /// stops; a message sent after that is answered `unavailable`.
    pub fn start(
        pool: PgPool,
        writers: usize,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(Counters::default());
        for _ in 0..writers.max(1) {
            tracker.spawn(write(
                pool.clone(),
                rx.clone(),
                counters.clone(),
                shutdown.clone(),
            ));
        }
        Self {
            queue,
            pool,
            counters,
        }
    }

    /// [`append`], sharing a commit with whatever other messages are waiting.
    pub async fn append(
        &self,
        group: Uuid,
        conversation_id: Uuid,
        author: &Author,
        text: &str,
        client_msg_id: &str,
    ) -> Result<Appended, CommandError> {
        let pending = Pending::new(group, conversation_id, author, text, client_msg_id)?;
        self.submit(pending).await
    }

    /// A socket's `send`: a text message, or with `file_id` a file message (the file claimed
    /// for the chat first, [`claim_file`], and the text an optional caption).
    pub async fn send(
        &self,
        group: Uuid,
        conversation_id: Uuid,
        author: &Author,
        text: &str,
        client_msg_id: &str,
        file_id: Option<Uuid>,
    ) -> Result<Appended, CommandError> {
        let Some(file_id) = file_id else {
            if text.trim().is_empty() {
                return Err(CommandError::new(
                    ErrorCode::BadRequest,
                    "the message is empty: send a `text` or a `file_id`",
                ));
            }
            return self
                .append(group, conversation_id, author, text, client_msg_id)
                .await;
        };
        let file = claim_file(&self.pool, group, conversation_id, author, file_id).await?;
        let pending =
            Pending::with_file(group, conversation_id, author, text, client_msg_id, file)?;
        self.submit(pending).await
    }

    /// A console's `send` with `estimate_id`: the estimate card ([`claim_estimate`]), marked
    /// shown once stored.
    pub async fn send_estimate(
        &self,
        group: Uuid,
        conversation_id: Uuid,
        author: &Author,
        text: &str,
        client_msg_id: &str,
        estimate_id: Uuid,
    ) -> Result<Appended, CommandError> {
        let claimed =
            claim_estimate(&self.pool, group, conversation_id, author, estimate_id).await?;
        let pending =
            Pending::with_estimate(group, conversation_id, author, text, client_msg_id, claimed)?;
        let appended = self.submit(pending).await?;
        estimate_shown(&self.pool, estimate_id).await?;
        Ok(appended)
    }

    /// Stores a checked message (a file message, [`Pending::with_file`]), sharing a commit.
    pub async fn submit(&self, pending: Pending) -> Result<Appended, CommandError> {
        let (reply, answer) = oneshot::channel();
        let gone = || CommandError::new(ErrorCode::Unavailable, "the gateway is stopping; retry");
        self.queue
            .send(Job { pending, reply })
            .await
            .map_err(|_| gone())?;
        let (outcome, pending) = answer.await.map_err(|_| gone())?;
        outcome.settle(&self.pool, &pending).await
    }

    /// Batch sizes so far.
    pub fn stats(&self) -> Stats {
        Stats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            messages: self.counters.messages.load(Ordering::Relaxed),
            largest: self.counters.largest.load(Ordering::Relaxed),
        }
    }
}

/// One writer: takes what is queued now (waiting only when nothing is), stores it in one
/// commit, answers each sender. While it commits, the queue is another writer's.
async fn write(
    pool: PgPool,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    loop {
        let Some(batch) = next_batch(&queue, BATCH_CAP, &shutdown).await else {
            return;
        };
        let n = batch.len() as u64;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.messages.fetch_add(n, Ordering::Relaxed);
        counters.largest.fetch_max(n, Ordering::Relaxed);
        let (pending, replies): (Vec<Pending>, Vec<_>) =
            batch.into_iter().map(|j| (j.pending, j.reply)).unzip();
        let outcomes = commit(&pool, &pending).await;
        for ((reply, outcome), p) in replies.into_iter().zip(outcomes).zip(pending) {
            // A sender that went away (its socket closed) is not waiting.
            let _ = reply.send((outcome, p));
        }
    }
}

/// Why a message was not appended.
async fn refusal(
    pool: &PgPool,
    group: Uuid,
    conversation_id: Uuid,
    author: &Author,
) -> CommandError {
    let conv: Result<Option<(String, Option<Uuid>)>, _> =
        sqlx::query_as("SELECT state, agent_id FROM conversations WHERE id = $1 AND group_id = $2")
            .bind(conversation_id)
            .bind(group)
            .fetch_optional(pool)
            .await;
    let (state, agent) = match conv {
        Err(e) => return db_error(e),
        Ok(None) => return CommandError::new(ErrorCode::NotFound, "no such conversation"),
        Ok(Some((state, agent))) => (
            ConversationState::parse(&state).unwrap_or(ConversationState::Ended),
            agent,
        ),
    };
    if state.is_closed() {
        return CommandError::new(ErrorCode::ConversationClosed, "this conversation has ended");
    }
    match (author.kind, state) {
        (AuthorKind::Agent, ConversationState::Incoming) => CommandError::new(
            ErrorCode::NotAllowed,
            "respond to the chat before writing in it",
        ),
        (AuthorKind::Agent, _) if agent != author.id => CommandError::new(
            ErrorCode::NotAllowed,
            "only the agent who has this chat can write in it",
        ),
        _ => CommandError::new(
            ErrorCode::Unavailable,
            "the conversation changed meanwhile; retry",
        ),
    }
}
