//! Whispers (table `whispers`, owned here): a manager's note to the agent in a live chat, and
//! who is watching a chat.
//!
//! A whisper is kept apart from the transcript: `messages` is what the shopper's widget, the
//! transcript e-mail and the ADF read, and none of them can carry a whisper because none reads
//! this table. It reaches the consoles following the chat as a live copy on
//! `live.<conversation>.whisper`, which the hub hands to agent sockets only
//! (`Hub::on_whisper`), and comes with the console's `history` of the chat.
//!
//! Only a manager or an admin (a rooftop manager: chats of their rooftops) whispers, and only in
//! a chat that is not closed. When someone other than the chat's agent opens it, the consoles
//! following it are told who is watching (`live.<conversation>.watching`), and told again when
//! that console closes.

use showroom_proto::message::{Watching, Whisper};
use showroom_proto::privacy::mask_sensitive;
use showroom_proto::{CommandError, Envelope, ErrorCode};
use showroom_rest::auth::Session;
use showroom_rest::handover;
use showroom_store::read::{self, WhisperRow, whisper};
use uuid::Uuid;

use crate::AppState;
use crate::transcript::{MAX_CLIENT_ID_CHARS, clean_text};

const INSERT: &str = "INSERT INTO whispers \
     (id, conversation_id, group_id, author_id, author_name, body, client_msg_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT ON CONSTRAINT whispers_once DO NOTHING \
     RETURNING id, conversation_id, author_id, author_name, body, client_msg_id, created_at";

const AGAIN: &str = "SELECT id, conversation_id, author_id, author_name, body, client_msg_id, created_at \
     FROM whispers WHERE conversation_id = $1 AND group_id = $2 AND author_id = $3 AND client_msg_id = $4";

fn unavailable(e: sqlx::Error) -> CommandError {
    tracing::error!(error = %e, "whisper storage failed");
    CommandError::new(ErrorCode::Unavailable, "could not store the whisper; retry")
}

/// Stores a whisper of the session's agent in a chat of their scope that is not closed
/// (idempotent on `client_msg_id`) and sends it to the consoles following the chat.
pub async fn send(
    state: &AppState,
    session: &Session,
    conversation_id: Uuid,
    text: &str,
    client_msg_id: &str,
) -> Result<Whisper, CommandError> {
    if !handover::may_reassign(session) {
        return Err(CommandError::new(
            ErrorCode::NotAllowed,
            "only a manager or an admin can whisper",
        ));
    }
    if client_msg_id.is_empty() || client_msg_id.chars().count() > MAX_CLIENT_ID_CHARS {
        return Err(CommandError::new(
            ErrorCode::BadRequest,
            "client_msg_id must be 1 to 64 characters",
        ));
    }
    let text = mask_sensitive(clean_text(text)?);
    let group = session.group();
    let not_found = || CommandError::new(ErrorCode::NotFound, "no such conversation");
    let c = read::conversation(&state.pool, group, conversation_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    if !session.covers_rooftop(c.rooftop.id) {
        return Err(not_found());
    }
    if c.state.is_closed() {
        return Err(CommandError::new(
            ErrorCode::ConversationClosed,
            "the chat has ended",
        ));
    }
    let me = &session.agent;
    let inserted: Option<WhisperRow> = sqlx::query_as(INSERT)
        .bind(Uuid::now_v7())
        .bind(c.id)
        .bind(group)
        .bind(me.id)
        .bind(me.display_name())
        .bind(text.as_ref())
        .bind(client_msg_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(unavailable)?;
    let w = match inserted {
        Some(row) => whisper(row),
        // A resend: the same whisper, not sent again.
        None => {
            let row: WhisperRow = sqlx::query_as(AGAIN)
                .bind(c.id)
                .bind(group)
                .bind(me.id)
                .bind(client_msg_id)
                .fetch_one(&state.pool)
                .await
                .map_err(unavailable)?;
            return Ok(whisper(row));
        }
    };
    let env = Envelope::new(group, w.clone());
    if let Err(e) = state.live.publish(&env).await {
        tracing::warn!(error = %e, "whisper stored but not sent live");
    }
    Ok(w)
}

/// Tells the consoles following a chat that `session`'s agent started or stopped watching it
/// (best-effort).
pub async fn watching(state: &AppState, session: &Session, conversation_id: Uuid, on: bool) {
    let group = session.group();
    let env = Envelope::new(
        group,
        Watching {
            conversation_id,
            agent_id: session.agent.id,
            name: session.agent.display_name(),
            watching: on,
        },
    );
    if let Err(e) = state.live.publish(&env).await {
        tracing::debug!(error = %e, "watching not sent");
    }
}
