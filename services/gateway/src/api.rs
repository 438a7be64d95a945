//! The REST API and its OpenAPI 3.1 document (generated from these handlers).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use showroom_bus::discovery;
use showroom_proto::conversation::{Conversation, ConversationState};
use showroom_proto::message::Message;
use showroom_store::read::{self, Filter};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{self, Session};
use crate::error::{ApiError, ErrorBody};
use crate::transcript;

#[derive(OpenApi)]
#[openapi(
    info(title = "Showroom API", description = "Live chat for car-dealer groups: the REST API of the gateway. \
        The socket protocols are described in docs/protocol.md."),
    tags((name = "auth", description = "Agent sessions"), (name = "conversations", description = "Chats and transcripts"),
         (name = "system", description = "The running system"))
)]
struct ApiDoc;

/// The API routes and the OpenAPI document describing them.
pub fn router() -> (axum::Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation))
        .routes(routes!(system))
        .split_for_parts()
}

/// Filters of the conversation list.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only conversations in this state (`incoming`, `active`, `ended`, …).
    state: Option<String>,
    /// At most this many (1 to 500, default 100).
    limit: Option<i64>,
}

/// The dealer group's conversations, newest first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, body = Vec<Conversation>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_conversations(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Conversation>>, ApiError> {
    let filter = match q.state.as_deref() {
        None => Filter::All,
        Some(s) => Filter::State(ConversationState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "bad_state",
                "state must be one of bot, incoming, active, ended, missed, offline, timed_out",
            )
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_limit",
            "limit must be between 1 and 500",
        ));
    }
    Ok(Json(
        read::conversations(&state.pool, session.group(), filter, limit).await?,
    ))
}

/// A conversation with its transcript.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationDetail {
    /// The conversation.
    conversation: Conversation,
    /// Its messages in order.
    messages: Vec<Message>,
}

/// One conversation of the agent's dealer group with its whole transcript.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = ConversationDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_conversation(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<ConversationDetail>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("bad_id", "the conversation id must be a UUID"))?;
    let conversation = read::conversation(&state.pool, session.group(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let messages = transcript::after(&state.pool, session.group(), id, 0, i64::MAX).await?;
    Ok(Json(ConversationDetail {
        conversation,
        messages,
    }))
}

/// A running service instance.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceInfo {
    /// Service name.
    name: String,
    /// Instance id.
    id: String,
    /// Version it runs.
    version: String,
    /// What it does.
    description: Option<String>,
    /// Subjects it serves.
    endpoints: Vec<String>,
}

/// What `$SRV` discovery found.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SystemInfo {
    /// Every instance that answered, sorted by name.
    services: Vec<ServiceInfo>,
}

/// The services running now, found through NATS `$SRV` discovery.
#[utoipa::path(get, path = "/api/v1/system", tag = "system", responses((status = 200, body = SystemInfo), (status = 503, body = ErrorBody)))]
async fn system(State(state): State<Arc<AppState>>) -> Result<Json<SystemInfo>, ApiError> {
    let found = discovery::discover(&state.bus, Duration::from_millis(500))
        .await
        .map_err(ApiError::unavailable)?;
    let services = found
        .into_iter()
        .map(|s| ServiceInfo {
            name: s.name,
            id: s.id,
            version: s.version,
            description: s.description,
            endpoints: s.endpoints.into_iter().map(|e| e.subject).collect(),
        })
        .collect();
    Ok(Json(SystemInfo { services }))
}
