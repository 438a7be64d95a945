//! REST for canned responses (`canned.rs` owns the table and the rules): the ones an agent may
//! use in a conversation, filled for it; the group's and the rooftops' (managers and admins; a
//! rooftop manager their rooftops'), recorded in the audit trail; and each agent's own.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use showroom_store::read;
use uuid::Uuid;

use crate::auth::{Session, managers_only, scoped_managers};
use crate::canned::{self, CannedFields, CannedResponse, FilledResponse, Owner, Values};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, Id};
use crate::{Rest, audit};

/// Canned responses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CannedList {
    /// By shortcut.
    pub responses: Vec<CannedResponse>,
}

/// Canned responses filled for one conversation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FilledList {
    /// By shortcut (for one shortcut: the agent's own first, then the rooftop's, then the
    /// group's).
    pub responses: Vec<FilledResponse>,
}

/// A new group or rooftop response.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewCannedBody {
    /// The rooftop whose it is; absent or `null`: the whole group's (managers and admins only).
    pub rooftop_id: Option<Uuid>,
    /// Its fields.
    #[serde(flatten)]
    pub fields: CannedFields,
}

/// The responses the agent may use in a conversation (the group's, the conversation's
/// rooftop's and their own), each in the chat's language (Spanish when the chat is and the
/// response has a Spanish text) with its placeholders filled for the chat and the agent; a
/// placeholder without a value is left out. 404 for a conversation not of the agent's group
/// (or, for a rooftop manager, of their rooftops).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/canned-responses", tag = "canned",
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = FilledList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn for_conversation(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Conversation>,
) -> Result<Json<FilledList>, ApiError> {
    let c = read::conversation(&state.pool, session.group(), id)
        .await?
        .filter(|c| session.covers_rooftop(c.rooftop.id))
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let phone = canned::rooftop_phone(&state.pool, session.group(), c.rooftop.id).await?;
    let values = Values::of(&c, &session.agent.first_name, phone);
    let rows = canned::usable(&state.pool, session.group(), c.rooftop.id, session.agent.id).await?;
    Ok(Json(FilledList {
        responses: rows
            .into_iter()
            .map(|r| canned::filled(r, c.language, &values))
            .collect(),
    }))
}

