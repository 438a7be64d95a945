//! The transcript (tables `transcripts` and `messages`, owned by the gateway).
//!
//! A message gets the next gapless sequence number of its conversation in the same
//! transaction that stores it: the per-conversation counter row is locked, bumped and the
//! message inserted, or nothing happens. A resend with the same client message id finds the
//! stored message and returns it unchanged, so a retry never makes a duplicate.

use showroom_proto::conversation::ConversationState;
use showroom_proto::message::{Author, AuthorKind, Message};
use showroom_proto::privacy::mask_sensitive;
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::fault::db_error;
use showroom_store::read::MessageRow;
use sqlx::PgPool;
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

/// Appends a message to an open conversation of `group`, idempotently on `client_msg_id`.
///
/// Who may write: an agent only in a chat assigned to them and active; the shopper, the bot
/// and the system in any open chat. Checking that, locking the conversation against a
/// concurrent end, bumping the counter and inserting the message is one statement (one round
/// trip, one commit): if the insert fails, the bump rolls back with it and `seq` stays gapless.
pub async fn append(
    pool: &PgPool,
    group: Uuid,
    conversation_id: Uuid,
    author: &Author,
    text: &str,
    client_msg_id: &str,
) -> Result<Appended, CommandError> {
    if client_msg_id.is_empty() || client_msg_id.chars().count() > MAX_CLIENT_ID_CHARS {
        return Err(CommandError::new(
            ErrorCode::BadRequest,
            "client_msg_id must be 1 to 64 characters",
        ));
    }
    // Card and social security numbers never reach the store, the bus or a screen.
    let text = mask_sensitive(clean_text(text)?);
    let inserted: Result<Option<MessageRow>, sqlx::Error> = sqlx::query_as(concat!(
        "WITH c AS (SELECT id FROM conversations WHERE id = $1 AND group_id = $2 \
           AND state IN ('bot', 'incoming', 'active') \
           AND ($5 <> 'agent' OR (state = 'active' AND agent_id = $6)) FOR SHARE), \
         t AS (INSERT INTO transcripts (conversation_id, group_id, last_seq) SELECT id, $2, 1 FROM c \
           ON CONFLICT (conversation_id) DO UPDATE SET last_seq = transcripts.last_seq + 1 RETURNING last_seq) \
         INSERT INTO messages (id, conversation_id, group_id, seq, author_kind, author_id, author_name, body, client_msg_id) \
         SELECT $3, $1, $2, t.last_seq, $5, $6, $7, $8, $4 FROM t RETURNING ",
        showroom_store::message_columns!()
    ))
    .bind(conversation_id)
    .bind(group)
    .bind(Uuid::now_v7())
    .bind(client_msg_id)
    .bind(author.kind.as_str())
    .bind(author.id)
    .bind(&author.name)
    .bind(text.as_ref())
    .fetch_optional(pool)
    .await;
    match inserted {
        Ok(Some(row)) => Ok(Appended::New(row.into())),
        Ok(None) => Err(refusal(pool, group, conversation_id, author).await),
        // Sent before under the same id (a retry, another tab): return what was stored.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
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

async fn existing(
    pool: &PgPool,
    conversation_id: Uuid,
    author: &Author,
    client_msg_id: &str,
) -> sqlx::Result<Option<Message>> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        showroom_store::message_columns!(),
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
