//! Handing a chat over: an agent transfers their chat to a colleague or a department, the
//! target accepts or declines, a manager reassigns a chat at once. The router decides (and
//! checks every id belongs to the session's group); this module checks the request's shape and
//! the caller's role, for the REST API here and for the console socket (`ws::console`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use showroom_proto::conversation::{
    Conversation, ConversationCommand, ReassignConversation, ReplyTransfer, Transfer,
    TransferConversation, TransferTarget,
};
use showroom_proto::{CommandError, ErrorCode, v1};
use uuid::Uuid;

use crate::Rest;
use crate::auth::Session;
use crate::directory::{self, Role};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, Id};

/// Longest transfer note, in characters (after trimming).
pub const MAX_NOTE_CHARS: usize = 1000;

/// A request whose shape is wrong: a code for REST and a message naming the field.
#[derive(Debug)]
pub struct Invalid {
    /// The REST error code (`bad_target`, `bad_note`).
    pub code: &'static str,
    /// What is wrong.
    pub message: &'static str,
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::bad_request(e.code, e.message)
    }
}

impl From<Invalid> for CommandError {
    fn from(e: Invalid) -> Self {
        CommandError::new(ErrorCode::BadRequest, e.message)
    }
}

/// Builds the transfer command from the client's fields: exactly one target, a short note.
pub fn transfer_command(
    conversation_id: Uuid,
    agent_id: Uuid,
    to_agent: Option<Uuid>,
    to_department: Option<Uuid>,
    note: Option<String>,
) -> Result<TransferConversation, Invalid> {
    let to = match (to_agent, to_department) {
        (Some(a), None) => TransferTarget::Agent(a),
        (None, Some(d)) => TransferTarget::Department(d),
        _ => {
            return Err(Invalid {
                code: "bad_target",
                message: "give exactly one of `to_agent` and `to_department`",
            });
        }
    };
    let note = note.map(|n| n.trim().to_string()).unwrap_or_default();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(Invalid {
            code: "bad_note",
            message: "`note` is longer than 1000 characters",
        });
    }
    Ok(TransferConversation {
        conversation_id,
        agent_id,
        to,
        note,
    })
}

/// Asks the router to transfer (sent once: a transfer is not safe to repeat).
pub async fn transfer(
    state: &Rest,
    group: Uuid,
    cmd: TransferConversation,
) -> Result<Transfer, CommandError> {
    state
        .command_once(
            v1::conversation_command(group, ConversationCommand::Transfer),
            cmd,
        )
        .await
}

/// Answers a transfer for `agent_id` (sent once).
pub async fn reply(
    state: &Rest,
    group: Uuid,
    transfer_id: Uuid,
    agent_id: Uuid,
    accept: bool,
) -> Result<Transfer, CommandError> {
    let cmd = ReplyTransfer {
        transfer_id,
        agent_id,
        accept,
    };
    state
        .command_once(
            v1::conversation_command(group, ConversationCommand::TransferReply),
            cmd,
        )
        .await
}

/// What a non-manager is told when trying to reassign.
pub const MANAGERS_ONLY: &str = "only a manager or an admin can reassign a chat";

/// Whether the session may reassign chats (REST and the console socket): a manager or an
/// admin, any chat of the group; a rooftop manager, chats of their rooftops' departments to
/// agents who cover one of them ([`reassign`] checks both).
pub fn may_reassign(session: &Session) -> bool {
    session.can_manage() || session.agent.role() == Role::RooftopManager
}

