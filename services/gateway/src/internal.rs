//! Internal chats' messages (tables `internal_transcripts` and `internal_messages`, owned by
//! the gateway), and the commands the console forwards to the router.
//!
//! Like the customer transcript: only a member writes, the next gapless seq is taken in the
//! statement that stores the message, and a resend with the same client message id returns
//! the stored message.

use chrono::{DateTime, Utc};
use showroom_proto::internal::{
    InternalChat, InternalCommand, InternalMessage, InviteInternal, LeaveInternal, OpenInternal,
};
use showroom_proto::message::{Author, AuthorKind, Message};
use showroom_proto::privacy::mask_sensitive;
use showroom_proto::{CommandError, Envelope, ErrorCode, v1};
use showroom_store::read;
use sqlx::PgPool;
use uuid::Uuid;

use crate::AppState;
use crate::transcript::{Appended, MAX_CLIENT_ID_CHARS, clean_text};
use showroom_store::fault::db_error;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    chat_id: Uuid,
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
            conversation_id: r.chat_id,
            seq: r.seq,
            id: r.id,
            author: Author {
                kind: AuthorKind::parse(&r.author_kind).unwrap_or(AuthorKind::System),
                id: r.author_id,
                name: r.author_name,
            },
            text: r.body,
            file: None,
            client_msg_id: r.client_msg_id,
            estimate: None,
            at: r.created_at,
        }
    }
}

macro_rules! columns {
    () => {
        "id, chat_id, seq, author_kind, author_id, author_name, body, client_msg_id, created_at"
    };
}

fn not_found() -> CommandError {
    CommandError::new(ErrorCode::NotFound, "no such internal chat")
}

/// The chat, if `agent` is in it now (anything else reads as "no such chat": a chat of
/// another group or of other colleagues is not told apart from one that does not exist).
pub async fn chat_of_member(
    pool: &PgPool,
    group: Uuid,
    chat_id: Uuid,
    agent: Uuid,
) -> Result<InternalChat, CommandError> {
    read::internal_chat(pool, group, chat_id)
        .await
        .map_err(db_error)?
        .filter(|c| c.has(agent))
        .ok_or_else(not_found)
}

/// Appends an agent's message to a chat they are in, idempotently on `client_msg_id`.
/// The membership check (locking the member row against a concurrent leave), the seq bump
/// and the insert are one statement.
pub async fn append(
    pool: &PgPool,
    group: Uuid,
    chat_id: Uuid,
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
    let inserted: Result<Option<Row>, sqlx::Error> = sqlx::query_as(concat!(
        "WITH me AS (SELECT m.chat_id FROM internal_members m JOIN internal_chats c ON c.id = m.chat_id \
           WHERE m.chat_id = $1 AND c.group_id = $2 AND m.agent_id = $5 AND m.left_at IS NULL FOR SHARE OF m), \
         t AS (INSERT INTO internal_transcripts (chat_id, group_id, last_seq) SELECT chat_id, $2, 1 FROM me \
           ON CONFLICT (chat_id) DO UPDATE SET last_seq = internal_transcripts.last_seq + 1 RETURNING last_seq) \
         INSERT INTO internal_messages (id, chat_id, group_id, seq, author_kind, author_id, author_name, body, client_msg_id) \
         SELECT $3, $1, $2, t.last_seq, 'agent', $5, $6, $7, $4 FROM t RETURNING ",
        columns!()
    ))
    .bind(chat_id)
    .bind(group)
    .bind(Uuid::now_v7())
    .bind(client_msg_id)
    .bind(author.id)
    .bind(&author.name)
    .bind(text.as_ref())
    .fetch_optional(pool)
    .await;
    match inserted {
        Ok(Some(row)) => Ok(Appended::New(row.into())),
        Ok(None) => Err(not_found()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            let row: Option<Row> = sqlx::query_as(concat!(
                "SELECT ",
                columns!(),
                " FROM internal_messages WHERE chat_id = $1 AND author_kind = 'agent' \
                 AND author_id = $2 AND client_msg_id = $3"
            ))
            .bind(chat_id)
            .bind(author.id)
            .bind(client_msg_id)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
            row.map(|r| Appended::Existing(r.into())).ok_or_else(|| {
                CommandError::new(ErrorCode::Unavailable, "message changed meanwhile; retry")
            })
        }
        Err(e) => Err(db_error(e)),
    }
}

/// Messages of a chat after `after_seq`, in order, at most `limit`.
pub async fn after(
    pool: &PgPool,
    group: Uuid,
    chat_id: Uuid,
    after_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<Message>> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM internal_messages WHERE chat_id = $1 AND group_id = $2 AND seq > $3 ORDER BY seq LIMIT $4"
    ))
    .bind(chat_id)
    .bind(group)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Publishes a stored internal message to its members' consoles (every gateway). The message
/// is durable already; the envelope id is its id, so a republish after a resend is dropped.
pub async fn publish(state: &AppState, group: Uuid, m: &Message) {
    let members: Vec<Uuid> = match sqlx::query_scalar(
        "SELECT agent_id FROM internal_members WHERE chat_id = $1 AND left_at IS NULL",
    )
    .bind(m.conversation_id)
    .fetch_all(&state.pool)
    .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "internal message stored but not announced");
            return;
        }
    };
    let env = Envelope {
        id: m.id,
        tenant: group,
        time: m.at,
        data: InternalMessage {
            members,
            message: m.clone(),
        },
    };
    if let Err(e) = state
        .bus
        .publish_event(v1::internal_message(group), &env)
        .await
    {
        tracing::warn!(error = %e, "internal message stored but not announced; a resend announces it");
    }
}

/// Opens a chat with colleagues through the router (once: a repeated group chat would be a
/// second chat).
pub async fn open(
    state: &AppState,
    group: Uuid,
    by: Uuid,
    with: Vec<Uuid>,
    topic: Option<String>,
) -> Result<InternalChat, CommandError> {
    state
        .command_once(
            v1::internal_command(group, InternalCommand::Open),
            OpenInternal { by, with, topic },
        )
        .await
}

/// Brings a colleague into a chat through the router.
pub async fn invite(
    state: &AppState,
    group: Uuid,
    by: Uuid,
    chat_id: Uuid,
    agent_id: Uuid,
) -> Result<InternalChat, CommandError> {
    state
        .command(
            v1::internal_command(group, InternalCommand::Invite),
            InviteInternal {
                chat_id,
                by,
                agent_id,
            },
        )
        .await
}

/// Leaves a chat through the router.
pub async fn leave(
    state: &AppState,
    group: Uuid,
    agent_id: Uuid,
    chat_id: Uuid,
) -> Result<InternalChat, CommandError> {
    state
        .command(
            v1::internal_command(group, InternalCommand::Leave),
            LeaveInternal { chat_id, agent_id },
        )
        .await
}