/// The group's and the rooftops' canned responses (managers and admins; a rooftop manager's
/// rooftops' only).
#[utoipa::path(get, path = "/api/v1/canned-responses", tag = "canned",
    responses((status = 200, body = CannedList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_managed(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<CannedList>, ApiError> {
    scoped_managers(&session, "manage canned responses")?;
    Ok(Json(CannedList {
        responses: canned::managed(&state.pool, session.group(), session.scope.rooftops()).await?,
    }))
}

/// Adds a group response (managers and admins) or a rooftop's (`rooftop_id`; a rooftop
/// manager their rooftops', 404 for another). 400 naming each wrong field (an unknown
/// placeholder by name), 409 `already_taken` naming `shortcut` when the owner has it.
/// Recorded in the audit trail (`canned_response_changed`).
#[utoipa::path(post, path = "/api/v1/canned-responses", tag = "canned", request_body = NewCannedBody,
    responses((status = 201, body = CannedResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_managed(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<NewCannedBody>,
) -> Result<(StatusCode, Json<CannedResponse>), ApiError> {
    let owner = match b.rooftop_id {
        None => {
            managers_only(&session, "add the group's canned responses")?;
            Owner::Group
        }
        Some(r) => {
            scoped_managers(&session, "add canned responses")?;
            session.rooftop_in_scope(r)?;
            Owner::Rooftop(r)
        }
    };
    let fields = canned::checked(&b.fields)?;
    let mut tx = state.pool.begin().await?;
    let created = canned::insert(&mut tx, session.group(), owner, &fields).await?;
    record(&mut tx, &session, &created, "created", None, Some(&fields)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Changes a group or rooftop response (as adding one: who may, 400, 409); 404 for one the
/// session does not manage. Recorded in the audit trail (`canned_response_changed`).
#[utoipa::path(put, path = "/api/v1/canned-responses/{id}", tag = "canned", request_body = CannedFields,
    params(("id" = uuid::Uuid, Path, description = "Canned response id (UUID)")),
    responses((status = 200, body = CannedResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_managed(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::CannedResponse>,
    ApiJson(b): ApiJson<CannedFields>,
) -> Result<Json<CannedResponse>, ApiError> {
    scoped_managers(&session, "change canned responses")?;
    let fields = canned::checked(&b)?;
    let mut tx = state.pool.begin().await?;
    let before = managed_one(&mut tx, &session, id).await?;
    let after = canned::update(&mut tx, session.group(), id, &fields).await?;
    let old = canned::fields_of(&before);
    if old != fields {
        record(
            &mut tx,
            &session,
            &after,
            "changed",
            Some(&old),
            Some(&fields),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Json(after))
}

/// Deletes a group or rooftop response; 404 for one the session does not manage. Recorded in
/// the audit trail (`canned_response_changed`).
#[utoipa::path(delete, path = "/api/v1/canned-responses/{id}", tag = "canned",
    params(("id" = uuid::Uuid, Path, description = "Canned response id (UUID)")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_managed(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::CannedResponse>,
) -> Result<StatusCode, ApiError> {
    scoped_managers(&session, "delete canned responses")?;
    let mut tx = state.pool.begin().await?;
    let before = managed_one(&mut tx, &session, id).await?;
    canned::delete(&mut tx, session.group(), id).await?;
    let old = canned::fields_of(&before);
    record(&mut tx, &session, &before, "deleted", Some(&old), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agent's own canned responses.
#[utoipa::path(get, path = "/api/v1/me/canned-responses", tag = "canned",
    responses((status = 200, body = CannedList), (status = 401, body = ErrorBody)))]
pub async fn list_mine(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<CannedList>, ApiError> {
    Ok(Json(CannedList {
        responses: canned::personal(&state.pool, session.group(), session.agent.id).await?,
    }))
}

/// Adds one of the agent's own canned responses (any agent). 400 naming each wrong field (an
/// unknown placeholder by name), 409 `already_taken` naming `shortcut` when they have it.
#[utoipa::path(post, path = "/api/v1/me/canned-responses", tag = "canned", request_body = CannedFields,
    responses((status = 201, body = CannedResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_mine(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<CannedFields>,
) -> Result<(StatusCode, Json<CannedResponse>), ApiError> {
    let fields = canned::checked(&b)?;
    let mut tx = state.pool.begin().await?;
    let owner = Owner::Agent(session.agent.id);
    let created = canned::insert(&mut tx, session.group(), owner, &fields).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Changes one of the agent's own canned responses; 404 for anyone else's.
#[utoipa::path(put, path = "/api/v1/me/canned-responses/{id}", tag = "canned", request_body = CannedFields,
    params(("id" = uuid::Uuid, Path, description = "Canned response id (UUID)")),
    responses((status = 200, body = CannedResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn update_mine(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::CannedResponse>,
    ApiJson(b): ApiJson<CannedFields>,
) -> Result<Json<CannedResponse>, ApiError> {
    let fields = canned::checked(&b)?;
    let mut tx = state.pool.begin().await?;
    mine(&mut tx, &session, id).await?;
    let after = canned::update(&mut tx, session.group(), id, &fields).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Deletes one of the agent's own canned responses; 404 for anyone else's.
#[utoipa::path(delete, path = "/api/v1/me/canned-responses/{id}", tag = "canned",
    params(("id" = uuid::Uuid, Path, description = "Canned response id (UUID)")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_mine(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::CannedResponse>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.pool.begin().await?;
    mine(&mut tx, &session, id).await?;
    canned::delete(&mut tx, session.group(), id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A group or rooftop response the session manages, locked; 404 for any other (personal ones,
/// another rooftop's, the group's for a rooftop manager, another group's).
async fn managed_one(
    tx: &mut sqlx::PgConnection,
    session: &Session,
    id: Uuid,
) -> Result<CannedResponse, ApiError> {
    match canned::lock(tx, session.group(), id).await? {
        Some((r, None))
            if r.rooftop_id
                .map_or(session.can_manage(), |rt| session.covers_rooftop(rt)) =>
        {
            Ok(r)
        }
        _ => Err(ApiError::not_found("canned response")),
    }
}

/// One of the session's agent's own responses, locked; 404 for any other.
async fn mine(
    tx: &mut sqlx::PgConnection,
    session: &Session,
    id: Uuid,
) -> Result<CannedResponse, ApiError> {
    match canned::lock(tx, session.group(), id).await? {
        Some((r, Some(agent))) if agent == session.agent.id => Ok(r),
        _ => Err(ApiError::not_found("canned response")),
    }
}

/// Appends `canned_response_changed` about `r` (`action`: created, changed, deleted) in `tx`,
/// with the fields before and after.
async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    session: &Session,
    r: &CannedResponse,
    action: &str,
    before: Option<&canned::Checked>,
    after: Option<&canned::Checked>,
) -> Result<(), ApiError> {
    let event = audit::Event::by(session, audit::kind::CANNED_RESPONSE_CHANGED)
        .about(format!("canned_response:{}", r.id))
        .detail(json!({
            "action": action, "scope": r.scope, "rooftop_id": r.rooftop_id,
            "before": before, "after": after,
        }));
    audit::record(tx, &event).await.map_err(audit::required)?;
    Ok(())
}