/// Reassigns a chat for a manager (the caller checked [`may_reassign`]; sent once). For a
/// rooftop manager, a chat of another rooftop, or an agent they do not see, is `not_found`,
/// as another group's is.
pub async fn reassign(
    state: &Rest,
    session: &Session,
    conversation_id: Uuid,
    to_agent: Uuid,
) -> Result<Conversation, CommandError> {
    if session.scope.rooftops().is_some() {
        let internal = |e: sqlx::Error| {
            tracing::error!(error = %e, "reading a chat's rooftop failed");
            CommandError::new(ErrorCode::Internal, "could not read the chat")
        };
        let rooftop =
            directory::conversation_rooftop(&state.pool, session.group(), conversation_id)
                .await
                .map_err(internal)?;
        if !rooftop.is_some_and(|r| session.covers_rooftop(r)) {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                "no such conversation",
            ));
        }
        if session.colleague(state, to_agent).await.is_err() {
            return Err(CommandError::new(ErrorCode::NotFound, "no such agent"));
        }
    }
    let cmd = ReassignConversation {
        conversation_id,
        to_agent,
        manager_id: session.agent.id,
    };
    state
        .command_once(
            v1::conversation_command(session.group(), ConversationCommand::Reassign),
            cmd,
        )
        .await
}

/// Where to transfer a chat: exactly one of `to_agent` and `to_department`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TransferBody {
    /// An agent of the group (Available or Away).
    #[serde(default)]
    to_agent: Option<Uuid>,
    /// A department of the group: its eligible members are offered the chat.
    #[serde(default)]
    to_department: Option<Uuid>,
    /// A note for the target (at most 1000 characters).
    #[serde(default)]
    note: Option<String>,
}

/// Transfers the caller's active chat to another agent or to a department. The chat stays with
/// the caller until the target accepts; a decline or no answer in time leaves it there.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/transfer", tag = "conversations",
    request_body = TransferBody,
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = Transfer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn post_transfer(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(conversation_id, _): Id<extract::Conversation>,
    ApiJson(b): ApiJson<TransferBody>,
) -> Result<Json<Transfer>, ApiError> {
    let cmd = transfer_command(
        conversation_id,
        session.agent.id,
        b.to_agent,
        b.to_department,
        b.note,
    )?;
    Ok(Json(transfer(&state, session.group(), cmd).await?))
}

/// The answer to a transfer.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReplyBody {
    /// Take the chat (`true`) or leave it with its agent (`false`).
    accept: bool,
}

/// Accepts or declines a transfer offered to the caller.
#[utoipa::path(post, path = "/api/v1/transfers/{id}/reply", tag = "conversations",
    request_body = ReplyBody,
    params(("id" = uuid::Uuid, Path, description = "Transfer id (UUID)")),
    responses((status = 200, body = Transfer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn post_reply(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(transfer_id, _): Id<extract::Transfer>,
    ApiJson(b): ApiJson<ReplyBody>,
) -> Result<Json<Transfer>, ApiError> {
    Ok(Json(
        reply(
            &state,
            session.group(),
            transfer_id,
            session.agent.id,
            b.accept,
        )
        .await?,
    ))
}

/// Who gets the chat.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReassignBody {
    /// An agent of the group (Available or Away).
    agent_id: Uuid,
}

/// Gives a waiting or active chat of the group to an agent at once (managers and admins; a
/// rooftop manager a chat of their rooftops to an agent who covers one of their departments,
/// 404 otherwise).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/reassign", tag = "conversations",
    request_body = ReassignBody,
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = Conversation), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn post_reassign(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(conversation_id, _): Id<extract::Conversation>,
    ApiJson(b): ApiJson<ReassignBody>,
) -> Result<Json<Conversation>, ApiError> {
    if !may_reassign(&session) {
        return Err(ApiError::forbidden(MANAGERS_ONLY));
    }
    Ok(Json(
        reassign(&state, &session, conversation_id, b.agent_id).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_needs_exactly_one_target_and_a_short_note() {
        let (c, a, t) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            transfer_command(c, a, None, None, None).unwrap_err().code,
            "bad_target"
        );
        assert_eq!(
            transfer_command(c, a, Some(t), Some(t), None)
                .unwrap_err()
                .code,
            "bad_target"
        );
        assert_eq!(
            transfer_command(c, a, Some(t), None, Some("x".repeat(1001)))
                .unwrap_err()
                .code,
            "bad_note"
        );
        let ok = transfer_command(c, a, None, Some(t), Some("  trade-in  ".into())).unwrap();
        assert_eq!(ok.to, TransferTarget::Department(t));
        assert_eq!(ok.note, "trade-in");
        assert_eq!(ok.agent_id, a);
    }
}
