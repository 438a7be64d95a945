//! The transcript (tables `transcripts` and `messages`, owned by the gateway).
//!
//! A message gets the next gapless sequence number of its conversation in the same
//! transaction that stores it: the per-conversation counter row is locked, bumped and the
//! message inserted, or nothing happens. A resend with the same client message id finds the
//! stored message and returns it unchanged, so a retry never makes a duplicate.

use chrono::{DateTime, Utc};
use showroom_proto::conversation::ConversationState;
use showroom_proto::message::{Author, AuthorKind, Message};
use showroom_proto::{CommandError, ErrorCode};
use sqlx::PgPool;
use uuid::Uuid;

/// Longest message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Longest client message id.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    conversation_id: Uuid,
    seq: i64,
    author_kind: String,
    author_id: Option<Uuid>,
    author_name: Option<String>,
    body: String,
    client_msg_id: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<Row> for Message {
    fn from(r: Row) -> Self {
        Message {
            conversation_id: r.conversation_id,
            seq: r.seq,
            id: r.id,
            author: Author {
                kind: AuthorKind::parse(&r.author_kind).unwrap_or(AuthorKind::System),
                id: r.author_id,
                name: r.author_name,
            },
            text: r.body,
            client_msg_id: r.client_msg_id,
            at: r.created_at,
        }
    }
}

macro_rules! columns {
    () => {
        "id, conversation_id, seq, author_kind, author_id, author_name, body, client_msg_id, created_at"
    };
}

/// Checks a message text: trimmed, not empty, not too long. Returns the trimmed text.
pub fn clean_text(text: &str) -> Result<&str, CommandError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(CommandError::new(
            ErrorCode::BadRequest,
            "the message is empty",
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

fn db_error(e: sqlx::Error) -> CommandError {
    tracing::error!(error = %e, "transcript write failed");
    CommandError::new(ErrorCode::Unavailable, "could not store the message; retry")
}

/// Appends a message to an open conversation of `group`, idempotently on `client_msg_id`.
/// `allowed` is called with the conversation's state and assigned agent to decide whether
/// this author may write now.
pub async fn append(
    pool: &PgPool,
    group: Uuid,
    conversation_id: Uuid,
    author: &Author,
    text: &str,
    client_msg_id: &str,
    allowed: impl FnOnce(ConversationState, Option<Uuid>) -> Result<(), CommandError>,
) -> Result<Appended, CommandError> {
    if client_msg_id.is_empty() || client_msg_id.chars().count() > MAX_CLIENT_ID_CHARS {
        return Err(CommandError::new(
            ErrorCode::BadRequest,
            "client_msg_id must be 1 to 64 characters",
        ));
    }
    let text = clean_text(text)?;
    if let Some(m) = existing(pool, conversation_id, author, client_msg_id)
        .await
        .map_err(db_error)?
    {
        return Ok(Appended::Existing(m));
    }
    let mut tx = pool.begin().await.map_err(db_error)?;
    // Lock the conversation against a concurrent end, and check who may write.
    let conv: Option<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT state, agent_id FROM conversations WHERE id = $1 AND group_id = $2 FOR SHARE",
    )
    .bind(conversation_id)
    .bind(group)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_error)?;
    let Some((state, agent)) = conv else {
        return Err(CommandError::new(
            ErrorCode::NotFound,
            "no such conversation",
        ));
    };
    let state = ConversationState::parse(&state).unwrap_or(ConversationState::Ended);
    if state.is_closed() {
        return Err(CommandError::new(
            ErrorCode::ConversationClosed,
            "this conversation has ended",
        ));
    }
    allowed(state, agent)?;
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO transcripts (conversation_id, group_id, last_seq) VALUES ($1, $2, 1) \
         ON CONFLICT (conversation_id) DO UPDATE SET last_seq = transcripts.last_seq + 1 RETURNING last_seq",
    )
    .bind(conversation_id)
    .bind(group)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    let inserted: Result<Row, sqlx::Error> = sqlx::query_as(concat!(
        "INSERT INTO messages (id, conversation_id, group_id, seq, author_kind, author_id, author_name, body, client_msg_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(conversation_id)
    .bind(group)
    .bind(seq)
    .bind(author.kind.as_str())
    .bind(author.id)
    .bind(&author.name)
    .bind(text)
    .bind(client_msg_id)
    .fetch_one(&mut *tx)
    .await;
    match inserted {
        Ok(row) => {
            tx.commit().await.map_err(db_error)?;
            Ok(Appended::New(row.into()))
        }
        // A concurrent resend of the same message won the race: return what it stored.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            drop(tx);
            existing(pool, conversation_id, author, client_msg_id)
                .await
                .map_err(db_error)?
                .map(Appended::Existing)
                .ok_or_else(|| {
                    CommandError::new(ErrorCode::Unavailable, "message changed meanwhile; retry")
                })
        }
        Err(e) => Err(db_error(e)),
    }
}

async fn existing(
    pool: &PgPool,
    conversation_id: Uuid,
    author: &Author,
    client_msg_id: &str,
) -> sqlx::Result<Option<Message>> {
    let row: Option<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM messages WHERE conversation_id = $1 AND author_kind = $2 \
         AND author_id IS NOT DISTINCT FROM $3 AND client_msg_id = $4"
    ))
    .bind(conversation_id)
    .bind(author.kind.as_str())
    .bind(author.id)
    .bind(client_msg_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Into::into))
}

/// Messages of a conversation after `after_seq`, in order, at most `limit`.
pub async fn after(
    pool: &PgPool,
    group: Uuid,
    conversation_id: Uuid,
    after_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<Message>> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM messages WHERE conversation_id = $1 AND group_id = $2 AND seq > $3 ORDER BY seq LIMIT $4"
    ))
    .bind(conversation_id)
    .bind(group)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}
